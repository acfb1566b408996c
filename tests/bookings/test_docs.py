"""docs/bookings.md draws the state machine that bookings/states.py enforces."""

from __future__ import annotations

from pathlib import Path

from saaskit.bookings.states import mermaid

DOC = Path(__file__).parents[2] / "docs" / "bookings.md"


def test_the_documented_diagram_is_the_enforced_table() -> None:
    text = DOC.read_text()
    drawn = text.split("```mermaid\n", 1)[1].split("```", 1)[0].strip()
    assert drawn == mermaid()
