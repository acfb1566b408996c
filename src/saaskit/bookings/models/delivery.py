"""Drivers and their assignments (a pickup or a delivery of one booking in a time window)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Text,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.bookings.models.common import deleted_at_column, organization_column
from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

VEHICLE_TYPES = ("bicycle", "cargo_bike", "scooter", "car", "van")
ASSIGNMENT_TYPES = ("pickup", "delivery")
ASSIGNMENT_STATUSES = ("assigned", "in_progress", "completed", "cancelled")


class DeliveryDriver(Base):
    __tablename__ = "delivery_drivers"
    __table_args__ = (
        CheckConstraint(f"vehicle_type IN {VEHICLE_TYPES!r}", name="vehicle_type_known"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 0 AND 5", name="rating_range"),
        CheckConstraint("total_deliveries >= 0", name="total_deliveries_not_negative"),
        CheckConstraint(
            "current_coordinates IS NULL OR (cardinality(current_coordinates) = 2 "
            "AND current_coordinates[1] BETWEEN -90 AND 90 AND current_coordinates[2] BETWEEN -180 AND 180)",
            name="current_coordinates_valid",
        ),
        Index("idx_delivery_drivers_organization_id", "organization_id"),
        Index(
            "idx_delivery_drivers_organization_id_user_id",
            "organization_id",
            "user_id",
            unique=True,
            postgresql_where=sql_text("deleted_at IS NULL AND user_id IS NOT NULL"),
        ),
        Index("idx_delivery_drivers_user_id", "user_id"),
        {
            "comment": "An organization's drivers (seed 004): vehicle, availability, rating and deliveries "
            "made. RLS: the organization's staff, the driver's own row, or service."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_column("the driver works for")
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="The driver's account; null once erased (past assignments keep the profile).",
    )
    display_name: Mapped[str] = mapped_column(Text, nullable=False, comment="Name shown to staff.")
    vehicle_type: Mapped[str] = mapped_column(
        Text, nullable=False, comment=f"One of {', '.join(VEHICLE_TYPES)}."
    )
    license_plate: Mapped[str | None] = mapped_column(
        Text, comment="Plate of the vehicle; null for bicycles."
    )
    is_available: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=sql_text("true"), comment="False: not given new assignments."
    )
    rating: Mapped[Decimal | None] = mapped_column(
        Numeric(3, 2), comment="Average customer rating, 0 to 5; null before the first."
    )
    total_deliveries: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=sql_text("0"), comment="Assignments completed so far."
    )
    current_coordinates: Mapped[list[float] | None] = mapped_column(
        ARRAY(Double), comment="{latitude, longitude} last reported (the depot at first), for nearest-driver."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    deleted_at: Mapped[datetime | None] = deleted_at_column()


class DeliveryAssignment(Base):
    __tablename__ = "delivery_assignments"
    __table_args__ = (
        CheckConstraint(f"assignment_type IN {ASSIGNMENT_TYPES!r}", name="assignment_type_known"),
        CheckConstraint(f"status IN {ASSIGNMENT_STATUSES!r}", name="status_known"),
        CheckConstraint("window_end > window_start", name="window_ordered"),
        Index("idx_delivery_assignments_driver_id_window_start", "driver_id", "window_start"),
        Index("idx_delivery_assignments_organization_id", "organization_id"),
        Index(
            "idx_delivery_assignments_booking_id_assignment_type",
            "booking_id",
            "assignment_type",
            unique=True,
            postgresql_where=sql_text("status <> 'cancelled'"),
        ),
        {
            "comment": "Which driver collects or delivers a booking, in which time window (seed 004); a "
            "driver's live windows never overlap. RLS: the organization's staff, or service."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_column("running the round")
    booking_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("bookings.id", ondelete="CASCADE"),
        nullable=False,
        comment="The booking collected or delivered.",
    )
    driver_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("delivery_drivers.id", ondelete="RESTRICT"),
        nullable=False,
        comment="The driver doing it.",
    )
    assignment_type: Mapped[str] = mapped_column(Text, nullable=False, comment="pickup or delivery.")
    status: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="assigned", comment=f"One of {', '.join(ASSIGNMENT_STATUSES)}."
    )
    window_start: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, comment="Start of the time window (UTC)."
    )
    window_end: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, comment="End of the time window (UTC), after its start."
    )
    assigned_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=sql_text("now()"),
        comment="When the driver was given it (UTC).",
    )
    completed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the driver finished it (UTC)."
    )
    is_automatic: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=sql_text("false"),
        comment="True: chosen by the nearest-available rule; false: by a member of staff.",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
