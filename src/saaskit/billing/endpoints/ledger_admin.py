"""``/api/admin/billing/credits``: platform admins read any owner's credit ledger and adjust a
balance with a reason (audited in ``activities``, in the same transaction)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from saaskit.accounts.dependencies import AdminUser
from saaskit.audit.dependencies import AdminActor
from saaskit.billing import ledger, ledger_admin
from saaskit.billing.endpoints.commerce import KindParam
from saaskit.billing.ledger_schemas import AdjustIn, LedgerEntryOut
from saaskit.billing.owners import Owner
from saaskit.kit.deps import DbSession
from saaskit.kit.errors import BadRequest
from saaskit.kit.pagination import CursorParam, LimitParam, Page

router = APIRouter(prefix="/api/admin/billing/credits", tags=["billing admin"])


@router.post("/adjust", status_code=201, response_model=LedgerEntryOut, summary="Adjust a credit balance")
async def adjust(body: AdjustIn, session: DbSession, actor: AdminActor) -> LedgerEntryOut:
    entry = await ledger_admin.adjust(session, actor, body)
    return LedgerEntryOut.model_validate(entry)


@router.get("/ledger", response_model=Page[LedgerEntryOut], summary="An owner's credit ledger")
async def owner_ledger(
    session: DbSession,
    admin: AdminUser,
    user_id: Annotated[uuid.UUID | None, Query()] = None,
    organization_id: Annotated[uuid.UUID | None, Query()] = None,
    kind: KindParam = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[LedgerEntryOut]:
    if (user_id is None) == (organization_id is None):
        raise BadRequest("give either user_id or organization_id", field="user_id", code="owner_required")
    owner = Owner(user_id=user_id, organization_id=organization_id)
    rows, next_cursor = await ledger.history(session, owner, limit=limit, cursor=cursor, kind=kind)
    return Page[LedgerEntryOut](
        items=[LedgerEntryOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )
