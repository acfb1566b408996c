"""In-app notifications: what other domains call to tell users something, and what users do
with their notices (list, read, read all, count).

Other domains call, inside their own unit of work (each flushes, never commits, so a notice
exists only if what caused it commits):

- ``tell(session, runtime, user_id=..., kind=..., mail_template=..., context=...)``: the usual
  call. It creates the in-app notice and/or queues the e-mail (``mail.enqueue``), each only if
  the user wants that kind on that channel (``preferences``).
- ``notify(session, user_id=..., kind=..., title=...)``: an in-app notice only (if the user
  wants the kind in the app).
- ``notify_organization(session, organization_id=..., kind=..., title=...)``: one copy per
  active member (who wants the kind in the app), in one statement.

Row-level security applies as for the outbox: the session's context must be the service, the
recipient, or (for notices carrying ``organization_id``) that organization.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import mail
from saaskit.accounts import service as accounts
from saaskit.kit.db import current_context
from saaskit.kit.errors import NotFound, Unprocessable
from saaskit.kit.pagination import keyset_page
from saaskit.kit.state import Runtime
from saaskit.mail.sealing import Secret
from saaskit.notifications import audiences
from saaskit.notifications.kinds import SEVERITIES, Kind, kind_of
from saaskit.notifications.models import BODY_MAX_CHARS, LINK_MAX_CHARS, TITLE_MAX_CHARS, Notification
from saaskit.notifications.preferences import channels


@dataclass(frozen=True)
class Notice:
    """A notice's checked texts."""

    title: str
    body: str | None
    link: str | None
    severity: str


def check_link(link: str | None, field: str = "link") -> str | None:
    """A path in the product (``/billing``) or an http(s) URL; nothing else (no ``javascript:``,
    no ``//host`` that leaves the product)."""
    link = (link or "").strip() or None
    if link is None:
        return None
    if len(link) > LINK_MAX_CHARS or any(ch.isspace() or ord(ch) < 32 for ch in link):
        raise Unprocessable(
            f"{field}: a path or URL without spaces, at most {LINK_MAX_CHARS} characters", field=field
        )
    is_path = link.startswith("/") and not link.startswith("//") and "\\" not in link
    if not (is_path or link.lower().startswith(("https://", "http://"))):
        raise Unprocessable(f"{field}: a path starting with / or an http(s):// URL", field=field)
    return link


def check_notice(
    kind: Kind, title: str | None, body: str | None, link: str | None, severity: str | None
) -> Notice:
    title = (title or "").strip()
    if not 1 <= len(title) <= TITLE_MAX_CHARS:
        raise Unprocessable(f"title: 1 to {TITLE_MAX_CHARS} characters", field="title")
    body = (body or "").strip() or None
    if body is not None and len(body) > BODY_MAX_CHARS:
        raise Unprocessable(f"body: at most {BODY_MAX_CHARS} characters", field="body")
    severity = severity or kind.severity
    if severity not in SEVERITIES:
        raise Unprocessable(f"severity: one of {', '.join(SEVERITIES)}", field="severity")
    return Notice(title=title, body=body, link=check_link(link), severity=severity)


def _data(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON object (dates as ISO strings); secrets are refused: notices are stored in clear."""
    values = dict(data or {})
    if any(isinstance(value, Secret) for value in values.values()):
        raise ValueError("notification data may not hold a mail.Secret: it is stored in clear")
    stored = orjson.loads(orjson.dumps(values, default=str))
    assert isinstance(stored, dict)
    return stored


async def _insert(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    kind: Kind,
    notice: Notice,
    organization_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    data: dict[str, Any],
) -> uuid.UUID:
    # The id is made here and nothing is RETURNed: a request acting for an organization may
    # write a notice for a member it may not read back (RLS checks RETURNING like a SELECT).
    notification_id = uuid.uuid4()
    await session.execute(
        insert(Notification).values(
            id=notification_id,
            user_id=user_id,
            kind=kind.name,
            severity=notice.severity,
            title=notice.title,
            body=notice.body,
            link=notice.link,
            data=data,
            audience="user",
            organization_id=organization_id,
            actor_id=actor_id,
        )
    )
    return notification_id


async def notify(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    kind: str,
    title: str,
    body: str | None = None,
    link: str | None = None,
    severity: str | None = None,
    organization_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    data: Mapping[str, Any] | None = None,
) -> uuid.UUID | None:
    """An in-app notice to one user; its id, or None when the user switched ``kind`` off in the
    app. Flushes, never commits. ``organization_id``: the organization it is about, if any."""
    spec = kind_of(kind)
    notice = check_notice(spec, title, body, link, severity)
    stored = _data(data)
    if not (await channels(session, user_id, kind)).in_app:
        return None
    notification_id = await _insert(
        session,
        user_id=user_id,
        kind=spec,
        notice=notice,
        organization_id=organization_id,
        actor_id=actor_id,
        data=stored,
    )
    await session.flush()
    return notification_id


async def notify_organization(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    kind: str,
    title: str,
    body: str | None = None,
    link: str | None = None,
    severity: str | None = None,
    actor_id: uuid.UUID | None = None,
    data: Mapping[str, Any] | None = None,
    roles: Sequence[str] | None = None,
) -> int:
    """A notice to every active member of the organization (or those with one of ``roles``),
    one row each so that each member reads it on their own; returns how many got it. Members
    who switched ``kind`` off in the app are skipped. The session must act as the service or
    as that organization (a user's own context sees only their own membership)."""
    context = current_context(session)
    if not (context.service or context.organization_id == organization_id):
        raise ValueError(
            "notify_organization needs the service context or the organization's own "
            "(kit.db.Context(organization_id=...)): a user's context sees only their membership"
        )
    spec = kind_of(kind)
    notice = check_notice(spec, title, body, link, severity)
    count = await audiences.fan_out(
        session,
        audiences.members(organization_id, roles),
        kind=spec,
        severity=notice.severity,
        title=notice.title,
        body=notice.body,
        link=notice.link,
        data=_data(data),
        audience="organization",
        organization_id=organization_id,
        actor_id=actor_id,
        broadcast_id=None,
    )
    await session.flush()
    return count


@dataclass(frozen=True)
class Told:
    """What ``tell`` did: the in-app notice's id and the queued mail's id (None: not sent,
    because the user switched that channel off, or there was no mail template)."""

    notification_id: uuid.UUID | None
    mail_id: uuid.UUID | None


async def tell(
    session: AsyncSession,
    runtime: Runtime,
    *,
    user_id: uuid.UUID,
    kind: str,
    mail_template: str | None = None,
    context: Mapping[str, Any] | None = None,
    title: str | None = None,
    body: str | None = None,
    link: str | None = None,
    severity: str | None = None,
    organization_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    data: Mapping[str, Any] | None = None,
    expires_at: datetime | None = None,
) -> Told:
    """Tell a user something, on the channels they want for ``kind``: an in-app notice and/or
    the e-mail ``mail_template`` with ``context`` (docs/mail.md lists each template's keys),
    both in the caller's transaction (flushes, never commits).

    - ``title`` defaults to the mail's subject ("Your card ending in 4242 expires soon"), else
      the kind's label; ``body`` to the kind's sentence; ``link`` to the context's
      ``manage_url``. ``name`` is filled in the context from the account when the template
      takes it. ``expires_at`` goes to ``mail.enqueue`` (required when the context holds a
      ``mail.Secret``, which never reaches the in-app notice).
    - A bad kind, template or context raises ``ValueError`` whether or not the e-mail is sent
      (a bug in the caller, found by its tests).
    - A deleted account is told nothing.
    """
    spec = kind_of(kind)
    if mail_template is not None and not spec.has_email:
        raise ValueError(f"notifications of kind {kind!r} are never e-mailed")
    user = await accounts.get_user(session, user_id, field="user_id")
    values = dict(context or {})
    subject = None
    if mail_template is not None:
        if "name" not in values and "name" in mail.template_of(mail_template).keys:
            values["name"] = user.name
        subject = mail.subject_of(runtime, mail_template, values)
    manage_url = values.get("manage_url")
    notice = check_notice(
        spec,
        title or subject or spec.label,
        body if body is not None else spec.body,
        link if link is not None else (manage_url if isinstance(manage_url, str) else None),
        severity,
    )
    stored = _data(data)
    if user.deleted_at is not None:
        return Told(None, None)
    wants = await channels(session, user_id, kind)
    mail_id = None
    if mail_template is not None and wants.email:
        mail_id = await mail.enqueue(
            session,
            runtime,
            to=user.email,
            template=mail_template,
            context=values,
            user_id=user_id,
            organization_id=organization_id,
            expires_at=expires_at,
        )
    notification_id = None
    if wants.in_app:
        notification_id = await _insert(
            session,
            user_id=user_id,
            kind=spec,
            notice=notice,
            organization_id=organization_id,
            actor_id=actor_id,
            data={**stored, **({"mail_id": str(mail_id)} if mail_id else {})},
        )
    await session.flush()
    return Told(notification_id, mail_id)


# -- the recipient's side -----------------------------------------------------------------------
async def list_for_user(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    unread_only: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Notification], str | None]:
    """The user's notices, newest first (RLS hides an organization's notices from users who
    are no longer active members of it)."""
    query: Select[Any] = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return await keyset_page(
        session, query, created_at=Notification.created_at, row_id=Notification.id, limit=limit, cursor=cursor
    )


async def mark_read(session: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID) -> Notification:
    """Mark one of the user's notices read (already read: unchanged); 404 for anyone else's."""
    row = await session.scalar(
        update(Notification)
        .where(Notification.id == notification_id, Notification.user_id == user_id)
        .values(read_at=func.coalesce(Notification.read_at, func.now()))
        .returning(Notification)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    if row is None:
        raise NotFound("There is no notification with this id.", field="notification_id")
    return row


async def mark_all_read(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Mark every unread notice of the user read; how many were."""
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=func.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def unread_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return int(count or 0)


async def recent_for_user(
    session: AsyncSession, user_id: uuid.UUID, *, limit: int = 10
) -> list[Notification]:
    """The user's latest notices, for the admin user page (service context: all of them)."""
    return list(
        await session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )
