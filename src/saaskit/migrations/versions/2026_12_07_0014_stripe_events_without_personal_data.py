"""Stored Stripe events without personal data.

- ``stripe_webhook_events.event_data``: its comment says what is kept now;
- manual: the events stored before this revision are redacted by the same allow-lists
  (``billing/redaction.py``), in batches. The instance secret is not known here, so card
  fingerprints of old events are dropped rather than replaced by their keyed hash (the
  ``payment_methods`` rows keep the hash computed when the card was saved). Downgrading keeps
  the events redacted: what was removed is gone.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 02:49:56.635653
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_COMMENT = (
    "The event as Stripe sent it, less personal data: per object type only the fields processing and "
    "audit need (billing/redaction.py, docs/privacy.md); the card fingerprint as its keyed hash."
)
OLD_COMMENT = "The whole event as Stripe sent it."
BATCH = 500


def upgrade() -> None:
    op.alter_column(
        "stripe_webhook_events",
        "event_data",
        existing_type=postgresql.JSONB(astext_type=sa.Text()),
        comment=NEW_COMMENT,
        existing_comment=OLD_COMMENT,
        existing_nullable=False,
    )
    _redact_stored_events()


# manual: the events already stored, redacted like new ones (without the secret: see above).
def _redact_stored_events() -> None:
    from saaskit.billing.redaction import redact_event

    bind = op.get_bind()
    last = "00000000-0000-0000-0000-000000000000"
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, event_data FROM stripe_webhook_events WHERE id > CAST(:last AS uuid) "
                "ORDER BY id LIMIT :batch"
            ),
            {"last": last, "batch": BATCH},
        ).all()
        if not rows:
            return
        changed = [
            {"id": row.id, "data": json.dumps(redacted)}
            for row in rows
            if (redacted := redact_event(row.event_data, None)) != row.event_data
        ]
        if changed:
            bind.execute(
                sa.text("UPDATE stripe_webhook_events SET event_data = CAST(:data AS jsonb) WHERE id = :id"),
                changed,
            )
        last = str(rows[-1].id)


def downgrade() -> None:
    op.alter_column(
        "stripe_webhook_events",
        "event_data",
        existing_type=postgresql.JSONB(astext_type=sa.Text()),
        comment=OLD_COMMENT,
        existing_comment=NEW_COMMENT,
        existing_nullable=False,
    )
