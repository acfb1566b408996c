"""``system_settings``: global configuration, public or admin-only (seed 004); ``table_size_samples``:
each table's size once a day; ``backup_runs``: each backup and restore test."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, DateTime, Index, Text, text
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


class BackupRun(Base):
    __tablename__ = "backup_runs"
    __table_args__ = (
        CheckConstraint("kind IN ('backup', 'restore_test')", name="kind_known"),
        CheckConstraint("status IN ('ok', 'failed')", name="status_known"),
        Index("idx_backup_runs_kind_started_at", "kind", "started_at"),
        {"comment": "Each backup and restore test that ran (system/backup_runs.py), for the admin."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(Text, nullable=False, comment="backup or restore_test.")
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, comment="When it started (UTC)."
    )
    finished_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, comment="When it ended (UTC)."
    )
    status: Mapped[str] = mapped_column(Text, nullable=False, comment="ok or failed.")
    backup_id: Mapped[str | None] = mapped_column(
        Text, comment="The backup made, or restored by the test (its manifest's id)."
    )
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, comment="The backup's stored size, bytes.")
    targets: Mapped[str | None] = mapped_column(
        Text, comment="Where the backup was stored or fetched from, e.g. 'local, s3://bucket'."
    )
    detail: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="Tables, rows, the tables that differed (restore test), backups pruned.",
    )
    error: Mapped[str | None] = mapped_column(Text, comment="Why it failed.")
