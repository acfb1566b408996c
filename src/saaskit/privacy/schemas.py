"""Request and response bodies of the privacy endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from saaskit.kit.schemas import Input, Output


class PrivacyRequestOut(Output):
    id: uuid.UUID
    kind: str = Field(description="export or erasure.")
    status: str = Field(description="pending, running, completed, cancelled, failed.")
    by_admin: bool = Field(description="Asked by a platform admin on the person's behalf.")
    scheduled_for: datetime = Field(description="Erasure: when the grace period ends and the data goes.")
    progress_percent: int
    summary: dict[str, int] | None = Field(description="Rows per table or erasure step (counts only).")
    archive_size_bytes: int | None
    archive_expires_at: datetime | None
    downloaded_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancelled_by: str | None
    created_at: datetime


class AdminPrivacyRequestOut(PrivacyRequestOut):
    user_id: uuid.UUID | None = Field(description="NULL once the person is erased.")
    requested_by: uuid.UUID | None
    reason: str | None
    error: str | None


class AdminErasureIn(Input):
    grace_days: int = Field(default=0, ge=0, le=90, description="Days before the erasure runs (0: at once).")
    reason: str | None = Field(
        default=None, max_length=500, description="Why (no personal data): `banned abuser`."
    )


class DownloadLinkOut(Output):
    url: str = Field(description="One-time link to the archive (no sign-in needed; works once).")
    expires_at: datetime
