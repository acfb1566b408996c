"""Window decomposition: the pieces cover the window exactly, without overlap, each from a source
that can answer it."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from saaskit.insights.percentages import one_decimal_shares
from saaskit.insights.windows import decompose, floor_quarter

BASE = datetime(2026, 3, 1, tzinfo=UTC)


def test_pieces_tile_the_window_and_respect_the_watermarks() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        start = BASE + timedelta(seconds=rng.randint(0, 40 * 86400))
        end = start + timedelta(seconds=rng.randint(1, 40 * 86400))
        daily = None if rng.random() < 0.2 else BASE + timedelta(days=rng.randint(0, 60))
        quarter = (
            None
            if rng.random() < 0.2
            else floor_quarter(BASE + timedelta(seconds=rng.randint(0, 60 * 86400)))
        )
        pieces = decompose(0, start, end, daily_through=daily, quarter_through=quarter)
        ordered = sorted(pieces, key=lambda p: p.start)
        assert ordered[0].start == start and ordered[-1].end == end
        for before, after in itertools.pairwise(ordered):
            assert before.end == after.start
        for piece in pieces:
            assert piece.start < piece.end
            if piece.source == "daily":
                assert daily is not None and piece.end <= daily
                assert piece.start.time() == piece.end.time() == datetime.min.time()
            if piece.source == "quarter":
                assert quarter is not None and piece.end <= quarter
                assert piece.start == floor_quarter(piece.start) and piece.end == floor_quarter(piece.end)


def test_a_rolled_up_local_day_reads_only_rollups() -> None:
    # Paris, 2026-10-25 lasts 25 hours: 22:00 UTC the day before to 23:00 UTC that day. No whole
    # UTC day fits in it, so it is summed from 15-minute buckets alone.
    start, end = datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC)
    rolled = datetime(2026, 11, 1, tzinfo=UTC)
    pieces = decompose(0, start, end, daily_through=rolled, quarter_through=rolled)
    assert [(p.source, p.start, p.end) for p in pieces] == [("quarter", start, end)]


def test_a_local_month_uses_whole_utc_days_and_quarters_at_its_edges() -> None:
    # October 2026 in Kathmandu (+05:45): from 18:15 UTC on September 30 to 18:15 UTC on October 31.
    start, end = datetime(2026, 9, 30, 18, 15, tzinfo=UTC), datetime(2026, 10, 31, 18, 15, tzinfo=UTC)
    rolled = datetime(2026, 11, 2, tzinfo=UTC)
    pieces = decompose(3, start, end, daily_through=rolled, quarter_through=rolled)
    assert [(p.window, p.source, p.start, p.end) for p in pieces] == [
        (3, "daily", datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 31, tzinfo=UTC)),
        (3, "quarter", start, datetime(2026, 10, 1, tzinfo=UTC)),
        (3, "quarter", datetime(2026, 10, 31, tzinfo=UTC), end),
    ]


def test_what_is_not_rolled_up_is_read_raw() -> None:
    start, end = datetime(2026, 10, 30, tzinfo=UTC), datetime(2026, 10, 31, tzinfo=UTC)
    tail = datetime(2026, 10, 30, 17, 45, tzinfo=UTC)
    pieces = decompose(0, start, end, daily_through=None, quarter_through=tail)
    assert [(p.source, p.start, p.end) for p in pieces] == [("quarter", start, tail), ("raw", tail, end)]
    odd = datetime(2026, 10, 30, 0, 9, 21, tzinfo=UTC)  # a historical offset: not on a quarter hour
    pieces = decompose(0, odd, end, daily_through=None, quarter_through=tail)
    assert [p.source for p in pieces] == ["raw", "quarter", "raw"]
    assert pieces[0].end == datetime(2026, 10, 30, 0, 15, tzinfo=UTC)


def test_shares_sum_to_one_hundred() -> None:
    assert one_decimal_shares([1, 1, 1]) == [33.4, 33.3, 33.3]
    assert one_decimal_shares([0, 0, 0]) == [0.0, 0.0, 0.0]
    assert one_decimal_shares([2, 1]) == [66.7, 33.3]
    rng = random.Random(5)
    for _ in range(500):
        counts = [rng.randint(0, 10_000) for _ in range(rng.randint(1, 8))]
        shares = one_decimal_shares(counts)
        if sum(counts):
            assert sum(round(s * 10) for s in shares) == 1000
            for count, share in zip(counts, shares, strict=True):
                assert abs(share - 100 * count / sum(counts)) < 0.1 + 1e-9
