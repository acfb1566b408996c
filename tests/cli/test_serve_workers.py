"""``saaskit serve --workers N``: N API processes on one port, supervised, stopped in order."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from saaskit.kit.embedded import EmbeddedPostgres
from tests.cli.test_serve import data_dir  # noqa: F401 - the fixture
from tests.live import ServeProcess

pytestmark = pytest.mark.live


def _api_processes(serve: ServeProcess) -> list[psutil.Process]:
    """The serve's live API processes: its children listening on the port (the job worker, its
    other child, does not)."""
    found = []
    for child in psutil.Process(serve.process.pid).children():
        try:
            listening = any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == serve.port
                for c in child.net_connections(kind="tcp")
            )
        except (psutil.ZombieProcess, psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if listening:
            found.append(child)
    return found


def test_two_api_processes_share_the_port_and_stop_with_serve(data_dir: Path) -> None:  # noqa: F811
    serve = ServeProcess(data_dir.parent, env={"SAASKIT_DATA_DIR": str(data_dir)}, args=("--workers", "2"))
    try:
        serve.wait_ready()
        apis = _api_processes(serve)
        assert len(apis) == 2, [p.cmdline() for p in psutil.Process(serve.process.pid).children()]
        password = serve.admin_password()
        assert password, serve.log()
        token = httpx.post(
            f"{serve.base}/api/auth/login", json={"email": "admin@example.com", "password": password}
        ).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=serve.base, headers=headers) as http:
            for _ in range(20):  # new connections, spread by the kernel over both processes
                with httpx.Client(base_url=serve.base, headers=headers) as fresh:
                    assert fresh.post("/api/heartbeat", json={}).status_code == 200
            assert http.get("/api/admin/presence").json()["active_users_now"] == 1

        # An API process that dies is replaced.
        apis[0].kill()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and {p.pid for p in _api_processes(serve)} & {apis[0].pid}:
            time.sleep(0.2)
        while time.monotonic() < deadline and len(_api_processes(serve)) < 2:
            time.sleep(0.2)
        assert len(_api_processes(serve)) == 2, serve.log()
        serve.wait_ready()

        survivors = _api_processes(serve)
        assert serve.stop(signal.SIGTERM) == 0, serve.log()
        assert not [p for p in survivors if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert EmbeddedPostgres(data_dir).running_process() is None
        assert "Traceback" not in serve.log(), serve.log()
    finally:
        if serve.process.poll() is None:  # the test failed half-way: do not leave serve behind
            serve.process.terminate()
            serve.process.wait(60)
