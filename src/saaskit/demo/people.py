"""Who the demo's users are: sign-up times with growth and seasonality, countries, names, auth
providers, and a few abusive clusters (many sign-ups from one IP and one device in minutes).

Users are numbered in sign-up order: user ``i`` signed up at ``created_us[i]`` (non-decreasing),
so "the users that existed at instant t" is the prefix ``[0, bisect(created_us, t))``. Every
other generator picks people that way and never needs a per-user lookup table.
"""

from __future__ import annotations

import math
import uuid
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from saaskit.demo.config import DAY_US, HOUR_US, MINUTE_US, DemoConfig
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

# (ISO code, weight, IANA zone, locale)
COUNTRIES = (
    ("US", 30, "America/New_York", "en-US"),
    ("GB", 8, "Europe/London", "en-GB"),
    ("DE", 9, "Europe/Berlin", "de-DE"),
    ("FR", 8, "Europe/Paris", "fr-FR"),
    ("IN", 8, "Asia/Kolkata", "en-IN"),
    ("BR", 5, "America/Sao_Paulo", "pt-BR"),
    ("CA", 5, "America/Toronto", "en-CA"),
    ("ES", 4, "Europe/Madrid", "es-ES"),
    ("NL", 3, "Europe/Amsterdam", "nl-NL"),
    ("AU", 3, "Australia/Sydney", "en-AU"),
    ("JP", 3, "Asia/Tokyo", "ja-JP"),
    ("IT", 3, "Europe/Rome", "it-IT"),
    ("PL", 2, "Europe/Warsaw", "pl-PL"),
    ("SE", 2, "Europe/Stockholm", "sv-SE"),
    ("MX", 2, "America/Mexico_City", "es-MX"),
    ("", 3, "UTC", "en-US"),  # no trusted country header: country_code stays null
)
FIRST_NAMES = (
    "Anna",
    "Ben",
    "Chloe",
    "David",
    "Emma",
    "Felix",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kai",
    "Lea",
    "Maya",
    "Noah",
    "Olivia",
    "Paul",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Umar",
    "Vera",
    "Will",
    "Xenia",
    "Yusuf",
    "Zoe",
    "Amir",
    "Bea",
    "Carlos",
    "Dana",
    "Elif",
    "Farah",
    "Goran",
    "Hana",
    "Ivan",
    "Jade",
    "Kenji",
    "Lucia",
    "Mateo",
    "Nina",
    "Omar",
    "Priya",
    "Rafael",
    "Sofia",
    "Tomas",
    "Ugo",
    "Valentina",
    "Wen",
    "Yara",
    "Zane",
    "Aiko",
    "Bruno",
    "Clara",
    "Diego",
    "Eva",
    "Finn",
    "Gia",
    "Hiro",
    "Isla",
)
LAST_NAMES = (
    "Smith",
    "Muller",
    "Martin",
    "Garcia",
    "Rossi",
    "Kowalski",
    "Jansen",
    "Silva",
    "Tanaka",
    "Patel",
    "Brown",
    "Schmidt",
    "Bernard",
    "Lopez",
    "Russo",
    "Nowak",
    "DeVries",
    "Santos",
    "Sato",
    "Sharma",
    "Wilson",
    "Fischer",
    "Dubois",
    "Martinez",
    "Ferrari",
    "Wojcik",
    "Bakker",
    "Oliveira",
    "Suzuki",
    "Singh",
    "Taylor",
    "Weber",
    "Thomas",
    "Sanchez",
    "Esposito",
    "Kaminski",
    "Visser",
    "Costa",
    "Ito",
    "Gupta",
    "Clarke",
    "Wagner",
    "Robert",
    "Perez",
    "Bianchi",
    "Lewandowski",
    "Smit",
    "Pereira",
    "Kato",
    "Kumar",
    "Evans",
    "Becker",
    "Richard",
    "Gomez",
    "Romano",
    "Zielinski",
    "Meijer",
    "Alves",
    "Yamamoto",
)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
ABUSE_DOMAIN = "trialfarm.example"

ACTIVE, SUSPENDED, BANNED = 0, 1, 2
STATUSES = ("active", "suspended", "banned")
PRE_SPAN_SHARE = 0.25  # users who signed up before the span (the product existed before)
LOYAL_SHARE = 0.35


@dataclass(frozen=True)
class Cluster:
    """A burst of sign-ups sharing one IP hash and one device fingerprint (trial abuse)."""

    index: int
    start_us: int
    members: tuple[int, ...]
    ip_hash: str
    fingerprint_hash: str
    detected_us: int | None  # when the accounts were suspended; None: not caught yet


@dataclass
class People:
    count: int
    ids: bytes  # 16 bytes per user
    created_us: array[int]
    first_in_span: int  # users before this index signed up before the span
    country: bytes  # index into COUNTRIES
    first_name: array[int]
    last_name: array[int]
    google: bytes  # 1: signs in with Google (no password)
    cluster: array[int]  # -1, or the Cluster index
    status: bytes
    status_at_us: array[int]  # when the status changed (0: never)
    engaged_until_us: array[int]  # after this the user is gone: no activity, no heartbeats
    clusters: list[Cluster] = field(default_factory=list)

    def raw(self, i: int) -> bytes:
        return self.ids[16 * i : 16 * i + 16]

    def uuid(self, i: int) -> uuid.UUID:
        return uuid.UUID(bytes=self.raw(i))

    def existing(self, at_us: int) -> int:
        """How many users had signed up by ``at_us``."""
        return bisect_right(self.created_us, at_us)

    def active_at(self, i: int, at_us: int) -> bool:
        """The user still uses the product at ``at_us`` (and is no abusive account)."""
        return self.cluster[i] < 0 and self.engaged_until_us[i] >= at_us

    def quiet(self, i: int) -> bool:
        """Abusive accounts: sign up, start a trial, and do little else."""
        return self.cluster[i] >= 0

    def name(self, i: int) -> str:
        return f"{FIRST_NAMES[self.first_name[i]]} {LAST_NAMES[self.last_name[i]]}"

    def email(self, i: int) -> str:
        first, last = FIRST_NAMES[self.first_name[i]].lower(), LAST_NAMES[self.last_name[i]].lower()
        if self.cluster[i] >= 0:
            return f"{first}{i}@{ABUSE_DOMAIN}"
        return f"{first}.{last}{i}@{EMAIL_DOMAINS[i % len(EMAIL_DOMAINS)]}"

    def ip_hash(self, seed: int, i: int) -> str:
        if self.cluster[i] >= 0:
            return self.clusters[self.cluster[i]].ip_hash
        return fake_hash(seed, "ip", i)

    def fingerprint_hash(self, seed: int, i: int) -> str:
        if self.cluster[i] >= 0:
            return self.clusters[self.cluster[i]].fingerprint_hash
        return fake_hash(seed, "device", i)


def _signup_times(config: DemoConfig, count: int) -> list[int]:
    """Sign-up instants of ordinary users: some before the span, the rest growing through it."""
    rng = rng_for(config.seed, "users", "signups")
    samplers = day_samplers(config.start_us, config.now_us)
    days = len(samplers)
    growth = [math.exp(GROWTH * d / max(1, days - 1)) for d in range(days)]
    weights = [
        growth[d] * weekday_factor(day_date(config.start_us, d)) * samplers[d].mass for d in range(days)
    ]
    table = cumulative(weights)
    pre_span_us = max(30, config.days) * DAY_US
    times = []
    for _ in range(count):
        if rng.random() < PRE_SPAN_SHARE:
            day = samplers[0].draw(rng) - config.start_us  # an hour-of-day shaped offset
            back = 1 + int(rng.random() * (pre_span_us // DAY_US))
            times.append(config.start_us - back * DAY_US + day)
        else:
            times.append(samplers[weighted(rng, table)].draw(rng))
    return times


def _clusters(config: DemoConfig) -> list[tuple[int, list[int]]]:
    """(start, member sign-up times) of each abusive cluster: 6-25 accounts within 45 minutes."""
    rng = rng_for(config.seed, "users", "clusters")
    wanted = max(2, min(200, config.users // 4000))
    budget = max(6, config.users * 3 // 100)
    span = config.now_us - config.start_us
    out: list[tuple[int, list[int]]] = []
    for _ in range(wanted):
        size = min(6 + int(rng.random() * 20), budget)
        if size < 6:
            break
        budget -= size
        start = config.start_us + int(rng.random() * max(1, span - 45 * MINUTE_US))
        out.append((start, sorted(start + int(rng.random() * 45 * MINUTE_US) for _ in range(size))))
    return out


def _engagement(config: DemoConfig, people: People) -> None:
    """How long each user keeps using the product: a third stay for a long time (mean 400 days),
    the others drift away after a few weeks (mean 25 days); abusive accounts leave at once."""
    rng = rng_for(config.seed, "users", "engagement")
    for i in range(people.count):
        created = people.created_us[i]
        if people.cluster[i] >= 0:
            until = created + HOUR_US
        elif rng.random() < LOYAL_SHARE:
            until = created + int(-math.log(1.0 - rng.random()) * 400 * DAY_US)
        else:
            until = created + DAY_US + int(-math.log(1.0 - rng.random()) * 25 * DAY_US)
        people.engaged_until_us.append(until)


def build_people(config: DemoConfig) -> People:
    bursts = _clusters(config)
    burst_total = sum(len(times) for _, times in bursts)
    ordinary = _signup_times(config, config.users - burst_total)
    # (time, cluster or -1): sorted by time, ties by cluster then draw order (a stable sort).
    tagged = [(t, -1) for t in ordinary]
    for index, (_, times) in enumerate(bursts):
        tagged.extend((min(t, config.now_us - 1), index) for t in times)
    tagged.sort(key=lambda item: item[0])

    rng = rng_for(config.seed, "users", "attributes")
    country_table = cumulative([c[1] for c in COUNTRIES])
    n = len(tagged)
    ids = bytearray()
    people = People(
        count=n,
        ids=b"",
        created_us=array("q", (t for t, _ in tagged)),
        first_in_span=0,
        country=b"",
        first_name=array("H"),
        last_name=array("H"),
        google=b"",
        cluster=array("i", (c for _, c in tagged)),
        status=b"",
        status_at_us=array("q", bytes(8 * n)),
        engaged_until_us=array("q"),
    )
    country, google, status = bytearray(n), bytearray(n), bytearray(n)
    for i in range(n):
        ids += new_uuid(rng).bytes
        country[i] = weighted(rng, country_table)
        people.first_name.append(int(rng.random() * len(FIRST_NAMES)))
        people.last_name.append(int(rng.random() * len(LAST_NAMES)))
        google[i] = people.cluster[i] < 0 and rng.random() < 0.2
    people.first_in_span = bisect_left(people.created_us, config.start_us)

    members: dict[int, list[int]] = {}
    for i in range(n):
        if people.cluster[i] >= 0:
            members.setdefault(people.cluster[i], []).append(i)
    crng = rng_for(config.seed, "users", "cluster-review")
    for index, (start, _) in enumerate(bursts):
        # Two clusters in three get caught by a review one to three days later.
        detected: int | None = start + DAY_US + int(crng.random() * 2 * DAY_US)
        if index % 3 == 2 or (detected is not None and detected >= config.now_us):
            detected = None
        group = tuple(members.get(index, ()))
        people.clusters.append(
            Cluster(
                index=index,
                start_us=start,
                members=group,
                ip_hash=fake_hash(config.seed, "cluster-ip", index),
                fingerprint_hash=fake_hash(config.seed, "cluster-device", index),
                detected_us=detected,
            )
        )
        if detected is not None:
            for member in group:
                status[member] = BANNED if crng.random() < 0.2 else SUSPENDED
                people.status_at_us[member] = max(detected, people.created_us[member] + MINUTE_US)
    _engagement(config, people)
    people.ids, people.country, people.google, people.status = (
        bytes(ids),
        bytes(country),
        bytes(google),
        bytes(status),
    )
    return people
