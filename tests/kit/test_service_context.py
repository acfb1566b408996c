"""The service context needs the server's key: SQL run as the application role cannot turn it on
(issue 14). ``set_config`` of any name or value, ``SET``, ``SET ROLE``, guessing the key, reading
the key table, replaying a seal seen in an earlier transaction: none shows another
organization's rows. The server's own path (``SET_CONTEXT_SQL`` with the key) still does."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from saaskit.kit.db import SERVICE, SET_CONTEXT_SQL, Context, libpq_url, set_context
from saaskit.kit.state import Runtime
from tests.conftest import DbUnderTest
from tests.factories import insert_events, insert_member, insert_org, insert_subscription, insert_user

# Tenant tables and the column naming the organization.
TABLES = {
    "organizations": "id",
    "organization_members": "organization_id",
    "teams": "organization_id",
    "events": "organization_id",
    "subscriptions": "organization_id",
    "invitations": "organization_id",
}
FORGED = ["on", "ON", "true", "1", "yes", "service", "t", "0" * 64]
NAMES = ["app.service", "app.is_service", "app.service_mode", "app.bypass_rls", "app.role", "saaskit.service"]


async def _populate(runtime: Runtime) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Two organizations with a row in each tenant table, written in the service context."""
    ids = []
    async with runtime.db.session(SERVICE) as session:
        user = await insert_user(session)
        for name in ("Alpha", "Bravo"):
            org = await insert_org(session, name)
            await insert_member(session, org, user, "owner")
            await session.execute(
                text("INSERT INTO teams (organization_id, name) VALUES (:o, 'T')"), {"o": org}
            )
            await insert_events(session, [datetime.now(UTC)], "signup", organization_id=org)
            await insert_subscription(session, organization_id=org)
            await session.execute(
                text(
                    "INSERT INTO invitations (organization_id, invitee_email, role, token_hash, expires_at) "
                    "VALUES (:o, 'x@example.com', 'member', md5(random()::text), now() + interval '1 day')"
                ),
                {"o": org},
            )
            ids.append(org)
    return user, ids[0], ids[1]


def _counts(conn: psycopg.Connection[tuple[object, ...]], org: uuid.UUID) -> dict[str, int]:
    counts = {}
    for table, column in TABLES.items():
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", (org,)).fetchone()  # type: ignore[arg-type]
        assert row is not None
        counts[table] = int(str(row[0]))
    return counts


def _attempt(
    conn: psycopg.Connection[tuple[object, ...]], statement: str, alpha: uuid.UUID, bravo: uuid.UUID
) -> None:
    """Run ``statement`` as the attacker in a transaction acting for Alpha; Bravo stays unseen."""
    with conn.transaction(force_rollback=True):
        conn.execute(
            "SELECT set_config('app.user_id', %s, true), set_config('app.organization_id', %s, true)",
            (str(uuid.uuid4()), str(alpha)),
        )
        try:
            with conn.transaction():
                conn.execute(statement)  # type: ignore[arg-type]
        except psycopg.Error:
            return  # refused outright: fine too
        try:
            with conn.transaction():
                seen = {table: n for table, n in _counts(conn, bravo).items() if n}
        except psycopg.errors.InsufficientPrivilege:
            return  # row_security = off: queries on tenant tables fail instead
        assert not seen, (statement, seen)


async def test_sql_as_the_application_role_cannot_enter_the_service_context(
    fresh_runtime: Runtime, fresh_database: DbUnderTest
) -> None:
    _, alpha, bravo = await _populate(fresh_runtime)
    app_url = libpq_url(str(fresh_runtime.extras["app_url"]))
    owner = make_url(fresh_database.owner_url.replace("postgresql://", "postgresql+psycopg://")).username
    attempts = [
        f"SELECT set_config('{name}', '{value}', {local})"
        for name in NAMES
        for value in FORGED
        for local in ("true", "false")
    ]
    attempts += [
        "SET app.service = 'on'",
        "SET LOCAL app.service = 'on'",
        "SELECT app_enter_service('')",
        "SELECT app_enter_service(NULL)",
        "SELECT app_enter_service('guess')",
        "SELECT set_config('app.service', app_service_seal(''), true)",
        "SELECT set_config('app.service', app_service_seal('on'), true)",
        "SELECT * FROM context_keys",
        "SELECT set_config('app.service', (SELECT seal_key FROM context_keys), true)",
        f'SET ROLE "{owner}"',
        "SET ROLE postgres",
        "SET ROLE pg_read_all_data",
        f'SET SESSION AUTHORIZATION "{owner}"',
        "SELECT set_config('role', 'postgres', true)",
        "SELECT set_config('row_security', 'off', true)",
    ]
    with psycopg.connect(app_url) as attacker:
        for statement in attempts:
            _attempt(attacker, statement, alpha, bravo)
        for refused in (
            "SELECT app_enter_service('guess')",
            "SELECT * FROM context_keys",
            "SET ROLE postgres",
        ):
            with attacker.transaction(force_rollback=True):
                try:
                    attacker.execute(refused)  # type: ignore[arg-type]
                    raise AssertionError(f"{refused} was allowed")
                except psycopg.errors.InsufficientPrivilege:
                    pass

        # The server's path (the key as a bind parameter) sees every organization ...
        with attacker.transaction():
            server_statement = re.sub(r":(\w+)", r"%(\1)s", str(SET_CONTEXT_SQL))
            attacker.execute(server_statement, SERVICE.params())  # type: ignore[arg-type]
            assert all(_counts(attacker, bravo).values()) and all(_counts(attacker, alpha).values())
            seal = attacker.execute("SELECT current_setting('app.service')").fetchone()
        assert seal is not None and re.fullmatch("[0-9a-f]{64}", str(seal[0]))
        # ... and the seal it left is worthless in any later transaction (same backend).
        _attempt(attacker, f"SELECT set_config('app.service', '{seal[0]}', true)", alpha, bravo)
        _attempt(attacker, f"SET app.service = '{seal[0]}'", alpha, bravo)

    # Jobs, the CLI and the admin keep working: runtime sessions in the service context.
    async with fresh_runtime.db.session(SERVICE) as session:
        seen = (await session.execute(text("SELECT count(*) FROM organizations"))).scalar_one()
        assert seen == 2
        await set_context(session, Context(organization_id=alpha))
        assert (await session.execute(text("SELECT count(*) FROM organizations"))).scalar_one() == 1


async def test_every_policy_checks_the_service_context_once_per_statement(fresh_runtime: Runtime) -> None:
    """A policy calling app_is_service() bare would verify the seal once per row (slow)."""
    async with fresh_runtime.db.session(SERVICE) as session:
        rows = (
            await session.execute(
                text("SELECT tablename, policyname, concat(qual, ' ', with_check) FROM pg_policies")
            )
        ).all()
    bare = [(t, p) for t, p, expr in rows if re.search(r"(?<!SELECT )app_is_service\(\)", expr)]
    assert rows and not bare, bare
