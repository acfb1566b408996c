"""The CLI against a real database: every command a new operator would use."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from saaskit.cli import app
from saaskit.config import get_settings
from saaskit.kit.embedded import EmbeddedPostgres, _bin_dir
from tests.conftest import APP_ROLE, TEST_SECRET, DbUnderTest

runner = CliRunner()


@pytest.fixture
def cli_env(fresh_database: DbUnderTest, tmp_path: Path) -> Iterator[dict[str, str]]:
    get_settings.cache_clear()
    yield {
        "SAASKIT_DATABASE_URL": fresh_database.owner_url,
        "SAASKIT_SECRET_KEY": TEST_SECRET,
        "SAASKIT_DATABASE_APP_ROLE": APP_ROLE,
        "SAASKIT_DATA_DIR": str(tmp_path / "data"),
        "SAASKIT_LOG_LEVEL": "WARNING",
    }
    get_settings.cache_clear()


def invoke(env: dict[str, str], *args: str) -> str:
    get_settings.cache_clear()
    result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_help_lists_every_command() -> None:
    output = runner.invoke(app, ["--help"]).output
    for command in ("serve", "migrate", "worker", "users", "db", "version"):
        assert command in output
    users = runner.invoke(app, ["users", "--help"]).output
    for command in ("create", "list", "set-password", "reset-two-factor", "suspend"):
        assert command in users


def test_version() -> None:
    assert "saaskit 0.1.0" in runner.invoke(app, ["version"]).output


def test_users_lifecycle(cli_env: dict[str, str]) -> None:
    created = invoke(cli_env, "users", "create", "ops@example.com", "--admin", "--name", "Ops")
    assert "created admin ops@example.com" in created
    assert "password (shown once)" in created
    listed = invoke(cli_env, "users", "list")
    assert "ops@example.com" in listed and "admin" in listed
    changed = invoke(cli_env, "users", "set-password", "ops@example.com", "--password", "another long one")
    assert "password changed" in changed
    get_settings.cache_clear()
    weak = runner.invoke(
        app, ["users", "set-password", "ops@example.com", "--password", "password123"], env=cli_env
    )
    assert weak.exit_code != 0  # the password rules apply to operators too
    assert "had no two-factor sign-in" in invoke(cli_env, "users", "reset-two-factor", "ops@example.com")
    suspended = invoke(cli_env, "users", "suspend", "ops@example.com")
    assert "is now suspended" in suspended
    assert "suspended" in invoke(cli_env, "users", "list", "--search", "ops")
    assert "is now active" in invoke(cli_env, "users", "suspend", "ops@example.com", "--reactivate")
    get_settings.cache_clear()
    missing = runner.invoke(app, ["users", "suspend", "nobody@example.com"], env=cli_env)
    assert missing.exit_code != 0


def test_migrate_current_and_upgrade(cli_env: dict[str, str]) -> None:
    assert "at head" in invoke(cli_env, "migrate", "current")
    assert "at head" in invoke(cli_env, "migrate")


def test_db_url_works_with_psql_against_the_embedded_server(tmp_path: Path) -> None:
    env = {"SAASKIT_DATA_DIR": str(tmp_path / "data"), "SAASKIT_LOG_LEVEL": "WARNING"}
    try:
        url = invoke(env, "db", "url").strip()
        assert url.startswith("postgresql://postgres@/saaskit?host=")
        answer = subprocess.run(
            [str(_bin_dir() / "psql"), url, "-XAtc", "select 40 + 2"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert answer.stdout.strip() == "42"
        assert "running" in invoke(env, "db", "status")
        assert "stopped" in invoke(env, "db", "stop")
        assert EmbeddedPostgres(tmp_path / "data").running_process() is None
    finally:
        EmbeddedPostgres(tmp_path / "data").stop()
