"""The mail templates: what each one needs, and rendering them (Jinja2, text and HTML).

Every template is two files under ``mail/templates/`` — ``<name>.txt`` and ``<name>.html`` —
extending one shared layout (``layout.txt`` / ``layout.html``: greeting, product name, support
address, the unsubscribe line of optional notices), and a subject line declared here. Each
declares its context keys: ``required`` ones must be given, ``optional`` ones may be (they are
``None`` otherwise), ``secret`` ones must be ``mail.Secret`` values (one-time links), and no
other key is accepted, so a misspelt key fails where the mail is queued, not in the job.

Every template also gets the common values: ``product_name``, ``product_url``,
``support_email`` (or ``None``), ``recipient`` and ``unsubscribe_url`` (``None`` except for
optional notices). Undefined names fail (``StrictUndefined``). HTML is autoescaped; text and
subjects are not (they are not HTML), and subjects are folded onto one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape

from saaskit.config import Settings
from saaskit.mail.models import OPTIONAL_PURPOSES

SUBJECT_MAX_CHARS = 200


@dataclass(frozen=True)
class MailTemplate:
    name: str
    purpose: str
    subject: str
    summary: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)

    @property
    def is_optional(self) -> bool:
        """Recipients may unsubscribe from it (List-Unsubscribe)."""
        return self.purpose in OPTIONAL_PURPOSES


# The subjects are Jinja too. ``name`` (the recipient's name) is optional everywhere: the
# greeting falls back to "Hi,". ``manage_url`` is where the user manages what the mail is about
# (billing settings ...): the product's address when not given.
TEMPLATES: dict[str, MailTemplate] = {
    t.name: t
    for t in (
        MailTemplate(
            "password_reset",
            "account",
            "Reset your {{ product_name }} password",
            "A link to choose a new password, sent when someone asks for it.",
            required=("reset_url", "expires_minutes"),
            optional=("name",),
            secrets=("reset_url",),
        ),
        MailTemplate(
            "email_verification",
            "account",
            "Confirm your e-mail address for {{ product_name }}",
            "A link that proves the user owns the address (sign-up, or a new address).",
            required=("verify_url", "expires_hours"),
            optional=("name",),
            secrets=("verify_url",),
        ),
        MailTemplate(
            "email_changed",
            "account",
            "Your {{ product_name }} e-mail address was changed",
            "A notice sent to the OLD address after the account's address changed.",
            required=("new_email",),
            optional=("name", "changed_at"),
        ),
        MailTemplate(
            "account_warning",
            "account",
            "A warning about your {{ product_name }} account",
            "A platform admin's warning after a trust and safety review (docs/trust.md): what was "
            "seen and what to do.",
            required=("reason", "advice"),
            optional=("name",),
        ),
        MailTemplate(
            "email_change_requested",
            "account",
            "Someone asked to change your {{ product_name }} e-mail address",
            "A notice sent to the CURRENT address when a change to another one is requested.",
            required=("new_email", "expires_hours"),
            optional=("name",),
        ),
        MailTemplate(
            "invitation",
            "invitation",
            "{{ inviter_name }} invited you to {{ organization_name }} on {{ product_name }}",
            "An invitation to an organization (or one of its teams or workspaces).",
            required=("inviter_name", "organization_name", "role", "accept_url", "expires_days"),
            optional=("name", "target_name"),
            secrets=("accept_url",),
        ),
        MailTemplate(
            "payment_failed",
            "billing",
            "Your payment for {{ product_name }} did not go through",
            "A subscription invoice could not be charged.",
            required=("amount_cents", "currency"),
            optional=("name", "invoice_number", "next_attempt_on", "manage_url"),
        ),
        MailTemplate(
            "payment_action_required",
            "billing",
            "Your bank asks you to confirm a {{ product_name }} payment",
            "A subscription payment needs the customer to authenticate (3D Secure) on Stripe's page.",
            required=("amount_cents", "currency", "hosted_invoice_url"),
            optional=("name", "invoice_number", "manage_url"),
        ),
        MailTemplate(
            "payment_overdue",
            "billing",
            "{% if action_taken %}Your {{ product_name }} subscription was {{ action_taken }}{% else %}"
            "Your {{ product_name }} payment is overdue{% endif %}",
            "Dunning: an unpaid invoice's grace period ends soon, or ended and the configured action "
            "(downgraded, suspended) was taken.",
            required=("amount_cents", "currency", "ends_on"),
            optional=("name", "invoice_number", "action_taken", "hosted_invoice_url", "manage_url"),
        ),
        MailTemplate(
            "card_expiring",
            "reminders",
            "Your card ending in {{ card_last4 }} expires soon",
            "The saved card expires at the end of the given month.",
            required=("card_brand", "card_last4", "expires_month"),
            optional=("name", "manage_url"),
        ),
        MailTemplate(
            "trial_ending",
            "reminders",
            "Your {{ product_name }} trial ends on {{ trial_ends_on | day }}",
            "A trial ends soon; what happens next.",
            required=("plan_name", "trial_ends_on"),
            optional=("name", "has_payment_method", "manage_url"),
        ),
        MailTemplate(
            "credits_low",
            "reminders",
            "Your {{ product_name }} credit balance is low",
            "The prepaid credit balance fell below the user's threshold.",
            required=("balance_cents", "currency"),
            optional=("name", "threshold_cents", "manage_url"),
        ),
        MailTemplate(
            "topup_failed",
            "billing",
            "Your {{ product_name }} credit top-up failed",
            "An automatic (or requested) credit top-up could not be charged.",
            required=("amount_cents", "currency"),
            optional=("name", "reason", "auto_topup_disabled", "manage_url"),
        ),
        MailTemplate(
            "subscription_cancelled",
            "billing",
            "Your {{ product_name }} subscription was cancelled",
            "A subscription was cancelled, at once or at the end of its period.",
            required=("plan_name",),
            optional=("name", "ends_on", "manage_url"),
        ),
        MailTemplate(
            "account_deletion_scheduled",
            "account",
            "Your {{ product_name }} account will be deleted on {{ ends_on | day }}",
            "The user asked to delete their account: when it happens, and that signing in cancels it.",
            required=("ends_on",),
            optional=("name",),
        ),
    )
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _money(cents: int | float | Decimal | None, currency: str | None = "usd") -> str:
    if cents is None:
        return ""
    amount = Decimal(cents) / 100
    code = (currency or "usd").upper()
    sign = "-" if amount < 0 else ""
    figure = f"{abs(amount):,.2f}"
    return f"{sign}${figure}" if code == "USD" else f"{sign}{figure} {code}"


def _day(value: str | date | datetime | None) -> str:
    """An ISO date or timestamp (as stored in the context) as "1 March 2027"."""
    if value is None or value == "":
        return ""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    assert isinstance(moment, date)
    return f"{moment.day} {moment:%B %Y}"


ENV = Environment(
    loader=PackageLoader("saaskit.mail", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
ENV.filters.update(money=_money, day=_day)


@lru_cache(maxsize=64)
def _subject_template(source: str) -> Template:
    return ENV.from_string(source)


def common_values(settings: Settings, recipient: str, unsubscribe_url: str | None) -> dict[str, Any]:
    product = settings.product
    return {
        "product_name": product.name,
        "product_url": product.url.rstrip("/"),
        "support_email": product.support_email,
        "recipient": recipient,
        "unsubscribe_url": unsubscribe_url,
    }


def render(spec: MailTemplate, context: Mapping[str, Any], common: Mapping[str, Any]) -> Rendered:
    """The subject and both bodies, from the template's values (missing optional keys are None)."""
    values: dict[str, Any] = dict.fromkeys(spec.optional)
    values.update(context)
    values.update(common)
    if values.get("manage_url") is None and "manage_url" in spec.optional:
        values["manage_url"] = common["product_url"]
    subject = _subject_template(spec.subject).render(values)
    subject = re.sub(r"\s+", " ", subject).strip()[:SUBJECT_MAX_CHARS]
    text = ENV.get_template(f"{spec.name}.txt").render(values)
    html = ENV.get_template(f"{spec.name}.html").render(values)
    return Rendered(subject=subject, text=text, html=html)
