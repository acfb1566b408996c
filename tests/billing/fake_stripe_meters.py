"""A small fake of the Stripe endpoints localstripe lacks (Billing Meters, legacy usage records,
invoice previews with metered usage), for the real Stripe SDK to talk to over HTTP.

Every request's shape is checked against Stripe's published object samples
(``shared/stripe/fixtures3.json``): a meter event's parameters must be fields of the
``billing.meter_event`` object (``event_name``, ``identifier``, ``payload``, ``timestamp``), its
payload keys those of the sample's payload (``stripe_customer_id``, ``value``, as strings); a
preview's parameters fields of the ``invoice`` object. A request that does not fit is answered
400 and listed in ``violations`` (the tests assert there are none). It can refuse (an event name
without a meter: 400 ``resource_missing``) and fail (500 for an identifier, N times, with
``Stripe-Should-Retry: false`` so the SDK leaves the retry to saaskit). It counts an identifier
once, as Stripe does.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.billing.conftest import sample

SERVER_SET = {"object", "created", "livemode"}


def _nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``payload[value]=3``) back into nested dicts."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if "[" in key:
            head, rest = key.split("[", 1)
            out.setdefault(head, {})[rest.rstrip("]")] = value
        else:
            out[key] = value
    return out


@dataclass
class FakeStripe:
    url: str = ""
    metered_unit_cents: int = 2
    meters: set[str] = field(default_factory=set)  # event names with an active meter
    failures: dict[str, int] = field(default_factory=dict)  # identifier -> 500s still to answer
    requests: list[tuple[str, str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # identifier -> accepted event
    usage_records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- shapes ----------------------------------------------------------------------------
    def check_meter_event(self, params: dict[str, Any]) -> str | None:
        shape = sample("billing.meter_event")
        allowed = set(shape) - SERVER_SET
        if not set(params) <= allowed or not {"event_name", "payload"} <= set(params):
            return f"meter event parameters {sorted(params)} not within {sorted(allowed)}"
        payload = params["payload"]
        if not isinstance(payload, dict) or set(payload) != set(shape["payload"]):
            return f"meter event payload {payload!r} is not shaped like {shape['payload']!r}"
        if not all(isinstance(v, str) for v in payload.values()) or not payload["value"].isdigit():
            return f"meter event payload values must be strings of digits: {payload!r}"
        if "timestamp" in params and not str(params["timestamp"]).isdigit():
            return "timestamp must be whole seconds"
        return None

    def check_preview(self, params: dict[str, Any]) -> str | None:
        allowed = set(sample("invoice"))
        if not set(params) <= allowed or "customer" not in params:
            return f"preview parameters {sorted(params)} not within the invoice's fields"
        return None

    # -- answers ---------------------------------------------------------------------------
    def meter_event(self, params: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        identifier = params.get("identifier", "")
        if headers.get("idempotency-key") != identifier:
            self.violations.append(f"Idempotency-Key {headers.get('idempotency-key')!r} != {identifier!r}")
        left = self.failures.get(identifier, 0)
        if left:
            self.failures[identifier] = left - 1
            return 500, {"error": {"type": "api_error", "message": "An unknown error occurred"}}
        if params["event_name"] not in self.meters:
            message = f"No active meter was found for event_name {params['event_name']}"
            error = {"type": "invalid_request_error", "code": "resource_missing", "param": "event_name"}
            return 400, {"error": {**error, "message": message}}
        self.events.setdefault(identifier, params)  # an identifier counts once
        event = sample("billing.meter_event")
        event.update(
            event_name=params["event_name"],
            identifier=identifier,
            payload=params["payload"],
            timestamp=int(params["timestamp"]),
        )
        return 200, event

    def usage_for(self, customer: str) -> int:
        return sum(
            int(e["payload"]["value"])
            for e in self.events.values()
            if e["payload"]["stripe_customer_id"] == customer
        )

    def preview(self, params: dict[str, Any], plan_price: str, plan_cents: int) -> dict[str, Any]:
        invoice = sample("invoice")
        used = self.usage_for(params["customer"])
        licensed = sample("line_item")
        licensed.update(
            amount=plan_cents,
            quantity=1,
            description="1 x Team",
            pricing={"type": "price_details", "price_details": {"price": plan_price, "product": "prod_1"}},
            period={"start": 1_800_000_000, "end": 1_802_592_000},
        )
        metered = sample("line_item")
        metered.update(
            amount=used * self.metered_unit_cents,
            quantity=used,
            description=f"{used} x API calls",
            pricing={
                "type": "price_details",
                "price_details": {"price": "price_metered", "product": "prod_2"},
            },
            period={"start": 1_800_000_000, "end": 1_802_592_000},
        )
        total = plan_cents + used * self.metered_unit_cents
        invoice.update(
            id="upcoming_in_1",
            customer=params["customer"],
            currency="usd",
            lines={"object": "list", "data": [licensed, metered], "has_more": False, "url": "/v1/invoices"},
            subtotal=total,
            total=total,
            amount_due=total,
            period_start=1_800_000_000,
            period_end=1_802_592_000,
        )
        return invoice

    def legacy_usage(self, item: str, params: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        if set(params) != {"quantity", "timestamp", "action"} or params["action"] != "increment":
            self.violations.append(f"usage record parameters {params!r}")
        key = headers.get("idempotency-key", "")
        if all(r["key"] != key for r in self.usage_records[item]):
            self.usage_records[item].append({"key": key, "quantity": int(params["quantity"])})
        return {
            "id": "mbur_" + key[-12:],
            "object": "usage_record",
            "livemode": False,
            "quantity": int(params["quantity"]),
            "subscription_item": item,
            "timestamp": int(params["timestamp"]),
        }

    def legacy_upcoming(self, params: dict[str, Any], item: str) -> dict[str, Any]:
        used = sum(r["quantity"] for r in self.usage_records.get(item, []))
        invoice = sample("invoice")
        line = sample("line_item")
        line.update(
            amount=used * self.metered_unit_cents,
            quantity=used,
            description=f"{used} x API calls",
            plan={"id": "plan_metered", "object": "plan", "usage_type": "metered"},
            period={"start": 1_800_000_000, "end": 1_802_592_000},
        )
        invoice.update(
            customer=params["customer"],
            currency="usd",
            lines={"object": "list", "data": [line], "has_more": False, "url": "/v1/invoices"},
            subtotal=line["amount"],
            total=line["amount"],
            amount_due=line["amount"],
            period_start=1_800_000_000,
            period_end=1_802_592_000,
        )
        return invoice


def serve(fake: FakeStripe, plan_price: str, plan_cents: int, legacy_item: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def _answer(self, code: int, body: dict[str, Any], retry: bool = True) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_fake")
            if code >= 500:
                self.send_header("Stripe-Should-Retry", "false")
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            if method == "GET":
                pairs = parse_qsl(parts.query)
            else:
                length = int(self.headers.get("Content-Length") or 0)
                pairs = parse_qsl(self.rfile.read(length).decode())
            params = _nested(pairs)
            headers = {k.lower(): v for k, v in self.headers.items()}
            with fake.lock:
                fake.requests.append((method, parts.path, params, headers))
                if not headers.get("authorization", "").startswith("Bearer sk_test_"):
                    return self._answer(
                        401, {"error": {"type": "invalid_request_error", "message": "no key"}}
                    )
                if method == "POST" and parts.path == "/v1/billing/meter_events":
                    problem = fake.check_meter_event(params)
                    if problem:
                        fake.violations.append(problem)
                        return self._answer(
                            400, {"error": {"type": "invalid_request_error", "message": problem}}
                        )
                    return self._answer(*fake.meter_event(params, headers))
                if method == "POST" and parts.path == "/v1/invoices/create_preview":
                    problem = fake.check_preview(params)
                    if problem:
                        fake.violations.append(problem)
                        return self._answer(
                            400, {"error": {"type": "invalid_request_error", "message": problem}}
                        )
                    return self._answer(200, fake.preview(params, plan_price, plan_cents))
                prefix, suffix = "/v1/subscription_items/", "/usage_records"
                if method == "POST" and parts.path.startswith(prefix) and parts.path.endswith(suffix):
                    item = parts.path[len(prefix) : -len(suffix)]
                    return self._answer(200, fake.legacy_usage(item, params, headers))
                if method == "GET" and parts.path == "/v1/invoices/upcoming":
                    return self._answer(200, fake.legacy_upcoming(params, legacy_item))
                fake.violations.append(f"unexpected {method} {parts.path}")
                return self._answer(404, {"error": {"type": "invalid_request_error", "message": "no route"}})

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
