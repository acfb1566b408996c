"""Export: the job gathers the person's rows into a ZIP (JSON per table + README), progress is
visible, the link works once and expires, everything is audited; an admin can ask on a user's
behalf."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import UTC, datetime

import httpx
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.state import Runtime
from saaskit.privacy import export
from tests.factories import insert_events, make_admin, make_org
from tests.helpers import error_of, signup


async def _export(client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str]) -> dict[str, object]:
    asked = await client.post("/api/me/exports", headers=headers)
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "pending" and asked.json()["progress_percent"] == 0
    assert await export.build(runtime, uuid.UUID(asked.json()["id"])) == "completed"
    done = await client.get(f"/api/me/exports/{asked.json()['id']}", headers=headers)
    return dict(done.json())


async def test_export_archive_holds_the_persons_data(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession
) -> None:
    user = await signup(client, name="Ottoline Export")
    other = await signup(client)
    await make_org(client, user, name="Export org")
    await client.put("/api/me/preferences/ui/theme", json={"value": "dark"}, headers=user.headers)
    await insert_events(session, [datetime.now(UTC)], "exported_event", user_id=user.id, distinct_id="d-1")
    await insert_events(session, [datetime.now(UTC)], "someone_elses", user_id=other.id)

    done = await _export(client, runtime, user.headers)
    assert done["status"] == "completed" and done["progress_percent"] == 100
    assert done["summary"]["events"] == 1 and done["summary"]["users"] == 1  # type: ignore[index]
    link = await client.post(f"/api/me/exports/{done['id']}/link", headers=user.headers)
    assert link.status_code == 200, link.text
    url = link.json()["url"]
    assert "/api/privacy/exports/download/" in url
    downloaded = await client.get(url)
    assert downloaded.status_code == 200
    assert downloaded.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(downloaded.content))
    names = set(archive.namelist())
    assert {
        "README.md",
        "users.json",
        "events.json",
        "user_preferences.json",
        "organization_members.json",
    } <= names
    users = orjson.loads(archive.read("users.json"))
    assert users[0]["email"] == user.email and "password_hash" not in users[0], "no credentials"
    events = orjson.loads(archive.read("events.json"))
    assert [e["event_name"] for e in events] == ["exported_event"], "only the person's rows"
    sessions = orjson.loads(archive.read("user_sessions.json"))
    assert sessions and all("session_token_hash" not in s for s in sessions)
    readme = archive.read("README.md").decode()
    assert "| events.json | 1 |" in readme
    activities = orjson.loads(archive.read("activities.json"))
    assert "privacy.export_requested" in [a["action"] for a in activities]

    # The link works once.
    again = await client.get(url)
    assert again.status_code == 410 and error_of(again)["code"] == "link_invalid"
    audit = await session.scalar(
        text("SELECT array_agg(action ORDER BY created_at) FROM activities WHERE entity_id = :id"),
        {"id": user.id},
    )
    assert {
        "privacy.export_requested",
        "privacy.export_completed",
        "privacy.export_link_issued",
        "privacy.export_downloaded",
    } <= set(audit)


async def test_links_expire_and_others_cannot_reach_an_export(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession
) -> None:
    user = await signup(client)
    stranger = await signup(client)
    done = await _export(client, runtime, user.headers)
    assert (await client.get(f"/api/me/exports/{done['id']}", headers=stranger.headers)).status_code == 404
    assert (
        await client.post(f"/api/me/exports/{done['id']}/link", headers=stranger.headers)
    ).status_code == 404
    url = (await client.post(f"/api/me/exports/{done['id']}/link", headers=user.headers)).json()["url"]
    await session.execute(
        text("UPDATE privacy_requests SET download_expires_at = now() - interval '1 second' WHERE id = :id"),
        {"id": done["id"]},
    )
    assert (await client.get(url)).status_code == 410
    await session.execute(
        text("UPDATE privacy_requests SET archive_expires_at = now() - interval '1 second' WHERE id = :id"),
        {"id": done["id"]},
    )
    expired = await client.post(f"/api/me/exports/{done['id']}/link", headers=user.headers)
    assert expired.status_code == 410 and error_of(expired)["code"] == "export_expired"


async def test_not_ready_then_an_admin_exports_on_a_users_behalf(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession
) -> None:
    admin = await make_admin(client, session)
    user = await signup(client)
    asked = await client.post(f"/api/admin/users/{user.id}/exports", headers=admin.headers)
    assert asked.status_code == 202, asked.text
    request_id = asked.json()["id"]
    early = await client.post(f"/api/admin/privacy/exports/{request_id}/link", headers=admin.headers)
    assert early.status_code == 409 and error_of(early)["code"] == "export_not_ready"
    assert await export.build(runtime, uuid.UUID(request_id)) == "completed"
    link = await client.post(f"/api/admin/privacy/exports/{request_id}/link", headers=admin.headers)
    assert link.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO((await client.get(link.json()["url"])).content))
    assert orjson.loads(archive.read("users.json"))[0]["id"] == str(user.id)
    # The user sees the request made for them.
    mine = await client.get("/api/me/privacy-requests", headers=user.headers)
    assert [r["id"] for r in mine.json()] == [request_id] and mine.json()[0]["by_admin"] is True
