"""``saaskit demo``: fill an empty database with demo data, with a progress bar per table."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from saaskit.config import get_settings
from saaskit.demo.config import DemoConfig, resolve_now
from saaskit.demo.generate import DemoRefused, DemoSummary, build_demo
from saaskit.demo.progress import RichReporter
from saaskit.kit.bootstrap import Environment

console = Console()
err = Console(stderr=True)
REFUSED_EXIT_CODE = 2
PARALLEL_FROM = 1_000_000  # below this many activity events, worker processes cost more than they save


def _until(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--until") from None


def demo_command(
    users: Annotated[int, typer.Option(min=10, help="Accounts to create.")] = 1_000,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of history, ending today.")] = 90,
    seed: Annotated[int, typer.Option(help="Same seed and options: the same data, byte for byte.")] = 1,
    activity_events: Annotated[
        int | None,
        typer.Option("--activity-events", min=0, help="Rows of activity_events (default: users x days / 2)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Last day of data (YYYY-MM-DD). Default today: the data runs up to this minute."),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(min=1, max=16, help="Worker processes for the big tables (default: 2 from 1M events)."),
    ] = None,
    abuse: Annotated[
        bool,
        typer.Option(
            "--abuse/--no-abuse",
            help="Inject trust-and-safety abuse (trial farms, card testing, credential stuffing ...) "
            "among the users and run the trust sweep, so the admin's review queue has content.",
        ),
    ] = True,
) -> None:
    """Fill an EMPTY database with realistic, consistent demo data (users, billing, devices,
    analytics), then build the rollups. Refuses (exit code 2) when the database has users."""
    try:
        config = DemoConfig(
            users=users,
            days=days,
            seed=seed,
            now=resolve_now(_until(until), datetime.now(UTC)),
            activity_events=activity_events,
            jobs=1,
            abuse=abuse,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if jobs is None:
        jobs = min(2, os.cpu_count() or 1) if config.activity_total >= PARALLEL_FROM else 1
    config = DemoConfig(**{**config.__dict__, "jobs": jobs})
    settings = get_settings()
    with Environment(settings) as env:
        env.migrate()

        async def main() -> DemoSummary:
            runtime = env.runtime(pool_size=2)
            try:
                with RichReporter(console) as reporter:
                    return await build_demo(env.urls.owner, runtime, config, reporter)
            finally:
                await runtime.db.dispose()

        try:
            summary = asyncio.run(main())
        except DemoRefused as exc:
            err.print(f"[red]refused:[/] {exc}")
            raise typer.Exit(REFUSED_EXIT_CODE) from None
        except ValueError as exc:  # e.g. fewer activity events than sign-ups
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
    _print_summary(config, summary)


def _print_summary(config: DemoConfig, summary: DemoSummary) -> None:
    if summary.partitions:
        table = Table("table", "rows", "process-seconds", "rows/s per process")
        for name, (rows, seconds) in sorted(summary.partitions.items()):
            table.add_row(name, f"{rows:,}", f"{seconds:,.1f}", f"{rows / seconds:,.0f}" if seconds else "")
        console.print(table)
    if summary.abuse is not None:
        table = Table("trust rule", "expected", "found", "precision", "recall")
        for score in summary.abuse.scores:
            table.add_row(
                score.rule,
                str(score.expected),
                str(score.found),
                f"{score.precision:.3f}",
                f"{score.recall:.3f}",
            )
        console.print(table)
        console.print(f"trust: the legitimate office's accounts flagged: {summary.abuse.office_flagged}")
    span = f"{config.first_day} .. {config.last_day}"
    mode = "triggers off, counters rebuilt" if summary.triggers_off else "triggers on"
    console.print(
        f"demo data for {span} (seed {config.seed}, {config.jobs} process(es), {mode}) "
        f"in {summary.seconds:,.0f} s; sign in with an admin: saaskit users create EMAIL --admin"
    )
