"""The kinds of notice saaskit sends a user, and what each one defaults to.

A kind is what a notice is about (``payment_failed``, ``invitation`` ...). It decides:

- the default severity and the in-app text used when the caller gives none;
- whether the user may switch it off (``security`` may not: a password or address change is
  always told, in the app and by e-mail);
- whether it has an e-mail at all (``broadcast`` is in-app only: admins compose it here, there
  is no mail template for it);
- the channels it uses when the user has not chosen (``in_app_default``, ``email_default``).

The user's choices live in ``notification_preferences`` (one row per user and kind they
changed); ``notifications.preferences`` applies them, in Python for one user
(``effective``) and in SQL for many at once (``wanted``), both from these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("info", "success", "warning", "critical")
AUDIENCES = ("user", "organization", "everyone")
CHANNELS = ("in_app", "email")


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    description: str
    severity: str = "info"
    body: str | None = None
    switchable: bool = True
    has_email: bool = True
    in_app_default: bool = True
    email_default: bool = True


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "payment_failed",
            "Payment failed",
            "A subscription payment could not be charged.",
            severity="critical",
            body="Update your payment method to keep your subscription.",
        ),
        Kind(
            "card_expiring",
            "Card expiring",
            "The saved card expires at the end of the month.",
            severity="warning",
            body="Update your card before it expires to avoid an interruption.",
        ),
        Kind(
            "trial_ending",
            "Trial ending",
            "A trial ends in a few days.",
            severity="warning",
            body="Choose a plan or add a payment method to keep your features.",
        ),
        Kind(
            "credits_low",
            "Credits low",
            "The prepaid credit balance fell below the warning threshold.",
            severity="warning",
            body="Top up your credits to keep going.",
        ),
        Kind(
            "topup_failed",
            "Top-up failed",
            "A credit top-up could not be charged.",
            severity="critical",
            body="Check your payment method, then try the top-up again.",
        ),
        Kind(
            "subscription_cancelled",
            "Subscription cancelled",
            "A subscription was cancelled.",
            body="You can subscribe again at any time.",
        ),
        Kind(
            "invitation",
            "Invitations",
            "Someone invited you to an organization, a team or a workspace.",
            body="Open the invitation to join.",
        ),
        Kind(
            "security",
            "Security",
            "The password or the e-mail address of the account changed. Always sent.",
            severity="warning",
            body="If this was not you, reset your password and contact support.",
            switchable=False,
        ),
        Kind(
            "webhook_disabled",
            "Webhook endpoint disabled",
            "Deliveries to one of the organization's webhook endpoints failed for days, so it was "
            "disabled (owners and admins are told).",
            severity="warning",
            body="Fix the endpoint, send a test, then enable it again.",
            has_email=False,
            email_default=False,
        ),
        Kind(
            "operations",
            "Operations",
            "A backup or a restore test failed (platform admins are told). Always sent.",
            severity="critical",
            body="Open System, Backups in the admin to see why.",
            switchable=False,
            has_email=False,
            email_default=False,
        ),
        Kind(
            "account_warning",
            "Account warning",
            "A warning from the team running the service about how the account is used (trust and "
            "safety review). Always sent.",
            severity="warning",
            body="Read the warning; write to support if anything is unclear.",
            switchable=False,
        ),
        Kind(
            "booking_status",
            "Booking updates",
            "A laundry booking changed state: confirmed, picked up, ready, out for delivery, delivered ...",
            body="Open the booking to follow it.",
            has_email=False,
            email_default=False,
        ),
        Kind(
            "broadcast",
            "Announcements",
            "News and announcements from the team running the service.",
            has_email=False,
            email_default=False,
        ),
    )
}

SWITCHABLE = tuple(name for name, kind in KINDS.items() if kind.switchable)


def kind_of(name: str) -> Kind:
    """The kind; an unknown name is a bug in the caller (``ValueError``)."""
    kind = KINDS.get(name)
    if kind is None:
        raise ValueError(f"no notification kind {name!r} (known: {', '.join(KINDS)})")
    return kind


def one_of(values: tuple[str, ...]) -> str:
    """``('a', 'b')`` as SQL for a CHECK constraint."""
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"
