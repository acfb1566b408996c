"""The one catalog of webhook event types: what an endpoint may subscribe to.

A type is ``<object>.<what happened>``; its ``data`` is described here and in
docs/integrations.md. ``emit`` refuses a type that is not listed (a bug in the caller), and
endpoints subscribe to listed types only, or to ``*`` (every type, including those added later).

``abuse.flagged`` and ``export.ready`` are listed for the code that will emit them (abuse
detection and data export are being built beside this): they call
``webhooks.emit(session, organization_id, "abuse.flagged", {...})`` with the data below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

EVERY_TYPE = "*"


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    data: str  # the keys of ``data``, for people (docs/integrations.md repeats them)
    emitted: bool = True  # False: listed, but nothing in this tree emits it yet


EVENT_TYPES: Final[dict[str, EventType]] = {
    t.name: t
    for t in (
        EventType(
            "member.added",
            "Someone became an active member of the organization (an accepted invitation, or a "
            "deactivated member coming back through one).",
            "user_id, email, role, invited_by",
        ),
        EventType(
            "member.removed",
            "A member was removed from the organization, or left it.",
            "user_id, email, role, reason (removed | left)",
        ),
        EventType(
            "invitation.accepted",
            "An invitation to the organization (or one of its teams or workspaces) was accepted.",
            "invitation_id, email, role, user_id, team_id, workspace_id",
        ),
        EventType(
            "subscription.created",
            "The organization's subscription first reached saaskit (from Stripe).",
            "id, stripe_subscription_id, status, plan_name, tier, quantity, billing_interval, "
            "current_period_end, cancel_at_period_end, cancel_at, ended_at, changed",
        ),
        EventType(
            "subscription.changed",
            "The subscription's plan, tier, status, quantity or scheduled cancellation changed.",
            "as subscription.created; changed lists the fields that changed",
        ),
        EventType(
            "subscription.canceled",
            "The subscription ended (its status became cancelled).",
            "as subscription.created",
        ),
        EventType(
            "invoice.paid",
            "An invoice of the organization was paid (told once per invoice).",
            "id, stripe_invoice_id, number, amount_paid_cents, currency, paid_at, subscription_id, "
            "hosted_invoice_url",
        ),
        EventType(
            "payment.failed",
            "A payment attempt of an invoice failed (told once per invoice and attempt).",
            "invoice_id, stripe_invoice_id, number, amount_due_cents, currency, attempt_count, "
            "next_payment_attempt",
        ),
        EventType(
            "abuse.flagged",
            "Abuse or fraud detection flagged something in the organization.",
            "emitted by the abuse detection (its own docs give the data)",
            emitted=False,
        ),
        EventType(
            "export.ready",
            "A data export asked for by the organization is ready to download.",
            "emitted by the data export (its own docs give the data)",
            emitted=False,
        ),
        EventType(
            "webhook.test",
            "Sent only by the test-send button/endpoint, to the one endpoint tested.",
            "endpoint_id, message",
        ),
    )
}

# What endpoints may subscribe to (a test message goes to the endpoint tested, whatever it chose).
SUBSCRIBABLE: Final = tuple(name for name in EVENT_TYPES if name != "webhook.test")


def check_type(name: str) -> EventType:
    spec = EVENT_TYPES.get(name)
    if spec is None:
        raise ValueError(f"no webhook event type {name!r} (known: {', '.join(EVENT_TYPES)})")
    return spec
