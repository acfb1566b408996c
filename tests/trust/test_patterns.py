"""Abuse rules: each one fires on its evidence and not on look-alikes, counts its firings, never
records the same evidence twice; thresholds come from system settings; actions are audited; a
false positive clears the account and is not flagged again."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit.service import Actor
from saaskit.kit.db import Context, set_context
from saaskit.kit.errors import Unprocessable
from saaskit.trust import actions, clusters, detect, rules, signals
from tests.factories import insert_member, insert_org, insert_user, sql
from tests.trust.conftest import account, failed_payments, trial


async def patterns_of(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[object, ...]]:
    rows = await sql(
        session,
        "SELECT rule, confidence_score, action_taken, action_automatic, evidence, cluster_id FROM abuse_patterns "
        "WHERE user_id = :u ORDER BY detected_at, rule",
        u=user_id,
    )
    return [tuple(r) for r in rows]


async def firings(session: AsyncSession, rule: str) -> int:
    rows = await sql(session, "SELECT fired_count FROM abuse_rule_firings WHERE rule = :r", r=rule)
    return int(rows[0][0]) if rows else 0


async def test_trial_farm_on_one_device(session: AsyncSession) -> None:
    device = "farm-" + uuid.uuid4().hex
    farm = [await account(session, device=device) for _ in range(4)]
    for days_ago, user_id in zip((4, 3, 2, 1), farm, strict=True):
        await trial(session, user_id, days_ago)
    before = await firings(session, "trial_from_cluster")
    result = await detect.run(session, full=True)
    assert result.fired["trial_from_cluster"] == 3
    assert await firings(session, "trial_from_cluster") == before + 3
    assert await patterns_of(session, farm[0]) == []  # the first trial is not abuse
    second = (await patterns_of(session, farm[1]))[0]
    fourth = (await patterns_of(session, farm[3]))[0]
    # 0.6 for one prior trial, +0.1 per further one; at 0.8 the rule blocks the account's next trial.
    assert second[:4] == ("trial_from_cluster", Decimal("0.600"), "flagged", False)
    assert fourth[:4] == ("trial_from_cluster", Decimal("0.800"), "trial_blocked", True)
    assert fourth[4]["prior_trial_accounts"] == [str(u) for u in farm[:3]]
    assert fourth[4]["identifier_hash"] == device
    # In force for the user (what billing's subscribe reads, in the user's own context).
    await set_context(session, Context(user_id=farm[3]))
    assert await signals.restrictions(session, farm[3]) == {"trial_blocked"}
    # Audited, by the system.
    audited = await sql(
        session,
        "SELECT action, actor_id FROM activities WHERE entity_id = :u AND action LIKE 'trust.%'",
        u=farm[3],
    )
    assert [tuple(r) for r in audited] == [("trust.trial_blocked", None)]
    # The same evidence never twice.
    again = await detect.run(session, full=True)
    assert again.fired == {} and await firings(session, "trial_from_cluster") == before + 3


async def test_payment_rules(session: AsyncSession) -> None:
    # Card testing: a burst of small declines in an hour -> suspended automatically (0.9).
    tester = await insert_user(session)
    await failed_payments(session, tester, 6, amount_cents=100)
    # Failing cards: three declines of real amounts -> flagged (0.5 < 0.9).
    unlucky = await insert_user(session)
    await failed_payments(session, unlucky, 3, amount_cents=2900)
    # One decline is life.
    normal = await insert_user(session)
    await failed_payments(session, normal, 1, amount_cents=2900)
    # A card shared by two unrelated accounts -> both flagged; by two colleagues -> nothing.
    card = "card-" + uuid.uuid4().hex
    stranger_a, stranger_b = await account(session, card=card), await account(session, card=card)
    office_card = "card-" + uuid.uuid4().hex
    org = await insert_org(session, "Colleagues")
    colleague_a, colleague_b = (
        await account(session, card=office_card),
        await account(session, card=office_card),
    )
    for user_id in (colleague_a, colleague_b):
        await insert_member(session, org, user_id)
    # Credits topped up, spent, then refunded.
    refunder = await insert_user(session, credits_cents=100)
    await sql(
        session,
        "INSERT INTO payment_transactions (user_id, kind, status, amount_cents, credits_cents, refunded_cents, "
        "credited_at) VALUES (:u, 'topup', 'refunded', 2400, 2400, 2400, now())",
        u=refunder,
    )
    # As the minute job does: the clusters that grew are assessed, and the rules look at them.
    result = await detect.run(session, changed=await clusters.assess(session))
    assert [p[:4] for p in await patterns_of(session, tester)] == [
        ("card_testing", Decimal("0.900"), "suspended", True),
        ("failing_cards", Decimal("0.800"), "flagged", False),
    ]
    assert (await sql(session, "SELECT status FROM users WHERE id = :u", u=tester))[0][0] == "suspended"
    assert [p[:3] for p in await patterns_of(session, unlucky)] == [
        ("failing_cards", Decimal("0.500"), "flagged")
    ]
    assert await patterns_of(session, normal) == []
    shared = await patterns_of(session, stranger_a)
    assert [p[:3] for p in shared] == [("shared_card", Decimal("0.500"), "flagged")]
    assert shared[0][4]["unrelated_accounts"] == [str(stranger_b)]
    assert await patterns_of(session, colleague_a) == [] and await patterns_of(session, colleague_b) == []
    refund = await patterns_of(session, refunder)
    assert [p[:3] for p in refund] == [("refund_after_credits", Decimal("0.800"), "flagged")]
    assert refund[0][4]["credits_spent_cents"] == 2300
    assert result.actions["suspended"] == 1

    # A false positive: reactivated, audited, and not flagged again for the same evidence.
    admin = await insert_user(session, role="admin")
    actor = Actor(user_id=admin, as_platform_admin=True)
    pattern_id = (
        await sql(
            session, "SELECT id FROM abuse_patterns WHERE user_id = :u AND rule = 'card_testing'", u=tester
        )
    )[0][0]
    await actions.act_on_pattern(session, actor, pattern_id, "false_positive", "their test suite, not fraud")
    assert (await sql(session, "SELECT status FROM users WHERE id = :u", u=tester))[0][0] == "active"
    await detect.run(session)
    assert [p[2] for p in await patterns_of(session, tester)] == ["false_positive", "flagged"]
    audited = await sql(
        session, "SELECT action FROM activities WHERE entity_id = :u AND actor_id = :a", u=tester, a=admin
    )
    assert [r[0] for r in audited] == ["trust.false_positive"]


async def test_a_false_positive_teaches_the_cluster(session: AsyncSession) -> None:
    device = "family-" + uuid.uuid4().hex
    parent, child = await account(session, device=device), await account(session, device=device)
    await trial(session, parent, 3)
    await trial(session, child, 1)
    await detect.run(session, full=True)
    pattern_id, cluster_id = (
        await sql(session, "SELECT id, cluster_id FROM abuse_patterns WHERE user_id = :u", u=child)
    )[0]
    admin = await insert_user(session, role="admin")
    await actions.act_on_pattern(session, Actor(user_id=admin), pattern_id, "false_positive")
    cleared = await sql(
        session, "SELECT cleared_user_ids, assessed_at FROM account_clusters WHERE id = :c", c=cluster_id
    )
    assert cleared[0][0] == [child] and cleared[0][1] is None
    # A second trial of the cleared account is not held against it, nor against the others.
    await trial(session, child, 0)
    await detect.run(session, full=True)
    assert [p[2] for p in await patterns_of(session, child)] == ["false_positive"]
    await clusters.assess(session)
    level = await sql(
        session, "SELECT risk_level, risk_reasons FROM account_clusters WHERE id = :c", c=cluster_id
    )
    assert tuple(level[0]) == ("low", ["fewer than two members not cleared"])


async def test_thresholds_are_data(session: AsyncSession) -> None:
    user_id = await insert_user(session)
    await failed_payments(session, user_id, 3, amount_cents=100)
    await detect.run(session)
    assert [p[0] for p in await patterns_of(session, user_id)] == ["failing_cards"]
    await rules.save(session, {"card_testing": {"min_failures": 3, "action": "none"}}, {})
    await detect.run(session)
    assert [p[:3] for p in await patterns_of(session, user_id)] == [
        ("card_testing", Decimal("0.900"), "flagged"),  # its action is none now: flagged only
        ("failing_cards", Decimal("0.500"), "flagged"),
    ]
    await rules.save(session, {"failing_cards": {"enabled": False}}, {"shared_network_members": 50})
    figures = await rules.rules(session)
    assert figures["failing_cards"]["enabled"] is False and figures["card_testing"]["min_failures"] == 3
    assert (await rules.cluster_figures(session))["shared_network_members"] == 50
    for bad_rules, bad_clusters, field in [
        ({"nope": {}}, {}, "rules.nope"),
        ({"card_testing": {"min_failures": "many"}}, {}, "rules.card_testing.min_failures"),
        ({"card_testing": {"action": "delete_account"}}, {}, "rules.card_testing.action"),
        ({"card_testing": {"auto_action_confidence": 2}}, {}, "rules.card_testing.auto_action_confidence"),
        ({}, {"shared_network_members": -1}, "clusters.shared_network_members"),
        ({"failing_cards": {"window_hours": 10**30}}, {}, "rules.failing_cards.window_hours"),
        ({"card_testing": {"window_minutes": 2.5}}, {}, "rules.card_testing.window_minutes"),
    ]:
        with pytest.raises(Unprocessable) as refused:
            await rules.save(session, bad_rules, bad_clusters)
        assert refused.value.field == field
