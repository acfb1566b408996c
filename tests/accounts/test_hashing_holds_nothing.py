"""Password hashing holds no database connection and no row lock, and runs a bounded number at
a time: a flood of sign-ins must not take the connections and CPU every other request needs.

Each scenario stops a request inside its hash (a gate in the hasher's thread) and looks at the
database from outside meanwhile: no connection of the server may sit in an open transaction,
and the account's row must be lockable at once.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import psycopg
import pytest

from saaskit.accounts.passwords import HASH_NICENESS, Passwords
from saaskit.config import AuthSettings
from saaskit.kit.db import libpq_url
from saaskit.kit.state import Runtime
from tests.conftest import DbUnderTest
from tests.helpers import DEFAULT_PASSWORD, SignedUp, login, signup

CHEAP = {"argon2_time_cost": 1, "argon2_memory_cost_kib": 64, "argon2_parallelism": 1}


class GatedPasswords(Passwords):
    """Every hash and verify waits at a gate (in its worker thread) until the test opens it."""

    def __init__(self) -> None:
        super().__init__(AuthSettings(**CHEAP))  # type: ignore[arg-type]
        self.entered = threading.Event()
        self.gate = threading.Event()

    def _wait(self) -> None:
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"

    def _verify(self, password_hash: str | None, password: str) -> bool:
        self._wait()
        return super()._verify(password_hash, password)

    async def hash(self, password: str) -> str:
        await asyncio.to_thread(self._wait)
        return await super().hash(password)


async def held_elsewhere(owner_url: str, user_id: Any) -> tuple[int, bool]:
    """(connections idle in an open transaction, whether the user's row is locked by someone)."""
    async with await psycopg.AsyncConnection.connect(libpq_url(owner_url), autocommit=True) as conn:
        row = await (
            await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            )
        ).fetchone()
        idle_in_transaction = int(row[0]) if row else 0
        locked = False
        if user_id is not None:
            try:
                async with conn.transaction():
                    await conn.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE NOWAIT", (user_id,))
            except psycopg.errors.LockNotAvailable:
                locked = True
    return idle_in_transaction, locked


Scenario = Callable[[httpx.AsyncClient, SignedUp], Awaitable[httpx.Response]]


async def _sign_in_wrong(http: httpx.AsyncClient, user: SignedUp) -> httpx.Response:
    return await login(http, user.email, "not the password")


async def _sign_in_right(http: httpx.AsyncClient, user: SignedUp) -> httpx.Response:
    return await login(http, user.email)


async def _sign_in_unknown(http: httpx.AsyncClient, user: SignedUp) -> httpx.Response:
    return await login(http, "nobody-at-all@example.com", "not the password")


async def _sign_up(http: httpx.AsyncClient, user: SignedUp) -> httpx.Response:
    return await http.post(
        "/api/auth/signup", json={"email": "newcomer@example.com", "password": "quartz meadow lantern"}
    )


async def _change_password(http: httpx.AsyncClient, user: SignedUp) -> httpx.Response:
    return await http.post(
        "/api/me/password",
        headers=user.headers,
        json={"current_password": DEFAULT_PASSWORD, "new_password": "a brand new password"},
    )


SCENARIOS: dict[str, tuple[Scenario, int]] = {
    "sign-in, wrong password": (_sign_in_wrong, 401),
    "sign-in, right password": (_sign_in_right, 200),
    "sign-in, unknown e-mail": (_sign_in_unknown, 401),
    "sign-up": (_sign_up, 201),
    "password change": (_change_password, 200),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_no_connection_or_row_lock_is_held_while_hashing(
    name: str, committed_client: httpx.AsyncClient, fresh_runtime: Runtime, fresh_database: DbUnderTest
) -> None:
    scenario, expected = SCENARIOS[name]
    user = await signup(committed_client)
    gated = GatedPasswords()
    fresh_runtime.passwords = gated
    request = asyncio.create_task(scenario(committed_client, user))
    try:
        assert await asyncio.to_thread(gated.entered.wait, 30), "the request never reached a hash"
        idle_in_transaction, locked = await held_elsewhere(fresh_database.owner_url, user.id)
    finally:
        gated.gate.set()
        response = await request
    assert response.status_code == expected, response.text
    assert idle_in_transaction == 0, "a connection sat in an open transaction during the hash"
    assert not locked, "the account's row was locked during the hash"


async def test_hashing_runs_a_bounded_number_at_a_time() -> None:
    class Counting(Passwords):
        def __init__(self) -> None:
            super().__init__(AuthSettings(**CHEAP, hash_concurrency=2))  # type: ignore[arg-type]
            self.lock = threading.Lock()
            self.running = 0
            self.most = 0

        def _verify(self, password_hash: str | None, password: str) -> bool:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
            time.sleep(0.05)
            with self.lock:
                self.running -= 1
            return super()._verify(password_hash, password)

    passwords = Counting()
    stored = await passwords.hash("a password of ours")
    results = await asyncio.gather(*(passwords.verify(stored, "a password of ours") for _ in range(12)))
    assert all(results)
    assert passwords.most == 2
    assert not await passwords.verify(None, "anything"), "no hash (unknown e-mail): false, same cost"


async def test_hashes_run_at_a_lower_priority_than_the_rest() -> None:
    class Observed(Passwords):
        niceness: int | None = None

        def _verify(self, password_hash: str | None, password: str) -> bool:
            Observed.niceness = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            return super()._verify(password_hash, password)

    await Observed(AuthSettings(**CHEAP)).verify(None, "x")  # type: ignore[arg-type]
    assert Observed.niceness == os.getpriority(os.PRIO_PROCESS, 0) + HASH_NICENESS
