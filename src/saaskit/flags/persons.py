"""Persons, as PostHog's capture protocol describes them: ``$identify`` and ``$create_alias``
link distinct ids to one person per organization (in both directions: whichever id is asked
about finds the same person); ``$set`` (last write wins), ``$set_once`` (first write wins) and
``$unset`` keep the person's properties, which flags evaluate.

To keep the capture path cheap, a person is kept only for the events that say something about
one (``$identify``, ``$create_alias``, ``$merge_dangerously``, or any event carrying ``$set`` /
``$set_once`` / ``$unset``); ``$groupidentify``'s ``$group_set`` keeps a group's properties
(``person_groups``), which group flags evaluate. An id that never sent one has no person and
no properties, which evaluates exactly like an empty person.

Merging follows PostHog (its plugin-server's ``person-state``): when two ids that already belong
to two different persons are linked, the persons become one (all distinct ids move to the person
of the event's ``distinct_id``), and its properties win over the other's. A person that took part
in a link is *identified*; ``$identify`` and ``$create_alias`` refuse to merge an identified
person into another (PostHog's "refused to merge an already identified user": two signed-in
people sharing a browser must not become one), ``$merge_dangerously`` merges regardless.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.flags.models import Person, PersonDistinctId, PersonGroup

# orjson with the repairs capture applies (nesting past its limit, NUL): properties are stored as sent.
from saaskit.tracking.sanitize import dumps

LINKING_EVENTS = ("$identify", "$create_alias", "$merge_dangerously")
# Events capture hands to ``person_update`` whatever their properties.
EVENTS = (*LINKING_EVENTS, "$groupidentify")
PROPERTIES_OF = text(
    "SELECT p.properties FROM person_distinct_ids d JOIN persons p ON p.id = d.person_id "
    "WHERE d.organization_id = :org AND d.distinct_id = :distinct_id"
)


def person_update(name: str, distinct_id: str, properties: dict[str, Any]) -> dict[str, Any] | None:
    """What an event says about its person (ids to link, properties to set) or, for
    ``$groupidentify``, about a group (``$group_type``, ``$group_key``, ``$group_set``); or None."""
    if name == "$groupidentify":
        group_type, group_key, group_set = (
            properties.get(k) for k in ("$group_type", "$group_key", "$group_set")
        )
        if not isinstance(group_type, str) or not group_type or group_key in (None, ""):
            return None
        key = group_key if isinstance(group_key, str) else str(group_key)
        return {
            "group": [group_type[:200], key[:200]],
            "set": group_set if isinstance(group_set, dict) else {},
        }
    ids = [distinct_id]
    if name in LINKING_EVENTS:
        for key in ("$anon_distinct_id", "alias"):
            other = properties.get(key)
            if isinstance(other, str) and other and other != distinct_id:
                ids.append(other[:200])
    set_, set_once, unset = properties.get("$set"), properties.get("$set_once"), properties.get("$unset")
    update_: dict[str, Any] = {
        "event": name,
        "ids": ids,
        "set": set_ if isinstance(set_, dict) else {},
        "set_once": set_once if isinstance(set_once, dict) else {},
        "unset": [k for k in unset if isinstance(k, str)] if isinstance(unset, list) else [],
    }
    if len(ids) == 1 and not (update_["set"] or update_["set_once"] or update_["unset"]):
        return None
    return update_


async def _set_group(
    session: AsyncSession, organization_id: uuid.UUID, group: list[str], properties: dict[str, Any]
) -> None:
    statement = insert(PersonGroup).values(
        organization_id=organization_id, group_type=group[0], group_key=group[1], properties=properties
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[PersonGroup.organization_id, PersonGroup.group_type, PersonGroup.group_key],
            set_={
                "properties": PersonGroup.properties.op("||")(statement.excluded.properties),
                "updated_at": func.now(),
            },
        )
    )


async def group_properties_of(
    session: AsyncSession, organization_id: uuid.UUID, groups: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Stored properties of the named groups ({type: key}), by type."""
    if not groups:
        return {}
    rows = await session.execute(
        select(PersonGroup.group_type, PersonGroup.group_key, PersonGroup.properties).where(
            PersonGroup.organization_id == organization_id, PersonGroup.group_type.in_(list(groups))
        )
    )
    return {t: dict(p) for t, k, p in rows.all() if groups.get(t) == k}


async def properties_of(
    session: AsyncSession, organization_id: uuid.UUID, distinct_id: str
) -> dict[str, Any]:
    row = await session.scalar(PROPERTIES_OF, {"org": organization_id, "distinct_id": distinct_id})
    return dict(row) if isinstance(row, dict) else {}


async def person_id_of(
    session: AsyncSession, organization_id: uuid.UUID, distinct_id: str
) -> uuid.UUID | None:
    return await session.scalar(
        select(PersonDistinctId.person_id).where(
            PersonDistinctId.organization_id == organization_id, PersonDistinctId.distinct_id == distinct_id
        )
    )


async def _persons_of(
    session: AsyncSession, organization_id: uuid.UUID, ids: list[str]
) -> dict[str, uuid.UUID]:
    rows = await session.execute(
        select(PersonDistinctId.distinct_id, PersonDistinctId.person_id)
        .where(PersonDistinctId.organization_id == organization_id, PersonDistinctId.distinct_id.in_(ids))
        .with_for_update()
    )
    return {r.distinct_id: r.person_id for r in rows.all()}


async def _merge(
    session: AsyncSession, organization_id: uuid.UUID, into: uuid.UUID, others: set[uuid.UUID]
) -> None:
    merged: dict[str, Any] = {}
    for other in others:
        merged.update(await session.scalar(select(Person.properties).where(Person.id == other)) or {})
    target = await session.get(Person, into, with_for_update=True, populate_existing=True)
    assert target is not None
    target.properties = {**merged, **target.properties}
    await session.execute(
        update(PersonDistinctId)
        .where(PersonDistinctId.organization_id == organization_id, PersonDistinctId.person_id.in_(others))
        .values(person_id=into)
    )
    await session.execute(delete(Person).where(Person.id.in_(others)))


async def _link(
    session: AsyncSession, organization_id: uuid.UUID, ids: list[str], *, merge_identified: bool
) -> uuid.UUID:
    """The person of ``ids[0]``, linked with the other ids: created, or merged from several. An
    identified person of another id is merged only with ``merge_identified``; otherwise it keeps
    its ids (PostHog's guard)."""
    found = await _persons_of(session, organization_id, ids)
    created: uuid.UUID | None = None
    missing = [d for d in ids if d not in found]
    if missing:
        if not found:
            person = Person(organization_id=organization_id, properties={})
            session.add(person)
            await session.flush()
            created = person.id
        target = found.get(ids[0]) or next(iter(found.values()), created)
        rows = [{"organization_id": organization_id, "distinct_id": d, "person_id": target} for d in missing]
        # DO NOTHING, then read again: a concurrent transaction that linked one of these ids
        # first keeps its link (this statement waits for it), and the persons merge below.
        await session.execute(insert(PersonDistinctId).values(rows).on_conflict_do_nothing())
        found = await _persons_of(session, organization_id, ids)
    person_id = found.get(ids[0]) or next(iter(found.values()))
    others = {p for p in found.values() if p != person_id}
    if others and not merge_identified:
        identified = await session.scalars(
            select(Person.id).where(Person.id.in_(others), Person.is_identified.is_(True))
        )
        others -= set(identified)
    if others:
        await _merge(session, organization_id, person_id, others)
    if created is not None and created not in found.values():
        await session.execute(delete(Person).where(Person.id == created))  # lost the race: unused
    if len(ids) > 1:
        await session.execute(
            update(Person)
            .where(Person.id == person_id, Person.is_identified.is_(False))
            .values(is_identified=True)
        )
    return person_id


async def _apply_one(session: AsyncSession, organization_id: uuid.UUID, change: dict[str, Any]) -> None:
    """One event's change, alone: links ids (and merges persons), then sets its properties."""
    ids: list[str] = change["ids"]
    person_id = await _link(
        session, organization_id, ids, merge_identified=change.get("event") == "$merge_dangerously"
    )
    if change["set"] or change["set_once"] or change["unset"]:
        current = await session.get(Person, person_id, with_for_update=True, populate_existing=True)
        assert current is not None
        properties = {**change["set_once"], **current.properties, **change["set"]}
        for key in change["unset"]:
            properties.pop(key, None)
        if properties != current.properties:
            current.properties = properties
            await session.flush()


# Several events' $set / $set_once at once: persons made for the ids that have none (a
# concurrent transaction that links one first keeps its link: DO NOTHING, then read again), then
# one UPDATE that writes only the persons whose properties change (rows it does not change are
# not locked: repeated $set of the same values, the common case, costs no write and no wait).
MISSING_IDS = text(
    "SELECT d FROM unnest(CAST(:ids AS text[])) AS d WHERE NOT EXISTS (SELECT 1 FROM person_distinct_ids p "
    "WHERE p.organization_id = :org AND p.distinct_id = d)"
)
NEW_PERSONS = text(
    "INSERT INTO persons (id, organization_id) "
    "SELECT CAST(i AS uuid), :org FROM unnest(CAST(:ids AS text[])) i"
)
NEW_LINKS = text(
    "INSERT INTO person_distinct_ids (organization_id, distinct_id, person_id) "
    "SELECT :org, d, CAST(p AS uuid) FROM unnest(CAST(:dids AS text[]), CAST(:pids AS text[])) AS x(d, p) "
    "ON CONFLICT (organization_id, distinct_id) DO NOTHING"
)
UNUSED_PERSONS = text(
    "DELETE FROM persons WHERE id = ANY(CAST(:ids AS uuid[])) AND NOT EXISTS "
    "(SELECT 1 FROM person_distinct_ids p WHERE p.person_id = persons.id)"
)
PERSON_OF = text(
    "SELECT distinct_id, person_id FROM person_distinct_ids "
    "WHERE organization_id = :org AND distinct_id = ANY(CAST(:ids AS text[]))"
)
SET_PROPERTIES = text("""
UPDATE persons p SET properties = c.set_once || p.properties || c.set, updated_at = now()
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS c(person_id uuid, set jsonb, set_once jsonb)
WHERE p.id = c.person_id AND p.properties IS DISTINCT FROM (c.set_once || p.properties || c.set)
""")


async def _apply_properties(
    session: AsyncSession, organization_id: uuid.UUID, changes: list[tuple[str, dict[str, Any]]]
) -> None:
    """Events' ``$set`` / ``$set_once`` (no links, no ``$unset``), in order, in a few statements.

    Per person, in event order: ``$set`` last write wins, ``$set_once`` first write wins; applied
    together as ``set_once || properties || set``, which equals applying them one by one."""
    ids = list(dict.fromkeys(distinct_id for distinct_id, _ in changes))
    params = {"org": organization_id, "ids": ids}
    missing = [row[0] for row in (await session.execute(MISSING_IDS, params)).all()]
    if missing:
        created = [str(uuid.uuid4()) for _ in missing]
        await session.execute(NEW_PERSONS, {"org": organization_id, "ids": created})
        await session.execute(NEW_LINKS, {"org": organization_id, "dids": missing, "pids": created})
        await session.execute(UNUSED_PERSONS, {"ids": created})  # lost a race: the other link stands
    person_of = {row.distinct_id: row.person_id for row in (await session.execute(PERSON_OF, params)).all()}
    merged: dict[uuid.UUID, dict[str, dict[str, Any]]] = {}
    for distinct_id, change in changes:
        person = merged.setdefault(person_of[distinct_id], {"set": {}, "set_once": {}})
        person["set"].update(change["set"])
        person["set_once"] = {**change["set_once"], **person["set_once"]}
    rows = [{"person_id": str(p), **c} for p, c in merged.items()]
    await session.execute(SET_PROPERTIES, {"rows": dumps(rows)})


async def apply(session: AsyncSession, organization_id: uuid.UUID, updates: list[dict[str, Any]]) -> None:
    """Apply events' person updates in order (one organization, the caller's transaction).

    Changes that only set properties of one id are gathered and applied together
    (``_apply_properties``); a link or an ``$unset`` first applies what was gathered, then
    itself alone, so the order of events is kept."""
    gathered: list[tuple[str, dict[str, Any]]] = []
    for change in updates:
        if "group" in change:
            await _set_group(session, organization_id, change["group"], change["set"])
        elif len(change["ids"]) == 1 and not change["unset"]:
            gathered.append((change["ids"][0], change))
        else:
            if gathered:
                await _apply_properties(session, organization_id, gathered)
                gathered = []
            await _apply_one(session, organization_id, change)
    if gathered:
        await _apply_properties(session, organization_id, gathered)


IDENTITY_OF = text("""
WITH seed AS (
  SELECT CAST(:distinct_id AS text) AS distinct_id WHERE CAST(:distinct_id AS text) IS NOT NULL
  UNION
  SELECT distinct_id FROM tracking_identities
  WHERE organization_id = :org AND user_id = CAST(:user_id AS uuid)
), linked AS (
  SELECT distinct_id FROM seed
  UNION
  SELECT d2.distinct_id FROM seed s
  JOIN person_distinct_ids d1 ON d1.organization_id = :org AND d1.distinct_id = s.distinct_id
  JOIN person_distinct_ids d2 ON d2.person_id = d1.person_id
)
SELECT coalesce(array_agg(distinct_id ORDER BY distinct_id), '{}') AS distinct_ids,
       coalesce(CAST(:user_id AS uuid), (
         SELECT t.user_id FROM tracking_identities t
         WHERE t.organization_id = :org AND t.distinct_id IN (SELECT distinct_id FROM linked)
         ORDER BY t.created_at LIMIT 1)) AS user_id
FROM linked
""")


async def identity_of(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None = None,
    distinct_id: str | None = None,
) -> tuple[uuid.UUID | None, list[str]]:
    """Who a user or a distinct id is, across both kinds of link: the saaskit user (the one given,
    or the member a linked id was identified as: ``tracking_identities``) and every distinct id
    of theirs (the user's ids, and every id of the same person: ``person_distinct_ids``)."""
    row = (
        await session.execute(
            IDENTITY_OF, {"org": organization_id, "user_id": user_id, "distinct_id": distinct_id}
        )
    ).one()
    return row.user_id, list(row.distinct_ids)
