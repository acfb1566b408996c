"""``saaskit serve`` and ``saaskit worker``: processes, signals and an orderly shutdown.

Order on start: database (embedded or external) -> migrations and roles -> first admin ->
HTTP server and job worker. On SIGINT/SIGTERM: stop accepting requests, let in-flight requests
and jobs finish, stop the worker, dispose connections, and stop the embedded PostgreSQL last.

``serve --workers N`` (N > 1): the parent process does all of the above except serving HTTP. It
binds the listening socket once and starts N API processes (spawned, so each builds its own
runtime and connection pools from the settings, the database URL and the secret it is handed);
they accept on that shared socket, so the kernel spreads connections over them. The parent runs
the job worker, restarts an API process that dies, and on SIGINT/SIGTERM stops them all before
the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import secrets
import signal
import socket
import sys
from multiprocessing.context import SpawnProcess
from types import FrameType

import uvicorn
import uvloop

from saaskit.app import create_app
from saaskit.config import Settings
from saaskit.jobs import run_worker
from saaskit.kit.bootstrap import Environment, build_runtime
from saaskit.kit.db import SERVICE, Database, create_engine
from saaskit.kit.state import Runtime

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
                if workers > 1:
                    runner.run(
                        _serve_many(env, host=host, port=port, workers=workers, with_worker=with_worker)
                    )
                else:
                    runner.run(_serve(env, host=host, port=port, with_worker=with_worker))
    except Stop as stop:
        logger.info("stopped by %s", stop)
    logger.info("saaskit stopped")


def _uvicorn_config(app: object, settings: Settings, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
        proxy_headers=False,
        server_header=False,
    )


async def _serve(env: Environment, *, host: str, port: int, with_worker: bool) -> None:
    settings = env.settings
    runtime = env.runtime()
    password = await ensure_first_admin(runtime, settings.admin_email)
    if password:
        _announce_admin(settings.admin_email, password)
    # The worker shares the engine: it is disposed after the worker stops, not by the app.
    app = create_app(runtime, dispose_on_shutdown=False)
    server = uvicorn.Server(_uvicorn_config(app, settings, host, port))
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


# -- several API processes ---------------------------------------------------------------------
def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _api_process(
    settings: Settings, app_url: str, secret: str, sock: socket.socket, host: str, port: int
) -> None:
    """One API process: its own runtime and pools; serves until SIGINT/SIGTERM (uvicorn's)."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    engine = create_engine(
        app_url, pool_size=settings.database.pool_size, max_overflow=settings.database.max_overflow
    )
    runtime = build_runtime(settings, Database(engine), secret)
    app = create_app(runtime, dispose_on_shutdown=True)
    config = _uvicorn_config(app, settings, host, port)
    config.loop = "uvloop"
    uvicorn.Server(config).run(sockets=[sock])


async def _serve_many(env: Environment, *, host: str, port: int, workers: int, with_worker: bool) -> None:
    settings = env.settings
    runtime = env.runtime(pool_size=2)
    password = await ensure_first_admin(runtime, settings.admin_email)
    if password:
        _announce_admin(settings.admin_email, password)
    sock = _listening_socket(host, port)
    spawn = multiprocessing.get_context("spawn")

    def start() -> SpawnProcess:
        process = spawn.Process(
            target=_api_process,
            args=(settings, env.urls.app, env.secret, sock, host, port),
            name="saaskit-api",
            daemon=False,
        )
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    logger.info("API on http://%s:%s/api with %d processes  (OpenAPI at /docs)", host, port, workers)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    worker: asyncio.Task[None] | None = None
    if with_worker:
        worker = asyncio.create_task(
            run_worker(runtime, env.urls.app, concurrency=settings.jobs.worker_concurrency), name="job-worker"
        )
    try:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=1.0)
            for index, process in enumerate(processes):
                if not stopping.is_set() and not process.is_alive():
                    logger.error(
                        "API process %s exited (%s); starting another", process.pid, process.exitcode
                    )
                    processes[index] = start()
    finally:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            await asyncio.to_thread(process.join, 30)
            if process.is_alive():
                process.kill()
        sock.close()
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await runtime.db.dispose()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


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
