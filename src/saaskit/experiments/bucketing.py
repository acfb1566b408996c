"""GrowthBook's deterministic assignment, written from its SDK specification (spec 0.5.4).

Every GrowthBook SDK puts a user in a variation the same way, so saaskit does too: a user who is
assigned here gets the same variation from a GrowthBook SDK reading ``/api/features/{key}``
(``tests/experiments/test_growthbook_cases.py`` runs GrowthBook's own cross-SDK cases against
this module; ``test_features_endpoint.py`` compares with the ``growthbook`` package itself).

- ``gb_hash(seed, value, version)``: FNV-1a 32-bit; version 1 is ``fnv(value + seed) % 1000 /
  1000``, version 2 (what saaskit serves) is ``fnv(str(fnv(seed + value))) % 10000 / 10000``.
- ``bucket_ranges``: each variation's slice of [0, 1), ``coverage`` of its weight wide.
- ``choose_variation``: the range the hash falls in, or -1 (outside the coverage).
- ``in_namespace``: a hash of the namespace id (version 1) inside the namespace's range, so
  experiments sharing a namespace with disjoint ranges never share a user.
- ``run``: the whole decision, in the SDK's order (see the function).

Not here, because they are browser or client state, not a server's: query-string overrides,
URL targeting, QA-mode tracking callbacks, sticky bucketing and prerequisite flags.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from saaskit.experiments.conditions import eval_condition

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
# Weights are used as given only when they sum to 1 within this tolerance (GrowthBook's rule).
WEIGHT_SUM_TOLERANCE = 0.01

Range = tuple[float, float]


def fnv1a32(text: str) -> int:
    """FNV-1a over UTF-16 code units, as the JavaScript SDK (``charCodeAt``) hashes."""
    value = FNV_OFFSET
    units = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(units), 2):
        value ^= units[i] | (units[i + 1] << 8)
        value = (value * FNV_PRIME) & 0xFFFFFFFF
    return value


def gb_hash(seed: str, value: str, version: int) -> float | None:
    """A number in [0, 1) for (seed, value); None for an unknown hash version."""
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def equal_weights(count: int) -> list[float]:
    return [1 / count] * count if count > 0 else []


def _usable_weights(count: int, weights: Sequence[float] | None) -> list[float]:
    if weights is None or len(weights) != count:
        return equal_weights(count)
    numbers = [float(w) for w in weights]
    if any(not math.isfinite(w) or w < 0 for w in numbers):
        return equal_weights(count)
    if abs(sum(numbers) - 1) > WEIGHT_SUM_TOLERANCE:
        return equal_weights(count)
    return numbers


def bucket_ranges(count: int, coverage: float = 1.0, weights: Sequence[float] | None = None) -> list[Range]:
    """Each variation's range: it starts where the previous weight ended and is coverage × its
    weight wide, so lowering the coverage drops users without moving anyone to another variation."""
    coverage = min(max(coverage, 0.0), 1.0)
    ranges: list[Range] = []
    start = 0.0
    for weight in _usable_weights(count, weights):
        ranges.append((start, start + coverage * weight))
        start += weight
    return ranges


def in_range(n: float, bounds: Sequence[float]) -> bool:
    return bounds[0] <= n < bounds[1]


def choose_variation(n: float, ranges: Sequence[Sequence[float]]) -> int:
    for index, bounds in enumerate(ranges):
        if in_range(n, bounds):
            return index
    return -1


def in_namespace(user_value: str, namespace: Sequence[Any]) -> bool:
    """``namespace`` is GrowthBook's ``[id, start, end]``."""
    n = gb_hash("__" + str(namespace[0]), user_value, 1)
    return n is not None and float(namespace[1]) <= n < float(namespace[2])


def _hash_value(attributes: Mapping[str, Any], attribute: str | None) -> str:
    """The attribute as the SDKs hash it: a number as its decimal text, missing or null as ''."""
    value = attributes.get(attribute or "id")
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _filtered_out(filters: Sequence[Mapping[str, Any]], attributes: Mapping[str, Any]) -> bool:
    for rule in filters:
        value = _hash_value(attributes, rule.get("attribute"))
        if not value:
            return True
        n = gb_hash(str(rule.get("seed", "")), value, int(rule.get("hashVersion", 2)))
        if n is None or not any(in_range(n, bounds) for bounds in rule.get("ranges", [])):
            return True
    return False


@dataclass(frozen=True)
class Result:
    """What ``run`` decided: the variation index (0, the control, when not in the experiment)."""

    variation: int
    value: Any
    in_experiment: bool
    hash_used: bool
    hash_value: str
    bucket: float | None = None


def _result(
    experiment: Mapping[str, Any],
    index: int,
    *,
    hash_used: bool,
    hash_value: str,
    bucket: float | None = None,
) -> Result:
    variations: Sequence[Any] = experiment["variations"]
    in_experiment = 0 <= index < len(variations)
    index = index if in_experiment else 0
    return Result(
        variation=index,
        value=variations[index] if variations else None,
        in_experiment=in_experiment,
        hash_used=hash_used and in_experiment,
        hash_value=hash_value,
        bucket=bucket,
    )


def run(
    experiment: Mapping[str, Any],
    attributes: Mapping[str, Any],
    *,
    enabled: bool = True,
    forced_variations: Mapping[str, int] | None = None,
    qa_mode: bool = False,
) -> Result:
    """Decide a user's variation for a GrowthBook-shaped experiment (``key``, ``variations``,
    optional ``weights``, ``coverage``, ``ranges``, ``seed``, ``hashVersion``, ``hashAttribute``,
    ``namespace``, ``filters``, ``condition``, ``active``, ``force``, ``status``), in the SDK's
    order: too few variations, globally disabled, forced by the caller, inactive, no hash
    attribute, filters (or else the namespace), targeting condition, bucket, forced by the
    experiment, QA mode, stopped."""
    key = str(experiment["key"])
    hash_value = _hash_value(attributes, experiment.get("hashAttribute"))

    def excluded() -> Result:
        return _result(experiment, -1, hash_used=False, hash_value=hash_value)

    if len(experiment["variations"]) < 2 or not enabled:
        return excluded()
    if forced_variations and key in forced_variations:
        return _result(experiment, forced_variations[key], hash_used=False, hash_value=hash_value)
    if experiment.get("active") is False or not hash_value:
        return excluded()
    filters = experiment.get("filters")
    if filters:
        if _filtered_out(filters, attributes):
            return excluded()
    elif experiment.get("namespace") and not in_namespace(hash_value, experiment["namespace"]):
        return excluded()
    condition = experiment.get("condition")
    if condition:
        try:
            targeted = eval_condition(attributes, condition)
        except (AttributeError, TypeError, ValueError):  # a malformed condition matches nobody
            targeted = False
        if not targeted:
            return excluded()
    ranges = experiment.get("ranges") or bucket_ranges(
        len(experiment["variations"]),
        float(experiment["coverage"]) if experiment.get("coverage") is not None else 1.0,
        experiment.get("weights"),
    )
    bucket = gb_hash(str(experiment.get("seed") or key), hash_value, int(experiment.get("hashVersion") or 1))
    if bucket is None:
        return excluded()
    assigned = choose_variation(bucket, ranges)
    if assigned < 0:
        return excluded()
    if experiment.get("force") is not None:
        return _result(experiment, int(experiment["force"]), hash_used=False, hash_value=hash_value)
    if qa_mode or experiment.get("status") == "stopped":
        return excluded()
    return _result(experiment, assigned, hash_used=True, hash_value=hash_value, bucket=bucket)
