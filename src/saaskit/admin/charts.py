"""Chart.js configurations of the admin pages (drawn by the ``chart`` macro of ``_macros.html``), and
the geometry of the SVG interval chart (experiment results, drawn server-side: no script)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

# A y axis of counts: from zero, whole numbers only.
COUNTS: dict[str, Any] = {"scales": {"y": {"beginAtZero": True, "ticks": {"precision": 0}}}}


def series(label: str, data: Sequence[Any], **options: Any) -> dict[str, Any]:
    """One dataset; ``options`` are Chart.js dataset options (``tension``, a ``type`` of its own ...)."""
    return {"label": label, "data": list(data), **options}


def chart(
    kind: str, labels: Sequence[Any], *datasets: dict[str, Any], options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A chart of ``kind`` (bar, line, doughnut ...) over ``labels``, one dataset per ``series``."""
    spec: dict[str, Any] = {"type": kind, "data": {"labels": list(labels), "datasets": list(datasets)}}
    if options is not None:
        spec["options"] = options
    return spec


def interval_chart(
    rows: Sequence[tuple[str, float | None, float | None, float | None]],
    *,
    width: int = 640,
    row_height: int = 44,
    label_width: int = 140,
) -> dict[str, Any]:
    """An SVG interval chart's geometry (drawn by the ``interval_chart`` macro): per row a label,
    a line from ``low`` to ``high`` and a dot at ``mid`` (an uplift and its 95% interval), on a
    shared axis that always shows zero. Rows without an interval are listed without a line."""
    values = [v for _, low, mid, high in rows for v in (low, mid, high) if v is not None]
    lo, hi = min([0.0, *values]), max([0.0, *values])
    pad = (hi - lo) * 0.08 or 0.05
    lo, hi = lo - pad, hi + pad
    plot = width - label_width - 16

    def x(value: float) -> float:
        return round(label_width + (value - lo) / (hi - lo) * plot, 1)

    step = _nice_step((hi - lo) / 6)
    first = math.ceil(lo / step) * step
    ticks = []
    tick = first
    while tick <= hi + 1e-12:
        ticks.append({"x": x(tick), "label": f"{tick * 100:+.0f}%" if abs(tick) > 1e-12 else "0"})
        tick += step
    drawn = []
    for i, (label, low, mid, high) in enumerate(rows):
        y = 10 + i * row_height + row_height / 2
        item: dict[str, Any] = {"label": label, "y": y, "line": None}
        if low is not None and high is not None and mid is not None:
            item["line"] = {"x1": x(low), "x2": x(high), "cx": x(mid)}
            item["better"] = low > 0
            item["worse"] = high < 0
            item["text"] = f"{mid * 100:+.1f}% [{low * 100:+.1f}%, {high * 100:+.1f}%]"
        drawn.append(item)
    height = 10 + len(rows) * row_height + 28
    return {
        "width": width,
        "height": height,
        "zero": x(0.0),
        "ticks": ticks,
        "rows": drawn,
        "axis_y": height - 24,
        "label_width": label_width,
    }


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``raw``."""
    if raw <= 0:
        return 0.01
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return float(factor * power)
    return float(10 * power)
