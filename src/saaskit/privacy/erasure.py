"""The erasure job: a fixed list of steps, each committed on its own and recorded in
``privacy_requests.steps_done``.

Every step is idempotent (a DELETE or UPDATE by the person's identifiers finds nothing the second
time), so a run that crashed midway is finished by the next one: steps already recorded are
skipped, and the one that was interrupted (its transaction rolled back) runs again.

The identifiers (e-mail, names, analytics ids, hashes) are read once, by the first step, into the
request row, because later steps delete the rows they come from; the last step deletes the
``users`` row and wipes them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit.service import SYSTEM_ACTOR, record
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.privacy.registry import EXTRA_SCRUB, RULES, Rule

ERASED = "[erased]"
# A first or last name alone is replaced in free text only from this length: shorter ones ("Al")
# would damage unrelated words. The full name and the e-mail are always replaced.
MIN_NAME_CHARS = 4


@dataclass(frozen=True)
class Identifiers:
    user_id: uuid.UUID
    email: str | None
    names: list[str]
    distinct_ids: list[str]
    hashes: list[str]
    pseudonym_id: uuid.UUID

    @property
    def needles(self) -> list[str]:
        """What free text is scrubbed of: e-mail, full name, long-enough name parts."""
        found = [self.email or "", *self.names]
        return sorted({n for n in found if len(n) >= MIN_NAME_CHARS}, key=len, reverse=True)

    def values(self, rule: Rule) -> list[str]:
        if rule.match == "user_id":
            return [str(self.user_id)]
        if rule.match == "email":
            return [self.email.lower()] if self.email else []
        if rule.match == "distinct_id":
            return self.distinct_ids
        return self.hashes


COLLECT = text(
    """
SELECT u.email, u.name, p.first_name, p.last_name,
  array_remove(ARRAY[u.signup_ip_hash, u.last_known_ip_hash, u.device_fingerprint_hash], NULL)
  || ARRAY(SELECT h FROM user_sessions s,
           LATERAL (VALUES (s.ip_address_hash), (s.device_fingerprint_hash)) v(h)
           WHERE s.user_id = u.id AND h IS NOT NULL)
  || ARRAY(SELECT device_fingerprint_hash FROM dashboards
           WHERE user_id = u.id AND device_fingerprint_hash IS NOT NULL)
  || ARRAY(SELECT ip_address_hash FROM account_tokens WHERE user_id = u.id AND ip_address_hash IS NOT NULL)
  || ARRAY(SELECT card_fingerprint_hash FROM payment_methods
           WHERE user_id = u.id AND organization_id IS NULL AND card_fingerprint_hash IS NOT NULL) AS hashes,
  ARRAY(SELECT distinct_id FROM tracking_identities WHERE user_id = u.id
        UNION SELECT DISTINCT distinct_id FROM events WHERE user_id = u.id AND distinct_id IS NOT NULL
        UNION SELECT DISTINCT distinct_id FROM page_views WHERE user_id = u.id AND distinct_id IS NOT NULL
        UNION SELECT u.id::text) AS distinct_ids
FROM users u LEFT JOIN user_profiles p ON p.user_id = u.id WHERE u.id = :user_id
"""
)
# Analytics persons (flags) joined to those ids, and their other ids: an anonymous id merged into
# the person is the person too.
PERSON_IDS = text(
    "SELECT DISTINCT o.distinct_id FROM person_distinct_ids d JOIN person_distinct_ids o "
    "ON o.person_id = d.person_id WHERE d.distinct_id = ANY(:ids)"
)


async def collect(session: AsyncSession, user_id: uuid.UUID) -> Identifiers | None:
    row = (await session.execute(COLLECT, {"user_id": user_id})).one_or_none()
    if row is None:
        return None
    distinct_ids = set(row.distinct_ids)
    distinct_ids |= set((await session.scalars(PERSON_IDS, {"ids": list(distinct_ids)})).all())
    names = [n for n in (row.name, row.first_name, row.last_name) if n]
    if row.first_name and row.last_name:
        names.append(f"{row.first_name} {row.last_name}")
    return Identifiers(
        user_id=user_id,
        email=row.email,
        names=sorted(set(names)),
        distinct_ids=sorted(distinct_ids),
        hashes=sorted(set(row.hashes)),
        pseudonym_id=uuid.uuid4(),
    )


def _to_json(ids: Identifiers) -> dict[str, Any]:
    return {
        "user_id": str(ids.user_id),
        "email": ids.email,
        "names": ids.names,
        "distinct_ids": ids.distinct_ids,
        "hashes": ids.hashes,
        "pseudonym_id": str(ids.pseudonym_id),
    }


def _from_json(data: dict[str, Any]) -> Identifiers:
    return Identifiers(
        user_id=uuid.UUID(data["user_id"]),
        email=data["email"],
        names=list(data["names"]),
        distinct_ids=list(data["distinct_ids"]),
        hashes=list(data["hashes"]),
        pseudonym_id=uuid.UUID(data["pseudonym_id"]),
    )


async def _column_type(session: AsyncSession, table: str, column: str) -> str:
    kind: str | None = await session.scalar(
        text(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = :t AND column_name = :c"
        ),
        {"t": table, "c": column},
    )
    assert kind is not None, f"{table}.{column} is in the privacy registry but not in the database"
    return kind


async def apply_rule(session: AsyncSession, rule: Rule, ids: Identifiers) -> int:
    values = ids.values(rule)
    if not values:
        return 0
    if rule.via is not None:
        return int(await session.scalar(text(f"SELECT {rule.via}(:values)"), {"values": values}) or 0)
    kind = await _column_type(session, rule.table, rule.column)
    cast = "uuid[]" if kind == "uuid" else "text[]"
    column = f"lower({rule.column})" if rule.match == "email" else rule.column
    if rule.contains:
        condition = f"EXISTS (SELECT 1 FROM unnest(CAST(:values AS text[])) v WHERE strpos({column}, v) > 0)"
    else:
        condition = f"{column} = ANY(CAST(:values AS {cast}))"
    if rule.where:
        condition += f" AND ({rule.where})"
    if rule.action == "delete":
        sql = f"DELETE FROM {rule.table} WHERE {condition}"
    else:  # detach, keep, pseudonymise: the row stays without the person
        sql = f"UPDATE {rule.table} SET {rule.column} = NULL WHERE {condition}"
    result = await session.execute(text(sql), {"values": values})
    return int(result.rowcount)  # type: ignore[attr-defined]


async def scrub(session: AsyncSession, table: str, column: str, ids: Identifiers) -> int:
    """Replace the person's e-mail and names in one free-text (text or JSON) column of every row."""
    kind = await _column_type(session, table, column)
    touched = 0
    for needle in ids.needles:
        if kind in ("json", "jsonb"):
            inner = json.dumps(needle)[1:-1]  # as the text appears inside a JSON string
            sql = (
                f"UPDATE {table} SET {column} = CAST(regexp_replace(CAST({column} AS text), :pattern, "
                f"'{ERASED}', 'gi') AS {kind}) WHERE strpos(lower(CAST({column} AS text)), lower(:plain)) > 0"
            )
            params = {"pattern": re.escape(inner), "plain": inner}
        else:
            sql = (
                f"UPDATE {table} SET {column} = regexp_replace({column}, :pattern, '{ERASED}', 'gi') "
                f"WHERE strpos(lower({column}), lower(:plain)) > 0"
            )
            params = {"pattern": re.escape(needle), "plain": needle}
        touched += int((await session.execute(text(sql), params)).rowcount)  # type: ignore[attr-defined]
    return touched


SOLE_OWNED = text(
    """
SELECT m.organization_id FROM organization_members m
WHERE m.user_id = :user_id AND m.role = 'owner' AND m.is_active
  AND NOT EXISTS (SELECT 1 FROM organization_members o WHERE o.organization_id = m.organization_id
                  AND o.user_id <> :user_id AND o.role = 'owner' AND o.is_active)
"""
)
SUCCESSOR = text(
    """
SELECT id, user_id FROM organization_members
WHERE organization_id = :org AND user_id <> :user_id AND is_active
ORDER BY CASE role WHEN 'admin' THEN 0 WHEN 'member' THEN 1 ELSE 2 END, joined_at NULLS LAST, created_at, id
LIMIT 1
"""
)
CLOSE_ORGANIZATION = text(
    "UPDATE organizations SET deleted_at = coalesce(deleted_at, now()), name = 'Erased organization', "
    "slug = 'erased-' || id::text, logo_url = NULL, billing_email = NULL, settings = '{}' WHERE id = :org"
)


async def sole_owned_organizations(session: AsyncSession, ids: Identifiers) -> int:
    """The documented rule: an organization the person alone owns passes to its longest-standing
    active admin (else member, else viewer); with no other active member it is closed: soft-deleted
    with its name, slug, logo and billing address erased, so its invoices stay for the law."""
    handled = 0
    for org_id in (await session.scalars(SOLE_OWNED, {"user_id": ids.user_id})).all():
        successor = (await session.execute(SUCCESSOR, {"org": org_id, "user_id": ids.user_id})).one_or_none()
        if successor is not None:
            await session.execute(
                text("UPDATE organization_members SET role = 'owner' WHERE id = :id"), {"id": successor.id}
            )
            action, metadata = "organization.owner_transferred", {"new_owner_id": str(successor.user_id)}
        else:
            await session.execute(CLOSE_ORGANIZATION, {"org": org_id})
            action, metadata = "organization.closed", {}
        await record(
            session,
            SYSTEM_ACTOR,
            organization_id=org_id,
            action=action,
            entity_type="organization",
            entity_id=org_id,
            description="its sole owner's account was erased",
            metadata=metadata,
        )
        handled += 1
    return handled


async def delete_persons(session: AsyncSession, ids: Identifiers) -> int:
    """Analytics persons (flags) seen under the person's ids or carrying their e-mail."""
    result = await session.execute(
        text(
            "DELETE FROM persons p WHERE EXISTS (SELECT 1 FROM person_distinct_ids d "
            "WHERE d.person_id = p.id "
            "AND d.distinct_id = ANY(:ids)) OR (CAST(:email AS text) IS NOT NULL "
            "AND strpos(lower(CAST(p.properties AS text)), lower(:email)) > 0)"
        ),
        {"ids": ids.distinct_ids, "email": ids.email},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# The audit log is append-only for the application role: its rules run inside one SECURITY
# DEFINER function (privacy/sql/audit_log.sql) that only the service context may call.
AUDIT_LOG = "activities"


def _patterns(ids: Identifiers) -> tuple[list[str], list[str]]:
    plain, patterns = [], []
    for needle in ids.needles:
        for form in {needle, json.dumps(needle)[1:-1]}:
            plain.append(form)
            patterns.append(re.escape(form))
    return plain, patterns


async def pseudonymise_audit_log(session: AsyncSession, ids: Identifiers) -> int:
    """The audit rows of and about the person keep the act under a pseudonym."""
    plain, patterns = _patterns(ids)
    touched = await session.scalar(
        text("SELECT app_pseudonymise_activities(:user_id, :pseudonym, :hashes, :plain, :patterns)"),
        {
            "user_id": ids.user_id,
            "pseudonym": ids.pseudonym_id,
            "hashes": ids.hashes,
            "plain": plain,
            "patterns": patterns,
        },
    )
    return int(touched or 0)


async def scrub_all(session: AsyncSession, ids: Identifiers) -> int:
    columns = [(r.table, c) for r in RULES for c in r.scrub if r.table != AUDIT_LOG] + list(EXTRA_SCRUB)
    return sum([await scrub(session, table, column, ids) for table, column in columns])


async def delete_user(session: AsyncSession, ids: Identifiers) -> int:
    result = await session.execute(text("DELETE FROM users WHERE id = :id"), {"id": ids.user_id})
    return int(result.rowcount)  # type: ignore[attr-defined]


StepFn = Callable[[AsyncSession, Identifiers], Awaitable[int]]


def _rule_step(rule: Rule) -> StepFn:
    async def run(session: AsyncSession, ids: Identifiers) -> int:
        return await apply_rule(session, rule, ids)

    return run


def steps() -> list[tuple[str, StepFn]]:
    """In order: organizations first (memberships are still there to decide), analytics persons,
    every registry rule, free text, the audit log, and the account row last."""
    return [
        ("organizations", sole_owned_organizations),
        ("persons", delete_persons),
        *[(rule.step, _rule_step(rule)) for rule in RULES if rule.table != AUDIT_LOG],
        ("scrub", scrub_all),
        ("audit_log", pseudonymise_audit_log),
        ("user", delete_user),
    ]


REQUEST = text(
    "SELECT id, user_id, status, steps_done, identifiers FROM privacy_requests "
    "WHERE id = :id AND kind = 'erasure' FOR UPDATE"
)


async def run(runtime: Runtime, request_id: uuid.UUID, *, stop_after: int | None = None) -> str:
    """Run (or resume) one erasure; returns its status. ``stop_after`` ends the run after that many
    steps of this run, as a crash would (the resumability test)."""
    async with runtime.db.session(SERVICE) as session:
        row = (await session.execute(REQUEST, {"id": request_id})).one_or_none()
        if row is None or row.status in ("completed", "cancelled"):
            return row.status if row is not None else "missing"
        if row.identifiers is None:
            found = await collect(session, row.user_id) if row.user_id is not None else None
            if found is None:  # the account vanished some other way: nothing left to erase
                await _finish(session, request_id)
                return "completed"
            await session.execute(
                text(
                    "UPDATE privacy_requests SET identifiers = CAST(:ids AS jsonb), pseudonym_id = :p, "
                    "status = 'running', started_at = coalesce(started_at, now()) WHERE id = :id"
                ),
                {"ids": json.dumps(_to_json(found)), "p": found.pseudonym_id, "id": request_id},
            )
            ids, done = found, set[str]()
        else:
            ids, done = _from_json(row.identifiers), set(row.steps_done)
    plan = steps()
    ran = 0
    for index, (name, step) in enumerate(plan):
        if name in done:
            continue
        if stop_after is not None and ran >= stop_after:
            return "running"
        async with runtime.db.session(SERVICE) as session:
            touched = await step(session, ids)
            await session.execute(
                text(
                    "UPDATE privacy_requests SET steps_done = array_append(steps_done, :step), "
                    "progress_percent = :pct, "
                    "summary = coalesce(summary, '{}') || jsonb_build_object(:step, :n) "
                    "WHERE id = :id"
                ),
                {
                    "step": name,
                    "pct": min(99, (index + 1) * 100 // len(plan)),
                    "n": touched,
                    "id": request_id,
                },
            )
        ran += 1
    async with runtime.db.session(SERVICE) as session:
        await _finish(session, request_id)
    return "completed"


async def _finish(session: AsyncSession, request_id: uuid.UUID) -> None:
    await session.execute(
        text(
            "UPDATE privacy_requests SET status = 'completed', progress_percent = 100, identifiers = NULL, "
            "user_id = NULL, completed_at = now(), error = NULL WHERE id = :id"
        ),
        {"id": request_id},
    )
    await record(
        session,
        SYSTEM_ACTOR,
        organization_id=None,
        action="privacy.erasure_completed",
        entity_type="privacy_request",
        entity_id=request_id,
        description="the person's data was erased (docs/privacy.md)",
    )
