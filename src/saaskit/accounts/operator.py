"""Platform admins' actions on a user's account: suspend, ban or reactivate, revoke every
session. Each writes its audit row in the same transaction (see ``audit.operator``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts import service as accounts
from saaskit.audit import service as audit
from saaskit.audit.operator import Outcome, record_user
from saaskit.audit.service import Actor
from saaskit.kit.errors import Unprocessable

STATUS_VERBS = {"active": "reactivated", "suspended": "suspended", "banned": "banned"}


async def set_status(session: AsyncSession, actor: Actor, user_id: uuid.UUID, status: str) -> Outcome:
    if status not in STATUS_VERBS:
        raise Unprocessable(f"status: must be one of {', '.join(STATUS_VERBS)}", field="status")
    if status != "active" and user_id == actor.user_id:
        raise Unprocessable("You cannot suspend or ban your own account.", field="status")
    user = await accounts.get_user(session, user_id)
    before = user.status
    revoked = await accounts.set_status(session, user, status)
    verb = STATUS_VERBS[status]
    await record_user(
        session,
        actor,
        user.id,
        user.email,
        f"user.{verb}",
        f"{user.email} {verb} by a platform admin ({revoked} session(s) revoked).",
        {"changes": audit.changes({"status": before}, {"status": status}), "revoked_sessions": revoked},
    )
    message = f"{user.email} is now {status}" + (f"; {revoked} session(s) revoked." if revoked else ".")
    return Outcome(message, {"status": status, "revoked_sessions": revoked})


async def revoke_sessions(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> Outcome:
    user = await accounts.get_user(session, user_id)
    revoked = await accounts.revoke_all_sessions(session, user_id)
    await record_user(
        session,
        actor,
        user.id,
        user.email,
        "user.sessions_revoked",
        f"Every session of {user.email} revoked ({revoked}).",
        {"revoked_sessions": revoked},
    )
    return Outcome(
        f"Revoked {revoked} session(s) of {user.email}: they must sign in again.", {"revoked": revoked}
    )
