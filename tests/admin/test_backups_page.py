"""The admin's Backups tab: the last backup, its size and targets, the last restore test's
outcome (a failure in red with its reason and the tables that differed), and the configuration
(no secret shown)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.system import backup_runs
from saaskit.system.backups import Backup
from tests.admin.conftest import AdminClient


async def test_the_backups_page(admin_client: AdminClient, session: AsyncSession) -> None:
    page = await admin_client.http.get("/admin/system/backups")
    assert page.status_code == 200, page.text
    assert "No backup has been made yet." in page.text and "No restore test yet." in page.text
    assert "off (no key configured)" in page.text and "every 24 hours" in page.text
    assert "Base backups and WAL" in page.text and "wal-archive" in page.text  # embedded: local only

    started = datetime.now(UTC) - timedelta(minutes=5)
    backup = Backup("20261207T030000000000Z", started.isoformat(), "saaskit", 180000, "0043", 7_340_032, "ab")
    await backup_runs.record(
        session, kind="backup", started_at=started, backup=backup, targets=["local", "s3://ops-bucket"]
    )
    await backup_runs.record(
        session,
        kind="restore_test",
        started_at=started,
        backup_id=backup.id,
        targets=["s3://ops-bucket"],
        error="1 tables differ from the manifest",
        detail={"tables": 90, "rows": 1234, "mismatches": ["public.users: {'rows': 3} in the backup"]},
    )
    page = await admin_client.http.get("/admin/system/backups")
    assert page.status_code == 200, page.text
    assert backup.id in page.text and "7.0 MB" in page.text and "local, s3://ops-bucket" in page.text
    assert "Restore test failed" in page.text and "1 tables differ from the manifest" in page.text
    assert "public.users: {&#39;rows&#39;: 3} in the backup" in page.text
    assert 'href="/admin/system/backups" aria-current="page"' in page.text
