import time
import uuid

from saaskit.kit.ids import uuid7


def test_uuid7_has_version_variant_and_current_time() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after


def test_uuid7_sorts_by_creation_time_and_does_not_repeat() -> None:
    first = [uuid7() for _ in range(1000)]
    time.sleep(0.002)
    second = [uuid7() for _ in range(1000)]
    assert len(set(first + second)) == 2000
    assert max(first) < min(second)
