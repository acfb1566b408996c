"""Pydantic base classes and types shared by the domains' schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema


class Input(BaseModel):
    """Request bodies: unknown fields are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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
