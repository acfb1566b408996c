"""Rows of the device tables: dashboards, user_heartbeats and user_sessions (sign-in sessions,
closed usage sessions of the last 90 days, and the open session of every online device).

The dashboards' counters (sessions, uptime, crashes) and ``needs_update`` are computed from the
rows once everything is written (``finalize.py``), so they agree with the tables by construction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from psycopg.types.json import Jsonb

from saaskit.accounts import models as accounts_models
from saaskit.demo.config import DAY_US, MINUTE_US, DemoConfig, from_us
from saaskit.demo.copying import Row, TableData
from saaskit.demo.devices import (
    DEVICE_NAMES,
    DEVICE_TYPES,
    OS_NAMES,
    THEMES,
    VERSIONS,
    Devices,
    user_agent,
    widget_sets,
)
from saaskit.demo.people import COUNTRIES, People
from saaskit.demo.rand import fake_hash, new_uuid, rng_for
from saaskit.demo.usage import UsagePlan, sessions_of_day
from saaskit.devices import models as devices_models
from saaskit.kit.columns import copy_columns

DASHBOARD_COLUMNS = copy_columns(
    devices_models.Dashboard,
    (
        "id",
        "user_id",
        "device_name",
        "device_type",
        "device_fingerprint_hash",
        "active_widgets",
        "theme",
        "is_online",
        "last_heartbeat_at",
        "current_version",
        "created_at",
        "updated_at",
    ),
)
HEARTBEAT_COLUMNS = copy_columns(devices_models.UserHeartbeat, ("user_id", "last_seen_at"))
SESSION_COLUMNS = copy_columns(
    accounts_models.UserSession,
    (
        "id",
        "user_id",
        "dashboard_id",
        "session_type",
        "session_token_hash",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "started_at",
        "ended_at",
        "duration_minutes",
        "ip_address_hash",
        "user_agent",
        "device_info",
        "device_fingerprint_hash",
        "country_code",
        "auth_method",
        "widgets_interacted",
        "settings_changed",
        "error_count",
        "created_at",
    ),
)
TOKEN_TTL_US = 30 * DAY_US  # SAASKIT_AUTH_SESSION_TTL_HOURS' default (720 h)


def device_fingerprint(config: DemoConfig, people: People, devices: Devices, d: int) -> str:
    user = devices.user[d]
    if people.quiet(user):
        return people.fingerprint_hash(config.seed, user)  # the cluster's one machine
    return fake_hash(config.seed, "dashboard", d)


def presence_tables(config: DemoConfig, people: People, devices: Devices, plan: UsagePlan) -> list[TableData]:
    seed, now = config.seed, config.now_us
    pool = widget_sets(seed)

    def dashboards() -> Iterator[Row]:
        for d in range(devices.count):
            created = from_us(devices.created_us[d])
            yield (
                uuid.UUID(bytes=devices.raw(d)),
                people.uuid(devices.user[d]),
                DEVICE_NAMES[devices.name[d]],
                DEVICE_TYPES[devices.kind[d]],
                device_fingerprint(config, people, devices, d),
                list(pool[devices.widgets[d]]),
                THEMES[devices.theme[d]],
                devices.online(d, now),
                from_us(devices.last_beat_us[d]),
                VERSIONS[devices.version[d]][0],
                created,
                created,
            )

    def heartbeats() -> Iterator[Row]:
        for user, d in sorted(devices.user_last_beat.items()):
            yield people.uuid(user), from_us(devices.last_beat_us[d])

    def session_row(
        d: int, kind: str, start: int, end: int | None, widgets: list[str], changed: bool, errors: int
    ) -> tuple[object, ...]:
        user = devices.user[d]
        minutes = round((end - start) / MINUTE_US) if end is not None else None
        return (
            people.uuid(user),
            uuid.UUID(bytes=devices.raw(d)),
            kind,
            None,
            None,
            None,
            None,
            from_us(start),
            from_us(end) if end is not None else None,
            minutes,
            people.ip_hash(seed, user),
            user_agent(devices, d),
            None,
            device_fingerprint(config, people, devices, d),
            COUNTRIES[people.country[user]][0] or None,
            None,
            widgets,
            changed,
            errors,
            from_us(start),
        )

    def sessions() -> Iterator[Row]:
        rng = rng_for(seed, "sign-in-sessions")
        # Sign-in sessions: each device's token, and a browser sign-in for half the others.
        for d in range(devices.count):
            user = devices.user[d]
            beat = devices.last_beat_us[d]
            start = max(devices.created_us[d], beat - int(rng.random() * 25 * DAY_US))
            revoked = people.status_at_us[user] or None
            info = {
                "name": DEVICE_NAMES[devices.name[d]],
                "type": DEVICE_TYPES[devices.kind[d]],
                "os": OS_NAMES[devices.kind[d]],
                "app_version": VERSIONS[devices.version[d]][0],
            }
            row = list(session_row(d, "sign_in", start, None, [], False, 0))
            row[3:7] = [
                fake_hash(seed, "token", ("device", d)),
                from_us(start + TOKEN_TTL_US),
                from_us(revoked) if revoked else None,
                from_us(max(start, beat - beat % MINUTE_US)),
            ]
            row[12], row[15] = Jsonb(info), "google" if people.google[user] else "password"
            yield (new_uuid(rng), *row)
        for user in range(people.count):
            if user in devices.user_last_beat or rng.random() < 0.5:
                continue
            start = people.created_us[user] + int(rng.random() * MINUTE_US)
            used = min(now - MINUTE_US, start + int(rng.random() * 2 * DAY_US))
            code = COUNTRIES[people.country[user]][0] or None
            revoked = people.status_at_us[user] or None
            yield (
                new_uuid(rng),
                people.uuid(user),
                None,
                "sign_in",
                fake_hash(seed, "token", ("web", user)),
                from_us(start + TOKEN_TTL_US),
                from_us(revoked) if revoked else None,
                from_us(max(start, used - used % MINUTE_US)),
                from_us(start),
                None,
                None,
                people.ip_hash(seed, user),
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/122.0",
                None,
                people.fingerprint_hash(seed, user),
                code,
                "google" if people.google[user] else "password",
                [],
                False,
                0,
                from_us(start),
            )
        # Usage sessions: the closed ones of the window, then the open one of each online device.
        for day in plan.days():
            for s in sessions_of_day(config, devices, plan, day):
                yield (
                    uuid.UUID(bytes=s.id),
                    *session_row(
                        s.device, "usage", s.start_us, s.end_us, list(s.widgets), s.settings_changed, s.errors
                    ),
                )
        orng = rng_for(seed, "open-sessions")
        for d in range(devices.count):
            if devices.open_since_us[d]:
                widgets = sorted(w for w in pool[devices.widgets[d]] if orng.random() < 0.6) or ["clock"]
                yield (
                    new_uuid(orng),
                    *session_row(d, "usage", devices.open_since_us[d], None, widgets, False, 0),
                )

    return [
        TableData("dashboards", DASHBOARD_COLUMNS, dashboards(), devices.count),
        TableData("user_heartbeats", HEARTBEAT_COLUMNS, heartbeats(), len(devices.user_last_beat)),
        TableData("user_sessions", SESSION_COLUMNS, sessions(), None),
    ]
