"""A database error never puts the statement's values in a log line (kit.logsafe): not the bound
parameters (SQLAlchemy's ``[parameters: ...]``), not what PostgreSQL quotes back (``DETAIL: Key
(email)=(...)``, ``Failing row contains (...)``), whichever engine ran it and whoever logs it."""

from __future__ import annotations

import ast
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import saaskit
from saaskit.config import Settings
from saaskit.kit.db import SERVICE, SET_CONTEXT_SQL, sqlalchemy_url
from saaskit.kit.errors import install_error_handlers
from tests.conftest import DbUnderTest

EMAIL = "jenny.rosen@example.com"
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g"
INSERT_USER = text("INSERT INTO users (email, password_hash) VALUES (:email, :password_hash)")
SOURCES = Path(saaskit.__file__).parent


async def _insert_twice(engine: AsyncEngine) -> None:
    """Two sign-ups with one e-mail in one transaction: a unique violation, rolled back."""
    async with engine.connect() as conn, conn.begin():
        await conn.execute(SET_CONTEXT_SQL, SERVICE.params())
        for _ in range(2):
            await conn.execute(INSERT_USER, {"email": EMAIL, "password_hash": PASSWORD_HASH})


def _app(engine: AsyncEngine, *, answered: bool = False) -> FastAPI:
    """``answered``: the unique violation reaches the error handlers, which answer it (409);
    otherwise a bug of ours follows it, unhandled (500, logged with the violation as its cause)."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/sign-up")
    async def sign_up() -> None:
        try:
            await _insert_twice(engine)
        except IntegrityError as exc:
            if answered:
                raise
            raise RuntimeError("could not sign up") from exc

    return app


async def _post(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.post("/sign-up")


def _assert_no_values(logged: str) -> None:
    assert EMAIL not in logged
    assert PASSWORD_HASH not in logged and "$argon2id$" not in logged


@pytest.fixture
async def plain_engine(migrated_db: DbUnderTest, settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine made without saaskit's rules (as a forgotten one would be)."""
    engine = create_async_engine(sqlalchemy_url(migrated_db.app_url(settings)))
    yield engine
    await engine.dispose()


async def test_the_service_engine_raises_and_logs_no_values(
    app_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await _post(_app(app_engine))
    assert answer.status_code == 500 and answer.json()["error"]["code"] == "internal_error"
    logged = caplog.text
    assert "unhandled error on POST /sign-up" in logged
    # What helps to find the cause stays: the error's class, the constraint, the statement.
    assert "UniqueViolation" in logged and "uq_users_email" in logged and "INSERT INTO users" in logged
    _assert_no_values(logged)

    # The exception itself carries no values either (it may be stored, e.g. a job's error
    # message); the driver's diagnostics keep them for code that needs them.
    with pytest.raises(IntegrityError) as raised:
        await _insert_twice(app_engine)
    _assert_no_values(str(raised.value))
    _assert_no_values(str(raised.value.orig))
    assert EMAIL in (raised.value.orig.diag.message_detail or "")  # type: ignore[union-attr]


async def test_an_answered_constraint_violation_logs_no_values(
    app_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await _post(_app(app_engine, answered=True))
    assert answer.status_code == 409 and answer.json()["error"]["field"] == "email"
    assert "constraint uq_users_email refused POST /sign-up" in caplog.text
    _assert_no_values(caplog.text)


async def test_the_error_handler_scrubs_any_engine(
    plain_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DBAPIError) as raised:
        await _insert_twice(plain_engine)
    assert EMAIL in str(raised.value) and "[parameters:" in str(raised.value)  # what it would log
    answer = await _post(_app(plain_engine))
    assert answer.status_code == 500
    assert "unhandled error on POST /sign-up" in caplog.text and "[parameters: (hidden)]" in caplog.text
    _assert_no_values(caplog.text)


@pytest.fixture
def installed() -> Iterator[None]:
    from saaskit.kit import logsafe

    logsafe.install()
    yield
    for name in logsafe.LOGGERS_WITH_OWN_HANDLERS:
        logger = logging.getLogger(name)
        for found in [f for f in logger.filters if isinstance(f, logsafe.ScrubFilter)]:
            logger.removeFilter(found)
    for handler in logging.getLogger().handlers:
        for found in [f for f in handler.filters if isinstance(f, logsafe.ScrubFilter)]:
            handler.removeFilter(found)


async def test_servers_own_exception_logs_are_scrubbed(
    plain_engine: AsyncEngine, caplog: pytest.LogCaptureFixture, installed: None
) -> None:
    """uvicorn logs the exceptions an app re-raises ("Exception in ASGI application"),
    procrastinate those of failed jobs, psycopg its own warnings: each with the traceback."""
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DBAPIError) as raised:
        await _insert_twice(plain_engine)
    for name in ("uvicorn.error", "psycopg", "procrastinate"):
        logging.getLogger(name).error("Exception in ASGI application\n", exc_info=raised.value)
    logging.getLogger("psycopg").warning("error ignored in rollback: %s", raised.value.orig)
    assert caplog.text.count("UniqueViolation") >= 3
    _assert_no_values(caplog.text)


def test_scrub() -> None:
    from saaskit.kit import logsafe

    text_ = (
        '(psycopg.errors.CheckViolation) new row for relation "users" violates check constraint "x"\n'
        f"DETAIL:  Failing row contains (1, {EMAIL}, {PASSWORD_HASH}).\n"
        f"[SQL: UPDATE users SET email = '{EMAIL}' WHERE id = %(id)s]\n"
        f"[parameters: {{'id': 1, 'email': '{EMAIL}'}}]\n"
        "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
    )
    scrubbed = logsafe.scrub(text_)
    _assert_no_values(scrubbed)
    assert 'violates check constraint "x"' in scrubbed and "UPDATE users SET email = '?'" in scrubbed
    assert logsafe.scrub(f'invalid input syntax for type uuid: "{EMAIL}"') == (
        'invalid input syntax for type uuid: "(hidden)"'
    )
    assert logsafe.scrub("nothing to hide") == "nothing to hide"


def _sqlalchemy_engine_factories(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            for alias in node.names:
                if alias.name in ("create_engine", "create_async_engine"):
                    names.add(alias.asname or alias.name)
    return names


def test_every_engine_hides_parameters() -> None:
    """Every SQLAlchemy engine saaskit creates passes hide_parameters=True."""
    offenders: list[str] = []
    for path in sorted(SOURCES.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        factories = _sqlalchemy_engine_factories(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            is_sqlalchemy = called in factories or (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id in ("sa", "sqlalchemy")
                and called in ("create_engine", "create_async_engine")
            )
            hides = any(
                k.arg == "hide_parameters" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords
            )
            if is_sqlalchemy and not hides:
                offenders.append(f"{path.relative_to(SOURCES)}:{node.lineno}")
    assert offenders == []


async def test_embedded_server_logs_no_values(app_engine: AsyncEngine) -> None:
    """The embedded PostgreSQL's own log (``<data dir>/postgresql.log``) leaves out the DETAIL
    lines that quote values, and bound parameters of logged statements."""
    if os.environ.get("SAASKIT_TEST_DATABASE_URL"):
        pytest.skip("an external server's logging is its operator's")
    async with app_engine.connect() as conn:
        verbosity = (await conn.execute(text("SHOW log_error_verbosity"))).scalar_one()
        length = (await conn.execute(text("SHOW log_parameter_max_length"))).scalar_one()
    assert (verbosity, length) == ("terse", "0")
