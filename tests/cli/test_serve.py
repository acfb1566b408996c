"""``saaskit serve`` as a new user runs it: a real process, real signals, real HTTP."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from saaskit.kit.embedded import EmbeddedPostgres
from tests.conftest import DbUnderTest

pytestmark = pytest.mark.live


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.output = data_dir.parent / f"serve-{self.port}.log"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SAASKIT_")}
        environment.update(
            {
                "SAASKIT_DATA_DIR": str(data_dir),
                "SAASKIT_LOG_LEVEL": "INFO",
                "SAASKIT_JOBS_WORKER_CONCURRENCY": "1",
            }
        )
        environment.update(env or {})
        self.handle = self.output.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "saaskit", "serve", "--port", str(self.port), *args],
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            env=environment,
        )
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"serve not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        if not self.handle.closed:
            self.handle.flush()
        return self.output.read_text()

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self.handle.close()
        return code

    def admin_password(self) -> str | None:
        match = re.search(r"password: (\S+)\s+\(shown once", self.log())
        return match.group(1) if match else None


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"
    EmbeddedPostgres(tmp_path / "data").stop()


def test_serve_first_run_restart_and_crash_recovery(data_dir: Path) -> None:
    first = ServeProcess(data_dir)
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

    second = ServeProcess(data_dir)
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

    third = ServeProcess(data_dir)
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
        data_dir,
        env={
            "SAASKIT_DATABASE_URL": fresh_database.owner_url,
            "SAASKIT_SECRET_KEY": "external-test-secret-0123456789",
        },
    )
    process.wait_ready()
    assert process.admin_password()
    assert not (data_dir / "pgdata").exists()
    assert process.stop() == 0, process.log()
