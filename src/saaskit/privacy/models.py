"""``privacy_requests``: one row per data-subject request (an export or an erasure), its progress,
and for an export the finished archive and its one-time download link."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

KINDS = ("export", "erasure")
STATUSES = ("pending", "running", "completed", "cancelled", "failed")


class PrivacyRequest(Base):
    __tablename__ = "privacy_requests"
    __table_args__ = (
        CheckConstraint(f"kind IN {KINDS}", name="kind_known"),
        CheckConstraint(f"status IN {STATUSES}", name="status_known"),
        CheckConstraint("progress_percent BETWEEN 0 AND 100", name="progress_range"),
        # A person has at most one erasure waiting or running: a second request finds the first.
        Index(
            "uq_privacy_requests_open_erasure",
            "user_id",
            unique=True,
            postgresql_where=text("kind = 'erasure' AND status IN ('pending', 'running')"),
        ),
        Index("idx_privacy_requests_user_id", "user_id"),
        # The periodic job's question: which erasures are due?
        Index(
            "idx_privacy_requests_due",
            "scheduled_for",
            postgresql_where=text("status IN ('pending', 'running')"),
        ),
        Index(
            "idx_privacy_requests_requested_by",
            "requested_by",
            postgresql_where=text("requested_by IS NOT NULL"),
        ),
        {
            "comment": "Data-subject requests: exports of everything about a person, and erasures "
            "(docs/privacy.md)."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(Text, nullable=False, comment="export or erasure.")
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="The person the request is about; NULL once the person is erased.",
    )
    subject_hash: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="HMAC-SHA-256 of the person's id under the instance secret: proves a request about "
        "a given id after the id itself is gone.",
    )
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="The platform admin who asked on the person's behalf; NULL when the person asked.",
    )
    by_admin: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="Asked by a platform admin (then signing in does not cancel an erasure).",
    )
    reason: Mapped[str | None] = mapped_column(
        Text, comment="Why an admin asked (free text, no personal data)."
    )
    status: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default=text("'pending'"),
        comment="pending, running, completed, cancelled, failed.",
    )
    scheduled_for: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=text("now()"),
        comment="When the job may start: an erasure's end of grace period; an export's request time.",
    )
    steps_done: Mapped[list[str]] = mapped_column(
        ARRAY(Text),
        nullable=False,
        server_default=text("'{}'"),
        comment="Steps finished so far (each committed on its own): a rerun resumes after them.",
    )
    progress_percent: Mapped[int] = mapped_column(
        SmallInteger, nullable=False, server_default=text("0"), comment="Share of the steps done, 0-100."
    )
    identifiers: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB,
        comment="While an erasure runs: the person's e-mail, names, distinct ids and hashes, read "
        "before the rows holding them are deleted; wiped by the last step.",
    )
    pseudonym_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), comment="Erasure: the random id that replaces the person's id in kept audit rows."
    )
    summary: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB, comment="Rows touched per table and action (erasure) or rows per file (export); counts only."
    )
    # Deferred: listing requests must not read the archives.
    archive: Mapped[bytes | None] = mapped_column(
        LargeBinary,
        deferred=True,
        comment="Export: the ZIP archive (JSON per table + README); deleted when it expires.",
    )
    archive_size_bytes: Mapped[int | None] = mapped_column(
        Integer, comment="Export: size of the archive in bytes."
    )
    archive_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Export: when the archive is deleted."
    )
    download_token_hash: Mapped[str | None] = mapped_column(
        Text, comment="SHA-256 of the one-time download link's token; NULL once used or never issued."
    )
    download_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the current download link stops working."
    )
    downloaded_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the archive was last downloaded."
    )
    error: Mapped[str | None] = mapped_column(Text, comment="Why the job failed last (no personal data).")
    started_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the job first started."
    )
    completed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the job finished."
    )
    cancelled_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When it was cancelled."
    )
    cancelled_by: Mapped[str | None] = mapped_column(
        Text, comment="How it was cancelled: request (DELETE /api/me/deletion), sign_in, admin."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
