"""``system_settings``: global configuration, public or admin-only (seed 004)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Text, text
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
