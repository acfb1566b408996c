"""``saaskit demo`` leaves pending privacy requests for the admin's Privacy page to show."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from saaskit.config import Settings
from saaskit.demo.config import DemoConfig, resolve_now
from saaskit.kit.db import libpq_url
from tests.conftest import DbUnderTest
from tests.demo.conftest import build, cloned_database


async def test_the_demo_has_pending_requests(
    pg_server: str, migrated_db: DbUnderTest, settings: Settings
) -> None:
    config = DemoConfig(
        users=40, days=3, seed=5, now=resolve_now(None, datetime.now(UTC)), activity_events=300, jobs=1
    )
    with cloned_database(pg_server, migrated_db) as db:
        await build(db, settings, config)
        with psycopg.connect(libpq_url(db.owner_url)) as conn:
            rows = conn.execute(
                "SELECT r.kind, r.status, r.by_admin, u.data_deletion_requested_at IS NOT NULL FROM privacy_requests r "
                "JOIN users u ON u.id = r.user_id ORDER BY r.kind, r.by_admin"
            ).fetchall()
            jobs = conn.execute(
                "SELECT task_name FROM procrastinate_jobs WHERE task_name LIKE 'privacy.%' ORDER BY 1"
            ).fetchall()
    assert rows == [
        ("erasure", "pending", False, True),
        ("erasure", "pending", True, True),
        ("export", "pending", False, False),
    ]
    assert [name for (name,) in jobs] == ["privacy.erase", "privacy.erase", "privacy.export"]
