"""Clusters: the periodic grouping of what arrived in bulk, and the risk levels.

The incremental hook (``signals.observe``) groups as signals arrive; ``group_all`` (hourly)
catches what came without it (imports, the demo, cards saved for organizations, sessions from
before this feature) with one set-based statement per run; ``assess`` (every minute) computes the
risk level of each cluster that grew since it was last assessed. Both flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.trust import rules

# Every (identifier, account) pair the tables hold. Sessions count for device and IP only within
# the window (older sessions were grouped when they happened, by the hook). An organization's card
# counts for its owners.
SEEN_SQL = """
  SELECT 'device_fingerprint' AS kind, u.device_fingerprint_hash AS hash, u.id AS user_id
    FROM users u WHERE u.device_fingerprint_hash IS NOT NULL AND u.deleted_at IS NULL
  UNION SELECT 'device_fingerprint', d.device_fingerprint_hash, d.user_id
    FROM dashboards d WHERE d.device_fingerprint_hash IS NOT NULL
  UNION SELECT 'device_fingerprint', s.device_fingerprint_hash, s.user_id
    FROM user_sessions s WHERE s.device_fingerprint_hash IS NOT NULL AND s.started_at >= :since
  UNION SELECT 'ip_hash', u.signup_ip_hash, u.id
    FROM users u WHERE u.signup_ip_hash IS NOT NULL AND u.deleted_at IS NULL
  UNION SELECT 'ip_hash', u.last_known_ip_hash, u.id
    FROM users u WHERE u.last_known_ip_hash IS NOT NULL AND u.deleted_at IS NULL
  UNION SELECT 'ip_hash', s.ip_address_hash, s.user_id
    FROM user_sessions s WHERE s.ip_address_hash IS NOT NULL AND s.started_at >= :since
  UNION SELECT 'payment_method', p.card_fingerprint_hash, coalesce(p.user_id, o.user_id)
    FROM payment_methods p
    LEFT JOIN organization_members o ON o.organization_id = p.organization_id AND o.role = 'owner'
    WHERE p.card_fingerprint_hash IS NOT NULL AND coalesce(p.user_id, o.user_id) IS NOT NULL
"""

GROUP_ALL_SQL = text(f"""
WITH seen AS ({SEEN_SQL}),
groups AS (
  SELECT kind, hash, array_agg(DISTINCT user_id) AS users
  FROM seen GROUP BY kind, hash HAVING count(DISTINCT user_id) >= 2
)
INSERT INTO account_clusters AS c
  (cluster_type, identifier_hash, user_ids, first_detected_at, is_shared_network)
SELECT kind, hash, users[1:500], now(), kind = 'ip_hash' AND cardinality(users) >= :shared
FROM groups
ORDER BY hash, kind  -- the hook's lock order (trust/sql/clusters.sql): no deadlock with sign-ups
ON CONFLICT (identifier_hash, cluster_type) DO UPDATE SET
  user_ids = (c.user_ids || ARRAY(
    SELECT n FROM unnest(excluded.user_ids) AS n WHERE NOT (n = ANY (c.user_ids))))[1:500],
  first_detected_at = coalesce(c.first_detected_at, now()),
  last_joined_at = now(),
  is_shared_network = c.is_shared_network OR (c.cluster_type = 'ip_hash' AND cardinality(
    c.user_ids || ARRAY(SELECT n FROM unnest(excluded.user_ids) AS n WHERE NOT (n = ANY (c.user_ids))))
    >= :shared),
  is_reviewed = false,
  assessed_at = NULL,
  updated_at = now()
WHERE NOT (excluded.user_ids <@ c.user_ids) AND NOT c.is_shared_network AND cardinality(c.user_ids) < 500
RETURNING c.id
""")

# The facts the risk level is computed from, for clusters that grew since their last assessment
# (or the ones named). Cleared members (false positives) do not count.
FACTS_SQL = """
WITH pending AS (
  SELECT id, cluster_type, user_ids, cleared_user_ids, is_shared_network FROM account_clusters
  WHERE {where}
  ORDER BY last_joined_at LIMIT :batch FOR UPDATE SKIP LOCKED
), members AS MATERIALIZED (
  SELECT p.id AS cluster_id, m.user_id FROM pending p CROSS JOIN LATERAL unnest(p.user_ids) AS m(user_id)
  WHERE NOT (m.user_id = ANY (p.cleared_user_ids))
), trialists AS (
  SELECT s.user_id FROM subscriptions s
  WHERE s.trial_start IS NOT NULL AND s.user_id IN (SELECT user_id FROM members)
  UNION
  SELECT o.user_id FROM organization_members o JOIN subscriptions s ON s.organization_id = o.organization_id
  WHERE o.role = 'owner' AND s.trial_start IS NOT NULL AND o.user_id IN (SELECT user_id FROM members)
), failed AS (
  SELECT DISTINCT t.user_id FROM payment_transactions t
  WHERE t.status = 'failed' AND t.user_id IN (SELECT user_id FROM members)
)
-- Set-based (hash joins), not a subquery per member: 2,500 clusters took a minute that way.
SELECT p.id, p.cluster_type, p.is_shared_network,
  count(m.user_id) AS members,
  count(tr.user_id) AS trials,
  count(f.user_id) AS failed_payers,
  count(u.id) FILTER (WHERE u.status IN ('suspended', 'banned')) AS banned
FROM pending p
LEFT JOIN members m ON m.cluster_id = p.id
LEFT JOIN trialists tr ON tr.user_id = m.user_id
LEFT JOIN failed f ON f.user_id = m.user_id
LEFT JOIN users u ON u.id = m.user_id
GROUP BY p.id, p.cluster_type, p.is_shared_network
"""
UNASSESSED = "member_count >= 2 AND assessed_at IS NULL"

SAVE_RISK_SQL = text("""
UPDATE account_clusters c SET risk_level = d.level, risk_reasons = d.reasons, assessed_at = now()
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS d(id uuid, level text, reasons text[])
WHERE c.id = d.id
""")

LEVELS = {"low": 0, "medium": 1, "high": 2}


@dataclass(frozen=True)
class Facts:
    cluster_type: str
    is_shared_network: bool
    members: int
    trials: int
    failed_payers: int
    banned: int


def risk_level(facts: Facts, figures: dict[str, Any]) -> tuple[str, list[str]]:
    """The documented rules (docs/trust.md, "Risk levels"): the highest level any rule gives."""
    if facts.cluster_type == "ip_hash":
        # Offices, schools, mobile carriers and NAT share IPs: an IP alone never raises risk; the
        # same accounts sharing a device or a card make their own cluster, which does.
        reason = "shared network" if facts.is_shared_network else "an IP alone never raises risk"
        return "low", [reason]
    found: list[tuple[str, str]] = []
    if facts.members < 2:
        return "low", ["fewer than two members not cleared"]
    if facts.banned:
        found.append(("high", f"{facts.banned} member(s) suspended or banned"))
    if facts.trials >= figures["high_trials"]:
        found.append(("high", f"{facts.trials} members took a trial"))
    elif facts.trials >= figures["medium_trials"]:
        found.append(("medium", f"{facts.trials} members took a trial"))
    if facts.failed_payers >= figures["high_failed_payers"]:
        found.append(("high", f"{facts.failed_payers} members had failed payments"))
    card = facts.cluster_type == "payment_method"
    high, medium = (
        (figures["card_high_members"], figures["card_medium_members"])
        if card
        else (figures["high_members"], figures["medium_members"])
    )
    what = "accounts share one card" if card else "accounts share one device"
    if facts.members >= high:
        found.append(("high", f"{facts.members} {what}"))
    elif facts.members >= medium:
        found.append(("medium", f"{facts.members} {what}"))
    if not found:
        return "low", [f"{facts.members} {what}"]
    level = max((level for level, _ in found), key=LEVELS.__getitem__)
    return level, [reason for _, reason in found]


async def group_all(session: AsyncSession, *, session_window_days: int = 30) -> int:
    """Group every identifier shared by two accounts or more (idempotent); returns how many
    cluster rows were created or grew."""
    figures = await rules.cluster_figures(session)
    since = await session.scalar(text("SELECT now() - make_interval(days => :d)"), {"d": session_window_days})
    result = await session.execute(
        GROUP_ALL_SQL, {"shared": figures["shared_network_members"], "since": since}
    )
    return len(result.all())


async def assess(
    session: AsyncSession, cluster_ids: Sequence[uuid.UUID] | None = None, *, batch: int = 1000
) -> list[uuid.UUID]:
    """Compute the risk level of the clusters that grew since last assessed (or of
    ``cluster_ids``); returns the ids assessed. Rows another worker is assessing are skipped."""
    figures = await rules.cluster_figures(session)
    params: dict[str, Any] = {"batch": batch}
    if cluster_ids is None:
        query = FACTS_SQL.format(where=UNASSESSED)
    else:
        query = FACTS_SQL.format(where="id = ANY (CAST(:ids AS uuid[])) AND member_count >= 2")
        params["ids"] = [str(i) for i in cluster_ids]
    rows = (await session.execute(text(query), params)).all()
    payload = []
    for row in rows:
        facts = Facts(
            row.cluster_type, row.is_shared_network, row.members, row.trials, row.failed_payers, row.banned
        )
        level, reasons = risk_level(facts, figures)
        payload.append({"id": str(row.id), "level": level, "reasons": reasons})
    if payload:
        await session.execute(SAVE_RISK_SQL, {"rows": orjson.dumps(payload).decode()})
    return [row.id for row in rows]


FORGET_SQL = text("SELECT app_trust_forget(CAST(:values AS text[]))")


async def forget(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Erasure: take the account out of every cluster; a cluster it leaves with fewer than two
    accounts goes (``app_trust_forget``, trust/sql/clusters.sql, which the privacy domain's
    erasure calls by its registry). Its abuse patterns are deleted by that erasure too."""
    await session.execute(FORGET_SQL, {"values": [str(user_id)]})
