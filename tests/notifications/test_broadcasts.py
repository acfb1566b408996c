"""Admin broadcasts through the JSON admin API: to everyone and to one organization (recipient
and read counts), who is skipped, the audit row, refusals; and the daily purge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import SERVICE, set_context
from saaskit.kit.state import Runtime
from saaskit.notifications import broadcasts, tasks
from tests.factories import invite_and_join, make_admin, make_owned_org, one, sql
from tests.helpers import error_of, signup

URL = "/api/admin/notifications/broadcasts"


async def test_broadcast_to_everyone_and_to_an_organization(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    admin = await make_admin(client, session)
    owner, org = await make_owned_org(client, "Acme Laundry")
    member = await invite_and_join(client, owner, org["id"])
    quiet, suspended, deleted = [await signup(client) for _ in range(3)]
    assert (
        await client.put(
            "/api/me/notification-settings",
            headers=quiet.headers,
            json={"kinds": {"broadcast": {"in_app": False}}},
        )
    ).status_code == 200
    await sql(session, "UPDATE users SET status = 'suspended' WHERE id = :u", u=suspended.id)
    await sql(session, "UPDATE users SET deleted_at = now() WHERE id = :u", u=deleted.id)
    expected = (
        await one(
            session,
            "SELECT count(*) AS n FROM users WHERE status = 'active' AND deleted_at IS NULL AND id <> :q",
            q=quiet.id,
        )
    ).n
    assert expected == 3  # the admin, the owner, the member

    # An account created after the broadcast does not get it.
    late = await signup(client)
    await sql(session, "UPDATE users SET created_at = now() + interval '1 minute' WHERE id = :u", u=late.id)

    sent = await client.post(
        URL,
        headers=admin.headers,
        json={
            "audience": "everyone",
            "title": "Maintenance tonight",
            "body": "From 22:00 UTC.",
            "link": "/status",
        },
    )
    assert sent.status_code == 201, sent.text
    everyone = sent.json()
    assert (everyone["status"], everyone["recipient_count"], everyone["completed_at"]) == ("sending", 0, None)
    assert everyone["audience"] == "everyone" and everyone["sent_by"] == str(admin.id)
    jobs = await sql(
        session,
        "SELECT args FROM procrastinate_jobs WHERE task_name = 'notifications.fan_out' AND status = 'todo'",
    )
    assert [j.args for j in jobs] == [{"broadcast_id": everyone["id"]}], "deferred in the admin's transaction"
    # What the job does: batches of two accounts here, each recording its progress.
    assert await broadcasts.fan_out(runtime, uuid.UUID(everyone["id"]), batch_size=2) == expected
    row = await one(
        session,
        "SELECT status, recipient_count, completed_at FROM notification_broadcasts WHERE id = :b",
        b=everyone["id"],
    )
    assert row.status == "sent" and row.recipient_count == expected and row.completed_at is not None
    async with runtime.db.session(SERVICE) as again:  # a second run (a resumed job) adds nothing
        assert await broadcasts.fan_out_batch(again, uuid.UUID(everyone["id"]))
    copies = await sql(
        session,
        "SELECT user_id, audience, actor_id FROM notifications WHERE broadcast_id = :b",
        b=everyone["id"],
    )
    assert sorted(str(c.user_id) for c in copies) == sorted(str(u) for u in (admin.id, owner.id, member.id))
    assert {(c.audience, c.actor_id) for c in copies} == {("everyone", None)}, (
        "recipients are not told which admin"
    )
    listed = (await client.get("/api/me/notifications", headers=member.headers)).json()["items"]
    assert [(n["title"], n["kind"], n["audience"]) for n in listed] == [
        ("Maintenance tonight", "broadcast", "everyone")
    ]
    assert (await client.get("/api/me/notifications", headers=quiet.headers)).json()["items"] == []

    by_slug = await client.post(
        URL,
        headers=admin.headers,
        json={
            "audience": "organization",
            "organization": org["slug"],
            "title": "New plan",
            "severity": "success",
        },
    )
    assert by_slug.status_code == 201, by_slug.text
    assert by_slug.json()["recipient_count"] == 2 and by_slug.json()["organization_id"] == org["id"]
    assert by_slug.json()["status"] == "sent", "an organization's copies are written at once"
    by_id = await client.post(
        URL,
        headers=admin.headers,
        json={"audience": "organization", "organization": org["id"], "title": "Again"},
    )
    assert by_id.json()["recipient_count"] == 2

    # Reading is per recipient; the admin list counts the reads.
    mine = (await client.get("/api/me/notifications", headers=member.headers)).json()["items"]
    for notice in mine:
        await client.post(f"/api/me/notifications/{notice['id']}/read", headers=member.headers)
    await client.post("/api/me/notifications/read-all", headers=owner.headers)
    page = await client.get(URL, headers=admin.headers)
    assert page.status_code == 200
    counts = {b["title"]: (b["recipient_count"], b["read_count"]) for b in page.json()["items"]}
    assert counts == {"Maintenance tonight": (3, 2), "New plan": (2, 2), "Again": (2, 2)}
    assert (await client.get(f"{URL}?limit=2", headers=admin.headers)).json()["next_cursor"]

    audit = await sql(
        session,
        "SELECT action, actor_id, organization_id, metadata FROM activities "
        "WHERE entity_type = 'notification_broadcast' ORDER BY created_at, action",
    )
    assert [a.action for a in audit] == ["notification.broadcast"] * 3
    assert {a.actor_id for a in audit} == {admin.id}
    assert {a.organization_id for a in audit} == {None, uuid.UUID(org["id"])}
    assert sorted(str(a.metadata["recipients"]) for a in audit) == ["2", "2", "None"]


async def test_broadcast_refusals(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await make_admin(client, session)
    user = await signup(client)
    body = {"audience": "everyone", "title": "Hello"}
    assert (await client.post(URL, headers=user.headers, json=body)).status_code == 403
    assert (await client.get(URL, headers=user.headers)).status_code == 403
    assert (await client.post(URL, json=body)).status_code == 401
    for change, field in (
        ({"link": "javascript:alert(1)"}, "link"),
        ({"title": ""}, "title"),
        ({"audience": "organization"}, "organization"),
        ({"audience": "planet"}, "audience"),
        ({"severity": "loud"}, "severity"),
    ):
        answer = await client.post(URL, headers=admin.headers, json={**body, **change})
        assert answer.status_code == 422, (change, answer.text)
        assert field in (error_of(answer)["field"] or ""), (change, answer.text)
    missing = await client.post(
        URL,
        headers=admin.headers,
        json={"audience": "organization", "organization": "no-such-org", "title": "x"},
    )
    assert missing.status_code == 404 and error_of(missing)["field"] == "organization"
    assert (await one(session, "SELECT count(*) AS n FROM notification_broadcasts")).n == 0
    assert (await one(session, "SELECT count(*) AS n FROM notifications")).n == 0


async def test_the_daily_purge_deletes_old_notices(session: AsyncSession, runtime: Runtime) -> None:
    user = (await one(session, "INSERT INTO users (email) VALUES ('old@example.com') RETURNING id")).id
    for age in ("200 days", "10 days"):
        await sql(
            session,
            "INSERT INTO notifications (user_id, kind, title, created_at) "
            "VALUES (:u, 'broadcast', :t, now() - CAST(:a AS interval))",
            u=user,
            t=age,
            a=age,
        )
    await set_context(session, SERVICE)
    assert await tasks.purge(session, runtime, datetime.now(UTC) + timedelta(minutes=1)) == 1
    assert [
        r.title for r in await sql(session, "SELECT title FROM notifications WHERE user_id = :u", u=user)
    ] == ["10 days"]


async def test_unfinished_broadcasts_are_resumed(session: AsyncSession) -> None:
    """A broadcast whose job was lost is found by the periodic job; the fan-out then continues
    from the recorded progress."""
    for _ in range(3):
        await one(
            session, "INSERT INTO users (email) VALUES (gen_random_uuid() || '@example.com') RETURNING id"
        )
    row = await broadcasts.send(
        session,
        audience="everyone",
        organization=None,
        title="Hi",
        body=None,
        link=None,
        severity=None,
        sent_by=None,
    )
    assert row.status == "sending"
    assert not await broadcasts.fan_out_batch(session, row.id, batch_size=2)
    progress = await one(
        session,
        "SELECT recipient_count, fanned_out_through FROM notification_broadcasts WHERE id = :b",
        b=row.id,
    )
    assert progress.recipient_count == 2 and progress.fanned_out_through is not None
    assert await broadcasts.unfinished(session) == [], "not yet: it may still be running"
    assert await broadcasts.unfinished(session, older_than=timedelta(minutes=-1)) == [row.id]
    assert await broadcasts.fan_out_batch(session, row.id, batch_size=2)
    done = await one(
        session, "SELECT status, recipient_count FROM notification_broadcasts WHERE id = :b", b=row.id
    )
    assert (done.status, done.recipient_count) == ("sent", 3)
    copies = await one(
        session, "SELECT count(DISTINCT user_id) AS n FROM notifications WHERE broadcast_id = :b", b=row.id
    )
    assert copies.n == 3
