"""Request and response bodies of the accounts API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import EmailStr, Field

from saaskit.kit.schemas import Input, Output

# Checked by the endpoints against the zones PostgreSQL knows (kit/timezones.py).
TimeZone = Annotated[
    str | None, Field(max_length=64, description="IANA time zone PostgreSQL knows, e.g. Europe/Paris.")
]
Password = Annotated[str, Field(min_length=1, max_length=1024)]


class DeviceIn(Input):
    name: str | None = Field(default=None, max_length=200)
    type: str | None = Field(default=None, max_length=50)
    os: str | None = Field(default=None, max_length=100)
    app_version: str | None = Field(default=None, max_length=50)
    fingerprint: str | None = Field(default=None, max_length=512, description="Hashed server-side.")


class SignupIn(Input):
    email: EmailStr
    password: Password
    name: str | None = Field(default=None, max_length=200)
    timezone: TimeZone = None
    analytics_consent: bool = False
    device: DeviceIn | None = None
    set_cookie: bool = False
    invitation_token: str | None = Field(
        default=None, max_length=200, description="Accept this invitation as part of sign-up (same e-mail)."
    )


class LoginIn(Input):
    email: EmailStr
    password: Password
    device: DeviceIn | None = None
    set_cookie: bool = Field(default=False, description="Also set an HttpOnly session cookie.")


class PasswordChangeIn(Input):
    current_password: Password
    new_password: Password


class ProfileOut(Output):
    first_name: str | None = None
    last_name: str | None = None
    bio: str | None = None
    locale: str | None = None
    date_format: str | None = None
    time_format: str | None = None


class UserOut(Output):
    id: uuid.UUID
    email: str
    name: str | None
    picture_url: str | None
    role: str
    status: str
    tier: str
    max_dashboards: int
    email_verified: bool
    timezone: str | None
    country_code: str | None
    analytics_consent: bool
    tracking_level: str
    credits_cents: int
    created_at: datetime
    profile: ProfileOut | None = None


class MeOut(UserOut):
    unread_notifications: int = Field(
        default=0, description="Notifications not yet read (GET /api/me/notifications?unread=true)."
    )


class SessionTokenOut(Output):
    token: str = Field(description="Bearer token: shown once, only its SHA-256 is stored.")
    session_id: uuid.UUID
    expires_at: datetime
    user: UserOut


class ProfileUpdateIn(Input):
    name: str | None = Field(default=None, max_length=200)
    picture_url: str | None = Field(default=None, max_length=2048)
    timezone: TimeZone = None
    analytics_consent: bool | None = None
    tracking_level: Literal["full", "analytics_only", "errors_only"] | None = None
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    bio: str | None = Field(default=None, max_length=2000)
    locale: str | None = Field(default=None, max_length=20)
    date_format: str | None = Field(default=None, max_length=20)
    time_format: Literal["12h", "24h"] | None = None


class PreferenceIn(Input):
    value: Any = Field(description="Any JSON value.")


class PreferenceOut(Output):
    category: str
    key: str
    value: Any
    updated_at: datetime


class SessionOut(Output):
    id: uuid.UUID
    started_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    user_agent: str | None
    device_info: dict[str, Any] | None
    country_code: str | None
    auth_method: str | None
    is_current: bool = False
