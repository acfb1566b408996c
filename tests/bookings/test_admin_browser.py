"""The laundry's admin page in a real browser (Debian's Chromium through Playwright) against a
real ``saaskit serve`` on the demo's data (its laundry): from the organization's page to the day's
sheet, another day through the date picker (htmx), a booking's timeline; at phone width too."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.admin.conftest import Problems, Site, admin_site, anonymous_page, browser, page, site_database
from tests.admin.test_browser import CELLS_BROKEN_BY_LETTER, NAV_LINKS_OUT_OF_SIGHT
from tests.helpers import signup

pytestmark = pytest.mark.live
__all__ = ["admin_site", "anonymous_page", "browser", "page", "site_database"]


async def test_run_the_day_from_the_admin(admin_site: Site, page: tuple[Page, Problems]) -> None:
    tab, problems = page
    base = admin_site.base
    org_id = await admin_site.scalar("SELECT organization_id FROM bookings LIMIT 1")
    # A member of staff moves one of today's bookings through the API: it shows in its timeline.
    today = datetime.now(UTC).date()
    booking_id, number = (
        await admin_site.sql(
            "SELECT id, booking_number FROM bookings WHERE pickup_date = :d AND status = 'confirmed' "
            "ORDER BY booking_sequence LIMIT 1",
            d=today,
        )
    )[0]
    async with httpx.AsyncClient(base_url=base, timeout=20) as http:
        staff = await signup(http)
        await admin_site.sql(
            "INSERT INTO organization_members (organization_id, user_id, role) VALUES (:o, :u, 'member')",
            o=org_id,
            u=staff.id,
        )
        moved = await http.post(
            f"/api/orgs/{org_id}/bookings/{booking_id}/status",
            headers=staff.headers,
            json={"status": "picked_up"},
        )
        assert moved.status_code == 200, moved.text

    await tab.goto(f"{base}/admin/orgs/{org_id}")
    await tab.get_by_role("link", name="Laundry", exact=True).click()
    await expect(tab.locator("h1")).to_contain_text("Laundry")
    day = tab.locator("#day")
    await expect(day.locator("h2").first).to_contain_text(today.isoformat())
    await expect(day.locator("tr[data-leg]").first).to_be_visible()
    await expect(tab.locator('tr[data-status="delivered"] td.num')).not_to_have_text("0")
    await expect(tab.locator("[data-revenue-total]")).not_to_have_text("0.00")
    # Another day through the date picker: htmx swaps the day's part and the address follows.
    later = (today + timedelta(days=30)).isoformat()
    await tab.fill("input[name=day]", later)
    await tab.locator("input[name=day]").dispatch_event("change")
    await tab.wait_for_url(re.compile(rf"day={later}"))
    await expect(day).to_contain_text("Nothing to collect or deliver that day.")
    await expect(tab.locator("h1")).to_contain_text("Laundry")  # the page stayed, only #day changed
    await tab.goto(f"{base}/admin/orgs/{org_id}/bookings/{booking_id}")
    await expect(tab.locator("h1")).to_contain_text(number)
    await expect(tab.locator('tr[data-action="booking.picked_up"]')).to_contain_text("confirmed -> picked_up")
    # Staff's next move from the page: a message, and one more line in the timeline.
    await tab.get_by_role("button", name="Make it processing").click()
    await expect(tab.locator("#flash-area")).to_contain_text(f"{number} is processing")
    await expect(tab.locator('tr[data-action="booking.processing"]')).to_contain_text(
        "picked_up -> processing"
    )
    await expect(tab.get_by_role("button", name="Make it ready")).to_be_visible()
    await tab.set_viewport_size({"width": 390, "height": 844})
    for path in (f"/admin/orgs/{org_id}/bookings", f"/admin/orgs/{org_id}/bookings/{booking_id}"):
        await tab.goto(base + path)
        overflow = await tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (path, overflow)
        assert await tab.evaluate(NAV_LINKS_OUT_OF_SIGHT) == [], path
        assert await tab.evaluate(CELLS_BROKEN_BY_LETTER) == [], path
    assert not problems, problems
