"""``saaskit serve`` and ``saaskit worker``: processes, signals and an orderly shutdown.

Order on start: database (embedded or external) -> migrations and roles -> first admin ->
HTTP server and job worker. On SIGINT/SIGTERM: stop accepting requests, let in-flight requests
and jobs finish, stop the worker, dispose connections, and stop the embedded PostgreSQL last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import sys
from types import FrameType

import uvicorn
import uvloop

from saaskit.app import create_app
from saaskit.config import Settings
from saaskit.jobs import run_worker
from saaskit.kit.bootstrap import Environment
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.tracking import partitions

logger = logging.getLogger(__name__)


class Stop(Exception):
    """Raised by our signal handlers so that every ``finally`` runs (SIGTERM's default kills)."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def install_stop_handlers() -> None:
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)


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


def _announce_admin(email: str, password: str) -> None:
    banner = (
        "\n  First start: an admin account was created.\n"
        f"    e-mail:   {email}\n"
        f"    password: {password}   (shown once: change it after signing in)\n"
    )
    sys.stdout.write(banner + "\n")
    sys.stdout.flush()


def run_server(settings: Settings, *, host: str, port: int, workers: int, with_worker: bool) -> None:
    install_stop_handlers()
    try:
        with Environment(settings) as env:
            env.migrate()
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(_serve(env, host=host, port=port, with_worker=with_worker))
    except Stop as stop:
        logger.info("stopped by %s", stop)
    logger.info("saaskit stopped")


async def _serve(env: Environment, *, host: str, port: int, with_worker: bool) -> None:
    settings = env.settings
    runtime = env.runtime()
    async with runtime.db.session(SERVICE) as session:
        # The hourly job keeps this true; on start nothing waits for it.
        await partitions.ensure_ahead(session)
    password = await ensure_first_admin(runtime, settings.admin_email)
    if password:
        _announce_admin(settings.admin_email, password)
    # The worker shares the engine: it is disposed after the worker stops, not by the app.
    app = create_app(runtime, dispose_on_shutdown=False)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
        proxy_headers=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    logger.info("API on http://%s:%s/api  (OpenAPI at /docs)", host, port)
    # uvicorn handles the signals while it runs; ours take over again when it returns.
    worker: asyncio.Task[None] | None = None
    if with_worker:
        worker = asyncio.create_task(
            run_worker(runtime, env.urls.app, concurrency=settings.jobs.worker_concurrency), name="job-worker"
        )
    try:
        await server.serve()
    finally:
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await runtime.db.dispose()


def run_worker_only(settings: Settings, *, concurrency: int) -> None:
    install_stop_handlers()
    try:
        with Environment(settings) as env:
            env.migrate()
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(_work(env, concurrency))
    except Stop as stop:
        logger.info("worker stopped by %s", stop)


async def _work(env: Environment, concurrency: int) -> None:
    runtime = env.runtime(pool_size=concurrency)
    task = asyncio.create_task(run_worker(runtime, env.urls.app, concurrency=concurrency))
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
