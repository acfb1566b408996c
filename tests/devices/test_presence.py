"""Presence queries: what they count, and that each one is a single indexed query."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import TextClause
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.devices import presence
from saaskit.kit.db import SERVICE, libpq_url
from saaskit.kit.state import Runtime
from tests.conftest import DbUnderTest
from tests.devices.conftest import heartbeat, make_admin, register, sql
from tests.helpers import signup

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


async def test_presence_counts(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await make_admin(client, session)
    here, away = await signup(client), await signup(client)
    await register(client, here)
    away_dashboard = await register(client, away)
    await heartbeat(client, here)
    await heartbeat(client, away)
    await sql(
        session,
        "UPDATE user_heartbeats SET last_seen_at = now() - interval '6 minutes' WHERE user_id = :u",
        u=away.id,
    )
    # Online but silent since the last job run: no longer counted as online now.
    await sql(
        session,
        "UPDATE dashboards SET last_heartbeat_at = now() - interval '6 minutes' WHERE id = :d",
        d=away_dashboard["id"],
    )
    for session_id in ("visitor-now-1", "visitor-now-2", "visitor-earlier", "visitor-yesterday"):
        await client.post(
            "/api/track-visit", json={"session_id": session_id}, headers={"User-Agent": BROWSER}
        )
    await sql(
        session,
        "UPDATE visitor_sessions SET last_seen_at = now() - interval '10 minutes' WHERE session_id = 'visitor-earlier'",
    )
    await sql(
        session,
        "UPDATE visitor_sessions SET last_seen_at = now() - interval '25 hours' WHERE session_id = 'visitor-yesterday'",
    )
    before = (await client.get("/api/admin/presence", headers=admin.headers)).json()
    midnight = (
        await sql(
            session,
            "SELECT now() - interval '10 minutes' >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
        )
    )[0][0]
    assert before == {
        "active_users_now": 1,
        "online_dashboards_now": 1,
        "visitors_now": 2,
        "visitors_today": 3 if midnight else 2,
        "total_visitors": 4,
        "window_seconds": 300,
    }
    assert (await client.get("/api/admin/presence", headers=here.headers)).status_code == 403


def _index_names(plan: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Index names used, and relations read by a sequential scan, anywhere in a JSON plan."""
    indexes: set[str] = set()
    seq_scans: set[str] = set()
    if "Index Name" in plan:
        indexes.add(plan["Index Name"])
    if plan.get("Node Type") == "Seq Scan":
        seq_scans.add(plan["Relation Name"])
    for child in plan.get("Plans", []):
        more_indexes, more_seq = _index_names(child)
        indexes |= more_indexes
        seq_scans |= more_seq
    return indexes, seq_scans


SEED = """
INSERT INTO users (email) SELECT 'p' || g || '@example.com' FROM generate_series(1, 20000) g;
INSERT INTO user_heartbeats (user_id, last_seen_at)
  SELECT id, now() - (row_number() OVER ()) * interval '37 seconds' FROM users;
INSERT INTO dashboards (user_id, device_name, is_online, last_heartbeat_at)
  SELECT id, 'tv', (row_number() OVER ()) % 50 = 0, now() - (row_number() OVER ()) % 600 * interval '1 second'
  FROM users;
INSERT INTO visitor_sessions (session_id, first_seen_at, last_seen_at)
  SELECT 'visitor-' || g, now() - g * interval '40 seconds', now() - g * interval '40 seconds'
  FROM generate_series(1, 20000) g;
ANALYZE users, user_heartbeats, dashboards, visitor_sessions;
"""

EXPECTED = {
    "active_users_now": ("idx_user_heartbeats_last_seen_at", "user_heartbeats"),
    "online_dashboards_now": ("idx_dashboards_is_online", "dashboards"),
    "visitors_now": ("idx_visitor_sessions_last_seen_at", "visitor_sessions"),
    "visitors_today": ("idx_visitor_sessions_last_seen_at", "visitor_sessions"),
}


@pytest.mark.live
async def test_each_presence_query_is_one_indexed_query(
    fresh_database: DbUnderTest, fresh_runtime: Runtime
) -> None:
    with psycopg.connect(libpq_url(fresh_database.owner_url), autocommit=True) as owner:
        owner.execute(SEED)  # type: ignore[arg-type]
    async with fresh_runtime.db.session(SERVICE) as session:  # the application role, as the service
        for name, query in presence.QUERIES.items():
            index, table = EXPECTED[name]
            explained = await session.execute(
                TextClause("EXPLAIN (FORMAT JSON) " + query.text), {"window_seconds": 300}
            )
            plan = explained.scalar_one()[0]["Plan"]
            indexes, seq_scans = _index_names(plan)
            assert index in indexes, (name, plan)
            assert table not in seq_scans, (name, plan)
        counts = await presence.snapshot(session, 300)
        # The seed's times are relative to its own now(); on a loaded machine seconds pass before
        # this transaction starts, so the expected counts are the plain SQL's at this now().
        seen = await session.execute(
            TextClause(
                "SELECT (SELECT count(*) FROM user_heartbeats WHERE last_seen_at > now() - interval '300 s'), "
                "(SELECT count(*) FROM visitor_sessions WHERE last_seen_at > now() - interval '300 s')"
            )
        )
        heartbeats_now, visitors_now = seen.one()
    assert counts.active_users_now == heartbeats_now and 7 <= heartbeats_now <= 8  # one every 37 s
    assert counts.visitors_now == visitors_now and 6 <= visitors_now <= 7  # one every 40 s
    assert counts.total_visitors == 20000
    assert 0 < counts.online_dashboards_now <= 400
