"""What a demo run asks for, and the time span and volumes derived from it.

Everything the generators produce is a function of ``DemoConfig`` alone (seed, sizes and the
data's clock ``now``), so the same configuration gives byte-identical tables. The clock is not
read from the machine inside the generators: the caller decides it (``resolve_now``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
MINUTE_US = 60_000_000

# Retention of the detail tables (seed 001, tracking.partitions, the session job): the demo
# writes no detail that the hourly jobs would delete on the first start anyway.
USAGE_WINDOW_DAYS = 90
WIDGET_WINDOW_DAYS = 30
SYSTEM_WINDOW_DAYS = 90
ERROR_WINDOW_DAYS = 180
METRICS_WINDOW_DAYS = 7
WEBHOOK_WINDOW_DAYS = 30
ONLINE_SECONDS = 300  # presence: a heartbeat this recent means online (the setting's default)


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch: the generators' time unit (cheap integer arithmetic)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def resolve_now(until: date | None, current: datetime) -> datetime:
    """The data's clock. A past ``until`` ends the data at that day's last instant (fully
    reproducible); today (the default) ends it at the current minute, so the dashboard is live."""
    today = current.astimezone(UTC).date()
    day = until or today
    if day > today:
        raise ValueError(f"--until {day} is in the future")
    if day < today:
        return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    return current.astimezone(UTC).replace(second=0, microsecond=0)


@dataclass(frozen=True)
class DemoConfig:
    users: int
    days: int
    seed: int
    now: datetime
    activity_events: int | None = None  # None: derived from users x days
    jobs: int = 1  # worker processes for the partitioned tables (content does not depend on it)
    # Inject the trust scenario (demo/abuse.py) after the load, and run the trust sweep: the admin's
    # review queue then has content. Not part of the reproducible load (its hashes are random).
    abuse: bool = False

    def __post_init__(self) -> None:
        if self.users < 10:
            raise ValueError("--users must be at least 10")
        if not 1 <= self.days <= 3650:
            raise ValueError("--days must be between 1 and 3650")
        if self.activity_events is not None and self.activity_events < 0:
            raise ValueError("--activity-events must not be negative")
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")

    # -- time span -------------------------------------------------------------------------
    @property
    def last_day(self) -> date:
        """The last UTC day with data (the day ``now`` falls in, or the day before midnight)."""
        return (self.now - timedelta(microseconds=1)).astimezone(UTC).date()

    @property
    def first_day(self) -> date:
        return self.last_day - timedelta(days=self.days - 1)

    @property
    def start_us(self) -> int:
        return to_us(datetime.combine(self.first_day, time(), tzinfo=UTC))

    @property
    def now_us(self) -> int:
        return to_us(self.now)

    def window_start_us(self, window_days: int) -> int:
        """Start of the last ``window_days`` days of the span (never before the span)."""
        return max(self.start_us, self.now_us - window_days * DAY_US)

    # -- volumes ---------------------------------------------------------------------------
    @property
    def activity_total(self) -> int:
        """Rows of activity_events. Default: half an event per user and day."""
        if self.activity_events is not None:
            return self.activity_events
        return self.users * self.days // 2

    @property
    def product_events(self) -> int:
        """Product events (events) besides each user's funnel steps."""
        return self.activity_total // 6

    @property
    def page_views(self) -> int:
        return self.activity_total // 10

    @property
    def visitors(self) -> int:
        """Anonymous visitor sessions besides the one each new user arrived with."""
        return self.users * 2

    @property
    def organizations(self) -> int:
        return max(3, self.users // 40)
