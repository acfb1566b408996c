"""Connections of an organization to a provider: recorded at the end of the OAuth flow, listed,
disconnected, and their access token kept usable (refreshed when expired). Flushes, never commits.

Tokens are sealed with kit/crypto.py (AES-256-GCM, key derived from the instance secret for the
purpose ``integration_token``, the row's id and the token's kind as associated data): a database
or backup without the secret reveals none, and a sealed token copied to another row (or from
the refresh column to the access column) does not open.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.oidc import flow
from saaskit.accounts.oidc.flow import Identity, Tokens
from saaskit.accounts.oidc.providers import ProviderError, get_provider
from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.integrations.models import Integration
from saaskit.kit.crypto import CannotOpen, seal, unseal
from saaskit.kit.deps import after_commit
from saaskit.kit.errors import Conflict, NotFound
from saaskit.kit.state import Runtime

SEAL_PURPOSE = "integration_token"
# Refreshed a little before the provider's expiry, so a token handed out still works when used.
REFRESH_MARGIN = timedelta(seconds=60)


def _seal(runtime: Runtime, row_id: uuid.UUID, kind: str, token: str | None) -> bytes | None:
    if token is None:
        return None
    return seal(runtime.secret, SEAL_PURPOSE, token.encode(), associated=row_id.bytes + kind.encode())


def _open(runtime: Runtime, row_id: uuid.UUID, kind: str, sealed: bytes | None) -> str | None:
    if sealed is None:
        return None
    return unseal(runtime.secret, SEAL_PURPOSE, sealed, associated=row_id.bytes + kind.encode()).decode()


def _store(runtime: Runtime, row: Integration, tokens: Tokens) -> None:
    row.access_token_sealed = _seal(runtime, row.id, "access", tokens.access_token)
    row.refresh_token_sealed = _seal(runtime, row.id, "refresh", tokens.refresh_token)
    row.token_type = tokens.token_type
    row.token_expires_at = tokens.expires_at
    row.scopes = list(tokens.scopes)


async def connect(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    *,
    organization_id: uuid.UUID,
    identity: Identity,
    tokens: Tokens,
) -> Integration:
    """Record (or renew) the organization's live connection to ``identity.provider``. The
    caller's RLS context is the organization's."""
    row = await session.scalar(
        select(Integration)
        .where(
            Integration.organization_id == organization_id,
            Integration.provider == identity.provider,
            Integration.disconnected_at.is_(None),
        )
        .with_for_update()
    )
    event = "reconnected"
    if row is None:
        event = "connected"
        row = Integration(id=uuid.uuid4(), organization_id=organization_id, provider=identity.provider)
        session.add(row)
    row.external_account_id = identity.subject
    row.external_account_email = identity.email
    row.status = "active"
    row.last_error = None
    row.connected_by_user_id = actor.user_id
    row.connected_at = func.now()
    _store(runtime, row, tokens)
    await session.flush()
    await session.refresh(row)
    subject = audit.Subject(organization_id, "integration", row.id, identity.provider)
    await audit.record_about(
        session,
        actor,
        subject,
        event,
        f"Connected {identity.provider} as {identity.email or identity.subject}.",
        {"scopes": list(row.scopes)},
    )
    return row


async def list_integrations(
    session: AsyncSession, organization_id: uuid.UUID, *, include_disconnected: bool = False
) -> list[Integration]:
    query = select(Integration).where(Integration.organization_id == organization_id)
    if not include_disconnected:
        query = query.where(Integration.disconnected_at.is_(None))
    return list(await session.scalars(query.order_by(Integration.connected_at.desc(), Integration.id)))


async def _get(session: AsyncSession, organization_id: uuid.UUID, integration_id: uuid.UUID) -> Integration:
    row = await session.scalar(
        select(Integration)
        .where(Integration.id == integration_id, Integration.organization_id == organization_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("no such integration", field="integration_id")
    return row


async def disconnect(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    *,
    organization_id: uuid.UUID,
    integration_id: uuid.UUID,
) -> Integration:
    """Forget the tokens (the columns are emptied), mark the row disconnected, and, once the
    change is committed, ask the provider to revoke the refresh token (RFC 7009, best effort:
    providers without a revocation endpoint are only forgotten, and say so in the docs)."""
    row = await _get(session, organization_id, integration_id)
    if row.disconnected_at is not None:
        raise Conflict(
            "this integration is already disconnected", field="integration_id", code="already_disconnected"
        )
    try:
        revocable = _open(runtime, row.id, "refresh", row.refresh_token_sealed) or _open(
            runtime, row.id, "access", row.access_token_sealed
        )
    except CannotOpen:
        revocable = None  # sealed under another instance secret: nothing to revoke with
    row.status = "disconnected"
    row.disconnected_at = func.now()
    row.disconnected_by_user_id = actor.user_id
    row.access_token_sealed = None
    row.refresh_token_sealed = None
    row.token_expires_at = None
    await session.flush()
    await session.refresh(row)
    subject = audit.Subject(organization_id, "integration", row.id, row.provider)
    await audit.record_about(session, actor, subject, "disconnected", f"Disconnected {row.provider}.")
    if revocable is not None and row.provider in runtime.settings.oidc.providers:
        provider = get_provider(runtime.settings, row.provider)

        async def revoke() -> None:
            # An unreachable provider: the token is forgotten here either way.
            with contextlib.suppress(ProviderError):
                await flow.revoke(runtime, provider, revocable)

        after_commit(session, revoke)
    return row


@dataclass(frozen=True)
class AccessToken:
    token: str
    token_type: str
    expires_at: datetime | None
    refreshed: bool


async def access_token(
    session: AsyncSession, runtime: Runtime, *, organization_id: uuid.UUID, integration_id: uuid.UUID
) -> AccessToken:
    """A working access token of the connection: the stored one while it has more than a minute
    left, else a new one from the provider with the refresh token (stored sealed, the provider's
    new refresh token too when it rotates them).

    The row is locked (``FOR UPDATE``) for the refresh, so two callers at once refresh once: the
    second waits and then finds the new token. A refusal by the provider (revoked, expired
    refresh token) marks the row ``refresh_failed`` with the provider's error code, then raises
    409 ``integration_refresh_failed``: the caller commits if it wants that recorded (a job does);
    the organization must connect again."""
    row = await _get(session, organization_id, integration_id)
    if row.disconnected_at is not None:
        raise Conflict(
            "this integration is disconnected", field="integration_id", code="integration_disconnected"
        )
    try:
        current = _open(runtime, row.id, "access", row.access_token_sealed)
        refresh_token = _open(runtime, row.id, "refresh", row.refresh_token_sealed)
    except CannotOpen as exc:
        raise Conflict(
            "the stored tokens cannot be opened (the instance secret changed): connect again",
            field="integration_id",
            code="integration_tokens_unreadable",
        ) from exc
    now = datetime.now(UTC)
    live = row.token_expires_at is None or row.token_expires_at - REFRESH_MARGIN > now
    if current is not None and live and row.status == "active":
        return AccessToken(current, row.token_type or "Bearer", row.token_expires_at, refreshed=False)
    if refresh_token is None or row.provider not in runtime.settings.oidc.providers:
        raise Conflict(
            "the access token has expired and there is no refresh token: connect again",
            field="integration_id",
            code="integration_expired",
        )
    provider = get_provider(runtime.settings, row.provider)
    try:
        tokens = await flow.refresh(runtime, provider, refresh_token, tuple(row.scopes))
    except ProviderError as exc:
        row.status = "refresh_failed"
        row.last_error = str(exc.extra.get("provider_error") or exc.code)[:200]
        await session.flush()
        raise Conflict(
            f"the provider refused to refresh the token ({row.last_error}): connect again",
            field="integration_id",
            code="integration_refresh_failed",
        ) from exc
    _store(runtime, row, tokens)
    row.status = "active"
    row.last_error = None
    row.last_refreshed_at = func.now()
    await session.flush()
    await session.refresh(row)
    return AccessToken(tokens.access_token, tokens.token_type, tokens.expires_at, refreshed=True)
