"""The credit ledger under real concurrency (separate connections, each its own committed
transaction), its history over HTTP for users and organizations, and admins' audited
adjustments."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from saaskit.billing import credits, ledger
from saaskit.billing.owners import Owner
from saaskit.kit.db import SERVICE
from saaskit.kit.errors import PaymentRequired
from saaskit.kit.state import Runtime
from tests.billing.conftest import service_rows
from tests.factories import insert_org, insert_user, make_org
from tests.helpers import error_of, signup

pytestmark = pytest.mark.live  # committed data in a fresh database


async def _owner(runtime: Runtime, kind: str) -> Owner:
    async with runtime.db.session(SERVICE) as session:
        if kind == "user":
            return Owner(user_id=await insert_user(session))
        return Owner(organization_id=await insert_org(session))


@pytest.mark.parametrize("kind", ["user", "organization"])
async def test_concurrent_spends_and_grants_keep_balance_equal_to_the_sum(
    fresh_runtime: Runtime, kind: str
) -> None:
    """Many spends, grants and replays of one idempotency key at once, each in its own
    connection and transaction: the balance is the ledger's sum, never negative, and every
    row's balance_after is a balance the owner really had."""
    runtime = fresh_runtime
    owner = await _owner(runtime, kind)
    async with runtime.db.session(SERVICE) as session:
        await ledger.post(session, owner, "grant", 1000, reason="welcome", key=f"welcome:{owner}")

    rng = random.Random(20)
    outcomes: dict[str, int] = {"spent": 0, "short": 0, "granted": 0, "replayed": 0}

    async def spend(cents: int) -> None:
        try:
            async with runtime.db.session(SERVICE) as session:
                await ledger.post(session, owner, "spend", -cents, reason="api call")
            outcomes["spent"] += cents
        except PaymentRequired:
            outcomes["short"] += 1

    async def grant(cents: int, key: str | None) -> None:
        async with runtime.db.session(SERVICE) as session:
            posted = await ledger.post(session, owner, "grant", cents, reason="bonus", key=key)
        assert posted is not None
        if posted.replayed:
            outcomes["replayed"] += 1
        else:
            outcomes["granted"] += cents

    work = [spend(rng.randint(20, 90)) for _ in range(80)]
    work += [grant(25, None) for _ in range(15)]
    work += [grant(500, "promo-once") for _ in range(10)]  # the same key ten times: granted once
    rng.shuffle(work)
    await asyncio.gather(*work)

    async with runtime.db.session(SERVICE) as session:
        column, total = await ledger.check(session, owner)
    assert column == total == 1000 + outcomes["granted"] - outcomes["spent"]
    assert column >= 0
    assert outcomes["replayed"] == 9 and outcomes["granted"] == 15 * 25 + 500
    assert outcomes["short"] > 0  # the load really ran the balance dry at some point
    column_name = "user_id" if owner.user_id else "organization_id"
    rows = await service_rows(
        runtime,
        f"SELECT amount_cents, balance_after_cents FROM credit_ledger WHERE {column_name} = :o",
        o=owner.user_id or owner.organization_id,
    )
    assert all(after >= 0 for _, after in rows)  # type: ignore[operator]
    assert len(rows) == 1 + 80 - outcomes["short"] + 15 + 1
    assert _chains([(int(a), int(b)) for a, b in rows])  # type: ignore[call-overload]
    assert sum(amount for amount, _ in rows) == column  # type: ignore[misc]


def _chains(rows: list[tuple[int, int]]) -> bool:
    """Whether the rows can be put in one order where each starts from the previous one's
    balance_after (from 0): the writes really were serial, none saw a stale balance."""
    starting: dict[int, list[tuple[int, int]]] = {}
    for amount, after in rows:
        starting.setdefault(after - amount, []).append((amount, after))

    def walk(balance: int, left: int) -> bool:
        if left == 0:
            return True
        for i, (amount, after) in enumerate(starting.get(balance, [])):
            starting[balance].pop(i)
            if walk(after, left - 1):
                return True
            starting[balance].insert(i, (amount, after))
        return False

    return walk(0, len(rows))


async def test_spend_endpoint_writes_the_ledger_and_history_pages(
    app_client: httpx.AsyncClient, fresh_runtime: Runtime
) -> None:
    user = await signup(app_client)
    async with fresh_runtime.db.session(SERVICE) as session:
        await ledger.post(session, Owner(user_id=user.id), "grant", 500, reason="trial credits")
    for i in range(5):
        answer = await app_client.post(
            "/api/billing/credits/spend",
            json={"amount_cents": 30, "description": f"call {i}"},
            headers=user.headers,
        )
        assert answer.status_code == 200, answer.text
    assert answer.json()["credits_cents"] == 350

    first = await app_client.get("/api/billing/ledger?limit=4", headers=user.headers)
    assert first.status_code == 200
    page = first.json()
    assert [e["kind"] for e in page["items"]] == ["spend"] * 4 and page["next_cursor"]
    assert page["items"][0]["amount_cents"] == -30 and page["items"][0]["reason"] == "call 4"
    assert page["items"][0]["balance_after_cents"] == 350 and page["items"][0]["actor_id"] == str(user.id)
    rest = await app_client.get(
        f"/api/billing/ledger?limit=4&cursor={page['next_cursor']}", headers=user.headers
    )
    assert [e["kind"] for e in rest.json()["items"]] == ["spend", "grant"] and rest.json()[
        "next_cursor"
    ] is None
    grants = await app_client.get("/api/billing/ledger?kind=grant", headers=user.headers)
    assert [e["amount_cents"] for e in grants.json()["items"]] == [500]
    bad = await app_client.get("/api/billing/ledger?kind=gift", headers=user.headers)
    assert bad.status_code == 422 and error_of(bad)["field"] == "kind"
    balance = await app_client.get("/api/billing/ledger/balance", headers=user.headers)
    assert balance.json() == {"balance_cents": 350, "ledger_sum_cents": 350}

    # Another user sees none of it.
    other = await signup(app_client)
    theirs = await app_client.get("/api/billing/ledger", headers=other.headers)
    assert theirs.json()["items"] == []


async def test_admin_adjusts_with_a_reason_audited_and_orgs_see_their_history(
    app_client: httpx.AsyncClient, fresh_runtime: Runtime
) -> None:
    owner = await signup(app_client)
    org = await make_org(app_client, owner, "Ledger Org")
    admin = await signup(app_client)
    await service_rows(fresh_runtime, "UPDATE users SET role = 'admin' WHERE id = :u", u=admin.id)

    refused = await app_client.post(
        "/api/admin/billing/credits/adjust",
        json={"organization_id": org["id"], "amount_cents": 100, "reason": "x"},
        headers=owner.headers,
    )
    assert refused.status_code == 403
    no_reason = await app_client.post(
        "/api/admin/billing/credits/adjust",
        json={"organization_id": org["id"], "amount_cents": 100, "reason": "   "},
        headers=admin.headers,
    )
    assert no_reason.status_code == 422 and error_of(no_reason)["field"] == "reason"
    granted = await app_client.post(
        "/api/admin/billing/credits/adjust",
        json={"organization_id": org["id"], "amount_cents": 1500, "reason": "Goodwill after outage #42"},
        headers=admin.headers,
    )
    assert granted.status_code == 201, granted.text
    assert granted.json()["balance_after_cents"] == 1500 and granted.json()["actor_id"] == str(admin.id)
    overdraw = await app_client.post(
        "/api/admin/billing/credits/adjust",
        json={"organization_id": org["id"], "amount_cents": -2000, "reason": "correction"},
        headers=admin.headers,
    )
    assert overdraw.status_code == 402 and error_of(overdraw)["code"] == "insufficient_credits"
    taken = await app_client.post(
        "/api/admin/billing/credits/adjust",
        json={"organization_id": org["id"], "amount_cents": -200, "reason": "double grant corrected"},
        headers=admin.headers,
    )
    assert taken.status_code == 201 and taken.json()["balance_after_cents"] == 1300

    audit = await service_rows(
        fresh_runtime,
        "SELECT action, actor_id, description, metadata->>'amount_cents' FROM activities "
        "WHERE entity_id = :o AND action = 'organization.credits_adjusted' ORDER BY created_at",
        o=uuid.UUID(org["id"]),
    )
    assert [(r[0], r[1], r[3]) for r in audit] == [
        ("organization.credits_adjusted", admin.id, "1500"),
        ("organization.credits_adjusted", admin.id, "-200"),
    ]
    assert "Goodwill after outage #42" in str(audit[0][2])

    history = await app_client.get(f"/api/orgs/{org['id']}/billing/ledger", headers=owner.headers)
    assert history.status_code == 200
    assert [(e["kind"], e["amount_cents"]) for e in history.json()["items"]] == [
        ("adjustment", -200),
        ("adjustment", 1500),
    ]
    outsider = await signup(app_client)
    hidden = await app_client.get(f"/api/orgs/{org['id']}/billing/ledger", headers=outsider.headers)
    assert hidden.status_code in (403, 404)
    seen = await app_client.get(
        f"/api/admin/billing/credits/ledger?organization_id={org['id']}", headers=admin.headers
    )
    assert len(seen.json()["items"]) == 2


async def test_topups_refunds_and_expiries_go_through_the_ledger(fresh_runtime: Runtime) -> None:
    runtime = fresh_runtime
    async with runtime.db.session(SERVICE) as session:
        user_id = await insert_user(session)
        owner = Owner(user_id=user_id)
        now = datetime.now(UTC)
        await ledger.post(session, owner, "grant", 300, reason="promo", expires_at=now - timedelta(minutes=1))
        await ledger.post(session, owner, "grant", 200, reason="later", expires_at=now + timedelta(days=9))
        await ledger.post(session, owner, "spend", -100, reason="use")
    async with runtime.db.session(SERVICE) as session:
        assert await ledger.expire_grants(session, now) == 1
    async with runtime.db.session(SERVICE) as session:
        assert await ledger.expire_grants(session, now) == 0  # once per grant
        assert await ledger.check(session, owner) == (100, 100)

    # A top-up credited twice (job answer + webhook) counts once; its refund takes credits back.
    async with runtime.db.session(SERVICE) as session:
        await session.execute(
            text(
                "UPDATE users SET stripe_customer_id = 'cus_l', stripe_payment_method_id = 'pm_l' WHERE id = :u"
            ),
            {"u": user_id},
        )
        transaction_id = await credits.request_topup(session, user_id, 1000)
    intent = {
        "id": "pi_ledger",
        "status": "succeeded",
        "metadata": {"saaskit_transaction_id": str(transaction_id)},
    }
    for _ in range(2):
        async with runtime.db.session(SERVICE) as session:
            await credits.apply_payment_intent(session, runtime, intent)
    charge = {"id": "ch_ledger", "payment_intent": "pi_ledger", "amount_refunded": 400}
    for _ in range(2):
        async with runtime.db.session(SERVICE) as session:
            await credits.apply_refund(session, charge)
    async with runtime.db.session(SERVICE) as session:
        assert await ledger.check(session, owner) == (700, 700)
    kinds = await service_rows(
        runtime,
        "SELECT kind, amount_cents FROM credit_ledger WHERE user_id = :u ORDER BY created_at, kind",
        u=user_id,
    )
    assert sorted(kinds) == sorted(
        [("grant", 300), ("grant", 200), ("spend", -100), ("expiry", -300), ("topup", 1000), ("refund", -400)]
    )


async def test_a_grant_to_nobody_is_not_found_and_writes_nothing(fresh_runtime: Runtime) -> None:
    from saaskit.kit.errors import NotFound

    with pytest.raises(NotFound):
        async with fresh_runtime.db.session(SERVICE) as session:
            await ledger.post(session, Owner(organization_id=uuid.uuid4()), "grant", 100, reason="x")
    assert await service_rows(fresh_runtime, "SELECT count(*) FROM credit_ledger") == [(0,)]
