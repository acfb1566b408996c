"""``saaskit serve`` as a new user runs it: a real process, real signals, real HTTP."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from saaskit.kit.embedded import EmbeddedPostgres
from tests.conftest import TEST_SECRET, DbUnderTest
from tests.live import ServeProcess

pytestmark = pytest.mark.live


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"
    EmbeddedPostgres(tmp_path / "data").stop()


def test_serve_first_run_restart_and_crash_recovery(data_dir: Path) -> None:
    first = ServeProcess(data_dir.parent, env={"SAASKIT_DATA_DIR": str(data_dir)})
    first.wait_ready()
    password = first.admin_password()
    assert password, first.log()
    login = httpx.post(
        f"{first.base}/api/auth/login", json={"email": "admin@example.com", "password": password}
    )
    assert login.status_code == 200
    token = login.json()["token"]
    signup = httpx.post(
        f"{first.base}/api/auth/signup", json={"email": "kept@example.com", "password": "a long password"}
    )
    assert signup.status_code == 201
    assert first.stop(signal.SIGINT) == 0, first.log()
    assert EmbeddedPostgres(data_dir).running_process() is None, "Ctrl-C must stop PostgreSQL too"
    assert "Traceback" not in first.log(), first.log()

    second = ServeProcess(data_dir.parent, env={"SAASKIT_DATA_DIR": str(data_dir)})
    second.wait_ready()
    assert second.admin_password() is None, "the admin is created only once"
    me = httpx.get(f"{second.base}/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, "the data (and the session) survived the restart"

    # A crash: serve and PostgreSQL die without cleaning up; postmaster.pid stays behind.
    postmaster = EmbeddedPostgres(data_dir).running_process()
    assert postmaster is not None
    second.process.kill()
    second.process.wait(10)
    psutil.Process(postmaster.pid).kill()
    time.sleep(0.5)
    assert (data_dir / "pgdata" / "postmaster.pid").exists()

    # After the crash, with several API processes and the job worker in a process of its own.
    third = ServeProcess(data_dir.parent, env={"SAASKIT_DATA_DIR": str(data_dir)}, args=("--workers", "2"))
    third.wait_ready()
    assert (
        httpx.post(
            f"{third.base}/api/auth/login", json={"email": "kept@example.com", "password": "a long password"}
        ).status_code
        == 200
    )
    assert third.stop(signal.SIGTERM) == 0, third.log()
    assert EmbeddedPostgres(data_dir).running_process() is None


def test_serve_with_an_external_database_starts_nothing_embedded(
    data_dir: Path, fresh_database: DbUnderTest
) -> None:
    process = ServeProcess(
        data_dir.parent,
        env={
            "SAASKIT_DATA_DIR": str(data_dir),
            "SAASKIT_DATABASE_URL": fresh_database.owner_url,
            "SAASKIT_SECRET_KEY": TEST_SECRET,
        },
    )
    process.wait_ready()
    assert process.admin_password()
    assert not (data_dir / "pgdata").exists()
    assert process.stop() == 0, process.log()
