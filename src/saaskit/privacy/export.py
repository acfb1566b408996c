"""The export job: everything saaskit holds about a person, as a ZIP of one JSON file per table
plus a README saying what each file is. The tables are the privacy registry's (``export=True``),
so what erasure removes and what export shows are the same list.

Credentials are left out (password hash, token hashes, sealed secrets, recovery code hashes):
they are not information about the person and would only help someone who steals the archive.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit.service import SYSTEM_ACTOR, record
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.privacy.erasure import collect
from saaskit.privacy.registry import RULES, Rule

SECRET_COLUMNS = frozenset(
    {
        "password_hash",
        "session_token_hash",
        "token_hash",
        "key_hash",
        "code_hash",
        "secret_sealed",
        "sealed_secrets",
        "secret_keys",
        "request_fingerprint",
        "response_body",
    }
)


def _default(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return None
    return str(value)


async def _rows(session: AsyncSession, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = await session.execute(text(sql), params)
    return [{k: v for k, v in row.items() if k not in SECRET_COLUMNS} for row in result.mappings().all()]


def _files() -> list[tuple[str, list[Rule]]]:
    """One file per table, from the rules that export (several rules may name one table)."""
    tables: dict[str, list[Rule]] = {}
    for rule in RULES:
        if rule.export and rule.match == "user_id" and rule.table != "privacy_requests":
            tables.setdefault(rule.table, []).append(rule)
    return list(tables.items())


async def _table_rows(
    session: AsyncSession, table: str, rules: list[Rule], user_id: uuid.UUID
) -> list[dict[str, Any]]:
    conditions = " OR ".join(
        f"({r.column} = :user_id{f' AND ({r.where})' if r.where else ''})" for r in rules
    )
    return await _rows(session, f"SELECT * FROM {table} WHERE {conditions}", {"user_id": user_id})


README_HEAD = """# Your data at {product}

Exported {at:%Y-%m-%d %H:%M} UTC. One JSON file per table: a list of rows, each an object of
column -> value (times in UTC, money in cents). Credentials (password and token hashes) are left
out. docs/privacy.md of saaskit explains every table; in short:

| file | rows | what it is |
|---|---|---|
"""


async def build(runtime: Runtime, request_id: uuid.UUID) -> str:
    """Gather, write the archive, store it; progress is committed table by table."""
    async with runtime.db.session(SERVICE) as session:
        row = (
            await session.execute(
                text(
                    "SELECT user_id, status FROM privacy_requests "
                    "WHERE id = :id AND kind = 'export' FOR UPDATE"
                ),
                {"id": request_id},
            )
        ).one_or_none()
        if row is None or row.status in ("completed", "cancelled") or row.user_id is None:
            return row.status if row is not None else "missing"
        user_id: uuid.UUID = row.user_id
        await session.execute(
            text(
                "UPDATE privacy_requests SET status = 'running', started_at = coalesce(started_at, now()), "
                "progress_percent = 0 WHERE id = :id"
            ),
            {"id": request_id},
        )
    files = _files()
    total = len(files) + 3
    contents: dict[str, list[dict[str, Any]]] = {}
    notes: dict[str, str] = {}

    async def progress(done: int) -> None:
        async with runtime.db.session(SERVICE) as s:
            await s.execute(
                text("UPDATE privacy_requests SET progress_percent = :p WHERE id = :id"),
                {"p": min(99, done * 100 // total), "id": request_id},
            )

    async with runtime.db.session(SERVICE) as session:
        contents["users"] = await _rows(session, "SELECT * FROM users WHERE id = :id", {"id": user_id})
        notes["users"] = "your account: e-mail, name, sign-in figures, privacy choices"
        ids = await collect(session, user_id)
        distinct_ids = ids.distinct_ids if ids else []
        contents["persons"] = await _rows(
            session,
            "SELECT p.*, array_agg(d.distinct_id) AS distinct_ids FROM persons p JOIN person_distinct_ids d "
            "ON d.person_id = p.id WHERE p.id IN "
            "(SELECT person_id FROM person_distinct_ids WHERE distinct_id = "
            "ANY(:ids)) GROUP BY p.id",
            {"ids": distinct_ids},
        )
        notes["persons"] = "analytics profiles (feature flags) under the ids you were seen with"
        contents["activities"] = await _rows(
            session,
            "SELECT * FROM activities WHERE actor_id = :id OR (entity_type = 'user' AND entity_id = :id) "
            "ORDER BY created_at",
            {"id": user_id},
        )
        notes["activities"] = "audit log rows: what you did, and what was done to your account"
    await progress(3)
    for index, (table, rules) in enumerate(files):
        async with runtime.db.session(SERVICE) as session:
            contents[table] = await _table_rows(session, table, rules, user_id)
        notes[table] = rules[0].why
        await progress(index + 4)
    now = datetime.now(UTC)
    archive = _zip(runtime, contents, notes, now)
    summary = {name: len(rows) for name, rows in contents.items()}
    async with runtime.db.session(SERVICE) as session:
        await session.execute(
            text(
                "UPDATE privacy_requests SET status = 'completed', progress_percent = 100, "
                "archive = :archive, "
                "archive_size_bytes = :size, archive_expires_at = :expires, completed_at = now(), "
                "summary = CAST(:summary AS jsonb), error = NULL WHERE id = :id"
            ),
            {
                "archive": archive,
                "size": len(archive),
                "expires": now + timedelta(days=runtime.settings.privacy.export_keep_days),
                "summary": orjson.dumps(summary).decode(),
                "id": request_id,
            },
        )
        await record(
            session,
            SYSTEM_ACTOR,
            organization_id=None,
            action="privacy.export_completed",
            entity_type="user",
            entity_id=user_id,
            description=f"export archive ready ({len(archive):,} bytes, {sum(summary.values()):,} rows)",
            metadata={"request_id": str(request_id)},
        )
    return "completed"


def _zip(
    runtime: Runtime, contents: dict[str, list[dict[str, Any]]], notes: dict[str, str], at: datetime
) -> bytes:
    readme = README_HEAD.format(product=runtime.settings.product.name, at=at)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(contents):
            rows = contents[name]
            archive.writestr(f"{name}.json", orjson.dumps(rows, default=_default, option=orjson.OPT_INDENT_2))
            readme += f"| {name}.json | {len(rows)} | {notes[name]} |\n"
        archive.writestr("README.md", readme)
    return buffer.getvalue()
