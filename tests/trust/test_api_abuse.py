"""API-abuse rules over the per-source tallies: each fires on its evidence and not on its
look-alikes; the hooks (a failed sign-in, a limiter's refusal, a rejected capture) record the
tallies through the real endpoints; the tallies hold hashes only; retention."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.state import Runtime
from saaskit.kit.tallies import tallies_of
from saaskit.trust import api_abuse, detect, rules
from tests.factories import insert_member, insert_org, insert_user, sql
from tests.helpers import login, signup, with_limits
from tests.tracking.conftest import make_project
from tests.trust.test_patterns import firings


async def tally(
    session: AsyncSession,
    kind: str,
    source: str,
    subject: str,
    count: int,
    *,
    user_id: uuid.UUID | None = None,
    minutes_ago: int = 1,
) -> None:
    """What a process's buffer writes: one call of app_trust_tally."""
    await sql(
        session,
        "SELECT app_trust_tally(ARRAY[:k], ARRAY[:s], ARRAY[:j], ARRAY[CAST(:u AS uuid)], "
        "ARRAY[now() - make_interval(mins => :m)], ARRAY[CAST(:n AS bigint)])",
        k=kind,
        s=source,
        j=subject,
        u=str(user_id) if user_id else None,
        m=minutes_ago,
        n=count,
    )


async def found(session: AsyncSession, rule: str) -> dict[uuid.UUID, tuple[Decimal, dict[str, Any]]]:
    rows = await sql(
        session, "SELECT user_id, confidence_score, evidence FROM abuse_patterns WHERE rule = :r", r=rule
    )
    return {r.user_id: (r.confidence_score, r.evidence) for r in rows}


async def test_credential_stuffing_flags_the_accounts_tried(session: AsyncSession) -> None:
    source = "ip-" + uuid.uuid4().hex
    tried = [await insert_user(session) for _ in range(10)]
    # 10 existing accounts (2 failures each) and 4 unknown e-mails (1 each): 24 failures, 14 e-mails.
    for i, user_id in enumerate(tried):
        await tally(session, "sign_in_failed", source, f"email-{i}", 2, user_id=user_id, minutes_ago=i)
    for i in range(4):
        await tally(session, "sign_in_failed", source, f"unknown-{i}", 1)
    # The source then signed in to one of them: probably taken over.
    await sql(
        session,
        "INSERT INTO user_sessions (user_id, ip_address_hash, started_at) VALUES (:u, :s, now())",
        u=tried[3],
        s=source,
    )
    # A look-alike: an office whose people mistype their passwords (8 failures on 4 accounts).
    office = "ip-" + uuid.uuid4().hex
    colleagues = [await insert_user(session) for _ in range(4)]
    for i, user_id in enumerate(colleagues):
        await tally(session, "sign_in_failed", office, f"colleague-{i}", 2, user_id=user_id)
    # An old run, outside the window (60 minutes), is not evidence either.
    old = "ip-" + uuid.uuid4().hex
    for i in range(12):
        await tally(session, "sign_in_failed", old, f"old-{i}", 2, user_id=colleagues[0], minutes_ago=120)
    before = await firings(session, "credential_stuffing")

    result = await detect.run(session)
    assert result.fired["credential_stuffing"] == 10
    assert await firings(session, "credential_stuffing") == before + 10
    patterns = await found(session, "credential_stuffing")
    assert set(patterns) == set(tried)
    confidence, evidence = patterns[tried[3]]
    assert confidence == Decimal("0.900") and evidence["signed_in_from_source_after"] is True
    assert patterns[tried[0]][0] == Decimal("0.500")
    assert evidence["source_ip_hash"] == source
    assert evidence["failed_sign_ins_from_source"] == 24 and evidence["accounts_tried_from_source"] == 14
    assert evidence["failed_sign_ins_on_account"] == 2
    # The same evidence is not recorded twice.
    assert (await detect.run(session)).fired.get("credential_stuffing") is None
    # Rules are data: a lower bar catches the office.
    await rules.save(session, {"credential_stuffing": {"min_failures": 8, "min_accounts": 4}}, {})
    assert (await detect.run(session)).fired["credential_stuffing"] == 4


async def test_sustained_rate_limit_hits_are_answered_for_by_the_principal(session: AsyncSession) -> None:
    holder = await insert_user(session)
    key_id = (
        await sql(
            session,
            "INSERT INTO api_keys (user_id, name, key_prefix, key_hash) VALUES (:u, 'ci', 'sk_x', :h) "
            "RETURNING id",
            u=holder,
            h=uuid.uuid4().hex,
        )
    )[0][0]
    user = await insert_user(session)
    owner = await insert_user(session)
    org = await insert_org(session)
    await insert_member(session, org, owner, "owner")
    # Sustained: refused in 12 distinct minutes, 120 times.
    for minute in range(12):
        await tally(session, "rate_limited", str(key_id), "api_key", 10, minutes_ago=minute)
        await tally(session, "rate_limited", str(org), "capture_per_key", 10, minutes_ago=minute)
        await tally(session, "rate_limited", str(user), "password_change_per_user", 10, minutes_ago=minute)
        # An IP hash names no account (a shared network): not attributed.
        await tally(
            session, "rate_limited", "ip-" + uuid.uuid4().hex[:6], "sign_in_per_ip", 10, minutes_ago=minute
        )
    # A burst (one minute, 500 refusals) is not sustained.
    burst = await insert_user(session)
    await tally(session, "rate_limited", str(burst), "password_change_per_user", 500)

    await detect.run(session)
    patterns = await found(session, "rate_limit_hits")
    assert set(patterns) == {holder, owner, user}
    confidence, evidence = patterns[holder]
    assert evidence["principal"] == "api_key" and evidence["limit"] == "api_key"
    assert evidence["refusals"] == 120 and evidence["minutes_refused"] == 12
    assert confidence == Decimal("0.520")  # 0.5 + 0.01 per minute above 10
    assert patterns[owner][1]["principal"] == "organization"
    assert patterns[user][1]["principal"] == "user"


async def test_junk_ingestion_from_one_key(session: AsyncSession) -> None:
    creator = await insert_user(session)
    org = await insert_org(session)
    junk_key, good_key = uuid.uuid4().hex, uuid.uuid4().hex
    for key_hash in (junk_key, good_key):
        await sql(
            session,
            "INSERT INTO ingestion_keys (organization_id, key_hash, key_prefix, created_by) "
            "VALUES (:o, :h, 'phc_x', :u)",
            o=org,
            h=key_hash,
            u=creator,
        )
    await tally(session, "ingest_accepted", junk_key, "", 60)
    await tally(session, "ingest_rejected", junk_key, "", 240, minutes_ago=2)
    # A healthy key with a few bad events, and a small junk key under min_events.
    await tally(session, "ingest_accepted", good_key, "", 950)
    await tally(session, "ingest_rejected", good_key, "", 50)
    await detect.run(session)
    patterns = await found(session, "junk_ingestion")
    assert set(patterns) == {creator}
    confidence, evidence = patterns[creator]
    assert evidence["events"] == 300 and evidence["rejected_events"] == 240
    assert evidence["rejected_share"] == 0.8
    assert confidence == Decimal("0.800")  # 0.5 + the share above 0.5


async def test_retention_purges_old_tallies(session: AsyncSession) -> None:
    source = "ip-" + uuid.uuid4().hex
    await tally(session, "sign_in_failed", source, "a", 1, minutes_ago=api_abuse.RETENTION_HOURS * 60 + 5)
    await tally(session, "sign_in_failed", source, "b", 1)
    await api_abuse.purge(session)
    rows = await sql(session, "SELECT subject FROM abuse_source_tallies WHERE source_hash = :s", s=source)
    assert [r.subject for r in rows] == ["b"]


async def tallies(session: AsyncSession, kind: str) -> list[Any]:
    return await sql(
        session,
        "SELECT source_hash, subject, user_id, count, minute FROM abuse_source_tallies WHERE kind = :k "
        "ORDER BY subject",
        k=kind,
    )


async def test_the_endpoints_record_what_the_rules_read(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    with_limits(runtime, password_change_per_ip="1000/minute", password_change_per_user="2/minute")
    victims = [await signup(client) for _ in range(3)]
    # They signed up yesterday (the tallies count by the minute: a sign-up this minute would
    # count as a session after the failures).
    await sql(
        session,
        "UPDATE user_sessions SET started_at = now() - interval '1 day' WHERE user_id = ANY (:u)",
        u=[v.id for v in victims],
    )
    # Failed sign-ins from one address (the test client's) on 3 accounts and 4 unknown e-mails.
    for victim in victims:
        for _ in range(2):
            assert (await login(client, victim.email, "wrong password!")).status_code == 401
    for i in range(4):
        assert (await login(client, f"nobody-{i}@example.com", "wrong password!")).status_code == 401
    # The source then gets into the first account.
    assert (await login(client, victims[0].email)).status_code == 200
    # A principal hammering a per-user limit: 2 allowed a minute, 4 refused.
    codes = []
    for _ in range(6):
        answer = await client.post(
            "/api/me/password",
            json={"current_password": "not it at all", "new_password": "another long passphrase"},
            headers=victims[1].headers,
        )
        codes.append(answer.status_code)
    assert codes.count(429) == 4, codes
    # An ingestion key sending mostly invalid events (bad uuids: the whole request is refused).
    project = await make_project(client)
    good = {"api_key": project.key, "batch": [{"event": "e", "distinct_id": "d", "properties": {}}]}
    bad = {"api_key": project.key, "batch": [{"event": "e", "distinct_id": "d", "uuid": "nope"}] * 3}
    assert (await client.post("/batch", json=good)).status_code == 200
    for _ in range(2):
        assert (await client.post("/batch", json=bad)).status_code == 400
    # Junk from a made-up key is not counted (it would let anyone fill the table).
    made_up = {**bad, "api_key": "phc_" + uuid.uuid4().hex}
    assert (await client.post("/batch", json=made_up)).status_code == 400

    assert await tallies_of(runtime).write() > 0  # what the next due request would write
    failed = await tallies(session, "sign_in_failed")
    assert sum(r.count for r in failed) == 10 and len({r.subject for r in failed}) == 7
    assert {r.user_id for r in failed} == {v.id for v in victims} | {None}
    # Hashes only: no raw IP, no e-mail.
    assert all("203.0.113" not in r.source_hash and "@" not in r.subject for r in failed)
    refused = [r for r in await tallies(session, "rate_limited") if r.subject == "password_change_per_user"]
    assert [(r.source_hash, r.count) for r in refused] == [(str(victims[1].id), 4)]
    ingested = {
        kind: [(r.count, r.minute) for r in await tallies(session, kind)]
        for kind in ("ingest_accepted", "ingest_rejected")
    }
    assert [c for c, _ in ingested["ingest_accepted"]] == [1]
    assert [c for c, _ in ingested["ingest_rejected"]] == [6]
    assert all(isinstance(m, datetime) and m.second == 0 for _, m in ingested["ingest_rejected"])

    # The rules read them (thresholds lowered: a test cannot wait ten minutes).
    await rules.save(
        session,
        {
            "credential_stuffing": {"min_failures": 10, "min_accounts": 7},
            "rate_limit_hits": {"min_refusals": 4, "min_minutes": 1},
            "junk_ingestion": {"min_events": 5},
        },
        {},
    )
    await detect.run(session)
    stuffed = await found(session, "credential_stuffing")
    assert set(stuffed) == {v.id for v in victims}
    assert stuffed[victims[0].id][1]["signed_in_from_source_after"] is True
    assert stuffed[victims[1].id][1]["signed_in_from_source_after"] is False
    assert set(await found(session, "rate_limit_hits")) == {victims[1].id}
    assert set(await found(session, "junk_ingestion")) == {project.owner.id}
