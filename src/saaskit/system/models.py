"""``system_settings``: global configuration, public or admin-only (seed 004); ``table_size_samples``:
each table's size once a day."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk


class SystemSetting(Base):
    __tablename__ = "system_settings"
    __table_args__ = ({"comment": "Global configuration values; public ones are readable by anyone."},)

    id: Mapped[uuid.UUID] = uuid_pk()
    key: Mapped[str] = mapped_column(
        Text, unique=True, nullable=False, comment="Dotted name, e.g. access.beta_mode."
    )
    value: Mapped[Any] = mapped_column(JSONB, nullable=False, comment="The setting's value (any JSON).")
    category: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="general", comment="Group shown together in the admin."
    )
    description: Mapped[str | None] = mapped_column(Text, comment="What the setting does.")
    is_public: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="Readable without signing in (GET /api/system/settings).",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class TableSizeSample(Base):
    __tablename__ = "table_size_samples"
    __table_args__ = (
        {"comment": "Each table's size once a day (system.database.record_sizes), for growth charts."},
    )

    day: Mapped[date] = mapped_column(Date, primary_key=True, comment="The day sampled (UTC).")
    table_name: Mapped[str] = mapped_column(
        Text, primary_key=True, comment="Table (a partitioned one: all its partitions)."
    )
    size_bytes: Mapped[int] = mapped_column(
        BigInteger, nullable=False, comment="Size with indexes and TOAST, bytes."
    )
    row_estimate: Mapped[int] = mapped_column(
        BigInteger, nullable=False, comment="Rows, as the planner estimates them."
    )
