"""What the business keeps about its customers: their addresses and their loyalty counts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, Boolean, CheckConstraint, Double, ForeignKey, Index, Integer, Text
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.bookings.models.common import deleted_at_column, organization_column
from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

COORDINATES_CHECK = (
    "coordinates IS NULL OR (cardinality(coordinates) = 2 AND coordinates[1] BETWEEN -90 AND 90 "
    "AND coordinates[2] BETWEEN -180 AND 180)"
)


class UserAddress(Base):
    __tablename__ = "user_addresses"
    __table_args__ = (
        CheckConstraint("char_length(label) BETWEEN 1 AND 50", name="label_length"),
        CheckConstraint("char_length(street_address) BETWEEN 1 AND 300", name="street_address_length"),
        CheckConstraint("char_length(city) BETWEEN 1 AND 100", name="city_length"),
        CheckConstraint("char_length(postal_code) BETWEEN 1 AND 20", name="postal_code_length"),
        CheckConstraint(COORDINATES_CHECK, name="coordinates_valid"),
        Index("idx_user_addresses_user_id", "user_id"),
        Index("idx_user_addresses_organization_id", "organization_id"),
        Index(
            "idx_user_addresses_organization_id_user_id_default",
            "organization_id",
            "user_id",
            unique=True,
            postgresql_where=sql_text("is_default AND deleted_at IS NULL"),
        ),
        {
            "comment": "Customers' pickup and delivery addresses (seed 004), one default per customer and "
            "organization. RLS: the customer's own rows, the organization's staff, or service."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_column("the customer uses the address with")
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        comment="The customer whose address it is.",
    )
    label: Mapped[str] = mapped_column(
        Text, nullable=False, comment="The customer's name for it: Home, Work ..."
    )
    street_address: Mapped[str] = mapped_column(Text, nullable=False, comment="Street, number, floor.")
    city: Mapped[str] = mapped_column(Text, nullable=False, comment="City or town.")
    postal_code: Mapped[str] = mapped_column(Text, nullable=False, comment="Postal code as written locally.")
    coordinates: Mapped[list[float] | None] = mapped_column(
        ARRAY(Double),
        comment="{latitude, longitude} in degrees (WGS 84), for routing and the nearest driver.",
    )
    is_default: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=sql_text("false"),
        comment="The customer's default address (at most one live one per customer and organization).",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    deleted_at: Mapped[datetime | None] = deleted_at_column()


class LoyaltyReward(Base):
    __tablename__ = "loyalty_rewards"
    __table_args__ = (
        CheckConstraint("completed_orders >= 0", name="completed_orders_not_negative"),
        CheckConstraint(
            "free_collections_used BETWEEN 0 AND free_collections_earned", name="used_within_earned"
        ),
        Index("idx_loyalty_rewards_organization_id_user_id", "organization_id", "user_id", unique=True),
        Index("idx_loyalty_rewards_user_id", "user_id"),
        {
            "comment": "A customer's loyalty with one organization (seed 004): delivered orders, and the "
            "free "
            "collections earned (one per SAASKIT_BOOKINGS_LOYALTY_EVERY_ORDERS) and used. RLS: the "
            "customer reads their own row; staff and service."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_column("the customer is loyal to")
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        comment="The customer.",
    )
    completed_orders: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=sql_text("0"), comment="Bookings of theirs delivered so far."
    )
    free_collections_earned: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=sql_text("0"), comment="Free collections earned so far."
    )
    free_collections_used: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=sql_text("0"), comment="Free collections applied to bookings."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
