"""Revenue figures computed the plain way, in Python over the raw rows a test inserted: the
tests' independent reference for ``saaskit.billing.revenue``. It shares no code with it: its
own months (Python dates), its own "paying" test, its own search for each subscription's
latest invoice line (a scan), exact fractions, rounding half up at the end. Definitions as
docs/billing.md ("Revenue figures") states them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from math import floor
from typing import Any


@dataclass(frozen=True)
class RefMonth:
    month: str
    mrr_cents: int
    arr_cents: int
    new_mrr_cents: int
    expansion_mrr_cents: int
    contraction_mrr_cents: int
    churned_mrr_cents: int
    paying_accounts: int
    churned_accounts: int
    arpu_cents: int | None
    ltv_cents: int | None
    credit_purchases_cents: int


def _round(value: Fraction) -> int:
    return floor(value + Fraction(1, 2))


def _month_starts(now: datetime, months: int) -> list[datetime]:
    year, month = now.year, now.month
    starts = []
    for _ in range(months):
        starts.append(datetime(year, month, 1, tzinfo=UTC))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return starts[::-1]


def _next_month(start: datetime) -> datetime:
    return datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC)


def _stopped_at(s: dict[str, Any]) -> datetime | None:
    if s["ended_at"] is not None:
        return s["ended_at"]  # type: ignore[no-any-return]
    if s["status"] in ("cancelled", "expired"):
        for key in ("cancelled_at", "ends_at", "updated_at"):
            if s[key] is not None:
                return s[key]  # type: ignore[no-any-return]
    return None


def _paying(s: dict[str, Any], at: datetime) -> bool:
    if s["status"] == "incomplete" or (s["user_id"] is None and s["organization_id"] is None):
        return False
    stopped = _stopped_at(s)
    return (
        s["started_at"] <= at
        and (stopped is None or stopped > at)
        and (s["trial_end"] is None or s["trial_end"] <= at)
    )


def _monthly(
    s: dict[str, Any], at: datetime, plans: dict[uuid.UUID, dict[str, Any]], lines: list[dict[str, Any]]
) -> Fraction:
    best = None
    for line in lines:
        if (
            line["subscription_id"] == s["id"]
            and not line["proration"]
            and line["amount_cents"] > 0
            and line["invoice_status"] in ("paid", "open")
            and line["period_start"] is not None
            and line["period_end"] is not None
            and line["period_start"] <= at
        ):
            key = (line["period_start"], line["id"].int)
            if best is None or key > best[0]:
                best = (key, line)
    if best is not None:
        line = best[1]
        yearly = line["period_end"] - line["period_start"] > timedelta(days=45)
        return Fraction(line["amount_cents"], 12 if yearly else 1)
    plan = plans.get(s["plan_id"])
    if plan is None:
        return Fraction(0)
    interval = s["billing_interval"] or plan["billing_interval"]
    return Fraction(plan["price_cents"] * s["quantity"], 12 if interval == "year" else 1)


def _accounts(
    at: datetime,
    subscriptions: list[dict[str, Any]],
    plans: dict[uuid.UUID, dict[str, Any]],
    lines: list[dict[str, Any]],
) -> dict[uuid.UUID, Fraction]:
    out: dict[uuid.UUID, Fraction] = {}
    for s in subscriptions:
        if _paying(s, at):
            account = s["user_id"] or s["organization_id"]
            out[account] = out.get(account, Fraction(0)) + _monthly(s, at, plans, lines)
    return out


def reference(
    now: datetime,
    months: int,
    subscriptions: list[dict[str, Any]],
    plans: list[dict[str, Any]],
    lines: list[dict[str, Any]],
    transactions: list[dict[str, Any]],
) -> list[RefMonth]:
    by_id = {p["id"]: p for p in plans}
    out = []
    for start in _month_starts(now, months):
        end = min(_next_month(start), now)
        before = _accounts(min(start, now), subscriptions, by_id, lines)
        after = _accounts(end, subscriptions, by_id, lines)
        zero = Fraction(0)
        names = set(before) | set(after)
        b = {a: before.get(a, zero) for a in names}
        f = {a: after.get(a, zero) for a in names}
        total = sum(f.values(), zero)
        paying = sum(1 for a in names if f[a] > 0)
        paying_before = sum(1 for a in names if b[a] > 0)
        churned_accounts = [a for a in names if b[a] > 0 and f[a] == 0]
        arpu = total / paying if paying else None
        ltv = (
            arpu / Fraction(len(churned_accounts), paying_before)
            if arpu is not None and churned_accounts and paying_before
            else None
        )
        credit = sum(
            t["amount_cents"] - t["refunded_cents"]
            for t in transactions
            if t["kind"] in ("topup", "auto_topup")
            and t["status"] in ("succeeded", "refunded", "partially_refunded")
            and t["credited_at"] is not None
            and start <= t["credited_at"] < _next_month(start)
        )
        out.append(
            RefMonth(
                month=start.strftime("%Y-%m"),
                mrr_cents=_round(total),
                arr_cents=_round(total * 12),
                new_mrr_cents=_round(sum((f[a] for a in names if b[a] == 0 and f[a] > 0), zero)),
                expansion_mrr_cents=_round(
                    sum((f[a] - b[a] for a in names if b[a] > 0 and f[a] > b[a]), zero)
                ),
                contraction_mrr_cents=_round(
                    sum((b[a] - f[a] for a in names if f[a] > 0 and b[a] > f[a]), zero)
                ),
                churned_mrr_cents=_round(sum((b[a] for a in churned_accounts), zero)),
                paying_accounts=paying,
                churned_accounts=len(churned_accounts),
                arpu_cents=_round(arpu) if arpu is not None else None,
                ltv_cents=_round(ltv) if ltv is not None else None,
                credit_purchases_cents=credit,
            )
        )
    return out
