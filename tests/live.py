"""A real ``saaskit serve`` process for tests that need one (webhooks arriving over HTTP,
official SDKs, browsers): its own port, a fresh database, stopped with SIGINT afterwards."""

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
import pytest

from tests.conftest import TEST_SECRET, DbUnderTest

# Cheap password hashing for test servers; everything else as in production.
TEST_SERVER_ENV = {
    "SAASKIT_AUTH_ARGON2_TIME_COST": "1",
    "SAASKIT_AUTH_ARGON2_MEMORY_COST_KIB": "64",
    "SAASKIT_AUTH_ARGON2_PARALLELISM": "1",
    "SAASKIT_JOBS_WORKER_CONCURRENCY": "2",
    "SAASKIT_DATABASE_APP_ROLE": "saaskit_test_app",
    # As in tests.conftest.make_settings: tests sign up many users from one address.
    "SAASKIT_RATE_LIMIT_SIGN_UP_PER_IP": "100000/hour",
    # No scheduled backup or restore test of the test database when a test runs past minute 7
    # (tests/system/test_backup_jobs.py tests those jobs).
    "SAASKIT_BACKUP_SCHEDULE_HOURS": "0",
    "SAASKIT_BACKUP_RESTORE_TEST_DAYS": "0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """``python -m saaskit serve`` with the given environment; output kept in a log file."""

    def __init__(self, log_dir: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.output = log_dir / f"serve-{self.port}.log"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SAASKIT_")}
        environment.update({"SAASKIT_LOG_LEVEL": "INFO", **TEST_SERVER_ENV})
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
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if not self.handle.closed:
            self.handle.close()
        return int(self.process.returncode)

    def admin_password(self) -> str | None:
        match = re.search(r"password: (\S+)\s+\(shown once", self.log())
        return match.group(1) if match else None


@pytest.fixture
def live_server(fresh_database: DbUnderTest, tmp_path: Path) -> Iterator[ServeProcess]:
    """saaskit served over real HTTP on a fresh copy of the migrated database."""
    server = ServeProcess(
        tmp_path / "live",
        env={
            "SAASKIT_DATABASE_URL": fresh_database.owner_url,
            "SAASKIT_SECRET_KEY": TEST_SECRET,
            "SAASKIT_DATA_DIR": str(tmp_path / "data"),
        },
    )
    try:
        server.wait_ready()
        yield server
    finally:
        code = server.stop()
        assert code == 0, server.log()[-4000:]
