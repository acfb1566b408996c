"""Subscriptions and what they leave behind: a trial -> paid funnel with churn.

About a third of users start a 14-day trial (most right after signing up), a quarter of trials
convert, paid subscriptions renew monthly or yearly until the customer cancels (about 4.5% a
month) or a renewal payment fails (past_due for three weeks, then cancelled); some churned
users come back later. Organizations subscribe to the business tier with one seat per member.
Every paid period has an invoice with one line and a payment transaction (``ledger.py``).
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field

from saaskit.billing.models.subscriptions import ENTITLED_STATUSES
from saaskit.demo.config import DAY_US, MINUTE_US, DemoConfig, from_us, to_us
from saaskit.demo.people import People
from saaskit.demo.rand import new_uuid, rng_for, token
from saaskit.demo.tenancy import Tenancy

DUNNING_US = 21 * DAY_US  # Stripe retries a failed renewal for three weeks, then cancels


@dataclass(frozen=True)
class Plan:
    id: uuid.UUID
    name: str
    tier: str
    interval: str
    price_cents: int
    trial_days: int
    max_dashboards: int
    stripe_price_id: str


@dataclass
class Invoice:
    period_start: int
    period_end: int
    amount_cents: int
    status: str  # paid, open (renewal failing) or uncollectible (given up)
    paid_at: int | None
    attempts: int
    reason: str  # subscription_create or subscription_cycle
    refunded_cents: int = 0
    withheld: bool = False  # its invoice.paid webhook failed: not applied yet (webhooks.py)
    index: int = 0  # order within the subscription


@dataclass
class Subscription:
    id: uuid.UUID
    number: int
    user: int  # user index, or -1
    org: int  # organization index, or -1
    plan: Plan
    quantity: int
    started: int
    status: str = "active"
    stripe_status: str = "active"
    trial_start: int | None = None
    trial_end: int | None = None
    period_start: int = 0
    period_end: int = 0
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    cancelled_at: int | None = None
    ended_at: int | None = None
    ends_at: int | None = None
    updated: int = 0
    invoices: list[Invoice] = field(default_factory=list)

    @property
    def customer(self) -> str:
        return customer_id(self.user, self.org)

    @property
    def stripe_id(self) -> str:
        return f"sub_demo{self.number:08d}"


def customer_id(user: int, org: int) -> str:
    return f"cus_demou{user:08d}" if user >= 0 else f"cus_demoo{org:07d}"


def add_interval(at_us: int, interval: str) -> int:
    """The same day of the next month (or year), clamped to the month's end, as Stripe bills."""
    moment = from_us(at_us)
    months = 12 if interval == "year" else 1
    year, month = divmod(moment.month - 1 + months, 12)
    day = moment.day
    while True:
        try:
            return to_us(moment.replace(year=moment.year + year, month=month + 1, day=day))
        except ValueError:
            day -= 1


def _cancel_or_renew(sub: Subscription, rng: random.Random, start: int, end: int, now: int) -> bool:
    """Decide the paid period [start, end): True when the subscription stops here."""
    monthly_churn = 0.045 if sub.plan.interval == "month" else 0.15
    sub.period_start, sub.period_end = start, end
    if rng.random() < monthly_churn:
        cancelled = start + int(rng.random() * (end - start))
        if cancelled < now:
            sub.cancel_at_period_end, sub.cancel_at, sub.cancelled_at = True, end, cancelled
            sub.ends_at, sub.updated = end, cancelled
            if end <= now:
                sub.status, sub.stripe_status, sub.ended_at, sub.updated = "cancelled", "canceled", end, end
            return True
    if end > now:
        sub.status, sub.stripe_status, sub.ends_at = "active", "active", end
        return True
    return False


def run_lifecycle(sub: Subscription, rng: random.Random, now: int, *, trial: bool, convert: float) -> None:
    """Play a subscription forward from ``sub.started`` up to ``now``."""
    price = sub.plan.price_cents * sub.quantity
    sub.updated = sub.started
    paid_from = sub.started
    if trial:
        sub.trial_start = sub.started
        sub.trial_end = sub.started + max(1, sub.plan.trial_days or 14) * DAY_US
        sub.period_start, sub.period_end, sub.ends_at = sub.started, sub.trial_end, sub.trial_end
        if sub.trial_end > now:
            sub.status = sub.stripe_status = "trialing"
            if rng.random() < 0.08:  # will not convert: cancelled during the trial
                cancelled = sub.started + int(rng.random() * (now - sub.started))
                sub.cancel_at_period_end, sub.cancel_at, sub.cancelled_at = True, sub.trial_end, cancelled
                sub.updated = cancelled
            return
        if rng.random() >= convert:
            if rng.random() < 0.3:
                sub.status, sub.stripe_status = "cancelled", "canceled"
                sub.cancelled_at = sub.started + int(rng.random() * (sub.trial_end - sub.started))
            else:
                sub.status, sub.stripe_status = "expired", "incomplete_expired"
            sub.ended_at = sub.updated = sub.trial_end
            return
        paid_from = sub.trial_end
    start = paid_from
    while True:
        end = add_interval(start, sub.plan.interval)
        reason = "subscription_cycle" if sub.invoices or trial else "subscription_create"
        index = len(sub.invoices)
        if sub.invoices and rng.random() < 0.04:  # the renewal payment fails
            attempts = 1 + min(3, int((now - start) / (7 * DAY_US)))
            given_up = start + DUNNING_US <= now
            sub.invoices.append(
                Invoice(
                    start,
                    end,
                    price,
                    "uncollectible" if given_up else "open",
                    None,
                    attempts,
                    reason,
                    index=index,
                )
            )
            sub.period_start, sub.period_end = start, end
            if given_up:
                sub.status, sub.stripe_status = "cancelled", "canceled"
                sub.ended_at = sub.ends_at = sub.cancelled_at = sub.updated = start + DUNNING_US
            else:
                sub.status, sub.stripe_status, sub.ends_at, sub.updated = "past_due", "past_due", end, start
            return
        paid_at = start + MINUTE_US + int(rng.random() * 30 * MINUTE_US)
        if paid_at >= now:  # the renewal is being charged right now: keep the previous state
            sub.status, sub.stripe_status = "active", "active"
            sub.ends_at = sub.period_end = start
            return
        refund = 0
        if rng.random() < 0.01:
            refund = price if rng.random() < 0.5 else price // 2
        sub.invoices.append(Invoice(start, end, price, "paid", paid_at, 1, reason, refund, index=index))
        sub.updated = paid_at
        if _cancel_or_renew(sub, rng, start, end, now):
            return
        start = end


PLAN_WEIGHTS = {
    ("pro", "month"): 55,
    ("pro", "year"): 12,
    ("business", "month"): 23,
    ("business", "year"): 10,
}


@dataclass
class Billing:
    plans: list[Plan]
    subscriptions: list[Subscription]
    user_tier: dict[int, Subscription]  # users on a paid tier now -> the subscription that decides it

    def user_spent_cents(self) -> dict[int, int]:
        spent: dict[int, int] = {}
        for sub in self.subscriptions:
            if sub.user >= 0:
                total = sum(
                    i.amount_cents - i.refunded_cents for i in sub.invoices if i.paid_at and not i.withheld
                )
                if total:
                    spent[sub.user] = spent.get(sub.user, 0) + total
        return spent

    def customers(self) -> set[tuple[int, int]]:
        return {(s.user, s.org) for s in self.subscriptions}


def _pick_plan(rng: random.Random, plans: list[Plan], business_only: bool = False) -> Plan:
    paid = [p for p in plans if p.price_cents > 0 and (not business_only or p.tier == "business")]
    paid = paid or [p for p in plans if p.price_cents > 0]
    weights = [PLAN_WEIGHTS.get((p.tier, p.interval), 10) for p in paid]
    roll = rng.random() * sum(weights)
    for plan, weight in zip(paid, weights, strict=True):
        roll -= weight
        if roll < 0:
            return plan
    return paid[-1]


def build_billing(config: DemoConfig, people: People, tenancy: Tenancy, plans: list[Plan]) -> Billing:
    rng = rng_for(config.seed, "billing")
    now = config.now_us
    subs: list[Subscription] = []

    def start(
        user: int, org: int, at: int, plan: Plan, quantity: int, *, trial: bool, convert: float
    ) -> None:
        sub = Subscription(new_uuid(rng), len(subs), user, org, plan, quantity, at)
        run_lifecycle(sub, rng, now, trial=trial, convert=convert)
        subs.append(sub)
        if sub.ended_at is not None and sub.ended_at < now and user >= 0 and rng.random() < 0.12:
            back = sub.ended_at + MINUTE_US + int(-math.log(1.0 - rng.random()) * 25 * DAY_US)
            if back < now:  # a churned customer comes back, straight to a paid plan
                again = Subscription(new_uuid(rng), len(subs), user, org, _pick_plan(rng, plans), 1, back)
                run_lifecycle(again, rng, now, trial=False, convert=1.0)
                subs.append(again)

    for i in range(people.count):
        quiet = people.quiet(i)
        if rng.random() >= (0.9 if quiet else 0.35):
            continue
        created = people.created_us[i]
        if quiet or rng.random() < 0.7:
            at = created + 2 * MINUTE_US + int(rng.random() * (8 if quiet else 58) * MINUTE_US)
        else:
            at = created + MINUTE_US + int(-math.log(1.0 - rng.random()) * 12 * DAY_US)
        engaged = people.engaged_until_us[i]
        if at < min(now, engaged):
            # Those still around when the trial ends convert far more often.
            convert = 0.02 if quiet else (0.4 if engaged > at + 14 * DAY_US else 0.05)
            start(i, -1, at, _pick_plan(rng, plans), 1, trial=True, convert=convert)
    for k in range(tenancy.count):
        if rng.random() >= 0.6:
            continue
        at = tenancy.created_us[k] + MINUTE_US + int(-math.log(1.0 - rng.random()) * 7 * DAY_US)
        if at < now:
            plan = _pick_plan(rng, plans, business_only=True)
            start(-1, k, at, plan, max(1, len(tenancy.members[k])), trial=True, convert=0.45)

    # The tier of a user: their newest subscription in an entitled status (billing.tiers).
    user_tier: dict[int, Subscription] = {}
    for sub in subs:
        if sub.user >= 0 and sub.status in ENTITLED_STATUSES:
            best = user_tier.get(sub.user)
            if best is None or (sub.started, sub.number) > (best.started, best.number):
                user_tier[sub.user] = sub
    return Billing(plans, subs, user_tier)


def invoice_number(sub: Subscription, invoice: Invoice) -> str:
    return f"DEMO-{sub.number:08d}-{invoice.index + 1:04d}"


def stripe_ids(config: DemoConfig, sub: Subscription, invoice: Invoice) -> dict[str, str]:
    key = (sub.number, invoice.index)
    return {
        "invoice": f"in_demo{sub.number:08d}{invoice.index:04d}",
        "payment_intent": f"pi_{token(config.seed, 'pi', key)}",
        "charge": f"ch_{token(config.seed, 'ch', key)}",
        "line": f"il_{token(config.seed, 'il', key)}",
    }
