"""Tenancy of webhooks (API and row-level security), the documented retry schedule, and the purge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import webhooks
from saaskit.config import WebhookSettings
from saaskit.kit.db import SERVICE, Context, set_context
from saaskit.kit.state import Runtime
from saaskit.webhooks.delivery import purge, retry_delay
from tests.factories import insert_org, make_owned_org

PUBLIC_URL = "https://93.184.216.34/hook"


def test_the_default_schedule_spans_about_three_days() -> None:
    settings = WebhookSettings()
    waits = [retry_delay(settings, attempt) for attempt in range(1, settings.max_attempts)]
    assert [w.total_seconds() / 60 for w in waits] == [1, 4, 16, 64, 256, 1024, 1440, 1440]
    assert sum(waits, timedelta()) == timedelta(hours=70, minutes=45)


async def test_one_organization_never_sees_anothers_webhooks(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    alice, acme = await make_owned_org(client, "Acme")
    bob, globex = await make_owned_org(client, "Globex")
    created = await client.post(
        f"/api/orgs/{acme['id']}/webhooks",
        headers=alice.headers,
        json={"url": PUBLIC_URL, "event_types": ["*"]},
    )
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]
    message_id = await webhooks.emit(session, uuid.UUID(acme["id"]), "export.ready", {"export_id": "x"})
    # Bob, owner of Globex, reaches Acme's endpoint through neither organization.
    assert (await client.get(f"/api/orgs/{acme['id']}/webhooks", headers=bob.headers)).status_code == 404
    for path in (
        f"/api/orgs/{globex['id']}/webhooks/{endpoint_id}",
        f"/api/orgs/{globex['id']}/webhooks/{endpoint_id}/deliveries",
    ):
        answer = await client.get(path, headers=bob.headers)
        assert answer.status_code == 404 and answer.json()["error"]["field"] == "endpoint_id", path
    replay = await client.post(
        f"/api/orgs/{globex['id']}/webhooks/{endpoint_id}/messages/{message_id}/replay", headers=bob.headers
    )
    assert replay.status_code == 404
    listed = await client.get(f"/api/orgs/{globex['id']}/webhooks/messages", headers=bob.headers)
    assert listed.json()["items"] == []
    # Row-level security underneath: Globex's context sees none of Acme's rows, Acme's sees its own.
    for table in ("webhook_endpoints", "webhook_messages"):
        await set_context(session, Context(organization_id=uuid.UUID(globex["id"])))
        assert (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar() == 0
        await set_context(session, Context(organization_id=uuid.UUID(acme["id"])))
        assert (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar() == 1
        await set_context(session, Context())
        assert (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar() == 0
    await set_context(session, SERVICE)
    # Deleting the endpoint is audited; it is then gone.
    deleted = await client.delete(f"/api/orgs/{acme['id']}/webhooks/{endpoint_id}", headers=alice.headers)
    assert deleted.status_code == 204
    assert (
        await client.get(f"/api/orgs/{acme['id']}/webhooks/{endpoint_id}", headers=alice.headers)
    ).status_code == 404


async def test_old_messages_are_purged_with_their_log(session: AsyncSession, runtime: Runtime) -> None:
    org = await insert_org(session, "Purged")
    old = await webhooks.emit(session, org, "export.ready", {"n": 1})
    recent = await webhooks.emit(session, org, "export.ready", {"n": 2})
    await session.execute(
        text("UPDATE webhook_messages SET created_at = now() - interval '31 days' WHERE id = :i"), {"i": old}
    )
    assert await purge(session, runtime, datetime.now(UTC)) == 1
    left = (
        await session.execute(text("SELECT id FROM webhook_messages WHERE organization_id = :o"), {"o": org})
    ).all()
    assert [row.id for row in left] == [recent]
