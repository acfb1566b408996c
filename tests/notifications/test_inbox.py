"""A user's notices through the API (ASGI, the test's rolled-back transaction): notify, list,
read, read all, the unread count in /api/me; organization notices read per member; RLS."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import notifications
from saaskit.kit.db import SERVICE, Context, set_context
from saaskit.kit.errors import Unprocessable
from tests.factories import invite_and_join, make_owned_org, one, sql
from tests.helpers import SignedUp, error_of, signup


async def _unread(client: httpx.AsyncClient, user: SignedUp) -> int:
    me = await client.get("/api/me", headers=user.headers)
    assert me.status_code == 200, me.text
    return int(me.json()["unread_notifications"])


async def test_notify_list_read_read_all_and_the_count(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ada = await signup(client)
    assert await _unread(client, ada) == 0
    ids = []
    for n in range(3):
        await set_context(session, SERVICE)
        ids.append(
            await notifications.notify(
                session,
                user_id=ada.id,
                kind="credits_low",
                title=f"Credits low {n}",
                body="Top up.",
                link="/billing/credits",
                data={"balance_cents": 120 + n},
            )
        )
    assert all(ids) and await _unread(client, ada) == 3

    listed = await client.get("/api/me/notifications", headers=ada.headers)
    assert listed.status_code == 200
    body = listed.json()
    assert set(body) == {"items", "next_cursor"} and body["next_cursor"] is None
    assert {item["id"] for item in body["items"]} == {str(i) for i in ids}
    first = next(item for item in body["items"] if item["id"] == str(ids[0]))
    assert first == {
        "id": str(ids[0]),
        "kind": "credits_low",
        "severity": "warning",
        "title": "Credits low 0",
        "body": "Top up.",
        "link": "/billing/credits",
        "data": {"balance_cents": 120},
        "audience": "user",
        "organization_id": None,
        "actor_id": None,
        "read_at": None,
        "created_at": first["created_at"],
    }
    # Pages of two: every notice once, then no cursor.
    page1 = (await client.get("/api/me/notifications?limit=2", headers=ada.headers)).json()
    assert len(page1["items"]) == 2 and page1["next_cursor"]
    page2 = (
        await client.get(f"/api/me/notifications?limit=2&cursor={page1['next_cursor']}", headers=ada.headers)
    ).json()
    assert page2["next_cursor"] is None
    assert {i["id"] for i in page1["items"] + page2["items"]} == {str(i) for i in ids}

    read = await client.post(f"/api/me/notifications/{ids[0]}/read", headers=ada.headers)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    again = await client.post(f"/api/me/notifications/{ids[0]}/read", headers=ada.headers)
    assert again.json()["read_at"] == read.json()["read_at"], "reading twice keeps the first time"
    assert await _unread(client, ada) == 2
    unread = (await client.get("/api/me/notifications?unread=true", headers=ada.headers)).json()
    assert {i["id"] for i in unread["items"]} == {str(ids[1]), str(ids[2])}

    everything = await client.post("/api/me/notifications/read-all", headers=ada.headers)
    assert everything.status_code == 200 and everything.json() == {"marked_read": 2}
    assert await _unread(client, ada) == 0
    assert (await client.post("/api/me/notifications/read-all", headers=ada.headers)).json() == {
        "marked_read": 0
    }
    assert (await client.get("/api/me/notifications?unread=true", headers=ada.headers)).json()["items"] == []


async def test_another_users_notice_is_404_and_rls_fails_closed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ada, bob = await signup(client), await signup(client)
    await set_context(session, SERVICE)
    bobs = await notifications.notify(session, user_id=bob.id, kind="security", title="Password changed")
    answer = await client.post(f"/api/me/notifications/{bobs}/read", headers=ada.headers)
    assert answer.status_code == 404 and error_of(answer)["field"] == "notification_id"
    assert (await client.get("/api/me/notifications", headers=ada.headers)).json()["items"] == []
    assert (await client.post("/api/me/notifications/read-all", headers=ada.headers)).json()[
        "marked_read"
    ] == 0
    assert (
        await client.post(f"/api/me/notifications/{uuid.uuid4()}/read", headers=ada.headers)
    ).status_code == 404
    assert (await client.get("/api/me/notifications")).status_code == 401
    row = await one(session, "SELECT read_at FROM notifications WHERE id = :i", i=bobs)
    assert row.read_at is None

    # On the application role directly: Ada's context sees none of Bob's, no context sees nothing.
    await set_context(session, Context(user_id=ada.id))
    count = "SELECT count(*) FROM notifications"
    assert (await session.execute(text(count))).scalar_one() == 0
    await set_context(session, Context())
    assert (await session.execute(text(count))).scalar_one() == 0
    assert (await session.execute(text("SELECT count(*) FROM notification_broadcasts"))).scalar_one() == 0
    await set_context(session, Context(user_id=bob.id))
    assert (await session.execute(text(count))).scalar_one() == 1
    # Ada cannot write a notice for Bob (nor an announcement for herself).
    await set_context(session, Context(user_id=ada.id))
    with pytest.raises(DBAPIError, match="row-level security"):
        async with session.begin_nested():
            await notifications.notify(session, user_id=bob.id, kind="security", title="Forged")
    with pytest.raises(DBAPIError, match="row-level security"):
        async with session.begin_nested():
            await session.execute(
                text(
                    "INSERT INTO notifications (user_id, kind, title, audience) "
                    "VALUES (:u, 'broadcast', 'x', 'everyone')"
                ),
                {"u": ada.id},
            )


async def test_organization_notices_are_read_per_member(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, org = await make_owned_org(client, "Acme")
    member = await invite_and_join(client, owner, org["id"])
    outsider = await signup(client)
    org_id = uuid.UUID(org["id"])

    await set_context(session, SERVICE)
    sent = await notifications.notify_organization(
        session,
        organization_id=org_id,
        kind="payment_failed",
        title="The Acme card was declined",
        link="/billing",
    )
    assert sent == 2
    rows = await sql(
        session, "SELECT user_id, audience FROM notifications WHERE organization_id = :o", o=org_id
    )
    assert {r.user_id for r in rows} == {owner.id, member.id} and {r.audience for r in rows} == {
        "organization"
    }
    assert await _unread(client, owner) == await _unread(client, member) == 1
    assert await _unread(client, outsider) == 0

    mine = (await client.get("/api/me/notifications", headers=member.headers)).json()["items"]
    assert [n["organization_id"] for n in mine] == [org["id"]] and mine[0]["audience"] == "organization"
    assert (
        await client.post(f"/api/me/notifications/{mine[0]['id']}/read", headers=member.headers)
    ).status_code == 200
    assert await _unread(client, member) == 0
    assert await _unread(client, owner) == 1, "the member's read does not read it for the owner"
    # The outsider cannot read the member's copy.
    assert (
        await client.post(f"/api/me/notifications/{mine[0]['id']}/read", headers=outsider.headers)
    ).status_code == 404

    # Only some roles; from the organization's own context.
    await set_context(session, Context(user_id=owner.id, organization_id=org_id))
    assert (
        await notifications.notify_organization(
            session, organization_id=org_id, kind="trial_ending", title="Trial ends", roles=["owner"]
        )
        == 1
    )
    # A user's own context would reach only their own membership: refused.
    await set_context(session, Context(user_id=owner.id))
    with pytest.raises(ValueError, match="service context or the organization"):
        await notifications.notify_organization(
            session, organization_id=org_id, kind="trial_ending", title="x"
        )

    # A member who is no longer active sees none of the organization's notices.
    await sql(
        session,
        "UPDATE organization_members SET is_active = false WHERE organization_id = :o AND user_id = :u",
        o=org_id,
        u=member.id,
    )
    assert (await client.get("/api/me/notifications", headers=member.headers)).json()["items"] == []
    assert await _unread(client, owner) == 2
    await set_context(session, SERVICE)
    assert (
        await notifications.notify_organization(session, organization_id=org_id, kind="broadcast", title="Hi")
        == 1
    )


async def test_texts_and_links_are_checked(session: AsyncSession, client: httpx.AsyncClient) -> None:
    ada = await signup(client)
    await set_context(session, SERVICE)
    for link in ("javascript:alert(1)", "//evil.example/x", "data:text/html,x", "/a b"):
        with pytest.raises(Unprocessable, match="link"):
            await notifications.notify(session, user_id=ada.id, kind="broadcast", title="t", link=link)
    with pytest.raises(Unprocessable, match="title"):
        await notifications.notify(session, user_id=ada.id, kind="broadcast", title="  ")
    with pytest.raises(Unprocessable, match="title"):
        await notifications.notify(session, user_id=ada.id, kind="broadcast", title="x" * 201)
    with pytest.raises(ValueError, match="no notification kind"):
        await notifications.notify(session, user_id=ada.id, kind="party", title="t")
    ok = await notifications.notify(
        session, user_id=ada.id, kind="broadcast", title="t", link="https://status.example.com/incident/1"
    )
    assert ok is not None
