"""Data-subject requests in the demo, so the admin's Privacy page has something to show: a
person's pending deletion, an admin's (for a banned abuser), and an export (built by serve's
worker). Made through the privacy service, as the API would."""

from __future__ import annotations

from sqlalchemy import text

from saaskit.audit.service import SYSTEM_ACTOR, Actor
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.privacy import service

PICK = text("SELECT id FROM users WHERE role = 'user' AND status = 'active' ORDER BY email LIMIT 3")


async def add_requests(runtime: Runtime) -> int:
    async with runtime.db.session(SERVICE) as session:
        ids = list((await session.scalars(PICK)).all())
        if len(ids) < 3:
            return 0
        await service.request_erasure(session, runtime, ids[0], Actor(user_id=ids[0]))
        await service.request_erasure(
            session,
            runtime,
            ids[1],
            SYSTEM_ACTOR,
            grace_days=3,
            by_admin=True,
            reason="demo: banned for abuse",
        )
        await service.request_export(session, ids[2], Actor(user_id=ids[2]), runtime=runtime)
    return 3
