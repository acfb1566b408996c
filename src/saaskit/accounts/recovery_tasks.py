"""Jobs of account recovery: sending a password-reset link (out of the requester's sight), and
forgetting old links."""

from __future__ import annotations

import logging

from procrastinate import JobContext
from sqlalchemy import text

from saaskit.accounts import recovery
from saaskit.jobs import jobs, runtime_of
from saaskit.kit.crypto import CannotOpen
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime

logger = logging.getLogger(__name__)

# Links are kept a week past their expiry (the audit log keeps what happened), then deleted.
DELETE_OLD_TOKENS = text("DELETE FROM account_tokens WHERE expires_at < now() - interval '7 days'")


@jobs.task(name="accounts.send_password_reset", queue="mail", pass_context=True)
async def send_password_reset(context: JobContext, sealed_email: str, ip_hash: str | None = None) -> None:
    """Send a reset link if the (sealed) address has an active account; else nothing. Returns
    nothing either way: procrastinate logs a job's result."""
    runtime = runtime_of(context)
    try:
        email = recovery.open_address(runtime, sealed_email)
    except (CannotOpen, ValueError):
        logger.warning("a password-reset request could not be opened (was SAASKIT_SECRET_KEY changed?)")
        return
    async with runtime.db.session(SERVICE) as session:
        await recovery.send_reset_link(session, runtime, email=email, ip_hash=ip_hash)


@jobs.periodic(cron="29 * * * *", periodic_id="hourly")
@jobs.task(name="accounts.purge_account_tokens", queue="maintenance", pass_context=True)
async def purge_account_tokens(context: JobContext, timestamp: int) -> dict[str, int]:
    """Delete account links that expired more than a week ago."""
    return {"tokens_deleted": await purge_tokens_now(runtime_of(context))}


async def purge_tokens_now(runtime: Runtime) -> int:
    async with runtime.db.session(SERVICE) as session:
        return int((await session.execute(DELETE_OLD_TOKENS)).rowcount)  # type: ignore[attr-defined]
