"""The API-abuse rules, over ``abuse_source_tallies`` (per-source, per-minute counts written by
kit/tallies.py where sign-ins fail, the rate limiter refuses and ingestion keys send events).
Each is one SQL statement over the rule's window (``window_minutes`` back from now: the
every-minute job sees every window in turn); findings are keyed by account, as every pattern is:

- ``credential_stuffing``: one source (client IP hash) failing ``min_failures`` sign-ins over
  ``min_accounts`` distinct e-mails. The finding is about each EXISTING account it tried (the
  accounts at risk): a reviewer warns them (a notice to change their password) or suspends one
  that the source then signed in to (``signed_in_confidence``: probably taken over). The source
  itself is an IP hash, not an account: it is the evidence, never the one flagged.
- ``rate_limit_hits``: one identity refused by one limit ``min_refusals`` times over at least
  ``min_minutes`` distinct minutes (sustained, not a burst). Identities that are a user, an API
  key or an organization id are answered for by the user, the key's holder, or the organization's
  first owner; IP and e-mail hashes name no account (many people share an IP) and are not
  attributed.
- ``junk_ingestion``: one ingestion key sending ``min_events`` events in the window of which at
  least ``min_junk_share`` were rejected; answered for by the key's creator (else the
  organization's first owner).

One pattern per account, rule, source and day (the evidence key): a run continuing tomorrow is
new evidence; a false positive is not raised again for the same source that day."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.trust.detect import Finding, bounded, rows_of

# Tallies older than this are deleted by the hourly sweep: a rule's window longer than this sees
# only this much (docs/trust.md).
RETENTION_HOURS = 48
UUID_RE = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
OWNER_OF = """(SELECT o.user_id FROM organization_members o WHERE o.organization_id = {org}
  AND o.role = 'owner' ORDER BY o.user_id LIMIT 1)"""

CREDENTIAL_STUFFING = """
WITH tallies AS (
  SELECT * FROM abuse_source_tallies
  WHERE kind = 'sign_in_failed' AND minute >= now() - make_interval(mins => :minutes)
), sources AS (
  SELECT source_hash, sum(count)::bigint AS failures, count(DISTINCT subject) AS accounts,
         min(minute) AS first_at, max(minute) AS last_at
  FROM tallies GROUP BY source_hash
  HAVING sum(count) >= :min_failures AND count(DISTINCT subject) >= :min_accounts
)
SELECT s.source_hash, s.failures, s.accounts, s.first_at, s.last_at, t.user_id, sum(t.count)::bigint AS tried,
  EXISTS (SELECT 1 FROM user_sessions us WHERE us.user_id = t.user_id
          AND us.ip_address_hash = s.source_hash AND us.started_at >= s.first_at) AS signed_in
FROM sources s JOIN tallies t ON t.source_hash = s.source_hash AND t.user_id IS NOT NULL
GROUP BY s.source_hash, s.failures, s.accounts, s.first_at, s.last_at, t.user_id
"""

RATE_LIMIT_HITS = f"""
WITH refused AS (
  SELECT source_hash, subject AS limit_name, sum(count)::bigint AS refusals,
         count(DISTINCT minute) AS minutes, min(minute) AS first_at, max(minute) AS last_at,
         CASE WHEN source_hash ~ '{UUID_RE}' THEN source_hash::uuid END AS id
  FROM abuse_source_tallies
  WHERE kind = 'rate_limited' AND minute >= now() - make_interval(mins => :minutes)
  GROUP BY source_hash, subject
  HAVING sum(count) >= :min_refusals AND count(DISTINCT minute) >= :min_minutes
)
SELECT r.source_hash, r.limit_name, r.refusals, r.minutes, r.first_at, r.last_at,
  CASE WHEN u.id IS NOT NULL THEN 'user' WHEN k.id IS NOT NULL THEN 'api_key' ELSE 'organization' END
    AS principal,
  coalesce(u.id, k.user_id, {OWNER_OF.format(org="g.id")}) AS user_id,
  coalesce(k.organization_id, g.id) AS organization_id
FROM refused r LEFT JOIN users u ON u.id = r.id LEFT JOIN api_keys k ON k.id = r.id
  LEFT JOIN organizations g ON g.id = r.id
WHERE r.id IS NOT NULL AND (u.id IS NOT NULL OR k.id IS NOT NULL OR g.id IS NOT NULL)
"""

JUNK_INGESTION = f"""
WITH keys AS (
  SELECT source_hash, coalesce(sum(count) FILTER (WHERE kind = 'ingest_rejected'), 0)::bigint AS rejected,
         sum(count)::bigint AS events, min(minute) AS first_at, max(minute) AS last_at
  FROM abuse_source_tallies
  WHERE kind IN ('ingest_accepted', 'ingest_rejected') AND minute >= now() - make_interval(mins => :minutes)
  GROUP BY source_hash HAVING sum(count) >= :min_events
)
SELECT k.source_hash, k.rejected, k.events, k.first_at, k.last_at, i.id AS key_id, i.key_prefix,
  i.organization_id, coalesce(i.created_by, {OWNER_OF.format(org="i.organization_id")}) AS user_id
FROM keys k JOIN ingestion_keys i ON i.key_hash = k.source_hash
WHERE k.rejected::float8 / k.events >= :min_share
"""

PURGE = text("DELETE FROM abuse_source_tallies WHERE minute < now() - make_interval(hours => :hours)")


async def purge(session: AsyncSession) -> int:
    """Delete the tallies past retention (the hourly sweep)."""
    result = await session.execute(PURGE, {"hours": RETENTION_HOURS})
    return int(getattr(result, "rowcount", 0) or 0)


async def credential_stuffing(session: AsyncSession, figures: dict[str, Any]) -> list[Finding]:
    found = []
    rows = await rows_of(
        session,
        CREDENTIAL_STUFFING,
        minutes=figures["window_minutes"],
        min_failures=figures["min_failures"],
        min_accounts=figures["min_accounts"],
    )
    for row in rows:
        confidence = figures["signed_in_confidence"] if row.signed_in else figures["base_confidence"]
        found.append(
            Finding(
                "credential_stuffing",
                row.user_id,
                bounded(confidence),
                {
                    "source_ip_hash": row.source_hash,
                    "failed_sign_ins_from_source": int(row.failures),
                    "accounts_tried_from_source": int(row.accounts),
                    "failed_sign_ins_on_account": int(row.tried),
                    "signed_in_from_source_after": bool(row.signed_in),
                    "first_failure_at": row.first_at.isoformat(),
                    "last_failure_at": row.last_at.isoformat(),
                    "window_minutes": figures["window_minutes"],
                },
                f"{row.source_hash}:{row.first_at:%Y-%m-%d}",
            )
        )
    return found


async def rate_limit_hits(session: AsyncSession, figures: dict[str, Any]) -> list[Finding]:
    found = []
    rows = await rows_of(
        session,
        RATE_LIMIT_HITS,
        minutes=figures["window_minutes"],
        min_refusals=figures["min_refusals"],
        min_minutes=figures["min_minutes"],
    )
    for row in rows:
        if row.user_id is None:
            continue
        extra = row.minutes - figures["min_minutes"]
        found.append(
            Finding(
                "rate_limit_hits",
                row.user_id,
                bounded(figures["base_confidence"] + figures["per_extra_minute"] * extra),
                {
                    "limit": row.limit_name,
                    "principal": row.principal,
                    "principal_id": row.source_hash,
                    "refusals": int(row.refusals),
                    "minutes_refused": int(row.minutes),
                    "first_refusal_at": row.first_at.isoformat(),
                    "last_refusal_at": row.last_at.isoformat(),
                    "window_minutes": figures["window_minutes"],
                },
                f"{row.limit_name}:{row.source_hash}:{row.first_at:%Y-%m-%d}",
                row.organization_id,
            )
        )
    return found


async def junk_ingestion(session: AsyncSession, figures: dict[str, Any]) -> list[Finding]:
    found = []
    rows = await rows_of(
        session,
        JUNK_INGESTION,
        minutes=figures["window_minutes"],
        min_events=figures["min_events"],
        min_share=figures["min_junk_share"],
    )
    for row in rows:
        if row.user_id is None:
            continue
        share = row.rejected / row.events
        found.append(
            Finding(
                "junk_ingestion",
                row.user_id,
                bounded(figures["base_confidence"] + share - figures["min_junk_share"]),
                {
                    "ingestion_key_id": str(row.key_id),
                    "key_prefix": row.key_prefix,
                    "events": int(row.events),
                    "rejected_events": int(row.rejected),
                    "rejected_share": round(share, 3),
                    "first_event_at": row.first_at.isoformat(),
                    "last_event_at": row.last_at.isoformat(),
                    "window_minutes": figures["window_minutes"],
                },
                f"{row.key_id}:{row.first_at:%Y-%m-%d}",
                row.organization_id,
            )
        )
    return found


RULES = {
    "credential_stuffing": credential_stuffing,
    "rate_limit_hits": rate_limit_hits,
    "junk_ingestion": junk_ingestion,
}


async def findings(session: AsyncSession, enabled: dict[str, dict[str, Any]]) -> list[Finding]:
    found: list[Finding] = []
    for name, rule in RULES.items():
        if name in enabled:
            found += await rule(session, enabled[name])
    return found
