"""Keyset pagination on ``(created_at, id)``, newest first: stable under concurrent inserts.

Lists answer ``{"items": [...], "next_cursor": "..." | null}``; pass ``cursor`` back to get the
next page. The cursor is opaque to clients (base64url of the last row's sort key).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from saaskit.kit.errors import BadRequest

T = TypeVar("T")

LimitParam = Annotated[int, Query(ge=1, le=500, description="Page size (1-500).")]
CursorParam = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, row_id: uuid.UUID | int) -> str:
    raw = orjson.dumps([created_at.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = orjson.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), str(row_id)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise BadRequest(
            "cursor: not a cursor returned by this API", field="cursor", code="bad_cursor"
        ) from exc


async def keyset_page(
    session: AsyncSession,
    query: Select[*tuple[Any, ...]],
    *,
    created_at: InstrumentedAttribute[Any],
    row_id: InstrumentedAttribute[Any],
    limit: int,
    cursor: str | None,
) -> tuple[list[Any], str | None]:
    """Rows of ``query`` newest first by ``(created_at, row_id)``, and the next page's cursor.

    A query selecting one entity yields entities; one selecting several yields tuples whose
    first element carries ``created_at`` and ``row_id``.
    """
    if cursor:
        after_created, raw_id = decode_cursor(cursor)
        try:
            after_id = row_id.type.python_type(raw_id)
        except (ValueError, TypeError) as exc:
            raise BadRequest(
                "cursor: not a cursor returned by this API", field="cursor", code="bad_cursor"
            ) from exc
        query = query.where(
            tuple_(created_at, row_id)
            < tuple_(literal(after_created, created_at.type), literal(after_id, row_id.type))
        )
    result = await session.execute(query.order_by(created_at.desc(), row_id.desc()).limit(limit + 1))
    rows = [row[0] if len(row) == 1 else tuple(row) for row in result.all()]
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1][0] if isinstance(rows[-1], tuple) else rows[-1]
    return rows, encode_cursor(getattr(last, created_at.key), getattr(last, row_id.key))
