"""A small stand-in for the Stripe APIs localstripe lacks (Checkout Sessions, Billing Portal
sessions): a local HTTP server the real stripe SDK talks to.

- ``POST /v1/checkout/sessions`` and ``POST /v1/billing_portal/sessions`` are answered from
  Stripe's published samples (``shared/stripe/fixtures3.json``), after checking the request's
  shape: every parameter must be one of the object's fields (the sample's keys) or a documented
  create-only parameter, nested parameters are checked the same way, required ones must be
  there, and metadata must stay within Stripe's limits (50 keys, key 40 and value 500
  characters). A bad request gets Stripe's 400 ``invalid_request_error`` answer naming the
  parameter. Requests are recorded for the tests.
- Everything else is forwarded to localstripe as it is (so customers, cards, subscriptions and
  webhook deliveries stay real).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx

from tests.billing.conftest import sample

Obj = dict[str, Any]

# Create-only parameters of POST /v1/checkout/sessions (Stripe's API reference), beyond the fields
# the Session object itself has.
CHECKOUT_CREATE_ONLY = {
    "line_items",
    "payment_intent_data",
    "subscription_data",
    "setup_intent_data",
    "expand",
    "customer_update",
    "tax_id_collection",
    "discounts",
    "return_url",
    "redirect_on_completion",
}
NESTED: dict[str, set[str]] = {
    "line_items[]": {
        "price",
        "price_data",
        "quantity",
        "adjustable_quantity",
        "dynamic_tax_rates",
        "tax_rates",
    },
    "price_data": {
        "currency",
        "product",
        "product_data",
        "unit_amount",
        "unit_amount_decimal",
        "recurring",
        "tax_behavior",
    },
    "product_data": {"name", "description", "images", "metadata", "tax_code", "unit_label"},
    "subscription_data": {
        "metadata",
        "trial_period_days",
        "trial_end",
        "description",
        "default_tax_rates",
        "application_fee_percent",
        "billing_cycle_anchor",
        "proration_behavior",
        "trial_settings",
        "on_behalf_of",
        "transfer_data",
        "invoice_settings",
        "billing_mode",
    },
    "payment_intent_data": {
        "metadata",
        "description",
        "setup_future_usage",
        "capture_method",
        "receipt_email",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "on_behalf_of",
        "transfer_data",
        "transfer_group",
        "application_fee_amount",
        "shipping",
    },
}


class BadParam(Exception):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


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
    known = set(sample("checkout.session")) | CHECKOUT_CREATE_ONLY
    for key in params:
        if key not in known:
            raise BadParam(key, f"Received unknown parameter: {key}")
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
    if "metadata" in params:
        _metadata("metadata", params["metadata"])


def check_portal(params: Obj) -> None:
    known = set(sample("billing_portal.session")) | {"flow_data"}
    for key in params:
        if key not in known:
            raise BadParam(key, f"Received unknown parameter: {key}")
    if not params.get("customer"):
        raise BadParam("customer", "Missing required param: customer.")


class FakeStripe:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[tuple[str, Obj]] = []
        self.sessions: dict[str, Obj] = {}
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeStripe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def created(self, path: str) -> Iterator[Obj]:
        return (params for p, params in self.requests if p == path)

    def _answer(self, path: str, params: Obj) -> Obj:
        if path == "/v1/checkout/sessions":
            check_checkout(params)
            obj = sample("checkout.session")
            session_id = "cs_test_" + secrets.token_hex(12)
            obj.update(
                {
                    "id": session_id,
                    "mode": params["mode"],
                    "customer": params.get("customer"),
                    "client_reference_id": params.get("client_reference_id"),
                    "metadata": params.get("metadata") or {},
                    "success_url": params.get("success_url"),
                    "cancel_url": params.get("cancel_url"),
                    "status": "open",
                    "payment_status": "unpaid",
                    "payment_intent": None,
                    "subscription": None,
                    "created": int(time.time()),
                    "expires_at": int(time.time()) + 86400,
                    "url": f"https://checkout.stripe.com/c/pay/{session_id}",
                    "livemode": False,
                }
            )
            self.sessions[session_id] = obj
            return obj
        check_portal(params)
        obj = sample("billing_portal.session")
        portal_id = "bps_" + secrets.token_hex(12)
        obj.update(
            {
                "id": portal_id,
                "customer": params["customer"],
                "return_url": params.get("return_url"),
                "url": f"https://billing.stripe.com/p/session/test_{portal_id}",
                "livemode": False,
                "flow": None,
                "created": int(time.time()),
            }
        )
        return obj

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                answer = httpx.request(
                    self.command, fake.upstream + self.path, content=body, headers=headers, timeout=30
                )
                self._reply(
                    answer.status_code, answer.content, answer.headers.get("content-type", "application/json")
                )

            def do_GET(self) -> None:
                self._forward()

            def do_DELETE(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                path = self.path.split("?")[0]
                if path not in ("/v1/checkout/sessions", "/v1/billing_portal/sessions"):
                    self._forward()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                params = parse_form(self.rfile.read(length).decode())
                fake.requests.append((path, params))
                try:
                    obj = fake._answer(path, params)
                except BadParam as exc:
                    error = {
                        "error": {"type": "invalid_request_error", "message": str(exc), "param": exc.param}
                    }
                    self._reply(400, json.dumps(error).encode())
                    return
                self._reply(200, json.dumps(obj).encode())

        return Handler
