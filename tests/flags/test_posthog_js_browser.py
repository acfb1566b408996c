"""posthog-js in a real browser (Debian's Chromium, Playwright) on a page of another origin,
installed with PostHog's copy-paste snippet and a default ``posthog.init`` whose only setting
is ``api_host``: the snippet loads ``/static/array.js`` from saaskit, posthog-js reads its remote
config and flags, and a click becomes an ``$autocapture`` event in saaskit's events table, with
no console error and no failed request; ``getFeatureFlag`` answers what saaskit evaluates."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from playwright.async_api import Browser, Page, Request, Response, async_playwright

from saaskit.flags.assets import VERSION
from saaskit.kit.db import libpq_url
from tests.conftest import DbUnderTest
from tests.live import ServeProcess, free_port

pytestmark = pytest.mark.live

CHROMIUM = "/usr/bin/chromium"

# PostHog's web snippet as its docs print it (posthog.com, contents/docs/integrate/snippet.mdx).
DOCS_SNIPPET = '!function(t,e){var o,n,p,r;e.__SV||(window.posthog=e,e._i=[],e.init=function(i,s,a){function g(t,e){var o=e.split(".");2==o.length&&(t=t[o[0]],e=o[1]),t[e]=function(){t.push([e].concat(Array.prototype.slice.call(arguments,0)))}}(p=t.createElement("script")).type="text/javascript",p.async=!0,p.src=s.api_host.replace(".i.posthog.com","-assets.i.posthog.com")+"/static/array.js",(r=t.getElementsByTagName("script")[0]).parentNode.insertBefore(p,r);var u=e;for(void 0!==a?u=e[a]=[]:a="posthog",u.people=u.people||[],u.toString=function(t){var e="posthog";return"posthog"!==a&&(e+="."+a),t||(e+=" (stub)"),e},u.people.toString=function(){return u.toString(1)+".people (stub)"},o="init capture register register_once register_for_session unregister unregister_for_session getFeatureFlag getFeatureFlagPayload isFeatureEnabled reloadFeatureFlags updateEarlyAccessFeatureEnrollment getEarlyAccessFeatures on onFeatureFlags onSessionId getSurveys getActiveMatchingSurveys renderSurvey canRenderSurvey getNextSurveyStep identify setPersonProperties group resetGroups setPersonPropertiesForFlags resetPersonPropertiesForFlags setGroupPropertiesForFlags resetGroupPropertiesForFlags reset get_distinct_id getGroups get_session_id get_session_replay_url alias set_config startSessionRecording stopSessionRecording sessionRecordingStarted captureException loadToolbar get_property getSessionProperty createPersonProfile opt_in_capturing opt_out_capturing has_opted_in_capturing has_opted_out_capturing clear_opt_in_out_capturing debug".split(" "),n=0;n<o.length;n++)g(u,o[n]);e._i.push([i,s,a])},e.__SV=1)}(document,window.posthog||[]);'
# The one PostHog's app shows in project settings today (frontend/src/lib/components/JSSnippet.tsx):
# the script is loaded with crossOrigin="anonymous", so array.js itself needs CORS headers.
APP_SNIPPET = DOCS_SNIPPET.replace(
    "e.__SV||(window.posthog=e,", "e.__SV||(window.posthog && window.posthog.__loaded)||(window.posthog=e,"
).replace(
    '.type="text/javascript",p.async=!0', '.type="text/javascript",p.crossOrigin="anonymous",p.async=!0'
)
# Its "v2" form (JSSnippetV2 there): posthog-js and the remote config in one script.
V2_SNIPPET = APP_SNIPPET.replace('"/static/array.js"', '"/array/{key}/array.js"')

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<script>
    {snippet}
    posthog.init('{key}', {{api_host: '{api_host}'}})
</script>
</head><body>
<h1>{title}</h1>
<button id="buy" class="cta">Buy the blue one</button>
<a id="next" href="/next.html">Next page</a>
</body></html>
"""

FLAG = {
    "key": "banner",
    "filters": {
        "groups": [{"rollout_percentage": 100}],
        "multivariate": {
            "variants": [
                {"key": "red", "rollout_percentage": 34},
                {"key": "green", "rollout_percentage": 33},
                {"key": "blue", "rollout_percentage": 33},
            ]
        },
    },
}


class _Site:
    """A static site on its own origin (localhost, another port): the customer's page."""

    def __init__(self, pages: dict[str, str]) -> None:
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path == "/favicon.ico":  # the browser asks; not saaskit's business
                    self.send_response(204)
                    self.end_headers()
                    return
                body = site.pages.get(path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.pages = pages
        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://localhost:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _owner(server: ServeProcess) -> dict[str, str]:
    with httpx.Client(base_url=server.base) as http_client:
        owner = http_client.post(
            "/api/auth/signup", json={"email": "js@example.com", "password": "a long password"}
        ).json()
    return {"Authorization": f"Bearer {owner['token']}"}


def _project(server: ServeProcess, headers: dict[str, str], name: str) -> tuple[str, str]:
    """A fresh organization with an ingestion key and the flag: (organization id, key)."""
    with httpx.Client(base_url=server.base, headers=headers) as http_client:
        org = http_client.post("/api/orgs", json={"name": name}).json()
        key = http_client.post(f"/api/orgs/{org['id']}/ingestion-keys").json()["key"]
        created = http_client.post(f"/api/orgs/{org['id']}/flags", json=FLAG)
        assert created.status_code == 201, created.text
    return org["id"], key


def _events(database: DbUnderTest, org_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    with psycopg.connect(libpq_url(database.owner_url)) as conn:
        rows = conn.execute(
            "SELECT event_name, distinct_id, properties FROM events WHERE organization_id = %s "
            "ORDER BY timestamp",
            (org_id,),
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


async def _wait_for(database: DbUnderTest, org_id: str, wanted: dict[str, int]) -> list[Any]:
    """The organization's events once ``wanted`` (name -> at least this many) are stored."""
    deadline = time.monotonic() + 30
    while True:
        events = _events(database, org_id)
        names = [e[0] for e in events]
        if all(names.count(k) >= n for k, n in wanted.items()) or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.3)


class _Watch:
    """Everything that went wrong in the page, and every answer saaskit gave it."""

    def __init__(self, page: Page, saaskit: str) -> None:
        self.problems: list[str] = []
        self.answers: list[tuple[str, str, int]] = []
        self.event_bodies: list[bytes] = []
        # Closing the browser aborts what the page still sends ($pageleave): not saaskit's failure.
        self.closing = False
        # Leaving a page cancels what it still has in flight (net::ERR_ABORTED): the browser's
        # doing, seen when a slow answer to /e/ is still pending as the link is followed.
        self.navigating = False
        self.saaskit = saaskit
        page.on(
            "console",
            lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _failed(self, request: Request) -> None:
        if self.closing or (self.navigating and request.failure == "net::ERR_ABORTED"):
            return
        self.problems.append(
            f"requestfailed: {request.method} {request.url} {request.failure} (page {request.frame.url})"
        )

    def _response(self, response: Response) -> None:
        if response.url.startswith(self.saaskit):
            parts = urlsplit(response.url)
            self.answers.append((response.request.method, parts.path, response.status))
            if parts.path == "/e/":
                self.event_bodies.append((response.request.post_data_buffer or b"")[:3])
            if response.status >= 400:
                self.problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def paths(self) -> set[str]:
        return {path for _, path, status in self.answers if status < 400}


async def test_posthog_js_snippet_autocaptures_into_saaskit(
    live_server: ServeProcess, fresh_database: DbUnderTest
) -> None:
    owner_headers = _owner(live_server)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            # Without it, navigator.webdriver is true and posthog-js drops events as a bot's.
            args=["--no-sandbox", "--disable-blink-features=AutomationControlled"],
        )
        try:
            assert 'p.crossOrigin="anonymous"' in APP_SNIPPET and "__loaded)||" in APP_SNIPPET
            assert "/array/{key}/array.js" in V2_SNIPPET
            for name, snippet in (
                ("Docs shop", DOCS_SNIPPET),
                ("App shop", APP_SNIPPET),
                ("V2 shop", V2_SNIPPET),
            ):
                org_id, key = _project(live_server, owner_headers, name)
                snippet = snippet.replace("{key}", key)
                await _one_site(browser, live_server, fresh_database, owner_headers, org_id, key, snippet)
        finally:
            await browser.close()


async def _one_site(
    browser: Browser,
    live_server: ServeProcess,
    fresh_database: DbUnderTest,
    owner_headers: dict[str, str],
    org_id: str,
    key: str,
    code: str,
) -> None:
    pages = {
        path: PAGE.format(title=title, snippet=code, key=key, api_host=live_server.base)
        for path, title in (("/", "Shop"), ("/next.html", "Next"))
    }
    site = _Site(pages)
    try:
        # posthog-js drops every event of a "HeadlessChrome" user agent as a bot's: the
        # browser presents itself as the Chrome it is, as it would to a visitor.
        probe = await browser.new_page()
        agent = (await probe.evaluate("navigator.userAgent")).replace("HeadlessChrome", "Chrome")
        await probe.close()
        context = await browser.new_context(user_agent=agent)
        page = await context.new_page()
        watch = _Watch(page, live_server.base)
        await page.goto(site.base + "/")
        await page.wait_for_function("() => window.posthog && window.posthog.__loaded === true")
        # What the page's posthog-js decides for the flag, once flags are loaded.
        value = await page.evaluate(
            "() => new Promise(done => posthog.onFeatureFlags(() => done(posthog.getFeatureFlag('banner'))))"
        )
        distinct_id = await page.evaluate("() => posthog.get_distinct_id()")
        await page.click("#buy")
        watch.navigating = True
        await page.click("#next")
        await page.wait_for_url("**/next.html")
        await page.wait_for_function("() => window.posthog && window.posthog.__loaded === true")
        watch.navigating = False
        await page.click("#buy")
        events = await _wait_for(fresh_database, org_id, {"$pageview": 2, "$autocapture": 3})
        # Let the last batches and anything lazily loaded finish before judging.
        await page.wait_for_timeout(1500)
        watch.closing = True
        await context.close()
    finally:
        site.close()

    assert watch.problems == [], "\n".join(watch.problems)
    paths = watch.paths()
    if f"/array/{key}/array.js" in code:  # the config came with the script
        assert f"/array/{key}/array.js" in paths and "/static/array.js" not in paths, watch.answers
        assert f"/array/{key}/config.js" not in paths, "posthog-js found its config already loaded"
    else:
        assert "/static/array.js" in paths, watch.answers
        assert f"/array/{key}/config" in paths or f"/array/{key}/config.js" in paths, watch.answers
    assert "/flags/" in paths or "/flags" in paths, watch.answers
    # posthog-js loads its surveys part from the versioned path even with surveys off.
    assert f"/static/{VERSION}/surveys.js" in paths, watch.answers
    # Events went to /e/ gzipped, as posthog-js sends them once the config offers gzip.
    assert watch.event_bodies and all(b == b"\x1f\x8b\x08" for b in watch.event_bodies), watch.event_bodies
    assert not any(p.startswith("/s") and not p.startswith("/static") for p in paths), "no session recording"
    names = [e[0] for e in events]
    assert names.count("$pageview") == 2, names
    assert names.count("$autocapture") >= 3, names  # two button clicks and the link
    clicks = [e[2] for e in events if e[0] == "$autocapture"]
    assert any("Buy the blue one" in str(p.get("$elements_chain", "")) for p in clicks), clicks[0]
    assert {e[1] for e in events} == {distinct_id}, "every event under the page's distinct id"
    assert all(e[2].get("$lib") == "web" for e in events)
    # saaskit's own evaluation for that id agrees with what posthog-js got from /flags.
    async with httpx.AsyncClient(base_url=live_server.base) as http_client:
        evaluated = await http_client.post(
            f"/api/orgs/{org_id}/flags/evaluate", json={"distinct_id": distinct_id}, headers=owner_headers
        )
    answer = evaluated.json()
    ours = {a["key"]: a["variant"] or a["enabled"] for a in answer}
    assert value in ("red", "green", "blue") and value == ours["banner"], (value, ours)
