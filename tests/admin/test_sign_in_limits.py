"""The admin sign-in form shares the API's sign-in limits (docs/limits.md): the per-IP limit
and the lockout per account and source; a refusal is a 429 page saying when to retry."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.state import Runtime
from tests.admin.conftest import form_sign_in
from tests.factories import make_admin
from tests.helpers import with_limits


async def test_the_admin_form_is_limited_per_ip(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    with_limits(runtime, sign_in_per_ip="2/minute")
    admin = await make_admin(client, session)
    assert (await form_sign_in(client, admin.email, "not the password")).status_code == 401
    assert (await form_sign_in(client, admin.email, "not the password")).status_code == 401
    refused = await form_sign_in(client, admin.email)
    assert refused.status_code == 429
    assert "sign_in_per_ip" in refused.text and "retry in" in refused.text


async def test_the_admin_form_meets_the_lockout(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    admin = await make_admin(client, session)
    for _ in range(10):
        assert (await form_sign_in(client, admin.email, "not the password")).status_code == 401
    locked = await form_sign_in(client, admin.email)
    assert locked.status_code == 429 and "sign_in_lockout" in locked.text
