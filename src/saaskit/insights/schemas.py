"""Answers of the insights API (``/api/insights/*``): KPIs, daily metrics, geographic figures,
retention, and of ``GET /api/admin/stats``. Definitions in docs/statistics.md.

The KPIs, daily metrics and geographic figures are validated from the services' plain dicts
(the admin pages read those dicts too): the models declare every key (``Answer`` refuses any
other) and use strict numbers, so an answer is never reshaped on its way out (no int turned into
a float, no key added or dropped). Retention is built as the model by its service.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictFloat, StrictInt

from saaskit.kit.schemas import Answer, IsoDateTime

Period = Literal["day", "week", "month"]
RetentionMode = Literal["first_time", "recurring"]

PERCENT = "in percent, one decimal (rounded half up)"


# -- booking revenue (bookings/revenue.py; beside the seeds' figures, never inside them) --------
class ServiceBookingRevenue(Answer):
    serviceId: str = Field(description="The service (a booking counts whole on its main service).")
    service: str = Field(description="The service's name.")
    grossCents: StrictInt = Field(description="Bookings paid in the window, in cents.")
    refundedCents: StrictInt = Field(description="Bookings refunded in the window, in cents.")
    netCents: StrictInt = Field(description="grossCents - refundedCents.")


class BookingRevenue(Answer):
    """Laundry bookings' money (docs/bookings.md): paid bookings, refunds subtracted."""

    grossCents: StrictInt = Field(description="total_amount of the bookings paid in the window.")
    refundedCents: StrictInt = Field(description="total_amount of the bookings refunded in the window.")
    netCents: StrictInt = Field(description="grossCents - refundedCents.")
    paidBookings: StrictInt = Field(description="Bookings paid in the window.")
    refundedBookings: StrictInt = Field(description="Bookings refunded in the window.")
    byService: list[ServiceBookingRevenue] = Field(description="Per main service, highest net first.")


class RevenueBySource(Answer):
    subscriptionMrrCents: StrictInt = Field(description="Subscriptions: the MRR now (mrrCents).")
    bookingsLast30DaysCents: StrictInt = Field(
        description="Laundry bookings: net booking revenue of the last 30 days (bookingRevenue.netCents).",
    )


# -- KPIs ----------------------------------------------------------------------------------------
class Kpis(Answer):
    """``GET /api/insights/kpis``: the platform's or one organization's figures. Active users
    come from the daily rollups, money from the subscriptions over the last 30 days."""

    # Titles from the Python names ("Mrr Cents"), not from the camelCase keys ("Mrrcents").
    model_config = ConfigDict(field_title_generator=lambda name, _: name.replace("_", " ").title())

    as_of: dt.date | None = Field(
        alias="asOf",
        description="The latest rolled-up UTC day, which dau, wau and mau are for; null before "
        "any day is rolled up (the three are then 0).",
    )
    dau: StrictInt = Field(description="People with an activity event on asOf (daily active users).")
    wau: StrictInt = Field(description="People with an activity event in the 7 days ending asOf.")
    mau: StrictInt = Field(description="People with an activity event in the 30 days ending asOf.")
    stickiness: StrictFloat | None = Field(
        description=f"Mean DAU over the 30 days ending asOf divided by the MAU, {PERCENT}; null "
        "when the MAU is 0."
    )
    mrr_cents: StrictInt = Field(
        alias="mrrCents",
        description="Monthly recurring revenue now, in cents: the monthly price (yearly / 12) "
        "times the quantity of every subscription paying now.",
    )
    mrr_thirty_days_ago_cents: StrictInt = Field(
        alias="mrrThirtyDaysAgoCents", description="The MRR 30 days ago, in cents."
    )
    mrr_growth_rate: StrictFloat | None = Field(
        alias="mrrGrowthRate",
        description=f"Change of the MRR over the last 30 days, of mrrThirtyDaysAgoCents, {PERCENT}; "
        "null when that was 0.",
    )
    paying_accounts: StrictInt = Field(
        alias="payingAccounts", description="Users and organizations with a subscription paying now."
    )
    arpu_cents: StrictInt | None = Field(
        alias="arpuCents",
        description="MRR per paying account, in cents (rounded); null without paying accounts.",
    )
    trials_ended: StrictInt = Field(
        alias="trialsEnded", description="Subscriptions whose trial ended in the last 30 days."
    )
    trial_to_paid_conversion: StrictFloat | None = Field(
        alias="trialToPaidConversion",
        description=f"Of trialsEnded, those with a paid invoice at or after the trial's end, {PERCENT}; "
        "null when no trial ended.",
    )
    churn_rate: StrictFloat | None = Field(
        alias="churnRate",
        description="Of the subscriptions paying 30 days ago, those not paying now, "
        f"{PERCENT}; null when none was paying.",
    )
    ltv_cents: StrictInt | None = Field(
        alias="ltvCents",
        description="Lifetime value estimate: arpuCents / churnRate (as a fraction), in cents "
        "(rounded); null without ARPU or without churn.",
    )
    booking_revenue: BookingRevenue = Field(
        alias="bookingRevenue",
        description="Laundry bookings over the last 30 days: paid, refunds subtracted (not in seed 003; "
        "not part of MRR, ARPU or LTV).",
    )
    revenue_by_source: RevenueBySource = Field(
        alias="revenueBySource",
        description="The money beside each other: subscriptions' MRR now and the bookings' net revenue "
        "of the last 30 days (not in seed 003).",
    )


# -- daily metrics -------------------------------------------------------------------------------
class PlatformDay(Answer):
    """One UTC day of ``daily_metrics``; a day not rolled up (yet) has zeros and a null average."""

    date: dt.date = Field(description="The UTC day.")
    new_signups: StrictInt = Field(description="Accounts created that day.")
    returning_users: StrictInt = Field(
        description="Users with an activity event that day who signed up on an earlier day."
    )
    active_users: StrictInt = Field(description="Users with an activity event that day (DAU).")
    weekly_active_users: StrictInt = Field(
        description="Users with an activity event in the 7 days ending that day (WAU)."
    )
    monthly_active_users: StrictInt = Field(
        description="Users with an activity event in the 30 days ending that day (MAU)."
    )
    active_dashboards: StrictInt = Field(
        description="Dashboards (devices) with a usage session running at some point that day."
    )
    total_sessions: StrictInt = Field(description="Usage sessions started that day.")
    avg_session_minutes: StrictFloat | None = Field(
        description="Mean length in minutes (2 decimals) of the usage sessions started that day "
        "and ended; null when there is none, or the day is not rolled up."
    )
    trial_to_paid_conversions: StrictInt = Field(
        description="Subscriptions whose trial ended that day and that were paid for afterwards."
    )


class OrganizationDay(Answer):
    """One UTC day of ``organization_metrics_daily``; zeros for a day not rolled up (yet)."""

    date: dt.date = Field(description="The UTC day.")
    active_users: StrictInt = Field(description="Members with an activity event that day.")
    weekly_active_users: StrictInt = Field(
        description="Members with an activity event in the 7 days ending that day."
    )
    monthly_active_users: StrictInt = Field(
        description="Members with an activity event in the 30 days ending that day."
    )
    new_users: StrictInt = Field(description="Members who joined that day.")
    revenue_generated: StrictInt = Field(
        description="Paid on the organization's invoices that day, in cents (amount_paid_cents)."
    )
    api_calls: StrictInt = Field(
        description="Analytics rows of the organization dated that day (events and page views)."
    )


class DailyMetrics(Answer):
    """``GET /api/insights/daily-metrics``: one row per day from ``from`` to ``to``, oldest first."""

    days: list[PlatformDay] | list[OrganizationDay] = Field(
        description="The platform's days (PlatformDay), or with ?organization_id= the "
        "organization's (OrganizationDay)."
    )


# -- geographic ----------------------------------------------------------------------------------
class CountryFigures(Answer):
    """One row of the ``geographic_stats`` view (refreshed nightly)."""

    country_code: str = Field(description="ISO 3166-1 alpha-2 country; ZZ when unknown.")
    total_users: StrictInt = Field(description="Accounts (not deleted) from the country.")
    active_users_30d: StrictInt = Field(description="Of them, seen in the last 30 days.")
    trial_users: StrictInt = Field(description="Of them, on a live trial and not paying.")
    paid_users: StrictInt = Field(description="Of them, with a live active or past_due subscription.")
    avg_session_duration_minutes: StrictFloat | None = Field(
        description="Mean length in minutes (2 decimals) of their usage sessions started in the "
        "last 30 days and ended; null when there is none."
    )
    last_updated: IsoDateTime = Field(
        description="When the view was refreshed (ISO 8601, with the UTC offset)."
    )


class Geographic(Answer):
    """``GET /api/insights/geographic`` (platform-wide only)."""

    countries: list[CountryFigures] = Field(
        description="Every country with accounts, most users first (then by country code)."
    )


# -- retention -----------------------------------------------------------------------------------
class RetentionCohort(Answer):
    """The people who entered in one period, and how many came back in each later period."""

    model_config = ConfigDict(frozen=True)

    cohort: dt.date = Field(description="First day of the cohort's period (in tz).")
    size: StrictInt = Field(description="People in the cohort.")
    values: list[StrictInt | None] = Field(
        description="values[k], k = 0..periods: the cohort's people who did the return_event in "
        "period cohort + k (k = 0 is the cohort's own period); null while that period has not begun."
    )
    percentages: list[StrictFloat | None] = Field(
        description=f"values[k] of size, {PERCENT}; null while the period has not begun, or when the "
        "cohort is empty."
    )


class Retention(Answer):
    """``GET /api/insights/retention``: cohorts by their start event, oldest first. The range
    [from, to) is widened to whole periods; every period it touches is a cohort, empty ones too."""

    model_config = ConfigDict(frozen=True)

    start_event: str = Field(description="The event that puts a person in a cohort.")
    return_event: str = Field(description="The event counted as coming back.")
    period: Period = Field(description="day, week (ISO, from Monday) or month, in tz.")
    mode: RetentionMode = Field(
        description="first_time: a person's cohort is the period of their first start_event ever; "
        "recurring: every period of the range in which they did it."
    )
    periods: int = Field(description="Periods counted after each cohort's own: values has periods + 1.")
    start: dt.date = Field(serialization_alias="from", description="The first day asked for (in tz).")
    end: dt.date = Field(serialization_alias="to", description="The day after the last one asked for.")
    tz: str = Field(description="The IANA time zone of the days and periods.")
    cohorts: list[RetentionCohort] = Field(description="One per period touched by the range, oldest first.")

    def as_json(self) -> dict[str, Any]:
        """The answer as plain JSON values, keys as sent (``from``, ``to``)."""
        return self.model_dump(mode="json", by_alias=True)


# -- GET /api/admin/stats: seed 002's keys (camelCase, as the seed names them), then saaskit's
# consistent partition beside them. Definitions: docs/statistics.md.


class DayLogins(Answer):
    date: str = Field(description="Local day (ISO date) in the requested time zone.")
    logins: int
    signups: int


class MonthLogins(Answer):
    month: str = Field(description="Local month, YYYY-MM.")
    logins: int


class DayActivity(Answer):
    date: str = Field(description="Local day (ISO date) in the requested time zone.")
    logins: int
    appOpens: int
    actions: int


class PlanCount(Answer):
    plan: str
    count: int


class PlanPercentage(Answer):
    plan: str
    percentage: float = Field(description="Share of active subscriptions, one decimal.")


class UsersStatusPercentage(Answer):
    active: float = Field(description="activeUsersNow / totalUsers x 100, one decimal.")
    expired: float = Field(description="expiredUsers / totalUsers x 100, one decimal.")
    inactive: float = Field(description="inactiveUsers / totalUsers x 100, one decimal.")


class UsersPartition(Answer):
    active: int = Field(description="Users (not deleted) with a heartbeat within the presence window.")
    lapsed: int = Field(description="Not active now; no live subscription of their own, and an ended one.")
    idle: int = Field(description="Everyone else: totalUsers - active - lapsed.")


class UsersPartitionPercentage(Answer):
    active: float
    lapsed: float
    idle: float


class Stats(Answer):
    totalUsers: int = Field(description="Accounts, not soft-deleted (seed 002).")
    activeUsersNow: int = Field(description="Users with a heartbeat within the presence window (seed 002).")
    expiredUsers: int = Field(
        description="Users with a subscription of their own whose status is expired or whose end has "
        "passed (seed 002: status = 'expired' or ends_at < now()); they may also be active now."
    )
    inactiveUsers: int = Field(description="Users not active now and not expired (seed 002).")
    activeSubscriptions: int = Field(description="status = 'active' and ends_at > now() (seed 002).")
    expiredSubscriptions: int = Field(
        description="status = 'expired' or ends_at <= now() (seed 002): ended cancelled ones too."
    )
    cancelledSubscriptions: int = Field(description="status = 'cancelled' (seed 002).")
    totalVisitors: int = Field(description="Visitor sessions (seed 002).")
    visitorsNow: int = Field(description="Visitor sessions seen within the presence window.")
    visitorsToday: int = Field(description="Visitor sessions seen since today's midnight in the time zone.")
    activityByDay: list[DayLogins] = Field(description="The last 7 days, oldest first.")
    monthlyLogins: list[MonthLogins] = Field(description="The last 6 months, oldest first.")
    dailyActivity: list[DayActivity] = Field(description="The last 7 days, oldest first.")
    planDistribution: list[PlanCount] = Field(description="Active subscriptions per plan, largest first.")
    plansPercentage: list[PlanPercentage]
    usersStatusPercentage: UsersStatusPercentage = Field(
        description="Each of the three seed groups over totalUsers, rounded on its own: the groups "
        "overlap (an expired user may be active now), so the three need not sum to 100."
    )
    usersPartition: UsersPartition = Field(
        description="saaskit's partition of totalUsers into disjoint groups (not in seed 002)."
    )
    usersPartitionPercentage: UsersPartitionPercentage = Field(
        description="The partition as percentages that sum to exactly 100.0 (largest remainder)."
    )
    subscriptionsByState: dict[str, int] = Field(
        description="Every subscription counted once by its state now: its status, except that an "
        "entitled one (trialing, active, past_due) whose end has passed is expired (not in seed 002)."
    )
    bookingRevenue: BookingRevenue = Field(
        description="Laundry bookings since the beginning: paid, refunds subtracted (not in seed 002)."
    )
