"""What is done about a finding, automatically or by a platform admin; each action writes its
``activities`` row in the same transaction (audit/operator.py) and records ``action_taken``.

Automatic: a rule's ``action`` (none, block_trial, require_card, suspend) applies when the
pattern's confidence reaches the rule's ``auto_action_confidence``; below it, the pattern is only
flagged for review. Human: warn, suspend, ban, false positive, note (patterns); review, note,
shared network, clear (clusters). A false positive lifts the restriction the pattern put on the
account (a suspension it caused included) and clears the account in the pattern's cluster, so
the cluster's risk and the rules no longer count it (the unique evidence key already keeps the
same evidence from flagging it again). Flushes, never commits."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts import service as accounts
from saaskit.audit import service as audit
from saaskit.audit.operator import Outcome
from saaskit.audit.service import SYSTEM_ACTOR, Actor
from saaskit.kit.errors import NotFound, Unprocessable
from saaskit.kit.state import Runtime
from saaskit.trust import notices
from saaskit.trust.models import AbusePattern, AccountCluster
from saaskit.trust.rules import AUTOMATIC_ACTIONS

PATTERN_ACTIONS = ("warn", "suspend", "ban", "false_positive", "note")
CLUSTER_ACTIONS = ("review", "note", "shared_network", "clear")
PATTERN_TAKEN = {
    "warn": "warned",
    "suspend": "suspended",
    "ban": "banned",
    "false_positive": "false_positive",
}


async def _audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID,
    description: str,
    metadata: dict[str, Any],
) -> None:
    await audit.record(
        session,
        actor,
        organization_id=None,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        description=description,
        metadata=metadata,
    )


async def apply_automatic(
    session: AsyncSession,
    pattern_id: uuid.UUID,
    rule: str,
    user_id: uuid.UUID,
    confidence: Decimal,
    figures: dict[str, Any],
) -> str:
    """Flag a new pattern, or take the rule's action when confident enough; returns action_taken."""
    taken = AUTOMATIC_ACTIONS.get(str(figures.get("action")))
    automatic = taken is not None and float(confidence) >= float(figures["auto_action_confidence"])
    if not automatic or taken is None:
        taken = "flagged"
    elif taken == "suspended":
        user = await accounts.get_user(session, user_id)
        if user.status == "active":
            await accounts.set_status(session, user, "suspended")
    await session.execute(
        update(AbusePattern)
        .where(AbusePattern.id == pattern_id)
        .values(action_taken=taken, action_automatic=automatic)
        .execution_options(synchronize_session=False)
    )
    await _audit(
        session,
        SYSTEM_ACTOR,
        f"trust.{taken}",
        "user",
        user_id,
        f"Rule {rule} found a pattern (confidence {confidence}): {taken}"
        + (" automatically." if automatic else " for review."),
        {"pattern_id": str(pattern_id), "rule": rule, "confidence": str(confidence), "automatic": automatic},
    )
    return taken


async def _pattern(session: AsyncSession, pattern_id: uuid.UUID) -> AbusePattern:
    pattern = await session.scalar(
        select(AbusePattern).where(AbusePattern.id == pattern_id).with_for_update()
    )
    if pattern is None:
        raise NotFound("no such abuse pattern", field="pattern_id")
    return pattern


async def act_on_pattern(
    session: AsyncSession,
    actor: Actor,
    pattern_id: uuid.UUID,
    action: str,
    note: str | None = None,
    *,
    runtime: Runtime | None = None,
) -> Outcome:
    """A platform admin's decision on one pattern. "warn" also tells the account (in the app and
    by e-mail: trust/notices.py), which needs ``runtime``."""
    if action not in PATTERN_ACTIONS:
        raise Unprocessable(f"action: must be one of {', '.join(PATTERN_ACTIONS)}", field="action")
    if action == "note" and not (note and note.strip()):
        raise Unprocessable("note: a note needs text", field="note")
    pattern = await _pattern(session, pattern_id)
    user = await accounts.get_user(session, pattern.user_id, field="pattern_id")
    before = pattern.action_taken
    details: dict[str, Any] = {"pattern_id": str(pattern.id), "rule": pattern.rule, "before": before}
    if action in ("suspend", "ban") and user.id == actor.user_id:
        raise Unprocessable("You cannot suspend or ban your own account.", field="action")
    if action in ("suspend", "ban"):
        details["revoked_sessions"] = await accounts.set_status(session, user, PATTERN_TAKEN[action])
    elif action == "false_positive":
        details.update(await _clear(session, pattern, user))
    elif action == "warn":
        if runtime is None:
            raise ValueError("warning an account needs the runtime (its notice is mailed)")
        told = await notices.warn(session, runtime, user.id, pattern.rule, pattern.id)
        details["notification_id"] = str(told.notification_id) if told.notification_id else None
        details["mail_id"] = str(told.mail_id) if told.mail_id else None
    if note:
        stamp = f"[{actor.user_id}] {note.strip()}"
        pattern.admin_notes = f"{pattern.admin_notes}\n{stamp}" if pattern.admin_notes else stamp
    if action != "note":
        pattern.action_taken = PATTERN_TAKEN[action]
        pattern.action_automatic = False
    pattern.human_reviewed = True
    pattern.reviewed_by = actor.user_id
    pattern.reviewed_at = func.now()
    await session.flush()
    await session.refresh(pattern)
    verb = "noted" if action == "note" else PATTERN_TAKEN[action]
    await _audit(
        session,
        actor,
        f"trust.{verb}",
        "user",
        user.id,
        f"{user.email}: {pattern.rule} pattern {verb} by a platform admin.",
        details,
    )
    return Outcome(f"{user.email}: {pattern.rule} {verb}.", {"action_taken": pattern.action_taken})


async def _clear(session: AsyncSession, pattern: AbusePattern, user: Any) -> dict[str, Any]:
    """Lift what the pattern did and teach its cluster that this account is legitimate."""
    details: dict[str, Any] = {}
    if pattern.action_taken == "suspended" and user.status == "suspended":
        await accounts.set_status(session, user, "active")
        details["reactivated"] = True
    if pattern.cluster_id is not None:
        await _clear_members(session, pattern.cluster_id, [pattern.user_id])
        details["cluster_id"] = str(pattern.cluster_id)
    return details


async def _clear_members(session: AsyncSession, cluster_id: uuid.UUID, user_ids: list[uuid.UUID]) -> None:
    # Cleared members leave the risk count: the next assessment recomputes it (assessed_at reset).
    await session.execute(
        text(
            "UPDATE account_clusters SET cleared_user_ids = ARRAY(SELECT DISTINCT x FROM "
            "unnest(cleared_user_ids || CAST(:ids AS uuid[])) AS x), assessed_at = NULL, updated_at = now() "
            "WHERE id = :id"
        ),
        {"id": cluster_id, "ids": [str(u) for u in user_ids]},
    )


async def act_on_cluster(
    session: AsyncSession, actor: Actor, cluster_id: uuid.UUID, action: str, note: str | None = None
) -> Outcome:
    """A platform admin's decision on a cluster: reviewed, a note, a shared network (an office or
    NAT: never risky again), or clear (every member legitimate: their open patterns from this
    cluster become false positives)."""
    if action not in CLUSTER_ACTIONS:
        raise Unprocessable(f"action: must be one of {', '.join(CLUSTER_ACTIONS)}", field="action")
    if action == "note" and not (note and note.strip()):
        raise Unprocessable("note: a note needs text", field="note")
    cluster = await session.scalar(
        select(AccountCluster).where(AccountCluster.id == cluster_id).with_for_update()
    )
    if cluster is None:
        raise NotFound("no such cluster", field="cluster_id")
    details: dict[str, Any] = {"cluster_type": cluster.cluster_type, "members": cluster.member_count}
    if action == "shared_network":
        if cluster.cluster_type != "ip_hash":
            raise Unprocessable("only an IP cluster can be a shared network", field="action")
        cluster.is_shared_network = True
        cluster.risk_level = "low"
        cluster.risk_reasons = ["shared network (a reviewer said so)"]
    elif action == "clear":
        await _clear_members(session, cluster.id, list(cluster.user_ids))
        cleared = await session.execute(
            update(AbusePattern)
            .where(
                AbusePattern.cluster_id == cluster.id,
                AbusePattern.action_taken.is_distinct_from("false_positive"),
            )
            .values(
                action_taken="false_positive",
                human_reviewed=True,
                reviewed_by=actor.user_id,
                reviewed_at=func.now(),
            )
            .returning(AbusePattern.id)
            .execution_options(synchronize_session=False)
        )
        details["patterns_cleared"] = len(cleared.all())
    if note:
        stamp = f"[{actor.user_id}] {note.strip()}"
        cluster.admin_notes = f"{cluster.admin_notes}\n{stamp}" if cluster.admin_notes else stamp
    cluster.is_reviewed = True
    cluster.reviewed_by = actor.user_id
    cluster.reviewed_at = func.now()
    await session.flush()
    await session.refresh(cluster)
    await _audit(
        session,
        actor,
        f"trust.cluster_{action}",
        "account_cluster",
        cluster.id,
        f"A {cluster.cluster_type} cluster of {cluster.member_count} accounts: {action} by a platform admin.",
        details,
    )
    return Outcome(f"Cluster {action}: done.", details)


async def record_rules_change(
    session: AsyncSession, actor: Actor, changed_rules: dict[str, Any], changed_clusters: dict[str, Any]
) -> None:
    await audit.record(
        session,
        actor,
        organization_id=None,
        action="trust.rules_changed",
        entity_type="system_setting",
        description="Abuse rules' figures changed by a platform admin.",
        metadata={"rules": changed_rules, "clusters": changed_clusters},
    )
