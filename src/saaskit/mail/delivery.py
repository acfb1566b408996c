"""Sending what the outbox holds: one message at a time, each attempt recorded on its row.

``deliver`` (the ``mail.deliver`` job, deferred by ``enqueue`` in the caller's transaction):

1. locks the row (``SKIP LOCKED``: a message another worker holds is left to it); only a
   ``queued`` message that is due goes on. One past ``expires_at`` becomes ``failed`` (its links
   are dead); an optional notice to an address that unsubscribed becomes ``discarded``;
2. with no SMTP server configured, the message becomes ``held`` and is never sent: the job logs
   one line with its subject and recipient, and, on a local install only (no SMTP server *and*
   the embedded database), the link it carries, so that a developer can follow it;
3. otherwise it unseals the secret values, renders the message, marks the row ``sending``
   (``attempts + 1``) and commits; then talks to the SMTP server outside any transaction;
4. records the outcome (``mail.transport``): ``sent`` (secrets wiped), ``bounced``, ``failed``,
   or, for a temporary problem, ``queued`` again with ``next_attempt_at`` = now + base x 4^(n-1)
   and a ``mail.deliver`` job deferred for that time; after ``SAASKIT_MAIL_MAX_ATTEMPTS``
   attempts it is ``failed``.

``deliver_due`` (every minute) is the safety net: it sends whatever is due (a job lost, a crash
between commit and the job), puts back messages left ``sending`` by a worker that died
(``SAASKIT_MAIL_SENDING_TIMEOUT_SECONDS``; such a message may reach its recipient twice, with
the same Message-ID), and wipes the secrets of messages past ``expires_at``.
Every outcome is one log line with the subject and recipient; secret values are never logged
except in the local-install line above.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.config import Settings
from saaskit.kit.crypto import CannotOpen
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.mail import sealing, service, transport, unsubscribe
from saaskit.mail.models import EmailOutbox
from saaskit.mail.rendering import TEMPLATES
from saaskit.mail.transport import Outcome

logger = logging.getLogger(__name__)

RETRY_FACTOR = 4
NOT_CONFIGURED = "no SMTP server is configured (SAASKIT_MAIL_SMTP_HOST): held, not sent"


def is_local_install(settings: Settings) -> bool:
    """No SMTP server and the embedded database: a developer's machine, where the links of held
    mail may be logged."""
    return not settings.mail.is_configured and not settings.database.url


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    return timedelta(seconds=settings.mail.retry_base_seconds * RETRY_FACTOR ** max(attempts - 1, 0))


def _describe(row: EmailOutbox) -> str:
    return f'"{row.subject}" to {row.recipient} ({row.template}, {row.id})'


def compose(runtime: Runtime, row: EmailOutbox, secrets: dict[str, str]) -> EmailMessage:
    """The MIME message: text and HTML alternatives, and the headers."""
    settings = runtime.settings
    spec = service.template_of(row.template)
    rendered = service.render_row(runtime, row, secrets)
    message = EmailMessage()
    message["From"] = settings.mail.from_address
    message["To"] = row.recipient
    if settings.product.support_email:
        message["Reply-To"] = settings.product.support_email
    message["Subject"] = row.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = row.message_id
    # RFC 3834: machine-written mail; vacation responders do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    unsubscribe_url = service.unsubscribe_url_for(runtime, spec, row.recipient)
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def _settle(row: EmailOutbox, status: str, error: str | None, now: datetime) -> None:
    row.status = status
    row.next_attempt_at = None
    row.last_error = error
    # Failed, bounced and held messages keep their sealed links until they expire, so that an
    # operator can send them again once the cause is fixed.
    if status in ("sent", "discarded") or (row.expires_at is not None and row.expires_at <= now):
        service.wipe_secrets(row, now)


def _log_held(runtime: Runtime, row: EmailOutbox, secrets: dict[str, str]) -> None:
    if not row.secret_keys:
        logger.warning("mail held (no SMTP server configured): %s", _describe(row))
    elif is_local_install(runtime.settings) and secrets:
        links = " ".join(secrets[key] for key in row.secret_keys if key in secrets)
        logger.warning("mail held (no SMTP server configured): %s; link: %s", _describe(row), links)
    else:
        logger.warning(
            "mail held (no SMTP server configured): %s; its link is not logged (only local installs "
            "without SAASKIT_DATABASE_URL log them)",
            _describe(row),
        )


async def deliver(runtime: Runtime, message_id: uuid.UUID) -> str:
    """One attempt at one message; returns its status afterwards (or why nothing was done)."""
    now = datetime.now(UTC)
    async with runtime.db.session(SERVICE) as session:
        row = await session.scalar(
            select(EmailOutbox).where(EmailOutbox.id == message_id).with_for_update(skip_locked=True)
        )
        if row is None:
            return "missing or locked"
        if row.status != "queued":
            return row.status
        if row.next_attempt_at is not None and row.next_attempt_at > now:
            return "not due"
        spec = TEMPLATES.get(row.template)
        if spec is None:
            _settle(row, "failed", f"no template named {row.template!r} any more", now)
            logger.error("mail failed: %s: unknown template", _describe(row))
            return "failed"
        if row.expires_at is not None and row.expires_at <= now:
            _settle(row, "failed", "expired before it could be sent: its links no longer work", now)
            logger.warning("mail expired before it was sent: %s", _describe(row))
            return "failed"
        if spec.is_optional and await unsubscribe.has_opted_out(session, spec.purpose, row.recipient):
            _settle(row, "discarded", f"the recipient unsubscribed from {spec.purpose}", now)
            logger.info("mail discarded (recipient unsubscribed): %s", _describe(row))
            return "discarded"
        try:
            secrets = sealing.unseal(runtime.secret, row.id, row.sealed_secrets) if row.sealed_secrets else {}
        except CannotOpen:
            _settle(row, "failed", "its links cannot be unsealed: was SAASKIT_SECRET_KEY changed?", now)
            logger.error("mail failed: %s: its sealed links cannot be opened", _describe(row))
            return "failed"
        if row.secret_keys and not secrets:
            _settle(row, "failed", "its one-time links were wiped", now)
            return "failed"
        if not runtime.settings.mail.is_configured:
            _settle(row, "held", NOT_CONFIGURED, now)
            _log_held(runtime, row, secrets)
            return "held"
        message = compose(runtime, row, secrets)
        row.status = "sending"
        row.attempts += 1
        row.last_attempt_at = now
        row.next_attempt_at = None
        attempt = row.attempts
    outcome = await transport.send(runtime.settings.mail, message)
    return await _record(runtime, message_id, attempt, outcome)


async def _record(runtime: Runtime, message_id: uuid.UUID, attempt: int, outcome: Outcome) -> str:
    max_attempts = runtime.settings.mail.max_attempts
    async with runtime.db.session(SERVICE) as session:
        row = await session.get(EmailOutbox, message_id, with_for_update=True)
        if row is None or row.status != "sending" or row.attempts != attempt:
            logger.warning(
                "mail %s changed while it was being sent; outcome %s not recorded", message_id, outcome
            )
            return "superseded"
        now = datetime.now(UTC)
        if outcome.kind == "sent":
            _settle(row, "sent", None, now)
            row.sent_at = now
            row.smtp_reply = outcome.detail
            logger.info("mail sent: %s: %s", _describe(row), outcome.detail)
        elif outcome.kind in ("bounced", "failed"):
            _settle(row, outcome.kind, outcome.detail, now)
            logger.warning("mail %s: %s: %s", outcome.kind, _describe(row), outcome.detail)
        elif attempt >= max_attempts:
            _settle(row, "failed", f"gave up after {attempt} attempts; last: {outcome.detail}", now)
            logger.warning("mail failed after %d attempts: %s: %s", attempt, _describe(row), outcome.detail)
        else:
            due = now + retry_delay(runtime.settings, attempt)
            row.status = "queued"
            row.next_attempt_at = due
            row.last_error = outcome.detail
            await session.flush()
            await service.defer_delivery(session, row.id, at=due)
            logger.warning(
                "mail not sent yet (attempt %d of %d, next at %s): %s: %s",
                attempt,
                max_attempts,
                due.isoformat(timespec="seconds"),
                _describe(row),
                outcome.detail,
            )
        return row.status


async def recover_and_expire(session: AsyncSession, runtime: Runtime, now: datetime) -> dict[str, int]:
    """Messages left ``sending`` too long go back to the queue (or fail, attempts used up);
    secrets past ``expires_at`` are wiped."""
    stale_before = now - timedelta(seconds=runtime.settings.mail.sending_timeout_seconds)
    stale = EmailOutbox.status == "sending", EmailOutbox.last_attempt_at < stale_before
    gave_up = await session.execute(
        update(EmailOutbox)
        .where(*stale, EmailOutbox.attempts >= runtime.settings.mail.max_attempts)
        .values(status="failed", last_error="the worker stopped while sending the last attempt")
    )
    requeued = await session.execute(
        update(EmailOutbox)
        .where(*stale)
        .values(
            status="queued", next_attempt_at=now, last_error="the worker stopped while sending; trying again"
        )
    )
    wiped = await session.execute(
        update(EmailOutbox)
        .where(EmailOutbox.sealed_secrets.is_not(None), EmailOutbox.expires_at <= now)
        .values(sealed_secrets=None, secrets_wiped_at=now)
    )
    return {
        "failed_stale": gave_up.rowcount,  # type: ignore[attr-defined]
        "requeued_stale": requeued.rowcount,  # type: ignore[attr-defined]
        "secrets_wiped": wiped.rowcount,  # type: ignore[attr-defined]
    }


async def deliver_due(runtime: Runtime, *, limit: int = 100) -> dict[str, int]:
    now = datetime.now(UTC)
    async with runtime.db.session(SERVICE) as session:
        counts = await recover_and_expire(session, runtime, now)
        due = list(
            await session.scalars(
                select(EmailOutbox.id)
                .where(EmailOutbox.status == "queued", EmailOutbox.next_attempt_at <= now)
                .order_by(EmailOutbox.next_attempt_at)
                .limit(limit)
            )
        )
    outcomes: dict[str, int] = {}
    for message_id in due:
        status = await deliver(runtime, message_id)
        outcomes[status] = outcomes.get(status, 0) + 1
    return counts | outcomes


async def purge(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    """Delete sent and discarded messages older than ``SAASKIT_MAIL_RETENTION_DAYS`` (failed,
    bounced and held ones stay until an operator deals with them)."""
    cutoff = now - timedelta(days=runtime.settings.mail.retention_days)
    result = await session.execute(
        delete(EmailOutbox).where(
            EmailOutbox.status.in_(("sent", "discarded")), EmailOutbox.updated_at < cutoff
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
