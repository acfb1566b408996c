"""API key endpoints: a person's own keys under /api/me/api-keys, an organization's under
/api/orgs/{org_id}/api-keys (permission api_keys:manage). A request made with an API key cannot
manage keys: a leaked key must not mint others."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.accounts import api_keys
from saaskit.accounts.api_key_models import ApiKey
from saaskit.accounts.api_key_schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut, RotateIn
from saaskit.accounts.dependencies import CurrentUser, Principal
from saaskit.audit.service import Actor
from saaskit.kit.deps import ClientDep, DbSession
from saaskit.kit.errors import Forbidden
from saaskit.kit.pagination import CursorParam, LimitParam, Page

me_router = APIRouter(prefix="/api/me/api-keys", tags=["api keys"])
org_router = APIRouter(prefix="/api/orgs/{org_id}/api-keys", tags=["api keys"])
Manage = Annotated[OrgRequest, Depends(org_access("api_keys:manage"))]


def _no_key(principal: Principal) -> None:
    if principal.api_key is not None:
        raise Forbidden("API keys cannot manage API keys: sign in as a person", code="api_key_not_allowed")


def _created(row: ApiKey, key: str) -> ApiKeyCreated:
    return ApiKeyCreated.model_validate({**ApiKeyOut.model_validate(row).model_dump(), "key": key})


def _actor(request: Request, principal: Principal, client: ClientDep) -> Actor:
    return Actor(
        user_id=principal.user_id, ip_hash=client.ip_hash, request=f"{request.method} {request.url.path}"
    )


@me_router.get("", response_model=Page[ApiKeyOut], summary="Your personal API keys, newest first")
async def list_personal(
    session: DbSession,
    principal: CurrentUser,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    include_inactive: bool = False,
) -> Page[ApiKeyOut]:
    _no_key(principal)
    rows, next_cursor = await api_keys.list_keys(
        session,
        user_id=principal.user_id,
        organization_id=None,
        include_inactive=include_inactive,
        limit=limit,
        cursor=cursor,
    )
    return Page[ApiKeyOut](items=[ApiKeyOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@me_router.post("", status_code=201, response_model=ApiKeyCreated, summary="Create a personal API key")
async def create_personal(
    body: ApiKeyIn, request: Request, session: DbSession, principal: CurrentUser, client: ClientDep
) -> ApiKeyCreated:
    _no_key(principal)
    row, key = await api_keys.create(
        session,
        _actor(request, principal, client),
        user_id=principal.user_id,
        access=None,
        name=body.name,
        scopes=body.scopes,
        expires_at=await api_keys.expiry(session, body.expires_in_days),
        rate_limit_per_minute=body.rate_limit_per_minute,
    )
    return _created(row, key)


@me_router.post("/{key_id}/rotate", status_code=201, response_model=ApiKeyCreated, summary="Rotate a key")
async def rotate_personal(
    key_id: uuid.UUID,
    body: RotateIn,
    request: Request,
    session: DbSession,
    principal: CurrentUser,
    client: ClientDep,
) -> ApiKeyCreated:
    _no_key(principal)
    row, key = await api_keys.rotate(
        session,
        _actor(request, principal, client),
        key_id,
        user_id=principal.user_id,
        organization_id=None,
        access=None,
        overlap=timedelta(hours=body.overlap_hours),
    )
    return _created(row, key)


@me_router.delete("/{key_id}", response_model=ApiKeyOut, summary="Revoke a personal API key")
async def revoke_personal(
    key_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentUser, client: ClientDep
) -> ApiKeyOut:
    _no_key(principal)
    row = await api_keys.revoke(
        session, _actor(request, principal, client), key_id, user_id=principal.user_id, organization_id=None
    )
    return ApiKeyOut.model_validate(row)


@org_router.get("", response_model=Page[ApiKeyOut], summary="The organization's API keys, newest first")
async def list_organization(
    session: DbSession,
    org: Manage,
    principal: CurrentUser,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    include_inactive: bool = False,
) -> Page[ApiKeyOut]:
    _no_key(principal)
    rows, next_cursor = await api_keys.list_keys(
        session,
        user_id=None,
        organization_id=org.organization_id,
        include_inactive=include_inactive,
        limit=limit,
        cursor=cursor,
    )
    return Page[ApiKeyOut](items=[ApiKeyOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@org_router.post("", status_code=201, response_model=ApiKeyCreated, summary="Create an organization API key")
async def create_organization(
    body: ApiKeyIn, session: DbSession, org: Manage, principal: CurrentUser
) -> ApiKeyCreated:
    _no_key(principal)
    row, key = await api_keys.create(
        session,
        org.actor,
        user_id=principal.user_id,
        access=org.access,
        name=body.name,
        scopes=body.scopes,
        expires_at=await api_keys.expiry(session, body.expires_in_days),
        rate_limit_per_minute=body.rate_limit_per_minute,
    )
    return _created(row, key)


@org_router.post("/{key_id}/rotate", status_code=201, response_model=ApiKeyCreated, summary="Rotate a key")
async def rotate_organization(
    key_id: uuid.UUID, body: RotateIn, session: DbSession, org: Manage, principal: CurrentUser
) -> ApiKeyCreated:
    _no_key(principal)
    row, key = await api_keys.rotate(
        session,
        org.actor,
        key_id,
        user_id=None,
        organization_id=org.organization_id,
        access=org.access,
        overlap=timedelta(hours=body.overlap_hours),
    )
    return _created(row, key)


@org_router.delete("/{key_id}", response_model=ApiKeyOut, summary="Revoke an organization API key")
async def revoke_organization(
    key_id: uuid.UUID, session: DbSession, org: Manage, principal: CurrentUser
) -> ApiKeyOut:
    _no_key(principal)
    row = await api_keys.revoke(session, org.actor, key_id, user_id=None, organization_id=org.organization_id)
    return ApiKeyOut.model_validate(row)
