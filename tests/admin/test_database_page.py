"""The admin's Database health tab (system/database.py) renders every section."""

from __future__ import annotations

from tests.admin.conftest import AdminClient


async def test_the_database_page(admin_client: AdminClient) -> None:
    page = await admin_client.http.get("/admin/system/database")
    assert page.status_code == 200, page.text
    for section in ("foreign-keys", "replication", "slowest", "vacuum", "unused-indexes"):
        assert f'id="{section}"' in page.text
    assert "every foreign key leads an index" in page.text
    assert "Database health" in page.text
