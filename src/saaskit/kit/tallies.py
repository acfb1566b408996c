"""Per-source, per-minute tallies for the API-abuse rules (trust/api_abuse.py, docs/trust.md):
failed sign-ins per client IP hash and e-mail hash, rate-limit refusals per limit and identity,
events accepted and rejected per ingestion key.

The places that count are hot paths (the capture endpoint, a limiter refusing a flood), so
``add`` is a dictionary increment, no I/O; the request that finds the buffer due (every
``sync_seconds``, the rate limiter's interval, one second by default) writes everything counted
since in ONE call of ``app_trust_tally`` (trust/sql/tallies.sql) on an autocommit connection. A
process writes at most one round trip per interval whatever the traffic. The buffer is bounded
(``MAX_KEYS`` distinct keys: past it, the next ``add`` forces a write), and a failed write keeps
the counts for the next one. What a process counted in its last interval is lost if it dies: the
rules look at windows of minutes to hours, so a second's counts do not change them.

Only hashes and ids are counted (the callers pass them): never a raw IP, e-mail or key."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

from saaskit.kit.db import Database
from saaskit.kit.state import Runtime

logger = logging.getLogger(__name__)

SIGN_IN_FAILED = "sign_in_failed"
RATE_LIMITED = "rate_limited"
INGEST_ACCEPTED = "ingest_accepted"
INGEST_REJECTED = "ingest_rejected"
MAX_KEYS = 10_000
TALLY_SQL = (
    "SELECT app_trust_tally(%s::text[], %s::text[], %s::text[], %s::uuid[], %s::timestamptz[], %s::bigint[])"
)

Key = tuple[str, str, str, int]  # kind, source, subject, epoch minute


class Tallies:
    """One process's buffer of counts, written every ``sync_seconds`` at most."""

    def __init__(self, db: Callable[[], Database], sync_seconds: float) -> None:
        self._db = db
        self.sync_seconds = sync_seconds
        self._counts: dict[Key, int] = {}
        self._users: dict[Key, uuid.UUID] = {}
        self._next_write = time.monotonic() + sync_seconds
        self._writing = False

    def add(
        self, kind: str, source: str, subject: str = "", *, user_id: uuid.UUID | None = None, count: int = 1
    ) -> None:
        """Count ``count`` for (kind, source, subject) in the current minute. No I/O."""
        if not source or count <= 0:
            return
        key = (kind, source, subject, int(time.time() // 60))
        self._counts[key] = self._counts.get(key, 0) + count
        if user_id is not None:
            self._users[key] = user_id

    def due(self) -> bool:
        if self._writing or not self._counts:
            return False
        return len(self._counts) >= MAX_KEYS or time.monotonic() >= self._next_write

    async def write_if_due(self) -> None:
        if self.due():
            await self.write()

    async def count(
        self, kind: str, source: str, subject: str = "", *, user_id: uuid.UUID | None = None, count: int = 1
    ) -> None:
        """``add``, then the write when one is due: what every recording site does."""
        self.add(kind, source, subject, user_id=user_id, count=count)
        await self.write_if_due()

    async def write(self) -> int:
        """Write what was counted since the last write; returns the rows written (0 on failure:
        the counts are kept for the next try)."""
        if self._writing or not self._counts:
            return 0
        self._writing = True
        self._next_write = time.monotonic() + self.sync_seconds
        counts, self._counts = self._counts, {}
        users, self._users = self._users, {}
        try:
            keys = list(counts)
            params = (
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
                [users.get(k) for k in keys],
                [datetime.fromtimestamp(k[3] * 60, UTC) for k in keys],
                [counts[k] for k in keys],
            )
            async with self._db().autocommit() as connection:
                row = await (await connection.execute(TALLY_SQL, params)).fetchone()
            return cast("int", row[0]) if row and row[0] is not None else 0
        except Exception:
            logger.warning("trust tallies: could not write the counts; keeping them", exc_info=True)
            if len(self._counts) < MAX_KEYS:
                for key, n in counts.items():
                    self._counts[key] = self._counts.get(key, 0) + n
                for key, user in users.items():
                    self._users.setdefault(key, user)
            return 0
        finally:
            self._writing = False


def tallies_of(runtime: Runtime) -> Tallies:
    """The runtime's buffer (one per process), made on first use."""
    found = runtime.extras.get("trust_tallies")
    if not isinstance(found, Tallies):
        found = Tallies(lambda: runtime.db, runtime.settings.rate_limit.sync_seconds)
        runtime.extras["trust_tallies"] = found
    return found
