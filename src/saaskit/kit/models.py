"""Declarative base, naming convention (``idx_{table}_{column}``) and common columns."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, MetaData, SmallInteger, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "idx_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def uuid_pk(comment: str = "Unique identifier (UUID).") -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"), comment=comment
    )


def created_at_column(comment: str = "When the row was created (UTC).") -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now(), comment=comment)


def updated_at_column(comment: str = "When the row was last changed (UTC).") -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=func.now(),
        onupdate=func.now(),
        comment=comment,
    )


class ContextKey(Base):
    """The secrets behind the service context (kit/db.py, kit/sql/context.sql). Owner only: the
    application role has no privilege on it and no policy lets it through row-level security."""

    __tablename__ = "context_keys"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        {"comment": "Owner-only: the keys that make the service context unforgeable (one row)."},
    )

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, comment="Always 1: there is one row.")
    seal_key: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="Random per database (drawn by the migration): seals app.service to a transaction.",
    )
    service_key_hash: Mapped[str | None] = mapped_column(
        Text,
        comment="SHA-256 (hex) of the server's service key (derived from the instance secret); "
        "null: no service context can be entered.",
    )
