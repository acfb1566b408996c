"""What a signed-in account whose e-mail address is not verified may do:
``SAASKIT_AUTH_UNVERIFIED_ACCESS`` (docs/accounts.md, "E-mail verification").

- ``full`` (the default): everything; the API shows ``email_verified`` for the product to nag.
- ``read_only``: reading (GET, HEAD, OPTIONS), and the requests in ``ALWAYS_ALLOWED``.
- ``none``: only the requests in ``ALWAYS_ALLOWED``: seeing oneself, getting verified, fixing the
  address, and managing one's sign-in.

Checked where the current user is loaded (``dependencies.optional_principal``), so that every
endpoint that needs a signed-in user is covered. Platform admins are never restricted. The
check costs one primary-key read of ``users``, made only when the setting restricts and the
request is not allowed anyway (under ``read_only``, only state-changing requests pay it).
"""

from __future__ import annotations

import uuid

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.kit.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# (method, route path): what an unverified account may always do.
ALWAYS_ALLOWED = frozenset(
    {
        ("GET", "/api/me"),
        ("POST", "/api/auth/logout"),
        ("POST", "/api/me/email-verification"),
        ("POST", "/api/me/email"),
        ("POST", "/api/me/password"),
        ("GET", "/api/me/sessions"),
        ("DELETE", "/api/me/sessions/{session_id}"),
    }
)


def _route_path(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else request.url.path


async def enforce(
    request: Request, session: AsyncSession, policy: str, *, user_id: uuid.UUID, role: str
) -> None:
    """403 ``email_unverified`` when ``policy`` forbids this request to an unverified account."""
    if policy == "full" or role == "admin":
        return
    if (request.method, _route_path(request)) in ALWAYS_ALLOWED:
        return
    if policy == "read_only" and request.method in SAFE_METHODS:
        return
    verified = await session.scalar(select(User.email_verified).where(User.id == user_id))
    if verified:
        return
    what = "change anything" if policy == "read_only" else "use this"
    raise Forbidden(
        f"confirm your e-mail address before you {what}: open the link we sent you "
        "(POST /api/me/email-verification sends a new one)",
        code="email_unverified",
    )
