"""The admin page of an organization's webhooks, in Chromium, on a real ``saaskit serve`` whose
own worker delivers to the test's receiver."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.admin.conftest import ADMIN_EMAIL, CHROMIUM, Problems, sign_in
from tests.conftest import TEST_SECRET, DbUnderTest
from tests.helpers import signup
from tests.live import ServeProcess
from tests.webhooks.receiver import Receiver, Reply

pytestmark = pytest.mark.live


@pytest.fixture
def server(fresh_database: DbUnderTest, tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(
        tmp_path / "live",
        env={
            "SAASKIT_DATABASE_URL": fresh_database.owner_url,
            "SAASKIT_SECRET_KEY": TEST_SECRET,
            "SAASKIT_DATA_DIR": str(tmp_path / "data"),
            "SAASKIT_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": json.dumps(["127.0.0.0/8"]),
        },
    )
    try:
        process.wait_ready()
        yield process
    finally:
        code = process.stop()
        assert code == 0, process.log()[-4000:]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install chromium"
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        await chromium.close()


async def test_an_organizations_endpoints_and_delivery_log(
    server: ServeProcess, receiver: Receiver, browser: Browser
) -> None:
    receiver.replies.append(Reply(status=500, body=b"receiver exploded"))
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        owner = await signup(http)
        org = (await http.post("/api/orgs", json={"name": "Hooked Laundry"}, headers=owner.headers)).json()
        base = f"/api/orgs/{org['id']}/webhooks"
        created = await http.post(
            base,
            headers=owner.headers,
            json={"url": receiver.url, "description": "ERP", "event_types": ["*"]},
        )
        assert created.status_code == 201, created.text
        endpoint = created.json()
        for _ in range(2):  # the first answered 500, the second 200
            sent = await http.post(f"{base}/{endpoint['id']}/test", headers=owner.headers)
            assert sent.status_code == 202, sent.text
        deadline = time.monotonic() + 30
        while True:
            log = (await http.get(f"{base}/{endpoint['id']}/deliveries", headers=owner.headers)).json()[
                "items"
            ]
            if len(log) >= 2:
                break
            assert time.monotonic() < deadline, server.log()[-3000:]
            await asyncio.sleep(0.2)
    assert sorted(row["status_code"] for row in log) == [200, 500]

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    problems = Problems()
    problems.watch(page)
    password = server.admin_password()
    assert password, server.log()
    await sign_in(page, server.base, ADMIN_EMAIL, password)
    await page.goto(f"{server.base}/admin/orgs/{org['id']}")
    await page.get_by_role("link", name="Webhooks").click()
    await page.wait_for_url(f"**/admin/orgs/{org['id']}/webhooks")
    await expect(page.locator("h1")).to_have_text("Webhooks")
    row = page.locator(f"tr[data-endpoint='{endpoint['id']}']")
    await expect(row).to_contain_text(receiver.url)
    await expect(row).to_contain_text("enabled")
    await expect(row).to_contain_text("ERP")
    deliveries = page.locator("tr[data-delivery]")
    await expect(deliveries).to_have_count(2)
    await expect(deliveries.nth(0)).to_contain_text("delivered")
    await expect(deliveries.nth(0)).to_contain_text("webhook.test")
    await expect(deliveries.nth(1)).to_contain_text("failed")
    await expect(deliveries.nth(1)).to_contain_text("answered 500")
    await expect(deliveries.nth(1)).to_contain_text("receiver exploded")
    # Filtered to the one endpoint; an id that is not one is a 404 page, not a 500.
    await row.get_by_role("link").first.click()
    await expect(page.locator("h2").nth(1)).to_contain_text("of one endpoint")
    assert list(problems) == [], problems
    answer = await page.goto(f"{server.base}/admin/orgs/{org['id']}/webhooks?endpoint=nope")
    assert answer is not None and answer.status in (404, 422)
    await context.close()
