"""``serve --demo``: a modest demo on an empty database, once, and an admin to look at it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text

from saaskit.demo.config import DemoConfig, resolve_now
from saaskit.demo.generate import DemoRefused, build_demo
from saaskit.demo.progress import QuietReporter, Reporter
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime

DEMO_ADMIN_EMAIL = "admin@demo.saaskit.dev"
SERVE_USERS = 2_000
SERVE_DAYS = 90
SERVE_SEED = 1


@dataclass(frozen=True)
class DemoAdmin:
    email: str
    password: str  # shown once by the caller, never logged


async def _has_users(runtime: Runtime) -> bool:
    async with runtime.db.session(SERVICE) as session:
        return bool(await session.scalar(text("SELECT EXISTS (SELECT 1 FROM users)")))


async def seed_demo_if_empty(
    owner_url: str,
    runtime: Runtime,
    *,
    users: int = SERVE_USERS,
    days: int = SERVE_DAYS,
    seed: int = SERVE_SEED,
    now: datetime | None = None,
    reporter: Reporter | None = None,
    abuse: bool = True,
) -> DemoAdmin | None:
    """Generate a demo (ending now) and create a demo admin, if the database has no users yet.

    Returns the admin's credentials the first time, None when there were users already (a
    second start, or a database in use): then nothing is written."""
    if await _has_users(runtime):
        return None
    config = DemoConfig(
        users=users, days=days, seed=seed, now=now or resolve_now(None, datetime.now(UTC)), abuse=abuse
    )
    try:
        await build_demo(owner_url, runtime, config, reporter or QuietReporter())
    except DemoRefused:
        return None  # someone created users in the meantime
    from saaskit.accounts import service

    password = secrets.token_urlsafe(12)
    async with runtime.db.session(SERVICE) as session:
        await service.create_user(
            session, runtime, email=DEMO_ADMIN_EMAIL, password=password, name="Demo admin", role="admin"
        )
    return DemoAdmin(DEMO_ADMIN_EMAIL, password)
