"""The presence job: silence makes dashboards offline, users inactive and usage sessions end."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import httpx
import pytest

from saaskit.config import PresenceSettings
from saaskit.devices.tasks import mark_offline, mark_offline_now
from saaskit.jobs import defer, jobs, run_worker
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from tests.factories import heartbeat, make_dashboard, one, sql
from tests.helpers import signup

pytestmark = pytest.mark.live


async def _device(
    client: httpx.AsyncClient, runtime: Runtime, silent_for: str, started_ago: str
) -> dict[str, Any]:
    """A user with a dashboard and an open usage session whose last heartbeat was ``silent_for`` ago."""
    user = await signup(client)
    dashboard = await make_dashboard(client, user)
    beat = await heartbeat(client, user)
    async with runtime.db.session(SERVICE) as session:
        params = {"s": silent_for, "a": started_ago, "d": dashboard["id"], "u": user.id}
        for statement in (
            "UPDATE dashboards SET last_heartbeat_at = now() - CAST(:s AS interval) WHERE id = :d",
            "UPDATE users SET last_heartbeat_at = now() - CAST(:s AS interval) WHERE id = :u",
            "UPDATE user_heartbeats SET last_seen_at = now() - CAST(:s AS interval) WHERE user_id = :u",
            "UPDATE user_sessions SET started_at = now() - CAST(:a AS interval) WHERE dashboard_id = :d",
        ):
            await sql(session, statement, **params)
    return {
        "user": user.id,
        "dashboard": uuid.UUID(dashboard["id"]),
        "session": uuid.UUID(beat["usage_session_id"]),
    }


async def _state(runtime: Runtime, device: dict[str, Any]) -> tuple[Any, ...]:
    async with runtime.db.session(SERVICE) as session:
        row = await one(
            session,
            "SELECT d.is_online, u.is_currently_active, s.ended_at IS NOT NULL, s.duration_minutes, "
            "s.ended_at = d.last_heartbeat_at "
            "FROM dashboards d JOIN users u ON u.id = d.user_id JOIN user_sessions s ON s.id = :s WHERE d.id = :d",
            d=device["dashboard"],
            s=device["session"],
        )
    return tuple(row)


async def test_silence_turns_into_offline_inactive_and_ended(
    fresh_runtime: Runtime, live_client: httpx.AsyncClient
) -> None:
    present = await _device(live_client, fresh_runtime, "1 minute", "10 minutes")
    away = await _device(live_client, fresh_runtime, "6 minutes", "40 minutes")
    gone = await _device(live_client, fresh_runtime, "31 minutes", "100 minutes")

    result = await mark_offline_now(fresh_runtime)
    assert result == {"dashboards_offline": 2, "users_inactive": 2, "sessions_ended": 1}
    assert await _state(fresh_runtime, present) == (True, True, False, None, None)
    assert await _state(fresh_runtime, away) == (False, False, False, None, None), (
        "offline, session still open"
    )
    assert await _state(fresh_runtime, gone) == (False, False, True, 69, True), "ended at its last heartbeat"
    assert await mark_offline_now(fresh_runtime) == {
        "dashboards_offline": 0,
        "users_inactive": 0,
        "sessions_ended": 0,
    }


async def test_timeouts_are_configurable(fresh_runtime: Runtime, live_client: httpx.AsyncClient) -> None:
    device = await _device(live_client, fresh_runtime, "90 seconds", "5 minutes")
    fresh_runtime.settings = fresh_runtime.settings.model_copy(
        update={"presence": PresenceSettings(offline_after_seconds=60, session_idle_minutes=1)}
    )
    result = await mark_offline_now(fresh_runtime)
    assert result == {"dashboards_offline": 1, "users_inactive": 1, "sessions_ended": 1}
    assert await _state(fresh_runtime, device) == (False, False, True, 4, True)


async def test_the_worker_schedules_the_job_every_minute(
    fresh_runtime: Runtime, live_client: httpx.AsyncClient
) -> None:
    """Nothing is deferred by hand: the worker's periodic deferrer enqueues the current minute's
    run on start (and one per minute after), and the job does its work."""
    periodic = jobs.periodic_registry.periodic_tasks[("devices.mark_offline", "every_minute")]
    assert periodic.cron == "* * * * *"
    device = await _device(live_client, fresh_runtime, "10 minutes", "15 minutes")
    worker = asyncio.create_task(run_worker(fresh_runtime, fresh_runtime.extras["app_url"], concurrency=1))
    try:
        for _ in range(100):
            if (await _state(fresh_runtime, device))[0] is False:
                break
            await asyncio.sleep(0.2)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert await _state(fresh_runtime, device) == (False, False, False, None, None)
    async with fresh_runtime.db.session(SERVICE) as session:
        ticks = await sql(
            session,
            "SELECT count(*) FROM procrastinate_periodic_defers WHERE task_name = 'devices.mark_offline'",
        )
    assert ticks[0][0] >= 1


async def test_a_deferred_run_is_picked_up_by_the_worker(
    fresh_runtime: Runtime, live_client: httpx.AsyncClient
) -> None:
    device = await _device(live_client, fresh_runtime, "40 minutes", "45 minutes")
    async with fresh_runtime.db.session(SERVICE) as session:
        await defer(session, mark_offline, timestamp=0)
    await asyncio.wait_for(
        run_worker(fresh_runtime, fresh_runtime.extras["app_url"], concurrency=1, wait=False), timeout=30
    )
    assert await _state(fresh_runtime, device) == (False, False, True, 5, True)
