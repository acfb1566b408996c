"""Billing test harness: localstripe started by the suite, saaskit served over real HTTP.

- ``localstripe_url`` (session): ``localstripe --port <free> --from-scratch`` (its state is
  pickled to a fixed file, so always from scratch), polled until it answers.
- ``stripe_api`` (per test): its data wiped (``DELETE /_config/data``), and an SDK client on it,
  used by the tests as the "browser" (confirming SetupIntents, reading what saaskit created).
- ``billing_server`` (per test): ``saaskit serve`` on a fresh database, configured for
  localstripe, registered as localstripe's webhook receiver with a secret of its own (so a
  delivery scheduled by an earlier test cannot be accepted by this one), plus an admin session
  and a runtime on the same database for plan sync and assertions.
- ``app_client`` (per test): the ASGI app on a fresh database (every request really commits),
  and ``service_rows`` to read or write it in the service context.
- ``signed_event`` builds events localstripe cannot send, from Stripe's published object
  samples (``shared/stripe/fixtures3.json``), signed with ``WebhookSignature``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import stripe
from sqlalchemy import text

from saaskit.billing.plans import sync_plans
from saaskit.config import StripeSettings
from saaskit.kit.bootstrap import build_runtime
from saaskit.kit.db import SERVICE, Database, create_engine
from saaskit.kit.state import Runtime
from tests.conftest import TEST_SECRET, DbUnderTest, make_settings
from tests.factories import make_org
from tests.helpers import SignedUp, signup
from tests.live import ServeProcess, free_port

API_KEY = "sk_test_saaskit_localstripe"
FIXTURES = Path(__file__).parents[3] / "shared" / "stripe" / "fixtures3.json"
if not FIXTURES.exists():  # the shared folder sits beside the repository's root
    FIXTURES = Path("/work/shared/stripe/fixtures3.json")
T = TypeVar("T")


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    binary = Path(sys.executable).parent / "localstripe"
    port = free_port()
    proc = subprocess.Popen(
        [str(binary), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(
                url + "/v1/customers?limit=1", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=0.5
            )
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("localstripe did not start") from None
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _localstripe(url: str, path: str, method: str, body: dict[str, Any] | None = None) -> None:
    answer = httpx.request(method, url + path, json=body, timeout=5)
    assert answer.status_code == 200, answer.text


@pytest.fixture
def stripe_api(localstripe_url: str) -> stripe.StripeClient:
    _localstripe(localstripe_url, "/_config/data", "DELETE")
    return stripe.StripeClient(API_KEY, base_addresses={"api": localstripe_url}, max_network_retries=0)


def stripe_settings(localstripe_url: str, webhook_secret: str) -> StripeSettings:
    return StripeSettings(
        api_key=API_KEY,
        webhook_secret=webhook_secret,
        api_base=localstripe_url,
        legacy_plans=True,
        webhook_max_attempts=3,
        webhook_retry_base_seconds=0.3,
    )


async def eventually(check: Callable[[], Awaitable[T]], within: float = 15, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.1)


@dataclass
class Billing:
    """A live saaskit wired to localstripe, and what tests need around it."""

    server: ServeProcess
    http: httpx.AsyncClient
    runtime: Runtime
    stripe: stripe.StripeClient
    localstripe_url: str
    webhook_secret: str
    admin: SignedUp

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.runtime.db.session(SERVICE) as session:
            result = await session.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []

    async def scalar(self, statement: str, **params: Any) -> Any:
        rows = await self.sql(statement, **params)
        return rows[0][0] if rows else None

    async def signup(self) -> SignedUp:
        return await signup(self.http, f"payer-{uuid.uuid4().hex[:10]}@example.com")

    async def create_plan(self, name: str, tier: str, price_cents: int, **extra: Any) -> dict[str, Any]:
        body = {"name": name, "tier": tier, "billing_interval": "month", "price_cents": price_cents, **extra}
        answer = await self.http.post("/api/admin/billing/plans", json=body, headers=self.admin.headers)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    async def sync(self) -> None:
        await sync_plans(self.runtime)

    async def save_card(
        self, account: SignedUp, number: str = "4242424242424242", prefix: str = "/api/billing"
    ) -> str:
        """The SetupIntent flow: saaskit's intent, confirmed by the "browser", saved by saaskit."""
        intent = await self.http.post(f"{prefix}/setup-intent", headers=account.headers)
        assert intent.status_code == 200, intent.text
        card = {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
        method = self.stripe.v1.payment_methods.create({"type": "card", "card": card})
        self.stripe.v1.setup_intents.confirm(intent.json()["setup_intent_id"], {"payment_method": method.id})
        saved = await self.http.post(
            f"{prefix}/payment-methods",
            json={"setup_intent_id": intent.json()["setup_intent_id"]},
            headers=account.headers,
        )
        assert saved.status_code == 201, saved.text
        assert saved.json()["card_last4"] == number[-4:]
        return str(saved.json()["provider_payment_method_id"])

    async def events(self, event_type: str | None = None) -> list[Any]:
        query = "SELECT event_type, processing_status, retry_count, error_message, old_tier, new_tier, id, stripe_event_id FROM stripe_webhook_events"
        if event_type:
            return await self.sql(query + " WHERE event_type = :t ORDER BY created_at", t=event_type)
        return await self.sql(query + " ORDER BY created_at")

    def post_event(self, event: dict[str, Any], secret: str | None = None) -> httpx.Response:
        payload = json.dumps(event)
        signature = sign(payload, secret or self.webhook_secret)
        return httpx.post(
            f"{self.server.base}/api/billing/stripe/webhook",
            content=payload,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
            timeout=10,
        )


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    header: str = stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp or int(time.time())
    )
    return header


def sample(resource: str) -> dict[str, Any]:
    """A fresh copy of Stripe's published sample of ``resource`` (current API shapes)."""
    data = json.loads(FIXTURES.read_text())["resources"][resource]
    return copy.deepcopy(data)  # type: ignore[no-any-return]


def event_of(event_type: str, obj: dict[str, Any], created: int | None = None) -> dict[str, Any]:
    envelope = sample("event")
    envelope.update(
        {
            "id": "evt_" + secrets.token_hex(12),
            "type": event_type,
            "created": created or int(time.time()),
            "api_version": "2026-10-28.endive",
            "data": {"object": obj},
        }
    )
    return envelope


@pytest.fixture
async def billing_server(
    fresh_database: DbUnderTest, tmp_path: Path, localstripe_url: str, stripe_api: stripe.StripeClient
) -> AsyncIterator[Billing]:
    secret = "whsec_" + secrets.token_hex(16)
    server = ServeProcess(
        tmp_path / "live",
        env={
            "SAASKIT_DATABASE_URL": fresh_database.owner_url,
            "SAASKIT_SECRET_KEY": TEST_SECRET,
            "SAASKIT_DATA_DIR": str(tmp_path / "data"),
            "SAASKIT_STRIPE_API_KEY": API_KEY,
            "SAASKIT_STRIPE_WEBHOOK_SECRET": secret,
            "SAASKIT_STRIPE_API_BASE": localstripe_url,
            "SAASKIT_STRIPE_LEGACY_PLANS": "true",
            "SAASKIT_STRIPE_WEBHOOK_MAX_ATTEMPTS": "3",
            "SAASKIT_STRIPE_WEBHOOK_RETRY_BASE_SECONDS": "0.3",
        },
    )
    settings = make_settings(stripe=stripe_settings(localstripe_url, secret))
    engine = create_engine(fresh_database.app_url(settings), pool_size=4, max_overflow=4)
    runtime = build_runtime(settings, Database(engine), TEST_SECRET)
    try:
        server.wait_ready()
        _localstripe(
            localstripe_url,
            "/_config/webhooks/saaskit",
            "POST",
            {"url": f"{server.base}/api/billing/stripe/webhook", "secret": secret},
        )
        password = server.admin_password()
        assert password, server.log()
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            login = await http.post(
                "/api/auth/login", json={"email": "admin@example.com", "password": password}
            )
            assert login.status_code == 200, login.text
            body = login.json()
            admin = SignedUp(
                uuid.UUID(body["user"]["id"]),
                "admin@example.com",
                body["token"],
                uuid.UUID(body["session_id"]),
            )
            yield Billing(server, http, runtime, stripe_api, localstripe_url, secret, admin)
    finally:
        await engine.dispose()
        code = server.stop()
        assert code == 0, server.log()[-4000:]


async def org_of(billing: Billing, owner: SignedUp) -> str:
    org = await make_org(billing.http, owner, "Billing Org " + uuid.uuid4().hex[:6])
    return str(org["id"])


@pytest.fixture
async def app_client(fresh_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """The ASGI app on a fresh database: every request really commits."""
    from saaskit.app import create_app

    app = create_app(fresh_runtime, dispose_on_shutdown=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def service_rows(runtime: Runtime, statement: str, **params: object) -> list[tuple[object, ...]]:
    """Run one statement in the service context (committed); its rows, if it returns any."""
    async with runtime.db.session(SERVICE) as session:
        result = await session.execute(text(statement), params)
        return [tuple(r) for r in result.all()] if result.returns_rows else []
