"""Devices (dashboards) with their presence, app versions and sign-in sessions.

Most users register a TV or a browser dashboard shortly after signing up; paying users may
register more, up to their plan's limit. Presence is consistent everywhere: a device is online
when its last heartbeat is under 5 minutes old, the user's heartbeat row is their newest
device's, and an online device has its usage session still open (started before that beat).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from dataclasses import dataclass

from saaskit.demo.billing import Billing
from saaskit.demo.config import DAY_US, MINUTE_US, ONLINE_SECONDS, DemoConfig, from_us
from saaskit.demo.people import ACTIVE, People
from saaskit.demo.rand import cumulative, new_uuid, rng_for, weighted

DEVICE_TYPES = ("fire_tv", "android_tv", "browser", "other")
DEVICE_WEIGHTS = cumulative((35, 25, 35, 5))
USER_AGENTS = (
    "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7633) AppleWebKit/537.36 Chrome/120.0 Dashie/{v}",
    "Mozilla/5.0 (Linux; Android 12; BRAVIA 4K) AppleWebKit/537.36 Chrome/121.0 Dashie/{v}",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Dashie/{v}",
    "Mozilla/5.0 (X11; Linux aarch64) AppleWebKit/537.36 Chrome/119.0 Dashie/{v}",
)
OS_NAMES = ("Fire OS", "Android TV", "macOS", "Linux")
DEVICE_NAMES = (
    "Kitchen TV",
    "Living room",
    "Office display",
    "Hallway tablet",
    "Bedroom TV",
    "Front desk",
    "Shop window",
    "Meeting room",
    "Family hub",
    "Garage screen",
)
THEMES = ("dark", "dark", "dark", "light", "light", "auto")
WIDGETS = (
    "clock",
    "weather",
    "calendar",
    "photos",
    "news",
    "todo",
    "stocks",
    "sports",
    "traffic",
    "quotes",
    "countdown",
    "rss",
)
# (version, released this many days before now, relative crash rate): newer versions crash less.
VERSIONS = (
    ("1.0.0", 420, 8.0),
    ("1.1.0", 330, 6.0),
    ("1.2.0", 240, 4.5),
    ("1.3.0", 150, 3.0),
    ("1.4.0", 90, 2.4),
    ("1.4.1", 75, 1.6),
    ("1.5.0", 35, 1.2),
    ("1.5.1", 12, 0.8),
)
LATEST_VERSION = VERSIONS[-1][0]
MINIMUM_VERSION = "1.2.0"  # devices below it are asked to update (needs_update)


def widget_sets(seed: int) -> list[tuple[str, ...]]:
    """A fixed pool of widget selections (always with a clock), shared by index."""
    rng = rng_for(seed, "widget-sets")
    pool = []
    for _ in range(256):
        chosen = ["clock"] + [w for w in WIDGETS[1:] if rng.random() < 0.35]
        pool.append(tuple(chosen))
    return pool


def version_at(config: DemoConfig, at_us: int, roll: float) -> int:
    """A version index for a device last seen at ``at_us``: adoption lags behind releases."""
    released = [i for i, (_, days, _) in enumerate(VERSIONS) if config.now_us - days * DAY_US <= at_us] or [0]
    newest = released[-1]
    if roll < 0.6 or newest == 0:
        return newest
    if roll < 0.85:
        return newest - 1
    return int((roll - 0.85) / 0.15 * newest)


@dataclass
class Devices:
    count: int
    ids: bytes
    user: array[int]
    created_us: array[int]  # non-decreasing: device d registered at created_us[d]
    kind: bytes
    name: bytes
    theme: bytes
    widgets: array[int]  # index into widget_sets()
    last_beat_us: array[int]
    open_since_us: array[int]  # online devices: start of their open usage session; else 0
    version: bytes
    user_last_beat: dict[int, int]  # user -> device index with the newest heartbeat

    def raw(self, d: int) -> bytes:
        return self.ids[16 * d : 16 * d + 16]

    def online(self, d: int, now_us: int) -> bool:
        return now_us - self.last_beat_us[d] < ONLINE_SECONDS * 1_000_000

    def busy_until(self, d: int) -> int:
        """Closed usage sessions of the device end by this instant."""
        return self.open_since_us[d] or self.last_beat_us[d]

    def existing(self, at_us: int) -> int:
        return bisect_right(self.created_us, at_us)


def build_devices(config: DemoConfig, people: People, billing: Billing) -> Devices:
    rng = rng_for(config.seed, "devices")
    now = config.now_us
    pool_size = len(widget_sets(config.seed))
    found: list[tuple[int, int, int, int, int, int, int, int, int]] = []
    for i in range(people.count):
        quiet = people.quiet(i)
        if rng.random() >= (0.2 if quiet else 0.72):
            continue
        sub = billing.user_tier.get(i)
        limit = sub.plan.max_dashboards if sub else 1
        count = 1
        while count < limit and rng.random() < 0.45:
            count += 1
        created = people.created_us[i]
        if rng.random() < 0.6:
            at = created + 5 * MINUTE_US + int(rng.random() * 85 * MINUTE_US)
        else:
            at = created + MINUTE_US + int(-math.log(1.0 - rng.random()) * 4 * DAY_US)
        stop = min(people.status_at_us[i] if people.status[i] != ACTIVE else now, people.engaged_until_us[i])
        online_chance = 0.0 if quiet or stop < now else (0.2 if sub else 0.12)
        for _ in range(count):
            if at >= stop:
                break
            if rng.random() < online_chance:
                beat = max(at + 1, now - int(rng.random() * 240_000_000))
                opened = max(at, beat - 5 * MINUTE_US - int(rng.random() * 4 * 60 * MINUTE_US))
            else:
                beat = (
                    now
                    - ONLINE_SECONDS * 1_000_000
                    - 60_000_000
                    - int(-math.log(1.0 - rng.random()) * 6 * DAY_US)
                )
                beat = max(at, min(beat, stop))
                # Registered minutes ago, not beaten since: online all the same, session open.
                opened = at if now - beat < ONLINE_SECONDS * 1_000_000 else 0
            kind = weighted(rng, DEVICE_WEIGHTS)
            found.append(
                (
                    at,
                    i,
                    kind,
                    int(rng.random() * len(DEVICE_NAMES)),
                    int(rng.random() * len(THEMES)),
                    int(rng.random() * pool_size),
                    beat,
                    opened,
                    version_at(config, beat, rng.random()),
                )
            )
            at += MINUTE_US + int(-math.log(1.0 - rng.random()) * 20 * DAY_US)
    found.sort(key=lambda d: (d[0], d[1]))
    ids = bytearray()
    for _ in found:
        ids += new_uuid(rng).bytes
    devices = Devices(
        count=len(found),
        ids=bytes(ids),
        user=array("i", (d[1] for d in found)),
        created_us=array("q", (d[0] for d in found)),
        kind=bytes(d[2] for d in found),
        name=bytes(d[3] for d in found),
        theme=bytes(d[4] for d in found),
        widgets=array("H", (d[5] for d in found)),
        last_beat_us=array("q", (d[6] for d in found)),
        open_since_us=array("q", (d[7] for d in found)),
        version=bytes(d[8] for d in found),
        user_last_beat={},
    )
    for d in range(devices.count):
        user = devices.user[d]
        best = devices.user_last_beat.get(user)
        if best is None or devices.last_beat_us[d] > devices.last_beat_us[best]:
            devices.user_last_beat[user] = d
    return devices


def user_agent(devices: Devices, d: int) -> str:
    return USER_AGENTS[min(devices.kind[d], len(USER_AGENTS) - 1)].format(v=VERSIONS[devices.version[d]][0])


def minute_floor(us: int) -> object:
    return from_us(us - us % MINUTE_US)
