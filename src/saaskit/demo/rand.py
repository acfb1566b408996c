"""Deterministic randomness and the shapes of time (growth, weekdays, hours of the day).

Each table (and each chunk of a big table) draws from its own ``random.Random`` seeded from the
run's seed and a label, so the tables do not depend on the order in which they are generated,
nor on how chunks are spread over worker processes. Only ``random()`` and ``getrandbits()`` are
used: their sequences are stable across CPython versions for a given seed.
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate

from saaskit.demo.config import DAY_US, HOUR_US

# Relative traffic per UTC hour: quiet nights, a daytime plateau (Europe, then the Americas).
HOURLY = (
    2.0,
    1.5,
    1.2,
    1.0,
    1.0,
    1.2,
    1.8,
    2.8,
    4.0,
    5.0,
    5.6,
    6.0,
    6.2,
    6.5,
    6.8,
    7.0,
    7.0,
    6.6,
    6.0,
    5.2,
    4.4,
    3.6,
    3.0,
    2.5,
)
# Monday .. Sunday: weekends are quieter for a work-time product.
WEEKDAY = (1.0, 1.04, 1.05, 1.02, 0.94, 0.7, 0.66)
GROWTH = math.log(4.0)  # sign-ups at the end of the span run at 4x the rate of its start


def rng_for(seed: int, *labels: object) -> random.Random:
    digest = hashlib.sha256(repr((seed, *labels)).encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def new_uuid(rng: random.Random) -> uuid.UUID:
    """A version-4-shaped UUID drawn from ``rng``."""
    value = rng.getrandbits(128)
    value = (value & ~(0xF << 76)) | (0x4 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return uuid.UUID(int=value)


def fake_hash(seed: int, purpose: str, value: object) -> str:
    """Stands for a salted HMAC-SHA-256 (hex): no raw IP or device id exists to hash."""
    return hashlib.sha256(f"{seed}:{purpose}:{value}".encode()).hexdigest()


def token(seed: int, purpose: str, value: object, length: int = 24) -> str:
    """A Stripe-like id body: lower-case letters and digits."""
    digest = hashlib.sha256(f"{seed}:{purpose}:{value}".encode()).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    number = int.from_bytes(digest, "big")
    out = []
    for _ in range(length):
        number, index = divmod(number, 36)
        out.append(alphabet[index])
    return "".join(out)


def weighted(rng: random.Random, cumulative: Sequence[float]) -> int:
    """Index drawn with the weights whose running sum is ``cumulative``."""
    return bisect_right(cumulative, rng.random() * cumulative[-1])


def cumulative(weights: Sequence[float]) -> list[float]:
    return list(accumulate(weights))


def split_counts(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` shared in proportion to ``weights`` (largest remainder): exact, deterministic."""
    mass = sum(weights)
    if total <= 0 or mass <= 0:
        return [0] * len(weights)
    shares = [total * w / mass for w in weights]
    counts = [int(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: (counts[i] - shares[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def day_of(us: int, start_us: int) -> int:
    return (us - start_us) // DAY_US


def weekday_factor(day: date) -> float:
    return WEEKDAY[day.weekday()]


class DaySampler:
    """Instants within one UTC day, following ``HOURLY`` and ending before ``end_us``."""

    def __init__(self, day_start_us: int, end_us: int) -> None:
        self.starts: list[int] = []
        self.lengths: list[int] = []
        weights: list[float] = []
        for hour, weight in enumerate(HOURLY):
            lo = day_start_us + hour * HOUR_US
            hi = min(lo + HOUR_US, end_us)
            if hi <= lo:
                break
            self.starts.append(lo)
            self.lengths.append(hi - lo)
            weights.append(weight * (hi - lo) / HOUR_US)
        self.cumulative = cumulative(weights)

    @property
    def mass(self) -> float:
        """The day's share of a full day's traffic (less than 1 for the running day)."""
        return self.cumulative[-1] / sum(HOURLY) if self.cumulative else 0.0

    def draw(self, rng: random.Random) -> int:
        hour = weighted(rng, self.cumulative)
        return self.starts[hour] + int(rng.random() * self.lengths[hour])

    def sorted_draws(self, rng: random.Random, count: int) -> list[int]:
        """``count`` instants in time order, for the big tables: the day's rows are shared out
        over its hours (each hour's weight jittered by +-15%, so no two days look alike), then
        drawn uniformly within each hour. Cheaper than ``draw`` per row: one random number and
        a sort of each hour's few thousand values."""
        if not self.starts:
            return []
        weights = [w * (0.85 + 0.3 * rng.random()) for w in _increments(self.cumulative)]
        out: list[int] = []
        rnd = rng.random
        for start, length, share in zip(self.starts, self.lengths, split_counts(count, weights), strict=True):
            out.extend(sorted(start + int(rnd() * length) for _ in range(share)))
        return out


def _increments(running: list[float]) -> list[float]:
    return [b - a for a, b in zip([0.0, *running[:-1]], running, strict=True)]


def day_samplers(start_us: int, now_us: int) -> list[DaySampler]:
    count = (now_us - start_us + DAY_US - 1) // DAY_US
    return [DaySampler(start_us + d * DAY_US, now_us) for d in range(count)]


def day_date(start_us: int, index: int) -> date:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=start_us)).date() + timedelta(
        days=index
    )
