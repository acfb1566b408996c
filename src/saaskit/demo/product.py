"""Product analytics: PostHog-like ``events`` and ``page_views``.

Every new user walks the sign-up funnel as events under their own id (``distinct_id`` = the
user's id as text): ``$pageview`` (the landing, carrying the visitor session it came from as
``$anon_distinct_id``) -> ``signup`` -> ``dashboard_created`` (if they registered a device) ->
``subscription_started`` (if they started a subscription). Around that, everyday product events
and page views from users and from anonymous visitors, with UTM attribution on some landings.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterator

import orjson

from saaskit.demo.activity import RECENT_US, pick_user
from saaskit.demo.binary import (
    NULL,
    UUID_LEN,
    blocks,
    bool_field,
    int4_field,
    jsonb_field,
    text_field,
    ts_field,
    tuple_bytes,
)
from saaskit.demo.config import DAY_US
from saaskit.demo.people import COUNTRIES
from saaskit.demo.plan import DASHBOARD, LANDING, SIGNUP, SUBSCRIPTION, Shared
from saaskit.demo.rand import DaySampler, cumulative, rng_for, weighted
from saaskit.demo.visitors import visitor_session_id

SITE = "https://app.demo.saaskit.example"
PAGES = (
    ("/", "Dashie - your home, on every screen"),
    ("/pricing", "Pricing"),
    ("/features", "Features"),
    ("/dashboard", "My dashboard"),
    ("/dashboard/widgets", "Widgets"),
    ("/settings", "Settings"),
    ("/settings/billing", "Billing"),
    ("/devices", "Devices"),
    ("/help", "Help centre"),
    ("/blog/kitchen-tv-ideas", "10 ideas for your kitchen TV"),
)
# name, category, action, weight (users' everyday events)
USER_EVENTS = (
    ("$pageview", None, None, 30),
    ("$autocapture", None, None, 18),
    ("widget_added", "dashboard", "add_widget", 9),
    ("widget_removed", "dashboard", "remove_widget", 3),
    ("settings_changed", "settings", "update", 7),
    ("theme_changed", "settings", "theme", 3),
    ("dashboard_shared", "dashboard", "share", 3),
    ("calendar_connected", "integrations", "calendar", 3),
    ("photo_uploaded", "content", "upload", 7),
    ("invite_sent", "team", "invite", 2),
)
USER_TABLE = cumulative([e[3] for e in USER_EVENTS])
CAMPAIGNS = (
    ("google", "cpc", "spring_sale", "tv dashboard", "ad_a"),
    ("newsletter", "email", "weekly_digest", None, None),
    ("twitter", "social", "launch", None, "thread"),
    ("producthunt", "referral", "launch_day", None, None),
)
REFERRERS = ("https://www.google.com/", None, None, "https://twitter.com/", "https://news.ycombinator.com/")
BROWSERS = (("Chrome", "Windows"), ("Safari", "Mac OS X"), ("Chrome", "Android"), ("Firefox", "Linux"))
ANONYMOUS_SHARE = 0.25
BLOCK_ROWS = 20_000


def _property_sets(seed: int, name: str, count: int = 16) -> list[dict[str, object]]:
    """A few property sets per event name (built once, drawn per event)."""
    rng = rng_for(seed, "event-properties", name)
    out = []
    for _ in range(count):
        browser, os_name = BROWSERS[int(rng.random() * len(BROWSERS))]
        path, _ = PAGES[int(rng.random() * len(PAGES))]
        props: dict[str, object] = {
            "$current_url": SITE + path,
            "$browser": browser,
            "$os": os_name,
            "$lib": "web",
        }
        if name.startswith("widget"):
            props["widget"] = ("weather", "calendar", "photos", "news", "todo")[int(rng.random() * 5)]
        out.append(props)
    return out


def _variants(seed: int, name: str) -> list[bytes]:
    return [jsonb_field(orjson.dumps(p)) for p in _property_sets(seed, name)]


def _user_text(raw: bytes) -> str:
    """The user's id as text (``str(uuid.UUID(bytes=raw))``, without building the object)."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _pick_user(shared: Shared, rnd: Callable[[], float], t: int) -> int:
    created = shared.people.created_us
    existing = bisect_left(created, t + 1)
    return pick_user(shared.people, existing, bisect_left(created, t - RECENT_US + 1), rnd, t)


FUNNEL_EVENTS = (
    ("$pageview", None, None),
    ("signup", "account", "signup"),
    ("dashboard_created", "devices", "create"),
    ("subscription_started", "billing", "subscribe"),
)
_COUNT17 = b"\x00\x11"


def _names(name: str, category: str | None, action: str | None) -> bytes:
    """The event_name, event_category and event_action fields, encoded once."""
    return text_field(name) + text_field(category) + text_field(action)


def event_blocks(shared: Shared, days: list[int]) -> Iterator[tuple[bytes, int]]:
    return blocks(_event_rows(shared, days), BLOCK_ROWS)


def _event_rows(shared: Shared, days: list[int]) -> Iterator[bytes]:
    config, people = shared.config, shared.people
    seed = config.seed
    variants = {e[0]: _variants(seed, e[0]) for e in USER_EVENTS}
    user_names = [_names(*e[:3]) for e in USER_EVENTS]
    funnel_props = {kind: _property_sets(seed, f"funnel-{kind}", 4) for kind in range(4)}
    funnel_names = [_names(*e) for e in FUNNEL_EVENTS]
    pageview, autocapture = _names("$pageview", None, None), _names("$autocapture", None, None)
    campaigns = [b"".join(text_field(part) for part in c) for c in CAMPAIGNS]
    no_utm = NULL * 5
    countries = [text_field(c[0] or None) for c in COUNTRIES]
    orgs = shared.org_fields()
    primary, since = shared.tenancy.primary, shared.tenancy.primary_since_us
    for day in days:
        rng = rng_for(seed, "events", day)
        rnd, bits = rng.random, rng.getrandbits
        start = shared.day_start(day)
        times = DaySampler(start, config.now_us).sorted_draws(rng, shared.product_counts[day])
        lo = bisect_left(shared.funnel_us, start)
        hi = bisect_left(shared.funnel_us, start + DAY_US)
        merged = sorted([(t, -1) for t in times] + [(shared.funnel_us[i], i) for i in range(lo, hi)])
        for t, step in merged:
            utm = no_utm
            if step >= 0:
                user, kind = shared.funnel_user[step], shared.funnel_kind[step]
                names = funnel_names[kind]
                properties = dict(funnel_props[kind][int(rnd() * 4)])
                if kind in (LANDING, SIGNUP):
                    properties["$anon_distinct_id"] = visitor_session_id(seed, ("user", user))
                if kind == LANDING and rnd() < 0.4:
                    utm = campaigns[int(rnd() * len(campaigns))]
                if kind == SUBSCRIPTION:
                    properties["trial"] = True
                if kind == DASHBOARD:
                    properties["source"] = "onboarding"
                props = jsonb_field(orjson.dumps(properties))
            elif rnd() < ANONYMOUS_SHARE or (user := _pick_user(shared, rnd, t)) < 0:
                user = -1  # an anonymous visitor (or nobody had signed up yet)
                if rnd() < 0.8:
                    names, props = pageview, variants["$pageview"][int(rnd() * 16)]
                    if rnd() < 0.35:
                        utm = campaigns[int(rnd() * len(campaigns))]
                else:
                    names, props = autocapture, variants["$autocapture"][int(rnd() * 16)]
            else:
                which = weighted(rng, USER_TABLE)
                names, props = user_names[which], variants[USER_EVENTS[which][0]][int(rnd() * 16)]
            if user >= 0:
                raw = people.raw(user)
                org = primary[user]
                org_field = orgs[org] if org >= 0 and since[user] <= t else NULL
                user_field, distinct = UUID_LEN + raw, text_field(_user_text(raw))
                country = countries[people.country[user]]
            else:
                org_field = user_field = NULL
                distinct = text_field(f"anon_{bits(48):012x}")
                country = countries[int(rnd() * len(countries))]
            event_id = bytearray(bits(128).to_bytes(16, "big"))
            event_id[6], event_id[8] = (event_id[6] & 0x0F) | 0x40, (event_id[8] & 0x3F) | 0x80
            yield (
                b"".join(
                    (
                        _COUNT17,
                        UUID_LEN,
                        event_id,
                        ts_field(t),
                        org_field,
                        user_field,
                        distinct,
                        text_field(f"s_{bits(40):010x}"),
                        names,
                        props,
                        utm,
                        country,
                        ts_field(t + 50_000 + int(rnd() * 1_500_000)),
                    )
                )
            )


def page_view_blocks(shared: Shared, days: list[int]) -> Iterator[tuple[bytes, int]]:
    return blocks(_page_view_rows(shared, days), BLOCK_ROWS)


def _page_view_rows(shared: Shared, days: list[int]) -> Iterator[bytes]:
    config, people = shared.config, shared.people
    orgs = shared.org_fields()
    for day in days:
        rng = rng_for(config.seed, "page-views", day)
        rnd = rng.random
        sampler = DaySampler(shared.day_start(day), config.now_us)
        times = sampler.sorted_draws(rng, shared.page_view_counts[day])
        for t in times:
            user = -1 if rnd() < 0.35 else _pick_user(shared, rnd, t)
            path, title = PAGES[int(rnd() * len(PAGES))]
            if user >= 0:
                raw = people.raw(user)
                org = shared.tenancy.primary[user]
                org_field = orgs[org] if org >= 0 and shared.tenancy.primary_since_us[user] <= t else NULL
                user_field, distinct = UUID_LEN + raw, _user_text(raw)
                session = f"s_{rng.getrandbits(40):010x}"
                referrer = SITE + PAGES[int(rnd() * len(PAGES))][0] if rnd() < 0.6 else None
                bounce = rnd() < 0.08
            else:
                org_field = user_field = NULL
                distinct = f"anon_{rng.getrandbits(48):012x}"
                session = distinct
                referrer = REFERRERS[int(rnd() * len(REFERRERS))]
                bounce = rnd() < 0.4
            load_ms = int(math.exp(6.1 + 0.5 * math.sqrt(-2 * math.log(1 - rnd())) * math.cos(6.283 * rnd())))
            seconds = int(-math.log(1 - rnd()) * 45)
            page_id = bytearray(rng.getrandbits(128).to_bytes(16, "big"))
            page_id[6], page_id[8] = (page_id[6] & 0x0F) | 0x40, (page_id[8] & 0x3F) | 0x80
            fields = (
                UUID_LEN + bytes(page_id),
                ts_field(t),
                org_field,
                user_field,
                text_field(distinct),
                text_field(session),
                text_field(SITE + path),
                text_field(title),
                text_field(referrer),
                int4_field(load_ms),
                int4_field(seconds),
                bool_field(bounce),
                ts_field(t + 50_000 + int(rnd() * 1_500_000)),
            )
            yield tuple_bytes(fields, 13)
