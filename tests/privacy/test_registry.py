"""The privacy registry against the catalog: every column that references a person has a rule,
and no rule that keeps a row sits behind an ON DELETE CASCADE that would delete it anyway."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.privacy.erasure import steps
from saaskit.privacy.registry import RULES

REFERENCES_USERS = text(
    """
SELECT c.conrelid::regclass::text AS tbl, a.attname AS col, c.confdeltype AS on_delete
FROM pg_constraint c
JOIN pg_class r ON r.oid = c.conrelid AND NOT r.relispartition
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
WHERE c.contype = 'f' AND c.confrelid = 'users'::regclass
"""
)


async def test_every_column_referencing_users_has_a_rule(session: AsyncSession) -> None:
    ruled = {(r.table, r.column) for r in RULES}
    found = {(row.tbl, row.col) for row in (await session.execute(REFERENCES_USERS)).all()}
    assert len(found) > 50
    missing = sorted(found - ruled)
    assert missing == [], f"add a line to saaskit/privacy/registry.py for {missing}"


async def test_rows_kept_or_detached_are_not_deleted_with_the_user(session: AsyncSession) -> None:
    """The ON DELETE CASCADE issue: a kept invoice must not go when its user row goes."""
    actions = {(row.tbl, row.col): row.on_delete for row in (await session.execute(REFERENCES_USERS)).all()}
    wrong = [
        (r.table, r.column, r.action)
        for r in RULES
        if r.action != "delete" and r.where is None and actions.get((r.table, r.column)) == "c"
    ]
    assert wrong == []
    assert actions[("invoices", "user_id")] == "n", "SET NULL: billing is kept for seven years"


async def test_every_rule_names_a_real_column(session: AsyncSession) -> None:
    columns = {
        (row.table_name, row.column_name)
        for row in (
            await session.execute(
                text(
                    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
                )
            )
        ).all()
    }
    assert [(r.table, r.column) for r in RULES if (r.table, r.column) not in columns] == []
    for rule in RULES:
        assert all((rule.table, c) in columns for c in rule.scrub), rule


def test_step_names_are_unique_and_the_account_goes_last() -> None:
    names = [name for name, _ in steps()]
    assert len(names) == len(set(names))
    assert names[0] == "organizations" and names[-1] == "user"
