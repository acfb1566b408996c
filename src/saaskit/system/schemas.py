"""Answers of the health endpoints (``/healthz``, ``/readyz``)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from saaskit.kit.schemas import Answer


class Alive(Answer):
    """``GET /healthz``: the process answers (nothing else is checked)."""

    status: Literal["ok"] = Field(description="Always ok.")


class Ready(Answer):
    """``GET /readyz`` 200: the database answers and its schema is at the code's migration head."""

    status: Literal["ok"] = Field(description="Always ok.")
    database: Literal["ok"] = Field(description="Always ok.")
    migration: str = Field(description="The database's Alembic revision (the head).")


class _Unavailable(Answer):
    # Every key is in the answer, defaults included.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    status: Literal["unavailable"] = Field(default="unavailable", description="Always unavailable.")


class DatabaseUnreachable(_Unavailable):
    """``GET /readyz`` 503: the database could not be reached."""

    database: Literal["unreachable"] = Field(default="unreachable", description="Always unreachable.")
    detail: str = Field(description="The Python exception's class name (no message: it may hold URLs).")


class SchemaNotAtHead(_Unavailable):
    """``GET /readyz`` 503: the database answers, but its migrations are not at the code's head
    (run ``saaskit migrate``)."""

    database: Literal["ok"] = Field(default="ok", description="Always ok.")
    migration: str | None = Field(description="The database's Alembic revision; null when it has none.")
    head: str = Field(description="The revision this code expects.")
