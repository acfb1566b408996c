"""Usage sessions by span: a GiST index on [started_at, ended_at] and the check that a session
ends after it starts.

The daily rollup counts the dashboards with a usage session overlapping the day. Written as
``started_at < hi AND (ended_at IS NULL OR ended_at >= lo)`` no btree index bounds both sides, so
every day's rollup read all of ``user_sessions``; ``tstzrange(started_at, ended_at, '[]') &&
tstzrange(lo, hi)`` finds the day's sessions through this index. The check is what keeps the
range constructor from failing on an insert (a session ending before it starts is refused as a
check violation instead).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_check_constraint(
        op.f("ck_user_sessions_ends_after_start"),
        "user_sessions",
        "ended_at IS NULL OR ended_at >= started_at",
    )
    op.create_index(
        "idx_user_sessions_usage_span",
        "user_sessions",
        [sa.text("tstzrange(started_at, ended_at, '[]')")],
        postgresql_using="gist",
        postgresql_where=sa.text("session_type = 'usage'"),
    )


def downgrade() -> None:
    op.drop_index("idx_user_sessions_usage_span", table_name="user_sessions")
    op.drop_constraint(op.f("ck_user_sessions_ends_after_start"), "user_sessions", type_="check")
