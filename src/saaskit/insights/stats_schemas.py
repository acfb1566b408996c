"""The answer of ``GET /api/admin/stats``: seed 002's keys (camelCase, as the seed names them),
then saaskit's consistent partition beside them. Definitions: docs/statistics.md."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DayLogins(BaseModel):
    date: str = Field(description="Local day (ISO date) in the requested time zone.")
    logins: int
    signups: int


class MonthLogins(BaseModel):
    month: str = Field(description="Local month, YYYY-MM.")
    logins: int


class DayActivity(BaseModel):
    date: str = Field(description="Local day (ISO date) in the requested time zone.")
    logins: int
    appOpens: int
    actions: int


class PlanCount(BaseModel):
    plan: str
    count: int


class PlanPercentage(BaseModel):
    plan: str
    percentage: float = Field(description="Share of active subscriptions, one decimal.")


class UsersStatusPercentage(BaseModel):
    active: float = Field(description="activeUsersNow / totalUsers x 100, one decimal.")
    expired: float = Field(description="expiredUsers / totalUsers x 100, one decimal.")
    inactive: float = Field(description="inactiveUsers / totalUsers x 100, one decimal.")


class UsersPartition(BaseModel):
    active: int = Field(description="Users (not deleted) with a heartbeat within the presence window.")
    lapsed: int = Field(description="Not active now; no live subscription of their own, and an ended one.")
    idle: int = Field(description="Everyone else: totalUsers - active - lapsed.")


class UsersPartitionPercentage(BaseModel):
    active: float
    lapsed: float
    idle: float


class Stats(BaseModel):
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
