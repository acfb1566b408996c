"""The Flags, Experiments and Persons pages in a real browser (Debian's Chromium through
Playwright) against a real ``saaskit serve`` on the demo's data (its flag rollout, its running
experiment, its persons): each page's main flow, without console errors, at phone width too."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Dialog, Page, expect

from saaskit.demo.experiments import EXPERIMENT_KEY
from tests.admin.conftest import Problems, Site
from tests.admin.test_browser import CELLS_BROKEN_BY_LETTER, NAV_LINKS_OUT_OF_SIGHT

pytestmark = pytest.mark.live


def _accept_dialogs(tab: Page) -> list[str]:
    seen: list[str] = []

    async def accept(dialog: Dialog) -> None:
        seen.append(dialog.message)
        await dialog.accept()

    tab.on("dialog", accept)
    return seen


async def _demo_org(site: Site) -> tuple[str, str]:
    row = (
        await site.sql(
            "SELECT o.id, o.slug FROM experiments e JOIN organizations o ON o.id = e.organization_id WHERE e.key = :k",
            k=EXPERIMENT_KEY,
        )
    )[0]
    return str(row[0]), str(row[1])


async def test_flag_rollout_edit_and_who_sees_what(admin_site: Site, page: tuple[Page, Problems]) -> None:
    tab, problems = page
    base = admin_site.base
    org_id, _ = await _demo_org(admin_site)
    await tab.goto(f"{base}/admin/overview")
    await tab.get_by_role("link", name="Flags", exact=True).click()
    await expect(tab.locator("h1")).to_contain_text("Feature flags")
    # Filtering swaps the table with htmx and keeps the address in step.
    await tab.select_option("select[name=organization]", org_id)
    await tab.wait_for_url(re.compile(r"organization="))
    await tab.fill("input[name=q]", "editor")
    await expect(tab.locator("#results tbody tr")).to_have_count(1)
    await tab.locator("#results a", has_text="new-dashboard-editor").click()
    await expect(tab.locator("h1")).to_contain_text("new-dashboard-editor")
    main = tab.locator("main")
    await expect(main).to_contain_text("role is owner or admin")
    # The demo's $feature_flag_called events and its persons, by value.
    observed = tab.locator("section", has=tab.locator("h2", has_text="Observed"))
    await expect(observed.locator("tbody tr").first).to_contain_text(re.compile(r"true|false"))
    await expect(observed).to_contain_text("calls in all")

    # The second condition set's rollout: 30 -> 40, through the service, audited.
    field = tab.locator("tr[data-condition='1'] input[name=rollout_percentage]")
    await expect(field).to_have_value("30")
    await field.fill("40")
    await tab.locator("tr[data-condition='1'] button").click()
    await expect(tab.locator(".flash-success")).to_contain_text("Saved new-dashboard-editor (version 2)")
    await expect(tab.locator("tr[data-condition='1'] input[name=rollout_percentage]")).to_have_value("40")
    await expect(main).to_contain_text("Changed feature flag new-dashboard-editor: filters.")
    version = await admin_site.scalar("SELECT version FROM feature_flags WHERE key = 'new-dashboard-editor'")
    assert version == 2
    # A refusal comes back in red and changes nothing.
    await field.fill("140")
    await tab.evaluate(
        "document.querySelector(\"tr[data-condition='1'] input[name=rollout_percentage]\").removeAttribute('max')"
    )
    await tab.locator("tr[data-condition='1'] button").click()
    await expect(tab.locator(".flash-error")).to_contain_text("a number from 0 to 100")

    # Who sees what: an owner always gets the editor (condition set 1), with its payload.
    await tab.get_by_role("link", name="Who sees what").click()
    owner_id = await admin_site.scalar(
        "SELECT user_id FROM organization_members WHERE organization_id = :o AND role = 'owner'", o=org_id
    )
    await tab.fill("input[name=distinct_id]", str(owner_id))
    await tab.click("button:has-text('Evaluate')")
    row = tab.locator("tr[data-flag='new-dashboard-editor']")
    await expect(row).to_contain_text("true")
    await expect(row).to_contain_text("Matched condition set 1")
    await expect(row).to_contain_text('{"editor": "v2"}')
    await expect(tab.locator("tr[data-flag='pricing-page-layout'] .badge")).to_have_text(
        re.compile("^(control|compact|wide)$")
    )
    assert "distinct_id=" in tab.url
    # Typed properties win over the stored ones: a viewer falls to the 40% set.
    await tab.fill("textarea[name=properties]", "role=viewer")
    await tab.click("button:has-text('Evaluate')")
    await expect(row).not_to_contain_text("Matched condition set 1")
    assert not problems, problems


async def test_experiment_results_drawn_and_lifecycle(admin_site: Site, page: tuple[Page, Problems]) -> None:
    tab, problems = page
    base = admin_site.base
    dialogs = _accept_dialogs(tab)
    _, slug = await _demo_org(admin_site)
    await tab.goto(f"{base}/admin/experiments")
    await tab.select_option("select[name=status]", "running")
    await expect(tab.locator("#results tbody tr")).to_have_count(1)
    await tab.locator("#results a", has_text="Onboarding checklist").click()
    await expect(tab.locator("h1")).to_contain_text("Onboarding checklist")
    # Results: both variants with exposures, the checklist's interval drawn in SVG.
    for variant in ("control", "checklist"):
        cells = tab.locator(f"tr[data-variant='{variant}'] td.num")
        assert int((await cells.first.inner_text()).replace(",", "")) > 0
    await expect(tab.locator(".interval-chart svg g.interval")).to_have_count(1)
    box = await tab.locator(".interval-chart svg g.interval line").first.bounding_box()
    assert box is not None and box["width"] > 5  # a real interval, not a dot
    await expect(tab.locator("tr[data-variant='checklist']")).to_contain_text("%")
    assert await tab.locator(".interval-chart svg title").first.text_content()

    # Set up a draft in the demo's organization, start it, stop it.
    await tab.goto(f"{base}/admin/experiments/new")
    await tab.fill("input[name=organization]", slug)
    await tab.fill("input[name=key]", "pricing-copy")
    await tab.fill("input[name=name]", "Pricing copy")
    await tab.fill("textarea[name=variants]", "control 0.34 Old copy\nshort 0.33 Short\nlong 0.33 Long")
    await tab.fill("input[name=metric_event]", "subscription_started")
    await tab.click("button:has-text('Create the draft')")
    await expect(tab.locator(".flash-success")).to_contain_text("Created the draft pricing-copy")
    await expect(tab.locator("main")).to_contain_text("Long (33.0%)")
    await tab.get_by_role("button", name="Start").click()
    await expect(tab.locator(".flash-success")).to_contain_text("Pricing copy is running")
    await tab.get_by_role("button", name="Stop").click()
    await expect(tab.locator(".flash-success")).to_contain_text("Pricing copy is stopped")
    await expect(tab.locator("main")).to_contain_text("kept when stopped")
    assert [d.split("?")[0] for d in dialogs] == ["Start Pricing copy", "Stop Pricing copy"]
    # A design GrowthBook would change comes back on the form with the reason.
    await tab.goto(f"{base}/admin/experiments/new")
    await tab.fill("input[name=organization]", slug)
    await tab.fill("input[name=key]", "uneven")
    await tab.fill("input[name=name]", "Uneven")
    await tab.fill("textarea[name=variants]", "a 0.5\nb 0.4")
    await tab.click("button:has-text('Create the draft')")
    await expect(tab.locator(".flash-error")).to_contain_text("weights must sum to 1")
    await expect(tab.locator("input[name=key]")).to_have_value("uneven")
    # The refused form's page is a 422 (Chromium logs the status): the only message.
    assert len(problems) == 1 and "422" in problems[0], problems


async def test_person_search_and_page(admin_site: Site, page: tuple[Page, Problems]) -> None:
    tab, problems = page
    base = admin_site.base
    org_id, _ = await _demo_org(admin_site)
    email = await admin_site.scalar(
        "SELECT p.properties ->> 'email' FROM persons p JOIN person_distinct_ids d ON d.person_id = p.id "
        "WHERE p.organization_id = :o AND EXISTS (SELECT 1 FROM events e WHERE e.distinct_id = d.distinct_id "
        "AND e.event_name = '$feature_flag_called') ORDER BY p.created_at DESC LIMIT 1",
        o=org_id,
    )
    await tab.goto(f"{base}/admin/persons")
    await tab.fill("input[name=q]", email.upper())
    await expect(tab.locator("#results tbody tr")).to_have_count(1)
    await tab.locator("#results tbody a").first.click()
    main = tab.locator("main")
    for text in (email, "role", "$feature_flag_called", "distinct id is the member's user id"):
        await expect(main).to_contain_text(text)
    # The linked saaskit user and the person's flags.
    await tab.locator("main a[href^='/admin/users/']").first.click()
    await expect(tab.locator("h1")).to_contain_text(email)
    await tab.go_back()
    await tab.get_by_role("link", name="their flags").click()
    await expect(tab.locator("tr[data-flag='new-dashboard-editor']")).to_be_visible()
    assert not problems, problems


async def test_new_pages_fit_a_phone(admin_site: Site, page: tuple[Page, Problems]) -> None:
    tab, problems = page
    org_id, _ = await _demo_org(admin_site)
    experiment = await admin_site.scalar("SELECT id FROM experiments WHERE key = :k", k=EXPERIMENT_KEY)
    flag = await admin_site.scalar("SELECT id FROM feature_flags WHERE key = 'pricing-page-layout'")
    person = await admin_site.scalar("SELECT id FROM persons WHERE organization_id = :o LIMIT 1", o=org_id)
    await tab.set_viewport_size({"width": 390, "height": 844})
    for path in (
        "/admin/flags",
        f"/admin/flags/{flag}",
        f"/admin/flags/who?organization={org_id}&distinct_id=someone",
        "/admin/experiments",
        f"/admin/experiments/{experiment}",
        "/admin/experiments/new",
        "/admin/persons",
        f"/admin/persons/{person}",
    ):
        await tab.goto(admin_site.base + path)
        overflow = await tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (path, overflow)
        assert await tab.evaluate(NAV_LINKS_OUT_OF_SIGHT) == [], path
        assert await tab.evaluate(CELLS_BROKEN_BY_LETTER) == [], path
    assert not problems, problems
