"""Sign-in lockout per account AND source, and the rate limits of the accounts endpoints.

Failed sign-ins lock one source (client IP) out of one account, never the account for everyone
(docs/limits.md): an attacker cannot lock an owner out with ten requests. Credential stuffing
from one address is bounded by the per-IP limit; guessing spread over many addresses by the
per-account limit, which does not apply where the owner signs in from.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.config import RateLimitSettings
from saaskit.kit.state import Runtime
from tests.factories import one
from tests.helpers import error_of, login, signup, with_limits

ATTACKER = "198.51.100.66"
ELSEWHERE = "192.0.2.44"
WRONG = "wrong password!"

FromIp = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def from_ip(client: httpx.AsyncClient) -> FromIp:
    """Another client of the same app (same test transaction) whose requests come from ``ip``."""
    app = client._transport.app  # type: ignore[attr-defined]

    @asynccontextmanager
    async def make(ip: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            yield other

    return make


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert error_of(response)["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1


async def test_failures_from_one_source_do_not_lock_the_owner_out(
    client: httpx.AsyncClient, session: AsyncSession, from_ip: FromIp
) -> None:
    owner = await signup(client)
    async with from_ip(ATTACKER) as attacker:
        for _ in range(10):
            assert (await login(attacker, owner.email, WRONG)).status_code == 401
        # The attacker's address is locked out of this account, even with the right password.
        assert_rate_limited(await login(attacker, owner.email))
        assert_rate_limited(await login(attacker, owner.email, WRONG))
    failures = await one(
        session, "SELECT failed_sign_in_count AS n, locked_until FROM users WHERE id = :u", u=owner.id
    )
    assert failures.n == 10 and failures.locked_until is None
    # The owner signs in from anywhere else: from a new address, and from where they signed up.
    async with from_ip(ELSEWHERE) as elsewhere:
        assert (await login(elsewhere, owner.email)).status_code == 200
    assert (await login(client, owner.email)).status_code == 200
    after = await one(session, "SELECT failed_sign_in_count AS n FROM users WHERE id = :u", u=owner.id)
    assert after.n == 0


async def test_a_success_forgives_the_failures_from_that_source(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    for _ in range(9):
        assert (await login(client, owner.email, WRONG)).status_code == 401
    assert (await login(client, owner.email)).status_code == 200, "9 failures do not lock"
    for _ in range(9):
        assert (await login(client, owner.email, WRONG)).status_code == 401
    assert (await login(client, owner.email)).status_code == 200, "the count started again"


async def test_credential_stuffing_from_one_address_is_stopped_by_the_ip_limit(
    client: httpx.AsyncClient, runtime: Runtime, from_ip: FromIp
) -> None:
    with_limits(runtime, sign_in_per_ip="12/minute;300/hour")
    victims = [await signup(client) for _ in range(3)]
    async with from_ip(ATTACKER) as attacker:
        answers = [
            (await login(attacker, f"someone-{n}@example.com" if n % 2 else victims[n % 3].email, WRONG))
            for n in range(12)
        ]
        assert {a.status_code for a in answers} == {401}
        refused = await login(attacker, victims[0].email)
        assert_rate_limited(refused)
        assert "sign_in_per_ip" in error_of(refused)["message"]
    # Other addresses are not concerned.
    assert (await login(client, victims[1].email)).status_code == 200


async def test_the_default_ip_limit_stops_a_stuffing_run(
    client: httpx.AsyncClient, runtime: Runtime, from_ip: FromIp
) -> None:
    # The default is 30 a minute (and 300 an hour). 31 sign-ins, each hashing a password, can
    # take more than a minute on a loaded machine, and the window would then let the 31st in:
    # the run uses the default's count over an hour, the same code path, whatever the pace.
    assert RateLimitSettings().sign_in_per_ip == "30/minute;300/hour"
    with_limits(runtime, sign_in_per_ip="30/hour")
    async with from_ip(ATTACKER) as attacker:
        codes = [(await login(attacker, f"list-{n}@example.com", WRONG)).status_code for n in range(31)]
    assert codes[:30] == [401] * 30
    assert codes[30] == 429


async def test_guessing_spread_over_many_addresses_meets_the_account_limit(
    client: httpx.AsyncClient, runtime: Runtime, from_ip: FromIp
) -> None:
    with_limits(runtime, sign_in_per_account="4/hour")
    owner = await signup(client)  # signed up from the client's address: a source it is known from
    for n in range(4):
        async with from_ip(f"198.51.100.{n + 1}") as attacker:
            assert (await login(attacker, owner.email, WRONG)).status_code == 401
    async with from_ip("198.51.100.99") as attacker:
        assert_rate_limited(await login(attacker, owner.email, WRONG))
        # Addresses without an account are limited the same way: no answer tells them apart.
        for _ in range(4):
            assert (await login(attacker, "ghost@example.com", WRONG)).status_code == 401
        assert_rate_limited(await login(attacker, "ghost@example.com", WRONG))
    # The owner, from the address they signed up from, is not concerned.
    assert (await login(client, owner.email)).status_code == 200


async def test_sign_up_is_limited_by_ip_and_by_email(
    committed_client: httpx.AsyncClient, fresh_runtime: Runtime
) -> None:
    with_limits(fresh_runtime, sign_up_per_ip="4/hour", sign_up_per_email="2/hour")
    taken = await signup(committed_client)
    again = await committed_client.post(
        "/api/auth/signup", json={"email": taken.email, "password": "quartz meadow lantern"}
    )
    assert again.status_code == 409
    assert_rate_limited(
        await committed_client.post(
            "/api/auth/signup", json={"email": taken.email, "password": "quartz meadow lantern"}
        )
    )
    await signup(committed_client)
    refused = await committed_client.post(
        "/api/auth/signup", json={"email": "fifth@example.com", "password": "quartz meadow lantern"}
    )
    assert_rate_limited(refused)
    assert "sign_up_per_ip" in error_of(refused)["message"]


async def test_password_change_is_limited_by_ip_and_by_user(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    with_limits(runtime, password_change_per_user="2/hour", password_change_per_ip="30/hour")
    user = await signup(client)
    for _ in range(2):
        wrong = await client.post(
            "/api/me/password",
            headers=user.headers,
            json={"current_password": WRONG, "new_password": "a brand new password"},
        )
        assert wrong.status_code == 403
    refused = await client.post(
        "/api/me/password",
        headers=user.headers,
        json={"current_password": "correct horse battery", "new_password": "a brand new password"},
    )
    assert_rate_limited(refused)
    with_limits(runtime, password_change_per_ip="1/hour")
    other = await signup(client)
    body = {"current_password": "correct horse battery", "new_password": "another new password"}
    assert (await client.post("/api/me/password", headers=other.headers, json=body)).status_code == 200
    body = {"current_password": "another new password", "new_password": "a third new password"}
    assert_rate_limited(await client.post("/api/me/password", headers=other.headers, json=body))
