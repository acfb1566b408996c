"""Pydantic base classes and types shared by the domains' schemas."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

# PostgreSQL's integer and bigint: every integer a request carries has bounds that fit its column.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class Input(BaseModel):
    """Request bodies: unknown fields are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Issue(BaseModel):
    """One problem with a request's input (validation errors list them all in ``details``)."""

    model_config = ConfigDict(extra="allow")

    field: str | None = Field(description="The offending field, as `error.field`.")
    message: str
    type: str | None = Field(
        default=None, description="What kind of problem: `missing`, `string_too_long`, `string_nul` ..."
    )


class ErrorDetail(BaseModel):
    """An error: a stable ``code`` to branch on, a message for people, the offending input field
    where there is one. Some codes carry more keys (a quota's ``limit``, the ``details`` of a
    validation error)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Stable and machine-readable: `invalid`, `not_found`, `slug_taken` ...")
    message: str
    field: str | None = Field(
        description="The input field at fault (`profile.name`, `steps.0.event`), or null."
    )
    details: list[Issue] | None = Field(default=None, description="Validation errors: every problem found.")


class ErrorAnswer(BaseModel):
    """Every 4xx and 5xx answer of the JSON API."""

    error: ErrorDetail


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Answer(BaseModel):
    """A response body validated from a service's plain dict or dataclass: a key the model does
    not declare is an error (and ``additionalProperties: false`` in the OpenAPI schema), never
    silently dropped, so the model describes the answer exactly."""

    model_config = ConfigDict(extra="forbid")


def _isoformat(value: datetime) -> str:
    return value.isoformat()


# A timestamp written as Python's ``datetime.isoformat()`` ("2026-03-28T23:00:00+00:00"), where
# pydantic would write "2026-03-28T23:00:00Z": for answers that have always used that spelling.
IsoDateTime = Annotated[
    datetime,
    PlainSerializer(_isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


# -- times a client sends ------------------------------------------------------------------------
#
# Every timestamp and day a request carries (body or query) is one of these two types, never a
# bare ``datetime`` or ``date`` (tests/kit/test_hostile_inputs.py checks every endpoint):
# Python parses more than PostgreSQL and the code after it take. A UTC offset beyond +-15:59 is
# valid ISO 8601 but PostgreSQL refuses it; a time near year 1 or 9999 overflows once converted
# to UTC, or once a window or a period is added to it (a retention query in year 9999). So
# times are converted to UTC here and must fall within [EARLIEST, LATEST), far from both ends.

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)  # PostgreSQL's range for an offset
_RANGE = f"from {EARLIEST.date()} (included) to {LATEST.date()} (excluded)"


def _timestamp(value: datetime) -> datetime:
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise PydanticCustomError("utc_offset_range", "the UTC offset must be between -15:59 and +15:59")
    try:
        moment = value.replace(tzinfo=UTC) if offset is None else value.astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or not EARLIEST <= moment < LATEST:
        raise PydanticCustomError("datetime_range", f"must be {_RANGE}, UTC")
    return moment


def _day(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise PydanticCustomError("date_range", f"must be {_RANGE}")
    return value


Timestamp = Annotated[datetime, AfterValidator(_timestamp)]
"""An ISO 8601 time (or Unix seconds); without an offset it is UTC. Converted to UTC."""
Day = Annotated[date, AfterValidator(_day)]
"""An ISO 8601 date (YYYY-MM-DD)."""
