"""POST /api/heartbeat: presence, uptime, versions and usage sessions in one statement."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from decimal import Decimal

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.devices.heartbeat import Heartbeat, record_heartbeat
from saaskit.kit.db import libpq_url
from saaskit.kit.hashing import token_hash
from saaskit.kit.state import Runtime
from tests.factories import heartbeat, make_dashboard, now_of, one, sql
from tests.helpers import error_of, signup


async def test_a_heartbeat_updates_user_device_and_presence(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    dashboard = await make_dashboard(client, user)
    answer = await heartbeat(client, user, app_version="1.0.3")
    assert answer["needs_reload"] is False and answer["needs_update"] is False
    assert answer["dashboard_id"] == dashboard["id"] and answer["usage_session_id"]
    now = await now_of(session)
    beat = await one(session, "SELECT last_seen_at FROM user_heartbeats WHERE user_id = :id", id=user.id)
    assert beat[0] == now
    account = await one(
        session,
        "SELECT last_heartbeat_at, last_seen_at, is_currently_active, current_app_version FROM users WHERE id = :id",
        id=user.id,
    )
    assert tuple(account) == (now, now, True, "1.0.3")
    device = await one(
        session,
        "SELECT last_heartbeat_at, is_online, current_version, total_sessions, total_uptime_seconds "
        "FROM dashboards WHERE id = :id",
        id=dashboard["id"],
    )
    assert tuple(device) == (now, True, "1.0.3", 1, Decimal(0)), "the first heartbeat earns no uptime"


async def test_uptime_is_the_gap_since_the_previous_heartbeat_capped(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    dashboard = await make_dashboard(client, user)
    await heartbeat(client, user)

    async def beat_after(seconds: str) -> Decimal:
        await sql(
            session,
            "UPDATE dashboards SET last_heartbeat_at = now() - CAST(:gap AS interval) WHERE id = :id",
            gap=f"{seconds} seconds",
            id=dashboard["id"],
        )
        await heartbeat(client, user)
        return Decimal(
            (
                await one(
                    session, "SELECT total_uptime_seconds FROM dashboards WHERE id = :id", id=dashboard["id"]
                )
            )[0]
        )

    assert await beat_after("30.25") == Decimal("30.25")
    assert await beat_after("45") == Decimal("75.25")
    assert await beat_after("120") == Decimal("195.25"), "a gap equal to the maximum (120 s) is credited"
    assert await beat_after("120.000001") == Decimal("195.25"), (
        "a longer one (a device that slept) earns nothing"
    )
    assert await beat_after("28800") == Decimal("195.25")
    # A heartbeat whose transaction began before the last one committed earns nothing and does
    # not move last_heartbeat_at back.
    await sql(
        session,
        "UPDATE dashboards SET last_heartbeat_at = now() + interval '3 seconds' WHERE id = :id",
        id=dashboard["id"],
    )
    await heartbeat(client, user)
    row = await one(
        session,
        "SELECT total_uptime_seconds, last_heartbeat_at - now(), total_uptime_minutes FROM dashboards WHERE id = :id",
        id=dashboard["id"],
    )
    assert row[0] == Decimal("195.25") and row[1].total_seconds() == 3 and row[2] == 3


async def test_heartbeat_without_a_dashboard_is_presence_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    answer = await heartbeat(client, user, app_version="2.0")
    assert answer == {
        "needs_reload": False,
        "needs_update": False,
        "dashboard_id": None,
        "usage_session_id": None,
    }
    assert (await one(session, "SELECT count(*) FROM user_heartbeats WHERE user_id = :id", id=user.id))[
        0
    ] == 1
    assert (
        await one(
            session,
            "SELECT count(*) FROM user_sessions WHERE user_id = :id AND session_type = 'usage'",
            id=user.id,
        )
    )[0] == 0


async def test_someone_elses_dashboard_is_404_and_nothing_is_written(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    alice, bob = await signup(client), await signup(client)
    theirs = await make_dashboard(client, bob)
    for dashboard_id in (theirs["id"], str(uuid.uuid4())):
        response = await client.post(
            "/api/heartbeat", json={"dashboard_id": dashboard_id}, headers=alice.headers
        )
        assert response.status_code == 404 and error_of(response)["field"] == "dashboard_id"
    assert (await one(session, "SELECT count(*) FROM user_heartbeats WHERE user_id = :id", id=alice.id))[
        0
    ] == 0
    assert (await one(session, "SELECT is_currently_active FROM users WHERE id = :id", id=alice.id))[
        0
    ] is False
    device = await one(
        session, "SELECT is_online, total_sessions FROM dashboards WHERE id = :id", id=theirs["id"]
    )
    assert tuple(device) == (False, 0)


async def test_bad_heartbeats_are_422(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    for body, field in (
        ({"app_version": "v1"}, "app_version"),
        ({"app_version": "1.2.3.4.5"}, "app_version"),
        ({"app_version": "1" * 10}, "app_version"),
        ({"dashboard_id": "nope"}, "dashboard_id"),
        ({"error_count": -1}, "error_count"),
        ({"widgets_interacted": ["UPPER"]}, "widgets_interacted"),
        ({"extra": True}, "extra"),
    ):
        response = await client.post("/api/heartbeat", json=body, headers=user.headers)
        assert response.status_code == 422, (body, response.text)
        assert error_of(response)["field"] == field
    assert (await client.post("/api/heartbeat", json={})).status_code == 401
    ok = await client.post("/api/heartbeat", json={"app_version": "1.2.3-beta.1+42"}, headers=user.headers)
    assert ok.status_code == 200


async def test_first_heartbeat_starts_a_usage_session_and_later_ones_add_activity(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    dashboard = await make_dashboard(client, user)
    first = await heartbeat(client, user, widgets_interacted=["weather"], error_count=1)
    second = await heartbeat(client, user, widgets_interacted=["photos", "weather"], error_count=2)
    third = await heartbeat(client, user)
    assert first["usage_session_id"] == second["usage_session_id"] == third["usage_session_id"]
    row = await one(
        session,
        "SELECT widgets_interacted, error_count, ended_at, user_id, dashboard_id, ip_address_hash IS NOT NULL "
        "FROM user_sessions WHERE id = :id",
        id=first["usage_session_id"],
    )
    assert tuple(row) == (["photos", "weather"], 3, None, user.id, uuid.UUID(dashboard["id"]), True)
    total = await one(session, "SELECT total_sessions FROM dashboards WHERE id = :id", id=dashboard["id"])
    assert total[0] == 1
    # Once that session ended, the next heartbeat starts another.
    ended = await client.post(f"/api/sessions/{first['usage_session_id']}/end", json={}, headers=user.headers)
    assert ended.status_code == 200
    fourth = await heartbeat(client, user)
    assert fourth["usage_session_id"] not in (None, first["usage_session_id"])
    total = await one(session, "SELECT total_sessions FROM dashboards WHERE id = :id", id=dashboard["id"])
    assert total[0] == 2


async def _heartbeats_committing_newest_first(
    app_url: str, token: str, dashboard_id: uuid.UUID, count: int
) -> list[datetime]:
    """``count`` heartbeats, each in its own transaction on its own connection. The transactions
    begin one after the other (so their now() increase), then all write at once, the newest
    first: most of them write, and commit, after a transaction with a later now() committed.
    Returns the transactions' now()."""
    connections = [await psycopg.AsyncConnection.connect(libpq_url(app_url)) for _ in range(count)]
    try:
        times = []
        for connection in connections:  # BEGIN; the transaction's now() is fixed from here on
            row = await (await connection.execute("SELECT now()")).fetchone()
            assert row is not None and isinstance(row[0], datetime)
            times.append(row[0])

        async def write(index: int, connection: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
            await asyncio.sleep((count - index) * 0.003)
            result = await record_heartbeat(
                connection,
                Heartbeat(token_hash=token_hash(token), dashboard_id=dashboard_id, app_version="1.0.0"),
                max_gap_seconds=120,
            )
            assert result is not None
            await connection.commit()

        await asyncio.gather(*(write(i, c) for i, c in enumerate(connections)))
        return times
    finally:
        for connection in connections:
            await connection.close()


@pytest.mark.live
async def test_simultaneous_heartbeats_of_one_device_earn_what_a_serial_run_earns(
    fresh_runtime: Runtime, live_client: httpx.AsyncClient
) -> None:
    user = await signup(live_client)
    dashboard = uuid.UUID((await make_dashboard(live_client, user))["id"])
    async with fresh_runtime.db.session() as session:
        initial = (
            await one(
                session,
                "UPDATE dashboards SET last_heartbeat_at = now() - interval '60 seconds' WHERE id = :id "
                "RETURNING last_heartbeat_at",
                id=dashboard,
            )
        )[0]
    times: list[datetime] = []
    for _ in range(3):
        times += await _heartbeats_committing_newest_first(
            fresh_runtime.extras["app_url"], user.token, dashboard, 12
        )
    async with fresh_runtime.db.session() as session:
        uptime, last = await one(
            session,
            "SELECT total_uptime_seconds, last_heartbeat_at FROM dashboards WHERE id = :id",
            id=dashboard,
        )
    # Serially, heartbeats at t1 <= t2 <= ... <= tn after `initial` earn (t1 - initial) + (t2 - t1)
    # + ... = tn - initial: exactly what the concurrent run must have earned, to the microsecond,
    # and the device's last heartbeat is the latest of them, whatever order they committed in.
    assert last == max(times)
    assert uptime == Decimal((max(times) - initial).total_seconds()).quantize(Decimal("0.000001"))

    # And through HTTP, many at once on the pool's connections.
    responses = await asyncio.gather(
        *(
            live_client.post("/api/heartbeat", json={"dashboard_id": str(dashboard)}, headers=user.headers)
            for _ in range(40)
        )
    )
    assert [r.status_code for r in responses] == [200] * 40
    assert len({r.json()["usage_session_id"] for r in responses}) == 1
    async with fresh_runtime.db.session() as session:
        uptime_after, last, sessions_total = await one(
            session,
            "SELECT total_uptime_seconds, last_heartbeat_at, total_sessions FROM dashboards WHERE id = :id",
            id=dashboard,
        )
        usage = await one(session, "SELECT count(*) FROM user_sessions WHERE session_type = 'usage'")
        beat = await one(session, "SELECT last_seen_at FROM user_heartbeats WHERE user_id = :id", id=user.id)
        account = await one(session, "SELECT last_heartbeat_at FROM users WHERE id = :id", id=user.id)
    assert uptime_after == Decimal((last - initial).total_seconds()).quantize(Decimal("0.000001"))
    assert beat[0] == last and account[0] == last
    assert usage[0] == 1 and sessions_total == 1, "one usage session, counted once"
