"""Clusters: grouping as signals arrive (sign-up, sign-in, dashboards, cards), concurrency, the
bulk job, risk levels, shared networks, and that nobody but the service reaches the tables."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import SERVICE, Context, set_context
from saaskit.kit.hashing import keyed_hash
from saaskit.kit.state import Runtime
from saaskit.trust import clusters, detect, signals
from tests.factories import insert_user, sql
from tests.helpers import login, signup
from tests.trust.conftest import account, cluster_of, trial


async def test_sign_up_sign_in_and_dashboards_group_accounts(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    first = await signup(client, device={"fingerprint": "laptop-1"})
    second = await signup(client, device={"fingerprint": "laptop-1"})
    device = keyed_hash(runtime.secret, "device", "laptop-1")
    _, members, count, _, _, _ = await cluster_of(session, signals.DEVICE, device)
    assert members == [first.id, second.id] and count == 2
    # Both came from the test client's IP: an IP cluster too, and signing in again adds nobody.
    assert (await login(client, first.email)).status_code == 200
    ip_cluster = await sql(
        session,
        "SELECT member_count FROM account_clusters WHERE cluster_type = 'ip_hash' AND :u = ANY (user_ids)",
        u=first.id,
    )
    assert ip_cluster[0][0] >= 2
    # A third account registering a dashboard on the same device joins the device cluster.
    third = await signup(client)
    response = await client.post(
        "/api/dashboards",
        json={"device_name": "TV", "fingerprint": "laptop-1"},
        headers={"Authorization": f"Bearer {third.token}"},
    )
    assert response.status_code == 201, response.text
    _, members, count, _, _, _ = await cluster_of(session, signals.DEVICE, device)
    assert members == [first.id, second.id, third.id] and count == 3
    # The minute job assesses it: three accounts on one device is medium.
    assessed = await clusters.assess(session)
    assert assessed
    _, _, _, risk, _, reasons = await cluster_of(session, signals.DEVICE, device)
    assert risk == "medium" and reasons == ["3 accounts share one device"]


async def test_two_sign_ups_from_one_device_at_once_end_in_one_cluster(
    committed_client: httpx.AsyncClient, fresh_runtime: Runtime
) -> None:
    for round_ in range(3):
        fingerprint = f"farm-device-{round_}"
        a, b = await asyncio.gather(
            signup(committed_client, device={"fingerprint": fingerprint}),
            signup(committed_client, device={"fingerprint": fingerprint}),
        )
        device = keyed_hash(fresh_runtime.secret, "device", fingerprint)
        async with fresh_runtime.db.session(SERVICE) as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT user_ids FROM account_clusters WHERE cluster_type = 'device_fingerprint' "
                        "AND identifier_hash = :h"
                    ),
                    {"h": device},
                )
            ).all()
        assert len(rows) == 1
        assert sorted(rows[0][0]) == sorted([a.id, b.id])


async def test_a_shared_office_ip_does_not_flood_the_queue(session: AsyncSession) -> None:
    office = "ip-office-" + uuid.uuid4().hex
    staff = [
        await account(session, ip=office, device=f"own-laptop-{i}-{uuid.uuid4().hex}") for i in range(30)
    ]
    for user_id in staff[:10]:
        await trial(session, user_id)
    cluster_id, members, count, _, shared, _ = await cluster_of(session, signals.IP, office)
    # It stopped growing when it became a shared network (default 25 accounts).
    assert shared is True and count == 25 and members == staff[:25]
    assessed = await clusters.assess(session)
    assert cluster_id in assessed
    _, _, _, risk, _, reasons = await cluster_of(session, signals.IP, office)
    assert risk == "low" and reasons == ["shared network"]
    result = await detect.run(session, full=True)
    flagged = await sql(session, "SELECT count(*) FROM abuse_patterns WHERE user_id = ANY (:ids)", ids=staff)
    assert flagged[0][0] == 0, result
    # Even a small IP cluster (not shared yet) of accounts with trials stays low and unflagged.
    home = "ip-home-" + uuid.uuid4().hex
    family = [await account(session, ip=home) for _ in range(4)]
    for user_id in family:
        await trial(session, user_id)
    await clusters.assess(session)
    assert (await cluster_of(session, signals.IP, home))[3] == "low"
    await detect.run(session, full=True)
    assert (await sql(session, "SELECT count(*) FROM abuse_patterns WHERE user_id = ANY (:ids)", ids=family))[
        0
    ][0] == 0


async def test_risk_levels_follow_the_rules(session: AsyncSession) -> None:
    device = "dev-" + uuid.uuid4().hex
    users = [await account(session, device=device) for _ in range(2)]
    await clusters.assess(session)
    assert (await cluster_of(session, signals.DEVICE, device))[3] == "low"
    for user_id in users:
        await trial(session, user_id)
    # Nothing grew: not assessed again until it does (or is named).
    await clusters.assess(session)
    assert (await cluster_of(session, signals.DEVICE, device))[3] == "low"
    cluster_id = (await cluster_of(session, signals.DEVICE, device))[0]
    await clusters.assess(session, [cluster_id])
    assert (await cluster_of(session, signals.DEVICE, device))[3:6:2] == (
        "medium",
        ["2 members took a trial"],
    )
    banned = await account(session, device=device)
    await sql(session, "UPDATE users SET status = 'banned' WHERE id = :u", u=banned)
    await clusters.assess(session)
    _, _, _, risk, _, reasons = await cluster_of(session, signals.DEVICE, device)
    assert risk == "high" and "1 member(s) suspended or banned" in reasons
    # Two accounts on one card is already medium; three is high.
    card = "card-" + uuid.uuid4().hex
    for _ in range(3):
        await account(session, card=card)
    await clusters.assess(session)
    assert (await cluster_of(session, signals.CARD, card))[3] == "high"


async def test_the_bulk_job_groups_what_came_without_the_hook(session: AsyncSession) -> None:
    device, ip = "bulk-dev-" + uuid.uuid4().hex, "bulk-ip-" + uuid.uuid4().hex
    a = await insert_user(session, device_fingerprint_hash=device, signup_ip_hash=ip)
    b = await insert_user(session, device_fingerprint_hash=device, last_known_ip_hash=ip)
    c = await account(session, device=device)  # one already seen through the hook
    grown = await clusters.group_all(session)
    assert grown >= 2
    _, members, _, _, _, _ = await cluster_of(session, signals.DEVICE, device)
    assert sorted(members) == sorted([a, b, c]) and members[0] == c  # the hook's member stays first
    assert sorted((await cluster_of(session, signals.IP, ip))[1]) == sorted([a, b])
    # Idempotent: nothing new, nothing changes.
    before = await cluster_of(session, signals.DEVICE, device)
    await clusters.group_all(session)
    assert await cluster_of(session, signals.DEVICE, device) == before


async def test_only_the_service_reaches_the_tables(session: AsyncSession) -> None:
    victim = await account(session, device="rls-" + uuid.uuid4().hex)
    other = await insert_user(session)
    await set_context(session, Context(user_id=other))
    assert (await session.execute(text("SELECT count(*) FROM account_clusters"))).scalar_one() == 0
    assert (await session.execute(text("SELECT count(*) FROM abuse_patterns"))).scalar_one() == 0
    # A user records their own signals only (the function refuses anyone else's).
    joined = await signals.observe(session, other, [(signals.DEVICE, "mine-" + uuid.uuid4().hex)])
    assert len(joined) == 1 and joined[0].member_count == 1
    assert await signals.observe(session, victim, [(signals.DEVICE, "x")]) == []  # skipped in Python
    with pytest.raises(DBAPIError, match="only the acting user"):
        async with session.begin_nested():
            await session.execute(
                text(
                    "SELECT * FROM app_trust_observe(CAST(:u AS uuid), ARRAY['device_fingerprint'], ARRAY['x'])"
                ),
                {"u": str(victim)},
            )
    assert await signals.restrictions(session, victim) == set()


async def test_erasure_takes_the_account_out_of_its_clusters(session: AsyncSession) -> None:
    device = "erase-" + uuid.uuid4().hex
    alone = "erase-alone-" + uuid.uuid4().hex
    shared = "erase-shared-" + uuid.uuid4().hex
    leaving = await account(session, device=device, ip=alone)
    staying = await account(session, device=device)
    await signals.observe(session, leaving, [(signals.DEVICE, shared)])
    others = [await account(session, device=shared) for _ in range(2)]
    await clusters.forget(session, leaving)
    # Left with one account, a cluster is none: it goes with the hash (staying's own row comes
    # back when staying is next seen); with two or more others it stays, theirs.
    assert await sql(session, "SELECT id FROM account_clusters WHERE identifier_hash = :h", h=device) == []
    assert await sql(session, "SELECT id FROM account_clusters WHERE identifier_hash = :h", h=alone) == []
    _, members, count, _, _, _ = await cluster_of(session, signals.DEVICE, shared)
    assert sorted(members) == sorted(others) and count == 2 and staying not in members
