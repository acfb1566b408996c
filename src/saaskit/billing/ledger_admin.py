"""A platform admin's credit adjustment: the ledger row and its audit row, one transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.billing import ledger
from saaskit.billing.ledger_schemas import AdjustIn
from saaskit.billing.models import CreditLedgerEntry
from saaskit.billing.owners import Owner
from saaskit.kit.errors import NotFound
from saaskit.tenancy.models import Organization


async def adjust(session: AsyncSession, actor: Actor, body: AdjustIn) -> CreditLedgerEntry:
    reason = ledger.validate_reason(body.reason)
    if body.user_id is not None:
        user = await session.get(User, body.user_id)
        if user is None:
            raise NotFound("no such user", field="user_id")
        owner, name, entity = Owner(user_id=user.id), user.email, "user"
    else:
        org = await session.get(Organization, body.organization_id)
        if org is None:
            raise NotFound("no such organization", field="organization_id")
        owner, name, entity = Owner(organization_id=org.id), org.name, "organization"
    posted = await ledger.post(
        session,
        owner,
        body.kind,
        body.amount_cents,
        reason=reason,
        actor_id=actor.user_id,
        expires_at=body.expires_at,
    )
    assert posted is not None
    subject = audit.Subject(owner.organization_id, entity, owner.user_id or owner.organization_id, name)
    await audit.record_about(
        session,
        actor,
        subject,
        "credits_adjusted",
        f"Credits {body.amount_cents:+d} cents ({body.kind}): {reason}",
        {
            "amount_cents": body.amount_cents,
            "balance_after_cents": posted.balance_after_cents,
            "kind": body.kind,
        },
    )
    return await session.get_one(CreditLedgerEntry, posted.entry_id)
