"""The demo's laundry: a catalog, customers, drivers and bookings whose statuses follow their
dates, numbered without gaps, today's legs assigned without overlaps, loyalty counts that match."""

from __future__ import annotations

import psycopg

from saaskit.bookings.states import TRANSITIONS
from saaskit.kit.db import libpq_url
from tests.demo.conftest import BuiltDemo, demo

__all__ = ["demo"]


def test_the_demo_runs_a_laundry(demo: BuiltDemo) -> None:
    assert demo.summary.rows["bookings"] > demo.config.days * 3
    today = demo.config.now.date()
    with psycopg.connect(libpq_url(demo.db.owner_url)) as conn:
        [(orgs, services, drivers, addresses)] = conn.execute(
            "SELECT count(DISTINCT organization_id), (SELECT count(*) FROM services), "
            "(SELECT count(*) FROM delivery_drivers), (SELECT count(*) FROM user_addresses) FROM bookings"
        ).fetchall()
        assert (orgs, services, drivers) == (1, 4, 4) and addresses >= 10
        [(count, first, last)] = conn.execute(
            "SELECT count(*), min(booking_sequence), max(booking_sequence) FROM bookings"
        ).fetchall()
        assert (first, last) == (1, count) == (1, demo.summary.rows["bookings"])
        wrong = conn.execute(
            "SELECT booking_number, status, pickup_date, delivery_date FROM bookings WHERE "
            "(pickup_date > %(t)s AND status NOT IN ('pending', 'confirmed')) OR "
            "(delivery_date < %(t)s AND status NOT IN ('delivered', 'cancelled', 'refunded')) OR "
            "(status IN ('delivered', 'refunded') AND paid_at IS NULL)",
            {"t": today},
        ).fetchall()
        assert wrong == []
        overlaps = conn.execute(
            "SELECT count(*) FROM delivery_assignments a JOIN delivery_assignments b ON a.driver_id = b.driver_id "
            "AND a.id < b.id AND a.window_start < b.window_end AND b.window_start < a.window_end"
        ).fetchone()
        assert overlaps == (0,)
        mismatched = conn.execute(
            "SELECT l.user_id FROM loyalty_rewards l WHERE l.completed_orders <> (SELECT count(*) FROM bookings b "
            "WHERE b.user_id = l.user_id AND b.organization_id = l.organization_id AND b.status = 'delivered')"
        ).fetchall()
        assert mismatched == []


def test_every_demo_booking_has_the_timeline_the_api_would_write(demo: BuiltDemo) -> None:
    """Created (and paid), then each move in the state machine's order, by the roles that may
    make it, ending on the booking's status at its status_changed_at, never after now."""
    with psycopg.connect(libpq_url(demo.db.owner_url)) as conn:
        bookings = conn.execute(
            "SELECT id, status, paid_at, created_at, status_changed_at FROM bookings ORDER BY booking_sequence"
        ).fetchall()
        rows = conn.execute(
            "SELECT entity_id, action, metadata, created_at FROM activities WHERE entity_type = 'booking' "
            "ORDER BY entity_id, created_at"
        ).fetchall()
    timelines: dict[object, list[tuple[str, dict[str, object], object]]] = {}
    for entity, action, metadata, at in rows:
        timelines.setdefault(entity, []).append((action, metadata, at))
    assert len(timelines) == len(bookings)
    for booking_id, status, paid_at, created_at, changed_at in bookings:
        timeline = timelines[booking_id]
        actions = [a for a, _, _ in timeline]
        assert actions[0] == "booking.created" and timeline[0][2] == created_at
        assert ("booking.paid" in actions) == (paid_at is not None)
        assert all(at <= demo.config.now for _, _, at in timeline)
        current = "pending"
        for action, metadata, at in timeline[1:]:
            if action in ("booking.paid", "booking.assigned"):
                continue
            move = metadata["status"]
            assert isinstance(move, dict) and move["from"] == current and action == f"booking.{move['to']}"
            to = str(move["to"])
            assert metadata["by"] in TRANSITIONS[current][to]
            current = to
            last = at
        assert current == status
        if status != "pending":
            assert changed_at == last
