"""The catalog an organization sells: categories, services, options and which options a
service offers (required or optional). Readable by anyone signed in (a price list); written by
the organization's staff (``catalog:write``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, Text
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.bookings.models.common import (
    CURRENCY_CHECK,
    currency_column,
    deleted_at_column,
    organization_column,
)
from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

SERVICE_TYPES = ("laundry", "dry_cleaning", "pressing", "wash_and_press", "alteration", "special_care")
OPTION_CATEGORIES = ("treatment", "finishing", "packaging", "speed", "other")
LIVE = sql_text("deleted_at IS NULL")


class ServiceCategory(Base):
    __tablename__ = "service_categories"
    __table_args__ = (
        CheckConstraint("char_length(name) BETWEEN 1 AND 100", name="name_length"),
        Index("idx_service_categories_organization_id_sort_order", "organization_id", "sort_order"),
        Index(
            "idx_service_categories_organization_id_name",
            "organization_id",
            "name",
            unique=True,
            postgresql_where=LIVE,
        ),
        {
            "comment": "Groups of an organization's services, in display order (seed 004). RLS: staff write, "
            "anyone signed in reads the live ones."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_column("whose catalog this is")
    name: Mapped[str] = mapped_column(Text, nullable=False, comment="Shown to customers, e.g. Shirts.")
    description: Mapped[str | None] = mapped_column(Text, comment="What the category holds, for customers.")
    icon: Mapped[str | None] = mapped_column(Text, comment="Icon name or URL shown beside the name.")
    sort_order: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=sql_text("0"), comment="Display order, ascending."
    )
    is_active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=sql_text("true"), comment="False: hidden from customers."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    deleted_at: Mapped[datetime | None] = deleted_at_column()


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint("char_length(name) BETWEEN 1 AND 200", name="name_length"),
        CheckConstraint("code ~ '^[a-z0-9][a-z0-9_-]{0,49}$'", name="code_format"),
        CheckConstraint(f"type IN {SERVICE_TYPES!r}", name="type_known"),
        CheckConstraint("base_price >= 0", name="base_price_not_negative"),
        CheckConstraint(CURRENCY_CHECK, name="currency_format"),
        CheckConstraint("processing_days BETWEEN 0 AND 60", name="processing_days_range"),
        CheckConstraint("min_items >= 1 AND max_items >= min_items", name="items_range"),
        CheckConstraint("daily_capacity >= 1", name="daily_capacity_positive"),
        Index(
            "idx_services_organization_id_code", "organization_id", "code", unique=True, postgresql_where=LIVE
        ),
        Index("idx_services_category_id", "category_id"),
        Index("idx_services_organization_id", "organization_id"),
        {
            "comment": "An organization's services (seed 004): price per item, processing time, item limits "
            "and the bookings a pickup day holds. RLS: staff write, anyone signed in reads the live ones."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_column("selling the service")
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("service_categories.id", ondelete="SET NULL"),
        comment="The category it is listed under; null: uncategorised.",
    )
    name: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Shown to customers, e.g. Shirt pressing."
    )
    code: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Short unique key within the organization, e.g. shirt-press."
    )
    type: Mapped[str] = mapped_column(
        Text, nullable=False, comment=f"Kind of work: {', '.join(SERVICE_TYPES)}."
    )
    base_price: Mapped[int] = mapped_column(
        BigInteger, nullable=False, comment="Price of one item in cents of currency (before options)."
    )
    currency: Mapped[str] = currency_column()
    processing_days: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Days from pickup until the items can be delivered back."
    )
    min_items: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=sql_text("1"), comment="Fewest items a booking line may hold."
    )
    max_items: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=sql_text("100"), comment="Most items a booking line may hold."
    )
    daily_capacity: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        server_default=sql_text("20"),
        comment="Bookings of this service one pickup day holds (and deliveries one day holds).",
    )
    description: Mapped[str | None] = mapped_column(Text, comment="What the service includes, for customers.")
    is_active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=sql_text("true"), comment="False: cannot be booked."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    deleted_at: Mapped[datetime | None] = deleted_at_column()


class ServiceOption(Base):
    __tablename__ = "service_options"
    __table_args__ = (
        CheckConstraint("char_length(name) BETWEEN 1 AND 200", name="name_length"),
        CheckConstraint("code ~ '^[a-z0-9][a-z0-9_-]{0,49}$'", name="code_format"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint(CURRENCY_CHECK, name="currency_format"),
        CheckConstraint(f"category IN {OPTION_CATEGORIES!r}", name="category_known"),
        Index(
            "idx_service_options_organization_id_code",
            "organization_id",
            "code",
            unique=True,
            postgresql_where=LIVE,
        ),
        Index("idx_service_options_organization_id", "organization_id"),
        {
            "comment": "Add-ons a service may offer (seed 004), priced per item. RLS: staff write, anyone "
            "signed in reads the live ones."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_column("selling the option")
    name: Mapped[str] = mapped_column(Text, nullable=False, comment="Shown to customers, e.g. Stain removal.")
    code: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Short unique key within the organization."
    )
    price: Mapped[int] = mapped_column(
        BigInteger, nullable=False, comment="Price per item in cents of currency, added to the service's."
    )
    currency: Mapped[str] = currency_column()
    category: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="other",
        comment=f"Kind of add-on: {', '.join(OPTION_CATEGORIES)}.",
    )
    description: Mapped[str | None] = mapped_column(Text, comment="What the option does, for customers.")
    is_active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=sql_text("true"), comment="False: cannot be chosen."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    deleted_at: Mapped[datetime | None] = deleted_at_column()


class ServiceServiceOption(Base):
    __tablename__ = "service_service_options"
    __table_args__ = (
        Index(
            "idx_service_service_options_service_id_service_option_id",
            "service_id",
            "service_option_id",
            unique=True,
        ),
        Index("idx_service_service_options_service_option_id", "service_option_id"),
        Index("idx_service_service_options_organization_id", "organization_id"),
        {
            "comment": "Which options a service offers and whether each is required (seed 004). RLS: staff "
            "write, anyone signed in reads."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_column("owning both the service and the option")
    service_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("services.id", ondelete="CASCADE"),
        nullable=False,
        comment="The service offering the option.",
    )
    service_option_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("service_options.id", ondelete="CASCADE"),
        nullable=False,
        comment="The option offered.",
    )
    is_required: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=sql_text("false"),
        comment="True: every booking line of the service includes (and pays) the option.",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
