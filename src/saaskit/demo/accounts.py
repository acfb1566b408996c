"""The account rows: users (with what billing and devices decided about them), their profiles
and a few preferences. Sign-in counters and ``last_seen_at`` are derived from the activity
events once those are written (``finalize.py``); the subscription-state columns are rebuilt by
``app_rebuild_stats_counters()``.

Demo users share one argon2id hash of a password derived from the seed (a fixed salt too, so the
table is reproducible); the password is never printed: sign in with an admin you create.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from argon2.low_level import Type, hash_secret
from psycopg.types.json import Jsonb

from saaskit.accounts import models as accounts_models
from saaskit.demo.billing import Billing, customer_id
from saaskit.demo.config import ONLINE_SECONDS, DemoConfig, from_us
from saaskit.demo.copying import Row, TableData
from saaskit.demo.devices import VERSIONS, Devices
from saaskit.demo.people import COUNTRIES, FIRST_NAMES, LAST_NAMES, STATUSES, People
from saaskit.demo.rand import fake_hash, new_uuid, rng_for
from saaskit.kit.columns import copy_columns

USER_COLUMNS = copy_columns(
    accounts_models.User,
    (
        "id",
        "email",
        "name",
        "picture_url",
        "password_hash",
        "auth_provider",
        "auth_provider_id",
        "email_verified",
        "phone_verified",
        "status",
        "stripe_customer_id",
        "tier",
        "max_dashboards",
        "password_changed_at",
        "last_heartbeat_at",
        "is_currently_active",
        "signup_ip_hash",
        "last_known_ip_hash",
        "country_code",
        "timezone",
        "device_fingerprint_hash",
        "current_app_version",
        "last_version_check",
        "analytics_consent",
        "tracking_level",
        "total_spent_cents",
        "created_at",
        "updated_at",
    ),
)
PROFILE_COLUMNS = copy_columns(
    accounts_models.UserProfile,
    (
        "id",
        "user_id",
        "first_name",
        "last_name",
        "bio",
        "locale",
        "date_format",
        "time_format",
        "created_at",
        "updated_at",
    ),
)
PREFERENCE_COLUMNS = copy_columns(
    accounts_models.UserPreference, ("id", "user_id", "category", "key", "value", "created_at", "updated_at")
)
BIOS = ("Family organiser.", "Runs the front desk.", "Coffee first.", "Small business owner.", "Teacher.")


def demo_password_hash(seed: int) -> str:
    """argon2id (saaskit's default parameters) of a seed-derived password, with a seed-derived
    salt: the same seed gives the same hash."""
    secret = hashlib.sha256(f"{seed}:demo-password".encode()).hexdigest().encode()
    salt = hashlib.sha256(f"{seed}:demo-salt".encode()).digest()[:16]
    return hash_secret(
        secret, salt, time_cost=3, memory_cost=65536, parallelism=4, hash_len=32, type=Type.ID
    ).decode()


def account_tables(config: DemoConfig, people: People, billing: Billing, devices: Devices) -> list[TableData]:
    seed, now = config.seed, config.now_us
    password = demo_password_hash(seed)
    spent = billing.user_spent_cents()
    customers = {user for user, _ in billing.customers() if user >= 0}

    def users() -> Iterator[Row]:
        rng = rng_for(seed, "users", "rows")
        for i in range(people.count):
            created = from_us(people.created_us[i])
            code, _, zone, _ = COUNTRIES[people.country[i]]
            sub = billing.user_tier.get(i)
            device = devices.user_last_beat.get(i)
            beat = devices.last_beat_us[device] if device is not None else None
            google = bool(people.google[i])
            changed = people.status_at_us[i] or people.created_us[i]
            tracking = rng.random()
            yield (
                people.uuid(i),
                people.email(i),
                people.name(i),
                f"https://avatars.example.com/{fake_hash(seed, 'avatar', i)[:16]}.png"
                if rng.random() < 0.3
                else None,
                None if google else password,
                "google" if google else "password",
                f"google-{fake_hash(seed, 'google', i)[:20]}" if google else None,
                google or rng.random() < 0.85,
                rng.random() < 0.1,
                STATUSES[people.status[i]],
                customer_id(i, -1) if i in customers else None,
                sub.plan.tier if sub else "free",
                sub.plan.max_dashboards if sub else 1,
                None if google else created,
                from_us(beat) if beat is not None else None,
                beat is not None and now - beat < ONLINE_SECONDS * 1_000_000,
                people.ip_hash(seed, i),
                people.ip_hash(seed, i)
                if people.quiet(i) or rng.random() < 0.7
                else fake_hash(seed, "ip-now", i),
                code or None,
                zone,
                people.fingerprint_hash(seed, i),
                VERSIONS[devices.version[device]][0] if device is not None else None,
                from_us(beat) if beat is not None else None,
                rng.random() < 0.75,
                "full" if tracking < 0.85 else ("analytics_only" if tracking < 0.97 else "errors_only"),
                spent.get(i, 0),
                created,
                from_us(changed),
            )

    def profiles() -> Iterator[Row]:
        rng = rng_for(seed, "profiles")
        for i in range(people.count):
            created = from_us(people.created_us[i])
            locale = COUNTRIES[people.country[i]][3]
            us_style = locale in ("en-US", "en-CA")
            yield (
                new_uuid(rng),
                people.uuid(i),
                FIRST_NAMES[people.first_name[i]],
                LAST_NAMES[people.last_name[i]],
                BIOS[int(rng.random() * len(BIOS))] if rng.random() < 0.1 else None,
                locale,
                "MM/DD/YYYY" if us_style else "DD/MM/YYYY",
                "12h" if us_style else "24h",
                created,
                created,
            )

    def preferences() -> Iterator[Row]:
        rng = rng_for(seed, "preferences")
        for i in range(people.count):
            created = from_us(people.created_us[i])
            user = people.uuid(i)
            if rng.random() < 0.5:
                theme = "dark" if rng.random() < 0.6 else "light"
                yield new_uuid(rng), user, "display", "theme", Jsonb(theme), created, created
            if rng.random() < 0.3:
                start = "monday" if rng.random() < 0.7 else "sunday"
                yield new_uuid(rng), user, "calendar", "week_start", Jsonb(start), created, created
            if rng.random() < 0.25:
                yield (
                    new_uuid(rng),
                    user,
                    "notifications",
                    "email_digest",
                    Jsonb(rng.random() < 0.5),
                    created,
                    created,
                )

    return [
        TableData("users", USER_COLUMNS, users(), people.count),
        TableData("user_profiles", PROFILE_COLUMNS, profiles(), people.count),
        TableData("user_preferences", PREFERENCE_COLUMNS, preferences(), None),
    ]
