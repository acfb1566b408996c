"""``saaskit serve`` and ``saaskit worker``: processes, signals and an orderly shutdown.

Order on start: the data directory's lock (embedded only) -> the listening socket -> database
(embedded or external) -> migrations and roles -> first admin -> HTTP server and job worker, with
the embedded PostgreSQL watched and restarted if it dies -> the addresses (and a new admin's
one-time password) on the console. On SIGINT/SIGTERM, in any of these states: stop accepting
requests, give in-flight requests and jobs their grace periods (side by side), stop the worker,
dispose connections, and stop the embedded PostgreSQL last. docs/operations.md has the details.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import secrets
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
import uvloop
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from saaskit.app import create_app
from saaskit.config import Settings, get_settings
from saaskit.jobs import run_worker
from saaskit.kit import logsafe
from saaskit.kit.bootstrap import Environment, runtime_for
from saaskit.kit.db import SERVICE
from saaskit.kit.preflight import AlreadyServing, Claim, PortUnavailable, claim
from saaskit.kit.secrets import instance_secret
from saaskit.kit.state import Runtime
from saaskit.tracking import partitions

logger = logging.getLogger(__name__)


class Stop(KeyboardInterrupt):
    """Raised by our signal handlers so that every ``finally`` runs (SIGTERM's default kills).

    A ``KeyboardInterrupt``: asyncio lets it through wherever it lands (an ``Exception`` raised
    inside an event-loop callback would only be logged)."""


_stopping = False


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    global _stopping
    name = signal.Signals(signum).name
    if _stopping:
        # Stopping is already under way and bounded (HTTP and job grace periods, then the
        # database); a second signal must not cut it short and leave PostgreSQL running.
        logger.warning("%s received again: already stopping", name)
        return
    _stopping = True
    raise Stop(name)


def install_stop_handlers() -> None:
    global _stopping
    _stopping = False
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)


_ALL_IPV4 = "0.0.0.0"  # noqa: S104 - recognised in --host, not bound to here


def base_url(host: str, port: int) -> str:
    """An address a browser on this machine can open (0.0.0.0 and :: are not ones)."""
    shown = {_ALL_IPV4: "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host)
    if shown is None:
        shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@dataclass
class Announcements:
    """What the operator must see on the console once ``serve`` serves: the addresses, and a
    sign-in created by this start (shown once, so only when it can be used)."""

    base: str
    listening_on: str
    credentials: list[tuple[str, str, str, str]] = field(default_factory=list)
    shown: bool = False

    def add_credentials(self, headline: str, email: str, password: str, note: str) -> None:
        self.credentials.append((headline, email, password, note))

    def show(self) -> None:
        if self.shown:
            return
        self.shown = True
        lines = [
            "",
            f"  saaskit is serving on {self.listening_on}   (Ctrl-C or SIGTERM stops it)",
            f"    API:    {self.base}/api   (OpenAPI: {self.base}/docs)",
            f"    admin:  {self.base}/admin",
            "",
        ]
        for headline, email, password, note in self.credentials:
            lines += [f"  {headline}", f"    e-mail:   {email}", f"    password: {password}   ({note})", ""]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()

    def unshown_warning(self) -> str | None:
        if self.shown or not self.credentials:
            return None
        emails = ", ".join(email for _, email, _, _ in self.credentials)
        return (
            f"serve stopped before it began serving, so the one-time password of {emails} was not "
            "shown; set a new one with: saaskit users set-password EMAIL"
        )


async def ensure_first_admin(runtime: Runtime, email: str) -> str | None:
    """Create the first admin when there is none; returns its one-time password."""
    from saaskit.accounts import service

    async with runtime.db.session(SERVICE) as session:
        if await service.admin_exists(session):
            return None
        password = secrets.token_urlsafe(12)
        await service.create_user(
            session, runtime, email=email, password=password, name="Admin", role="admin"
        )
        return password


def run_server(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    with_worker: bool,
    demo: bool = False,
    claimed: Claim | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code (1: could not start). ``claimed``: the
    data directory's lock and the listening socket, if the caller took them already."""
    install_stop_handlers()
    # What the imports built lives until exit: out of the collector's sight, so that stopping
    # (at any point) does not wait for the interpreter's last collection of it.
    gc.freeze()
    announcements = Announcements(
        base_url(host, port),
        f"{host}:{port}" if host not in (_ALL_IPV4, "::", "") else f"port {port} of every interface",
    )
    try:
        if claimed is None:
            data_dir = None if settings.database.url else Path(settings.data_dir).expanduser().resolve()
            claimed = claim(data_dir, host, port)
        sock = claimed.sock
        try:
            with Environment(settings) as env:
                env.migrate()
                with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                    runtime = env.runtime(pool_size=2)
                    demo_url = env.urls.owner if demo else None
                    runner.run(_prepare(runtime, settings, announcements, demo_owner_url=demo_url))
                    if workers == 1:
                        runner.run(_serve_in_process(env, runtime, sock, announcements, with_worker))
                    else:
                        runner.run(runtime.db.dispose())
                        _serve_processes(env, sock, announcements, workers=workers, with_worker=with_worker)
        finally:
            sock.close()
    except (AlreadyServing, PortUnavailable) as exc:
        sys.stderr.write(f"saaskit serve: {exc}\n")
        return 1
    except Stop as stop:
        logger.info("stopped by %s", stop)
    finally:
        warning = announcements.unshown_warning()
        if warning:
            sys.stderr.write(f"saaskit serve: {warning}\n")
        if claimed is not None:
            claimed.release()
    logger.info("saaskit stopped")
    return 0


async def _prepare(
    runtime: Runtime, settings: Settings, announcements: Announcements, *, demo_owner_url: str | None = None
) -> None:
    async with runtime.db.session(SERVICE) as session:
        # The hourly job keeps this true; on start nothing waits for it.
        await partitions.ensure_ahead(session)
    admin_page = f"{announcements.base}/admin"
    if demo_owner_url is not None:
        # Before the first admin: the demo only fills a database without users.
        from saaskit.demo.seeding import seed_demo_if_empty

        logger.info("serve --demo: generating demo data if the database is empty")
        admin = await seed_demo_if_empty(demo_owner_url, runtime)
        if admin is not None:
            headline = f"Demo data loaded. Sign in to {admin_page} as the demo admin:"
            announcements.add_credentials(headline, admin.email, admin.password, "shown once")
    password = await ensure_first_admin(runtime, settings.admin_email)
    if password:
        headline = f"First start: an admin account was created. Sign in to {admin_page}:"
        note = "shown once: change it after signing in"
        announcements.add_credentials(headline, settings.admin_email, password, note)


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "lifespan": "on",
        "proxy_headers": False,
        "server_header": False,
        # Requests still running this long after SIGTERM are cancelled: stopping is bounded.
        "timeout_graceful_shutdown": settings.http.shutdown_timeout_seconds,
    }


class _Server(uvicorn.Server):
    """uvicorn's server, telling us when it has begun serving and when it begins to stop."""

    def __init__(
        self, config: uvicorn.Config, *, on_started: Callable[[], None], on_stopping: Callable[[], None]
    ) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._on_stopping = on_stopping

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self._on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._on_stopping()
        await super().shutdown(sockets=sockets)


class _Processes(Multiprocess):
    """uvicorn's supervisor of the API processes, telling us when they have been started and
    when it begins to stop them."""

    def __init__(
        self,
        config: uvicorn.Config,
        sockets: list[socket.socket],
        *,
        on_started: Callable[[], None],
        on_stopping: Callable[[], None],
    ) -> None:
        super().__init__(config, sockets=sockets)
        self._on_started = on_started
        self._on_stopping = on_stopping

    def init_processes(self) -> None:
        super().init_processes()
        self._on_started()

    def terminate_all(self) -> None:
        self._on_stopping()
        super().terminate_all()


def _database_down(runtime: Runtime) -> None:
    runtime.db.outage = "the embedded PostgreSQL is restarting"


def _database_back(loop: asyncio.AbstractEventLoop, runtime: Runtime) -> None:
    """From the supervisor's thread: drop the dead connections, then let requests through."""
    try:
        asyncio.run_coroutine_threadsafe(runtime.db.recover(), loop)
    except RuntimeError:  # the loop is closed: serve is stopping
        runtime.db.outage = None


async def _serve_in_process(
    env: Environment,
    runtime: Runtime,
    sock: socket.socket,
    announcements: Announcements,
    with_worker: bool,
) -> None:
    settings = env.settings
    # The worker shares the engine: it is disposed after the worker stops, not by the app.
    app = create_app(runtime, dispose_on_shutdown=False)
    worker: asyncio.Task[None] | None = None

    def stop_worker() -> None:
        # At once, so the jobs' grace period runs alongside the requests' one.
        if worker is not None:
            worker.cancel()

    config = uvicorn.Config(app, **_uvicorn_options(settings))
    server = _Server(config, on_started=announcements.show, on_stopping=stop_worker)
    loop = asyncio.get_running_loop()
    # While the embedded server is down, units of work fail at once (503) instead of connecting.
    env.supervise(on_down=lambda: _database_down(runtime), on_up=lambda: _database_back(loop, runtime))
    if with_worker:
        worker = asyncio.create_task(
            run_worker(runtime, env.urls.app, concurrency=settings.jobs.worker_concurrency), name="job-worker"
        )
    # uvicorn handles the signals while it runs; ours take over again when it returns.
    try:
        await server.serve(sockets=[sock])
    finally:
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await runtime.db.dispose()


def _serve_processes(
    env: Environment, sock: socket.socket, announcements: Announcements, *, workers: int, with_worker: bool
) -> None:
    """``workers`` API processes (uvicorn's supervisor) plus one job-worker process."""
    settings = env.settings
    # The API processes build their runtime from the environment: hand them the role's URL.
    os.environ["SAASKIT_DATABASE_APP_URL"] = env.urls.app
    jobs: multiprocessing.process.BaseProcess | None = None
    if with_worker:
        jobs = multiprocessing.get_context("spawn").Process(
            target=job_worker_process, args=(env.urls.app,), name="saaskit-jobs"
        )
        jobs.start()

    def stop_jobs() -> None:
        # SIGTERM: the job worker finishes its jobs (within their grace) and stops, while the
        # API processes finish their requests.
        if jobs is not None and jobs.is_alive():
            jobs.terminate()

    # This process lives as long as serve: keep what it holds out of the collector's sight, as
    # the API processes do (create_app), or the interpreter's last collection makes stopping
    # take seconds.
    gc.collect()
    gc.freeze()
    # The API processes notice an outage by their failing connections (503 meanwhile).
    env.supervise()
    config = uvicorn.Config(
        "saaskit.server:api_worker_app", factory=True, workers=workers, **_uvicorn_options(settings)
    )
    try:
        _Processes(config, [sock], on_started=announcements.show, on_stopping=stop_jobs).run()
    finally:
        if jobs is not None:
            stop_jobs()
            jobs.join(settings.jobs.shutdown_timeout_seconds + 2)
            if jobs.is_alive():
                jobs.kill()
                jobs.join(5)


def _runtime_from_environment(app_url: str, pool_size: int) -> Runtime:
    settings = get_settings()
    return runtime_for(settings, app_url, instance_secret(settings), pool_size=pool_size)


def api_worker_app() -> FastAPI:
    """The app of one API process under ``serve --workers N`` (uvicorn calls this factory)."""
    settings = get_settings()
    assert settings.database.app_url, "serve sets SAASKIT_DATABASE_APP_URL for its API processes"
    logsafe.install()  # this process's uvicorn loggers too
    return create_app(_runtime_from_environment(settings.database.app_url, settings.database.pool_size))


def job_worker_process(app_url: str) -> None:
    """The job worker's own process under ``serve --workers N``."""
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logsafe.install()
    concurrency = settings.jobs.worker_concurrency
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_work(_runtime_from_environment(app_url, concurrency), app_url, concurrency))


def run_worker_only(settings: Settings, *, concurrency: int) -> None:
    install_stop_handlers()
    try:
        with Environment(settings) as env:
            env.migrate()
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(_work(env.runtime(pool_size=concurrency), env.urls.app, concurrency))
    except Stop as stop:
        logger.info("worker stopped by %s", stop)


async def _work(runtime: Runtime, app_url: str, concurrency: int) -> None:
    task = asyncio.create_task(run_worker(runtime, app_url, concurrency=concurrency))
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runtime.db.dispose()
