"""What erasure and export do with each table that can hold something about a person.

One ``Rule`` per (table, column naming the person). Adding a table that references a person is one
line here; ``tests/privacy/test_registry.py`` fails while a column referencing ``users`` (found in
the catalog) has no rule, or while its ``ON DELETE`` would destroy a row the rule keeps.

Actions (docs/privacy.md has the table in prose):

- ``delete``: the rows go.
- ``detach``: the column is set to NULL; the row stays without the person (someone else's record:
  "created by", "invited by", or aggregate-only technical figures).
- ``keep``: kept because the law requires it (billing records, seven years), detached from the
  person (``user_id`` NULL); the organization stays the party of the record.
- ``pseudonymise``: detached, and the person's e-mail and names replaced in the ``scrub`` columns
  (free text) of every row, not only the person's own (someone else's audit row may name them).

``match`` says which of the person's identifiers the column holds: ``user_id``, ``email``,
``distinct_id`` (analytics ids the person was seen under) or ``hash`` (their IP and fingerprint
hashes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["delete", "detach", "keep", "pseudonymise"]
Match = Literal["user_id", "email", "distinct_id", "hash"]


@dataclass(frozen=True)
class Rule:
    table: str
    column: str
    action: Action
    why: str
    match: Match = "user_id"
    where: str | None = None  # an extra condition (SQL on the table's columns)
    scrub: tuple[str, ...] = ()  # free-text columns where the person's e-mail and names are replaced
    export: bool = True  # the person's rows go into their export
    contains: bool = False  # the column holds the identifier inside a longer text (a key)
    via: str | None = None  # a SECURITY DEFINER function(text[]) doing it, where the role may not

    @property
    def step(self) -> str:
        suffix = f":{self.where}" if self.where else ""
        return f"{self.action}:{self.table}.{self.column}={self.match}{suffix}"


def _d(table: str, why: str, column: str = "user_id", **kw: object) -> Rule:
    return Rule(table, column, "delete", why, **kw)  # type: ignore[arg-type]


def _x(table: str, column: str, why: str, **kw: object) -> Rule:
    return Rule(table, column, "detach", why, export=False, **kw)  # type: ignore[arg-type]


def _k(table: str, why: str, column: str = "user_id", **kw: object) -> Rule:
    return Rule(table, column, "keep", why, **kw)  # type: ignore[arg-type]


ANALYTICS = "detailed analytics of the person: deleted (aggregates already rolled up keep their counts)"
ACCOUNT = "the person's account data"
BILLING = "billing record kept 7 years (tax law), detached from the person; the organization stays the party"

RULES: tuple[Rule, ...] = (
    # -- the account itself and what only serves it
    _d("user_profiles", ACCOUNT),
    _d("user_preferences", ACCOUNT),
    _d("user_sessions", ACCOUNT + ": sessions, device info, IP hashes"),
    _d("user_two_factor", ACCOUNT),
    _d("user_recovery_codes", ACCOUNT),
    _d("account_tokens", ACCOUNT + ": sign-in links, verification and reset tokens"),
    _d("account_tokens", "tokens sent to the person's address", column="email", match="email", export=False),
    _d("user_heartbeats", ACCOUNT),
    _d(
        "api_keys",
        ACCOUNT + ": API keys the person holds or created (they act with the person's access, which ends)",
    ),
    _d("idempotency_keys", "stored answers of the person's requests"),
    # -- trust and safety: what was about the person goes; a shared identifier stays only while
    # two or more other accounts share it (theirs too)
    _d(
        "abuse_patterns",
        "abuse patterns about the person (their evidence names the person's signals)",
        export=False,
    ),
    _x("abuse_patterns", "reviewed_by", "a pattern the person reviewed"),
    _d(
        "abuse_source_tallies",
        "counts of failed sign-ins on the person's account (the source is an IP hash)",
        export=False,
    ),
    _x("account_clusters", "reviewed_by", "a cluster the person reviewed"),
    Rule(
        "account_clusters",
        "user_ids",
        "delete",
        "the person leaves every cluster; a cluster left with fewer than two accounts goes",
        export=False,
        via="app_trust_forget",
    ),
    _x("webhook_endpoints", "created_by", "the organization's endpoint stays; who created it goes"),
    _x("integrations", "connected_by_user_id", "the organization's integration stays; who connected it goes"),
    _x(
        "integrations",
        "disconnected_by_user_id",
        "the organization's integration stays; who disconnected it goes",
    ),
    _d("notification_preferences", ACCOUNT),
    _d("notifications", "the person's inbox"),
    _x(
        "notifications",
        "actor_id",
        "someone else's notice the person caused",
        scrub=("title", "body", "data"),
    ),
    _d("email_outbox", "mail to the person"),
    _d("email_outbox", "mail to the person's address", column="recipient", match="email", export=False),
    _d("email_opt_outs", "the person's mail choices", column="email", match="email"),
    _d("billing_notices", "which billing notices were sent to the person"),
    _d("beta_whitelist", "the person's place on the beta list", column="email", match="email"),
    _x("beta_whitelist", "added_by", "an entry the person added"),
    # -- devices
    _d("dashboards", "the person's devices and their fingerprint hashes"),
    # -- memberships (sole-owned organizations are handled before, see erasure.py)
    _d("organization_members", "the person's memberships"),
    _x("organization_members", "invited_by", "a membership the person granted"),
    _d("team_members", "the person's memberships"),
    _x("team_members", "added_by", "a membership the person granted"),
    _d("workspace_members", "the person's memberships"),
    _x("workspace_members", "added_by", "a membership the person granted"),
    _d("user_roles", "the person's roles"),
    _x("user_roles", "assigned_by", "a role the person granted"),
    _d("invitations", "invitations to the person's address", column="invitee_email", match="email"),
    _x("invitations", "invited_by", "an invitation the person sent"),
    _x("invitations", "accepted_by", "an invitation the person accepted"),
    _x("organizations", "created_by", "an organization the person created"),
    _x(
        "organizations",
        "billing_email",
        "the person's address as an organization's billing address",
        match="email",
    ),
    _x("teams", "created_by", "a team the person created"),
    _x("workspaces", "created_by", "a workspace the person created"),
    _x("ingestion_keys", "created_by", "a key the person created"),
    _x("conversion_funnels", "created_by", "a funnel the person defined"),
    _x("experiments", "created_by", "an experiment the person defined"),
    _x("feature_flags", "created_by", "a flag the person defined"),
    _x("notification_broadcasts", "sent_by", "a broadcast the person sent"),
    # -- analytics
    _d("events", ANALYTICS),
    _d(
        "events",
        ANALYTICS + " (anonymous before sign-in)",
        column="distinct_id",
        match="distinct_id",
        export=False,
    ),
    _d("page_views", ANALYTICS),
    _d("page_views", ANALYTICS, column="distinct_id", match="distinct_id", export=False),
    _d("activity_events", ANALYTICS),
    _d("widget_analytics", ANALYTICS),
    _d("conversion_funnel_events", ANALYTICS),
    _d("conversion_funnel_events", ANALYTICS, column="distinct_id", match="distinct_id", export=False),
    _d("experiment_assignments", "the person's experiment variants"),
    _d("feature_usage", "the person's feature counters"),
    _d("user_engagement_daily", "the person's daily engagement figures"),
    _d("tracking_identities", "the analytics ids tied to the person"),
    _d(
        "tracking_identities",
        "the analytics ids tied to the person",
        column="distinct_id",
        match="distinct_id",
        export=False,
    ),
    _d("system_events", "the person's app events and crash reports (free text)"),
    _x("system_events", "resolved_by", "an event the person resolved"),
    _d("error_logs", "the person's error reports (free text, stack traces)"),
    _x("error_logs", "resolved_by", "an error the person resolved"),
    _x("performance_metrics", "user_id", "technical timings, anonymous once detached"),
    _d(
        "rate_limit_counters",
        "rate-limit counters keyed by the person's id (minutes-long windows)",
        column="key",
        contains=True,
        export=False,
        via="app_forget_rate_limits",
    ),
    _d(
        "rate_limit_counters",
        "rate-limit counters keyed by the person's address hash",
        column="key",
        match="hash",
        contains=True,
        export=False,
        via="app_forget_rate_limits",
    ),
    _d(
        "visitor_sessions",
        "anonymous visits from the person's address",
        column="ip_hash",
        match="hash",
        export=False,
    ),
    # -- bookings (the laundry domain): the person's addresses and loyalty go; their bookings are
    # sales records (kept, without the person); a driver's profile stays for past assignments
    _d("user_addresses", "the person's pickup and delivery addresses"),
    _d("loyalty_rewards", "the person's loyalty counts"),
    _k("bookings", "sales record kept 7 years (tax law), detached from the person; the organization stays"),
    _x(
        "delivery_drivers",
        "user_id",
        "the organization's driver profile stays for past rounds; the account goes",
    ),
    # -- billing: kept for the law, without the person
    _k("invoices", BILLING),
    _k("invoice_line_items", BILLING),
    _k("payment_transactions", BILLING),
    _k("credit_ledger", BILLING + ": the person's credit history"),
    _x("credit_ledger", "actor_id", "credit changes the person made for others (an admin's adjustment)"),
    _k("dunning_cases", BILLING + ": unpaid invoices followed"),
    _k("subscriptions", BILLING),
    _k("usage_records", BILLING),
    _k("coupon_redemptions", BILLING),
    _k("stripe_webhook_events", "Stripe's events, stored without personal data, kept 7 years (seed 001)"),
    _d("payment_methods", "the person's own saved cards", where="organization_id IS NULL"),
    _k("payment_methods", "an organization's card the person saved: the organization still pays with it"),
    # -- the audit log: kept, pseudonymised
    Rule(
        "activities",
        "actor_id",
        "pseudonymise",
        "audit trail kept (billing and security acts), the person replaced by a pseudonym",
        scrub=("entity_name", "description", "metadata"),
    ),
    _x("activities", "ip_address_hash", "the person's address in other audit rows", match="hash"),
    # -- this domain: exports go, erasure records stay (proof that the request was honoured)
    _d("privacy_requests", "the person's exports", where="kind = 'export'"),
    _x("privacy_requests", "requested_by", "a request the person made as an admin"),
    Rule(
        "privacy_requests",
        "user_id",
        "keep",
        "the erasure request itself: status and dates, the person only as a keyed hash of the id",
        where="kind = 'erasure'",
    ),
)

# The free-text columns of analytics where a person may appear under their e-mail in someone else's
# rows (a support agent's event naming a customer): scrubbed on erasure like ``scrub`` columns.
EXTRA_SCRUB: tuple[tuple[str, str], ...] = (
    ("email_outbox", "subject"),
    ("email_outbox", "context"),
    ("persons", "properties"),
)

# Where, after an erasure, a person's identifiers are allowed to remain (the proof-of-erasure test
# reads this). Empty: nothing of the person remains under their id, e-mail, names or hashes.
ALLOWED_REMAINS: frozenset[tuple[str, str]] = frozenset()


def rules_for(table: str) -> list[Rule]:
    return [rule for rule in RULES if rule.table == table]
