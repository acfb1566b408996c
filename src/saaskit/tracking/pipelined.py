"""A group commit in two database round trips: psycopg's pipeline mode.

The writer's transaction used to wait on the server five times or more (BEGIN, the RLS context,
the linked-users lookup, the INSERT, COMMIT; once more per extra tenant), each wait an event-loop
reader registration and a future: 23-33% of the API's CPU in the profile (docs/ingestion.md).
Here the same statements go down the same connection in pipeline mode, and the writer waits twice:

1. BEGIN, then for each tenant its context and its lookup (the users linked to the events'
   distinct ids, or the signed-in user's tracking level): one sync;
2. the privacy filter in Python (``plan_rows``, the same code as the one-request path), then for
   each tenant its context again, its events INSERT (receipts claimed in the same statement) and
   its page views, then COMMIT: one sync.

Nothing it guarantees changes: the statements, the transaction and the tenant contexts are the
ones ``store_events_outcomes`` runs, and requests are answered only after the COMMIT's result
arrives. Events that identify people or change persons (``identify``, ``person``) take the
SQLAlchemy path (``identity`` and ``flags.persons`` work on a session).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import TextClause
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from saaskit.kit.db import SET_CONTEXT_SQL, Context
from saaskit.tracking.ingest import (
    INSERT_EVENTS,
    INSERT_EVENTS_RETURNING_IDS,
    INSERT_PAGE_VIEWS,
    LINKED_USERS,
    USER_LEVELS,
    Attribution,
    RowPlan,
    distinct_ids_of,
    plan_rows,
    to_json,
)
from saaskit.tracking.privacy import ERRORS_ONLY, FULL, effective_level

_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]


def _psycopg_sql(statement: TextClause) -> str:
    """The statement with psycopg's placeholders (``%(name)s``), as SQLAlchemy would send it."""
    return str(statement.compile(dialect=_DIALECT))


SET_CONTEXT = _psycopg_sql(SET_CONTEXT_SQL)
LINKED = _psycopg_sql(LINKED_USERS)
LEVELS = _psycopg_sql(USER_LEVELS)
EVENTS = _psycopg_sql(INSERT_EVENTS)
EVENTS_RETURNING_IDS = _psycopg_sql(INSERT_EVENTS_RETURNING_IDS)
PAGE_VIEWS = _psycopg_sql(INSERT_PAGE_VIEWS)

Cursor = psycopg.AsyncCursor[tuple[Any, ...]]


@dataclass
class TenantWrite:
    """One tenant's events in a group commit (``exact``: stored ids fetched back, needed when
    several requests share the tenant's INSERT)."""

    attribution: Attribution
    events: list[dict[str, Any]]
    exact: bool
    plan: RowPlan | None = None
    _lookup: Cursor | None = field(default=None, repr=False)
    _inserted: Cursor | None = field(default=None, repr=False)

    @property
    def context(self) -> dict[str, str]:
        a = self.attribution
        return Context(user_id=a.user_id, organization_id=a.organization_id).params()


def needs_session(events: list[dict[str, Any]]) -> bool:
    """Whether these events must take the SQLAlchemy path (people identified, persons changed)."""
    return any(e.get("identify") or e.get("person") for e in events)


async def write(connection: psycopg.AsyncConnection[Any], tenants: list[TenantWrite]) -> None:
    """Write every tenant's events in one transaction, two round trips; on return the
    transaction is committed and each tenant's ``plan.outcomes`` says what became of its events."""
    async with connection.pipeline() as pipeline, connection.transaction():
        for tenant in tenants:
            await connection.execute(SET_CONTEXT, tenant.context)
            tenant._lookup = await _lookup(connection, tenant)
        await pipeline.sync()  # round trip 1: BEGIN, contexts, lookups
        for tenant in tenants:
            plan = await _plan(tenant)
            tenant.plan = plan
            if len(tenants) > 1:  # with one tenant, its context is still set
                await connection.execute(SET_CONTEXT, tenant.context)
            if plan.rows:
                statement = EVENTS_RETURNING_IDS if tenant.exact else EVENTS
                tenant._inserted = await connection.execute(statement, {"rows": to_json(plan.rows)})
            if plan.pages:
                await connection.execute(PAGE_VIEWS, {"rows": to_json(plan.pages)})
        # Leaving the transaction queued COMMIT and synced: round trip 2.
    for tenant in tenants:
        assert tenant.plan is not None
        inserted = tenant._inserted
        if inserted is None:
            continue
        if tenant.exact:
            tenant.plan.mark_stored_ids({r[0] for r in await inserted.fetchall()})
        else:
            tenant.plan.mark_stored_count(inserted.rowcount)


async def _lookup(connection: psycopg.AsyncConnection[Any], tenant: TenantWrite) -> Cursor | None:
    a = tenant.attribution
    if a.user_id is not None:
        return await connection.execute(LEVELS, {"ids": [a.user_id]})
    distinct_ids = distinct_ids_of(tenant.events)
    if not distinct_ids:
        return None
    return await connection.execute(LINKED, {"org": a.organization_id, "dids": list(distinct_ids)})


async def _plan(tenant: TenantWrite) -> RowPlan:
    a = tenant.attribution
    rows = await tenant._lookup.fetchall() if tenant._lookup is not None else []
    owners: dict[str, tuple[uuid.UUID, str]] = {}
    if a.user_id is not None:
        levels = {r[0]: effective_level(r[1], r[2]) for r in rows}
        level = levels.get(a.user_id, ERRORS_ONLY)
    else:
        level = FULL
        owners = {r[0]: (r[1], effective_level(r[2], r[3])) for r in rows}
    return plan_rows(a, tenant.events, level, owners)
