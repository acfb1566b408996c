"""Request and response bodies of the integrations API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from saaskit.kit.schemas import Input, Output


class IntegrationOut(Output):
    id: uuid.UUID
    provider: str = Field(description="The configured provider's name.")
    external_account_id: str = Field(description="The connected account's id at the provider.")
    external_account_email: str | None
    scopes: list[str] = Field(description="Scopes the provider granted.")
    status: str = Field(description="active, refresh_failed (connect again) or disconnected.")
    token_expires_at: datetime | None = Field(
        description="When the access token expires (UTC); null: unknown."
    )
    has_refresh_token: bool = Field(
        default=False, description="A refresh token is kept (the access token is renewed)."
    )
    last_refreshed_at: datetime | None
    last_error: str | None = Field(description="The provider's error code at the last failed refresh.")
    connected_by_user_id: uuid.UUID | None
    connected_at: datetime
    disconnected_at: datetime | None
    disconnected_by_user_id: uuid.UUID | None


class ConnectIn(Input):
    return_to: str | None = Field(
        default=None,
        max_length=2000,
        description="A path of the product to send the browser to once connected; unset: the callback "
        "answers JSON.",
    )


class ConnectOut(BaseModel):
    authorization_url: str = Field(
        description="Send the browser there (the state cookie is set by this answer)."
    )
    expires_at: datetime = Field(
        description="The connection must be finished at the provider before this (UTC)."
    )
