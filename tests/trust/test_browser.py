"""The review queue in a real browser (Debian's Chromium through Playwright) against a real
``saaskit serve``: the queue, the htmx filters, a cluster's page and a false positive."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.config import Settings
from saaskit.kit.bootstrap import build_runtime
from saaskit.kit.db import SERVICE, Database, create_engine
from saaskit.trust import tasks
from tests.admin.conftest import ADMIN_EMAIL, ARTIFACTS, Problems, anonymous_page, browser, sign_in
from tests.conftest import TEST_SECRET, DbUnderTest, make_settings
from tests.demo.conftest import cloned_database
from tests.live import ServeProcess
from tests.trust.conftest import account, failed_payments, trial

pytestmark = pytest.mark.live
__all__ = ["anonymous_page", "browser"]  # fixtures, used by name


class TrustSite:
    def __init__(self, server: ServeProcess, password: str, ids: dict[str, str]) -> None:
        self.server, self.password, self.ids = server, password, ids


@pytest.fixture(scope="module")
def site_database(pg_server: str, migrated_db: DbUnderTest) -> Iterator[DbUnderTest]:
    with cloned_database(pg_server, migrated_db) as clone:
        yield clone


async def _seed(session: AsyncSession) -> dict[str, str]:
    device, office = "browser-farm", "browser-office"
    farm = [await account(session, device=device) for _ in range(3)]
    for days_ago, user_id in zip((3, 2, 1), farm, strict=True):
        await trial(session, user_id, days_ago)
    for _ in range(4):
        await account(session, ip=office)
    card_tester = await account(session)
    await failed_payments(session, card_tester, 6)
    await tasks.sweep_in(session, full=True)
    return {"farm_member": str(farm[2]), "tester": str(card_tester)}


@pytest.fixture(scope="module")
async def trust_site(
    site_database: DbUnderTest, tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> AsyncIterator[TrustSite]:
    directory = tmp_path_factory.mktemp("trust-site")
    server = ServeProcess(
        directory / "live",
        env={
            "SAASKIT_DATABASE_URL": site_database.owner_url,
            "SAASKIT_SECRET_KEY": TEST_SECRET,
            "SAASKIT_DATA_DIR": str(directory / "data"),
        },
    )
    engine = create_engine(site_database.app_url(make_settings()), pool_size=2, max_overflow=2)
    runtime = build_runtime(make_settings(), Database(engine), TEST_SECRET)
    try:
        server.wait_ready()
        password = server.admin_password()
        assert password, server.log()
        async with runtime.db.session(SERVICE) as session:
            ids = await _seed(session)
        yield TrustSite(server, password, ids)
    finally:
        await runtime.db.dispose()
        assert server.stop() == 0, server.log()[-4000:]


async def test_review_queue_in_a_browser(
    trust_site: TrustSite, anonymous_page: tuple[Page, Problems]
) -> None:
    tab, problems = anonymous_page
    base = trust_site.server.base
    await sign_in(tab, base, ADMIN_EMAIL, trust_site.password)
    await tab.click("nav a[href='/admin/trust']")
    await expect(tab.locator("h1")).to_contain_text("Trust and safety")
    clusters = tab.locator("#results tbody tr[data-cluster]")
    await expect(clusters).to_have_count(1)  # the farm's device; the office IP is low risk
    await expect(clusters.first).to_contain_text("device_fingerprint")
    await expect(clusters.first).to_contain_text("high")
    # htmx filter: include low risk brings the office's IP cluster in, without reloading the page.
    await tab.check("input[name=include_low]")
    await expect(tab.locator("#results tbody tr[data-cluster]")).to_have_count(2)
    await expect(tab.locator("#results")).to_contain_text("ip_hash")
    # Patterns filtered by type: only the card tester's.
    await tab.select_option("select[name=pattern_type]", "payment_fraud")
    await expect(tab.locator("#patterns tbody tr[data-pattern]")).to_have_count(2)
    await expect(tab.locator("#patterns")).to_contain_text("card_testing")
    ARTIFACTS.mkdir(exist_ok=True)
    await tab.screenshot(path=str(ARTIFACTS / "trust-queue.png"), full_page=True)

    # The cluster's page: three accounts, the hash, the evidence; clear one pattern.
    await tab.locator("#results a", has_text="device_fingerprint").click()
    await expect(tab.locator("h1")).to_contain_text("3 accounts sharing a device fingerprint")
    await expect(tab.locator("tr[data-member]")).to_have_count(3)
    row = tab.locator(f"tr[data-pattern]:has(a[href='/admin/users/{trust_site.ids['farm_member']}'])")
    await row.locator("select[name=action]").select_option("false_positive")
    await row.locator("input[name=note]").fill("verified by phone")
    await row.locator("button[type=submit]").click()
    await expect(tab.locator(".flash-success")).to_contain_text("false_positive")
    await expect(row).to_contain_text("false_positive")
    # The account's own page lists its cluster.
    await tab.goto(f"{base}/admin/users/{trust_site.ids['farm_member']}")
    await expect(tab.locator("#trust")).to_contain_text("device_fingerprint")
    await tab.locator("#trust").screenshot(path=str(ARTIFACTS / "trust-account.png"))
    assert problems == []
