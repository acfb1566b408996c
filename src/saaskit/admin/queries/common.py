"""Small pieces the read models share."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")


def contains_pattern(text: str) -> str:
    """A LIKE pattern for "contains ``text``", lower-cased (compare with lower-cased columns), with
    ``text``'s own ``%``, ``_`` and ``\\`` escaped (use with ``escape="\\\\"``)."""
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def newest(
    session: AsyncSession,
    model: type[T],
    *where: ColumnElement[bool],
    limit: int,
    by: InstrumentedAttribute[Any] | None = None,
) -> list[T]:
    """The ``limit`` rows of ``model`` matching ``where``, newest first (by ``created_at`` unless
    ``by`` says otherwise): a page shows only the recent ones, an indexed and capped read."""
    order = inspect(model).columns["created_at"] if by is None else by
    return list(await session.scalars(select(model).where(*where).order_by(order.desc()).limit(limit)))
