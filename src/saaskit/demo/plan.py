"""The high-volume tables' plan: how many rows each day gets, and the time partitions to write.

``Shared`` is everything a worker process needs to produce any partition's rows (it is pickled
once per worker). Day counts are fixed here, in the main process, from the configuration
alone: a partition's rows then depend only on the seed and its days, never on which process
writes it or in what order.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime

from saaskit.demo.binary import UUID_LEN
from saaskit.demo.config import (
    DAY_US,
    ERROR_WINDOW_DAYS,
    METRICS_WINDOW_DAYS,
    SYSTEM_WINDOW_DAYS,
    DemoConfig,
    to_us,
)
from saaskit.demo.copying import PartitionUnit
from saaskit.demo.devices import Devices
from saaskit.demo.people import People
from saaskit.demo.rand import DaySampler, day_date, split_counts, weekday_factor
from saaskit.demo.tenancy import Tenancy
from saaskit.demo.usage import WIDGET_COLUMNS, UsagePlan
from saaskit.kit.columns import column_names
from saaskit.tracking import models as tracking_models
from saaskit.tracking.partitions import SPECS, next_start, partition_name, period_start

# Names only: these tables are written as hand-encoded binary tuples (``binary.py``), one
# encoder per column, in this order.
ACTIVITY_COLUMNS = column_names(
    tracking_models.ActivityEvent,
    ("id", "created_at", "user_id", "organization_id", "event_type", "action_name"),
)
EVENT_COLUMNS = column_names(
    tracking_models.Event,
    (
        "id",
        "timestamp",
        "organization_id",
        "user_id",
        "distinct_id",
        "session_id",
        "event_name",
        "event_category",
        "event_action",
        "properties",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "country_code",
        "created_at",
    ),
)
PAGE_VIEW_COLUMNS = column_names(
    tracking_models.PageView,
    (
        "id",
        "viewed_at",
        "organization_id",
        "user_id",
        "distinct_id",
        "session_id",
        "page_url",
        "page_title",
        "referrer",
        "load_time_ms",
        "time_on_page_seconds",
        "bounce",
        "created_at",
    ),
)
SYSTEM_COLUMNS = column_names(
    tracking_models.SystemEvent,
    (
        "id",
        "created_at",
        "user_id",
        "organization_id",
        "dashboard_id",
        "event_type",
        "severity",
        "message",
        "error_details",
        "user_agent",
        "app_version",
        "resolved_at",
    ),
)
ERROR_COLUMNS = column_names(
    tracking_models.ErrorLog,
    (
        "id",
        "created_at",
        "user_id",
        "organization_id",
        "error_type",
        "error_code",
        "error_message",
        "error_stack",
        "app_version",
        "context",
        "resolved",
        "resolved_at",
    ),
)
METRIC_COLUMNS = column_names(
    tracking_models.PerformanceMetric,
    ("id", "timestamp", "metric_name", "metric_type", "value", "unit", "tags"),
)
COLUMNS = {
    "activity_events": ACTIVITY_COLUMNS,
    "events": EVENT_COLUMNS,
    "page_views": PAGE_VIEW_COLUMNS,
    "widget_analytics": WIDGET_COLUMNS,
    "system_events": SYSTEM_COLUMNS,
    "error_logs": ERROR_COLUMNS,
    "performance_metrics": METRIC_COLUMNS,
}
# Funnel steps of each new user, in order (product.py writes them as events).
LANDING, SIGNUP, DASHBOARD, SUBSCRIPTION = 0, 1, 2, 3


@dataclass
class Shared:
    config: DemoConfig
    people: People
    tenancy: Tenancy
    devices: Devices
    usage: UsagePlan
    days: int  # days of the span (the last one may be running)
    activity_other: tuple[int, ...]  # activity events per day besides sign-ups
    activity_first_id: tuple[int, ...]  # id of each day's first activity event
    product_counts: tuple[int, ...]
    page_view_counts: tuple[int, ...]
    system_counts: dict[int, int]
    error_counts: dict[int, int]
    metric_days: tuple[int, ...]
    funnel_us: array[int]  # funnel steps, in time order: when,
    funnel_user: array[int]  # whose,
    funnel_kind: bytes  # which step
    _org_fields: list[bytes] | None = None

    def org_fields(self) -> list[bytes]:
        """Each organization's id as a binary COPY field (computed once per process)."""
        if self._org_fields is None:
            self._org_fields = [UUID_LEN + self.tenancy.raw(k) for k in range(self.tenancy.count)]
        return self._org_fields

    def day_start(self, day: int) -> int:
        return self.config.start_us + day * DAY_US

    def signups(self, day: int) -> tuple[int, int]:
        """The users who signed up during ``day`` (within the span), as an index range."""
        people = self.people
        lo = max(people.first_in_span, bisect_left(people.created_us, self.day_start(day)))
        hi = bisect_left(people.created_us, min(self.day_start(day + 1), self.config.now_us))
        return lo, max(lo, hi)


def check_activity_total(config: DemoConfig, people: People) -> int:
    """The sign-ups in the span (each has its ``signup`` event); raises when the requested
    activity total cannot hold them. Called before anything is written."""
    signups = people.count - people.first_in_span
    if config.activity_total < signups:
        raise ValueError(
            f"--activity-events must be at least the number of sign-ups in the span ({signups:,}): "
            "every new user has a signup event"
        )
    return signups


def _traffic_weights(config: DemoConfig, people: People, days: int) -> list[float]:
    """Relative traffic of each day: users signed up so far, weekday, hours already past."""
    weights = []
    for d in range(days):
        start = config.start_us + d * DAY_US
        present = people.existing(start + DAY_US // 2)
        mass = DaySampler(start, config.now_us).mass
        weights.append(max(present, 1) * weekday_factor(day_date(config.start_us, d)) * mass)
    return weights


def build_shared(
    config: DemoConfig,
    people: People,
    tenancy: Tenancy,
    devices: Devices,
    usage: UsagePlan,
    funnel: list[tuple[int, int, int]],
) -> Shared:
    days = (config.now_us - config.start_us + DAY_US - 1) // DAY_US
    weights = _traffic_weights(config, people, days)
    signups = check_activity_total(config, people)
    other = split_counts(config.activity_total - signups, weights)
    shared = Shared(
        config=config,
        people=people,
        tenancy=tenancy,
        devices=devices,
        usage=usage,
        days=days,
        activity_other=tuple(other),
        activity_first_id=(),
        product_counts=tuple(split_counts(config.product_events, weights)),
        page_view_counts=tuple(split_counts(config.page_views, weights)),
        system_counts={},
        error_counts={},
        metric_days=tuple(range(max(0, days - METRICS_WINDOW_DAYS), days)),
        funnel_us=array("q", (f[0] for f in funnel)),
        funnel_user=array("i", (f[1] for f in funnel)),
        funnel_kind=bytes(f[2] for f in funnel),
    )
    first_ids, next_id = [], 1
    for d in range(days):
        first_ids.append(next_id)
        lo, hi = shared.signups(d)
        next_id += other[d] + hi - lo
    shared.activity_first_id = tuple(first_ids)
    # About one device in a hundred reports something a day, one user in 300 meets an error.
    for d in range(max(0, days - ERROR_WINDOW_DAYS), days):
        start = shared.day_start(d)
        shape = weekday_factor(day_date(config.start_us, d)) * DaySampler(start, config.now_us).mass
        shared.error_counts[d] = max(2, int(people.existing(start + DAY_US // 2) * 0.003 * shape))
        if d >= days - SYSTEM_WINDOW_DAYS:
            shared.system_counts[d] = max(2, int(devices.existing(start + DAY_US // 2) * 0.01 * shape))
    return shared


def day_rows(shared: Shared, table: str, day: int) -> int:
    if table == "activity_events":
        lo, hi = shared.signups(day)
        return shared.activity_other[day] + hi - lo
    if table == "events":
        return shared.product_counts[day]
    if table == "page_views":
        return shared.page_view_counts[day]
    if table == "system_events":
        return shared.system_counts.get(day, 0)
    if table == "error_logs":
        return shared.error_counts.get(day, 0)
    if table == "performance_metrics":
        return 2_000 if day in shared.metric_days else 0
    if table == "widget_analytics":
        usage = shared.usage
        return 5 * usage.counts[day - usage.first_day] if day in usage.widget_days() else 0
    raise KeyError(table)


def table_days(shared: Shared, table: str) -> range:
    if table == "widget_analytics":
        return shared.usage.widget_days()
    if table == "system_events":
        return range(max(0, shared.days - SYSTEM_WINDOW_DAYS), shared.days)
    if table == "error_logs":
        return range(max(0, shared.days - ERROR_WINDOW_DAYS), shared.days)
    if table == "performance_metrics":
        return range(shared.metric_days[0], shared.days) if shared.metric_days else range(0)
    return range(shared.days)


def partition_units(shared: Shared) -> list[PartitionUnit]:
    """Every partition the data needs, biggest first (so two workers finish close together)."""
    units = []
    for table, columns in COLUMNS.items():
        spec = SPECS[table]
        days = table_days(shared, table)
        if not days:
            continue
        first = datetime.fromtimestamp(shared.day_start(days[0]) / 1e6, tz=UTC)
        start = period_start(spec.period, first)
        while to_us(start) < shared.config.now_us:
            end = next_start(spec.period, start)
            lo, hi = to_us(start), to_us(end)
            estimate = sum(day_rows(shared, table, d) for d in days if lo <= shared.day_start(d) < hi)
            name = partition_name(table, spec.period, start)
            units.append(PartitionUnit(table, name, lo, hi, columns, estimate))
            start = end
    return sorted(units, key=lambda u: (-u.estimate, u.table, u.start_us))


def unit_days(shared: Shared, unit: PartitionUnit) -> list[int]:
    return [d for d in table_days(shared, unit.table) if unit.start_us <= shared.day_start(d) < unit.end_us]
