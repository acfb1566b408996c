"""Trust and safety tables (seeds 000/001, phase 10): ``account_clusters`` (accounts sharing an
identifier hash), ``abuse_patterns`` (a rule's finding about one account, with its confidence
and evidence) and ``abuse_rule_firings`` (how often each rule fired). Platform-wide: fraud
crosses tenants, so RLS lets only the service context (jobs, platform admins) in; the
incremental grouping writes through the SECURITY DEFINER ``app_trust_observe`` (trust/sql/)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

CLUSTER_TYPES = ("ip_hash", "device_fingerprint", "payment_method")
RISK_LEVELS = ("low", "medium", "high")
PATTERN_TYPES = ("trial_abuse", "payment_fraud", "api_abuse")
ACTIONS = (
    "flagged",
    "warned",
    "trial_blocked",
    "card_required",
    "suspended",
    "banned",
    "false_positive",
)


class AccountCluster(Base):
    __tablename__ = "account_clusters"
    __table_args__ = (
        CheckConstraint(f"cluster_type IN {CLUSTER_TYPES}", name="cluster_type_known"),
        CheckConstraint(f"risk_level IN {RISK_LEVELS}", name="risk_level_known"),
        Index("idx_account_clusters_cluster_type", "cluster_type"),
        # One row per identifier: the incremental grouping's upsert (and its concurrency) rests on it.
        Index("idx_account_clusters_identifier_hash", "identifier_hash", "cluster_type", unique=True),
        Index("idx_account_clusters_is_reviewed", "is_reviewed"),
        Index(
            "idx_account_clusters_reviewed_by",
            "reviewed_by",
            postgresql_where=text("reviewed_by IS NOT NULL"),
        ),
        Index("idx_account_clusters_user_ids", "user_ids", postgresql_using="gin"),
        # The review queue: real clusters (two accounts or more) not yet reviewed.
        Index(
            "idx_account_clusters_risk_level_open",
            "risk_level",
            "last_joined_at",
            postgresql_where=text("member_count >= 2 AND NOT is_reviewed"),
        ),
        # The every-minute assessment: clusters that grew since their risk level was computed.
        Index(
            "idx_account_clusters_last_joined_at_unassessed",
            "last_joined_at",
            postgresql_where=text("member_count >= 2 AND assessed_at IS NULL"),
        ),
        {
            "comment": "Accounts sharing one identifier hash (an IP hash, a device fingerprint hash or a "
            "card fingerprint hash; never the raw value). A row with one member is the identifier's "
            "first sighting; it is a cluster from two members on (docs/trust.md). RLS: service only."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk("Unique cluster identifier.")
    cluster_type: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="How the accounts were grouped: ip_hash, device_fingerprint or payment_method (card).",
    )
    identifier_hash: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="The shared identifier, as stored elsewhere: a keyed hash (never the raw IP, device "
        "fingerprint or card fingerprint).",
    )
    user_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)),
        nullable=False,
        server_default=text("'{}'::uuid[]"),
        comment="The accounts seen with this identifier, in the order they joined (at most 500: a "
        "larger group is a shared network and stops growing).",
    )
    member_count: Mapped[int] = mapped_column(
        Integer,
        Computed("cardinality(user_ids)", persisted=True),
        comment="How many accounts share the identifier (derived from user_ids, never written).",
    )
    cleared_user_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)),
        nullable=False,
        server_default=text("'{}'::uuid[]"),
        comment="Members a reviewer marked false positive: no longer counted for the risk level, "
        "and not flagged again for the same evidence.",
    )
    first_detected_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="When a second account joined and the identifier became a cluster (UTC); null: one "
        "account so far.",
    )
    last_joined_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=text("now()"),
        comment="When the latest account joined (UTC).",
    )
    is_shared_network: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="An IP cluster judged a shared office or NAT (too many accounts, or a reviewer said "
        "so): it never raises risk and is not queued.",
    )
    is_reviewed: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false"), comment="A platform admin reviewed it."
    )
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="The platform admin who reviewed it last.",
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When it was last reviewed (UTC)."
    )
    admin_notes: Mapped[str | None] = mapped_column(Text, comment="Reviewers' investigation notes.")
    risk_level: Mapped[str | None] = mapped_column(
        Text,
        comment="Assessed threat: low, medium or high (rules in docs/trust.md); null: not assessed yet.",
    )
    risk_reasons: Mapped[list[str]] = mapped_column(
        ARRAY(Text),
        nullable=False,
        server_default=text("'{}'::text[]"),
        comment="Why the risk level: the rules that set it, readable (e.g. '3 members took a trial').",
    )
    assessed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="When the risk level was last computed (UTC); null: it grew since (the every-minute job "
        "assesses it).",
    )
    created_at: Mapped[datetime] = created_at_column("When the identifier was first seen (UTC).")
    updated_at: Mapped[datetime] = updated_at_column()


class AbusePattern(Base):
    __tablename__ = "abuse_patterns"
    __table_args__ = (
        CheckConstraint(f"pattern_type IN {PATTERN_TYPES}", name="pattern_type_known"),
        CheckConstraint(f"action_taken IN {ACTIONS}", name="action_taken_known"),
        CheckConstraint("confidence_score BETWEEN 0 AND 1", name="confidence_score_range"),
        Index("idx_abuse_patterns_pattern_type", "pattern_type"),
        Index("idx_abuse_patterns_confidence_score", "confidence_score"),
        Index("idx_abuse_patterns_detected_at", "detected_at"),
        Index("idx_abuse_patterns_user_id", "user_id"),
        Index(
            "idx_abuse_patterns_organization_id",
            "organization_id",
            postgresql_where=text("organization_id IS NOT NULL"),
        ),
        Index("idx_abuse_patterns_cluster_id", "cluster_id", postgresql_where=text("cluster_id IS NOT NULL")),
        Index(
            "idx_abuse_patterns_reviewed_by", "reviewed_by", postgresql_where=text("reviewed_by IS NOT NULL")
        ),
        # The same evidence never flags the same account twice (a false positive stays cleared).
        Index("idx_abuse_patterns_user_id_rule_evidence_key", "user_id", "rule", "evidence_key", unique=True),
        {
            "comment": "Suspicious behaviour of one account found by a rule (docs/trust.md): confidence, "
            "evidence (hashes and ids, never raw IPs or cards), review and the action taken. RLS: "
            "service only."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk("Unique pattern identifier.")
    pattern_type: Mapped[str] = mapped_column(
        Text, nullable=False, comment="trial_abuse, payment_fraud or api_abuse."
    )
    rule: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="The rule that found it (trial_from_cluster, failing_cards, card_testing, shared_card, "
        "refund_after_credits); its thresholds are the system setting trust.rules.",
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        comment="The account exhibiting the pattern.",
    )
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        comment="The organization concerned (whose trial or payment), if the evidence names one.",
    )
    cluster_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("account_clusters.id", ondelete="SET NULL"),
        comment="The cluster the evidence comes from, if any.",
    )
    detected_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=text("now()"),
        comment="When the pattern was identified (UTC).",
    )
    confidence_score: Mapped[Decimal] = mapped_column(
        Numeric(4, 3), nullable=False, comment="How sure the rule is, 0.000 to 1.000."
    )
    evidence: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="What produced it: the signals (counts, windows, identifier hashes) and related "
        "account ids; never a raw IP, e-mail or card.",
    )
    evidence_key: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="A digest of the evidence's identity (rule inputs, not counts): the same evidence does "
        "not create a second pattern for the account.",
    )
    auto_flagged: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("true"),
        comment="Found by a rule (true) or flagged by a person (false).",
    )
    human_reviewed: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false"), comment="A platform admin reviewed it."
    )
    action_taken: Mapped[str | None] = mapped_column(
        Text,
        comment="What was done: flagged, warned, trial_blocked, card_required, suspended, banned or "
        "false_positive; null: nothing yet.",
    )
    action_automatic: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="action_taken was applied by the rule itself (its confidence was above the setting).",
    )
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="The platform admin who acted last.",
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When a person last acted on it (UTC)."
    )
    admin_notes: Mapped[str | None] = mapped_column(Text, comment="Reviewers' notes.")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class AbuseRuleFiring(Base):
    __tablename__ = "abuse_rule_firings"
    __table_args__ = (
        {"comment": "How often each abuse rule fired (a new pattern) and when last. RLS: service only."},
    )

    rule: Mapped[str] = mapped_column(
        Text, primary_key=True, comment="The rule's name (abuse_patterns.rule)."
    )
    fired_count: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("0"), comment="Patterns it created, ever."
    )
    last_fired_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When it last created a pattern (UTC)."
    )


TALLY_KINDS = ("sign_in_failed", "rate_limited", "ingest_accepted", "ingest_rejected")


class AbuseSourceTally(Base):
    """What the API-abuse rules read (trust/api_abuse.py): per source and minute, how many sign-ins
    failed, requests the rate limiter refused, and events an ingestion key sent (accepted or
    rejected). Written in batches from each process's buffer (kit/tallies.py) through the SECURITY
    DEFINER ``app_trust_tally``; kept ``trust.tallies`` retention hours (the hourly sweep purges)."""

    __tablename__ = "abuse_source_tallies"
    __table_args__ = (
        CheckConstraint(f"kind IN {TALLY_KINDS}", name="kind_known"),
        Index("idx_abuse_source_tallies_minute", "minute"),
        Index("idx_abuse_source_tallies_user_id", "user_id", postgresql_where=text("user_id IS NOT NULL")),
        {
            "comment": "Per-source, per-minute counts of failed sign-ins, rate-limit refusals and ingested "
            "events (accepted / rejected), for the API-abuse rules (docs/trust.md). Hashes and ids only, "
            "never a raw IP or e-mail. RLS: service only; written through app_trust_tally."
        },
    )

    kind: Mapped[str] = mapped_column(
        Text,
        primary_key=True,
        comment="sign_in_failed, rate_limited, ingest_accepted or ingest_rejected.",
    )
    source_hash: Mapped[str] = mapped_column(
        Text,
        primary_key=True,
        comment="Where it came from: the keyed hash of the client IP (sign_in_failed); the limiter's "
        "identity, parts joined by '/' (rate_limited: IP or e-mail hashes, user, API key or organization "
        "ids); the ingestion key's SHA-256, as in ingestion_keys.key_hash (ingest_*).",
    )
    subject: Mapped[str] = mapped_column(
        Text,
        primary_key=True,
        comment="What it was about: the keyed hash of the e-mail tried (sign_in_failed), the limit's "
        "name (rate_limited), empty for ingestion.",
    )
    minute: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), primary_key=True, comment="The minute counted (UTC, truncated)."
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        comment="The account concerned when known: the account a failed sign-in tried (null for an "
        "unknown e-mail).",
    )
    count: Mapped[int] = mapped_column(BigInteger, nullable=False, comment="How many in that minute.")
