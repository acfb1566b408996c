"""The credit ledger: every change of a credit balance is a row, written with the change.

``post`` is the only way a balance moves (users.credits_cents, organizations.credits_cents):

1. with an idempotency key (or a capped take-back), the owner's row is locked first
   (``SELECT ... FOR UPDATE``) and an existing row with that key is the answer (a new statement
   sees rows committed while it waited for the lock, so two concurrent writers of one key record
   once);
2. one statement updates the balance only if it stays >= 0 (its UPDATE holds the owner's row
   lock: writes for one owner queue up) and inserts the ledger row with the balance it produced
   (``balance_after_cents``).

So the balance is always the sum of the owner's rows (``check`` proves it; the concurrency test
runs it after many concurrent spends and grants) and never negative (a CHECK backs it too).
A spend without enough credits raises ``PaymentRequired`` (``None`` with ``allow_short``); a
take-back (refund, expiry) is capped at the balance with ``cap=True``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing.models import CreditLedgerEntry
from saaskit.billing.owners import Owner
from saaskit.kit.errors import BadRequest, NotFound, PaymentRequired
from saaskit.kit.pagination import keyset_page

_TABLE = {True: "users", False: "organizations"}
_MOVE = """
WITH moved AS (
    UPDATE {table} SET credits_cents = credits_cents + :amount, updated_at = now()
    WHERE id = :owner_id AND credits_cents + :amount >= 0
    RETURNING credits_cents
)
INSERT INTO credit_ledger (user_id, organization_id, kind, amount_cents, balance_after_cents, reason,
                           idempotency_key, actor_id, payment_transaction_id, expires_at)
SELECT :user_id, :organization_id, :kind, :amount, moved.credits_cents, :reason, :key, :actor_id,
       :transaction_id, :expires_at
FROM moved
RETURNING id, balance_after_cents
"""


@dataclass(frozen=True)
class Posted:
    entry_id: uuid.UUID
    amount_cents: int
    balance_after_cents: int
    replayed: bool = False


async def balance(session: AsyncSession, owner: Owner, *, lock: bool = False) -> int:
    table = _TABLE[owner.user_id is not None]
    owner_id = owner.user_id or owner.organization_id
    sql = f"SELECT credits_cents FROM {table} WHERE id = :id" + (" FOR UPDATE" if lock else "")
    value = await session.scalar(text(sql), {"id": owner_id})
    return int(value or 0)


async def post(
    session: AsyncSession,
    owner: Owner,
    kind: str,
    amount_cents: int,
    *,
    reason: str | None = None,
    key: str | None = None,
    actor_id: uuid.UUID | None = None,
    transaction_id: uuid.UUID | None = None,
    expires_at: datetime | None = None,
    cap: bool = False,
    allow_short: bool = False,
) -> Posted | None:
    """Move the owner's balance by ``amount_cents`` and record it; see the module's docstring.
    Returns None when nothing moved (a capped take-back of an empty balance, a short spend with
    ``allow_short``)."""
    # The lock first only where a decision needs the balance or the key before moving: a plain
    # spend or grant is the one statement below, whose UPDATE takes the same lock.
    current = await balance(session, owner, lock=True) if key is not None or cap else None
    if key is not None:
        found = (
            await session.execute(
                select(
                    CreditLedgerEntry.id,
                    CreditLedgerEntry.amount_cents,
                    CreditLedgerEntry.balance_after_cents,
                ).where(CreditLedgerEntry.idempotency_key == key)
            )
        ).one_or_none()
        if found is not None:
            return Posted(found.id, found.amount_cents, found.balance_after_cents, replayed=True)
    if cap and amount_cents < 0 and current is not None:
        amount_cents = max(amount_cents, -current)
    if amount_cents == 0:
        return None
    params: dict[str, Any] = {
        "amount": amount_cents,
        "owner_id": owner.user_id or owner.organization_id,
        "user_id": owner.user_id,
        "organization_id": owner.organization_id,
        "kind": kind,
        "reason": reason,
        "key": key,
        "actor_id": actor_id,
        "transaction_id": transaction_id,
        "expires_at": expires_at,
    }
    sql = text(_MOVE.format(table=_TABLE[owner.user_id is not None]))
    row = (await session.execute(sql, params)).one_or_none()
    if row is None and amount_cents > 0:
        raise NotFound("no such credit owner", field="user_id" if owner.user_id else "organization_id")
    if row is None:
        if allow_short:
            return None
        current = await balance(session, owner)
        raise PaymentRequired(
            f"not enough credits: {current} cents left, {-amount_cents} needed",
            field="amount_cents",
            code="insufficient_credits",
            extra={"quota": "credits_cents", "balance_cents": current},
        )
    return Posted(row.id, amount_cents, int(row.balance_after_cents))


async def check(session: AsyncSession, owner: Owner) -> tuple[int, int]:
    """(balance column, sum of the ledger): equal unless something bypassed ``post``."""
    column = await balance(session, owner)
    total = await session.scalar(
        text(
            "SELECT coalesce(sum(amount_cents), 0) FROM credit_ledger "
            + ("WHERE user_id = :id" if owner.user_id is not None else "WHERE organization_id = :id")
        ),
        {"id": owner.user_id or owner.organization_id},
    )
    return column, int(total or 0)


async def history(
    session: AsyncSession, owner: Owner, *, limit: int, cursor: str | None, kind: str | None = None
) -> tuple[list[CreditLedgerEntry], str | None]:
    query: Select[Any] = select(CreditLedgerEntry).where(owner.matches(CreditLedgerEntry))
    if kind is not None:
        query = query.where(CreditLedgerEntry.kind == kind)
    return await keyset_page(
        session,
        query,
        created_at=CreditLedgerEntry.created_at,
        row_id=CreditLedgerEntry.id,
        limit=limit,
        cursor=cursor,
    )


async def expire_grants(session: AsyncSession, now: datetime) -> int:
    """Take back what is left of grants whose ``expires_at`` passed (once per grant: the
    ``expiry:<grant>`` key), at most the owner's balance. Returns how many expiries moved credits."""
    rows = await session.execute(
        text(
            "SELECT g.id, g.user_id, g.organization_id, g.amount_cents FROM credit_ledger g "
            "WHERE g.expires_at <= :now AND g.amount_cents > 0 AND NOT EXISTS "
            "(SELECT 1 FROM credit_ledger e WHERE e.idempotency_key = 'expiry:' || g.id::text) "
            "ORDER BY g.expires_at LIMIT 1000"
        ),
        {"now": now},
    )
    moved = 0
    for grant in rows.all():
        if grant.user_id is None and grant.organization_id is None:
            continue
        owner = (
            Owner(user_id=grant.user_id) if grant.user_id else Owner(organization_id=grant.organization_id)
        )
        posted = await post(
            session,
            owner,
            "expiry",
            -int(grant.amount_cents),
            reason="Granted credits expired",
            key=f"expiry:{grant.id}",
            cap=True,
        )
        moved += posted is not None and not posted.replayed
    return moved


def validate_reason(reason: str) -> str:
    cleaned = reason.strip()
    if not cleaned:
        raise BadRequest("a reason is required", field="reason", code="reason_required")
    return cleaned
