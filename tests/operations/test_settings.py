"""The operations settings read from the environment as docs/operations.md writes them."""

from __future__ import annotations

import pytest

from saaskit.config import DatabaseSettings, Settings
from saaskit.kit.replicas import replica_app_url, replicas_for
from tests.conftest import TEST_SECRET


def test_replica_urls_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SAASKIT_DATABASE_REPLICA_URLS",
        "postgresql://u:p@replica-a:5432/saaskit, postgresql://replica-b:5433/saaskit",
    )
    monkeypatch.setenv("SAASKIT_DATABASE_REPLICA_MAX_LAG_SECONDS", "2.5")
    settings = DatabaseSettings()
    assert settings.replica_urls == [
        "postgresql://u:p@replica-a:5432/saaskit",
        "postgresql://replica-b:5433/saaskit",
    ]
    assert settings.replica_max_lag_seconds == 2.5
    monkeypatch.setenv("SAASKIT_DATABASE_REPLICA_URLS", "")
    assert DatabaseSettings().replica_urls == []


async def test_replicas_are_reached_as_the_application_role() -> None:
    settings = Settings(
        secret_key=TEST_SECRET,
        database=DatabaseSettings(
            app_role="app", replica_urls=["postgresql://owner:secret@replica-a:5432/saaskit"]
        ),
    )
    url = replica_app_url(settings, settings.database.replica_urls[0], TEST_SECRET)
    assert url.startswith("postgresql://app:") and url.endswith("@replica-a:5432/saaskit")
    assert "secret@" not in url
    replicas = replicas_for(settings, TEST_SECRET)
    assert replicas is not None
    assert [r.name for r in replicas.members] == ["replica-a:5432/saaskit"]  # no credentials in logs
    await replicas.dispose()
    assert replicas_for(Settings(secret_key=TEST_SECRET), TEST_SECRET) is None
