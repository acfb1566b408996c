"""Settings, one section per concern, read from the environment (prefix ``SAASKIT_``).

Each section is its own ``BaseSettings`` with its own prefix so that the variable names stay
flat and readable (``SAASKIT_DATABASE_URL``, ``SAASKIT_STRIPE_API_KEY``) rather than
``SAASKIT_DATABASE__URL``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from limits import parse_many
from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAASKIT_DATABASE_", extra="ignore")

    url: str | None = Field(
        default=None,
        description="Owner connection URL of an external PostgreSQL (>= 15). Unset: the embedded server.",
    )
    app_url: str | None = Field(
        default=None,
        description="Connection URL for the application role. Unset: derived from `url` and `app_role`.",
    )
    app_role: str = Field(default="saaskit_app", description="Name of the non-owner role the service uses.")
    pool_size: int = Field(default=10, ge=1, le=200)
    max_overflow: int = Field(default=10, ge=0, le=200)
    connect_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How long opening a database connection may take (libpq rounds up to whole "
        "seconds, at least 2); a request that cannot get one in time is answered 503.",
    )
    pool_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How long a request waits for a free pooled connection before it is answered 503.",
    )
    replica_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated URLs of streaming read replicas for analytics reads (kit/replicas.py). "
        "Reached as the application role: its credentials replace the URL's unless `app_url` is set.",
    )
    replica_max_lag_seconds: float = Field(
        default=10.0,
        ge=0,
        le=86400,
        description="A replica further behind the primary than this is skipped; analytics read the primary.",
    )
    replica_retry_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="How long a replica that could not be reached is left alone before it is tried again.",
    )
    wal_archive: bool = Field(
        default=True,
        description="Embedded server only: archive WAL into <data_dir>/wal-archive for point-in-time "
        "recovery (system/pitr.py). An external server's archiving is its operator's (docs/operations.md).",
    )
    base_backup_keep: int = Field(
        default=7,
        ge=1,
        le=365,
        description="Embedded server with WAL archiving: the daily base backups kept (in <data_dir>/"
        "base-backups), and the archived WAL they need; older ones are removed.",
    )

    @field_validator("replica_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class HttpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAASKIT_HTTP_", extra="ignore")

    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Largest accepted request body.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="IPs/CIDRs whose X-Forwarded-For and country headers are believed.",
    )
    country_header: str = Field(default="CF-IPCountry", description="Header carrying the client's country.")
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="A request body must have arrived whole this long after its headers; a client "
        "still sending then is answered 408 and disconnected.",
    )
    shutdown_timeout_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="On SIGTERM / Ctrl-C, how long requests in flight may take to finish before "
        "they are cancelled.",
    )


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAASKIT_AUTH_", extra="ignore")

    session_ttl_hours: int = Field(
        default=24 * 30, ge=1, description="Absolute lifetime of a session, however much it is used."
    )
    session_idle_minutes: int = Field(
        default=7 * 24 * 60,
        ge=0,
        description="A session unused this long dies (its last use is kept to the minute, so it dies "
        "between idle-1 and idle minutes after it). 0: no idle expiry. Applies to sessions opened "
        "after it is set (each session keeps the value it was opened with).",
    )
    min_password_length: int = Field(default=10, ge=8)
    min_password_score: int = Field(
        default=3,
        ge=0,
        le=4,
        description="Lowest zxcvbn strength score (0-4) a new password must reach; the common-password "
        "list and the user's own e-mail and name are refused whatever the score (docs/accounts.md).",
    )
    totp_issuer: str | None = Field(
        default=None, description="Issuer shown by authenticator apps. Unset: the product's name."
    )
    lockout_threshold: int = Field(
        default=10,
        ge=1,
        description="Failed sign-ins on one account from one source (client IP) within lockout_minutes "
        "after which that source may not try that account again for a while; other sources still can.",
    )
    lockout_minutes: int = Field(default=15, ge=1, description="The lockout's sliding window.")
    # Account recovery and e-mail verification (docs/accounts.md).
    unverified_access: Literal["full", "read_only", "none"] = Field(
        default="full",
        description="What a signed-in account whose e-mail is not verified may do: full (everything), "
        "read_only (GET only, plus getting verified and managing its sign-in), none (only that).",
    )
    password_reset_ttl_minutes: int = Field(
        default=60, ge=5, le=24 * 60, description="How long a password-reset link works."
    )
    email_verification_ttl_hours: int = Field(
        default=48, ge=1, le=30 * 24, description="How long an e-mail confirmation link works."
    )
    cookie_name: str = "saaskit_session"
    cookie_secure: bool = Field(default=False, description="Set the Secure flag (enable behind HTTPS).")
    # argon2id parameters; the defaults are argon2-cffi's RFC 9106 "low memory" profile.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    hash_concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Password hashes computed at once per process (each takes argon2_memory_cost_kib "
        "and argon2_parallelism threads); more wait, holding no database connection.",
    )

    @field_validator("session_idle_minutes")
    @classmethod
    def _idle_off_or_two_minutes(cls, value: int) -> int:
        # A session's last use is written at most once a minute: one minute would end live ones.
        if value == 1:
            raise ValueError("0 (no idle expiry) or at least 2 minutes")
        return value


class RateLimitSettings(BaseSettings):
    """Rate limits (kit/ratelimit.py, docs/limits.md), in the `limits` notation: ``N/second``,
    ``N/minute``, ``N per 15 minutes``, several joined by ``;`` (each must hold)."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_RATE_LIMIT_", extra="ignore")

    enabled: bool = Field(default=True, description="Off: no request is ever refused for its rate.")
    sync_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often a process writes the hot paths' counts (capture, track-visit) and reads "
        "the other processes'; between two, it decides alone.",
    )
    sign_in_per_ip: str = Field(
        default="30/minute;300/hour", description="Sign-in attempts from one client IP, all accounts."
    )
    sign_in_per_account: str = Field(
        default="100/hour",
        description="Sign-in attempts on one account from client IPs it has never signed in from.",
    )
    sign_up_per_ip: str = Field(default="20/hour", description="Sign-ups from one client IP.")
    sign_up_per_email: str = Field(default="5/hour", description="Sign-up attempts for one e-mail address.")
    password_change_per_ip: str = Field(default="30/hour", description="Password changes from one client IP.")
    password_change_per_user: str = Field(default="10/hour", description="Password changes by one user.")
    password_reset_per_ip: str = Field(
        default="20/hour", description="Password-reset requests from one client IP."
    )
    password_reset_per_email: str = Field(
        default="5/hour", description="Password-reset requests for one e-mail address (account or not)."
    )
    account_link_per_ip: str = Field(
        default="60/hour",
        description="Password-reset and e-mail confirmations (the links' tokens) from one client IP.",
    )
    email_verification_per_ip: str = Field(
        default="30/hour", description="Resent e-mail verification links from one client IP."
    )
    email_verification_per_user: str = Field(
        default="5/hour", description="Resent e-mail verification links for one user."
    )
    email_change_per_ip: str = Field(
        default="30/hour", description="E-mail change requests from one client IP."
    )
    email_change_per_user: str = Field(default="5/hour", description="E-mail change requests by one user.")
    invitations_per_ip: str = Field(
        default="300/hour", description="Invitations created or resent from one client IP."
    )
    invitations_per_user: str = Field(
        default="200/hour", description="Invitations created or resent by one user."
    )
    invitation_resends_per_invitation: str = Field(
        default="3/hour;10/day",
        description="Resends of one invitation (each mails the invitee again), whoever asks.",
    )
    invitation_answers_per_ip: str = Field(
        default="60/hour", description="Invitations accepted or declined from one client IP."
    )
    invitation_answers_per_user: str = Field(
        default="30/hour", description="Invitations accepted or declined by one user."
    )
    capture_per_ip: str = Field(
        default="100000/minute",
        description="Ingestion requests (PostHog capture, /api/events*) from one client IP.",
    )
    api_key: str = Field(
        default="600/minute",
        description="Requests with one API key, unless the key sets its own rate_limit_per_minute.",
    )
    capture_per_key: str = Field(
        default="200000/minute",
        description="Ingestion requests per ingestion key, or per signed-in user.",
    )
    track_visit_per_ip: str = Field(
        default="600/minute", description="POST /api/track-visit from one client IP."
    )
    track_visit_per_key: str = Field(
        default="100000/minute", description="POST /api/track-visit per ingestion key."
    )

    two_factor_per_user: str = Field(
        default="5/minute;30/hour",
        description="Two-factor codes (sign-in second step, confirm, disable) tried by one account.",
    )
    two_factor_per_ip: str = Field(
        default="60/hour", description="Two-factor codes tried from one client IP, all accounts."
    )
    oidc_start_per_ip: str = Field(
        default="60/minute;600/hour",
        description="Sign-ins (and integration connections) started with a provider from one client IP.",
    )

    @field_validator("*")
    @classmethod
    def _parses(cls, value: object) -> object:
        if isinstance(value, str):
            parse_many(value)  # ValueError: the setting is refused at start-up, naming the field
        return value


class OidcProviderSettings(BaseModel):
    """One sign-in provider (docs/integrations.md, "Sign-in with OpenID Connect"): an OpenID
    Connect issuer found by discovery, or a preset (``google``, ``github``) that fills the rest."""

    model_config = {"extra": "forbid"}

    preset: Literal["google", "github"] | None = Field(
        default=None, description="google (OpenID Connect) or github (OAuth 2, e-mail from /user/emails)."
    )
    display_name: str | None = Field(default=None, max_length=100, description="Shown on buttons.")
    issuer: str | None = Field(
        default=None,
        description="OpenID Connect issuer; its /.well-known/openid-configuration is read. "
        "Required unless a preset gives it.",
    )
    client_id: str = Field(min_length=1, max_length=500)
    client_secret: SecretStr
    scopes: list[str] | None = Field(
        default=None, description="Scopes asked at sign-in. Unset: openid email profile (the preset's)."
    )
    integration_scopes: list[str] = Field(
        default_factory=list,
        description="Extra scopes asked when an organization connects this provider as an integration "
        "(offline_access for a refresh token at most OpenID providers).",
    )
    allow_sign_up: bool = Field(default=True, description="Create an account for a new, verified e-mail.")


class OidcSettings(BaseSettings):
    """Sign-in with OpenID Connect / OAuth providers and their tokens (docs/integrations.md)."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_OIDC_", extra="ignore")

    providers: dict[str, OidcProviderSettings] = Field(
        default_factory=dict,
        description='JSON: {"name": {"preset": "google", "client_id": ..., "client_secret": ...}, '
        '"corp": {"issuer": "https://id.corp.example", ...}}. The name is the path segment of '
        "/api/auth/oidc/{name}/start.",
    )
    state_ttl_seconds: int = Field(
        default=600, ge=60, le=3600, description="How long a started sign-in may take at the provider."
    )
    http_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="Timeout of each call to a provider (discovery, token, keys)."
    )
    clock_skew_seconds: int = Field(
        default=60, ge=0, le=600, description="Leeway for the ID token's exp/iat against our clock."
    )
    metadata_cache_seconds: int = Field(
        default=3600, ge=0, description="How long a provider's discovery document and keys are kept."
    )

    @field_validator("providers")
    @classmethod
    def _names_and_issuers(cls, value: dict[str, OidcProviderSettings]) -> dict[str, OidcProviderSettings]:
        for name, provider in value.items():
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", name):
                raise ValueError(f"provider name {name!r}: lower-case letters, digits, _ and - (max 40)")
            if provider.preset is None and not provider.issuer:
                raise ValueError(f"provider {name!r}: an issuer (or a preset) is required")
        return value


class JobSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAASKIT_JOBS_", extra="ignore")

    worker_concurrency: int = Field(default=4, ge=1, le=64)
    run_in_serve: bool = Field(default=True, description="Run the job worker inside `saaskit serve`.")
    session_retention_days: int = Field(default=90, ge=1, description="Ended sessions are kept this long.")
    shutdown_timeout_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="On SIGTERM / Ctrl-C, how long running jobs may take to finish; jobs still "
        "running then are aborted and retried later.",
    )


class TrackingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAASKIT_TRACKING_", extra="ignore")

    max_decompressed_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Largest capture payload after decompression."
    )
    max_events_per_request: int = Field(
        default=5000, ge=1, description="Most events one PostHog capture request may carry (413 above)."
    )
    latency_flush_seconds: float = Field(
        default=60.0, gt=0, description="How often request latency is written."
    )
    group_commit: bool = Field(
        default=True, description="Write concurrent ingestion requests in one transaction."
    )
    group_commit_writers: int = Field(
        default=2, ge=1, le=16, description="Transactions in flight per process."
    )
    group_commit_pipeline: bool = Field(
        default=True,
        description="Send each group commit's statements in psycopg pipeline mode (two round trips).",
    )


class CacheSettings(BaseSettings):
    """Caches of hot reads (docs/operations.md, "Caching"): in-process by default, Redis when a
    URL is set (then shared by every API process, and invalidated for all of them at once)."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_CACHE_", extra="ignore")

    redis_url: str | None = Field(
        default=None, description="redis://host:port/db; unset: each process caches in its own memory."
    )
    flags_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long /flags and /decide reuse an organization's flag definitions (0: off). "
        "A change is seen at once by the process that made it (and by all with Redis); by the "
        "others within this time.",
    )


class PresenceSettings(BaseSettings):
    """Devices and presence (issue 4): when silence means offline, and how uptime is credited."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_PRESENCE_", extra="ignore")

    offline_after_seconds: int = Field(
        default=300,
        ge=30,
        description="Silence after which a dashboard is offline, a user not currently active, "
        "and neither counts as present 'now'.",
    )
    uptime_max_gap_seconds: int = Field(
        default=120,
        ge=1,
        description="A gap between two heartbeats of a dashboard longer than this earns no uptime "
        "(the device slept or lost its network); shorter gaps are credited in full.",
    )
    session_idle_minutes: int = Field(
        default=30,
        ge=1,
        description="A usage session whose device has been silent this long is ended by the job.",
    )


class StripeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAASKIT_STRIPE_", extra="ignore")

    api_key: str | None = Field(default=None, description="Secret API key (sk_live_... / sk_test_...).")
    webhook_secret: str | None = Field(
        default=None, description="Signing secret of the webhook endpoint (whsec_...)."
    )
    api_base: str | None = Field(default=None, description="Override of Stripe's API address (tests).")
    legacy_plans: bool = Field(
        default=False,
        description="The server has no Prices API (localstripe): sync plans as Plans, subscribe with plan "
        "items, and leave coupon discounts to saaskit's records.",
    )
    currency: str = Field(default="usd", description="Currency of credit top-ups.")
    webhook_max_attempts: int = Field(default=6, ge=1, le=20, description="Processing attempts per event.")
    webhook_retry_base_seconds: float = Field(
        default=10.0, gt=0, description="First retry delay; each next one is 4 times longer."
    )
    topup_max_failures: int = Field(
        default=3, ge=1, description="Consecutive failed auto top-ups after which auto top-up is turned off."
    )


class ProductSettings(BaseSettings):
    """Who is speaking to the product's users: the name, addresses and links mails carry."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_PRODUCT_", extra="ignore")

    name: str = Field(default="saaskit", min_length=1, max_length=100, description="The product's name.")
    url: str = Field(
        default="http://127.0.0.1:8000",
        description="The product's web address: links in mails (reset, verification, invitation) "
        "start with it.",
    )
    api_url: str | None = Field(
        default=None,
        description="Where saaskit's API answers publicly (the one-click unsubscribe link). "
        "Unset: the product's address.",
    )
    support_email: str | None = Field(
        default=None, description="Where users write for help; shown in every mail, and its Reply-To."
    )

    @property
    def public_api_url(self) -> str:
        return (self.api_url or self.url).rstrip("/")


class MailSettings(BaseSettings):
    """Outgoing mail (docs/mail.md). No SMTP host: every message is held in the outbox."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_MAIL_", extra="ignore", populate_by_name=True)

    smtp_host: str | None = Field(
        default=None, description="SMTP server (relay or provider). Unset: mail is held, never sent."
    )
    smtp_port: int | None = Field(
        default=None, ge=1, le=65535, description="Unset: 587 for starttls, 465 for tls, 25 for none."
    )
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls (upgrade required), tls (implicit TLS, port 465) or none (plain, for a "
        "relay on the same host or network).",
    )
    smtp_username: str | None = Field(default=None, description="SMTP AUTH user; unset: no AUTH.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP AUTH password.")
    smtp_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Connect and per-command timeout."
    )
    smtp_ca_file: Path | None = Field(
        default=None, description="Extra CA certificates (PEM) to trust, for a relay with a private CA."
    )
    from_address: str = Field(
        default="saaskit <no-reply@localhost>",
        validation_alias="SAASKIT_MAIL_FROM",
        description="The From header, e.g. 'Acme <no-reply@acme.example>'.",
    )
    max_attempts: int = Field(default=6, ge=1, le=20, description="Delivery attempts per message.")
    retry_base_seconds: float = Field(
        default=60.0, gt=0, description="Delay after the first failed attempt; each next is 4 times longer."
    )
    sending_timeout_seconds: int = Field(
        default=600,
        ge=30,
        description="A message claimed by a worker that has not finished after this long is tried "
        "again (the worker died mid-send).",
    )
    retention_days: int = Field(
        default=90, ge=1, description="Sent and discarded messages are deleted after this many days."
    )

    @property
    def is_configured(self) -> bool:
        return bool(self.smtp_host)

    @property
    def port(self) -> int:
        if self.smtp_port:
            return self.smtp_port
        return {"starttls": 587, "tls": 465, "none": 25}[self.smtp_security]


class NotificationSettings(BaseSettings):
    """In-app notifications (docs/notifications.md)."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_NOTIFICATIONS_", extra="ignore")

    retention_days: int = Field(
        default=180, ge=1, description="Notifications (read or not) are deleted after this many days."
    )


class BillingNoticeSettings(BaseSettings):
    """Billing notices (docs/notifications.md): when reminders go out, and where they point."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_BILLING_NOTICES_", extra="ignore")

    credits_low_threshold_cents: int = Field(
        default=500,
        ge=0,
        description="A spend that takes the credit balance from at least this to below it sends "
        "'credits low' (0: never).",
    )
    card_expiring_days: int = Field(
        default=30, ge=1, le=365, description="Cards expiring within this many days are reminded of, once."
    )
    trial_ending_days: int = Field(
        default=3,
        ge=1,
        le=30,
        description="The daily job reminds of trials ending within this many days (when Stripe's "
        "customer.subscription.trial_will_end did not already).",
    )
    manage_path: str = Field(
        default="/billing",
        description="The product's billing page, after SAASKIT_PRODUCT_URL: notices link to it.",
    )


class DunningSettings(BaseSettings):
    """Failed subscription payments (docs/billing.md, dunning): how long, and then what."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_DUNNING_", extra="ignore")

    grace_days: int = Field(
        default=14,
        ge=0,
        le=90,
        description="Days after the first failed payment of an invoice before the action is taken "
        "(Stripe keeps retrying meanwhile; paying at any time ends the case).",
    )
    action: Literal["downgrade", "suspend", "none"] = Field(
        default="downgrade",
        description="After the grace period: downgrade (cancel the subscription at Stripe: the owner "
        "falls to the free tier), suspend (the paying user's account is suspended, an organization "
        "archived, read-only) or none (notices only).",
    )
    warn_days: int = Field(
        default=3, ge=0, le=30, description="The 'payment overdue' notice goes out this many days before."
    )


class InvitationSettings(BaseSettings):
    """Invitations by e-mail (docs/permissions.md, "Invitations")."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_INVITATIONS_", extra="ignore")

    expiry_hours: int = Field(
        default=168,
        ge=1,
        le=24 * 30,
        description="How long an invitation link works when the inviter does not say (and after a resend).",
    )
    accept_path: str = Field(
        default="/invitations/accept",
        description="The product's page that accepts an invitation: the mail links to "
        "SAASKIT_PRODUCT_URL + this + ?token=...",
    )


class PrivacySettings(BaseSettings):
    """Export, erasure and the retention schedule (docs/privacy.md)."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_PRIVACY_", extra="ignore")

    erasure_grace_days: int = Field(
        default=14,
        ge=0,
        le=90,
        description="Days between a user's deletion request and the erasure; signing in or "
        "DELETE /api/me/deletion cancels it meanwhile.",
    )
    export_link_minutes: int = Field(
        default=60, ge=1, le=24 * 60, description="How long a one-time export download link works."
    )
    export_keep_days: int = Field(
        default=7, ge=1, le=90, description="Days a finished export archive is kept before it is deleted."
    )
    detail_months: int = Field(
        default=6,
        ge=1,
        le=120,
        description="Months of full detail in events, page_views and activity_events (seed 003); "
        "older months go once their monthly rollups exist.",
    )
    stripe_events_years: int = Field(
        default=7, ge=1, le=30, description="Years stripe_webhook_events are kept (seed 001: legal)."
    )
    activities_years: int = Field(
        default=7,
        ge=1,
        le=30,
        description="Years the audit log (activities) is kept: it records billing acts.",
    )

    @property
    def partition_retention_days(self) -> dict[str, int]:
        """Retention of the time-partitioned tables whose retention is a setting (in days)."""
        return {"activities": self.activities_years * 365 + self.activities_years // 4}


class WebhookSettings(BaseSettings):
    """Outgoing webhooks (docs/integrations.md, "Outgoing webhooks")."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_WEBHOOKS_", extra="ignore")

    allow_private_networks: list[str] = Field(
        default_factory=list,
        description="Networks (CIDR) endpoints may resolve to although they are not public, e.g. "
        '["10.20.0.0/16"]; ["0.0.0.0/0", "::/0"] allows anything. Empty: public addresses only.',
    )
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="TCP and TLS connect.")
    timeout_seconds: float = Field(
        default=15.0, gt=0, le=120, description="A whole attempt: connect, send, read the answer."
    )
    response_excerpt_bytes: int = Field(
        default=2048, ge=0, le=65536, description="How much of an answer's body the delivery log keeps."
    )
    max_attempts: int = Field(default=9, ge=1, le=20, description="Attempts per message and endpoint.")
    retry_base_seconds: float = Field(
        default=60.0, gt=0, description="Delay after the first failed attempt; each next is 4 times longer."
    )
    retry_max_delay_seconds: float = Field(
        default=86400.0, gt=0, description="No delay between two attempts is longer than this."
    )
    disable_after_failures: int = Field(
        default=10, ge=1, description="Failed attempts in a row (no success between) before disabling..."
    )
    disable_after_hours: float = Field(
        default=120.0, ge=0, description="...when the first of them is at least this old."
    )
    secret_overlap_hours: float = Field(
        default=24.0, ge=0, le=24 * 30, description="After a rotation, the old secret also signs this long."
    )
    retention_days: int = Field(
        default=30, ge=1, description="Messages and their delivery log are kept this long."
    )


class BackupSettings(BaseSettings):
    """Backups, their targets and encryption, restore tests (docs/operations.md)."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_BACKUP_", extra="ignore")

    dir: Path | None = Field(default=None, description="Local backup directory. Unset: <data_dir>/backups.")
    local: bool = Field(
        default=True, description="Keep backups in the local directory (off: the bucket only)."
    )
    schedule_hours: float = Field(
        default=24.0,
        ge=0,
        le=24 * 31,
        description="`serve` makes a backup when the newest is this old (checked hourly; 0: never).",
    )
    keep_count: int = Field(default=14, ge=1, description="Backups kept at least (the newest).")
    keep_days: int = Field(
        default=30, ge=0, description="Older backups beyond keep_count are deleted after this many days."
    )
    encryption_key: SecretStr | None = Field(
        default=None, description="Key (base64 of 32 bytes, `saaskit backup keygen`): backups are encrypted."
    )
    encryption_key_file: Path | None = Field(
        default=None, description="A file holding the key instead (one line of base64)."
    )
    s3_bucket: str | None = Field(default=None, description="S3-compatible bucket; unset: no bucket.")
    s3_prefix: str = Field(default="saaskit/", description="Key prefix inside the bucket.")
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of a non-AWS store (MinIO, R2, B2 ...). Unset: AWS."
    )
    s3_region: str | None = Field(default=None, description="The bucket's region.")
    s3_access_key_id: str | None = Field(default=None, description="Unset: boto3's usual chain.")
    s3_secret_access_key: SecretStr | None = Field(default=None, description="Secret of the key id.")
    restore_test_days: float = Field(
        default=7.0,
        ge=0,
        le=365,
        description="The newest backup is restored into a scratch database and compared when the last "
        "restore test is this old (checked daily; 0: never).",
    )


class ArchiveSettings(BaseSettings):
    """Cold storage of partitions past retention (docs/operations.md, "Archival")."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_ARCHIVE_", extra="ignore")

    enabled: bool = Field(
        default=True, description="Export a partition to Parquet before retention drops it."
    )
    dir: Path | None = Field(
        default=None,
        description="Local archive directory (when no bucket is set). Unset: <data_dir>/archive.",
    )
    to_bucket: bool = Field(
        default=True, description="With a backup bucket set, archives go to it (prefix + archive/)."
    )


class BookingSettings(BaseSettings):
    """The laundry business domain (docs/bookings.md)."""

    model_config = SettingsConfigDict(env_prefix="SAASKIT_BOOKINGS_", extra="ignore")

    loyalty_every_orders: int = Field(
        default=10, ge=1, le=1000, description="Every this many delivered orders earn a free collection."
    )
    collection_fee_cents: int = Field(
        default=500, ge=0, description="Pickup and delivery fee of a booking, waived by a free collection."
    )
    window_hours: int = Field(
        default=2, ge=1, le=12, description="Length of a driver's pickup or delivery window."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAASKIT_", extra="ignore")

    data_dir: Path = Field(default=Path(".saaskit"), description="Embedded database and local secrets.")
    secret_key: str | None = Field(
        default=None,
        description="Secret for IP/token hashing salts and derived passwords. Unset: kept in data_dir.",
    )
    log_level: str = "INFO"
    admin_email: str = Field(default="admin@example.com", description="E-mail of the first admin account.")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    presence: PresenceSettings = Field(default_factory=PresenceSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    stripe: StripeSettings = Field(default_factory=StripeSettings)
    product: ProductSettings = Field(default_factory=ProductSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    billing_notices: BillingNoticeSettings = Field(default_factory=BillingNoticeSettings)
    dunning: DunningSettings = Field(default_factory=DunningSettings)
    invitations: InvitationSettings = Field(default_factory=InvitationSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    bookings: BookingSettings = Field(default_factory=BookingSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
