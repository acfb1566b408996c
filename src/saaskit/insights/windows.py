"""Splitting a time window into the parts each source can answer exactly.

A window (a local day or month) is counted from three sources, cheapest first:

- ``daily``: whole UTC days already in ``activity_rollups_daily`` (before its watermark);
- ``quarter``: whole 15-minute buckets already in ``activity_rollups_15m``;
- ``raw``: whatever is left, read from ``activity_events`` by an indexed time range: the tail
  since the last rollup, and the edges of a window that does not start on a quarter hour
  (no current IANA zone has such an offset, but history has: Paris before 1911).

The pieces never overlap and cover the window exactly, so the sum is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

QUARTER = timedelta(minutes=15)
DAY = timedelta(days=1)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

Source = Literal["daily", "quarter", "raw"]


@dataclass(frozen=True)
class Piece:
    window: int
    source: Source
    start: datetime
    end: datetime

    def as_row(self) -> dict[str, object]:
        return {
            "w": self.window,
            "src": self.source,
            "lo": self.start.isoformat(),
            "hi": self.end.isoformat(),
        }


def _floor(moment: datetime, step: timedelta) -> datetime:
    return moment - (moment - EPOCH) % step


def _ceil(moment: datetime, step: timedelta) -> datetime:
    floored = _floor(moment, step)
    return floored if floored == moment else floored + step


def floor_quarter(moment: datetime) -> datetime:
    return _floor(moment, QUARTER)


def decompose(
    window: int,
    start: datetime,
    end: datetime,
    *,
    daily_through: datetime | None,
    quarter_through: datetime | None,
) -> list[Piece]:
    """The pieces of [start, end). ``daily_through``: UTC midnight before which every day is in
    the daily rollup; ``quarter_through``: the quarter hour before which every bucket is in the
    15-minute rollup (None: that rollup has nothing yet)."""
    if start >= end:
        return []
    pieces: list[Piece] = []
    rest = [(start, end)]
    if daily_through is not None:
        first_day = _ceil(start, DAY)
        last_day = min(_floor(end, DAY), daily_through)
        if first_day < last_day:
            pieces.append(Piece(window, "daily", first_day, last_day))
            rest = [(start, first_day), (last_day, end)]
    for lo, hi in rest:
        if lo >= hi:
            continue
        first = _ceil(lo, QUARTER)
        last = min(_floor(hi, QUARTER), quarter_through) if quarter_through is not None else first
        if first < last:
            if lo < first:
                pieces.append(Piece(window, "raw", lo, first))
            pieces.append(Piece(window, "quarter", first, last))
            if last < hi:
                pieces.append(Piece(window, "raw", last, hi))
        else:
            pieces.append(Piece(window, "raw", lo, hi))
    return pieces
