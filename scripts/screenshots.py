"""Take the README's admin screenshots from a real running ``saaskit serve`` (e.g. one started
with ``serve --demo``), with Debian's Chromium driven by Playwright.

    uv run python scripts/screenshots.py --base http://127.0.0.1:8000 --email E --password P
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from playwright.async_api import Page, async_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"


async def main(base: str, email: str, password: str, user_query: str, theme: str) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme=theme)  # type: ignore[arg-type]
        await page.goto(f"{base}/admin/login")
        await page.fill("input[name=email]", email)
        await page.fill("input[name=password]", password)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/admin/overview**")
        await page.wait_for_timeout(1500)  # charts animate in
        await page.screenshot(path=str(OUT / "admin-overview.png"), full_page=True)
        await page.goto(f"{base}/admin/users?{user_query}")
        link = page.locator("table a[href^='/admin/users/']").first
        await link.click()
        await page.wait_for_load_state("networkidle")
        await page.screenshot(path=str(OUT / "admin-user.png"), full_page=True)
        await page.goto(f"{base}/admin/analytics")
        compute = page.locator("form[action*='/compute'] button")
        if await compute.count():  # show a computed funnel (a POST: stores the progress)
            await compute.click()
            await page.wait_for_load_state("networkidle")
        await page.fill("input[name=start_event]", "signup")
        await page.fill("input[name=return_event]", "widget_added")
        await page.click("#retention button[type=submit]")
        await page.wait_for_load_state("networkidle")
        await page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays at the top
        await page.wait_for_timeout(1500)
        await page.screenshot(path=str(OUT / "admin-analytics.png"), full_page=True)
        await _flags_and_experiments(page, base)
        await browser.close()


async def _flags_and_experiments(page: Page, base: str) -> None:
    """The demo's flag rollout, its running experiment's results and a person (docs/admin.md)."""
    await page.goto(f"{base}/admin/flags?q=new-dashboard-editor")
    await page.locator("#results a", has_text="new-dashboard-editor").first.click()
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(OUT / "admin-flag.png"), full_page=True)
    await page.goto(f"{base}/admin/experiments?status=running")
    await page.locator("#results a", has_text="Onboarding checklist").first.click()
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(OUT / "admin-experiment.png"), full_page=True)
    await page.goto(f"{base}/admin/persons")
    await page.locator("#results tbody a").first.click()
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(OUT / "admin-person.png"), full_page=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument(
        "--user-query", default="tier=pro&active_now=1", help="Users filter for the user page shown."
    )
    parser.add_argument("--theme", default="light", choices=["light", "dark"])
    args = parser.parse_args()
    asyncio.run(main(args.base, args.email, args.password, args.user_query, args.theme))
