"""Request and response bodies of the notifications API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from saaskit.kit.schemas import Input, Output
from saaskit.notifications.models import BODY_MAX_CHARS, LINK_MAX_CHARS, TITLE_MAX_CHARS

Severity = Literal["info", "success", "warning", "critical"]


class NotificationOut(Output):
    id: uuid.UUID
    kind: str = Field(description="What it is about (docs/notifications.md lists the kinds).")
    severity: Severity
    title: str
    body: str | None
    link: str | None = Field(description="A path in the product or an http(s) URL; null: none.")
    data: dict[str, Any] = Field(description="Extra values for the app (JSON object).")
    audience: Literal["user", "organization", "everyone"] = Field(
        description="user: to you; organization: to every member of organization_id; "
        "everyone: an announcement."
    )
    organization_id: uuid.UUID | None
    actor_id: uuid.UUID | None = Field(description="Who caused it; null: the system.")
    read_at: datetime | None = Field(description="When you marked it read (UTC); null: unread.")
    created_at: datetime


class ReadAllOut(BaseModel):
    marked_read: int = Field(description="Notifications that were unread and are now read.")


class KindSettingOut(BaseModel):
    kind: str
    label: str
    description: str
    in_app: bool = Field(description="Shown in the app.")
    email: bool = Field(description="Sent by e-mail.")
    switchable: bool = Field(description="False: always sent (security notices).")
    has_email: bool = Field(description="False: this kind is never e-mailed.")


class NotificationSettingsOut(BaseModel):
    kinds: list[KindSettingOut]


class ChannelsIn(Input):
    in_app: bool | None = Field(default=None, description="Absent: unchanged.")
    email: bool | None = Field(default=None, description="Absent: unchanged.")


class NotificationSettingsIn(Input):
    kinds: dict[str, ChannelsIn] = Field(
        description='The kinds to change, e.g. {"credits_low": {"email": false}}; others are unchanged.'
    )


class BroadcastIn(Input):
    audience: Literal["everyone", "organization"]
    organization: str | None = Field(
        default=None, max_length=100, description="The organization's id or slug (audience organization)."
    )
    title: str = Field(min_length=1, max_length=TITLE_MAX_CHARS)
    body: str | None = Field(default=None, max_length=BODY_MAX_CHARS)
    link: str | None = Field(default=None, max_length=LINK_MAX_CHARS, description="A path or an http(s) URL.")
    severity: Severity = "info"


class BroadcastOut(Output):
    id: uuid.UUID
    audience: Literal["everyone", "organization"]
    organization_id: uuid.UUID | None
    severity: Severity
    title: str
    body: str | None
    link: str | None
    sent_by: uuid.UUID | None = Field(description="The admin who sent it.")
    status: Literal["sending", "sent"] = Field(
        description="sending: a job is writing the copies to everyone (recipient_count grows); sent: done."
    )
    recipient_count: int = Field(description="Users who got a copy (so far, while sending).")
    read_count: int = Field(default=0, description="Recipients who have read it so far.")
    completed_at: datetime | None = Field(description="When the last copy was written; null: still sending.")
    created_at: datetime
