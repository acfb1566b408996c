"""``saaskit demo`` refuses a database with users; ``serve --demo``'s seeding runs once; a failed
webhook of the demo reprocesses through the real handler; the clock and calendar helpers."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from saaskit.billing import webhooks
from saaskit.cli import app
from saaskit.config import get_settings
from saaskit.demo.billing import add_interval
from saaskit.demo.config import DemoConfig, resolve_now, to_us
from saaskit.demo.generate import write_demo
from saaskit.demo.progress import QuietReporter
from saaskit.demo.seeding import DEMO_ADMIN_EMAIL, seed_demo_if_empty
from saaskit.kit.db import libpq_url
from saaskit.kit.state import Runtime
from tests.conftest import APP_ROLE, TEST_SECRET, DbUnderTest
from tests.demo.conftest import BuiltDemo


def test_demo_refuses_a_database_with_users(demo: BuiltDemo, tmp_path: Path) -> None:
    env = {
        "SAASKIT_DATABASE_URL": demo.db.owner_url,
        "SAASKIT_SECRET_KEY": TEST_SECRET,
        "SAASKIT_DATABASE_APP_ROLE": APP_ROLE,
        "SAASKIT_DATA_DIR": str(tmp_path / "data"),
        "SAASKIT_LOG_LEVEL": "WARNING",
    }
    with psycopg.connect(libpq_url(demo.db.owner_url)) as conn:
        before = conn.execute("SELECT count(*) FROM users").fetchone()
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["demo", "--users", "50", "--days", "3"], env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert "refused" in result.output and "already has" in result.output
    with psycopg.connect(libpq_url(demo.db.owner_url)) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == before


def test_demo_command_is_listed() -> None:
    assert "demo" in CliRunner().invoke(app, ["--help"]).output
    assert "--demo" in CliRunner().invoke(app, ["serve", "--help"]).output


async def test_serve_demo_seeds_an_empty_database_once(
    fresh_database: DbUnderTest, fresh_runtime: Runtime
) -> None:
    url = libpq_url(fresh_database.owner_url)
    admin = await seed_demo_if_empty(fresh_database.owner_url, fresh_runtime, users=300, days=20, seed=3)
    assert admin is not None and admin.email == DEMO_ADMIN_EMAIL and len(admin.password) >= 10
    with psycopg.connect(url) as conn:
        # The trust scenario's accounts (demo/abuse.py) are at @demo.invalid; the load's are not.
        users, activity, patterns = conn.execute(
            "SELECT (SELECT count(*) FROM users WHERE email NOT LIKE '%@demo.invalid'), "
            "(SELECT count(*) FROM activity_events), (SELECT count(*) FROM abuse_patterns)"
        ).fetchone()  # type: ignore[misc]
        role, password_hash = conn.execute(
            "SELECT role, password_hash FROM users WHERE email = %s", (DEMO_ADMIN_EMAIL,)
        ).fetchone()  # type: ignore[misc]
    assert users == 301 and activity > 0 and role == "admin"
    assert patterns > 0  # the admin's trust queue has content
    assert await fresh_runtime.passwords.verify(password_hash, admin.password)

    assert (
        await seed_demo_if_empty(fresh_database.owner_url, fresh_runtime, users=300, days=20, seed=3) is None
    )
    with psycopg.connect(url) as conn:
        again = conn.execute(
            "SELECT (SELECT count(*) FROM users WHERE email NOT LIKE '%@demo.invalid'), "
            "(SELECT count(*) FROM activity_events), (SELECT count(*) FROM abuse_patterns)"
        ).fetchone()
    assert again == (users, activity, patterns)

    # A failed invoice.paid delivery of the demo goes through the real handler when reprocessed.
    with psycopg.connect(url) as conn:
        event_id, invoice, customer = conn.execute(
            "SELECT id, event_data->'data'->'object'->>'id', event_data->'data'->'object'->>'customer' "
            "FROM stripe_webhook_events WHERE processing_status = 'failed' ORDER BY stripe_created_at LIMIT 1"
        ).fetchone()  # type: ignore[misc]
    assert await webhooks.process(fresh_runtime, uuid.UUID(str(event_id)), attempt=0) == "processed"
    with psycopg.connect(url) as conn:
        status, spent, paid = conn.execute(
            "SELECT e.processing_status, u.total_spent_cents, "
            "(SELECT sum(amount_cents - refunded_cents) FROM payment_transactions t WHERE t.user_id = u.id) "
            "FROM stripe_webhook_events e, users u WHERE e.id = %s AND u.stripe_customer_id = %s",
            (event_id, customer),
        ).fetchone()  # type: ignore[misc]
        applied = conn.execute(
            "SELECT i.status, count(t.id) FROM invoices i JOIN payment_transactions t ON t.invoice_id = i.id "
            "WHERE i.stripe_invoice_id = %s GROUP BY i.status",
            (invoice,),
        ).fetchone()
    assert status == "processed" and spent == paid and applied == ("paid", 1)


def test_the_data_clock() -> None:
    current = datetime(2026, 5, 10, 14, 33, 12, 5, tzinfo=UTC)
    assert resolve_now(None, current) == datetime(2026, 5, 10, 14, 33, tzinfo=UTC)
    assert resolve_now(date(2026, 5, 1), current) == datetime(2026, 5, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="future"):
        resolve_now(date(2026, 5, 11), current)
    config = DemoConfig(users=10, days=3, seed=1, now=datetime(2026, 5, 2, tzinfo=UTC))
    assert (config.first_day, config.last_day) == (date(2026, 4, 29), date(2026, 5, 1))
    with pytest.raises(ValueError):
        DemoConfig(users=5, days=3, seed=1, now=current)


def test_billing_periods_follow_the_calendar() -> None:
    jan31 = to_us(datetime(2026, 1, 31, 9, 0, tzinfo=UTC))
    assert add_interval(jan31, "month") == to_us(datetime(2026, 2, 28, 9, 0, tzinfo=UTC))
    assert add_interval(jan31, "year") == to_us(datetime(2027, 1, 31, 9, 0, tzinfo=UTC))


def test_too_few_activity_events_write_nothing(fresh_database: DbUnderTest) -> None:
    config = DemoConfig(users=100, days=5, seed=1, now=datetime(2025, 3, 1, tzinfo=UTC), activity_events=3)
    with pytest.raises(ValueError, match="at least the number of sign-ups"):
        write_demo(fresh_database.owner_url, config, QuietReporter())
    with psycopg.connect(libpq_url(fresh_database.owner_url)) as conn:
        assert conn.execute(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM subscription_plans)"
        ).fetchone() == (0, 0)
