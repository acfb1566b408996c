"""Request and response models of the API key endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="What the key is for.")
    scopes: list[str] = Field(
        min_length=1,
        max_length=100,
        description="Permissions from the catalog (GET /api/permissions); never more than you hold.",
    )
    expires_in_days: int | None = Field(
        default=None, ge=1, le=3650, description="Days until the key stops working; none: never."
    )
    rate_limit_per_minute: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Requests per minute; none: the instance's default."
    )


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_hours: int = Field(
        default=24, ge=0, le=720, description="Hours the old key keeps working beside the new one."
    )


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    key_prefix: str = Field(description="The key's first characters, to recognise it.")
    organization_id: uuid.UUID | None = Field(
        description="Organization key: its organization; None: personal."
    )
    user_id: uuid.UUID = Field(description="Personal key: its holder; organization key: its creator.")
    scopes: list[str]
    rate_limit_per_minute: int | None
    expires_at: datetime | None
    revoked_at: datetime | None
    replaced_by: uuid.UUID | None = Field(description="The key that replaced it on rotation.")
    last_used_at: datetime | None = Field(description="Last use (to the minute).")
    created_at: datetime


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself: shown this once, never stored. Send it as Bearer.")
