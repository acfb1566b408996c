"""Rate limits: how often one caller may do one thing, counted for all API processes together.

The counting is the ``limits`` library's sliding window counter strategy
(``limits.aio.strategies.SlidingWindowCounterRateLimiter``): a key's count is its hits in the
current window plus those of the previous window weighted by how much of it still overlaps the
last window length. Its storage is PostgreSQL, which every process of ``saaskit serve --workers
N`` (and every host) already shares, the embedded server included:

- ``PostgresStorage`` (sign-in, sign-up, passwords, invitations): one round trip per hit, to
  ``app_rate_limit_acquire()``, which checks and counts in one atomic upsert. Exact: ten allowed
  means ten, whatever the number of processes.
- ``BufferedPostgresStorage`` (capture, ``/api/events*``, track-visit: the hot paths): decides in
  process from the counts it last read plus its own hits since, and writes its hits and reads
  everyone's with one ``app_rate_limit_add()`` call at most every ``sync_seconds``, made by the
  request that finds it due. No round trip on the other requests; the price is that N processes
  may together admit up to N x (one sync interval of traffic) past a limit, which generous limits
  on ingestion can afford.

The counters live in ``rate_limit_counters``, an UNLOGGED table (not written to the WAL: cheap;
emptied by a crash, which forgets only recent counts). The application role reaches it only
through those SECURITY DEFINER functions (``kit/sql/ratelimit.sql``).

Endpoints declare a limit in one line, by a name from ``RateLimitSettings``::

    @router.post("/auth/signup", dependencies=[rate_limit("sign_up_per_ip")])
    @router.post("/me/password", dependencies=[rate_limit("password_change_per_user", by=user_key)])

``by`` is a dependency returning the caller's identity (the hashed client IP by default; None:
not limited). Code that knows the identity only later (the e-mail of a sign-in) calls
``limiter_of(runtime).hit(name, identity)``. A refusal is ``RateLimited``: 429, code
``rate_limited``, with ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from fastapi import Depends, Request
from limits import RateLimitItem, RateLimitItemPerMinute, parse_many
from limits.aio.storage import Storage
from limits.aio.storage.base import SlidingWindowCounterSupport
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from sqlalchemy import BigInteger, DateTime, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.config import RateLimitSettings, Settings
from saaskit.kit.db import Database
from saaskit.kit.deps import Client, runtime_of
from saaskit.kit.errors import TooManyRequests
from saaskit.kit.models import Base
from saaskit.kit.state import Runtime
from saaskit.kit.tallies import RATE_LIMITED, Tallies, tallies_of

logger = logging.getLogger(__name__)

# The (account, source) lockout: its figures are the auth settings lockout_threshold/_minutes.
LOCKOUT = "sign_in_lockout"
# Limits counted by the buffered storage (no round trip per request).
BUFFERED = frozenset(
    {"capture_per_ip", "capture_per_key", "track_visit_per_ip", "track_visit_per_key", "api_key"}
)
NAMES = frozenset(
    {name for name, field in RateLimitSettings.model_fields.items() if field.annotation in (str, "str")}
    | {LOCKOUT}
)


class RateLimitCounter(Base):
    __tablename__ = "rate_limit_counters"
    __table_args__ = {  # noqa: RUF012 - read once by SQLAlchemy
        "prefixes": ("UNLOGGED",),
        "comment": "Rate-limit counts of the sliding window counter (kit/ratelimit.py): one row per limited "
        "key with its current and previous window's hits. UNLOGGED: a crash empties it. Reached only "
        "through the app_rate_limit_* functions (row-level security, no policy).",
    }

    key: Mapped[str] = mapped_column(
        Text,
        primary_key=True,
        comment="What is limited and for whom: the limit's name, the caller's identity (a keyed hash of "
        "the client IP or e-mail, a user or organization id) and the limit, e.g. "
        "LIMITER/sign_in_per_ip/<hash>/30/1/minute.",
    )
    window_seconds: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Length of a window, in seconds."
    )
    window_index: Mapped[int] = mapped_column(
        BigInteger,
        nullable=False,
        comment="The current window: epoch seconds divided by window_seconds, rounded down.",
    )
    previous_count: Mapped[int] = mapped_column(
        BigInteger, nullable=False, comment="Hits counted in the window before window_index."
    )
    current_count: Mapped[int] = mapped_column(
        BigInteger, nullable=False, comment="Hits counted in window window_index so far."
    )
    expires_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        index=True,
        comment="When these counts stop mattering (end of the window after the current one, UTC); the "
        "hourly job deletes rows past it.",
    )


ACQUIRE_SQL = "SELECT app_rate_limit_acquire(%s, %s, %s, %s)"
WINDOW_SQL = "SELECT * FROM app_rate_limit_window(%s, %s)"
ADD_SQL = "SELECT * FROM app_rate_limit_add(%s::text[], %s::bigint[], %s::integer[], %s::integer[])"
CLEAR_SQL = "SELECT app_rate_limit_clear(%s)"
PURGE_SQL = "SELECT app_rate_limit_purge()"


class _PostgresBase(Storage, SlidingWindowCounterSupport):
    """What both storages share. ``db`` is called for each use (tests swap a runtime's database).
    Only the sliding window counter is offered: the fixed-window methods are not implemented."""

    STORAGE_SCHEME = None

    def __init__(self, db: Callable[[], Database]) -> None:
        super().__init__()
        self._db = db

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return Exception

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("saaskit's rate-limit storages implement the sliding window counter only")

    async def get(self, key: str) -> int:
        raise NotImplementedError("saaskit's rate-limit storages implement the sliding window counter only")

    async def get_expiry(self, key: str) -> float:
        raise NotImplementedError("saaskit's rate-limit storages implement the sliding window counter only")

    async def check(self) -> bool:
        async with self._db().autocommit() as connection:
            await connection.execute("SELECT 1")
        return True

    async def reset(self) -> int | None:
        raise NotImplementedError("counters are forgotten one key at a time (clear), or when they expire")

    async def clear(self, key: str) -> None:
        async with self._db().autocommit() as connection:
            await connection.execute(CLEAR_SQL, (key,))

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        await self.clear(key)


class PostgresStorage(_PostgresBase):
    """Exact: every hit is one call of ``app_rate_limit_acquire`` (check and count, atomic)."""

    async def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        async with self._db().autocommit() as connection:
            row = await (await connection.execute(ACQUIRE_SQL, (key, limit, expiry, amount))).fetchone()
        return bool(row and row[0])

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        async with self._db().autocommit() as connection:
            row = await (await connection.execute(WINDOW_SQL, (key, expiry))).fetchone()
        assert row is not None
        previous, previous_ttl, current, current_ttl = cast("tuple[int, float, int, float]", row)
        return int(previous), float(previous_ttl), int(current), float(current_ttl)


class BufferedPostgresStorage(_PostgresBase):
    """For the hot paths: decides in process, and every ``sync_seconds`` at most, writes the hits
    it admitted and reads everyone's counts of the keys it used, in one round trip."""

    def __init__(self, db: Callable[[], Database], sync_seconds: float) -> None:
        super().__init__(db)
        self.sync_seconds = sync_seconds
        self._known: dict[tuple[str, int], int] = {}  # (key, window): all processes' count, last read
        self._pending: dict[tuple[str, int], int] = {}  # (key, window): admitted here, not written yet
        self._seconds: dict[str, int] = {}  # key: its window length
        self._touched: set[str] = set()  # keys used since the last sync
        self._next_sync = 0.0
        self._syncing = False

    def _count(self, key: str, window: int) -> int:
        return self._known.get((key, window), 0) + self._pending.get((key, window), 0)

    def _window(self, key: str, expiry: int, now: float) -> tuple[int, float]:
        self._seconds[key] = expiry
        self._touched.add(key)
        at = now / expiry
        window = int(at)
        return window, at - window

    async def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        admitted = self.decide(key, limit, expiry, amount)
        if self.sync_due():
            await self.sync()
        return admitted

    def decide(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """``acquire_sliding_window_entry`` without its sync: plain code, no coroutine (the
        limiter's hot path calls it and then ``sync`` when ``sync_due``)."""
        if amount > limit:
            return False
        window, elapsed = self._window(key, expiry, time.time())
        weighted = self._count(key, window - 1) * (1 - elapsed) + self._count(key, window)
        admitted = math.floor(weighted) + amount <= limit
        if admitted:
            self._pending[(key, window)] = self._pending.get((key, window), 0) + amount
        return admitted

    def sync_due(self) -> bool:
        return not self._syncing and time.monotonic() >= self._next_sync

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        window, elapsed = self._window(key, expiry, time.time())
        previous, current = self._count(key, window - 1), self._count(key, window)
        previous_ttl = (1 - elapsed) * expiry if previous else 0.0
        return previous, previous_ttl, current, (1 - elapsed) * expiry + expiry

    async def clear(self, key: str) -> None:
        for table in (self._known, self._pending):
            for entry in [e for e in table if e[0] == key]:
                del table[entry]
        await super().clear(key)

    async def sync(self) -> None:
        """Write the hits admitted since the last sync; read the counts of every key used since
        and of every key whose counts still matter."""
        self._syncing = True
        self._next_sync = time.monotonic() + self.sync_seconds
        pending, self._pending = self._pending, {}
        touched, self._touched = self._touched, set()
        try:
            now = time.time()
            # One row per key and call (an upsert may not touch a row twice): a key with hits in
            # two windows (the window turned since the last sync) goes in two calls, oldest first.
            calls: list[dict[str, tuple[int, int]]] = [{}]
            for (key, window), amount in sorted(pending.items(), key=lambda item: item[0][1]):
                call = next((c for c in calls if key not in c), None)
                if call is None:
                    call = {}
                    calls.append(call)
                call[key] = (window, amount)
            # Read the keys used since the last sync, and those still counting from before.
            for key in touched | {key for key, _ in self._known}:
                if not any(key in call for call in calls):
                    calls[0][key] = (int(now / self._seconds[key]), 0)
            async with self._db().autocommit() as connection:
                for call in calls:
                    if not call:
                        continue
                    keys = list(call)
                    cursor = await connection.execute(
                        ADD_SQL,
                        (
                            keys,
                            [call[k][0] for k in keys],
                            [self._seconds[k] for k in keys],
                            [call[k][1] for k in keys],
                        ),
                    )
                    for row in await cursor.fetchall():
                        key, window, previous, current = cast("tuple[str, int, int, int]", row)
                        self._known[(key, window)] = current
                        self._known[(key, window - 1)] = previous
            # Forget what no longer counts: windows before the previous one.
            for key, window in list(self._known):
                seconds = self._seconds.get(key)
                if seconds is None or window < int(now / seconds) - 1:
                    del self._known[(key, window)]
        except Exception:
            logger.warning("rate limits: could not write the counts; deciding alone meanwhile", exc_info=True)
            for entry, amount in pending.items():
                self._pending[entry] = self._pending.get(entry, 0) + amount
            self._touched |= touched
        finally:
            self._syncing = False


class RateLimited(TooManyRequests):
    code = "rate_limited"

    def __init__(self, name: str, item: RateLimitItem, retry_after: int) -> None:
        super().__init__(
            f"too many requests: at most {item} ({name}); retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
        self.name = name
        self.retry_after = retry_after


class RateLimiter:
    """The named limits of ``RateLimitSettings`` (and the sign-in lockout), each on its storage."""

    def __init__(
        self, settings: Settings, db: Callable[[], Database], tallies: Tallies | None = None
    ) -> None:
        self.settings = settings
        # Refusals are counted per limit and identity for the API-abuse rules (docs/trust.md).
        self.tallies = tallies or Tallies(db, settings.rate_limit.sync_seconds)
        self.enabled = settings.rate_limit.enabled
        self.storage = PostgresStorage(db)
        self.buffered = BufferedPostgresStorage(db, settings.rate_limit.sync_seconds)
        self._exact = SlidingWindowCounterRateLimiter(self.storage)
        self._fast = SlidingWindowCounterRateLimiter(self.buffered)
        self._items: dict[str, list[RateLimitItem]] = {}
        self._keys: dict[tuple[str, ...], list[tuple[RateLimitItem, str, int]]] = {}

    def items(self, name: str) -> list[RateLimitItem]:
        items = self._items.get(name)
        if items is None:
            if name == LOCKOUT:
                auth = self.settings.auth
                items = [RateLimitItemPerMinute(auth.lockout_threshold, auth.lockout_minutes)]
            else:
                items = parse_many(getattr(self.settings.rate_limit, name))
            self._items[name] = items
        return items

    def _strategy(self, name: str) -> SlidingWindowCounterRateLimiter:
        return self._fast if name in BUFFERED else self._exact

    async def hit(self, name: str, *identity: str, cost: int = 1) -> None:
        """Count one hit of ``name`` for ``identity``; ``RateLimited`` when a limit is reached
        (then nothing more is counted)."""
        if not self.enabled:
            return
        if name in BUFFERED:
            await self._hit_buffered(name, identity, cost)
            return
        for item in self.items(name):
            if not await self._exact.hit(item, name, *identity, cost=cost):
                await self._refuse(self._exact, name, item, identity)

    async def hit_at_rate(self, name: str, per_minute: int | None, *identity: str) -> None:
        """``hit`` at the caller's own rate (an API key's ``rate_limit_per_minute``) when one is
        given, else at the setting's; counted like the buffered limits (one hit, no round trip)."""
        if per_minute is None:
            await self.hit(name, *identity)
            return
        if not self.enabled:
            return
        item = RateLimitItemPerMinute(per_minute)
        if not self.buffered.decide(item.key_for(name, *identity), item.amount, item.get_expiry()):
            await self._refuse(self._fast, name, item, identity)
        if self.buffered.sync_due():
            await self.buffered.sync()

    async def _hit_buffered(self, name: str, identity: tuple[str, ...], cost: int) -> None:
        """The hot path: what ``SlidingWindowCounterRateLimiter.hit`` does (the item's key, then
        the storage's acquire), with the keys kept from one request to the next and the decision
        made without a coroutine: a few microseconds per hit (benchmarks/ratelimit.py)."""
        entries = self._keys.get((name, *identity))
        if entries is None:
            if len(self._keys) >= 100_000:
                self._keys.clear()
            entries = [(item, item.key_for(name, *identity), item.get_expiry()) for item in self.items(name)]
            self._keys[(name, *identity)] = entries
        storage = self.buffered
        for item, key, expiry in entries:
            if not storage.decide(key, item.amount, expiry, cost):
                await self._refuse(self._fast, name, item, identity)
        if storage.sync_due():
            await storage.sync()

    async def _refuse(
        self,
        strategy: SlidingWindowCounterRateLimiter,
        name: str,
        item: RateLimitItem,
        identity: tuple[str, ...],
    ) -> None:
        # A dictionary increment; the buffer is written at most once per interval (kit/tallies.py).
        await self.tallies.count(RATE_LIMITED, "/".join(identity), name)
        stats = await strategy.get_window_stats(item, name, *identity)
        raise RateLimited(name, item, max(1, math.ceil(stats.reset_time - time.time())))

    async def clear(self, name: str, *identity: str) -> None:
        """Forget ``identity``'s hits of ``name`` (a successful sign-in forgives the failures)."""
        if not self.enabled:
            return
        strategy = self._strategy(name)
        for item in self.items(name):
            await strategy.clear(item, name, *identity)


def limiter_of(runtime: Runtime) -> RateLimiter:
    limiter = runtime.extras.get("rate_limiter")
    if not isinstance(limiter, RateLimiter):
        limiter = RateLimiter(runtime.settings, lambda: runtime.db, tallies_of(runtime))
        runtime.extras["rate_limiter"] = limiter
    return limiter


async def purge(runtime: Runtime) -> int:
    """Delete the counters whose windows are over (the hourly job)."""
    async with runtime.db.autocommit() as connection:
        row = await (await connection.execute(PURGE_SQL)).fetchone()
    return cast("int", row[0]) if row else 0


# -- FastAPI -----------------------------------------------------------------------------------
async def client_ip_key(request: Request) -> str:
    """The caller's client IP (behind trusted proxies: the forwarded one), as its keyed hash."""
    return Client(request, runtime_of(request)).ip_hash


Identity = Callable[..., Awaitable[str | None]]


def rate_limit(name: str, by: Identity = client_ip_key, *, cost: int = 1) -> Any:
    """A dependency counting one hit of limit ``name`` for the identity ``by`` gives (a dependency
    itself: the hashed client IP by default; None exempts the request); 429 past the limit."""
    if name not in NAMES:
        raise ValueError(f"no rate limit named {name!r}: add it to RateLimitSettings")

    # A default, not Annotated[...]: annotations are strings here (PEP 563), and FastAPI could
    # not resolve ``by``, a local name, from one.
    async def check(request: Request, identity: str | None = Depends(by)) -> None:
        if identity is not None:
            await limiter_of(runtime_of(request)).hit(name, identity, cost=cost)

    check.__name__ = f"rate_limit_{name}"
    return Depends(check)
