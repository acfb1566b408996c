"""GrowthBook's targeting conditions (a MongoDB-like query over a user's attributes), written
from its SDK specification: ``eval_condition(attributes, condition)``.

Supported: ``$and``, ``$or``, ``$nor``, ``$not`` on conditions; on a value ``$eq``, ``$ne``,
``$lt``, ``$lte``, ``$gt``, ``$gte`` (JavaScript's comparison: two strings compare as text,
anything else as numbers, a missing attribute as 0), ``$veq`` ... ``$vlte`` (versions),
``$exists``, ``$in``, ``$nin``, ``$all``, ``$size``, ``$elemMatch``, ``$regex``, ``$type``,
``$not``; dotted paths; literal (deep, type-strict) equality. Not supported: saved groups
(``$inGroup``, ``$savedGroup``), which need GrowthBook's server. An unknown operator never
matches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")


def eval_condition(attributes: Any, condition: Mapping[str, Any]) -> bool:
    for key, value in condition.items():
        if key == "$or":
            ok = _eval_or(attributes, value)
        elif key == "$nor":
            ok = not _eval_or(attributes, value)
        elif key == "$and":
            ok = all(eval_condition(attributes, c) for c in value)
        elif key == "$not":
            ok = not eval_condition(attributes, value)
        else:
            ok = _eval_value(value, get_path(attributes, key))
        if not ok:
            return False
    return True


def _eval_or(attributes: Any, conditions: Sequence[Mapping[str, Any]]) -> bool:
    return not conditions or any(eval_condition(attributes, c) for c in conditions)


def get_path(attributes: Any, path: str) -> Any:
    current = attributes
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        else:
            return None
    return current


def _is_operator_object(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(str(k).startswith("$") for k in value)


def type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "unknown"


def _equal(a: Any, b: Any) -> bool:
    """Literal equality as GrowthBook's SDKs compare JSON: same types all the way down."""
    kind = type_of(a)
    if kind != type_of(b):
        return False
    if kind == "array":
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == "object":
        return list(a) == list(b) and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _eval_value(condition: Any, value: Any) -> bool:
    if _is_operator_object(condition):
        return all(_eval_operator(op, value, expected) for op, expected in condition.items())
    return _equal(condition, value)


def _to_number(value: Any) -> float:
    """JavaScript's ToNumber for the values attributes hold (NaN when it has no number)."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if not value.strip():
            return 0.0
        return float(value) if _NUMBER.match(value) else math.nan
    return math.nan


def _compare(actual: Any, expected: Any) -> int | None:
    """-1, 0 or 1 as JavaScript's relational operators see them; None when unordered (NaN)."""
    if isinstance(actual, str) and isinstance(expected, str):
        a, b = actual.encode("utf-16-be", "surrogatepass"), expected.encode("utf-16-be", "surrogatepass")
        return (a > b) - (a < b)
    x, y = _to_number(actual), _to_number(expected)
    if math.isnan(x) or math.isnan(y):
        return None
    return (x > y) - (x < y)


def padded_version(version: Any) -> str:
    """A version as text that sorts like semantic versions: no leading v or build, numeric parts
    left-padded, and '~' after a release so that it sorts above its pre-releases."""
    parts = re.split(r"[-.]", re.sub(r"(^v|\+.*$)", "", str(version)))
    if len(parts) == 3:
        parts.append("~")
    return "-".join(p.rjust(5) if re.fullmatch(r"[0-9]+", p) else p for p in parts)


def _is_in(actual: Any, expected: Sequence[Any]) -> bool:
    if isinstance(actual, list):
        return any(_contains(expected, item) for item in actual)
    return _contains(expected, actual)


def _contains(values: Sequence[Any], value: Any) -> bool:
    return any(_equal(v, value) for v in values)


_VERSION_OPS = {
    "$veq": lambda c: c == 0,
    "$vne": lambda c: c != 0,
    "$vgt": lambda c: c > 0,
    "$vgte": lambda c: c >= 0,
    "$vlt": lambda c: c < 0,
    "$vlte": lambda c: c <= 0,
}
_ORDER_OPS = {
    "$lt": lambda c: c < 0,
    "$lte": lambda c: c <= 0,
    "$gt": lambda c: c > 0,
    "$gte": lambda c: c >= 0,
}


def _eval_operator(op: str, actual: Any, expected: Any) -> bool:
    if op in _VERSION_OPS:
        a, b = padded_version(actual), padded_version(expected)
        return bool(_VERSION_OPS[op]((a > b) - (a < b)))
    if op in _ORDER_OPS:
        order = _compare(actual, expected)
        return order is not None and bool(_ORDER_OPS[op](order))
    if op == "$eq":
        return _equal(actual, expected)
    if op == "$ne":
        return not _equal(actual, expected)
    if op == "$exists":
        return (actual is not None) if expected else (actual is None)
    if op in ("$in", "$nin"):
        if not isinstance(expected, list):
            return False
        return _is_in(actual, expected) == (op == "$in")
    if op == "$not":
        return not _eval_value(expected, actual)
    if op == "$size":
        return isinstance(actual, list) and _eval_value(expected, len(actual))
    if op == "$elemMatch":
        return _elem_match(actual, expected)
    if op == "$all":
        return isinstance(actual, list) and all(any(_eval_value(e, a) for a in actual) for e in expected)
    if op == "$regex":
        try:
            return isinstance(actual, str) and re.search(str(expected), actual) is not None
        except re.error:
            return False
    if op == "$type":
        return bool(type_of(actual) == expected)
    return False


def _elem_match(actual: Any, expected: Any) -> bool:
    if not isinstance(actual, list):
        return False
    on_value = _is_operator_object(expected)
    for item in actual:
        if item is None:
            continue
        if on_value and _eval_value(expected, item):
            return True
        if not on_value and isinstance(expected, Mapping) and eval_condition(item, expected):
            return True
    return False
