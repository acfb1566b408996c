"""Usage sessions (periods of app use on a device) and the widget interactions inside them.

Usage sessions cover the last 90 days (the session job deletes older ended ones; the daily
rollups keep their figures), widget events the last 30 (their partitions' retention). Sessions
of a day are drawn from that day's own random stream, so the widget partitions (written by
worker processes) regenerate exactly the sessions the main process wrote.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from saaskit.demo.binary import (
    blocks,
    bytes_text_field,
    int4_field,
    jsonb_field,
    ts_field,
    tuple_bytes,
    uuid_field,
)
from saaskit.demo.config import (
    DAY_US,
    MINUTE_US,
    USAGE_WINDOW_DAYS,
    WIDGET_WINDOW_DAYS,
    DemoConfig,
)
from saaskit.demo.devices import Devices, widget_sets
from saaskit.demo.rand import DaySampler, day_date, rng_for, split_counts, weekday_factor
from saaskit.kit.columns import column_names
from saaskit.tracking import models as tracking_models

WIDGET_EVENTS = ("view", "view", "view", "active", "active", "focus", "click", "click", "configure")
BLOCK_ROWS = 20_000


@dataclass(frozen=True)
class UsagePlan:
    first_day: int  # index (from the span's first day) of the first day with usage sessions
    counts: tuple[int, ...]  # sessions drawn per day from first_day on

    def days(self) -> range:
        return range(self.first_day, self.first_day + len(self.counts))

    def widget_days(self) -> range:
        last = self.first_day + len(self.counts)
        return range(max(self.first_day, last - WIDGET_WINDOW_DAYS), last)


@dataclass(frozen=True)
class UsageSession:
    id: bytes
    device: int
    start_us: int
    end_us: int
    widgets: tuple[str, ...]
    settings_changed: bool
    errors: int


def plan_usage(config: DemoConfig, devices: Devices) -> UsagePlan:
    total_days = (config.now_us - config.start_us + DAY_US - 1) // DAY_US
    first = max(0, total_days - USAGE_WINDOW_DAYS)
    weights = []
    for d in range(first, total_days):
        sampler = DaySampler(config.start_us + d * DAY_US, config.now_us)
        present = devices.existing(config.start_us + d * DAY_US + DAY_US // 2)
        weights.append(present * weekday_factor(day_date(config.start_us, d)) * sampler.mass)
    # A quarter of the devices are used on a given day, bounded by the activity volume.
    wanted = min(int(sum(weights) * 0.25), config.activity_total // 40)
    return UsagePlan(first, tuple(split_counts(wanted, weights)))


def sessions_of_day(config: DemoConfig, devices: Devices, plan: UsagePlan, day: int) -> list[UsageSession]:
    rng = rng_for(config.seed, "usage", day)
    day_start = config.start_us + day * DAY_US
    sampler = DaySampler(day_start, config.now_us)
    pool = widget_sets(config.seed)
    out: list[UsageSession] = []
    for _ in range(plan.counts[day - plan.first_day]):
        start = sampler.draw(rng)
        minutes = min(600.0, math.exp(3.2 + 0.9 * _normal(rng)))
        session_id = rng.getrandbits(128).to_bytes(16, "big")
        existing = devices.existing(start)
        if existing == 0:
            continue
        # A session ends by the device's last heartbeat (or the start of its open session).
        for _ in range(8):
            device = int(rng.random() * existing)
            limit = devices.busy_until(device)
            if limit > start + MINUTE_US:
                break
        else:
            continue
        end = min(start + int(minutes * MINUTE_US), limit)
        available = pool[devices.widgets[device]]
        used = tuple(sorted(w for w in available if rng.random() < 0.6)) or ("clock",)
        errors = int(-math.log(1.0 - rng.random()) * 0.3)
        out.append(UsageSession(_v4(session_id), device, start, end, used, rng.random() < 0.05, errors))
    return out


def _normal(rng: random.Random) -> float:
    """A standard normal draw from ``random()`` only (Box-Muller), for version-stable streams."""
    u1, u2 = rng.random(), rng.random()
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2 * math.pi * u2)


def _v4(raw: bytes) -> bytes:
    b = bytearray(raw)
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return bytes(b)


WIDGET_COLUMNS = column_names(
    tracking_models.WidgetEvent,
    (
        "id",
        "timestamp",
        "user_id",
        "dashboard_id",
        "session_id",
        "widget_type",
        "event_type",
        "event_data",
        "duration_seconds",
    ),
)


def widget_blocks(
    config: DemoConfig, devices: Devices, people_ids: bytes, plan: UsagePlan, day: int
) -> Iterator[tuple[bytes, int]]:
    return blocks(_widget_rows(config, devices, people_ids, plan, day), BLOCK_ROWS)


def _widget_rows(
    config: DemoConfig, devices: Devices, people_ids: bytes, plan: UsagePlan, day: int
) -> Iterator[bytes]:
    """Binary COPY tuples of one day's widget events, inside that day's usage sessions."""
    rng = rng_for(config.seed, "widgets", day)
    day_end = config.start_us + (day + 1) * DAY_US
    kinds = [t.encode() for t in WIDGET_EVENTS]
    for session in sessions_of_day(config, devices, plan, day):
        user = devices.user[session.device]
        user_field = uuid_field(people_ids[16 * user : 16 * user + 16])
        device_field = uuid_field(devices.raw(session.device))
        session_field = uuid_field(session.id)
        stop = min(session.end_us, day_end - 1)
        span = max(1, stop - session.start_us)
        for position, widget in enumerate(session.widgets):
            for _ in range(1 + int(rng.random() * 3)):
                kind = kinds[int(rng.random() * len(kinds))]
                data = orjson.dumps({"position": position}) if rng.random() < 0.5 else None
                fields = (
                    uuid_field(_v4(rng.getrandbits(128).to_bytes(16, "big"))),
                    ts_field(session.start_us + int(rng.random() * span)),
                    user_field,
                    device_field,
                    session_field,
                    bytes_text_field(widget.encode()),
                    bytes_text_field(kind),
                    jsonb_field(data),
                    int4_field(int(rng.random() * 300)),
                )
                yield tuple_bytes(fields, 9)
