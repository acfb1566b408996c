"""Helpers of the trust tests: accounts seen with identifiers, trials and payments."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.app import create_app
from saaskit.kit.state import Runtime
from saaskit.trust import signals
from tests.factories import insert_subscription, insert_user, sql


@pytest.fixture
async def committed_client(fresh_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(fresh_runtime, dispose_on_shutdown=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def account(
    session: AsyncSession, *, device: str | None = None, ip: str | None = None, card: str | None = None
) -> uuid.UUID:
    """A user seen with these identifier hashes (through the incremental hook, as the service)."""
    user_id = await insert_user(session)
    await signals.observe(
        session, user_id, [(signals.DEVICE, device), (signals.IP, ip), (signals.CARD, card)]
    )
    return user_id


async def trial(session: AsyncSession, user_id: uuid.UUID, days_ago: int = 1) -> uuid.UUID:
    return await insert_subscription(
        session,
        user_id=user_id,
        status="trialing",
        trial_start=await _ago(session, days_ago),
    )


async def failed_payments(
    session: AsyncSession, user_id: uuid.UUID, count: int, amount_cents: int = 100
) -> None:
    await sql(
        session,
        "INSERT INTO payment_transactions (user_id, kind, status, amount_cents) "
        "SELECT :u, 'subscription', 'failed', :a FROM generate_series(1, :n)",
        u=user_id,
        a=amount_cents,
        n=count,
    )


async def _ago(session: AsyncSession, days: int) -> object:
    rows = await sql(session, "SELECT now() - make_interval(days => :d)", d=days)
    return rows[0][0]


async def cluster_of(session: AsyncSession, kind: str, identifier: str) -> tuple[object, ...]:
    rows = await sql(
        session,
        "SELECT id, user_ids, member_count, risk_level, is_shared_network, risk_reasons FROM account_clusters "
        "WHERE cluster_type = :k AND identifier_hash = :h",
        k=kind,
        h=identifier,
    )
    assert len(rows) == 1, rows
    return tuple(rows[0])
