"""The admin pages in a real browser (Debian's Chromium through Playwright) against a real
``saaskit serve``: sign-in, every page without console errors, and the actions that matter."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Dialog, Page, expect

from saaskit.insights import revenue
from saaskit.kit.db import SERVICE
from tests.admin.conftest import ADMIN_EMAIL, Problems, Site, sign_in
from tests.helpers import DEFAULT_PASSWORD

pytestmark = pytest.mark.live


async def _open(page: Page, url: str, heading: str) -> None:
    answer = await page.goto(url)
    assert answer is not None and answer.status == 200, (url, answer and answer.status)
    await expect(page.locator("h1").first).to_contain_text(heading)


async def test_every_page_opens_without_console_errors(admin_site: Site, page: tuple[Page, Problems]) -> None:
    tab, problems = page
    base = admin_site.base
    alice = admin_site.users["alice"]
    await expect(tab.locator(".flash-success")).to_contain_text(f"Signed in as {ADMIN_EMAIL}")
    # The overview: seed 002's figures and charts; the time zone picker moves the days.
    await expect(tab.locator("h1")).to_contain_text("Overview")
    await expect(tab.locator("#activity-chart")).to_have_attribute("data-drawn", "1")
    await expect(tab.locator("#status-chart")).to_have_attribute("data-drawn", "1")
    await expect(tab.locator("#cards")).to_contain_text("users")
    await tab.select_option("select[name=tz]", "Asia/Kathmandu")
    await tab.wait_for_url("**/admin/overview?tz=Asia%2FKathmandu")
    await expect(tab.locator("main")).to_contain_text("midnight in Asia/Kathmandu")
    await tab.goto(f"{base}/admin/users")
    await expect(tab.locator("table")).to_contain_text(alice.email)

    pages = [
        (f"{base}/admin/overview?tz=Europe/Paris", "Overview"),
        (f"{base}/admin/users", "Users"),
        (f"{base}/admin/users?tier=pro&country=FR", "Users"),
        (f"{base}/admin/users/{alice.id}", alice.email),
        (f"{base}/admin/orgs", "Organizations"),
        (f"{base}/admin/orgs/{admin_site.ids['org']}", "Acme Laundry"),
        (f"{base}/admin/devices", "Devices"),
        (f"{base}/admin/billing", "Billing"),
        (f"{base}/admin/billing?status=failed", "Billing"),
        (f"{base}/admin/billing/webhooks/{admin_site.ids['failed_event']}", "customer.created"),
        (f"{base}/admin/analytics", "Analytics"),
        (f"{base}/admin/outbox", "Outbox"),
        (f"{base}/admin/outbox?status=held", "Outbox"),
        (f"{base}/admin/outbox/{admin_site.ids['held_mail']}", "Reset your saaskit password"),
        (f"{base}/admin/system/events", "System"),
        (f"{base}/admin/system/errors", "System"),
        (f"{base}/admin/system/latency?window=1h", "System"),
        (f"{base}/admin/system/storage", "System"),
    ]
    for url, heading in pages:
        await _open(tab, url, heading)
    # The charts really drew (Chart.js marks the canvases it owns).
    await tab.goto(f"{base}/admin/devices")
    await expect(tab.locator("#versions-chart")).to_have_attribute("data-drawn", "1")
    await expect(tab.locator("table").first).to_contain_text("1.9.0")
    await tab.goto(f"{base}/admin/billing")
    await expect(tab.locator("#mrr-chart")).to_have_attribute("data-drawn", "1")
    async with admin_site.runtime.db.session(SERVICE) as session:
        moment = datetime.now(UTC)
        mrr = (await revenue.period(session, moment - timedelta(days=1), moment)).mrr_end_cents
    assert mrr > 1500  # the demo's subscriptions and the seeded $15.00 one
    await expect(tab.locator(".stat").first).to_contain_text(f"${mrr / 100:,.2f}")

    # The held mail's HTML in its sandboxed frame (the frame's own document, no script).
    await tab.goto(f"{base}/admin/outbox/{admin_site.ids['held_mail']}")
    await expect(tab.locator("[data-status]")).to_have_attribute("data-status", re.compile("queued|held"))
    frame = tab.frame_locator("iframe.mail-html")
    await expect(frame.locator("a", has_text="Choose a new password")).to_have_attribute(
        "href", "http://127.0.0.1:8000/reset-password?token=[hidden]"
    )
    await expect(tab.locator("main")).not_to_contain_text("seeded-one-time-token")

    # User page sections, org page sections.
    await tab.goto(f"{base}/admin/users/{alice.id}")
    for text in ("fire_tv screen", "2.1.0", "SEED-0001", "Pro", "Acme Laundry"):
        await expect(tab.locator("main")).to_contain_text(text)
    await tab.goto(f"{base}/admin/orgs/{admin_site.ids['org']}")
    for text in (alice.email, "owner", "Drivers", "Operations"):
        await expect(tab.locator("main")).to_contain_text(text)
    assert not problems, problems


async def test_search_filters_with_htmx_and_unknown_ids(
    admin_site: Site, page: tuple[Page, Problems]
) -> None:
    tab, problems = page
    base = admin_site.base
    await tab.goto(f"{base}/admin/users")
    async with tab.expect_response(re.compile(r"/admin/users\?q=")):
        await tab.fill("input[name=q]", "bob stone")
    rows = tab.locator("#results tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(admin_site.users["bob"].email)
    assert "q=bob%20stone" in tab.url  # the filter is in the address bar (hx-push-url)
    async with tab.expect_response(re.compile(r"/admin/users\?")):
        await tab.fill("input[name=q]", "nobody-by-this-name")
    await expect(tab.locator("#results")).to_contain_text("No user matches these filters.")

    assert not problems, problems
    # Unknown ids and pages: an HTML 404 page (the browser logs the 404 status itself).
    missing = await tab.goto(f"{base}/admin/users/00000000-0000-0000-0000-000000000000")
    assert missing is not None and missing.status == 404
    await expect(tab.locator("h1")).to_have_text("Not found")
    unknown = await tab.goto(f"{base}/admin/no-such-page")
    assert unknown is not None and unknown.status == 404
    await expect(tab.locator("main")).to_contain_text("There is no such page")
    assert all("404" in problem for problem in problems), problems


NAV_LINKS_OUT_OF_SIGHT = """
[...document.querySelectorAll('.nav a')].filter(a => {
  const r = a.getBoundingClientRect();
  return r.width === 0 || r.left < 0 || r.right > window.innerWidth + 1;
}).map(a => a.textContent)
"""

CELLS_BROKEN_BY_LETTER = """
[...document.querySelectorAll('.table td')].filter(td => {
  // The lines the cell's own text takes (a row's height is its tallest cell's, so not that).
  const range = document.createRange();
  range.selectNodeContents(td);
  const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
  const words = td.innerText.trim().split(/\\s+/).filter(Boolean).length;
  return words > 0 && lines.size > 2 * words + 1;
}).map(td => td.innerText.trim())
"""


async def test_phone_width_and_dark_theme(admin_site: Site, page: tuple[Page, Problems]) -> None:
    tab, problems = page
    await tab.set_viewport_size({"width": 390, "height": 844})
    for path in (
        "/admin/overview",
        "/admin/users",
        f"/admin/users/{admin_site.users['alice'].id}",
        "/admin/orgs",
        "/admin/billing",
        "/admin/devices",
        "/admin/analytics?start_event=signup&return_event=%24pageview",
        "/admin/system/events",
        "/admin/system/errors",
        "/admin/system/latency",
        "/admin/system/storage",
    ):
        await tab.goto(admin_site.base + path)
        overflow = await tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (path, overflow)  # wide tables scroll inside their own box
        # Every section of the navigation is in sight: no sideways scrolling without a cue.
        hidden = await tab.evaluate(NAV_LINKS_OUT_OF_SIGHT)
        assert hidden == [], (path, hidden)
        # No cell is broken letter by letter: a cell takes at most a line or two per word.
        broken = await tab.evaluate(CELLS_BROKEN_BY_LETTER)
        assert broken == [], (path, broken)
    # The latency chart names every route it draws.
    await tab.goto(admin_site.base + "/admin/system/latency")
    labels, ticks = await tab.evaluate(
        "(() => { const c = Chart.getChart(document.getElementById('latency-chart'));"
        " return [c.data.labels.length, c.scales.y.ticks.length]; })()"
    )
    assert labels > 1 and ticks == labels
    before = await tab.evaluate("getComputedStyle(document.body).backgroundColor")
    await tab.click("[data-theme-toggle]")
    theme = await tab.evaluate("document.documentElement.dataset.theme")
    after = await tab.evaluate("getComputedStyle(document.body).backgroundColor")
    assert theme in ("dark", "light") and after != before
    await tab.reload()  # the choice is remembered
    assert await tab.evaluate("document.documentElement.dataset.theme") == theme
    assert not problems, problems


async def test_suspend_refuses_sign_in_and_is_audited(admin_site: Site, page: tuple[Page, Problems]) -> None:
    tab, problems = page
    carol = admin_site.users["carol"]
    dialogs: list[str] = []

    async def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    tab.on("dialog", accept)
    await tab.goto(f"{admin_site.base}/admin/users/{carol.id}")
    await tab.get_by_role("button", name="Suspend").click()
    await expect(tab.locator(".flash-success")).to_contain_text(f"{carol.email} is now suspended")
    assert dialogs and "Suspend" in dialogs[0]
    await expect(tab.locator("main")).to_contain_text("user.suspended")

    async with httpx.AsyncClient(base_url=admin_site.base) as http:
        refused = await http.post(
            "/api/auth/login", json={"email": carol.email, "password": DEFAULT_PASSWORD}
        )
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "account_suspended"
        # The session carol had before the suspension is dead too.
        me = await http.get("/api/me", headers=carol.headers)
        assert me.status_code == 401

        await tab.get_by_role("button", name="Reactivate").click()
        await expect(tab.locator(".flash-success")).to_contain_text(f"{carol.email} is now active")
        allowed = await http.post(
            "/api/auth/login", json={"email": carol.email, "password": DEFAULT_PASSWORD}
        )
        assert allowed.status_code == 200, allowed.text
    audit = await admin_site.sql(
        "SELECT action, metadata ->> 'as_platform_admin' FROM activities WHERE entity_id = :u ORDER BY created_at",
        u=carol.id,
    )
    assert [tuple(r) for r in audit] == [("user.suspended", "true"), ("user.reactivated", "true")]
    assert not problems, problems


async def test_user_actions_reload_limit_sessions(admin_site: Site, page: tuple[Page, Problems]) -> None:
    tab, problems = page
    bob = admin_site.users["bob"]
    tab.on("dialog", lambda dialog: dialog.accept())
    await tab.goto(f"{admin_site.base}/admin/users/{bob.id}")
    await tab.get_by_role("button", name="Force reload").click()
    await expect(tab.locator(".flash-success")).to_contain_text("forced to reload")
    assert await admin_site.scalar("SELECT needs_reload FROM users WHERE id = :u", u=bob.id) is True

    await tab.fill("input[name=max_dashboards]", "7")
    await tab.get_by_role("button", name="Save limit").click()
    await expect(tab.locator(".flash-success")).to_contain_text("may now register 7 dashboard(s)")

    await tab.get_by_role("button", name=re.compile("Revoke all sessions")).click()
    await expect(tab.locator(".flash-success")).to_contain_text("Revoked 1 session(s)")
    async with httpx.AsyncClient(base_url=admin_site.base) as http:
        assert (await http.get("/api/me", headers=bob.headers)).status_code == 401
    actions = {
        r[0] for r in await admin_site.sql("SELECT action FROM activities WHERE entity_id = :u", u=bob.id)
    }
    assert actions == {"user.reload_forced", "user.max_dashboards_changed", "user.sessions_revoked"}
    assert not problems, problems


async def test_reprocess_failed_webhook_event(admin_site: Site, page: tuple[Page, Problems]) -> None:
    tab, problems = page
    event_id = admin_site.ids["failed_event"]
    tab.on("dialog", lambda dialog: dialog.accept())
    await tab.goto(f"{admin_site.base}/admin/billing?status=failed")
    await tab.locator("#results tbody a").first.click()
    await expect(tab.locator("[data-status]")).to_have_attribute("data-status", "failed")
    await expect(tab.locator("pre.payload")).to_contain_text("cus_unknown_seed")
    await tab.get_by_role("button", name="Reprocess").click()
    await expect(tab.locator(".flash-success")).to_contain_text("queued for processing again")
    # The job worker inside serve runs the handler; the status area refreshes itself.
    await expect(tab.locator("[data-status]")).to_have_attribute("data-status", "processed", timeout=20_000)
    row = await admin_site.sql(
        "SELECT processing_status, error_message FROM stripe_webhook_events WHERE id = :i", i=event_id
    )
    assert row[0].processing_status == "processed" and row[0].error_message is None
    assert (
        await admin_site.scalar(
            "SELECT count(*) FROM activities WHERE action = 'stripe_webhook_event.reprocess_requested' AND entity_id = :i",
            i=event_id,
        )
        == 1
    )
    assert not problems, problems


async def test_require_update_and_resolve(admin_site: Site, page: tuple[Page, Problems]) -> None:
    tab, problems = page
    tab.on("dialog", lambda dialog: dialog.accept())
    devices = await admin_site.sql(
        "SELECT current_version, needs_update FROM dashboards WHERE deleted_at IS NULL"
    )

    def below_2(version: str | None) -> bool:  # plain dotted numbers, as the demo and seed use
        return version is not None and tuple(int(p) for p in version.split(".")) < (2, 0, 0)

    flagged = sum(1 for d in devices if below_2(d.current_version) and not d.needs_update)
    cleared = sum(1 for d in devices if not below_2(d.current_version) and d.needs_update)
    assert flagged > 1  # the seeded 1.9.0 screen and demo devices
    await tab.goto(f"{admin_site.base}/admin/devices")
    await tab.fill("input[name=minimum_version]", "2.0.0")
    await tab.get_by_role("button", name="Require update").click()
    await expect(tab.locator(".flash-success")).to_contain_text(
        f"Minimum version is now 2.0.0: {flagged} device(s) flagged, {cleared} cleared"
    )
    assert (
        await admin_site.scalar(
            "SELECT needs_update FROM dashboards WHERE id = :d", d=admin_site.ids["dashboard-1.9.0"]
        )
        is True
    )

    await tab.goto(f"{admin_site.base}/admin/system/events")
    row = tab.locator(f"#event-{admin_site.ids['system_event']}")
    await row.get_by_role("button", name="Resolve").click()  # htmx swaps the row in place
    await expect(row).to_contain_text("resolved")
    await tab.goto(f"{admin_site.base}/admin/system/errors")
    row = tab.locator(f"#error-{admin_site.ids['error']}")
    await row.get_by_role("button", name="Resolve").click()
    await expect(row).to_contain_text("resolved")
    assert await admin_site.scalar("SELECT resolved FROM error_logs WHERE id = :i", i=admin_site.ids["error"])
    assert not problems, problems


async def test_non_admin_gets_the_sign_in_page(
    admin_site: Site, anonymous_page: tuple[Page, Problems]
) -> None:
    tab, problems = anonymous_page
    alice = admin_site.users["alice"]
    await tab.goto(f"{admin_site.base}/admin/users/{alice.id}")
    assert "/admin/login" in tab.url
    await expect(tab.locator("h1")).to_have_text("Sign in")
    assert not problems, problems
    await sign_in(tab, admin_site.base, alice.email, DEFAULT_PASSWORD)  # right password, not an admin
    await expect(tab.locator(".flash-error")).to_contain_text("may not use the admin pages")
    # The refused sign-in answers 403 (which the browser logs), and opens no session.
    assert len(problems) == 1 and "403" in problems[0], problems
    problems.clear()
    await tab.goto(f"{admin_site.base}/admin/users")
    assert "/admin/login" in tab.url
    assert alice.email not in await tab.content()
    # The API's own session cookie opens nothing here either.
    await tab.context.add_cookies([{"name": "saaskit_session", "value": alice.token, "url": admin_site.base}])
    await tab.goto(f"{admin_site.base}/admin/users")
    assert "/admin/login" in tab.url
    assert not problems, problems


async def test_csrf_less_form_post_is_refused(admin_site: Site, page: tuple[Page, Problems]) -> None:
    tab, _ = page
    alice = admin_site.users["alice"]
    cookies = {c["name"]: c["value"] for c in await tab.context.cookies() if c["name"] == "saaskit_admin"}
    assert cookies, "the admin session cookie is set"
    async with httpx.AsyncClient(base_url=admin_site.base, cookies=cookies) as http:
        assert (await http.get("/admin/users")).status_code == 200
        refused = await http.post(f"/admin/users/{alice.id}/status", data={"status": "suspended"})
        assert refused.status_code == 403
        assert "did not come from this admin page" in refused.text
        forged = await http.post(
            f"/admin/users/{alice.id}/status", data={"status": "suspended", "csrf_token": "forged"}
        )
        assert forged.status_code == 403
    assert await admin_site.scalar("SELECT status FROM users WHERE id = :u", u=alice.id) == "active"


async def test_broadcasts_reach_members_and_everyone(admin_site: Site, page: tuple[Page, Problems]) -> None:
    """From an organization's page to a notice to its members, then one to everyone that serve's
    worker fans out; the recipients see them through the API and on their admin page."""
    tab, problems = page
    base = admin_site.base
    alice = admin_site.users["alice"]
    dialogs: list[str] = []

    async def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    tab.on("dialog", accept)
    await tab.goto(f"{base}/admin/orgs/{admin_site.ids['org']}")
    await tab.get_by_role("link", name="Notify its members").click()
    await expect(tab.locator("h1")).to_contain_text("Notifications")
    await expect(tab.locator("input[name=audience][value=organization]")).to_be_checked()
    await tab.fill("input[name=title]", "Drivers wanted")
    await tab.fill("textarea[name=body]", "Two routes are free this week.")
    await tab.fill("input[name=link]", "/routes")
    await tab.select_option("select[name=severity]", "warning")
    await tab.get_by_role("button", name="Send").click()
    await expect(tab.locator(".flash-success")).to_contain_text("Sent 'Drivers wanted' to 1 member(s).")
    assert dialogs and "cannot be taken back" in dialogs[0]
    row = tab.locator("#results tr", has_text="Drivers wanted")
    await expect(row).to_contain_text("Acme Laundry")
    await expect(row.locator("td.num").first).to_have_text("1")

    await tab.locator("input[name=audience][value=everyone]").check()
    await tab.fill("input[name=title]", "Maintenance tonight")
    await tab.get_by_role("button", name="Send").click()
    await expect(tab.locator(".flash-success")).to_contain_text("Sending 'Maintenance tonight' to everyone")
    everyone = await admin_site.scalar(
        "SELECT count(*) FROM users WHERE status = 'active' AND deleted_at IS NULL"
    )
    row = tab.locator("#results tr", has_text="Maintenance tonight")
    for _ in range(60):  # serve's worker writes the copies
        await tab.reload()
        if await row.locator(".badge", has_text="sent").count():
            break
        await tab.wait_for_timeout(500)
    await expect(row.locator(".badge", has_text="sent")).to_be_visible()
    await expect(row.locator("td.num").first).to_have_text(f"{everyone:,}")

    async with httpx.AsyncClient(base_url=base) as http:
        me = (await http.get("/api/me", headers=alice.headers)).json()
        assert me["unread_notifications"] >= 2
        listed = (await http.get("/api/me/notifications?unread=true", headers=alice.headers)).json()
        titles = {n["title"]: n for n in listed["items"]}
        assert (
            titles["Drivers wanted"]["link"] == "/routes"
            and titles["Drivers wanted"]["severity"] == "warning"
        )
        assert titles["Maintenance tonight"]["audience"] == "everyone"
        read = await http.post(
            f"/api/me/notifications/{titles['Drivers wanted']['id']}/read", headers=alice.headers
        )
        assert read.status_code == 200
    await tab.reload()
    await expect(
        tab.locator("#results tr", has_text="Drivers wanted").locator("td.num").nth(1)
    ).to_contain_text("1")
    await tab.goto(f"{base}/admin/users/{alice.id}")
    notices = tab.locator("section[aria-labelledby=notices-title]")
    await expect(notices).to_contain_text("Drivers wanted")
    await expect(notices).to_contain_text("Maintenance tonight")
    assert not problems, problems
