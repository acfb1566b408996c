"""Chart.js configurations of the admin pages (drawn by the ``chart`` macro of ``_macros.html``)."""

from __future__ import annotations

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
