"""Request and response bodies of the devices API."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from saaskit.kit.schemas import Input, Output

DeviceType = Literal["fire_tv", "android_tv", "browser", "other"]

# "1", "1.4", "1.4.2", "1.4.2.7", optionally followed by a pre-release or build suffix that the
# comparison ignores ("1.4.2-beta.1", "1.4.2+42"). Components have at most 9 digits so that they
# fit PostgreSQL's integer in app_version_key().
VERSION_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,9}){0,3}([-+][0-9A-Za-z.+-]{1,40})?$"
_VERSION = re.compile(VERSION_PATTERN)
_WIDGET = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

MAX_WIDGETS = 100


def _version(value: str | None) -> str | None:
    if value is not None and not _VERSION.match(value):
        raise ValueError("must be a version like 1.4.2 (up to four numbers, optional -suffix)")
    return value


def _widgets(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    seen: dict[str, None] = {}
    for value in values:
        if not _WIDGET.match(value):
            raise ValueError(
                f"widget name {value[:70]!r} must be 1-64 of a-z 0-9 _ . - starting with a letter or digit"
            )
        seen.setdefault(value, None)
    return list(seen)


Version = Annotated[str, Field(max_length=60), AfterValidator(_version)]
OptionalVersion = Annotated[str | None, Field(default=None, max_length=60), AfterValidator(_version)]
Widgets = Annotated[list[str], Field(max_length=MAX_WIDGETS), AfterValidator(_widgets)]
Theme = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_-]+$")]
DeviceName = Annotated[str, Field(min_length=1, max_length=100)]


# -- heartbeat ---------------------------------------------------------------------------------
class HeartbeatIn(Input):
    dashboard_id: uuid.UUID | None = Field(
        default=None,
        description="The device sending the heartbeat. Default: the dashboard the session token is "
        "bound to (registering a dashboard binds the token that registered it).",
    )
    app_version: OptionalVersion = Field(default=None, description="App version the client runs.")
    widgets_interacted: Widgets = Field(
        default_factory=list, description="Widgets the user used since the previous heartbeat."
    )
    error_count: int = Field(default=0, ge=0, le=10_000, description="Errors since the previous heartbeat.")


class HeartbeatOut(Output):
    needs_reload: bool = Field(description="Reload the app now (an admin forced it for a critical update).")
    needs_update: bool = Field(description="This device's version is below the minimum: update the app.")
    dashboard_id: uuid.UUID | None = Field(description="The dashboard the heartbeat was counted for.")
    usage_session_id: uuid.UUID | None = Field(description="The device's open usage session.")


# -- dashboards --------------------------------------------------------------------------------
class DashboardIn(Input):
    device_name: DeviceName
    device_type: DeviceType = "other"
    fingerprint: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="A stable identifier of the device; only its keyed hash is stored. Registering "
        "again with the same fingerprint returns the existing dashboard.",
    )
    theme: Theme = "dark"
    active_widgets: Widgets = Field(default_factory=list)
    bind_session: bool = Field(
        default=True,
        description="Bind the calling session token to this dashboard, so its heartbeats count for it.",
    )


class DashboardUpdateIn(Input):
    device_name: DeviceName | None = None
    theme: Theme | None = None
    active_widgets: Widgets | None = None

    @model_validator(mode="after")
    def _something(self) -> DashboardUpdateIn:
        if not self.model_fields_set:
            raise ValueError("give at least one of device_name, theme, active_widgets")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        return self


class DashboardOut(Output):
    id: uuid.UUID
    device_name: str
    device_type: str
    theme: str
    active_widgets: list[str]
    is_online: bool
    last_heartbeat_at: datetime | None
    current_version: str | None
    needs_update: bool
    total_sessions: int
    total_uptime_seconds: Decimal
    total_uptime_minutes: int
    last_crash_at: datetime | None
    crash_count: int
    created_at: datetime
    updated_at: datetime


class AdminDashboardOut(DashboardOut):
    user_id: uuid.UUID
    deleted_at: datetime | None


class CrashIn(Input):
    message: str | None = Field(default=None, max_length=2000, description="What the client saw.")
    error_details: dict[str, Any] | None = Field(default=None, description="Stack trace and context.")
    app_version: OptionalVersion = None


class CrashOut(Output):
    dashboard_id: uuid.UUID
    crash_count: int
    last_crash_at: datetime


# -- usage sessions ----------------------------------------------------------------------------
class SessionStartIn(Input):
    dashboard_id: uuid.UUID | None = Field(
        default=None, description="The device; default: the dashboard the token is bound to."
    )


class SessionEndIn(Input):
    widgets_interacted: Widgets = Field(default_factory=list)
    error_count: int = Field(default=0, ge=0, le=10_000)


class UsageSessionOut(Output):
    id: uuid.UUID
    dashboard_id: uuid.UUID | None
    started_at: datetime
    ended_at: datetime | None
    duration_minutes: int | None
    widgets_interacted: list[str]
    settings_changed: bool
    error_count: int


# -- versions ----------------------------------------------------------------------------------
class VersionCheckOut(Output):
    current: str
    device_type: str | None
    latest_version: str | None
    minimum_version: str | None
    update_available: bool = Field(description="A newer version than `current` exists.")
    update_required: bool = Field(description="`current` is below the minimum supported version.")
    needs_reload: bool = Field(description="Signed in and an admin forced a reload for this user.")


class RequireUpdateIn(Input):
    minimum_version: Version
    device_type: DeviceType | None = Field(
        default=None, description="Only this platform (its own minimum); default: the general minimum."
    )


class RequireUpdateOut(Output):
    minimum_version: str
    device_type: str | None
    setting_key: str
    dashboards_flagged: int = Field(description="Dashboards now flagged needs_update.")
    dashboards_cleared: int = Field(description="Dashboards whose needs_update flag was cleared.")


class ReloadIn(Input):
    user_id: uuid.UUID | None = None
    all_users: bool = Field(default=False, description="Everyone instead of one user.")
    latest_version: OptionalVersion = Field(
        default=None,
        description="Also publish this as app.latest_version: the flag clears when a client "
        "reports at least the latest version.",
    )

    @model_validator(mode="after")
    def _one_target(self) -> ReloadIn:
        if (self.user_id is None) == (not self.all_users):
            raise ValueError("give either user_id or all_users=true")
        return self


class ReloadOut(Output):
    users_changed: int


class MaxDashboardsIn(Input):
    max_dashboards: int | None = Field(
        ge=0, le=10_000, description="The user's own limit; null returns the user to the tier's."
    )


class MaxDashboardsOut(Output):
    user_id: uuid.UUID
    tier: str
    max_dashboards: int
    max_dashboards_override: int | None


# -- visitors and presence ---------------------------------------------------------------------
class TrackVisitIn(Input):
    session_id: str = Field(
        min_length=8,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The browser session's id, chosen by the client (8-128 of A-Z a-z 0-9 _ -).",
    )
    token: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="An organization's public ingestion key (phc_...): the visit is counted for it too.",
    )


class TrackVisitOut(Output):
    accepted: bool = True


class PresenceOut(Output):
    active_users_now: int
    online_dashboards_now: int
    visitors_now: int
    visitors_today: int
    total_visitors: int
    window_seconds: int
