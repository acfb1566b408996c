"""Anonymous visitors: ``POST /api/track-visit`` keeps one ``visitor_sessions`` row per session id.

Bots and crawlers are answered like everyone else (202) but not counted. What is a bot is decided
by the ``crawlerdetect`` package (PyPI; a Python port of JayBizzle's Crawler-Detect, whose list of
~1,500 crawler patterns and exclusions it ships), plus one rule of ours: a request without any
User-Agent is a script, not a browser, and is not counted either.

Privacy: the IP and User-Agent are stored only as keyed hashes whose key rotates every UTC day
(``daily_visitor_hash``), so a visitor cannot be followed from one day to the next, nor matched
with the stable IP hashes kept for signed-in users. The hashes are those of the session's first
visit; later visits only move ``last_seen_at``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from crawlerdetect import CrawlerDetect
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import SERVICE, set_context
from saaskit.kit.hashing import daily_visitor_hash

_detector = CrawlerDetect()

TRACK_SQL = text(
    """
INSERT INTO visitor_sessions AS v (session_id, organization_id, ip_hash, ua_hash, first_seen_at, last_seen_at)
VALUES (:session_id, :organization_id, :ip_hash, :ua_hash, now(), now())
ON CONFLICT (session_id) DO UPDATE SET last_seen_at = GREATEST(v.last_seen_at, EXCLUDED.last_seen_at)
"""
)


def is_bot(user_agent: str | None) -> bool:
    """True for a missing User-Agent and for every agent crawlerdetect knows as a crawler."""
    if not user_agent or not user_agent.strip():
        return True
    return bool(_detector.is_crawler(user_agent))


async def track_visit(
    session: AsyncSession,
    *,
    secret: str,
    session_id: str,
    ip: str,
    user_agent: str | None,
    organization_id: uuid.UUID | None = None,
) -> bool:
    """Create or refresh the visitor session; returns False (nothing written) for bots.

    ``organization_id``: the visit came with that organization's ingestion key (the session keeps
    the organization of its first visit). The write is the service's: visitors are anonymous."""
    if is_bot(user_agent):
        return False
    day = datetime.now(UTC).date()
    await set_context(session, SERVICE)
    await session.execute(
        TRACK_SQL,
        {
            "session_id": session_id,
            "organization_id": organization_id,
            "ip_hash": daily_visitor_hash(secret, f"ip:{ip}", day),
            "ua_hash": daily_visitor_hash(secret, f"ua:{user_agent}", day),
        },
    )
    return True
