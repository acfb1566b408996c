"""The outbox: queueing mail in the caller's transaction, and what operators do with it.

``enqueue`` is how every domain sends mail. It validates the template's values, renders the
subject (and both bodies, so a bad context fails here, in the request, and not later in the job),
seals the secret values (``mail.sealing``), inserts the ``email_outbox`` row and defers the
``mail.deliver`` job **in the caller's transaction**: it flushes, never commits. If the
transaction rolls back, neither the row nor the job exists, and nothing is sent; once it
commits, the job sends the message (``mail.delivery``), and the every-minute ``mail.deliver_due``
job picks up anything due whose job was lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from email.utils import parseaddr
from typing import Any

import orjson
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.jobs import defer
from saaskit.kit.errors import Conflict, NotFound, Unprocessable
from saaskit.kit.pagination import keyset_page
from saaskit.kit.state import Runtime
from saaskit.mail import sealing, unsubscribe
from saaskit.mail.models import EmailOutbox
from saaskit.mail.rendering import TEMPLATES, MailTemplate, Rendered, common_values, render
from saaskit.mail.sealing import Secret

RESENDABLE = ("held", "failed", "bounced", "discarded", "sent")
DISCARDABLE = ("queued", "held", "failed", "bounced")


def template_of(name: str) -> MailTemplate:
    spec = TEMPLATES.get(name)
    if spec is None:
        raise ValueError(f"no mail template named {name!r} (known: {', '.join(sorted(TEMPLATES))})")
    return spec


def _recipient(address: str) -> str:
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise Unprocessable(f"email: not a valid e-mail address ({exc})", field="email") from exc


def _json_safe(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _split(spec: MailTemplate, context: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Secret]]:
    """(values stored as they are, with secrets in their shown form; the secret values)."""
    unknown = sorted(set(context) - set(spec.keys))
    missing = sorted(key for key in spec.required if context.get(key) is None)
    if unknown or missing:
        raise ValueError(f"mail template {spec.name!r}: unknown keys {unknown}, missing keys {missing}")
    shown: dict[str, Any] = {}
    secrets: dict[str, Secret] = {}
    for key, value in context.items():
        if isinstance(value, Secret):
            secrets[key] = value
            shown[key] = value.shown
        elif key in spec.secrets:
            raise ValueError(
                f"mail template {spec.name!r}: {key!r} must be a mail.Secret (it carries a token)"
            )
        else:
            shown[key] = _json_safe(value)
    # What is stored is what the job will read back: JSON.
    stored = orjson.loads(orjson.dumps(shown, default=str))
    return stored, secrets


def _sender_domain(runtime: Runtime) -> str:
    address = parseaddr(runtime.settings.mail.from_address)[1]
    return address.rpartition("@")[2] or "localhost"


def new_message_id(runtime: Runtime, row_id: uuid.UUID) -> str:
    return f"<{row_id.hex}.{uuid.uuid4().hex[:8]}@{_sender_domain(runtime)}>"


def unsubscribe_url_for(runtime: Runtime, spec: MailTemplate, recipient: str) -> str | None:
    return unsubscribe.unsubscribe_url(runtime, spec.purpose, recipient) if spec.is_optional else None


def render_row(runtime: Runtime, row: EmailOutbox, secrets: Mapping[str, str] | None = None) -> Rendered:
    """The message as the recipient gets it: with the secret values if given, else with their
    shown forms (what the admin Outbox page displays)."""
    spec = template_of(row.template)
    common = common_values(runtime.settings, row.recipient, unsubscribe_url_for(runtime, spec, row.recipient))
    return render(spec, {**row.context, **(secrets or {})}, common)


def subject_of(runtime: Runtime, template: str, context: Mapping[str, Any] | None = None) -> str:
    """The subject ``enqueue`` would give this message, without queueing it (checked the same
    way: unknown keys, missing keys and raw secrets raise ``ValueError``). In-app notices that
    say what a mail says use it as their title (``notifications.tell``)."""
    spec = template_of(template)
    stored, _ = _split(spec, context or {})
    return render(spec, stored, common_values(runtime.settings, "", None)).subject


async def enqueue(
    session: AsyncSession,
    runtime: Runtime,
    *,
    to: str,
    template: str,
    context: Mapping[str, Any] | None = None,
    user_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
    expires_at: datetime | None = None,
) -> uuid.UUID:
    """Queue one message in the session's transaction (flushes, never commits); returns its id.

    ``context`` holds the template's values (``docs/mail.md`` lists each template's keys):
    JSON values, dates and datetimes; one-time links as ``mail.Secret`` (``secret_link``).
    A message carrying secrets needs ``expires_at`` (when its links stop working): it is not
    sent after that, and its secrets are wiped then at the latest. ``user_id`` /
    ``organization_id`` say whom it concerns (row-level security: the session's context must
    allow writing a row with them, as for billing rows).
    """
    spec = template_of(template)
    recipient = _recipient(to)
    stored, secrets = _split(spec, context or {})
    if secrets and expires_at is None:
        raise ValueError(f"mail template {spec.name!r}: a message carrying secrets needs expires_at")
    row_id = uuid.uuid4()
    common = common_values(runtime.settings, recipient, unsubscribe_url_for(runtime, spec, recipient))
    rendered = render(spec, stored, common)
    row = EmailOutbox(
        id=row_id,
        recipient=recipient,
        template=spec.name,
        purpose=spec.purpose,
        subject=rendered.subject,
        context=stored,
        secret_keys=sorted(secrets),
        sealed_secrets=(
            sealing.seal(runtime.secret, row_id, {k: s.value for k, s in secrets.items()})
            if secrets
            else None
        ),
        status="queued",
        next_attempt_at=datetime.now(UTC),
        message_id=new_message_id(runtime, row_id),
        expires_at=expires_at,
        user_id=user_id,
        organization_id=organization_id,
    )
    session.add(row)
    await session.flush()
    await defer_delivery(session, row_id)
    return row_id


async def defer_delivery(session: AsyncSession, row_id: uuid.UUID, at: datetime | None = None) -> None:
    from saaskit.mail.tasks import deliver_message

    await defer(session, deliver_message, schedule_at=at, message_id=str(row_id))


def wipe_secrets(row: EmailOutbox, now: datetime) -> None:
    if row.sealed_secrets is not None:
        row.sealed_secrets = None
        row.secrets_wiped_at = now


async def get_message(session: AsyncSession, message_id: uuid.UUID, *, lock: bool = False) -> EmailOutbox:
    row = await session.get(EmailOutbox, message_id, with_for_update=lock, populate_existing=True)
    if row is None:
        raise NotFound("There is no message with this id.", field="message_id")
    return row


async def resend(session: AsyncSession, message_id: uuid.UUID) -> EmailOutbox:
    """Queue a held, failed, bounced, discarded or sent message again (as a new delivery: new
    Message-ID, attempts from zero). Refused when its one-time links are gone."""
    row = await get_message(session, message_id, lock=True)
    now = datetime.now(UTC)
    if row.status not in RESENDABLE:
        raise Conflict(f"A {row.status} message is on its way already.", code="not_resendable")
    if row.secret_keys and row.sealed_secrets is None:
        raise Conflict(
            "Its one-time link was wiped (sent, discarded or expired): the user must ask for a new one.",
            code="secrets_wiped",
        )
    if row.expires_at is not None and row.expires_at <= now:
        raise Conflict("Its links have expired: the user must ask for a new one.", code="expired")
    row.status = "queued"
    row.attempts = 0
    row.next_attempt_at = now
    row.last_error = None
    row.smtp_reply = None
    row.sent_at = None
    row.message_id = new_message_id_from(row)
    await session.flush()
    await defer_delivery(session, row.id)
    return row


def new_message_id_from(row: EmailOutbox) -> str:
    """Another Message-ID on the same domain (receivers drop repeated Message-IDs)."""
    domain = row.message_id.rstrip(">").rpartition("@")[2] or "localhost"
    return f"<{row.id.hex}.{uuid.uuid4().hex[:8]}@{domain}>"


async def discard(session: AsyncSession, message_id: uuid.UUID, reason: str) -> EmailOutbox:
    """Never send it (queued, held, failed or bounced); its secrets are wiped."""
    row = await get_message(session, message_id, lock=True)
    if row.status not in DISCARDABLE:
        raise Conflict(f"A {row.status} message cannot be discarded.", code="not_discardable")
    row.status = "discarded"
    row.next_attempt_at = None
    row.last_error = reason
    wipe_secrets(row, datetime.now(UTC))
    await session.flush()
    return row


async def mark_bounced(session: AsyncSession, message_id_header: str, reason: str) -> EmailOutbox | None:
    """A bounce reported after the SMTP server accepted the message (a delivery status
    notification, a provider's webhook): find the message by its Message-ID, keep it as bounced."""
    row = await session.scalar(
        select(EmailOutbox).where(EmailOutbox.message_id == message_id_header).with_for_update()
    )
    if row is None:
        return None
    row.status = "bounced"
    row.last_error = reason[:1000]
    wipe_secrets(row, datetime.now(UTC))
    await session.flush()
    return row


async def list_messages(
    session: AsyncSession,
    *,
    status: str | None = None,
    template: str | None = None,
    recipient: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[EmailOutbox], str | None]:
    query: Select[Any] = select(EmailOutbox)
    if status:
        query = query.where(EmailOutbox.status == status)
    if template:
        query = query.where(EmailOutbox.template == template)
    if recipient:
        try:
            address = _recipient(recipient)
        except Unprocessable:
            address = recipient.strip()
        query = query.where(EmailOutbox.recipient == address)
    return await keyset_page(
        session, query, created_at=EmailOutbox.created_at, row_id=EmailOutbox.id, limit=limit, cursor=cursor
    )
