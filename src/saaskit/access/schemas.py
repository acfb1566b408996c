"""Bodies of the roles API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from saaskit.kit.schemas import Input, Output, Timestamp

RoleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$", description="a-z, 0-9, _ (2-40)")]
PermissionList = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=100)]


class RoleIn(Input):
    name: RoleName
    description: str | None = Field(default=None, max_length=500)
    permissions: PermissionList


class RoleUpdate(Input):
    name: RoleName | None = None
    description: str | None = Field(default=None, max_length=500)
    permissions: PermissionList | None = None


class RoleOut(Output):
    id: uuid.UUID
    name: str
    description: str | None
    scope: str
    permissions: list[str]
    is_system_role: bool


class AssignmentIn(Input):
    user_id: uuid.UUID
    role_id: uuid.UUID
    expires_at: Timestamp | None = Field(default=None, description="After this time the role grants nothing.")


class AssignmentOut(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    role_id: uuid.UUID
    role_name: str
    assigned_by: uuid.UUID | None
    assigned_at: datetime
    expires_at: datetime | None


class PermissionOut(Output):
    name: str
    description: str
