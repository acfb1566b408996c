"""The rules' figures are data: defaults here, overridden by the system settings ``trust.rules``
(one object per rule) and ``trust.clusters`` (the risk levels), so an operator changes a
threshold with ``PUT /api/admin/trust/rules`` (or any system-settings write), not a code edit.

A setting holds only what it changes: ``{"card_testing": {"min_failures": 8}}`` keeps every other
figure at its default. Unknown rules or figures, or values of the wrong type, are refused on
write (422 naming the field) and ignored on read."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.errors import Unprocessable
from saaskit.system import service as system_service

RULES_KEY = "trust.rules"
MAX_FIGURE = 1_000_000
CLUSTERS_KEY = "trust.clusters"

# What an automatic action may be, and the action_taken it records.
AUTOMATIC_ACTIONS = {
    "none": None,
    "block_trial": "trial_blocked",
    "require_card": "card_required",
    "suspend": "suspended",
}

# Each rule: its pattern type, whether it runs, its thresholds, its confidence figures, the
# automatic action and the confidence from which it applies (below: the pattern is only flagged).
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "trial_from_cluster": {
        "pattern_type": "trial_abuse",
        "enabled": True,
        "min_prior_trials": 1,
        "base_confidence": 0.6,
        "card_cluster_bonus": 0.2,
        "per_extra_trial": 0.1,
        "action": "block_trial",
        "auto_action_confidence": 0.8,
    },
    "failing_cards": {
        "pattern_type": "payment_fraud",
        "enabled": True,
        "min_failures": 3,
        "window_hours": 72,
        "base_confidence": 0.5,
        "per_extra_failure": 0.1,
        "action": "require_card",
        "auto_action_confidence": 0.9,
    },
    "card_testing": {
        "pattern_type": "payment_fraud",
        "enabled": True,
        "min_failures": 5,
        "window_minutes": 60,
        "max_amount_cents": 500,
        "base_confidence": 0.9,
        "action": "suspend",
        "auto_action_confidence": 0.9,
    },
    "shared_card": {
        "pattern_type": "payment_fraud",
        "enabled": True,
        "min_accounts": 2,
        "base_confidence": 0.5,
        "per_extra_account": 0.15,
        "action": "none",
        "auto_action_confidence": 1.0,
    },
    "refund_after_credits": {
        "pattern_type": "payment_fraud",
        "enabled": True,
        "min_spent_share": 0.5,
        "base_confidence": 0.8,
        "action": "require_card",
        "auto_action_confidence": 0.9,
    },
    # API abuse (trust/api_abuse.py), over the per-source tallies of the last window_minutes.
    "credential_stuffing": {
        "pattern_type": "api_abuse",
        "enabled": True,
        "window_minutes": 60,
        "min_failures": 20,
        "min_accounts": 10,
        "base_confidence": 0.5,
        "signed_in_confidence": 0.9,
        "action": "none",
        "auto_action_confidence": 1.0,
    },
    "rate_limit_hits": {
        "pattern_type": "api_abuse",
        "enabled": True,
        "window_minutes": 60,
        "min_refusals": 100,
        "min_minutes": 10,
        "base_confidence": 0.5,
        "per_extra_minute": 0.01,
        "action": "none",
        "auto_action_confidence": 1.0,
    },
    "junk_ingestion": {
        "pattern_type": "api_abuse",
        "enabled": True,
        "window_minutes": 60,
        "min_events": 200,
        "min_junk_share": 0.5,
        "base_confidence": 0.5,
        "action": "none",
        "auto_action_confidence": 1.0,
    },
}

DEFAULT_CLUSTERS: dict[str, Any] = {
    # An IP cluster this large is a shared office or NAT (app_trust_observe reads this one too).
    "shared_network_members": 25,
    # Risk levels of device and card clusters (IP clusters are always low: docs/trust.md).
    "medium_members": 3,
    "high_members": 6,
    "medium_trials": 2,
    "high_trials": 3,
    "high_failed_payers": 2,
    "card_medium_members": 2,
    "card_high_members": 3,
}


def _merge(defaults: dict[str, Any], given: Any) -> dict[str, Any]:
    merged = dict(defaults)
    if isinstance(given, dict):
        for name, value in given.items():
            if name in defaults and name != "pattern_type" and _same_kind(defaults[name], value):
                merged[name] = value
    return merged


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    # Bounded: a figure goes into SQL as a parameter (an int beyond bigint would fail there), and
    # a count or a length of time stays whole (make_interval takes whole minutes).
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_FIGURE
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= MAX_FIGURE
    if isinstance(default, str):
        return isinstance(value, str) and (default not in AUTOMATIC_ACTIONS or value in AUTOMATIC_ACTIONS)
    return False


async def rules(session: AsyncSession) -> dict[str, dict[str, Any]]:
    """Every rule's figures: the defaults with ``trust.rules`` applied."""
    stored = await system_service.get_value(session, RULES_KEY, {})
    stored = stored if isinstance(stored, dict) else {}
    return {name: _merge(defaults, stored.get(name)) for name, defaults in DEFAULT_RULES.items()}


async def cluster_figures(session: AsyncSession) -> dict[str, Any]:
    return _merge(DEFAULT_CLUSTERS, await system_service.get_value(session, CLUSTERS_KEY, {}))


def check_changes(rules_given: dict[str, Any], clusters_given: dict[str, Any]) -> None:
    """422 naming the first unknown rule, figure or badly typed value."""
    for name, figures in rules_given.items():
        if name not in DEFAULT_RULES:
            raise Unprocessable(f"rules: unknown rule {name!r}", field=f"rules.{name}")
        if not isinstance(figures, dict):
            raise Unprocessable("rules: each rule takes an object of figures", field=f"rules.{name}")
        _check_figures(DEFAULT_RULES[name], figures, f"rules.{name}")
    _check_figures(DEFAULT_CLUSTERS, clusters_given, "clusters")


def _check_figures(defaults: dict[str, Any], figures: dict[str, Any], where: str) -> None:
    for figure, value in figures.items():
        if figure not in defaults or figure == "pattern_type":
            raise Unprocessable(f"{where}: unknown figure {figure!r}", field=f"{where}.{figure}")
        if not _same_kind(defaults[figure], value):
            raise Unprocessable(
                f"{where}.{figure}: expected a value like {defaults[figure]!r}", field=f"{where}.{figure}"
            )
        if figure.endswith("confidence") and value > 1:
            raise Unprocessable(
                f"{where}.{figure}: a confidence is between 0 and 1", field=f"{where}.{figure}"
            )


async def save(session: AsyncSession, rules_given: dict[str, Any], clusters_given: dict[str, Any]) -> None:
    """Store the changes (merged into what is stored), after checking them."""
    check_changes(rules_given, clusters_given)
    if rules_given:
        stored = await system_service.get_value(session, RULES_KEY, {})
        stored = dict(stored) if isinstance(stored, dict) else {}
        for name, figures in rules_given.items():
            stored[name] = {**(stored.get(name) or {}), **figures}
        await system_service.put_setting(
            session,
            RULES_KEY,
            stored,
            category="trust",
            description="Abuse rules' thresholds (docs/trust.md).",
        )
    if clusters_given:
        stored = await system_service.get_value(session, CLUSTERS_KEY, {})
        stored = {**(stored if isinstance(stored, dict) else {}), **clusters_given}
        await system_service.put_setting(
            session,
            CLUSTERS_KEY,
            stored,
            category="trust",
            description="Cluster risk levels (docs/trust.md).",
        )
