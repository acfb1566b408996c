"""The answers of requests sent with an ``Idempotency-Key``, kept 24 hours to replay them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, SmallInteger, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, uuid_pk


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key_hash"),
        Index("idx_idempotency_keys_expires_at", "expires_at"),
        {
            "comment": "Requests sent with an Idempotency-Key header and the answer they got, replayed "
            "to a retry with the same key for 24 hours (kit/idempotency; RLS: the sender's own)."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        comment="The signed-in user who sent the key: keys are one user's (the owner).",
    )
    key_hash: Mapped[str] = mapped_column(
        Text, nullable=False, comment="SHA-256 (hex) of the Idempotency-Key header's value."
    )
    method: Mapped[str] = mapped_column(Text, nullable=False, comment="HTTP method of the first request.")
    path: Mapped[str] = mapped_column(Text, nullable=False, comment="URL path of the first request.")
    request_fingerprint: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="SHA-256 (hex) of the first request's method, path, query and JSON body (keys sorted): "
        "the same key with another request is refused (422).",
    )
    response_status_code: Mapped[int | None] = mapped_column(
        SmallInteger,
        comment="HTTP status of the first answer (NULL only inside the first request's own transaction).",
    )
    response_body: Mapped[str | None] = mapped_column(
        Text, comment="Body of the first answer (JSON text), replayed byte for byte."
    )
    created_at: Mapped[datetime] = created_at_column("When the first request came (UTC).")
    expires_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        comment="When the key is forgotten (24 hours after the first request); a periodic job deletes it.",
    )
