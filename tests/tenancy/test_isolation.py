"""Organization A can never read or write organization B's rows.

Two proofs: raw SQL on the application role with A's context (every tenant table, discovered
from the catalog, so a new tenant table without a policy fails this test), and the API trying
B's ids with A's credentials (404, not 403, so ids do not leak).
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.factories import set_rls
from tests.helpers import error_of
from tests.tenancy.conftest import Tenant

TENANT_TABLES_SQL = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY 1
"""


async def test_every_tenant_table_has_rls_and_hides_other_tenants(
    connection: AsyncConnection, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    tables = [r[0] for r in (await connection.execute(text(TENANT_TABLES_SQL))).all()]
    assert {"teams", "workspaces", "invitations", "activities", "organization_members"} <= set(tables)
    rls = dict(
        (
            await connection.execute(
                text(
                    "SELECT relname, relrowsecurity AND EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = c.oid) "
                    "FROM pg_class c WHERE relname = ANY(:t)"
                ),
                {"t": tables},
            )
        ).all()
    )
    assert [t for t in tables if not rls[t]] == [], "tenant tables without row-level security"
    checked = []
    for table in tables:
        await set_rls(connection, organization_id=tenant_a.org_id)
        # Seeing B's rows by id, or by forgetting the WHERE clause: both must fail.
        leaked = (
            await connection.execute(
                text(f"SELECT count(*) FROM {table} WHERE organization_id = :b"), {"b": tenant_b.org_id}
            )
        ).scalar_one()
        mine = (
            await connection.execute(
                text(f"SELECT count(*) FROM {table} WHERE organization_id = :a"), {"a": tenant_a.org_id}
            )
        ).scalar_one()
        everything = (
            await connection.execute(
                text(f"SELECT count(DISTINCT organization_id) FROM {table} WHERE organization_id IS NOT NULL")
            )
        ).scalar_one()
        assert leaked == 0, table
        assert everything <= 1, table
        # Data exists for B: seen with B's context, so the zero above is isolation, not absence.
        await set_rls(connection, organization_id=tenant_b.org_id)
        theirs = (
            await connection.execute(
                text(f"SELECT count(*) FROM {table} WHERE organization_id = :b"), {"b": tenant_b.org_id}
            )
        ).scalar_one()
        if theirs:
            checked.append(table)
        assert mine >= 0
    assert set(checked) >= {
        "organization_members",
        "teams",
        "team_members",
        "workspaces",
        "workspace_members",
        "roles",
        "user_roles",
        "invitations",
        "activities",
    }


@pytest.mark.parametrize("table", ["teams", "workspaces", "invitations", "user_roles"])
async def test_writes_into_another_tenant_are_refused(
    connection: AsyncConnection, tenant_a: Tenant, tenant_b: Tenant, table: str
) -> None:
    await set_rls(connection, organization_id=tenant_a.org_id)
    updated = (
        await connection.execute(
            text(f"UPDATE {table} SET organization_id = organization_id WHERE organization_id = :b"),
            {"b": tenant_b.org_id},
        )
    ).rowcount  # type: ignore[attr-defined]
    deleted = (
        await connection.execute(
            text(f"DELETE FROM {table} WHERE organization_id = :b"), {"b": tenant_b.org_id}
        )
    ).rowcount  # type: ignore[attr-defined]
    assert updated == 0 and deleted == 0
    savepoint = await connection.begin_nested()
    with pytest.raises(DBAPIError, match=r"row-level security|permission denied"):
        await connection.execute(
            text(f"UPDATE {table} SET organization_id = :b WHERE organization_id = :a"),
            {"a": tenant_a.org_id, "b": tenant_b.org_id},
        )
    await savepoint.rollback()


async def test_the_audit_log_cannot_be_changed_by_the_application_role(
    connection: AsyncConnection, tenant_a: Tenant
) -> None:
    await set_rls(connection, organization_id=tenant_a.org_id)
    assert (await connection.execute(text("SELECT count(*) FROM activities"))).scalar_one() > 0
    for statement in ("UPDATE activities SET action = 'forged'", "DELETE FROM activities"):
        savepoint = await connection.begin_nested()
        with pytest.raises(DBAPIError, match="permission denied"):
            await connection.execute(text(statement))
        await savepoint.rollback()


async def test_no_context_sees_no_tenant_rows(connection: AsyncConnection, tenant_a: Tenant) -> None:
    await set_rls(connection)
    for table in ("organizations", "organization_members", "teams", "workspaces", "activities"):
        assert (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 0, table


async def test_system_roles_are_read_only_for_the_application_role(
    connection: AsyncConnection, tenant_a: Tenant
) -> None:
    await set_rls(connection, organization_id=tenant_a.org_id)
    visible = (await connection.execute(text("SELECT count(*) FROM roles WHERE is_system_role"))).scalar_one()
    assert visible == 9
    changed = (
        await connection.execute(text("UPDATE roles SET permissions = '[\"*\"]' WHERE name = 'viewer'"))
    ).rowcount  # type: ignore[attr-defined]
    removed = (await connection.execute(text("DELETE FROM roles WHERE is_system_role"))).rowcount  # type: ignore[attr-defined]
    assert changed == 0 and removed == 0


async def test_api_answers_404_for_another_tenants_ids(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    a = tenant_a.owner.headers
    b = tenant_b
    attempts = [
        ("GET", f"/api/orgs/{b.org_id}"),
        ("PATCH", f"/api/orgs/{b.org_id}", {"name": "pwned"}),
        ("GET", f"/api/orgs/{b.org_id}/members"),
        ("GET", f"/api/orgs/{b.org_id}/activities"),
        # B's objects addressed through A's organization:
        ("GET", f"/api/orgs/{tenant_a.org_id}/teams/{b.team_id}"),
        ("PATCH", f"/api/orgs/{tenant_a.org_id}/teams/{b.team_id}", {"name": "x"}),
        ("GET", f"/api/orgs/{tenant_a.org_id}/teams/{b.team_id}/members"),
        ("GET", f"/api/orgs/{tenant_a.org_id}/workspaces/{b.workspace_id}"),
        ("DELETE", f"/api/orgs/{tenant_a.org_id}/workspaces/{b.workspace_id}"),
        ("PATCH", f"/api/orgs/{tenant_a.org_id}/roles/{b.role_id}", {"description": "x"}),
        ("DELETE", f"/api/orgs/{tenant_a.org_id}/role-assignments/{b.assignment_id}"),
        ("POST", f"/api/orgs/{tenant_a.org_id}/invitations/{b.invitation_id}/revoke"),
        ("PATCH", f"/api/orgs/{tenant_a.org_id}/members/{b.owner.id}", {"role": "viewer"}),
    ]
    for method, url, *body in attempts:
        response = await client.request(method, url, headers=a, json=body[0] if body else None)
        assert response.status_code == 404, (method, url, response.status_code, response.text)
        assert error_of(response)["code"] == "not_found"
    # And B's data is intact.
    org = await client.get(f"/api/orgs/{b.org_id}", headers=b.owner.headers)
    assert org.json()["name"] == "Bravo"


async def test_a_member_without_permission_gets_403_not_404(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    response = await client.patch(
        f"/api/orgs/{tenant_a.org_id}", headers=tenant_a.member.headers, json={"name": "renamed"}
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
