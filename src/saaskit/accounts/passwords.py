"""argon2id password hashing, off the event loop and bounded.

A hash is CPU- and memory-bound by design (argon2_time_cost passes over argon2_memory_cost_kib
with argon2_parallelism lanes): it runs in a thread of this class's own pool, at most
``hash_concurrency`` at once per process (a semaphore), so a flood of sign-ins queues here,
holding nothing (no database connection, no row lock: the services hash outside their
transactions), instead of starving every other request of CPU and memory.

The pool's threads run at a lower scheduling priority (nice ``HASH_NICENESS``, Linux: per
thread): when the CPU is contended, the event loop and PostgreSQL go first and hashes take the
rest, so a flood of sign-ins slows sign-ins, not every other request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from saaskit.config import AuthSettings

T = TypeVar("T")

HASH_NICENESS = 10


def _lower_priority() -> None:
    """Runs first in each hashing thread: lower its own priority (a thread's nice value on Linux;
    threads argon2 starts inherit it). Where that cannot be done, hashes run at normal priority."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICENESS)


class Passwords:
    def __init__(self, settings: AuthSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        )
        self.concurrency = settings.hash_concurrency
        self._semaphore: asyncio.Semaphore | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="argon2", initializer=_lower_priority
        )
        # Verified against when the e-mail is unknown, so both cases take the same time.
        self._dummy_hash = self._hasher.hash("not a real password, only spends time")

    async def _bounded(self, work: Callable[..., T], *args: str | None) -> T:
        # Created on first use: a semaphore belongs to the event loop it is first awaited on.
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        async with self._semaphore:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

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
