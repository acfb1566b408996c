"""``saaskit serve`` under faults (docs/operations.md): the embedded PostgreSQL killed under it,
a second serve on the same data directory, a port in use, signals in every state, half-sent
requests, running as root. Real processes, real signals, real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from saaskit.kit.embedded import EmbeddedPostgres
from tests.cli.test_serve import data_dir  # noqa: F401 - the fixture
from tests.conftest import TEST_SECRET, DbUnderTest
from tests.live import TEST_SERVER_ENV, ServeProcess, free_port

pytestmark = pytest.mark.live

STOP_WITHIN_SECONDS = 10  # SIGTERM / Ctrl-C, in every state
BACK_WITHIN_SECONDS = 30  # kill -9 of PostgreSQL -> serving again (about 1 s on an idle machine)
QUICK_503_SECONDS = 6  # a request during an outage: 503 within the pool timeout (5 s), not 30 s


def _stop_timed(serve: ServeProcess, sig: int) -> tuple[int, float]:
    started = time.monotonic()
    code = serve.stop(sig, timeout=STOP_WITHIN_SECONDS + 20)
    return code, time.monotonic() - started


def _wait_for(check: Callable[[], bool], timeout: float, what: str, log: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {timeout} s:\n{log()[-6000:]}")


def _status(method: str, url: str, **kwargs: object) -> tuple[int, float]:
    started = time.monotonic()
    try:
        code = httpx.request(method, url, timeout=30, **kwargs).status_code  # type: ignore[arg-type]
    except httpx.HTTPError:
        code = -1
    return code, time.monotonic() - started


def _postgres_processes_on(pgdata: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if "postgres" in (proc.info["name"] or "") and Path(proc.cwd()) == pgdata:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


@pytest.fixture
def serve_cleanup() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for serve in started:  # a test that failed half-way must not leave serve behind
        if serve.process.poll() is None:
            serve.process.kill()
            serve.process.wait(30)


def test_killed_postgres_is_restarted_and_the_outage_answers_503(
    data_dir: Path,  # noqa: F811
    serve_cleanup: list[ServeProcess],
) -> None:
    serve = ServeProcess(data_dir.parent, env={"SAASKIT_DATA_DIR": str(data_dir)})
    serve_cleanup.append(serve)
    serve.wait_ready()
    base = serve.base
    credentials = {"email": "kept@example.com", "password": "a long password"}
    assert httpx.post(f"{base}/api/auth/signup", json=credentials).status_code == 201
    token = httpx.post(f"{base}/api/auth/login", json=credentials).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{base}/api/heartbeat", json={}, headers=auth).status_code == 200
    pgdata = data_dir / "pgdata"

    def probe() -> list[tuple[str, int, float]]:
        return [
            ("readyz", *_status("GET", f"{base}/readyz")),
            ("me", *_status("GET", f"{base}/api/me", headers=auth)),
            ("heartbeat", *_status("POST", f"{base}/api/heartbeat", json={}, headers=auth)),
        ]

    # 1. kill -9 of the postmaster: noticed, started again, serving again; 503 meanwhile.
    first = EmbeddedPostgres(data_dir).running_process()
    assert first is not None
    os.kill(first.pid, signal.SIGKILL)
    killed = time.monotonic()
    seen: list[tuple[str, int, float]] = []
    while True:
        answers = probe()
        seen += answers
        if all(code == 200 for _, code, _ in answers):
            break
        assert time.monotonic() - killed < BACK_WITHIN_SECONDS, f"not back: {seen}\n{serve.log()[-6000:]}"
        time.sleep(0.05)
    assert ("readyz", 503) in {(name, code) for name, code, _ in seen}, seen
    assert all(code in (200, 503) for _, code, _ in seen), f"never a 500: {seen}"
    assert all(took < QUICK_503_SECONDS for _, _, took in seen), seen
    second = EmbeddedPostgres(data_dir).running_process()
    assert second is not None and second.pid != first.pid
    assert "is gone; starting it again" in serve.log()
    # Committed data survived (the account, its session); writes work again.
    assert httpx.post(f"{base}/api/auth/login", json=credentials).status_code == 200
    me = httpx.get(f"{base}/api/me", headers=auth)
    assert me.status_code == 200 and me.json()["email"] == "kept@example.com"

    # 2. An outage that lasts (the server cannot start: its configuration is broken): every
    # request is answered 503 at once, for as long as it lasts; then it is over by itself.
    config = pgdata / "postgresql.conf"
    good = config.read_text()
    config.write_text(good + "\nthis line is not a setting\n")
    os.kill(second.pid, signal.SIGKILL)
    _wait_for(lambda: f"(pid {second.pid}) is gone" in serve.log(), 5, "the death noticed", serve.log)
    during = []
    for _ in range(10):
        during += probe()
        during.append(("login", *_status("POST", f"{base}/api/auth/login", json=credentials)))
        time.sleep(0.2)
    assert {code for _, code, _ in during} == {503}, during
    assert all(took < 2 for _, _, took in during), f"at once, not after a timeout: {during}"
    answer = httpx.get(f"{base}/api/me", headers=auth)
    assert answer.headers["retry-after"] and answer.json()["error"]["code"] == "database_unavailable"
    assert "could not start the embedded PostgreSQL" in serve.log()
    config.write_text(good)
    _wait_for(
        lambda: all(code == 200 for _, code, _ in probe()),
        BACK_WITHIN_SECONDS,
        "back after repair",
        serve.log,
    )
    assert httpx.get(f"{base}/api/me", headers=auth).json()["email"] == "kept@example.com"

    # 3. SIGTERM while the database is down: serve stops within the bound, PostgreSQL with it.
    third = EmbeddedPostgres(data_dir).running_process()
    assert third is not None
    config.write_text(good + "\nthis line is not a setting\n")
    os.kill(third.pid, signal.SIGKILL)
    _wait_for(
        lambda: "could not start" in serve.log().split(f"(pid {third.pid}) is gone")[-1],
        15,
        "a failed restart",
        serve.log,
    )
    assert _status("GET", f"{base}/readyz")[0] == 503
    code, took = _stop_timed(serve, signal.SIGTERM)
    config.write_text(good)
    assert code == 0, serve.log()[-4000:]
    assert took < STOP_WITHIN_SECONDS, (took, serve.log()[-4000:])
    assert EmbeddedPostgres(data_dir).running_process() is None
    assert not _postgres_processes_on(pgdata)


def test_second_serve_refused_addresses_printed_and_parents_untouched(
    tmp_path: Path, serve_cleanup: list[ServeProcess]
) -> None:
    # Below directories only root may enter: as root, PostgreSQL runs as another user, which
    # must not need them opened up (serve used to make every parent world-readable).
    private = tmp_path / "private"
    data = private / "deeper" / "data"
    data.parent.mkdir(parents=True)
    private.chmod(0o700)
    data.parent.chmod(0o711)
    parents = [p for p in data.parents if p.is_relative_to(tmp_path)]
    before = {p: p.stat().st_mode for p in parents}
    try:
        serve = ServeProcess(tmp_path, env={"SAASKIT_DATA_DIR": str(data)})
        serve_cleanup.append(serve)
        serve.wait_ready()
        after = {p: p.stat().st_mode for p in parents}
        assert after == before, "no folder above the data directory changes its permissions"
        if os.geteuid() == 0:
            owner = psutil.Process(EmbeddedPostgres(data).running_process().pid).username()  # type: ignore[union-attr]
            assert owner == "embedded_postgres"

        # The addresses, in full, and the one-time password once serving.
        log = serve.log()
        assert f"API:    {serve.base}/api" in log and f"admin:  {serve.base}/admin" in log, log
        assert f"Sign in to {serve.base}/admin" in log, log
        assert log.index("saaskit is serving") < log.index("password: ")

        # A second serve on the same data directory: refused at once, the first unharmed.
        postmaster = EmbeddedPostgres(data).running_process()
        assert postmaster is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAASKIT_")}
        env.update({**TEST_SERVER_ENV, "SAASKIT_DATA_DIR": str(data)})
        second = subprocess.run(
            [sys.executable, "-m", "saaskit", "serve", "--port", str(free_port())],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1, second.stdout + second.stderr
        assert "already running on the data directory" in second.stderr, second.stderr
        assert "alembic" not in second.stderr and "password" not in second.stdout
        stop = subprocess.run(
            [sys.executable, "-m", "saaskit", "db", "stop"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert stop.returncode == 1 and "stop serve instead" in stop.stderr, stop.stderr
        still = EmbeddedPostgres(data).running_process()
        assert still is not None and still.pid == postmaster.pid
        assert httpx.get(f"{serve.base}/readyz").status_code == 200

        # SIGTERM while serving: within the bound, PostgreSQL stopped too.
        code, took = _stop_timed(serve, signal.SIGTERM)
        assert code == 0 and took < STOP_WITHIN_SECONDS, (took, serve.log()[-4000:])
        assert EmbeddedPostgres(data).running_process() is None
        assert {p: p.stat().st_mode for p in parents} == before
    finally:
        EmbeddedPostgres(data).stop()


def test_port_in_use_fails_fast_and_starts_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAASKIT_")}
        env.update({**TEST_SERVER_ENV, "SAASKIT_DATA_DIR": str(data), "SAASKIT_LOG_LEVEL": "INFO"})
        result = subprocess.run(
            [sys.executable, "-m", "saaskit", "serve", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr, result.stderr
    assert "--port" in result.stderr
    # Checked before anything started: no cluster, no server, no admin and no password.
    assert not (data / "pgdata").exists()
    assert EmbeddedPostgres(data).running_process() is None
    assert "password" not in result.stdout


def test_sigterm_during_start_up_stops_everything(data_dir: Path, serve_cleanup: list[ServeProcess]) -> None:  # noqa: F811
    serve = ServeProcess(data_dir.parent, env={"SAASKIT_DATA_DIR": str(data_dir)})
    serve_cleanup.append(serve)
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    # PostgreSQL is starting or started, and serve is not serving yet (migrations come next).
    _wait_for(pid_file.exists, 120, "the embedded PostgreSQL starting", serve.log)
    assert "saaskit is serving" not in serve.log()
    code, took = _stop_timed(serve, signal.SIGTERM)
    assert code == 0, serve.log()[-4000:]
    assert took < STOP_WITHIN_SECONDS, (took, serve.log()[-4000:])
    assert EmbeddedPostgres(data_dir).running_process() is None
    assert not _postgres_processes_on(data_dir / "pgdata")
    assert "saaskit is serving" not in serve.log()


def test_half_sent_requests_are_answered_408_and_closed(
    tmp_path: Path, fresh_database: DbUnderTest, serve_cleanup: list[ServeProcess]
) -> None:
    serve = ServeProcess(
        tmp_path,
        env={
            "SAASKIT_DATABASE_URL": fresh_database.owner_url,
            "SAASKIT_SECRET_KEY": TEST_SECRET,
            "SAASKIT_DATA_DIR": str(tmp_path / "data"),
            "SAASKIT_HTTP_BODY_TIMEOUT_SECONDS": "1",
        },
    )
    serve_cleanup.append(serve)
    serve.wait_ready()
    head = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    clients = []
    for _ in range(50):
        client = socket.create_connection(("127.0.0.1", serve.port))
        client.sendall(head + b'{"email": "half')  # 16 of the 100 bytes announced, then nothing
        clients.append(client)
    deadline = time.monotonic() + 15
    for client in clients:
        client.settimeout(max(0.1, deadline - time.monotonic()))
        received = b""
        while chunk := client.recv(4096):  # until the server closes the connection
            received += chunk
        assert received.startswith(b"HTTP/1.1 408"), received
        assert b"request_timeout" in received
        client.close()
    # A request sent whole is unaffected.
    answer = httpx.post(f"{serve.base}/api/auth/login", json={"email": "a@example.com", "password": "x" * 12})
    assert answer.status_code == 401
    code, took = _stop_timed(serve, signal.SIGINT)
    assert code == 0 and took < STOP_WITHIN_SECONDS, serve.log()[-4000:]
