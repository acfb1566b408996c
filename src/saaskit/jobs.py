"""Background jobs: procrastinate on saaskit's own database.

- Tasks are registered on ``jobs`` (always with an explicit ``name``) in each domain's
  ``tasks.py``, listed in ``TASK_MODULES`` so every worker knows them.
- ``defer`` inserts the job on the request's own connection, inside its transaction: the job
  exists only if the request commits, and no worker can see it before that.
- Tasks get the ``Runtime`` through the job context and open one unit of work each.
- ``run_worker`` runs a worker until cancelled, restarting it if it stops on its own
  (procrastinate's worker returns silently when one of its loops fails).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import procrastinate
from procrastinate import JobContext, PsycopgConnector
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import caused_by_unavailability, libpq_url
from saaskit.kit.state import Runtime

logger = logging.getLogger(__name__)

TASK_MODULES = [
    "saaskit.accounts.tasks",
    "saaskit.accounts.recovery_tasks",
    "saaskit.tenancy.tasks",
    "saaskit.tracking.tasks",
    "saaskit.insights.tasks",
    "saaskit.billing.tasks",
    "saaskit.billing.meter_tasks",
    "saaskit.devices.tasks",
    "saaskit.mail.tasks",
    "saaskit.kit.idempotency.tasks",
    "saaskit.notifications.tasks",
    "saaskit.system.tasks",
    "saaskit.system.pitr_tasks",
    "saaskit.privacy.tasks",
    "saaskit.webhooks.tasks",
    "saaskit.trust.tasks",
]

# The connector is a placeholder until ``bind`` gives it a real address.
jobs = procrastinate.App(connector=PsycopgConnector(), import_paths=TASK_MODULES)


def connector_for(app_url: str, *, max_size: int = 4) -> PsycopgConnector:
    """A connector to a database (as the application role), for ``jobs.replace_connector``.

    Not ``jobs.with_connector``: that builds a second App whose tasks still point back at this
    unbound one, so the worker's periodic deferrer (which defers through ``task.app``) fails with
    AppNotOpen and periodic tasks never run.
    """
    return PsycopgConnector(conninfo=libpq_url(app_url), min_size=1, max_size=max_size)


def runtime_of(context: JobContext) -> Runtime:
    runtime = context.additional_context.get("runtime")
    assert isinstance(runtime, Runtime), "tasks run inside saaskit's worker, which provides the runtime"
    return runtime


# The runtime of the worker running in this process, for what procrastinate calls without a job
# context (retry strategies decide from the job alone).
_worker_runtimes: list[Runtime] = []


def worker_runtime() -> Runtime:
    assert _worker_runtimes, "only a running worker decides retries"
    return _worker_runtimes[-1]


async def defer(
    session: AsyncSession,
    task: Any,
    *,
    queueing_lock: str | None = None,
    schedule_at: datetime | None = None,
    **kwargs: Any,
) -> int:
    """Enqueue ``task`` in the session's transaction (to run at ``schedule_at`` if given, else
    as soon as possible); returns the job id."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    options: dict[str, Any] = {"connection": raw, "queueing_lock": queueing_lock}
    if schedule_at is not None:
        options["schedule_at"] = schedule_at
    configured = task.configure(**options)
    job_id: int = await configured.defer_async(**kwargs)
    return job_id


async def run_worker(
    runtime: Runtime,
    app_url: str,
    *,
    concurrency: int,
    wait: bool = True,
    restart_delay_seconds: float = 5.0,
) -> None:
    """Run a worker until cancelled; with ``wait=False``, until the queue is empty."""
    # One app: its tasks (and periodic schedule) point back to it, so the connector is swapped
    # in place for the worker's lifetime rather than copied into a second app.
    _worker_runtimes.append(runtime)
    try:
        with jobs.replace_connector(connector_for(app_url, max_size=concurrency + 1)) as bound:
            await _supervise(
                bound,
                runtime,
                concurrency=concurrency,
                wait=wait,
                restart_delay_seconds=restart_delay_seconds,
            )
    finally:
        _worker_runtimes.remove(runtime)


async def _supervise(
    bound: procrastinate.App, runtime: Runtime, *, concurrency: int, wait: bool, restart_delay_seconds: float
) -> None:
    while True:
        try:
            # Connections opened anew on every (re)start: after a database outage the old pool's
            # would only come back after its reconnection backoff, which grows to minutes.
            async with bound.open_async():
                await bound.run_worker_async(
                    concurrency=concurrency,
                    wait=wait,
                    install_signal_handlers=False,
                    listen_notify=wait,
                    delete_jobs="successful",
                    shutdown_graceful_timeout=runtime.settings.jobs.shutdown_timeout_seconds,
                    additional_context={"runtime": runtime},
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if caused_by_unavailability(exc):
                logger.warning(
                    "the job worker lost the database (%s); restarting in %.0f s",
                    type(exc).__name__,
                    restart_delay_seconds,
                )
            else:
                logger.exception("the job worker failed; restarting in %.0f s", restart_delay_seconds)
        else:
            if not wait:
                return
            logger.error("the job worker stopped on its own; restarting in %.0f s", restart_delay_seconds)
        await asyncio.sleep(restart_delay_seconds)
