"""Typed test factories: each piece of test setup is one call.

Two kinds, by how the data gets in:

- ``make_*(client, ...)`` go through the real API, as an app would (``client`` is any
  ``httpx.AsyncClient``: the ASGI test client, a live server's, a fresh database's), and return
  what the API answered. They assert that the API accepted the setup.
- ``insert_*(db, ...)`` write rows straight into the database with SQL, for tests without a
  client or for data no API writes. They run in ``db``'s current RLS context (the service's in
  the ``session`` fixture and in ``runtime.db.session(SERVICE)``), set only the columns given
  (every other column keeps its default) and return the new row's id.

A few need both (``make_admin``, ``make_member``): a user signed up through the API, then given
what only the database grants. Sign-up and sign-in themselves are ``tests.helpers.signup`` and
``login``; the SQL helpers (``sql``, ``one``, ``now_of``, ``set_rls``) are here because every
factory below is built on them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
from sqlalchemy import CursorResult, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from saaskit.kit.db import SERVICE, SET_CONTEXT_SQL, Context, set_context
from saaskit.kit.state import Runtime
from saaskit.mail.sealing import unseal
from tests.helpers import SignedUp, signup

Db = AsyncSession | AsyncConnection
"""Where ``insert_*`` write: the ``session`` fixture, a runtime's session, or a raw connection."""

__all__ = [
    "Db",
    "OwnedOrg",
    "SignedUp",
    "grant_admin",
    "heartbeat",
    "insert_activity_events",
    "insert_dashboard",
    "insert_events",
    "insert_member",
    "insert_org",
    "insert_plan",
    "insert_rows",
    "insert_subscription",
    "insert_user",
    "invitation_token",
    "invite_and_join",
    "make_admin",
    "make_dashboard",
    "make_member",
    "make_org",
    "make_owned_org",
    "make_team",
    "make_workspace",
    "now_of",
    "one",
    "set_rls",
    "signup",
    "sql",
]


# -- SQL as the service ---------------------------------------------------------------------------
async def sql(session: AsyncSession, query: str, **params: Any) -> list[Any]:
    """Run SQL as the service. Requests made through ``client`` share the test's transaction and
    leave their own RLS context in it, so the service context is set again before each query."""
    await set_context(session, SERVICE)
    result = cast("CursorResult[Any]", await session.execute(text(query), params))
    rows = list(result.all()) if result.returns_rows else []
    await session.flush()
    return rows


async def one(session: AsyncSession, query: str, **params: Any) -> Any:
    """The single row ``query`` returns (as the service); fails if it returns another number."""
    rows = await sql(session, query, **params)
    assert len(rows) == 1, rows
    return rows[0]


async def now_of(session: AsyncSession) -> datetime:
    """The database's ``now()``: the test transaction's start, what every ``now()`` in it returns."""
    value: datetime = (await one(session, "SELECT now()"))[0]
    return value


async def set_rls(
    db: Db,
    *,
    user_id: uuid.UUID | str | None = None,
    organization_id: uuid.UUID | str | None = None,
    service: bool = False,
) -> None:
    """Set the whole RLS context of ``db``'s transaction with raw SQL (what is not given is
    cleared), for the tests that check row-level security on the application role directly."""
    # The real statement (kit/db.py): the service context needs the server's key.
    context = Context(
        user_id=uuid.UUID(str(user_id)) if user_id else None,
        organization_id=uuid.UUID(str(organization_id)) if organization_id else None,
        service=service,
    )
    await db.execute(SET_CONTEXT_SQL, context.params())


async def _insert(db: Db, table: str, values: dict[str, Any]) -> Any:
    """INSERT one row of ``values`` (column -> value; dicts are stored as jsonb), returning its id."""
    names = ", ".join(values)
    placeholders = ", ".join(
        f"CAST(:{name} AS jsonb)" if isinstance(value, dict) else f":{name}" for name, value in values.items()
    )
    params = {
        name: orjson.dumps(value).decode() if isinstance(value, dict) else value
        for name, value in values.items()
    }
    result = await db.execute(
        text(f"INSERT INTO {table} ({names}) VALUES ({placeholders}) RETURNING id"), params
    )
    return result.scalar_one()


async def insert_rows(db: Db, table: str, columns: str, rows: Sequence[Mapping[str, object]]) -> None:
    """Many rows in one INSERT: ``rows`` travel as one JSON document, read back with the
    ``columns`` record definition (``"id uuid, email text"``). Nothing happens for no rows."""
    if not rows:
        return
    names = ", ".join(part.split()[0] for part in columns.split(", "))
    await db.execute(
        text(
            f"INSERT INTO {table} ({names}) SELECT {names} "
            f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({columns})"
        ),
        {"rows": orjson.dumps(rows).decode()},
    )


# -- accounts -------------------------------------------------------------------------------------
async def insert_user(db: Db, email: str | None = None, **columns: Any) -> uuid.UUID:
    """A ``users`` row (no password, no session: it cannot sign in) with ``email`` (a fresh one
    by default) and any other ``columns`` (``tier="pro"``, ``deleted_at=...``)."""
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    return uuid.UUID(str(await _insert(db, "users", {"email": email, **columns})))


async def grant_admin(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Make an existing user a platform admin (``users.role = 'admin'``): no API grants it."""
    await sql(session, "UPDATE users SET role = 'admin' WHERE id = :id", id=user_id)


async def make_admin(client: httpx.AsyncClient, session: AsyncSession) -> SignedUp:
    """A new user, signed up through the API, who is a platform admin."""
    admin = await signup(client)
    await grant_admin(session, admin.id)
    return admin


# -- tenancy --------------------------------------------------------------------------------------
class OwnedOrg(NamedTuple):
    """An organization and the user who created it (its owner): ``owner, org = await ...``."""

    owner: SignedUp
    org: dict[str, Any]


async def make_org(
    client: httpx.AsyncClient, owner: SignedUp, name: str = "Acme", **extra: object
) -> dict[str, Any]:
    """An organization created by ``owner`` (who becomes its owner); the API's answer."""
    response = await client.post("/api/orgs", json={"name": name, **extra}, headers=owner.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def make_owned_org(client: httpx.AsyncClient, name: str = "Acme", **extra: object) -> OwnedOrg:
    """A new user, signed up through the API, and the organization they created and own."""
    owner = await signup(client)
    return OwnedOrg(owner, await make_org(client, owner, name, **extra))


async def invitation_token(
    client: httpx.AsyncClient, mail_id: str | uuid.UUID, runtime: Runtime | None = None
) -> str:
    """The token of an invitation, read the invitee's way: from the link in its mail (the
    outbox message ``mail_id`` the API answered, unsealed; the API never answers the token).
    ``runtime``: the database's, for a client of a live server (default: the ASGI app's)."""
    if runtime is None:
        app = getattr(getattr(client, "_transport", None), "app", None)
        assert app is not None, "not an ASGI client: pass the runtime of the server's database"
        runtime = cast(Runtime, app.state.runtime)
    async with runtime.db.session(SERVICE) as session:
        row = (
            await session.execute(
                text("SELECT id, sealed_secrets FROM email_outbox WHERE id = :i AND template = 'invitation'"),
                {"i": str(mail_id)},
            )
        ).one()
    link = unseal(runtime.secret, row.id, row.sealed_secrets)["accept_url"]
    return parse_qs(urlsplit(link).query)["token"][0]


async def invite_and_join(
    client: httpx.AsyncClient, inviter: SignedUp, org_id: str, role: str = "member", **extra: object
) -> SignedUp:
    """A new member of ``org_id`` with ``role``, the real way: ``inviter`` invites a fresh
    e-mail address, which signs up and accepts the invitation."""
    email = f"invitee-{uuid.uuid4().hex[:8]}@example.com"
    invited = await client.post(
        f"/api/orgs/{org_id}/invitations",
        headers=inviter.headers,
        json={"email": email, "role": role, **extra},
    )
    assert invited.status_code == 201, invited.text
    user = await signup(client, email)
    token = await invitation_token(client, invited.json()["mail_id"])
    accepted = await client.post("/api/invitations/accept", headers=user.headers, json={"token": token})
    assert accepted.status_code == 200, accepted.text
    return user


async def make_team(
    client: httpx.AsyncClient, by: SignedUp, org_id: str, name: str, **extra: object
) -> dict[str, Any]:
    """A team of ``org_id`` named ``name``, created by ``by`` (``privacy_level=...``)."""
    response = await client.post(
        f"/api/orgs/{org_id}/teams", headers=by.headers, json={"name": name, **extra}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def make_workspace(
    client: httpx.AsyncClient, by: SignedUp, org_id: str, name: str, **extra: object
) -> dict[str, Any]:
    """A workspace of ``org_id`` named ``name``, created by ``by`` (``slug=...``, ``visibility=...``)."""
    response = await client.post(
        f"/api/orgs/{org_id}/workspaces", headers=by.headers, json={"name": name, **extra}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def insert_org(db: Db, name: str = "Acme", slug: str | None = None, **columns: Any) -> uuid.UUID:
    """An ``organizations`` row without members, with ``slug`` (a fresh one by default) and any
    other ``columns`` (``id=...``, ``created_by=...``)."""
    slug = slug or f"org-{uuid.uuid4().hex[:10]}"
    return uuid.UUID(str(await _insert(db, "organizations", {"name": name, "slug": slug, **columns})))


async def insert_member(
    db: Db, organization_id: uuid.UUID, user_id: uuid.UUID, role: str = "member"
) -> uuid.UUID:
    """An ``organization_members`` row: ``user_id`` is an active member of the organization with ``role``."""
    values = {"organization_id": organization_id, "user_id": user_id, "role": role}
    return uuid.UUID(str(await _insert(db, "organization_members", values)))


async def make_member(
    client: httpx.AsyncClient, session: AsyncSession, organization_id: uuid.UUID, role: str = "member"
) -> SignedUp:
    """A new user, signed up through the API, made a member of the organization with ``role``
    straight in the database (no invitation: for organizations that have no owner to invite)."""
    user = await signup(client)
    await set_context(session, SERVICE)
    await insert_member(session, organization_id, user.id, role)
    return user


# -- devices --------------------------------------------------------------------------------------
async def make_dashboard(
    client: httpx.AsyncClient, user: SignedUp, expect: int = 201, **fields: Any
) -> dict[str, Any]:
    """A dashboard (device) registered by ``user``: a Fire TV called "Kitchen TV" unless
    ``fields`` say otherwise. Registering binds ``user``'s token to it unless
    ``bind_session=False``. With ``expect`` another status, the refusal's body."""
    body = {"device_name": "Kitchen TV", "device_type": "fire_tv", **fields}
    response = await client.post("/api/dashboards", json=body, headers=user.headers)
    assert response.status_code == expect, response.text
    return dict(response.json())


async def heartbeat(
    client: httpx.AsyncClient, user: SignedUp, expect: int = 200, **fields: Any
) -> dict[str, Any]:
    """One heartbeat of ``user``'s app (``dashboard_id=...``, ``app_version=...``); the answer."""
    response = await client.post("/api/heartbeat", json=fields, headers=user.headers)
    assert response.status_code == expect, response.text
    return dict(response.json())


async def insert_dashboard(
    db: Db, user_id: uuid.UUID, device_name: str = "Kitchen TV", **columns: Any
) -> uuid.UUID:
    """A ``dashboards`` row of ``user_id`` (never heartbeated, offline) with any other ``columns``."""
    values = {"user_id": user_id, "device_name": device_name, **columns}
    return uuid.UUID(str(await _insert(db, "dashboards", values)))


# -- billing --------------------------------------------------------------------------------------
async def insert_plan(
    db: Db, name: str, tier: str, price_cents: int, billing_interval: str = "month", **columns: Any
) -> uuid.UUID:
    """A ``subscription_plans`` row, not synced to Stripe (``limits={...}`` is stored as jsonb)."""
    values = {
        "name": name,
        "tier": tier,
        "billing_interval": billing_interval,
        "price_cents": price_cents,
        **columns,
    }
    return uuid.UUID(str(await _insert(db, "subscription_plans", values)))


async def insert_subscription(
    db: Db,
    *,
    user_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
    plan_name: str = "Pro",
    tier: str = "pro",
    status: str = "active",
    **columns: Any,
) -> uuid.UUID:
    """A ``subscriptions`` row of a user or an organization, as if Stripe had sent it, with any
    other ``columns`` (``started_at``, ``ends_at``, ``stripe_subscription_id`` ...)."""
    owner = {"user_id": user_id, "organization_id": organization_id}
    values = {
        **{column: value for column, value in owner.items() if value is not None},
        "plan_name": plan_name,
        "tier": tier,
        "status": status,
        **columns,
    }
    return uuid.UUID(str(await _insert(db, "subscriptions", values)))


# -- analytics ------------------------------------------------------------------------------------
async def insert_activity_events(
    db: Db, user_id: uuid.UUID | None, times: Iterable[datetime], event_type: str = "login", **columns: Any
) -> list[int]:
    """An event set: one ``activity_events`` row of ``user_id`` (``None``: anonymous) per
    instant of ``times``, all of ``event_type`` (``action_name=...`` and other ``columns`` on each)."""
    return [
        int(
            await _insert(
                db,
                "activity_events",
                {"created_at": at, "user_id": user_id, "event_type": event_type, **columns},
            )
        )
        for at in times
    ]


async def insert_events(
    db: Db, times: Iterable[datetime], event_name: str, **columns: Any
) -> list[uuid.UUID]:
    """An event set: one product ``events`` row named ``event_name`` per instant of ``times``,
    with any other ``columns`` on each (``user_id``, ``organization_id``, ``distinct_id``,
    ``properties={...}``)."""
    return [
        uuid.UUID(str(await _insert(db, "events", {"timestamp": at, "event_name": event_name, **columns})))
        for at in times
    ]
