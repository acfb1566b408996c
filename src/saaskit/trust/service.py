"""Reading clusters and patterns for the review queue (JSON API and admin page): filters, the
members' facts, an account's own clusters and patterns, each rule's figures and firings.
Service context only (platform admins)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.errors import NotFound
from saaskit.kit.pagination import keyset_page
from saaskit.trust import rules
from saaskit.trust.models import AbusePattern, AbuseRuleFiring, AccountCluster

RISK_ORDER = case({"high": 3, "medium": 2, "low": 1}, value=AccountCluster.risk_level, else_=0)


@dataclass(frozen=True)
class ClusterFilter:
    risk_level: str | None = None
    cluster_type: str | None = None
    reviewed: bool | None = False
    user_id: uuid.UUID | None = None
    include_low: bool = False


def clusters_query(where: ClusterFilter) -> Select[AccountCluster]:
    """Real clusters (two accounts or more). The queue leaves out low risk and shared networks
    unless asked: a shared office must not fill it."""
    query = select(AccountCluster).where(AccountCluster.member_count >= 2)
    if where.risk_level is not None:
        query = query.where(AccountCluster.risk_level == where.risk_level)
    elif not where.include_low:
        query = query.where(AccountCluster.risk_level.in_(("medium", "high")))
    if where.cluster_type is not None:
        query = query.where(AccountCluster.cluster_type == where.cluster_type)
    if where.reviewed is not None:
        query = query.where(AccountCluster.is_reviewed.is_(where.reviewed))
    if where.user_id is not None:
        query = query.where(AccountCluster.user_ids.contains([where.user_id]))
    return query


async def list_clusters(
    session: AsyncSession, where: ClusterFilter, *, limit: int, cursor: str | None
) -> tuple[list[AccountCluster], str | None]:
    """Newest first (keyset on created_at, id); the admin page sorts its page by risk."""
    return await keyset_page(
        session,
        clusters_query(where),
        created_at=AccountCluster.created_at,
        row_id=AccountCluster.id,
        limit=limit,
        cursor=cursor,
    )


async def queue(session: AsyncSession, where: ClusterFilter, *, limit: int = 100) -> list[AccountCluster]:
    """The review queue: highest risk first, then the most recently grown."""
    query = clusters_query(where).order_by(RISK_ORDER.desc(), AccountCluster.last_joined_at.desc())
    return list(await session.scalars(query.limit(limit)))


async def get_cluster(session: AsyncSession, cluster_id: uuid.UUID) -> AccountCluster:
    cluster = await session.get(AccountCluster, cluster_id)
    if cluster is None:
        raise NotFound("no such cluster", field="cluster_id")
    return cluster


MEMBERS_SQL = text("""
SELECT u.id, u.email, u.status, u.created_at, u.credits_cents, u.sign_in_count, u.last_seen_at,
  (SELECT count(*) FROM subscriptions s WHERE s.user_id = u.id AND s.trial_start IS NOT NULL) AS trials,
  (SELECT count(*) FROM payment_transactions t WHERE t.user_id = u.id AND t.status = 'failed')
    AS failed_payments,
  (SELECT coalesce(sum(t.amount_cents), 0) FROM payment_transactions t
    WHERE t.user_id = u.id AND t.status IN ('succeeded', 'partially_refunded')) AS paid_cents,
  (SELECT count(*) FROM abuse_patterns p WHERE p.user_id = u.id
    AND p.action_taken IS DISTINCT FROM 'false_positive') AS open_patterns,
  u.id = ANY (CAST(:cleared AS uuid[])) AS is_cleared
FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS m(user_id, n)
JOIN users u ON u.id = m.user_id
ORDER BY m.n
""")


async def members(session: AsyncSession, cluster: AccountCluster) -> list[dict[str, Any]]:
    """Each member's billing and activity at a glance, in the order they joined."""
    rows = await session.execute(
        MEMBERS_SQL,
        {"ids": [str(u) for u in cluster.user_ids], "cleared": [str(u) for u in cluster.cleared_user_ids]},
    )
    return [dict(row._mapping) for row in rows]


@dataclass(frozen=True)
class PatternFilter:
    pattern_type: str | None = None
    rule: str | None = None
    min_confidence: float | None = None
    open_only: bool = True
    user_id: uuid.UUID | None = None
    cluster_id: uuid.UUID | None = None


def patterns_query(where: PatternFilter) -> Select[AbusePattern]:
    query = select(AbusePattern)
    if where.pattern_type is not None:
        query = query.where(AbusePattern.pattern_type == where.pattern_type)
    if where.rule is not None:
        query = query.where(AbusePattern.rule == where.rule)
    if where.min_confidence is not None:
        query = query.where(AbusePattern.confidence_score >= where.min_confidence)
    if where.open_only:
        query = query.where(AbusePattern.human_reviewed.is_(False))
    if where.user_id is not None:
        query = query.where(AbusePattern.user_id == where.user_id)
    if where.cluster_id is not None:
        query = query.where(AbusePattern.cluster_id == where.cluster_id)
    return query


async def list_patterns(
    session: AsyncSession, where: PatternFilter, *, limit: int, cursor: str | None
) -> tuple[list[AbusePattern], str | None]:
    return await keyset_page(
        session,
        patterns_query(where),
        created_at=AbusePattern.created_at,
        row_id=AbusePattern.id,
        limit=limit,
        cursor=cursor,
    )


async def get_pattern(session: AsyncSession, pattern_id: uuid.UUID) -> AbusePattern:
    pattern = await session.get(AbusePattern, pattern_id)
    if pattern is None:
        raise NotFound("no such abuse pattern", field="pattern_id")
    return pattern


async def emails(session: AsyncSession, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not user_ids:
        return {}
    rows = await session.execute(
        text("SELECT id, email FROM users WHERE id = ANY (CAST(:ids AS uuid[]))"),
        {"ids": [str(u) for u in user_ids]},
    )
    return {row.id: row.email for row in rows}


async def rules_overview(session: AsyncSession) -> list[dict[str, Any]]:
    """Every rule's figures (defaults with the settings applied) and how often it fired."""
    figures = await rules.rules(session)
    fired = {row.rule: row for row in await session.scalars(select(AbuseRuleFiring))}
    return [
        {
            "rule": name,
            "figures": values,
            "fired_count": fired[name].fired_count if name in fired else 0,
            "last_fired_at": fired[name].last_fired_at if name in fired else None,
        }
        for name, values in figures.items()
    ]


async def open_counts(session: AsyncSession) -> dict[str, int]:
    """Figures for the queue's header: open clusters by risk, open patterns."""
    rows = await session.execute(
        select(AccountCluster.risk_level, func.count())
        .where(AccountCluster.member_count >= 2, AccountCluster.is_reviewed.is_(False))
        .group_by(AccountCluster.risk_level)
    )
    counts = {f"clusters_{level or 'unassessed'}": int(n) for level, n in rows.all()}
    counts["patterns_open"] = int(
        await session.scalar(select(func.count()).select_from(patterns_query(PatternFilter()).subquery()))
        or 0
    )
    return counts
