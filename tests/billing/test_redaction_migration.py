"""Events stored before redaction existed are redacted by the migration that introduced it."""

from __future__ import annotations

import json

import psycopg
from alembic.script import ScriptDirectory

from saaskit.kit.db import libpq_url
from saaskit.kit.migrations import alembic_config, downgrade, upgrade
from tests.billing.conftest import event_of, sample
from tests.conftest import DbUnderTest


def _revision_before_redaction() -> str:
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused"))
    found = [
        r
        for r in script.walk_revisions()
        if (r.doc or "").startswith("Stored Stripe events without personal")
    ]
    assert len(found) == 1
    before = found[0].down_revision
    assert isinstance(before, str)
    return before


def test_old_events_are_redacted_by_the_migration(fresh_database: DbUnderTest) -> None:
    url = fresh_database.owner_url
    downgrade(url, _revision_before_redaction())
    method = sample("payment_method")
    method["billing_details"].update({"email": "jenny@example.com", "name": "Jenny Rosen"})
    method["card"]["fingerprint"] = "Xt5EWLLDS7FJjR1c"
    event = event_of("payment_method.attached", method)
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(
            "INSERT INTO stripe_webhook_events (stripe_event_id, event_type, event_data, stripe_created_at) "
            "VALUES (%s, %s, %s::jsonb, now())",
            (event["id"], event["type"], json.dumps(event)),
        )
    upgrade(url)
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute("SELECT event_data FROM stripe_webhook_events").fetchone()
    assert row is not None
    stored = json.dumps(row[0])
    assert (
        "jenny@example.com" not in stored and "Jenny Rosen" not in stored and "Xt5EWLLDS7FJjR1c" not in stored
    )
    assert row[0]["data"]["object"]["card"]["last4"] == method["card"]["last4"]
    assert row[0]["id"] == event["id"]
