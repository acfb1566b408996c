"""``/api/system/settings``: public settings for anyone, everything for platform admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import Field

from saaskit.accounts.dependencies import AdminUser, MaybeUser
from saaskit.kit.deps import DbSession
from saaskit.kit.schemas import Input, Output
from saaskit.system import service

router = APIRouter(prefix="/api/system", tags=["system"])

SettingKey = Annotated[str, Path(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", max_length=100)]


class SettingOut(Output):
    key: str
    value: Any
    category: str
    description: str | None
    is_public: bool
    updated_at: datetime


class SettingIn(Input):
    value: Any = Field(description="Any JSON value.")
    category: str | None = Field(default=None, max_length=50)
    description: str | None = Field(default=None, max_length=500)
    is_public: bool | None = None


@router.get("/settings", response_model=list[SettingOut], summary="Public settings (all of them for admins)")
async def list_settings(principal: MaybeUser, session: DbSession) -> list[SettingOut]:
    public_only = principal is None or not principal.is_admin
    return [
        SettingOut.model_validate(s) for s in await service.list_settings(session, public_only=public_only)
    ]


@router.get("/settings/{key}", response_model=SettingOut, summary="One setting")
async def get_setting(key: SettingKey, principal: MaybeUser, session: DbSession) -> SettingOut:
    public_only = principal is None or not principal.is_admin
    return SettingOut.model_validate(await service.get_setting(session, key, public_only=public_only))


@router.put("/settings/{key}", response_model=SettingOut, summary="Create or change a setting (admins)")
async def put_setting(key: SettingKey, body: SettingIn, admin: AdminUser, session: DbSession) -> SettingOut:
    setting = await service.put_setting(
        session,
        key,
        body.value,
        category=body.category,
        description=body.description,
        is_public=body.is_public,
    )
    return SettingOut.model_validate(setting)
