"""activity_events: the rows behind seed 002's statistics (login, signup, app_open, action).

Every user who signed up within the span has exactly one ``signup`` event at ``created_at``; the
rest of the requested total is spread over the days by traffic (users so far, weekday, hour of
the day). Who acts: someone still engaged (``People.engaged_until_us``: most users drift away
after a few weeks, a third stay), a third of the time among the last two weeks' sign-ups (new
users are busy); abusive accounts do nothing after signing up. Ids are sequential in time
order across the whole table.

This is the hot loop of a 100M-row demo: tuples are packed with ``struct`` and precomputed
field bytes, users are found with pointers that only move forward over the sorted sign-ups.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Callable, Iterator
from itertools import chain

from saaskit.demo.binary import NULL, PG_EPOCH_US, UUID_LEN, blocks, bytes_text_field
from saaskit.demo.config import DAY_US
from saaskit.demo.people import People
from saaskit.demo.plan import Shared
from saaskit.demo.rand import DaySampler, cumulative, rng_for

# What people do, and how often (action names are the product's features).
ACTIONS = (
    ("add_widget", 14),
    ("remove_widget", 4),
    ("change_theme", 5),
    ("connect_calendar", 6),
    ("upload_photo", 12),
    ("share_dashboard", 5),
    ("create_event", 16),
    ("edit_event", 9),
    ("complete_todo", 15),
    ("rename_device", 2),
    ("invite_member", 3),
    ("export_data", 1),
)
LOGIN_SHARE, APP_OPEN_SHARE = 0.14, 0.36  # the rest are actions
RECENT_US = 14 * DAY_US
RECENT_SHARE = 0.3
BLOCK_ROWS = 50_000
_PREFIX = struct.Struct(">hiqiq").pack  # 6 fields; id (int8); created_at (timestamptz)

SIGNUP = bytes_text_field(b"signup")
LOGIN = bytes_text_field(b"login")
APP_OPEN = bytes_text_field(b"app_open")
ACTION = bytes_text_field(b"action")
ACTION_FIELDS = tuple(bytes_text_field(name.encode()) for name, _ in ACTIONS)
ACTION_TABLE = cumulative([weight for _, weight in ACTIONS])


def pick_user(people: People, existing: int, recent: int, rnd: Callable[[], float], t: int) -> int:
    """Who acts at ``t``, among the ``existing`` users who had signed up (``recent`` and later
    ones in the last two weeks): someone still engaged; -1 if nobody is."""
    until, cluster = people.engaged_until_us, people.cluster
    if existing:
        for _ in range(24):
            if rnd() < RECENT_SHARE and existing > recent:
                user = recent + int(rnd() * (existing - recent))
            else:
                user = int(rnd() * existing)
            if cluster[user] < 0 and until[user] >= t:
                return user
        for user in range(existing - 1, max(-1, existing - 200), -1):
            if cluster[user] < 0 and until[user] >= t:
                return user
    return -1


def _signup_row(row_id: int, at: int, user_id: bytes) -> bytes:
    """The ``signup`` activity row every new account gets at its creation (no organization yet)."""
    return _PREFIX(6, 8, row_id, 8, at - PG_EPOCH_US) + UUID_LEN + user_id + NULL + SIGNUP + NULL


def activity_blocks(shared: Shared, days: list[int]) -> Iterator[tuple[bytes, int]]:
    return blocks(chain.from_iterable(_day(shared, day) for day in days), BLOCK_ROWS)


def _day(shared: Shared, day: int) -> Iterator[bytes]:
    config, people = shared.config, shared.people
    rng = rng_for(config.seed, "activity", day)
    rnd = rng.random
    sampler = DaySampler(shared.day_start(day), config.now_us)
    times = sampler.sorted_draws(rng, shared.activity_other[day])
    created, ids = people.created_us, people.ids
    primary, since = shared.tenancy.primary, shared.tenancy.primary_since_us
    orgs = shared.org_fields()
    action_total, action_table, n_actions = ACTION_TABLE[-1], ACTION_TABLE, len(ACTION_FIELDS)
    signup, signup_end = shared.signups(day)
    next_id = shared.activity_first_id[day]
    first = times[0] if times else 0
    existing = bisect_right(created, first)
    recent = bisect_right(created, first - RECENT_US)
    for t in times:
        while signup < signup_end and created[signup] <= t:
            yield _signup_row(next_id, created[signup], ids[16 * signup : 16 * signup + 16])
            next_id += 1
            signup += 1
        while existing < people.count and created[existing] <= t:
            existing += 1
        while recent < existing and created[recent] <= t - RECENT_US:
            recent += 1
        user = pick_user(people, existing, recent, rnd, t)
        roll = rnd()
        if roll < LOGIN_SHARE:
            kind, action = LOGIN, NULL
        elif roll < LOGIN_SHARE + APP_OPEN_SHARE:
            kind, action = APP_OPEN, NULL
        else:
            kind = ACTION
            action = ACTION_FIELDS[min(n_actions - 1, bisect_right(action_table, rnd() * action_total))]
        if user < 0:
            user_field = org_field = NULL
        else:
            user_field = UUID_LEN + ids[16 * user : 16 * user + 16]
            org = primary[user]
            org_field = orgs[org] if org >= 0 and since[user] <= t else NULL
        yield _PREFIX(6, 8, next_id, 8, t - PG_EPOCH_US) + user_field + org_field + kind + action
        next_id += 1
    while signup < signup_end:
        yield _signup_row(next_id, created[signup], ids[16 * signup : 16 * signup + 16])
        next_id += 1
        signup += 1
