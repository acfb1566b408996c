"""The admin pages over plain HTTP through the ASGI app (the test's rolled-back transaction):
the auth gate, CSRF, sign-in rules, HTML errors, htmx fragments and the audited actions."""

from __future__ import annotations

import re
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.rollups import runner
from tests.admin.conftest import AdminClient, form_sign_in, login_token
from tests.factories import insert_org, make_admin, make_member, one, sql
from tests.helpers import signup

PAGES = (
    "/admin/overview",
    "/admin/users",
    "/admin/orgs",
    "/admin/devices",
    "/admin/billing",
    "/admin/analytics",
    "/admin/outbox",
    "/admin/notifications",
    "/admin/system/events",
    "/admin/system/errors",
    "/admin/system/latency",
    "/admin/system/storage",
)


async def test_anonymous_visitors_are_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in (*PAGES, f"/admin/users/{uuid.uuid4()}"):
        answer = await client.get(path)
        assert answer.status_code == 303, (path, answer.status_code)
        assert answer.headers["location"].startswith("/admin/login?next=")
    assert (await client.get("/admin")).headers["location"] == "/admin/overview"
    htmx = await client.get("/admin/users", headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith("/admin/login")
    form = await client.get("/admin/login")
    assert form.status_code == 200 and "text/html" in form.headers["content-type"]
    assert "Sign in" in form.text and form.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in form.headers["content-security-policy"]
    # Anonymous posts are sent to sign in, never acted upon.
    assert (
        await client.post(f"/admin/users/{uuid.uuid4()}/status", data={"status": "banned"})
    ).status_code == 303


async def test_non_admins_never_get_a_session_or_data(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    before = await one(session, "SELECT count(*) AS n FROM user_sessions WHERE user_id = :u", u=user.id)
    refused = await form_sign_in(client, user.email)
    assert refused.status_code == 403 and "may not use the admin pages" in refused.text
    assert "saaskit_admin" not in refused.cookies
    after = await one(session, "SELECT count(*) AS n FROM user_sessions WHERE user_id = :u", u=user.id)
    assert after.n == before.n  # the session sign_in opened was rolled back
    # The JSON API's cookie does not open the admin pages.
    client.cookies.set("saaskit_session", user.token)
    assert (await client.get("/admin/users")).status_code == 303
    # A session token of a non-admin in the admin cookie does not either.
    client.cookies.set("saaskit_admin", user.token, path="/admin")
    assert (await client.get("/admin/users")).status_code == 303


async def test_wrong_password_counts_towards_the_lockout(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    answer = await form_sign_in(client, user.email, "not the password at all")
    assert answer.status_code == 401 and "The e-mail or password is wrong" in answer.text
    assert (await one(session, "SELECT failed_sign_in_count AS n FROM users WHERE id = :u", u=user.id)).n == 1
    empty = await form_sign_in(client, "", "")
    assert empty.status_code == 422 and "Enter your e-mail and password" in empty.text


async def test_sign_in_needs_the_login_csrf_token(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await make_admin(client, session)
    await client.get("/admin/login")  # the browser has the cookie, but the form does not echo it
    answer = await client.post(
        "/admin/login", data={"email": admin.email, "password": "correct horse battery"}
    )
    assert answer.status_code == 403 and "text/html" in answer.headers["content-type"]
    other = await client.post(
        "/admin/login",
        data={"email": admin.email, "password": "correct horse battery", "csrf_token": "guessed"},
    )
    assert other.status_code == 403
    ok = await form_sign_in(client, admin.email)
    assert ok.status_code == 303 and ok.headers["location"] == "/admin/overview"
    cookie = ok.headers["set-cookie"]
    assert (
        "saaskit_admin=" in cookie
        and "HttpOnly" in cookie
        and "SameSite=lax" in cookie
        and "Path=/admin" in cookie
    )


async def test_next_is_kept_and_never_leaves_the_admin(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_admin(client, session)
    for target, expected in (
        ("/admin/devices", "/admin/devices"),
        ("//evil.example/x", "/admin/overview"),
        ("https://evil.example", "/admin/overview"),
    ):
        form = await client.get("/admin/login")
        answer = await client.post(
            "/admin/login",
            data={
                "email": admin.email,
                "password": "correct horse battery",
                "csrf_token": login_token(form.text),
                "next": target,
            },
        )
        assert answer.headers["location"] == expected
        client.cookies.clear()


async def test_every_page_and_html_errors(admin_client: AdminClient) -> None:
    http = admin_client.http
    for path in PAGES:
        answer = await http.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert "text/html" in answer.headers["content-type"]
    missing = await http.get(f"/admin/users/{uuid.uuid4()}")
    assert missing.status_code == 404 and "There is no user with this id." in missing.text
    assert (await http.get("/admin/users/not-an-id")).status_code == 404
    assert (await http.get(f"/admin/orgs/{uuid.uuid4()}")).status_code == 404
    assert (await http.get(f"/admin/billing/webhooks/{uuid.uuid4()}")).status_code == 404
    unknown = await http.get("/admin/nothing-here")
    assert unknown.status_code == 404 and "<html" in unknown.text
    bad = await http.get("/admin/users?status=zombie")
    assert bad.status_code == 400 and "status: must be one of" in bad.text
    assert (await http.get("/admin/users?cursor=garbage")).status_code == 400
    assert (await http.get("/admin/system/events?window=1y")).status_code == 400
    # The JSON API keeps its JSON errors.
    api = await http.get("/api/nothing-here")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


async def test_htmx_gets_fragments(admin_client: AdminClient) -> None:
    http = admin_client.http
    fragment = await http.get("/admin/users?q=zzz", headers={"HX-Request": "true", "HX-Target": "results"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "No user matches these filters." in fragment.text
    page = await http.get("/admin/users?q=zzz")
    assert "<html" in page.text


async def test_state_changes_need_the_session_csrf_token(
    admin_client: AdminClient, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    target = await signup(client)
    url = f"/admin/users/{target.id}/status"
    refused = await admin_client.http.post(url, data={"status": "suspended"})
    assert refused.status_code == 403 and "did not come from this admin page" in refused.text
    wrong = await admin_client.http.post(url, data={"status": "suspended", "csrf_token": "x" * 64})
    assert wrong.status_code == 403
    assert (await one(session, "SELECT status FROM users WHERE id = :u", u=target.id)).status == "active"
    # htmx sends the token as a header.
    ok = await admin_client.http.post(
        url, data={"status": "suspended"}, headers={"X-CSRF-Token": admin_client.csrf, "HX-Request": "true"}
    )
    assert ok.status_code == 204 and ok.headers["HX-Redirect"] == f"/admin/users/{target.id}"
    assert (await one(session, "SELECT status FROM users WHERE id = :u", u=target.id)).status == "suspended"
    # Sign-out is a state change too.
    assert (await admin_client.http.post("/admin/logout")).status_code == 403


async def test_actions_are_audited_and_refusals_flashed(
    admin_client: AdminClient, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    target = await signup(client)
    base = f"/admin/users/{target.id}"
    assert (await admin_client.post(f"{base}/max-dashboards", {"max_dashboards": "4"})).status_code == 303
    row = await one(
        session, "SELECT max_dashboards, max_dashboards_override FROM users WHERE id = :u", u=target.id
    )
    assert (row.max_dashboards, row.max_dashboards_override) == (4, 4)
    assert (await admin_client.post(f"{base}/max-dashboards", {"max_dashboards": ""})).status_code == 303
    row = await one(
        session, "SELECT max_dashboards, max_dashboards_override FROM users WHERE id = :u", u=target.id
    )
    assert row.max_dashboards_override is None
    bad = await admin_client.post(f"{base}/max-dashboards", {"max_dashboards": "-3"})
    assert bad.status_code == 303 and bad.headers["location"] == base
    page = await admin_client.http.get(base)
    assert "a whole number from 0 to 1000" in page.text  # the flash message, shown once
    assert "a whole number from 0 to 1000" not in (await admin_client.http.get(base)).text

    assert (await admin_client.post(f"{base}/reload", {"flag": "on"})).status_code == 303
    assert (await one(session, "SELECT needs_reload FROM users WHERE id = :u", u=target.id)).needs_reload
    assert (await admin_client.post(f"{base}/revoke-sessions")).status_code == 303
    assert (await client.get("/api/me", headers=target.headers)).status_code == 401
    audit = await sql(
        session,
        "SELECT action, actor_id, metadata ->> 'request' AS request FROM activities "
        "WHERE entity_id = :u ORDER BY created_at",
        u=target.id,
    )
    assert [r.action for r in audit] == [
        "user.max_dashboards_changed",
        "user.max_dashboards_changed",
        "user.reload_forced",
        "user.sessions_revoked",
    ]
    assert all(r.actor_id == admin_client.admin_id for r in audit)
    assert audit[0].request == f"POST {base}/max-dashboards"

    # An admin cannot lock themselves out; the refusal comes back as a message on the page.
    own = await admin_client.post(
        f"/admin/users/{admin_client.admin_id}/status",
        {"status": "suspended"},
        headers={"Referer": f"http://testserver/admin/users/{admin_client.admin_id}"},
    )
    assert own.status_code == 303
    assert (
        "cannot suspend or ban your own account"
        in (await admin_client.http.get(own.headers["location"])).text
    )
    assert (
        await admin_client.post(f"/admin/users/{uuid.uuid4()}/status", {"status": "banned"})
    ).status_code == 404


async def test_resolve_with_htmx_returns_the_row(admin_client: AdminClient, session: AsyncSession) -> None:
    event = await one(
        session,
        "INSERT INTO system_events (event_type, severity, message) VALUES ('crash', 'critical', 'boom') RETURNING id",
    )
    answer = await admin_client.http.post(
        f"/admin/system/events/{event.id}/resolve",
        headers={"X-CSRF-Token": admin_client.csrf, "HX-Request": "true"},
    )
    assert answer.status_code == 200 and answer.text.lstrip().startswith("<tr") and "resolved" in answer.text
    row = await one(session, "SELECT resolved_by FROM system_events WHERE id = :i", i=event.id)
    assert row.resolved_by == admin_client.admin_id
    assert re.search(r"system_event\.resolved", str(await sql(session, "SELECT action FROM activities")))


async def test_sign_out_revokes_the_session(admin_client: AdminClient) -> None:
    http = admin_client.http
    answer = await admin_client.post("/admin/logout")
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/login"
    assert (await http.get("/admin/users")).status_code == 303


def _card(html: str, label: str) -> int:
    match = re.search(r'<span class="value">([\d,]+)</span><span class="label">' + label + "</span>", html)
    assert match, (label, html[:3000])
    return int(match.group(1).replace(",", ""))


def _state(html: str, state: str) -> int:
    match = re.search(rf">{state}</span></td><td class=\"num\">([\d,]+)</td>", html)
    assert match, (state, html[:5000])
    return int(match.group(1).replace(",", ""))


async def test_every_page_shows_a_figure_the_same_way(
    admin_client: AdminClient, session: AsyncSession
) -> None:
    """The overview, the devices page and the billing page compute "active now" and the
    subscription figures with one definition each, so they agree on the same data."""
    users = [await signup(admin_client.http) for _ in range(4)]
    for user, seen in zip(users, ("10 seconds", "4 minutes", "6 minutes", "2 days"), strict=True):
        await sql(
            session,
            "INSERT INTO user_heartbeats (user_id, last_seen_at) VALUES (:u, now() - CAST(:ago AS interval))",
            u=user.id,
            ago=seen,
        )
    for user, status, ends in (
        (users[0], "active", "30 days"),
        (users[1], "active", "-1 hour"),  # entitled, past its end, not yet marked by the expiry job
        (users[2], "cancelled", "-3 days"),
        (users[3], "trialing", "5 days"),
    ):
        await sql(
            session,
            "INSERT INTO subscriptions (user_id, plan_name, tier, status, started_at, ends_at) "
            "VALUES (:u, 'Pro', 'pro', :s, now() - interval '40 days', now() + CAST(:e AS interval))",
            u=user.id,
            s=status,
            e=ends,
        )
    overview = (await admin_client.http.get("/admin/overview/now")).text
    devices = (await admin_client.http.get("/admin/devices/presence")).text
    billing = (await admin_client.http.get("/admin/billing")).text
    assert _card(overview, "active now") == _card(devices, "users active now") == 2
    # One of a thing is named in the singular ("1 active subscription", never "1 ... subscriptions").
    assert _card(overview, "active subscription") == _state(billing, "active") == 1
    assert _state(billing, "expired") == 1 and _state(billing, "cancelled") == 1
    assert _card(overview, "expired subscriptions") == 2  # seed 002: the ended cancelled one too


async def test_counts_agree_with_their_words_and_unknown_countries_are_named(
    admin_client: AdminClient, session: AsyncSession
) -> None:
    org = await insert_org(session, name="Solo")
    await make_member(admin_client.http, session, org, role="owner")
    html = (await admin_client.http.get(f"/admin/orgs/{org}")).text
    assert '<span class="value">1</span><span class="label">active member</span>' in html
    assert '<span class="value">0</span><span class="label">teams</span>' in html
    # A user without a country is counted under "Unknown", not under a country called "ZZ".
    await sql(session, "UPDATE users SET country_code = NULL")
    await runner.refresh_geographic_stats(session)
    page = (await admin_client.http.get("/admin/analytics")).text
    assert "<td>Unknown</td>" in page and "<td>ZZ</td>" not in page
