"""Which of two Stripe snapshots is newer (billing.sync): whole seconds, Stripe's resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from saaskit.billing.stripe_client import _answer
from saaskit.billing.sync import is_older, whole_second

SECOND = datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC)


def test_whole_seconds() -> None:
    stored = SECOND + timedelta(microseconds=730_000)  # a row stored before whole seconds
    assert not is_older(SECOND, None)
    assert not is_older(SECOND, stored)  # the same second: applied
    assert not is_older(SECOND, SECOND)
    assert is_older(SECOND - timedelta(seconds=1), stored)
    assert not is_older(SECOND + timedelta(seconds=1), stored)
    assert whole_second(stored) == SECOND


def test_a_creation_snapshot_yields_to_anything_of_its_second() -> None:
    assert is_older(SECOND, SECOND, first_snapshot=True)
    assert not is_older(SECOND + timedelta(seconds=1), SECOND, first_snapshot=True)
    assert not is_older(SECOND, None, first_snapshot=True)


def test_an_api_answer_is_versioned_by_stripes_clock() -> None:
    """saaskit's own call is versioned by the Date of Stripe's answer, not by saaskit's clock."""

    class Answered:
        last_response = type("R", (), {"headers": {"date": "Mon, 07 Dec 2026 10:00:00 GMT"}})()

        def to_dict(self) -> dict[str, str]:
            return {"id": "sub_1"}

    answer = _answer(Answered())
    assert answer.object == {"id": "sub_1"} and answer.at == SECOND
