"""Each user's choice of channels (in the app, by e-mail) per kind of notice.

A user who never changed a kind has no row for it: the kind's defaults apply
(``kinds.KINDS``). Security notices cannot be switched off and never have a row. The rule is
applied in two places from the same defaults: ``effective`` for one user (``tell``, the
settings API), ``wanted`` as a SQL condition for many users at once (a notice to an
organization's members, an admin broadcast); ``tests/notifications`` checks they agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, func, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.errors import Unprocessable
from saaskit.notifications.kinds import KINDS, Kind, kind_of
from saaskit.notifications.models import NotificationPreference


@dataclass(frozen=True)
class Channels:
    in_app: bool
    email: bool


def effective(kind: Kind, stored: NotificationPreference | None) -> Channels:
    """The channels ``kind`` uses for a user whose row for it is ``stored`` (None: no row)."""
    if not kind.switchable:
        return Channels(in_app=True, email=kind.has_email)
    if stored is None:
        return Channels(in_app=kind.in_app_default, email=kind.has_email and kind.email_default)
    return Channels(in_app=stored.is_in_app_enabled, email=kind.has_email and stored.is_email_enabled)


def wanted(kind: Kind, channel: str, user_id: ColumnElement[uuid.UUID]) -> ColumnElement[bool]:
    """SQL: true when the user ``user_id`` (a column of the query) gets ``kind`` on ``channel``."""
    if channel == "email" and not kind.has_email:
        return false()
    if not kind.switchable:
        return true()
    column = (
        NotificationPreference.is_in_app_enabled
        if channel == "in_app"
        else NotificationPreference.is_email_enabled
    )
    default = kind.in_app_default if channel == "in_app" else kind.email_default
    chosen = and_(NotificationPreference.user_id == user_id, NotificationPreference.kind == kind.name)
    # Written as EXISTS so that it plans as a (anti-)join over many users.
    if default:
        return ~exists().where(chosen, column.is_(False))
    return exists().where(chosen, column.is_(True))


async def channels(session: AsyncSession, user_id: uuid.UUID, kind: str) -> Channels:
    """The channels ``kind`` uses for ``user_id`` now (RLS: a row the session cannot see counts
    as no row: the defaults)."""
    spec = kind_of(kind)
    stored = None
    if spec.switchable:
        stored = await session.get(NotificationPreference, (user_id, kind), populate_existing=True)
    return effective(spec, stored)


async def settings_of(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Channels]:
    """Every kind's channels for ``user_id``, in the order of ``KINDS``."""
    rows = await session.scalars(
        select(NotificationPreference)
        .where(NotificationPreference.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    stored = {row.kind: row for row in rows}
    return {name: effective(kind, stored.get(name)) for name, kind in KINDS.items()}


async def change(
    session: AsyncSession, user_id: uuid.UUID, changes: Mapping[str, Mapping[str, bool | None]]
) -> dict[str, Channels]:
    """Apply ``{kind: {"in_app": bool, "email": bool}}`` (either channel may be left out: it
    keeps its current value) and return every kind's channels. Refused, with nothing written:
    an unknown kind, switching security, or e-mail for a kind that has none."""
    current = await settings_of(session, user_id)
    rows: list[dict[str, object]] = []
    for name, wanted_channels in changes.items():
        spec = KINDS.get(name)
        if spec is None:
            raise Unprocessable(f"kinds.{name}: no such kind of notification", field=f"kinds.{name}")
        in_app, email = wanted_channels.get("in_app"), wanted_channels.get("email")
        if not spec.switchable:
            if in_app is False or email is False:
                raise Unprocessable(
                    f"kinds.{name}: {spec.label.lower()} notices cannot be switched off",
                    field=f"kinds.{name}",
                    code="not_switchable",
                )
            continue
        if email and not spec.has_email:
            raise Unprocessable(
                f"kinds.{name}.email: {spec.label.lower()} are not sent by e-mail",
                field=f"kinds.{name}.email",
                code="no_email",
            )
        now = current[name]
        rows.append(
            {
                "user_id": user_id,
                "kind": name,
                "is_in_app_enabled": now.in_app if in_app is None else in_app,
                "is_email_enabled": spec.has_email and (now.email if email is None else email),
            }
        )
    if rows:
        statement = insert(NotificationPreference).values(rows)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[NotificationPreference.user_id, NotificationPreference.kind],
                set_={
                    "is_in_app_enabled": statement.excluded.is_in_app_enabled,
                    "is_email_enabled": statement.excluded.is_email_enabled,
                    "updated_at": func.now(),
                },
            )
        )
        await session.flush()
    return await settings_of(session, user_id)
