"""``saaskit serve`` and ``saaskit worker``: processes, signals and an orderly shutdown.

Order on start: database (embedded or external) -> migrations and roles -> first admin ->
HTTP server and job worker. On SIGINT/SIGTERM: stop accepting requests, let in-flight requests
and jobs finish, stop the worker, dispose connections, and stop the embedded PostgreSQL last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import secrets
import signal
import sys
from types import FrameType
from typing import Any

import uvicorn
import uvloop
from fastapi import FastAPI

from saaskit.app import create_app
from saaskit.config import Settings, get_settings
from saaskit.jobs import run_worker
from saaskit.kit import logsafe
from saaskit.kit.bootstrap import Environment, build_runtime
from saaskit.kit.db import SERVICE, Database, create_engine
from saaskit.kit.secrets import instance_secret
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


def _announce(headline: str, email: str, password: str, note: str) -> None:
    """A sign-in the operator needs, on the console."""
    sys.stdout.write(f"\n  {headline}\n    e-mail:   {email}\n    password: {password}   ({note})\n\n")
    sys.stdout.flush()


def run_server(
    settings: Settings, *, host: str, port: int, workers: int, with_worker: bool, demo: bool = False
) -> None:
    install_stop_handlers()
    try:
        with Environment(settings) as env:
            env.migrate()
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runtime = env.runtime(pool_size=2)
                runner.run(_prepare(runtime, settings, demo_owner_url=env.urls.owner if demo else None))
                if workers == 1:
                    runner.run(_serve_in_process(env, runtime, host=host, port=port, with_worker=with_worker))
                else:
                    runner.run(runtime.db.dispose())
                    _serve_processes(env, host=host, port=port, workers=workers, with_worker=with_worker)
    except Stop as stop:
        logger.info("stopped by %s", stop)
    logger.info("saaskit stopped")


async def _prepare(runtime: Runtime, settings: Settings, *, demo_owner_url: str | None = None) -> None:
    async with runtime.db.session(SERVICE) as session:
        # The hourly job keeps this true; on start nothing waits for it.
        await partitions.ensure_ahead(session)
    if demo_owner_url is not None:
        # Before the first admin: the demo only fills a database without users.
        from saaskit.demo.seeding import seed_demo_if_empty

        logger.info("serve --demo: generating demo data if the database is empty")
        admin = await seed_demo_if_empty(demo_owner_url, runtime)
        if admin is not None:
            headline = "Demo data loaded. Sign in to /admin as the demo admin:"
            _announce(headline, admin.email, admin.password, "shown once")
    password = await ensure_first_admin(runtime, settings.admin_email)
    if password:
        headline = "First start: an admin account was created."
        _announce(headline, settings.admin_email, password, "shown once: change it after signing in")


def _uvicorn_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    return {
        "host": host,
        "port": port,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "lifespan": "on",
        "proxy_headers": False,
        "server_header": False,
    }


async def _serve_in_process(
    env: Environment, runtime: Runtime, *, host: str, port: int, with_worker: bool
) -> None:
    settings = env.settings
    # The worker shares the engine: it is disposed after the worker stops, not by the app.
    app = create_app(runtime, dispose_on_shutdown=False)
    server = uvicorn.Server(uvicorn.Config(app, **_uvicorn_options(settings, host, port)))
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


def _serve_processes(env: Environment, *, host: str, port: int, workers: int, with_worker: bool) -> None:
    """``workers`` API processes (uvicorn's supervisor) plus one job-worker process."""
    # The API processes build their runtime from the environment: hand them the role's URL.
    os.environ["SAASKIT_DATABASE_APP_URL"] = env.urls.app
    jobs: multiprocessing.process.BaseProcess | None = None
    if with_worker:
        jobs = multiprocessing.get_context("spawn").Process(
            target=job_worker_process, args=(env.urls.app,), name="saaskit-jobs"
        )
        jobs.start()
    logger.info("API on http://%s:%s/api with %d processes (OpenAPI at /docs)", host, port, workers)
    try:
        uvicorn.run(
            "saaskit.server:api_worker_app",
            factory=True,
            workers=workers,
            **_uvicorn_options(env.settings, host, port),
        )
    finally:
        if jobs is not None:
            if jobs.is_alive():
                jobs.terminate()  # SIGTERM: the job worker finishes its jobs and stops
            jobs.join(60)
            if jobs.is_alive():
                jobs.kill()


def _runtime_from_environment(app_url: str, pool_size: int) -> Runtime:
    settings = get_settings()
    engine = create_engine(app_url, pool_size=pool_size, max_overflow=settings.database.max_overflow)
    return build_runtime(settings, Database(engine), instance_secret(settings))


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
