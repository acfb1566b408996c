"""argon2id password hashing, off the event loop and bounded.

A hash is CPU- and memory-bound by design (argon2_time_cost passes over argon2_memory_cost_kib
with argon2_parallelism threads): it runs in a worker thread, and at most ``hash_concurrency``
at once per process (a semaphore), so a flood of sign-ins queues here, holding nothing (no
database connection, no row lock: the services hash outside their transactions), instead of
starving every other request of CPU and memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.concurrency import run_in_threadpool

from saaskit.config import AuthSettings

T = TypeVar("T")


class Passwords:
    def __init__(self, settings: AuthSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        )
        self.concurrency = settings.hash_concurrency
        self._semaphore: asyncio.Semaphore | None = None
        # Verified against when the e-mail is unknown, so both cases take the same time.
        self._dummy_hash = self._hasher.hash("not a real password, only spends time")

    async def _bounded(self, work: Callable[..., T], *args: str | None) -> T:
        # Created on first use: a semaphore belongs to the event loop it is first awaited on.
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        async with self._semaphore:
            return await run_in_threadpool(work, *args)

    async def hash(self, password: str) -> str:
        return await self._bounded(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; an absent hash (unknown e-mail, no password) costs
        the same time and is False."""
        return await self._bounded(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return (
                self._hasher.verify(password_hash or self._dummy_hash, password) and password_hash is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def spend_time(self) -> None:
        await self.verify(None, "x")
