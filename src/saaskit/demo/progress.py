"""Progress of a demo run: one bar per table with rows written and rows per second.

Generators only call ``Reporter`` methods; the CLI passes a ``RichReporter``, tests and
``serve --demo`` a ``QuietReporter`` (which still records rows and seconds per table for the
summary).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


class Reporter(Protocol):
    def begin(self, table: str, total: int | None) -> None: ...

    def advance(self, table: str, rows: int) -> None: ...

    def end(self, table: str) -> None: ...

    def note(self, message: str) -> None: ...


@dataclass
class TableTiming:
    rows: int = 0
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None

    @property
    def seconds(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


class QuietReporter:
    """Records rows and time per table; prints nothing."""

    def __init__(self) -> None:
        self.tables: dict[str, TableTiming] = {}
        self.notes: list[str] = []

    def begin(self, table: str, total: int | None) -> None:
        self.tables.setdefault(table, TableTiming())

    def advance(self, table: str, rows: int) -> None:
        self.tables.setdefault(table, TableTiming()).rows += rows

    def end(self, table: str) -> None:
        self.tables.setdefault(table, TableTiming()).finished = time.perf_counter()

    def note(self, message: str) -> None:
        self.notes.append(message)


UNITS = {"rollups (days)": "days", "vacuum analyze": "tables", "analyze rollups": "tables"}


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = UNITS.get(str(task.description), "rows")
        return Text(
            f"{speed:,.1f} {unit}/s" if speed and speed < 10 else f"{speed:,.0f} {unit}/s" if speed else ""
        )


class RichReporter(QuietReporter):
    """A rich progress display (stays on screen at the end: the figures are the point)."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def begin(self, table: str, total: int | None) -> None:
        super().begin(table, total)
        if table in self.tasks:
            self.progress.update(self.tasks[table], total=total)
        else:
            self.tasks[table] = self.progress.add_task(table, total=total)

    def advance(self, table: str, rows: int) -> None:
        super().advance(table, rows)
        if table not in self.tasks:
            self.tasks[table] = self.progress.add_task(table, total=None)
        self.progress.advance(self.tasks[table], rows)

    def end(self, table: str) -> None:
        super().end(table)
        task = self.tasks.get(table)
        if task is not None:
            done = self.tables[table].rows
            self.progress.update(task, total=done, completed=done)
            self.progress.stop_task(task)

    def note(self, message: str) -> None:
        super().note(message)
        self.progress.console.print(message)
