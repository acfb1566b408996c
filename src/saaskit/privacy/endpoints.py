"""HTTP endpoints of the privacy domain: a person's own requests, an admin's on their behalf,
and the one-time download of an export."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select

from saaskit.accounts.dependencies import CurrentUser
from saaskit.accounts.models import User
from saaskit.audit.dependencies import AdminActor
from saaskit.audit.service import Actor
from saaskit.kit.db import SERVICE, set_context
from saaskit.kit.deps import ClientDep, DbSession, RuntimeDep
from saaskit.kit.errors import NotFound
from saaskit.kit.pagination import CursorParam, LimitParam, Page, keyset_page
from saaskit.privacy import service
from saaskit.privacy.models import KINDS, STATUSES, PrivacyRequest
from saaskit.privacy.schemas import AdminErasureIn, AdminPrivacyRequestOut, DownloadLinkOut, PrivacyRequestOut

router = APIRouter(prefix="/api", tags=["privacy"])
admin_router = APIRouter(prefix="/api/admin", tags=["privacy"])

DOWNLOAD_PATH = "/api/privacy/exports/download/"
Token = Annotated[str, Path(min_length=10, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")]


def _actor(principal: CurrentUser, client: ClientDep, request: Request) -> Actor:
    return Actor(
        user_id=principal.user_id, ip_hash=client.ip_hash, request=f"{request.method} {request.url.path}"
    )


def _out(request: PrivacyRequest) -> PrivacyRequestOut:
    return PrivacyRequestOut.model_validate(request)


def _link(request: Request, runtime: RuntimeDep, link: service.Link) -> DownloadLinkOut:
    base = str(request.base_url).rstrip("/")
    return DownloadLinkOut(url=f"{base}{DOWNLOAD_PATH}{link.token}", expires_at=link.expires_at)


@router.post(
    "/me/deletion",
    response_model=PrivacyRequestOut,
    status_code=202,
    summary="Ask for my account and data to be erased, after a grace period",
    description="Erasure happens when the grace period (SAASKIT_PRIVACY_ERASURE_GRACE_DAYS) ends. "
    "Signing in again, or DELETE /api/me/deletion, cancels it meanwhile. Asking twice returns the "
    "pending request. docs/privacy.md says what is deleted and what is kept.",
)
async def request_deletion(
    principal: CurrentUser, session: DbSession, runtime: RuntimeDep, client: ClientDep, request: Request
) -> PrivacyRequestOut:
    found, _ = await service.request_erasure(
        session, runtime, principal.user_id, _actor(principal, client, request)
    )
    return _out(found)


@router.get("/me/deletion", response_model=PrivacyRequestOut, summary="My pending deletion request")
async def get_deletion(principal: CurrentUser, session: DbSession) -> PrivacyRequestOut:
    found = await service._open_request(session, principal.user_id, "erasure")
    if found is None:
        raise NotFound("there is no pending deletion request", code="no_deletion_request")
    return _out(found)


@router.delete("/me/deletion", response_model=PrivacyRequestOut, summary="Cancel my pending deletion request")
async def cancel_deletion(
    principal: CurrentUser, session: DbSession, client: ClientDep, request: Request
) -> PrivacyRequestOut:
    return _out(
        await service.cancel_erasure(
            session, principal.user_id, _actor(principal, client, request), "request"
        )
    )


@router.post(
    "/me/exports",
    response_model=PrivacyRequestOut,
    status_code=202,
    summary="Ask for an export of everything saaskit holds about me",
    description="A job builds a ZIP (one JSON file per table and a README); poll "
    "GET /api/me/exports/{id} for progress, then POST .../link for a one-time download link.",
)
async def request_export(
    principal: CurrentUser, session: DbSession, runtime: RuntimeDep, client: ClientDep, request: Request
) -> PrivacyRequestOut:
    found, _ = await service.request_export(
        session, principal.user_id, _actor(principal, client, request), runtime=runtime
    )
    return _out(found)


@router.get(
    "/me/privacy-requests", response_model=list[PrivacyRequestOut], summary="My exports and deletion requests"
)
async def list_mine(principal: CurrentUser, session: DbSession) -> list[PrivacyRequestOut]:
    return [_out(r) for r in await service.list_requests(session, principal.user_id)]


@router.get(
    "/me/exports/{request_id}", response_model=PrivacyRequestOut, summary="One of my exports: progress"
)
async def get_export(request_id: uuid.UUID, principal: CurrentUser, session: DbSession) -> PrivacyRequestOut:
    return _out(await service.get_request(session, request_id, user_id=principal.user_id, kind="export"))


@router.post(
    "/me/exports/{request_id}/link",
    response_model=DownloadLinkOut,
    summary="A one-time, expiring download link to my finished export",
)
async def export_link(
    request_id: uuid.UUID,
    principal: CurrentUser,
    session: DbSession,
    runtime: RuntimeDep,
    client: ClientDep,
    request: Request,
) -> DownloadLinkOut:
    found = await service.get_request(session, request_id, user_id=principal.user_id, kind="export")
    link = await service.issue_link(session, runtime, found, _actor(principal, client, request))
    return _link(request, runtime, link)


@router.get(
    DOWNLOAD_PATH.removeprefix("/api") + "{token}",
    response_class=Response,
    summary="Download an export archive (the link works once)",
    responses={
        200: {"content": {"application/zip": {}}},
        410: {"description": "Used, expired or unknown link"},
    },
)
async def download(token: Token, session: DbSession, client: ClientDep) -> Response:
    # The link is the credential: the lookup by its hash runs in the service context.
    await set_context(session, SERVICE)
    request_id, archive = await service.take_download(
        session, token, Actor(user_id=None, ip_hash=client.ip_hash)
    )
    return Response(
        archive,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="export-{request_id}.zip"',
            "Cache-Control": "no-store",
        },
    )


# -- admins, on a person's behalf --------------------------------------------------------------
async def _user(session: DbSession, user_id: uuid.UUID) -> User:
    user: User | None = await session.scalar(select(User).where(User.id == user_id))
    if user is None:
        raise NotFound("no such user", code="user_not_found", field="user_id")
    return user


@admin_router.post(
    "/users/{user_id}/deletion",
    response_model=AdminPrivacyRequestOut,
    status_code=202,
    summary="Erase a user (a banned abuser, a request received by mail): the same path as the user's own",
)
async def admin_request_deletion(
    user_id: uuid.UUID, body: AdminErasureIn, actor: AdminActor, session: DbSession, runtime: RuntimeDep
) -> AdminPrivacyRequestOut:
    await _user(session, user_id)
    found, _ = await service.request_erasure(
        session, runtime, user_id, actor, grace_days=body.grace_days, by_admin=True, reason=body.reason
    )
    return AdminPrivacyRequestOut.model_validate(found)


@admin_router.delete(
    "/users/{user_id}/deletion",
    response_model=AdminPrivacyRequestOut,
    summary="Cancel a user's pending erasure",
)
async def admin_cancel_deletion(
    user_id: uuid.UUID, actor: AdminActor, session: DbSession
) -> AdminPrivacyRequestOut:
    return AdminPrivacyRequestOut.model_validate(
        await service.cancel_erasure(session, user_id, actor, "admin")
    )


@admin_router.post(
    "/users/{user_id}/exports",
    response_model=AdminPrivacyRequestOut,
    status_code=202,
    summary="Export everything about a user, on their behalf",
)
async def admin_request_export(
    user_id: uuid.UUID, actor: AdminActor, session: DbSession, runtime: RuntimeDep
) -> AdminPrivacyRequestOut:
    await _user(session, user_id)
    found, _ = await service.request_export(session, user_id, actor, runtime=runtime, by_admin=True)
    return AdminPrivacyRequestOut.model_validate(found)


@admin_router.post(
    "/privacy/exports/{request_id}/link",
    response_model=DownloadLinkOut,
    summary="A one-time download link to a user's finished export (to hand over to them)",
)
async def admin_export_link(
    request_id: uuid.UUID, actor: AdminActor, session: DbSession, runtime: RuntimeDep, request: Request
) -> DownloadLinkOut:
    found = await service.get_request(session, request_id, kind="export")
    return _link(request, runtime, await service.issue_link(session, runtime, found, actor))


@admin_router.get(
    "/privacy/requests",
    response_model=Page[AdminPrivacyRequestOut],
    summary="Exports and erasures, newest first",
)
async def admin_list_requests(
    actor: AdminActor,
    session: DbSession,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    kind: Annotated[str | None, Query(pattern=f"^({'|'.join(KINDS)})$")] = None,
    status: Annotated[str | None, Query(pattern=f"^({'|'.join(STATUSES)})$")] = None,
) -> Page[AdminPrivacyRequestOut]:
    query = select(PrivacyRequest)
    if kind:
        query = query.where(PrivacyRequest.kind == kind)
    if status:
        query = query.where(PrivacyRequest.status == status)
    rows, next_cursor = await keyset_page(
        session,
        query,
        created_at=PrivacyRequest.created_at,
        row_id=PrivacyRequest.id,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[AdminPrivacyRequestOut.model_validate(r) for r in rows], next_cursor=next_cursor)
