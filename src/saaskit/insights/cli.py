"""``saaskit rollup``: recompute the rollups of a range of days, with a progress bar."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from saaskit.config import get_settings
from saaskit.insights.rollups import backfill, runner
from saaskit.kit.bootstrap import Environment
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime

console = Console()


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


async def _oldest(runtime: Runtime) -> date | None:
    async with runtime.db.session(SERVICE) as session:
        oldest = await runner.oldest_activity(session)
    return oldest.astimezone(UTC).date() if oldest else None


def rollup_command(
    start: Annotated[
        str | None, typer.Option("--from", help="First UTC day (YYYY-MM-DD); default: the oldest activity.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last UTC day (YYYY-MM-DD); default: today.")
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", min=1, max=16, help="Days rolled side by side (database connections).")
    ] = backfill.DEFAULT_JOBS,
) -> None:
    """Recompute the rollups (15-minute, daily, monthly, geographic) of a range of days.

    Idempotent: a day rolled twice gives the same rows. Use it after importing old data or to
    pick up rows that arrived more than an hour late."""
    first, last = _parse_day(start, "--from"), _parse_day(end, "--to")
    today = datetime.now(UTC).date()

    async def work(runtime: Runtime) -> tuple[int, int]:
        lo = first or await _oldest(runtime) or today
        hi = last or today
        if lo > hi:
            raise typer.BadParameter(f"--from {lo} is after --to {hi}", param_hint="--from")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as progress:
            # Two passes over the days (backfill.roll_range): the bar counts both.
            task = progress.add_task("rolling up days", total=2 * ((hi - lo).days + 1))

            def on_step(phase: str, day: date) -> None:
                progress.update(task, advance=1, description=f"{phase}: {day}")

            return await backfill.roll_range(runtime, lo, hi, on_step=on_step, jobs=jobs)

    with Environment(get_settings()) as env:

        async def main() -> tuple[int, int]:
            runtime = env.runtime(pool_size=jobs + 1)
            try:
                return await work(runtime)
            finally:
                await runtime.db.dispose()

        days, months = asyncio.run(main())
    console.print(f"rolled up {days} days and {months} closed months; geographic_stats refreshed")
