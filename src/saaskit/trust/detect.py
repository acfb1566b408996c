"""The abuse rules: each one SQL statement over the signals, giving candidate findings (account,
confidence, evidence). ``run`` records the new ones (the same evidence never twice: the unique
(user_id, rule, evidence_key)), counts each rule's firings and hands each new pattern to
``actions.apply_automatic``. Flushes, never commits.

Rules look at what changed recently (``lookback_hours``) and at the clusters just assessed; the
hourly full run (``full=True``) looks at everything. Re-running is harmless: evidence already
recorded is skipped."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.trust import actions, rules

# The account answering for an organization's payment: its (first) owner.
PAYER = """coalesce(t.user_id, (SELECT o.user_id FROM organization_members o
  WHERE o.organization_id = t.organization_id AND o.role = 'owner' ORDER BY o.user_id LIMIT 1))"""

# Members of device and card clusters (an IP alone is no evidence), cleared ones left out.
MEMBERS = """
  SELECT c.id AS cluster_id, c.cluster_type, c.identifier_hash, m.user_id
  FROM account_clusters c CROSS JOIN LATERAL unnest(c.user_ids) AS m(user_id)
  WHERE c.member_count >= 2 AND c.cluster_type <> 'ip_hash' AND NOT c.is_shared_network
    AND NOT (m.user_id = ANY (c.cleared_user_ids))
"""

TRIAL_FROM_CLUSTER = f"""
WITH members AS ({MEMBERS}),
trials AS (
  SELECT m.cluster_id, m.cluster_type, m.identifier_hash, m.user_id, s.id AS subscription_id,
         s.organization_id, s.trial_start
  FROM members m JOIN subscriptions s ON s.trial_start IS NOT NULL AND (s.user_id = m.user_id
    OR s.organization_id IN (SELECT o.organization_id FROM organization_members o
                             WHERE o.user_id = m.user_id AND o.role = 'owner'))
), ranked AS (
  SELECT t.*, array_agg(t.user_id) OVER (PARTITION BY t.cluster_id ORDER BY t.trial_start, t.subscription_id
    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
  FROM trials t
)
SELECT r.user_id, r.organization_id, r.cluster_id, r.cluster_type, r.identifier_hash, r.subscription_id,
       r.trial_start, ARRAY(SELECT x.b FROM unnest(r.before) WITH ORDINALITY AS x(b, n) WHERE x.b <> r.user_id
                            GROUP BY x.b ORDER BY min(x.n)) AS prior_users
FROM ranked r
WHERE (:full OR r.trial_start >= :since OR r.cluster_id = ANY (CAST(:changed AS uuid[])))
"""

FAILURES = f"""
SELECT {PAYER} AS user_id, t.organization_id, count(*) AS failures, min(t.created_at) AS first_at,
       max(t.created_at) AS last_at, array_agg(t.id ORDER BY t.created_at) AS transaction_ids
FROM payment_transactions t
WHERE t.status = 'failed' AND t.created_at >= now() - make_interval(mins => :minutes)
  AND t.amount_cents <= :max_amount
GROUP BY 1, 2 HAVING count(*) >= :min_failures
"""

SHARED_CARD = f"""
WITH members AS ({MEMBERS} AND c.cluster_type = 'payment_method'
  AND (:full OR c.id = ANY (CAST(:changed AS uuid[])))),
unrelated AS (
  SELECT m.cluster_id, m.identifier_hash, m.user_id,
    ARRAY(SELECT n.user_id FROM members n WHERE n.cluster_id = m.cluster_id AND n.user_id <> m.user_id
      AND NOT EXISTS (SELECT 1 FROM organization_members a JOIN organization_members b
        ON a.organization_id = b.organization_id WHERE a.user_id = m.user_id AND b.user_id = n.user_id
        AND a.is_active AND b.is_active)) AS others
  FROM members m
)
SELECT * FROM unrelated WHERE cardinality(others) + 1 >= :min_accounts
"""

REFUND_AFTER_CREDITS = f"""
SELECT {PAYER} AS user_id, t.organization_id, t.id AS transaction_id, t.credits_cents, t.refunded_cents,
       t.disputed_cents, t.dispute_status, u.credits_cents AS balance_cents
FROM payment_transactions t JOIN users u ON u.id = {PAYER}
WHERE t.kind IN ('topup', 'auto_topup') AND (t.refunded_cents > 0 OR t.disputed_cents > 0)
  AND t.credited_at IS NOT NULL
  AND t.credits_cents > 0 AND (:full OR t.updated_at >= :since)
  AND (t.credits_cents - least(u.credits_cents, t.credits_cents))::float8 / t.credits_cents >= :min_share
"""

RECORD_SQL = text("""
INSERT INTO abuse_patterns AS p
  (pattern_type, rule, user_id, organization_id, cluster_id, confidence_score, evidence, evidence_key)
SELECT d.pattern_type, d.rule, d.user_id, d.organization_id, d.cluster_id, d.confidence, d.evidence,
       d.evidence_key
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS d(pattern_type text, rule text, user_id uuid,
  organization_id uuid, cluster_id uuid, confidence numeric, evidence jsonb, evidence_key text)
WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = d.user_id)
ON CONFLICT (user_id, rule, evidence_key) DO NOTHING
RETURNING p.id, p.rule, p.user_id, p.organization_id, p.confidence_score
""")

COUNT_SQL = text("""
INSERT INTO abuse_rule_firings AS f (rule, fired_count, last_fired_at)
SELECT d.rule, d.fired, now() FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS d(rule text, fired bigint)
ON CONFLICT (rule) DO UPDATE SET fired_count = f.fired_count + excluded.fired_count, last_fired_at = now()
""")


@dataclass
class Finding:
    rule: str
    user_id: uuid.UUID
    confidence: float
    evidence: dict[str, Any]
    evidence_key: str
    organization_id: uuid.UUID | None = None
    cluster_id: uuid.UUID | None = None


@dataclass
class RunResult:
    findings: int = 0
    fired: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)


def bounded(value: float) -> float:
    return round(max(0.0, min(1.0, value)), 3)


async def rows_of(session: AsyncSession, query: str, **params: Any) -> Sequence[Any]:
    return (await session.execute(text(query), params)).all()


async def trial_from_cluster(
    session: AsyncSession, figures: dict[str, Any], scope: dict[str, Any]
) -> list[Finding]:
    found = []
    for row in await rows_of(session, TRIAL_FROM_CLUSTER, **scope):
        prior = len(row.prior_users)
        if prior < figures["min_prior_trials"]:
            continue
        confidence = figures["base_confidence"] + figures["per_extra_trial"] * (prior - 1)
        if row.cluster_type == "payment_method":
            confidence += figures["card_cluster_bonus"]
        found.append(
            Finding(
                "trial_from_cluster",
                row.user_id,
                bounded(confidence),
                {
                    "cluster_type": row.cluster_type,
                    "identifier_hash": row.identifier_hash,
                    "subscription_id": str(row.subscription_id),
                    "trial_start": row.trial_start.isoformat(),
                    "prior_trial_accounts": [str(u) for u in row.prior_users],
                },
                f"{row.cluster_id}:{row.subscription_id}",
                row.organization_id,
                row.cluster_id,
            )
        )
    return found


async def _failures(
    session: AsyncSession, rule: str, figures: dict[str, Any], minutes: int, max_amount: int, bucket: str
) -> list[Finding]:
    found = []
    rows = await rows_of(
        session, FAILURES, minutes=minutes, max_amount=max_amount, min_failures=figures["min_failures"]
    )
    for row in rows:
        if row.user_id is None:
            continue
        extra = row.failures - figures["min_failures"]
        confidence = figures["base_confidence"] + figures.get("per_extra_failure", 0) * extra
        found.append(
            Finding(
                rule,
                row.user_id,
                bounded(confidence),
                {
                    "failed_payments": row.failures,
                    "first_failure_at": row.first_at.isoformat(),
                    "last_failure_at": row.last_at.isoformat(),
                    "window_minutes": minutes,
                    "transaction_ids": [str(t) for t in row.transaction_ids[:20]],
                },
                # One pattern per account and period: failures continuing tomorrow are new evidence.
                row.first_at.strftime(bucket),
                row.organization_id,
            )
        )
    return found


async def shared_card(session: AsyncSession, figures: dict[str, Any], scope: dict[str, Any]) -> list[Finding]:
    found = []
    rows = await rows_of(
        session,
        SHARED_CARD,
        full=scope["full"],
        changed=scope["changed"],
        min_accounts=figures["min_accounts"],
    )
    for row in rows:
        accounts = len(row.others) + 1
        confidence = figures["base_confidence"] + figures["per_extra_account"] * (accounts - 2)
        found.append(
            Finding(
                "shared_card",
                row.user_id,
                bounded(confidence),
                {
                    "card_fingerprint_hash": row.identifier_hash,
                    "unrelated_accounts": [str(u) for u in row.others],
                },
                f"{row.cluster_id}:{accounts}",
                None,
                row.cluster_id,
            )
        )
    return found


async def refund_after_credits(
    session: AsyncSession, figures: dict[str, Any], scope: dict[str, Any]
) -> list[Finding]:
    found = []
    rows = await rows_of(
        session,
        REFUND_AFTER_CREDITS,
        full=scope["full"],
        since=scope["since"],
        min_share=figures["min_spent_share"],
    )
    for row in rows:
        spent = row.credits_cents - min(row.balance_cents, row.credits_cents)
        found.append(
            Finding(
                "refund_after_credits",
                row.user_id,
                bounded(figures["base_confidence"]),
                {
                    "transaction_id": str(row.transaction_id),
                    "credits_cents": row.credits_cents,
                    "refunded_cents": row.refunded_cents,
                    "disputed_cents": row.disputed_cents,
                    "dispute_status": row.dispute_status,
                    "credits_spent_cents": spent,
                },
                str(row.transaction_id),
                row.organization_id,
            )
        )
    return found


async def findings(
    session: AsyncSession, all_rules: dict[str, dict[str, Any]], scope: dict[str, Any]
) -> list[Finding]:
    """Every enabled rule's candidates (recorded or not)."""
    found: list[Finding] = []
    enabled = {name: figures for name, figures in all_rules.items() if figures["enabled"]}
    if "trial_from_cluster" in enabled:
        found += await trial_from_cluster(session, enabled["trial_from_cluster"], scope)
    if "failing_cards" in enabled:
        figures = enabled["failing_cards"]
        found += await _failures(
            session, "failing_cards", figures, figures["window_hours"] * 60, 2**31 - 1, "%Y-%m-%d"
        )
    if "card_testing" in enabled:
        figures = enabled["card_testing"]
        found += await _failures(
            session,
            "card_testing",
            figures,
            figures["window_minutes"],
            figures["max_amount_cents"],
            "%Y-%m-%dT%H",
        )
    if "shared_card" in enabled:
        found += await shared_card(session, enabled["shared_card"], scope)
    if "refund_after_credits" in enabled:
        found += await refund_after_credits(session, enabled["refund_after_credits"], scope)
    from saaskit.trust import api_abuse  # it imports this module (Finding)

    found += await api_abuse.findings(session, enabled)
    return found


async def run(
    session: AsyncSession,
    *,
    full: bool = False,
    changed: Sequence[uuid.UUID] = (),
    lookback_hours: int = 48,
) -> RunResult:
    """Run every rule, record what is new, count firings, apply the automatic actions."""
    all_rules = await rules.rules(session)
    since = await session.scalar(text("SELECT now() - make_interval(hours => :h)"), {"h": lookback_hours})
    scope = {"full": full, "since": since, "changed": [str(c) for c in changed]}
    found = await findings(session, all_rules, scope)
    result = RunResult(findings=len(found))
    if not found:
        return result
    payload = [
        {
            "pattern_type": all_rules[f.rule]["pattern_type"],
            "rule": f.rule,
            "user_id": str(f.user_id),
            "organization_id": str(f.organization_id) if f.organization_id else None,
            "cluster_id": str(f.cluster_id) if f.cluster_id else None,
            "confidence": f.confidence,
            "evidence": f.evidence,
            "evidence_key": f.evidence_key,
        }
        for f in found
    ]
    new = (await session.execute(RECORD_SQL, {"rows": orjson.dumps(payload).decode()})).all()
    for row in new:
        result.fired[row.rule] = result.fired.get(row.rule, 0) + 1
    if result.fired:
        counts = [{"rule": rule, "fired": n} for rule, n in result.fired.items()]
        await session.execute(COUNT_SQL, {"rows": orjson.dumps(counts).decode()})
    for row in new:
        taken = await actions.apply_automatic(
            session, row.id, row.rule, row.user_id, Decimal(row.confidence_score), all_rules[row.rule]
        )
        result.actions[taken] = result.actions.get(taken, 0) + 1
    return result
