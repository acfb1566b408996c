"""Percentages with one decimal: each on its own (seed 002's), or shares that add up to 100.0."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def percentage(part: int, whole: int) -> float:
    """``part / whole * 100`` with one decimal, halves rounded away from zero as PostgreSQL's
    ``round(numeric, 1)`` does (0.0 when ``whole`` is 0). Exact: integers in, one rounding."""
    if whole == 0:
        return 0.0
    return float((Decimal(part * 100) / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def one_decimal_shares(counts: list[int]) -> list[float]:
    """Each count's share of the total in percent, one decimal, rounded by the largest-remainder
    method so the shares sum to exactly 100.0 (all 0.0 when the total is 0).

    Rounding each share on its own can miss: three equal parts give 33.3 + 33.3 + 33.3 = 99.9.
    Here every share starts at its floor in tenths, and the tenths still missing go to the
    largest remainders (ties: the earlier count)."""
    total = sum(counts)
    if total <= 0:
        return [0.0] * len(counts)
    # In tenths of a percent, integers only: no float rounding surprises.
    tenths = [count * 1000 // total for count in counts]
    remainders = [count * 1000 % total for count in counts]
    missing = 1000 - sum(tenths)
    by_remainder = sorted(range(len(counts)), key=lambda i: (-remainders[i], i))
    for i in by_remainder[:missing]:
        tenths[i] += 1
    return [t / 10 for t in tenths]
