"""Realistic abuse among normal users, with the ground truth, to measure each trust rule's
precision and recall (docs/trust.md, "Precision and recall").

``inject`` writes, as the service and set-based (a few statements whatever the size):

- normal users: each with an own device and IP hash (a quarter share a household IP with the
  previous user), ~10 % with a trial, ~5 % with one declined payment, ~30 % with an own card;
- a legitimate shared office: 40 colleagues behind one IP, in one organization, on their own
  laptops, a third of them with trials, two of them paying with the company card;
- trial farms: groups of 4 to 6 accounts on one device (and one IP), each taking a trial;
- families: two people on one laptop, both taking a trial (legitimate, and flagged: the rule
  cannot tell them from a farm of two; they measure its precision);
- card testers: bursts of 8 small declines within half an hour;
- bad payers: 3 or 4 declined real-amount payments over two days;
- shared stolen cards: pairs of unrelated accounts on one card;
- refund after credits: top-ups refunded after the credits were spent (and, as look-alikes,
  refunds of unspent credits);
- API abuse (demo/abuse_api.py): credential-stuffing runs, API keys hammering their rate limit,
  ingestion keys sending junk, each with its look-alikes.

Every hash is random hex (what a keyed hash looks like): nothing here is a real identifier.
``measure`` runs the hourly sweep's work and compares each rule's findings with the truth (in a
database holding only the scenario: every flagged account counts).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.demo import abuse_api
from saaskit.demo.people import ABUSE_DOMAIN
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.trust import clusters, detect

HEX = "md5(random()::text || clock_timestamp()::text)"


@dataclass
class Truth:
    """Which accounts each rule should find, and the legitimate look-alikes."""

    expected: dict[str, set[uuid.UUID]] = field(default_factory=dict)
    office: set[uuid.UUID] = field(default_factory=set)
    families: set[uuid.UUID] = field(default_factory=set)
    users: int = 0


async def _users(session: AsyncSession, prefix: str, count: int, **columns: str) -> list[uuid.UUID]:
    names = "".join(f", {name}" for name in columns)
    values = "".join(f", {value}" for value in columns.values())
    rows = await session.execute(
        text(
            f"INSERT INTO users (email{names}) SELECT :prefix || '-' || n || '@demo.invalid'{values} "
            "FROM generate_series(1, :count) AS n RETURNING id"
        ),
        {"prefix": f"{prefix}-{uuid.uuid4().hex[:8]}", "count": count},
    )
    return [row[0] for row in rows]


async def _exec(session: AsyncSession, statement: str, **params: Any) -> None:
    await session.execute(text(statement), params)


async def _trials(session: AsyncSession, user_ids: list[uuid.UUID], days_ago: str = "random() * 20") -> None:
    await _exec(
        session,
        "INSERT INTO subscriptions (user_id, plan_name, tier, status, trial_start) "
        f"SELECT u, 'Pro', 'pro', 'trialing', now() - make_interval(secs => ({days_ago}) * 86400 - n) "
        "FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS x(u, n)",
        ids=[str(u) for u in user_ids],
    )


async def _declines(
    session: AsyncSession, user_ids: list[uuid.UUID], per_user: int, amount: str, spread_minutes: int
) -> None:
    await _exec(
        session,
        "INSERT INTO payment_transactions (user_id, kind, status, amount_cents, created_at) "
        f"SELECT u, 'subscription', 'failed', {amount}, "
        "now() - make_interval(secs => random() * :spread * 60) "
        "FROM unnest(CAST(:ids AS uuid[])) AS u, generate_series(1, :per_user)",
        ids=[str(u) for u in user_ids],
        per_user=per_user,
        spread=spread_minutes,
    )


async def _cards(session: AsyncSession, user_ids: list[uuid.UUID], card: str | None = None) -> None:
    """One card each (``card``: the same card for all of them)."""
    await _exec(
        session,
        "INSERT INTO payment_methods (user_id, provider_payment_method_id, card_brand, card_last4, "
        "card_fingerprint_hash) SELECT u, 'pm_demo_' || md5(u::text || random()::text), 'visa', '4242', "
        f"coalesce(CAST(:card AS text), {HEX}) FROM unnest(CAST(:ids AS uuid[])) AS u",
        ids=[str(u) for u in user_ids],
        card=card,
    )


async def inject(
    session: AsyncSession, users: int, *, seed: float = 0.42, among: list[uuid.UUID] | None = None
) -> Truth:
    """Write the scenario for about ``users`` normal accounts; returns the truth. ``among``: the
    normal accounts already there (the demo's), instead of new ones."""
    await _exec(session, "SELECT setseed(:s)", s=seed)
    truth = Truth(users=users)
    if among is None:
        normal = await _normal_users(session, users)
    else:
        normal = among
    office_ip = uuid.uuid4().hex
    office = await _users(session, "office", 40, device_fingerprint_hash=HEX, signup_ip_hash=f"'{office_ip}'")
    org = (
        await session.execute(
            text("INSERT INTO organizations (name, slug) VALUES ('Demo office', :s) RETURNING id"),
            {"s": f"office-{uuid.uuid4().hex[:8]}"},
        )
    ).scalar_one()
    await _exec(
        session,
        "INSERT INTO organization_members (organization_id, user_id, role) "
        "SELECT :o, u, 'member' FROM unnest(CAST(:ids AS uuid[])) AS u",
        o=org,
        ids=[str(u) for u in office],
    )
    await _trials(session, office[::3])
    await _cards(session, office[:2], card=uuid.uuid4().hex)
    truth.office = set(office)

    repeat_trials: set[uuid.UUID] = set()
    for farm in range(max(2, users // 500)):
        device, ip = uuid.uuid4().hex, uuid.uuid4().hex
        size = 4 + farm % 3
        members = await _users(
            session, f"farm{farm}", size, device_fingerprint_hash=f"'{device}'", signup_ip_hash=f"'{ip}'"
        )
        # One after the other, a day apart: the first trial is not evidence, the others are.
        await _trials(session, members, days_ago="10")
        repeat_trials |= set(members[1:])
    truth.expected["trial_from_cluster"] = repeat_trials
    # Look-alikes the rule cannot tell apart: two people of one family on one laptop, both trying
    # the product. The second trial is flagged (confidence 0.6: review only, no automatic action);
    # a reviewer's false positive clears it. They count against the rule's precision.
    for family in range(max(1, users // 1000)):
        laptop = uuid.uuid4().hex
        members = await _users(session, f"family{family}", 2, device_fingerprint_hash=f"'{laptop}'")
        await _trials(session, members, days_ago="5")
        truth.families |= set(members)

    testers = await _users(session, "tester", max(2, users // 1000), device_fingerprint_hash=HEX)
    await _declines(session, testers, 8, "100 + (random() * 300)::int", 30)
    truth.expected["card_testing"] = set(testers)
    payers = await _users(session, "badpayer", max(2, users // 700), device_fingerprint_hash=HEX)
    await _declines(session, payers, 4, "2900", 2 * 24 * 60)
    truth.expected["failing_cards"] = set(testers) | set(payers)

    stolen: set[uuid.UUID] = set()
    for _ in range(max(2, users // 1000)):
        pair = await _users(session, "stolen", 2, device_fingerprint_hash=HEX)
        await _cards(session, pair, card=uuid.uuid4().hex)
        stolen |= set(pair)
    truth.expected["shared_card"] = stolen

    refunders = await _users(session, "refund", max(2, users // 1000), credits_cents="200")
    honest = await _users(session, "refund-honest", max(2, users // 1000), credits_cents="2400")
    await _exec(
        session,
        "INSERT INTO payment_transactions (user_id, kind, status, amount_cents, credits_cents, "
        "refunded_cents, credited_at) "
        "SELECT u, 'topup', 'refunded', 2400, 2400, 2400, now() - interval '1 day' "
        "FROM unnest(CAST(:ids AS uuid[])) AS u",
        ids=[str(u) for u in refunders + honest],
    )
    truth.expected["refund_after_credits"] = set(refunders)
    truth.expected.update(await abuse_api.inject(session, normal, users))
    return truth


async def _normal_users(session: AsyncSession, users: int) -> list[uuid.UUID]:
    normal = await _users(
        session, "normal", users, device_fingerprint_hash=HEX, signup_ip_hash=HEX, credits_cents="0"
    )
    # Households: every fourth user shares the previous user's IP (a couple, flatmates).
    await _exec(
        session,
        "UPDATE users u SET last_known_ip_hash = p.signup_ip_hash FROM unnest(CAST(:ids AS uuid[])) "
        "WITH ORDINALITY AS a(id, n) JOIN unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS b(id, n) "
        "ON b.n = a.n - 1 JOIN users p ON p.id = b.id WHERE u.id = a.id AND a.n % 4 = 0",
        ids=[str(u) for u in normal],
    )

    await _trials(session, normal[::10])
    await _declines(session, normal[3::20], 1, "2900", 2880)
    await _cards(session, normal[1 : len(normal) : 3])
    return normal


@dataclass
class RuleScore:
    rule: str
    expected: int
    found: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.expected if self.expected else 1.0


@dataclass
class Report:
    scores: list[RuleScore]
    office_flagged: int
    grouping_seconds: float
    sweep_seconds: float


async def measure(session: AsyncSession, truth: Truth) -> Report:
    """The hourly sweep's work over the injected data, then each rule against the truth."""
    started = time.perf_counter()
    await clusters.group_all(session)
    grouped = time.perf_counter()
    assessed: list[uuid.UUID] = []
    while batch := await clusters.assess(session, batch=5000):
        assessed += batch
    await detect.run(session, full=True, changed=assessed)
    swept = time.perf_counter()
    rows = (await session.execute(text("SELECT DISTINCT rule, user_id FROM abuse_patterns"))).all()
    found: dict[str, set[uuid.UUID]] = {}
    for rule, user_id in rows:
        found.setdefault(rule, set()).add(user_id)
    scores = [
        RuleScore(rule, len(expected), len(found.get(rule, set())), len(found.get(rule, set()) & expected))
        for rule, expected in truth.expected.items()
    ]
    flagged = set().union(*found.values()) if found else set()
    return Report(scores, len(truth.office & flagged), grouped - started, swept - grouped)


async def add_to_demo(runtime: Runtime, users: int) -> Report:
    """``saaskit demo`` and ``serve --demo``: the scenario among the demo's own accounts (they are
    the normal users), then the hourly sweep's work, so the review queue has content at once.
    Returns each rule's precision and recall on the demo (the demo's own data counts: a demo
    account a rule flags is a false positive)."""
    async with runtime.db.session(SERVICE) as session:
        among = list(
            (
                await session.scalars(
                    text(
                        "SELECT id FROM users WHERE role = 'user' AND status = 'active' ORDER BY id LIMIT :n"
                    ),
                    {"n": users},
                )
            ).all()
        )
        truth = await inject(session, users, among=among)
        # The demo's own trial farms (demo/people.py: sign-up bursts on one device and IP, at
        # ABUSE_DOMAIN) are abuse too: every trial of a farm after its first.
        farmed = await session.scalars(DEMO_FARM_TRIALS, {"domain": f"%@{ABUSE_DOMAIN}"})
        truth.expected["trial_from_cluster"] |= set(farmed.all())
        return await measure(session, truth)


DEMO_FARM_TRIALS = text("""
WITH trials AS (
  SELECT u.id, u.device_fingerprint_hash AS device, s.trial_start,
         row_number() OVER (PARTITION BY u.device_fingerprint_hash ORDER BY s.trial_start, s.id) AS n
  FROM users u JOIN subscriptions s ON s.user_id = u.id AND s.trial_start IS NOT NULL
  WHERE u.email LIKE :domain AND u.device_fingerprint_hash IS NOT NULL
)
SELECT DISTINCT id FROM trials WHERE n > 1
""")
