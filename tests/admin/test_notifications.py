"""The Notifications page over HTTP (ASGI, the test's rolled-back transaction): compose a
broadcast to everyone or to one organization, the list of what was sent with recipient and read
counts, refusals shown on the form, the audit row; a user's notices on their admin page."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import notifications
from saaskit.kit.db import SERVICE, set_context
from saaskit.kit.state import Runtime
from saaskit.notifications import broadcasts
from tests.admin.conftest import AdminClient
from tests.factories import make_owned_org, one, sql
from tests.helpers import signup


def _row(html: str, title: str) -> str:
    match = re.search(r"<tr><td>[^<]*</td>\s*<td>" + re.escape(title) + r".*?</tr>", html, re.S)
    assert match, (title, html[-4000:])
    return match.group(0)


def _nums(row: str) -> list[str]:
    return re.findall(r'<td class="num">([\d,]+)', row)


async def test_compose_and_list_broadcasts(
    admin_client: AdminClient, client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    http = admin_client.http
    owner, org = await make_owned_org(client, "Acme Laundry")
    reader = await signup(client)
    page = await http.get("/admin/notifications")
    assert page.status_code == 200
    assert 'aria-current="page">Notifications' in page.text and "Nothing was broadcast yet." in page.text

    sent = await admin_client.post(
        "/admin/notifications",
        {
            "audience": "everyone",
            "title": "Maintenance tonight",
            "body": "From 22:00 UTC.",
            "link": "/status",
        },
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/admin/notifications"
    followed = await http.get("/admin/notifications")
    assert "Sending &#39;Maintenance tonight&#39; to everyone" in followed.text  # the flash
    row = _row(followed.text, "Maintenance tonight")
    assert _nums(row) == ["0", "0"] and "sending" in row
    # The job writes the copies (here, in the test's transaction).
    broadcast_id = (await one(session, "SELECT id FROM notification_broadcasts")).id
    everyone = await broadcasts.fan_out(runtime, broadcast_id)
    assert everyone == (await one(session, "SELECT count(*) AS n FROM users WHERE status = 'active'")).n
    row = _row((await http.get("/admin/notifications")).text, "Maintenance tonight")
    assert _nums(row) == [str(everyone), "0"] and ">sent<" in row

    # The organization's page leads to the form addressed to it.
    org_page = await http.get(f"/admin/orgs/{org['id']}")
    assert f'href="/admin/notifications?organization={org["slug"]}"' in org_page.text
    prefilled = await http.get(f"/admin/notifications?organization={org['slug']}")
    assert f'value="{org["slug"]}"' in prefilled.text
    assert re.search(r'value="organization" checked', prefilled.text)
    to_org = await admin_client.post(
        "/admin/notifications",
        {
            "audience": "organization",
            "organization": org["slug"],
            "title": "Your plan changed",
            "severity": "success",
        },
    )
    assert to_org.status_code == 303

    # Reads show up in the list.
    await client.post("/api/me/notifications/read-all", headers=reader.headers)
    await client.post("/api/me/notifications/read-all", headers=owner.headers)
    listed = (await http.get("/admin/notifications")).text
    assert _nums(_row(listed, "Maintenance tonight")) == [str(everyone), "2"]
    org_row = _row(listed, "Your plan changed")
    assert _nums(org_row) == ["1", "1"] and "Acme Laundry" in org_row and "100.0%" in org_row
    fragment = await http.get("/admin/notifications", headers={"HX-Request": "true", "HX-Target": "results"})
    assert "<html" not in fragment.text and "Your plan changed" in fragment.text

    audit = await sql(
        session,
        "SELECT action, actor_id, metadata ->> 'request' AS request FROM activities "
        "WHERE action = 'notification.broadcast' ORDER BY created_at",
    )
    assert len(audit) == 2 and {a.actor_id for a in audit} == {admin_client.admin_id}
    assert {a.request for a in audit} == {"POST /admin/notifications"}


async def test_refusals_come_back_on_the_form(admin_client: AdminClient, session: AsyncSession) -> None:
    for fields, message in (
        (
            {"audience": "everyone", "title": "Click", "link": "javascript:alert(1)"},
            "link: a path starting with /",
        ),
        ({"audience": "organization", "organization": "", "title": "Hi"}, "organization: the organization"),
        (
            {"audience": "organization", "organization": "nope-nope", "title": "Hi"},
            "no organization with the id or slug",
        ),
        ({"audience": "everyone", "title": "   "}, "title: 1 to 200 characters"),
    ):
        answer = await admin_client.post("/admin/notifications", fields)
        assert answer.status_code == 422, (fields, answer.status_code)
        assert message in answer.text.replace("&#39;", "'"), (fields, answer.text[-3000:])
        if fields.get("link"):
            assert 'value="javascript:alert(1)"' in answer.text, "the form keeps what was typed"
    assert (await one(session, "SELECT count(*) AS n FROM notification_broadcasts")).n == 0
    # Without the CSRF token, nothing is sent.
    refused = await admin_client.http.post(
        "/admin/notifications", data={"audience": "everyone", "title": "x"}
    )
    assert refused.status_code == 403


async def test_a_users_notices_on_their_page(
    admin_client: AdminClient, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    await set_context(session, SERVICE)
    await notifications.notify(session, user_id=user.id, kind="credits_low", title="Your balance is low")
    read = await notifications.notify(session, user_id=user.id, kind="security", title="Password changed")
    assert read is not None
    await client.post(f"/api/me/notifications/{read}/read", headers=user.headers)
    page = await admin_client.http.get(f"/admin/users/{user.id}")
    assert page.status_code == 200
    section = page.text[page.text.index('id="notices-title"') :]
    assert "1 unread" in section[:200]
    assert "Your balance is low" in section and "Password changed" in section
    assert "credits_low" in section and section.count('badge-info">unread') == 1
    empty = await admin_client.http.get(f"/admin/users/{admin_client.admin_id}")
    assert "No notification." in empty.text
