"""Admin pages harness.

- ``admin_site`` (module): one ``saaskit serve`` on a database cloned from the migrated
  template, seeded once through the real API over HTTP and, for what only Stripe or the apps
  produce (subscriptions, invoices, webhook events, errors), SQL as the service role; one
  password-reset mail queued with ``mail.enqueue`` (held by serve's worker: no SMTP server).
- ``browser`` (module): Debian's Chromium (``/usr/bin/chromium``) driven by Playwright; no
  browser is downloaded.
- ``page`` (test): a fresh context signed in as the site's admin, collecting console errors and
  page errors; when the test fails, a screenshot goes to ``test-artifacts/``.
- ``admin_client`` (test): the ASGI app in the test's rolled-back transaction, with an admin
  signed in through the sign-in form.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import mail
from saaskit.config import Settings
from saaskit.demo.config import DemoConfig, resolve_now
from saaskit.kit.bootstrap import build_runtime
from saaskit.kit.db import SERVICE, Database, create_engine
from saaskit.kit.state import Runtime
from tests.conftest import TEST_SECRET, DbUnderTest, make_settings
from tests.demo.conftest import build, cloned_database
from tests.factories import heartbeat, make_admin, make_dashboard, make_org, make_team, make_workspace
from tests.helpers import DEFAULT_PASSWORD, SignedUp, signup
from tests.live import ServeProcess

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
ADMIN_EMAIL = "admin@example.com"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@dataclass
class Site:
    server: ServeProcess
    runtime: Runtime
    admin_password: str
    users: dict[str, SignedUp] = field(default_factory=dict)
    ids: dict[str, uuid.UUID] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.server.base

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.runtime.db.session(SERVICE) as session:
            result = await session.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []

    async def scalar(self, statement: str, **params: Any) -> Any:
        rows = await self.sql(statement, **params)
        return rows[0][0] if rows else None


async def _seed(site: Site, http: httpx.AsyncClient) -> None:
    """A small but complete back office: users on several tiers and countries, devices on
    several versions (one crashed), an organization with a team and a workspace, a
    subscription with an invoice, webhook events (one failed), system events and errors."""
    for key, name in (("alice", "Alice Martin"), ("bob", "Bob Stone"), ("carol", "Carol Jones")):
        user = await signup(http, f"{key}-{secrets.token_hex(3)}@example.com", name=name)
        site.users[key] = user
    alice, bob = site.users["alice"], site.users["bob"]
    await site.sql(
        "UPDATE users SET country_code = 'FR', tier = 'pro', max_dashboards = 5 WHERE id = :u", u=alice.id
    )
    await site.sql("UPDATE users SET country_code = 'US' WHERE id = :u", u=bob.id)
    for user, version, device_type in (
        (alice, "2.1.0", "fire_tv"),
        (alice, "2.0.3", "browser"),
        (bob, "1.9.0", "android_tv"),
    ):
        dashboard = await make_dashboard(
            http, user, device_name=f"{device_type} screen", device_type=device_type, bind_session=False
        )
        await heartbeat(http, user, dashboard_id=dashboard["id"], app_version=version)
        site.ids[f"dashboard-{version}"] = uuid.UUID(dashboard["id"])
    crash = await http.post(
        f"/api/dashboards/{site.ids['dashboard-1.9.0']}/crash",
        json={"message": "renderer died", "app_version": "1.9.0"},
        headers=bob.headers,
    )
    assert crash.status_code in (200, 201), crash.text
    org_id = (await make_org(http, alice, "Acme Laundry"))["id"]
    site.ids["org"] = uuid.UUID(org_id)
    await make_team(http, alice, org_id, "Drivers")
    await make_workspace(http, alice, org_id, "Operations", slug="ops")

    plan_id = await site.scalar(
        "INSERT INTO subscription_plans (name, tier, billing_interval, price_cents) "
        "VALUES ('Pro', 'pro', 'month', 1500) RETURNING id"
    )
    subscription_id = await site.scalar(
        "INSERT INTO subscriptions (user_id, plan_id, plan_name, tier, status, started_at, billing_interval) "
        "VALUES (:u, :p, 'Pro', 'pro', 'active', now() - interval '40 days', 'month') RETURNING id",
        u=alice.id,
        p=plan_id,
    )
    await site.sql(
        "INSERT INTO invoices (user_id, subscription_id, stripe_invoice_id, number, status, currency, "
        "subtotal_cents, total_cents, amount_due_cents, amount_paid_cents, paid_at) "
        "VALUES (:u, :s, 'in_seed_1', 'SEED-0001', 'paid', 'usd', 1500, 1500, 1500, 1500, now() - interval '10 days')",
        u=alice.id,
        s=subscription_id,
    )
    site.ids["failed_event"] = await site.scalar(
        "INSERT INTO stripe_webhook_events (stripe_event_id, event_type, event_data, processing_status, "
        "error_message, retry_count, stripe_created_at) VALUES (:e, 'customer.created', "
        "CAST(:data AS jsonb), 'failed', 'CustomerNotLinked: seeded failure', 3, now()) RETURNING id",
        e="evt_seed_" + secrets.token_hex(6),
        data='{"id": "evt_seed", "type": "customer.created", "data": {"object": {"id": "cus_unknown_seed", "object": "customer"}}}',
    )
    await site.sql(
        "INSERT INTO stripe_webhook_events (stripe_event_id, event_type, event_data, processing_status, "
        "processed_at, stripe_created_at) VALUES (:e, 'invoice.paid', CAST('{}' AS jsonb), 'processed', now(), now())",
        e="evt_seed_" + secrets.token_hex(6),
    )
    site.ids["system_event"] = await site.scalar(
        "INSERT INTO system_events (event_type, severity, message, app_version) "
        "VALUES ('api_error', 'error', 'upstream timed out', '2.1.0') RETURNING id"
    )
    site.ids["error"] = await site.scalar(
        "INSERT INTO error_logs (error_type, error_code, error_message, app_version, user_id) "
        "VALUES ('system_error', 'E_TIMEOUT', 'timed out after 30 s', '2.1.0', :u) RETURNING id",
        u=alice.id,
    )
    # A password reset: no SMTP server is configured, so serve's worker holds it (Outbox page).
    async with site.runtime.db.session(SERVICE) as session:
        site.ids["held_mail"] = await mail.enqueue(
            session,
            site.runtime,
            to=alice.email,
            template="password_reset",
            context={
                "reset_url": mail.secret_link(site.runtime, "/reset-password", token="seeded-one-time-token"),
                "expires_minutes": 60,
                "name": "Alice Martin",
            },
            user_id=alice.id,
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )


@pytest.fixture(scope="module")
async def site_database(
    pg_server: str, migrated_db: DbUnderTest, settings: Settings
) -> AsyncIterator[DbUnderTest]:
    """A clone of the migrated template filled by ``saaskit demo`` (every page then shows real
    figures, charts and long lists); the tests' named users and objects are added on top."""
    with cloned_database(pg_server, migrated_db) as clone:
        config = DemoConfig(
            users=600,
            days=35,
            seed=3,
            now=resolve_now(None, datetime.now(UTC)),
            activity_events=12_000,
            jobs=1,
        )
        await build(clone, settings, config)
        yield clone


@pytest.fixture(scope="module")
async def admin_site(
    site_database: DbUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    directory = tmp_path_factory.mktemp("admin-site")
    server = ServeProcess(
        directory / "live",
        env={
            "SAASKIT_DATABASE_URL": site_database.owner_url,
            "SAASKIT_SECRET_KEY": TEST_SECRET,
            "SAASKIT_DATA_DIR": str(directory / "data"),
            "SAASKIT_TRACKING_LATENCY_FLUSH_SECONDS": "1",
        },
    )
    settings = make_settings()
    engine = create_engine(site_database.app_url(settings), pool_size=4, max_overflow=4)
    runtime = build_runtime(settings, Database(engine), TEST_SECRET)
    try:
        server.wait_ready()
        password = server.admin_password()
        assert password, server.log()
        site = Site(server, runtime, password)
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            await _seed(site, http)
        yield site
    finally:
        await runtime.db.dispose()
        code = server.stop()
        assert code == 0, server.log()[-4000:]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():  # noqa: ASYNC240 - once per module, before any I/O matters
        pytest.fail("Debian's chromium is missing: apt-get install chromium (.ci/run does it)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        await chromium.close()


class Problems(list[str]):
    """Console errors and uncaught page errors of one page."""

    def watch(self, page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.append(f"console: {message.text} ({message.location.get('url')})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.append(f"pageerror: {error}"))


async def sign_in(page: Page, base: str, email: str, password: str) -> None:
    await page.goto(f"{base}/admin/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_load_state("load")


@pytest.fixture
async def anonymous_page(
    browser: Browser, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Page, Problems]]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    problems = Problems()
    problems.watch(page)
    try:
        yield page, problems
    finally:
        failed = any(
            getattr(getattr(request.node, f"report_{when}", None), "failed", False)
            for when in ("setup", "call")
        )
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
            await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        await context.close()


@pytest.fixture
async def page(admin_site: Site, anonymous_page: tuple[Page, Problems]) -> tuple[Page, Problems]:
    """A browser page signed in as the site's admin."""
    page, problems = anonymous_page
    await sign_in(page, admin_site.base, ADMIN_EMAIL, admin_site.admin_password)
    assert page.url.endswith("/admin/overview"), page.url
    return page, problems


# -- in-process (ASGI) ---------------------------------------------------------------------------
@dataclass
class AdminClient:
    http: httpx.AsyncClient
    admin_id: uuid.UUID
    csrf: str

    async def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return await self.http.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)


def login_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


async def form_sign_in(
    http: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD
) -> httpx.Response:
    form = await http.get("/admin/login")
    assert form.status_code == 200, form.text
    return await http.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": login_token(form.text)}
    )


@pytest.fixture
async def admin_client(client: httpx.AsyncClient, session: AsyncSession) -> AdminClient:
    admin = await make_admin(client, session)
    answer = await form_sign_in(client, admin.email)
    assert answer.status_code == 303, answer.text
    page = await client.get("/admin/users")
    assert page.status_code == 200, page.text
    match = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert match
    return AdminClient(client, admin.id, match.group(1))
