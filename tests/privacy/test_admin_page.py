"""The admin privacy page in a real browser (Debian's Chromium through Playwright) against a real
``saaskit serve``: pending deletions and exports made through the API appear, an admin cancels
an erasure, and the retention table shows each table's oldest row."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Dialog, Page, expect
from sqlalchemy import text

from saaskit.config import Settings
from saaskit.kit.bootstrap import build_runtime
from saaskit.kit.db import SERVICE, Database, create_engine
from tests.admin.conftest import ADMIN_EMAIL, Problems, Site, anonymous_page, browser, sign_in
from tests.conftest import TEST_SECRET, DbUnderTest, make_settings
from tests.demo.conftest import cloned_database
from tests.helpers import signup
from tests.live import ServeProcess

pytestmark = pytest.mark.live
__all__ = ["anonymous_page", "browser"]  # fixtures shared with the admin pages' tests


@pytest.fixture(scope="module")
async def site(
    pg_server: str, migrated_db: DbUnderTest, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    directory = tmp_path_factory.mktemp("privacy-site")
    with cloned_database(pg_server, migrated_db) as clone:
        server = ServeProcess(
            directory / "live",
            env={
                "SAASKIT_DATABASE_URL": clone.owner_url,
                "SAASKIT_SECRET_KEY": TEST_SECRET,
                "SAASKIT_DATA_DIR": str(directory / "data"),
            },
        )
        settings = make_settings()
        engine = create_engine(clone.app_url(settings), pool_size=2, max_overflow=2)
        runtime = build_runtime(settings, Database(engine), TEST_SECRET)
        try:
            server.wait_ready()
            password = server.admin_password()
            assert password, server.log()
            yield Site(server, runtime, password)
        finally:
            await runtime.db.dispose()
            code = server.stop()
            assert code == 0, server.log()[-4000:]


async def test_privacy_page_shows_requests_and_cancels_an_erasure(
    site: Site, anonymous_page: tuple[Page, Problems]
) -> None:
    async with httpx.AsyncClient(base_url=site.base, timeout=30) as http:
        leaving = await signup(http, email="leaving@privacy.example")
        exporting = await signup(http, email="exporting@privacy.example")
        assert (await http.post("/api/me/deletion", headers=leaving.headers)).status_code == 202
        assert (await http.post("/api/me/exports", headers=exporting.headers)).status_code == 202
    tab, problems = anonymous_page
    await sign_in(tab, site.base, ADMIN_EMAIL, site.admin_password)
    await tab.click("nav >> text=Privacy")
    await tab.wait_for_url("**/admin/privacy")
    await expect(tab.locator("h1")).to_contain_text("Privacy")
    erasures = tab.locator("#erasures")
    await expect(erasures).to_contain_text("leaving@privacy.example")
    await expect(erasures).to_contain_text("the person")
    # The worker inside serve builds the export: the page shows it finished after a reload.
    exports = tab.locator("#exports")
    await expect(exports).to_contain_text("exporting@privacy.example")
    for _ in range(30):
        if "completed" in (await exports.inner_text()):
            break
        await tab.wait_for_timeout(500)
        await tab.reload()
    await expect(exports).to_contain_text("completed")
    retention = tab.locator("#retention")
    await expect(retention.locator("tr", has_text="activity_events")).to_contain_text("6 months of detail")
    await expect(retention.locator("tr", has_text="stripe_webhook_events")).to_contain_text("7 years")
    # The sign-ups' activity rows exist: the table shows an oldest row, not "empty".
    await expect(retention.locator("tr", has_text="activity_events")).not_to_contain_text("empty")

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    tab.on("dialog", accept)
    await erasures.locator("button", has_text="Cancel").click()
    await tab.wait_for_load_state("load")
    await expect(tab.locator(".flash-success")).to_contain_text("Erasure cancelled")
    await expect(tab.locator("#erasures")).to_contain_text("No deletion is pending")
    async with site.runtime.db.session(SERVICE) as session:
        row = (
            await session.execute(
                text("SELECT status, cancelled_by FROM privacy_requests WHERE kind = 'erasure'")
            )
        ).one()
    assert tuple(row) == ("cancelled", "admin")
    assert problems == [], problems
