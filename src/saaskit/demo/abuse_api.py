"""API abuse among normal users, with its ground truth (demo/abuse.py calls it): what the
per-source tallies (kit/tallies.py) would hold after each scenario, in the last hour, so the
API-abuse rules (trust/api_abuse.py) find it on the next sweep:

- credential-stuffing runs: one source hash failing 2 sign-ins on each of 30 existing accounts and
  1 on each of 30 unknown e-mails over 40 minutes; the source then signs in to one account. Truth:
  the existing accounts tried (the accounts at risk).
- look-alikes: an office whose 5 colleagues each mistype twice (one IP, 10 failures on 5
  accounts) and people who forgot their password (6 failures on their own account).
- API keys hammering their limit: refused 20 times a minute for 15 minutes. Truth: the keys'
  holders. Look-alikes: a burst (400 refusals in one minute), a key refused in 3 minutes only, a
  shared IP refused all along (an IP names no account: never attributed).
- ingestion keys sending junk: 70 % of 1,000 events rejected. Truth: the keys' creators.
  Look-alikes: healthy keys with 2 % rejected.

Every hash is random hex; nothing here is a real identifier."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

HEX = "md5(random()::text || clock_timestamp()::text)"

# Tallies: (kind, source, subject, user, minutes ago, count) rows, one statement per call.
TALLY = """
INSERT INTO abuse_source_tallies (kind, source_hash, subject, user_id, minute, count)
SELECT :kind, :source, s.subject, s.user_id, date_trunc('minute', now()) - make_interval(mins => s.ago), s.n
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS s(subject text, user_id uuid, ago int, n bigint)
ON CONFLICT (kind, source_hash, subject, minute)
  DO UPDATE SET count = abuse_source_tallies.count + excluded.count
"""


async def _exec(session: AsyncSession, statement: str, **params: Any) -> list[Any]:
    result = await session.execute(text(statement), params)
    return list(result.all()) if "RETURNING" in statement else []


async def _tally(session: AsyncSession, kind: str, source: str, rows: list[dict[str, Any]]) -> None:
    await _exec(session, TALLY, kind=kind, source=source, rows=orjson.dumps(rows).decode())


async def _new_users(session: AsyncSession, prefix: str, count: int) -> list[uuid.UUID]:
    rows = await _exec(
        session,
        f"INSERT INTO users (email, device_fingerprint_hash, signup_ip_hash) SELECT :p || '-' || n || "
        f"'@demo.invalid', {HEX}, {HEX} FROM generate_series(1, :n) AS n RETURNING id",
        p=f"{prefix}-{uuid.uuid4().hex[:8]}",
        n=count,
    )
    return [r[0] for r in rows]


async def credential_stuffing(session: AsyncSession, targets: list[uuid.UUID], runs: int) -> set[uuid.UUID]:
    tried: set[uuid.UUID] = set()
    for run in range(runs):
        accounts = targets[run * 30 : run * 30 + 30]
        source = uuid.uuid4().hex
        rows = [
            {"subject": uuid.uuid4().hex, "user_id": str(u), "ago": 40 - i, "n": 2}
            for i, u in enumerate(accounts)
        ]
        rows += [{"subject": uuid.uuid4().hex, "user_id": None, "ago": 39 - i, "n": 1} for i in range(30)]
        await _tally(session, "sign_in_failed", source, rows)
        # The run got into one account: a session from the source after the failures.
        await _exec(
            session,
            "INSERT INTO user_sessions (user_id, ip_address_hash, started_at) VALUES (:u, :s, now())",
            u=accounts[-1],
            s=source,
        )
        tried |= set(accounts)
    # Look-alikes: an office's colleagues mistyping; people who forgot their password.
    office = uuid.uuid4().hex
    colleagues = targets[runs * 30 : runs * 30 + 5]
    await _tally(
        session,
        "sign_in_failed",
        office,
        [
            {"subject": uuid.uuid4().hex, "user_id": str(u), "ago": 5 + i, "n": 2}
            for i, u in enumerate(colleagues)
        ],
    )
    for user_id in targets[runs * 30 + 5 : runs * 30 + 10]:
        await _tally(
            session,
            "sign_in_failed",
            uuid.uuid4().hex,
            [{"subject": uuid.uuid4().hex, "user_id": str(user_id), "ago": 3, "n": 6}],
        )
    return tried


async def _api_keys(session: AsyncSession, holders: list[uuid.UUID]) -> list[uuid.UUID]:
    rows = await _exec(
        session,
        f"INSERT INTO api_keys (user_id, name, key_prefix, key_hash) SELECT u, 'demo integration', "
        f"'sk_demo', {HEX} FROM unnest(CAST(:ids AS uuid[])) AS u RETURNING id",
        ids=[str(u) for u in holders],
    )
    return [r[0] for r in rows]


async def rate_limit_hits(session: AsyncSession, keys: int) -> set[uuid.UUID]:
    holders = await _new_users(session, "hammer", keys)
    for key_id in await _api_keys(session, holders):
        rows = [{"subject": "api_key", "user_id": None, "ago": minute, "n": 20} for minute in range(15)]
        await _tally(session, "rate_limited", str(key_id), rows)
    # Look-alikes: a burst, a short spell, a shared IP refused all along.
    burst, short = await _api_keys(session, await _new_users(session, "burst", 2))
    await _tally(
        session, "rate_limited", str(burst), [{"subject": "api_key", "user_id": None, "ago": 2, "n": 400}]
    )
    await _tally(
        session,
        "rate_limited",
        str(short),
        [{"subject": "api_key", "user_id": None, "ago": m, "n": 40} for m in range(3)],
    )
    await _tally(
        session,
        "rate_limited",
        uuid.uuid4().hex,
        [{"subject": "sign_in_per_ip", "user_id": None, "ago": m, "n": 30} for m in range(30)],
    )
    return set(holders)


async def junk_ingestion(session: AsyncSession, keys: int) -> set[uuid.UUID]:
    creators = await _new_users(session, "junk", keys)
    healthy = await _new_users(session, "healthy-sender", keys)
    for index, creator in enumerate(creators + healthy):
        org = (
            await _exec(
                session,
                "INSERT INTO organizations (name, slug) VALUES ('Demo sender', :s) RETURNING id",
                s=f"sender-{uuid.uuid4().hex[:10]}",
            )
        )[0][0]
        await _exec(
            session,
            "INSERT INTO organization_members (organization_id, user_id, role) VALUES (:o, :u, 'owner')",
            o=org,
            u=creator,
        )
        key_hash = uuid.uuid4().hex + uuid.uuid4().hex
        await _exec(
            session,
            "INSERT INTO ingestion_keys (organization_id, key_hash, key_prefix, created_by) "
            "VALUES (:o, :h, 'phc_demo', :u)",
            o=org,
            h=key_hash,
            u=creator,
        )
        rejected = 700 if index < len(creators) else 20
        minutes = range(10)
        await _tally(
            session,
            "ingest_accepted",
            key_hash,
            [{"subject": "", "user_id": None, "ago": m, "n": (1000 - rejected) // 10} for m in minutes],
        )
        await _tally(
            session,
            "ingest_rejected",
            key_hash,
            [{"subject": "", "user_id": None, "ago": m, "n": rejected // 10} for m in minutes],
        )
    return set(creators)


async def inject(session: AsyncSession, targets: list[uuid.UUID], users: int) -> dict[str, set[uuid.UUID]]:
    """The API-abuse scenarios, scaled to ``users``; ``targets``: existing normal accounts (at
    least 30 per run + 10). Returns each rule's truth."""
    runs = max(1, min(users // 2000, (len(targets) - 10) // 30))
    scale = max(2, users // 2000)
    return {
        "credential_stuffing": await credential_stuffing(session, targets, runs),
        "rate_limit_hits": await rate_limit_hits(session, scale),
        "junk_ingestion": await junk_ingestion(session, scale),
    }
