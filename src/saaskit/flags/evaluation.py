"""Feature flag evaluation, identical to PostHog's.

The same hash as every PostHog SDK and PostHog's own flags service (``sha1`` of
``"{flag_key}.{bucketing_value}{salt}"``, the first 15 hex digits over ``0xFFFFFFFFFFFFFFF``),
the same condition semantics (groups OR'd in order, a group's properties AND'ed, then its
rollout; a group's ``variant`` overrides the hashed variant) and the same property operators.
``tests/flags/test_evaluation.py`` checks every answer against posthog-python's local
evaluation.

One difference is on purpose, and it is the server's: an SDK evaluating locally cannot decide a
condition on a property it was not given (it asks the server); the server knows every property
it has, so a property it does not have is simply not set (only ``is_not_set`` matches it).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

LONG_SCALE = float(0xFFFFFFFFFFFFFFF)

EQUALITY_OPERATORS = ("exact", "is_not", "is_set", "is_not_set")
TEXT_OPERATORS = (
    "icontains",
    "not_icontains",
    "starts_with",
    "not_starts_with",
    "ends_with",
    "not_ends_with",
)
REGEX_OPERATORS = ("regex", "not_regex")
NUMERIC_OPERATORS = ("gt", "gte", "lt", "lte")
DATE_OPERATORS = ("is_date_before", "is_date_after")
OPERATORS = EQUALITY_OPERATORS + TEXT_OPERATORS + REGEX_OPERATORS + NUMERIC_OPERATORS + DATE_OPERATORS
_NUMERIC = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_RELATIVE = re.compile(r"^-?(?P<number>[0-9]+)(?P<interval>[a-z])$")


class Unmatchable(Exception):
    """A filter value the operator cannot use (a bad date or number): the filter does not match."""


@dataclass(frozen=True)
class Result:
    """One flag's answer: its value (False, True or a variant key) and why (PostHog's reasons)."""

    value: bool | str
    reason: str  # condition_match, no_condition_match, out_of_rollout_bound, no_group_type, disabled
    condition_index: int | None = None

    @property
    def enabled(self) -> bool:
        return self.value is not False

    @property
    def variant(self) -> str | None:
        return self.value if isinstance(self.value, str) else None

    @property
    def description(self) -> str:
        if self.reason == "condition_match" and self.condition_index is not None:
            return f"Matched condition set {self.condition_index + 1}"
        return {
            "no_condition_match": "No matching condition set",
            "out_of_rollout_bound": "Out of rollout bound",
            "no_group_type": "No group type",
            "disabled": "Feature flag is disabled",
            "condition_match": "Matched",
        }[self.reason]


def bucket(key: str, bucketing_value: str, salt: str = "") -> float:
    """PostHog's hash: uniform in [0, 1), the same for the same flag and id in every SDK."""
    # Not for security: SHA-1 is what PostHog buckets with, so answers agree with its SDKs.
    digest = hashlib.sha1(f"{key}.{bucketing_value}{salt}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:15], 16) / LONG_SCALE


def variant_for(key: str, filters: dict[str, Any], bucketing_value: str) -> str | None:
    """The variant whose cumulative rollout range holds the id's variant hash."""
    value = bucket(key, bucketing_value, salt="variant")
    low = 0.0
    for variant in (filters.get("multivariate") or {}).get("variants") or []:
        high = low + variant["rollout_percentage"] / 100
        if low <= value < high:
            return str(variant["key"])
        low = high
    return None


# -- values as PostHog compares them --------------------------------------------------------------
def _json_float(value: float) -> str:
    if not math.isfinite(value):
        raise Unmatchable("non-finite number")
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, exponent_text = text.split("e")
    exponent = int(exponent_text)
    if -6 < exponent < 0:
        return format(Decimal(text), "f")
    return f"{mantissa}e{'+' if exponent >= 0 else ''}{exponent}"


def _json_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(_json_text(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}:{_json_text(value[k])}" for k in sorted(value))
        return "{" + ",".join(items) + "}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    return str(value)


def as_text(value: Any) -> str:
    """A string as itself, anything else as canonical JSON (sorted keys, no spaces)."""
    return value if isinstance(value, str) else _json_text(value)


def _ascii_lower(value: Any) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in as_text(value))


def _boolean_like(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, str):
        return value.lower() in ("true", "false")
    if isinstance(value, list):
        return all(_boolean_like(item) for item in value)
    return False


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    if isinstance(value, list):
        return all(_truthy(item) for item in value)
    return False


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return None
    if isinstance(value, str) and not _NUMERIC.fullmatch(value):
        return None
    try:
        parsed = float(value)
    except (ValueError, OverflowError):
        return None
    return parsed if math.isfinite(parsed) else None


def parse_datetime(value: str) -> datetime:
    """PostHog's date parsing: ISO 8601, ``Z`` or `` UTC``, a bare year (today's date in it);
    naive times are UTC."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif text.upper().endswith(" UTC"):
        text = text[:-4] + "+00:00"
    elif re.fullmatch(r"\d{4}", text):
        now = datetime.now()
        parsed = datetime(int(text), now.month, now.day)
        return parsed.replace(tzinfo=UTC)
    text = re.sub(r" ([+-]\d{2}:\d{2})$", r"\1", text)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _months_before(moment: datetime, months: int) -> datetime | None:
    index = moment.year * 12 + moment.month - 1 - months
    year, month = index // 12, index % 12 + 1
    if not 1 <= year <= 9999:
        return None
    day = moment.day
    for step in range(moment.year * 12 + moment.month - 2, index - 1, -1):
        if day <= 28:
            break
        day = min(day, calendar.monthrange(step // 12, step % 12 + 1)[1])
    return moment.replace(year=year, month=month, day=day)


def relative_date(value: str) -> datetime | None:
    """``-7d``, ``3h``, ``2w``, ``1m``, ``1y``: that long before now (months and years clamp the
    day, as PostHog's SDK specification says); None when ``value`` is not relative."""
    match = _RELATIVE.search(value)
    if match is None:
        return None
    number = int(match["number"])
    if number >= 10_000:
        return None
    now = datetime.now(UTC)
    interval = match["interval"]
    if interval in ("h", "d", "w"):
        return now - timedelta(**{{"h": "hours", "d": "days", "w": "weeks"}[interval]: number})
    if interval == "m":
        return _months_before(now, number)
    if interval == "y":
        if not 1 <= now.year - number <= 9999:
            return None
        day = 28 if number > 0 and (now.month, now.day) == (2, 29) else now.day
        return now.replace(year=now.year - number, day=day)
    return None


def _filter_date(value: Any) -> datetime:
    try:
        parsed = relative_date(str(value)) or parse_datetime(str(value))
    except (ValueError, OverflowError) as exc:
        raise Unmatchable("not a date") from exc
    return parsed


def _match_date(operator: str, value: Any, actual: Any) -> bool:
    limit = _filter_date(value)
    if isinstance(actual, datetime):
        moment: datetime | date = actual if actual.tzinfo else actual.replace(tzinfo=UTC)
        bound: datetime | date = limit
    elif isinstance(actual, date):
        moment, bound = actual, limit.date()
    elif isinstance(actual, str):
        try:
            moment, bound = parse_datetime(actual), limit
        except (ValueError, OverflowError):
            return False
    else:
        return False
    return moment < bound if operator == "is_date_before" else moment > bound


def _match_exact(value: Any, actual: Any) -> bool:
    actual_text = as_text(actual).lower()
    if value == []:
        return _truthy(actual)
    if _boolean_like(value):
        return _truthy(value) == _truthy(actual)
    if isinstance(value, list):
        return actual_text in [as_text(candidate).lower() for candidate in value]
    return as_text(value).lower() == actual_text


def _match_regex(pattern: str, actual: Any) -> bool | None:
    if pattern == "":
        return True
    try:
        return re.search(pattern, as_text(actual)) is not None
    except re.error:
        return None


def match_property(prop: dict[str, Any], values: dict[str, Any]) -> bool:
    """One property filter against known properties (person or group)."""
    key = prop.get("key")
    operator = prop.get("operator") or "exact"
    value = prop.get("value")
    if operator not in OPERATORS:
        return False
    if key not in values:
        return operator == "is_not_set"
    if operator in ("is_set", "is_not_set"):
        return operator == "is_set"
    actual = values[key]
    try:
        if operator in NUMERIC_OPERATORS:
            limit, number = _number(value), _number(actual)
            if limit is None or number is None:
                return False
            return {
                "gt": number > limit,
                "gte": number >= limit,
                "lt": number < limit,
                "lte": number <= limit,
            }[operator]
        if actual is None and operator in DATE_OPERATORS:
            return False
        if operator in ("exact", "is_not"):
            matched = _match_exact(value, actual)
            return matched if operator == "exact" else not matched
        if operator in TEXT_OPERATORS:
            text, needle = _ascii_lower(actual), _ascii_lower(value)
            if operator.endswith("icontains"):
                found = needle in text
            elif operator.endswith("starts_with"):
                found = text.startswith(needle)
            else:
                found = text.endswith(needle)
            return not found if operator.startswith("not_") else found
        if operator in REGEX_OPERATORS:
            regex = _match_regex(str(value), actual)
            if regex is None:
                return False
            return not regex if operator == "not_regex" else regex
        return _match_date(operator, value, actual)
    except Unmatchable:
        return False


def _rolled_out(key: str, rollout: Any, bucketing_value: str) -> bool:
    return rollout is None or bucket(key, bucketing_value) <= rollout / 100


def evaluate(
    flag: dict[str, Any],
    distinct_id: str,
    person_properties: dict[str, Any] | None = None,
    *,
    groups: dict[str, str] | None = None,
    group_properties: dict[str, dict[str, Any]] | None = None,
    group_type_mapping: dict[str, str] | None = None,
) -> Result:
    """A flag definition (``key``, ``active``, ``filters`` in PostHog's format) for one id."""
    if not flag.get("active", True):
        return Result(False, "disabled")
    key = str(flag["key"])
    filters: dict[str, Any] = flag.get("filters") or {}
    properties = person_properties or {}
    bucketing_value = distinct_id
    aggregation = filters.get("aggregation_group_type_index")
    if aggregation is not None:
        group_type = (group_type_mapping or {}).get(str(aggregation))
        if group_type is None or group_type not in (groups or {}):
            return Result(False, "no_group_type")
        bucketing_value = str((groups or {})[group_type])
        properties = (group_properties or {}).get(group_type, {})
    variant_keys = [v["key"] for v in (filters.get("multivariate") or {}).get("variants") or []]
    out_of_rollout = False
    for index, condition in enumerate(filters.get("groups") or []):
        props = condition.get("properties") or []
        if not all(match_property(p, properties) for p in props):
            continue
        if not _rolled_out(key, condition.get("rollout_percentage"), bucketing_value):
            out_of_rollout = True
            continue
        override = condition.get("variant")
        variant = (
            override if override and override in variant_keys else variant_for(key, filters, bucketing_value)
        )
        return Result(variant or True, "condition_match", index)
    return Result(False, "out_of_rollout_bound" if out_of_rollout else "no_condition_match")


def payload_for(filters: dict[str, Any], value: bool | str) -> Any:
    """The payload configured for the value (``payloads`` keyed by variant, or ``"true"``)."""
    if value is False:
        return None
    payloads = filters.get("payloads") or {}
    return payloads.get(value if isinstance(value, str) else "true")
