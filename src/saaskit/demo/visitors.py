"""Anonymous visitor sessions (seed 002's track-visit): the visit each new user signed up from,
and many more that never converted, with a few on the site right now.

A converting visit's session id is also the ``$anon_distinct_id`` of the user's first product
events (``product.py``), so "which visits converted" can be answered from the tables.
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from collections.abc import Iterator

from saaskit.demo.config import DAY_US, MINUTE_US, ONLINE_SECONDS, DemoConfig, from_us
from saaskit.demo.copying import Row, TableData
from saaskit.demo.people import People
from saaskit.demo.rand import (
    GROWTH,
    cumulative,
    day_date,
    day_samplers,
    fake_hash,
    new_uuid,
    rng_for,
    weekday_factor,
    weighted,
)
from saaskit.demo.tenancy import Tenancy
from saaskit.devices import models as devices_models
from saaskit.kit.columns import copy_columns

COLUMNS = copy_columns(
    devices_models.VisitorSession,
    ("id", "session_id", "organization_id", "ip_hash", "ua_hash", "first_seen_at", "last_seen_at"),
)


def visitor_session_id(seed: int, key: object) -> str:
    """What a browser keeps in localStorage: 22 URL-safe characters."""
    return "v_" + hashlib.sha256(f"{seed}:visitor:{key}".encode()).hexdigest()[:22]


def landing_us(config: DemoConfig, people: People, user: int) -> int:
    """When a new user's visit began: a few minutes before signing up (within the span)."""
    rng = rng_for(config.seed, "landing", user)
    return max(config.start_us, people.created_us[user] - MINUTE_US - int(rng.random() * 20 * MINUTE_US))


def visitor_table(config: DemoConfig, people: People, tenancy: Tenancy) -> TableData:
    seed, now = config.seed, config.now_us
    extra = config.visitors
    converting = people.count - people.first_in_span
    live = max(5, extra // 300)  # on the site in the last five minutes

    def rows() -> Iterator[Row]:
        rng = rng_for(seed, "visitors")
        for user in range(people.first_in_span, people.count):
            first = landing_us(config, people, user)
            last = min(now - 1, people.created_us[user] + int(rng.random() * 10 * MINUTE_US))
            yield _row(config, rng, visitor_session_id(seed, ("user", user)), None, first, max(first, last))
        samplers = day_samplers(config.start_us, now)
        days = len(samplers)
        weights = [
            math.exp(GROWTH * d / max(1, days - 1)) * weekday_factor(day_date(config.start_us, d)) * s.mass
            for d, s in enumerate(samplers)
        ]
        table = cumulative(weights)
        for n in range(extra):
            if n < live:
                first = now - int(rng.random() * 20 * MINUTE_US)
                last = max(first, now - int(rng.random() * (ONLINE_SECONDS - 20) * 1_000_000))
            else:
                first = samplers[weighted(rng, table)].draw(rng)
                last = min(now - 1, first + int(-math.log(1.0 - rng.random()) * 4 * MINUTE_US))
            org = None
            if tenancy.count and rng.random() < 0.08:
                k = int(rng.random() * tenancy.count)
                org = tenancy.uuid(k) if tenancy.created_us[k] < first else None
            yield _row(config, rng, visitor_session_id(seed, n), org, first, max(first, last))

    return TableData("visitor_sessions", COLUMNS, rows(), converting + extra)


def _row(
    config: DemoConfig, rng: random.Random, session_id: str, org: uuid.UUID | None, first: int, last: int
) -> Row:
    day = (first - first % DAY_US) // DAY_US
    client = int(rng.random() * 1_000_000_000)
    return (
        new_uuid(rng),
        session_id,
        org,
        fake_hash(config.seed, f"visitor-ip:{day}", client),
        fake_hash(config.seed, f"visitor-ua:{day}", client % 5000),
        from_us(first),
        from_us(last),
    )
