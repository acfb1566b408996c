"""One local stand-in for the Stripe APIs localstripe lacks, for the real stripe SDK to talk to over
HTTP: Checkout Sessions, Billing Portal sessions, Billing Meter events, legacy usage records and
invoice previews (``create_preview``, legacy ``upcoming``).

- Every request's shape is checked against Stripe's published samples
  (``shared/stripe/fixtures3.json``): each parameter must be one of the object's fields (the
  sample's keys) or a documented create-only parameter, nested parameters are checked the same
  way, required ones must be there, metadata must stay within Stripe's limits (50 keys, key 40 and
  value 500 characters), a meter event's payload must have the sample payload's keys with digit
  strings. A request that does not fit gets Stripe's 400 ``invalid_request_error`` naming the
  parameter and is listed in ``violations``. Requests without a ``sk_test_`` key get 401.
- It refuses what Stripe would (an event name without a meter: 400 ``resource_missing``), fails on
  demand (``failures``: 500 for a meter event identifier, N times, with ``Stripe-Should-Retry:
  false`` so the SDK leaves the retry to saaskit) and counts an identifier (or a usage record's
  Idempotency-Key) once, as Stripe does.
- Every request is recorded (``requests``, ``created(path)``). Any other path is forwarded as it
  is to localstripe when the fake is given its URL (customers, cards, subscriptions and webhook
  deliveries stay real); without one it is a violation answered 404.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.billing.conftest import sample

Obj = dict[str, Any]
Answer = tuple[int, Obj]
PERIOD = {"start": 1_800_000_000, "end": 1_802_592_000}
SERVER_SET = {"object", "created", "livemode"}
USAGE_RECORDS = re.compile(r"/v1/subscription_items/([^/]+)/usage_records")


def _names(words: str) -> set[str]:
    return set(words.split())


# Create-only parameters of POST /v1/checkout/sessions (Stripe's API reference), beyond the fields
# the Session object itself has; then the parameters allowed inside each nested one.
CHECKOUT_CREATE_ONLY = _names(
    "line_items payment_intent_data subscription_data setup_intent_data expand customer_update"
    " tax_id_collection discounts return_url redirect_on_completion"
)
NESTED: dict[str, set[str]] = {
    "line_items[]": _names("price price_data quantity adjustable_quantity dynamic_tax_rates tax_rates"),
    "price_data": _names(
        "currency product product_data unit_amount unit_amount_decimal recurring tax_behavior"
    ),
    "product_data": _names("name description images metadata tax_code unit_label"),
    "subscription_data": _names(
        "metadata trial_period_days trial_end description default_tax_rates application_fee_percent"
        " billing_cycle_anchor proration_behavior trial_settings on_behalf_of transfer_data"
        " invoice_settings billing_mode"
    ),
    "payment_intent_data": _names(
        "metadata description setup_future_usage capture_method receipt_email statement_descriptor"
        " statement_descriptor_suffix on_behalf_of transfer_data transfer_group"
        " application_fee_amount shipping"
    ),
}


class BadParam(Exception):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


class Seen(NamedTuple):
    method: str
    path: str
    params: Obj
    headers: dict[str, str]  # lower-cased names


def parse_form(body: str) -> Obj:
    """Stripe's form encoding (``a[b][0][c]=v``) back into nested dicts and lists."""
    root: Obj = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt: Any = value if last else ([] if parts[i + 1].isdigit() else {})
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if node[index] is None or last:
                    node[index] = nxt
                node = node[index]
            else:
                if part not in node or last:
                    node[part] = nxt
                node = node[part]
    return root


# -- shapes --------------------------------------------------------------------------------------
def check_fields(
    params: Obj, resource: str | None, extra: Iterable[str] = (), required: Iterable[str] = ()
) -> None:
    """Parameters within ``resource``'s sample fields (less the server-set ones) plus ``extra``."""
    known = (set(sample(resource)) - SERVER_SET if resource else set()) | set(extra)
    for key in params:
        if key not in known:
            raise BadParam(key, f"Received unknown parameter: {key}")
    for key in required:
        if params.get(key) in (None, "", {}, []):
            raise BadParam(key, f"Missing required param: {key}.")
    if "metadata" in params:
        _metadata("metadata", params["metadata"])


def _metadata(param: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise BadParam(param, "metadata must be a hash")
    if len(value) > 50:
        raise BadParam(param, "metadata has more than 50 keys")
    for key, item in value.items():
        if len(key) > 40 or not isinstance(item, str) or len(item) > 500:
            raise BadParam(f"{param}[{key}]", "metadata keys are at most 40 and values 500 characters")


def _check_nested(param: str, name: str, value: Any) -> None:
    allowed = NESTED.get(name)
    if allowed is None:
        return
    if not isinstance(value, dict):
        raise BadParam(param, f"{param} must be a hash")
    for key, item in value.items():
        if key not in allowed:
            raise BadParam(f"{param}[{key}]", f"Received unknown parameter: {param}[{key}]")
        if key == "metadata":
            _metadata(f"{param}[metadata]", item)
        else:
            _check_nested(f"{param}[{key}]", key, item)


def check_checkout(params: Obj) -> None:
    check_fields(params, "checkout.session", extra=CHECKOUT_CREATE_ONLY | SERVER_SET)
    mode = params.get("mode")
    if mode not in ("payment", "subscription", "setup"):
        raise BadParam("mode", "mode must be payment, subscription or setup")
    if not params.get("success_url") and params.get("ui_mode") not in ("embedded", "custom"):
        raise BadParam("success_url", "Missing required param: success_url.")
    items = params.get("line_items")
    if mode != "setup":
        if not isinstance(items, list) or not items:
            raise BadParam("line_items", "line_items is required in payment and subscription mode")
        for i, item in enumerate(items):
            _check_nested(f"line_items[{i}]", "line_items[]", item)
            if ("price" in item) == ("price_data" in item):
                raise BadParam(f"line_items[{i}]", "give exactly one of price and price_data")
            if "price_data" in item:
                data = item["price_data"]
                if "currency" not in data or ("product" not in data and "product_data" not in data):
                    raise BadParam(f"line_items[{i}][price_data]", "currency and a product are required")
                if not str(data.get("unit_amount", "")).isdigit():
                    raise BadParam(f"line_items[{i}][price_data][unit_amount]", "must be an integer")
    if mode == "payment" and "subscription_data" in params:
        raise BadParam("subscription_data", "subscription_data is only for subscription mode")
    if mode == "subscription" and "payment_intent_data" in params:
        raise BadParam("payment_intent_data", "payment_intent_data is only for payment mode")
    for key in ("subscription_data", "payment_intent_data"):
        if key in params:
            _check_nested(key, key, params[key])


def check_meter_event(params: Obj) -> None:
    check_fields(params, "billing.meter_event", required=("event_name", "payload"))
    shape = sample("billing.meter_event")["payload"]
    payload = params["payload"]
    if not isinstance(payload, dict) or set(payload) != set(shape):
        raise BadParam("payload", f"meter event payload {payload!r} is not shaped like {shape!r}")
    if not all(isinstance(v, str) for v in payload.values()) or not payload["value"].isdigit():
        raise BadParam("payload[value]", f"meter event payload values must be strings of digits: {payload!r}")
    if "timestamp" in params and not str(params["timestamp"]).isdigit():
        raise BadParam("timestamp", "timestamp must be whole seconds")


def check_usage_record(params: Obj) -> None:
    check_fields(params, None, extra=("quantity", "timestamp", "action"), required=("quantity", "timestamp"))
    if params.get("action") != "increment":
        raise BadParam("action", "saaskit only ever increments usage")


# -- the fake ------------------------------------------------------------------------------------
class FakeStripe:
    def __init__(
        self,
        upstream: str | None = None,
        *,
        meters: Iterable[str] = (),
        plan_price: str = "price_plan",
        plan_cents: int = 0,
        legacy_item: str = "",
        metered_unit_cents: int = 2,
    ) -> None:
        self.upstream = upstream
        self.meters = set(meters)  # event names with an active meter
        self.plan_price, self.plan_cents, self.legacy_item = plan_price, plan_cents, legacy_item
        self.metered_unit_cents = metered_unit_cents
        self.failures: dict[str, int] = {}  # meter event identifier -> 500s still to answer
        self.requests: list[Seen] = []
        self.violations: list[str] = []
        self.sessions: dict[str, Obj] = {}  # Checkout Session id -> the session answered
        self.events: dict[str, Obj] = {}  # identifier -> accepted meter event
        self.usage_records: dict[str, list[Obj]] = defaultdict(list)  # subscription item -> records
        self.lock = threading.Lock()
        self.server = _Server(self)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeStripe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def created(self, path: str) -> Iterator[Obj]:
        """The parameters of every POST to ``path``, in order."""
        return (seen.params for seen in self.requests if seen.method == "POST" and seen.path == path)

    def route(self, method: str, path: str) -> Callable[[Obj, dict[str, str]], Answer] | None:
        if method == "GET":
            return self._upcoming if path == "/v1/invoices/upcoming" else None
        if method != "POST":
            return None
        if match := USAGE_RECORDS.fullmatch(path):
            return lambda params, headers: self._usage_record(match[1], params, headers)
        return {
            "/v1/checkout/sessions": self._checkout,
            "/v1/billing_portal/sessions": self._portal,
            "/v1/billing/meter_events": self._meter_event,
            "/v1/invoices/create_preview": self._preview,
        }.get(path)

    def usage_for(self, customer: str) -> int:
        return sum(
            int(e["payload"]["value"])
            for e in self.events.values()
            if e["payload"]["stripe_customer_id"] == customer
        )

    # -- answers ---------------------------------------------------------------------------------
    def _checkout(self, params: Obj, headers: dict[str, str]) -> Answer:
        check_checkout(params)
        obj, now = sample("checkout.session"), int(time.time())
        session_id = "cs_test_" + secrets.token_hex(12)
        obj.update(
            {k: params.get(k) for k in ("customer", "client_reference_id", "success_url", "cancel_url")}
        )
        obj.update(id=session_id, mode=params["mode"], metadata=params.get("metadata") or {}, livemode=False)
        obj.update(status="open", payment_status="unpaid", payment_intent=None, subscription=None)
        obj.update(created=now, expires_at=now + 86400, url=f"https://checkout.stripe.com/c/pay/{session_id}")
        self.sessions[session_id] = obj
        return 200, obj

    def _portal(self, params: Obj, headers: dict[str, str]) -> Answer:
        check_fields(params, "billing_portal.session", extra={"flow_data"}, required=("customer",))
        obj, portal_id = sample("billing_portal.session"), "bps_" + secrets.token_hex(12)
        obj.update(id=portal_id, customer=params["customer"], return_url=params.get("return_url"), flow=None)
        obj.update(url=f"https://billing.stripe.com/p/session/test_{portal_id}", livemode=False)
        obj.update(created=int(time.time()))
        return 200, obj

    def _meter_event(self, params: Obj, headers: dict[str, str]) -> Answer:
        check_meter_event(params)
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
        event.update({k: params[k] for k in ("event_name", "payload")}, identifier=identifier)
        event.update(timestamp=int(params.get("timestamp", time.time())))
        return 200, event

    def _usage_record(self, item: str, params: Obj, headers: dict[str, str]) -> Answer:
        check_usage_record(params)
        key = headers.get("idempotency-key", "")
        if all(r["key"] != key for r in self.usage_records[item]):
            self.usage_records[item].append({"key": key, "quantity": int(params["quantity"])})
        record = {"id": "mbur_" + key[-12:], "object": "usage_record", "livemode": False}
        record.update(
            quantity=int(params["quantity"]), subscription_item=item, timestamp=int(params["timestamp"])
        )
        return 200, record

    def _line(self, amount: int, quantity: int, description: str, **fields: Any) -> Obj:
        line = sample("line_item")
        line.update(amount=amount, quantity=quantity, description=description, period=dict(PERIOD), **fields)
        return line

    def _invoice(self, customer: str, lines: list[Obj], **fields: Any) -> Obj:
        invoice, total = sample("invoice"), sum(line["amount"] for line in lines)
        invoice.update(lines={"object": "list", "data": lines, "has_more": False, "url": "/v1/invoices"})
        invoice.update(customer=customer, currency="usd", subtotal=total, total=total, amount_due=total)
        invoice.update(period_start=PERIOD["start"], period_end=PERIOD["end"], **fields)
        return invoice

    def _preview(self, params: Obj, headers: dict[str, str]) -> Answer:
        check_fields(params, "invoice", required=("customer",))
        used = self.usage_for(params["customer"])

        def priced(price: str, product: str) -> Obj:
            return {"type": "price_details", "price_details": {"price": price, "product": product}}

        licensed = self._line(self.plan_cents, 1, "1 x Team", pricing=priced(self.plan_price, "prod_1"))
        metered = self._line(
            used * self.metered_unit_cents,
            used,
            f"{used} x API calls",
            pricing=priced("price_metered", "prod_2"),
        )
        return 200, self._invoice(params["customer"], [licensed, metered], id="upcoming_in_1")

    def _upcoming(self, params: Obj, headers: dict[str, str]) -> Answer:
        check_fields(params, "invoice", required=("customer",))
        used = sum(r["quantity"] for r in self.usage_records.get(self.legacy_item, []))
        plan = {"id": "plan_metered", "object": "plan", "usage_type": "metered"}
        line = self._line(used * self.metered_unit_cents, used, f"{used} x API calls", plan=plan)
        return 200, self._invoice(params["customer"], [line])


class _Server(ThreadingHTTPServer):
    def __init__(self, fake: FakeStripe) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", "req_fake")
        if status >= 500:
            self.send_header("Stripe-Should-Retry", "false")
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, param: str | None = None) -> None:
        error = {"type": "invalid_request_error", "message": message, **({"param": param} if param else {})}
        self._reply(status, json.dumps({"error": error}).encode())

    def _forward(self, upstream: str, body: bytes) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        answer = httpx.request(
            self.command, upstream + self.path, content=body or None, headers=headers, timeout=30
        )
        self._reply(
            answer.status_code, answer.content, answer.headers.get("content-type", "application/json")
        )

    def _handle(self) -> None:
        fake, parts = self.server.fake, urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        params = parse_form(parts.query if self.command == "GET" else body.decode())
        headers = {k.lower(): v for k, v in self.headers.items()}
        route = fake.route(self.command, parts.path)
        with fake.lock:
            fake.requests.append(Seen(self.command, parts.path, params, headers))
            if route is None and fake.upstream is None:
                fake.violations.append(f"unexpected {self.command} {parts.path}")
        if route is None:
            if fake.upstream is not None:
                return self._forward(fake.upstream, body)
            return self._error(404, "no route")
        if not headers.get("authorization", "").startswith("Bearer sk_test_"):
            return self._error(401, "no key")
        with fake.lock:
            try:
                status, obj = route(params, headers)
            except BadParam as exc:
                fake.violations.append(f"{self.command} {parts.path}: {exc.param}: {exc}")
                return self._error(400, str(exc), exc.param)
        self._reply(status, json.dumps(obj).encode())

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()
