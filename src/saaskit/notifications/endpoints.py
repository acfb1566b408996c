"""HTTP endpoints of notifications: a user's notices and settings (``/api/me/...``), and the
admins' broadcasts (``/api/admin/notifications/...``). Thin: validate, call the service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from saaskit.accounts.dependencies import AdminUser, CurrentUser
from saaskit.audit.dependencies import AdminActor
from saaskit.kit.deps import DbSession
from saaskit.kit.pagination import CursorParam, LimitParam, Page
from saaskit.notifications import broadcasts, operator, preferences, service
from saaskit.notifications.kinds import KINDS
from saaskit.notifications.preferences import Channels
from saaskit.notifications.schemas import (
    BroadcastIn,
    BroadcastOut,
    KindSettingOut,
    NotificationOut,
    NotificationSettingsIn,
    NotificationSettingsOut,
    ReadAllOut,
)

router = APIRouter(prefix="/api/me", tags=["notifications"])


@router.get("/notifications", response_model=Page[NotificationOut], summary="My notifications, newest first")
async def list_notifications(
    principal: CurrentUser,
    session: DbSession,
    unread: Annotated[bool, Query(description="Only the unread ones.")] = False,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[NotificationOut]:
    rows, next_cursor = await service.list_for_user(
        session, principal.user_id, unread_only=unread, limit=limit, cursor=cursor
    )
    return Page[NotificationOut](
        items=[NotificationOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.post("/notifications/read-all", response_model=ReadAllOut, summary="Mark all my notifications read")
async def read_all(principal: CurrentUser, session: DbSession) -> ReadAllOut:
    return ReadAllOut(marked_read=await service.mark_all_read(session, principal.user_id))


@router.post(
    "/notifications/{notification_id}/read",
    response_model=NotificationOut,
    summary="Mark one of my notifications read",
    responses={404: {"description": "Not one of your notifications"}},
)
async def read_one(notification_id: uuid.UUID, principal: CurrentUser, session: DbSession) -> NotificationOut:
    return NotificationOut.model_validate(
        await service.mark_read(session, principal.user_id, notification_id)
    )


def _settings_out(chosen: dict[str, Channels]) -> NotificationSettingsOut:
    return NotificationSettingsOut(
        kinds=[
            KindSettingOut(
                kind=name,
                label=kind.label,
                description=kind.description,
                in_app=chosen[name].in_app,
                email=chosen[name].email,
                switchable=kind.switchable,
                has_email=kind.has_email,
            )
            for name, kind in KINDS.items()
        ]
    )


@router.get(
    "/notification-settings",
    response_model=NotificationSettingsOut,
    summary="Which notices I get, in the app and by e-mail",
)
async def get_settings(principal: CurrentUser, session: DbSession) -> NotificationSettingsOut:
    return _settings_out(await preferences.settings_of(session, principal.user_id))


@router.put(
    "/notification-settings",
    response_model=NotificationSettingsOut,
    summary="Switch kinds of notices on or off, per channel",
)
async def put_settings(
    body: NotificationSettingsIn, principal: CurrentUser, session: DbSession
) -> NotificationSettingsOut:
    changes = {name: channels.model_dump(exclude_unset=True) for name, channels in body.kinds.items()}
    return _settings_out(await preferences.change(session, principal.user_id, changes))


# -- platform administration -------------------------------------------------------------------
admin_router = APIRouter(prefix="/api/admin/notifications", tags=["admin: notifications"])


@admin_router.post(
    "/broadcasts",
    response_model=BroadcastOut,
    status_code=201,
    summary="Send a notice to everyone or to one organization's members (admins)",
)
async def send_broadcast(body: BroadcastIn, actor: AdminActor, session: DbSession) -> BroadcastOut:
    outcome = await operator.broadcast(
        session,
        actor,
        audience=body.audience,
        organization=body.organization,
        title=body.title,
        body=body.body,
        link=body.link,
        severity=body.severity,
    )
    row = await broadcasts.get(session, uuid.UUID(outcome.data["broadcast_id"]))
    return BroadcastOut.model_validate(row)


@admin_router.get("/broadcasts", response_model=Page[BroadcastOut], summary="Past broadcasts (admins)")
async def list_broadcasts(
    admin: AdminUser, session: DbSession, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[BroadcastOut]:
    rows, next_cursor = await broadcasts.list_broadcasts(session, limit=limit, cursor=cursor)
    read = await broadcasts.read_counts(session, [r.id for r in rows])
    items = [
        BroadcastOut.model_validate(r).model_copy(update={"read_count": read.get(r.id, 0)}) for r in rows
    ]
    return Page[BroadcastOut](items=items, next_cursor=next_cursor)
