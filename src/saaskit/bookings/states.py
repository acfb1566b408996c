"""The booking state machine: which status may follow which, and who may make each move.

Roles: ``customer`` (the booking's own customer), ``staff`` (a member with ``bookings:manage``),
``payment`` (a successful payment: card or credits). docs/bookings.md draws the diagram."""

from __future__ import annotations

from typing import Final, Literal

Role = Literal["customer", "staff", "payment"]

TRANSITIONS: Final[dict[str, dict[str, frozenset[Role]]]] = {
    "pending": {
        "confirmed": frozenset({"staff", "payment"}),
        "cancelled": frozenset({"customer", "staff"}),
    },
    "confirmed": {
        "picked_up": frozenset({"staff"}),
        "cancelled": frozenset({"customer", "staff"}),
    },
    "picked_up": {"processing": frozenset({"staff"})},
    "processing": {"ready": frozenset({"staff"})},
    "ready": {"out_for_delivery": frozenset({"staff"})},
    "out_for_delivery": {"delivered": frozenset({"staff"}), "ready": frozenset({"staff"})},
    "delivered": {"refunded": frozenset({"staff"})},
    "cancelled": {"refunded": frozenset({"staff"})},
    "refunded": {},
}
# Refunds need a payment to give back.
NEEDS_PAYMENT: Final = frozenset({"refunded"})


def allowed_next(status: str, role: Role) -> list[str]:
    return [to for to, roles in TRANSITIONS.get(status, {}).items() if role in roles]


def mermaid() -> str:
    """The diagram of docs/bookings.md, from the table above (a test checks they agree)."""
    lines = ["stateDiagram-v2", "    [*] --> pending"]
    for origin, targets in TRANSITIONS.items():
        for target, roles in targets.items():
            lines.append(f"    {origin} --> {target}: {', '.join(sorted(roles))}")
    lines += ["    delivered --> [*]", "    refunded --> [*]"]
    return "\n".join(lines)
