"""Bookings and their items. A booking belongs to a customer (``user_id``) in an organization;
its items are lines of a service with a quantity within the service's limits."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
)
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

STATUSES = (
    "pending",
    "confirmed",
    "picked_up",
    "processing",
    "ready",
    "out_for_delivery",
    "delivered",
    "cancelled",
    "refunded",
)
PAYMENT_METHODS = ("card", "credits", "free")
# Bookings that hold a place in a pickup day (or a delivery day).
HOLDS_CAPACITY = ("pending", "confirmed", "picked_up", "processing", "ready", "out_for_delivery", "delivered")


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES!r}", name="status_known"),
        CheckConstraint(
            "payment_method IS NULL OR payment_method IN ('card', 'credits', 'free')",
            name="payment_method_known",
        ),
        CheckConstraint("booking_sequence >= 1", name="booking_sequence_positive"),
        CheckConstraint("items_amount >= 0 AND collection_fee >= 0", name="amounts_not_negative"),
        CheckConstraint("total_amount = items_amount + collection_fee", name="total_is_sum"),
        CheckConstraint("NOT is_free_collection OR collection_fee = 0", name="free_collection_costs_nothing"),
        CheckConstraint(CURRENCY_CHECK, name="currency_format"),
        CheckConstraint("delivery_date >= pickup_date", name="delivery_after_pickup"),
        Index(
            "idx_bookings_organization_id_booking_number", "organization_id", "booking_number", unique=True
        ),
        Index(
            "idx_bookings_organization_id_booking_sequence",
            "organization_id",
            "booking_sequence",
            unique=True,
        ),
        Index("idx_bookings_organization_id_status", "organization_id", "status"),
        Index("idx_bookings_service_id_pickup_date", "service_id", "pickup_date"),
        Index("idx_bookings_service_id_delivery_date", "service_id", "delivery_date"),
        Index("idx_bookings_user_id", "user_id"),
        Index("idx_bookings_address_id", "address_id"),
        Index(
            "idx_bookings_stripe_payment_intent_id",
            "stripe_payment_intent_id",
            unique=True,
            postgresql_where=sql_text("stripe_payment_intent_id IS NOT NULL"),
        ),
        {
            "comment": "Customers' bookings (seed 004): what is collected when, its price and where it is in "
            "its life (docs/bookings.md). RLS: the customer's own rows, the organization's staff, or service."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_column("taking the booking")
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="The customer; null once their account is erased (the booking is a sales record, kept).",
    )
    service_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("services.id", ondelete="RESTRICT"),
        nullable=False,
        comment="The main service: its pickup-day capacity and processing days set the dates.",
    )
    address_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("user_addresses.id", ondelete="SET NULL"),
        comment="The customer's address for pickup and delivery.",
    )
    booking_number: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Human-readable number, unique in the organization: BK-000042."
    )
    booking_sequence: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="The number's sequence: 1, 2, 3 ... per organization, no gaps."
    )
    status: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="pending", comment=f"Life cycle: {', '.join(STATUSES)}."
    )
    items_amount: Mapped[int] = mapped_column(
        BigInteger, nullable=False, comment="Sum of the items' total_price, in cents of currency."
    )
    collection_fee: Mapped[int] = mapped_column(
        BigInteger, nullable=False, comment="Pickup and delivery fee in cents; 0 with a free collection."
    )
    total_amount: Mapped[int] = mapped_column(
        BigInteger, nullable=False, comment="What the customer pays, in cents: items_amount + collection_fee."
    )
    currency: Mapped[str] = currency_column()
    is_free_collection: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=sql_text("false"),
        comment="True: a loyalty free collection was used (recorded in loyalty_rewards).",
    )
    pickup_date: Mapped[date] = mapped_column(Date, nullable=False, comment="Day the items are collected.")
    delivery_date: Mapped[date] = mapped_column(
        Date,
        nullable=False,
        comment="Day they come back: pickup + processing days, then the first day with room.",
    )
    payment_method: Mapped[str | None] = mapped_column(
        Text, comment="How it was paid: card (Stripe PaymentIntent), credits, free; null: unpaid."
    )
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(
        Text, comment="Stripe PaymentIntent (pi_...)."
    )
    paid_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When it was paid (UTC)."
    )
    status_changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=sql_text("now()"),
        comment="When status last changed (UTC).",
    )
    notes: Mapped[str | None] = mapped_column(Text, comment="The customer's instructions for the driver.")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    deleted_at: Mapped[datetime | None] = deleted_at_column()


class BookingItem(Base):
    __tablename__ = "booking_items"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("unit_price >= 0 AND options_price >= 0", name="prices_not_negative"),
        CheckConstraint("total_price = quantity * (unit_price + options_price)", name="total_is_product"),
        Index("idx_booking_items_booking_id", "booking_id"),
        Index("idx_booking_items_service_id", "service_id"),
        Index("idx_booking_items_organization_id", "organization_id"),
        {
            "comment": "A booking's lines (seed 004): a service, how many items, their prices. A trigger "
            "keeps "
            "quantity within the service's min_items and max_items. RLS: as the booking."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_column("taking the booking")
    booking_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("bookings.id", ondelete="CASCADE"),
        nullable=False,
        comment="The booking the line belongs to.",
    )
    service_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("services.id", ondelete="RESTRICT"),
        nullable=False,
        comment="The service applied to these items.",
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, comment="Number of items.")
    unit_price: Mapped[int] = mapped_column(
        BigInteger, nullable=False, comment="The service's price per item in cents, when booked."
    )
    options_price: Mapped[int] = mapped_column(
        BigInteger,
        nullable=False,
        server_default=sql_text("0"),
        comment="The chosen options' price per item in cents, when booked.",
    )
    option_codes: Mapped[list[str]] = mapped_column(
        ARRAY(Text),
        nullable=False,
        server_default=sql_text("'{}'"),
        comment="Codes of the options applied (the required ones included).",
    )
    total_price: Mapped[int] = mapped_column(
        BigInteger, nullable=False, comment="quantity x (unit_price + options_price), in cents."
    )
    item_description: Mapped[str | None] = mapped_column(
        Text, comment="The customer's words: 3 white shirts."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
