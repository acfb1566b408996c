"""Every call saaskit makes to Stripe, through the official SDK's ``StripeClient``.

- Built once per runtime from ``SAASKIT_STRIPE_*`` (``api_base`` points tests at localstripe).
- Creates carry an ``Idempotency-Key`` derived from saaskit's own ids, so a retried request or
  job cannot create a second customer, subscription or PaymentIntent at Stripe (localstripe
  ignores the header; saaskit's database guards, such as the one-top-up-at-a-time index, hold
  regardless).
- Called outside database transactions that hold locks, except where a lock must cover the
  call (a coupon's counted redemption, released by rollback if Stripe refuses).
- With ``legacy_plans`` (servers without the Prices API, i.e. localstripe) plans are Plans and
  subscription items name a ``plan``; otherwise Prices and ``price``.
- Answers are plain dicts (``StripeObject.to_dict()``), read through ``billing.shapes``;
  subscription changes come as an ``Answer``, with the time Stripe answered (its ``Date``
  header), the version ``sync`` compares with events' ``created``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import stripe

from saaskit.config import StripeSettings
from saaskit.kit.errors import ServiceUnavailable
from saaskit.kit.state import Runtime

Obj = dict[str, Any]


class StripeNotConfigured(ServiceUnavailable):
    code = "stripe_not_configured"


def _dict(value: Any) -> Obj:
    result: Obj = value.to_dict()
    return result


@dataclass(frozen=True)
class Answer:
    """A Stripe object as Stripe answered it, and when: the answer's ``Date`` header, Stripe's
    own clock at its own resolution (whole seconds), comparable with its events' ``created``."""

    object: Obj
    at: datetime


def _answer(value: Any) -> Answer:
    response = getattr(value, "last_response", None)
    headers = getattr(response, "headers", None) or {}
    date = next((v for k, v in headers.items() if k.lower() == "date"), None)
    at = None
    if date:
        with contextlib.suppress(TypeError, ValueError):
            at = parsedate_to_datetime(date).astimezone(UTC)
    return Answer(_dict(value), (at or datetime.now(UTC)).replace(microsecond=0))


class StripeGateway:
    def __init__(self, settings: StripeSettings) -> None:
        self.settings = settings
        self.legacy_plans = settings.legacy_plans
        self._client: stripe.StripeClient | None = None

    @property
    def client(self) -> stripe.StripeClient:
        if not self.settings.api_key:
            raise StripeNotConfigured("billing needs SAASKIT_STRIPE_API_KEY", code="stripe_not_configured")
        if self._client is None:
            base = {"api": self.settings.api_base} if self.settings.api_base else None
            self._client = stripe.StripeClient(
                self.settings.api_key,
                base_addresses=base,  # type: ignore[arg-type]
                max_network_retries=2,
                http_client=stripe.HTTPXClient(allow_sync_methods=True),
            )
        return self._client

    @staticmethod
    def _options(idempotency_key: str | None) -> Any:
        return {"idempotency_key": idempotency_key} if idempotency_key else None

    # -- webhooks --------------------------------------------------------------------------
    def verify_event(self, payload: bytes, signature: str) -> Obj:
        """The event, if ``signature`` is Stripe's for ``payload``; raises otherwise."""
        if not self.settings.webhook_secret:
            raise StripeNotConfigured("webhooks need SAASKIT_STRIPE_WEBHOOK_SECRET")
        event = stripe.Webhook.construct_event(payload, signature, self.settings.webhook_secret)
        return _dict(event)

    # -- customers and payment methods -----------------------------------------------------
    async def create_customer(self, *, email: str | None, name: str | None, metadata: dict[str, str]) -> Obj:
        key = "saaskit-customer-" + "-".join(f"{k}:{v}" for k, v in sorted(metadata.items()))
        params: Any = {"metadata": metadata}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        return _dict(await self.client.v1.customers.create_async(params, self._options(key)))

    async def create_setup_intent(self, *, customer: str, metadata: dict[str, str]) -> Obj:
        params: Any = {"customer": customer, "usage": "off_session", "metadata": metadata}
        return _dict(await self.client.v1.setup_intents.create_async(params))

    async def retrieve_setup_intent(self, setup_intent_id: str) -> Obj:
        return _dict(await self.client.v1.setup_intents.retrieve_async(setup_intent_id))

    async def retrieve_payment_method(self, payment_method_id: str) -> Obj:
        return _dict(await self.client.v1.payment_methods.retrieve_async(payment_method_id))

    async def attach_payment_method(self, payment_method_id: str, customer: str) -> Obj:
        params: Any = {"customer": customer}
        return _dict(await self.client.v1.payment_methods.attach_async(payment_method_id, params))

    async def detach_payment_method(self, payment_method_id: str) -> Obj:
        return _dict(await self.client.v1.payment_methods.detach_async(payment_method_id))

    async def set_default_payment_method(self, customer: str, payment_method_id: str) -> Obj:
        params: Any = {"invoice_settings": {"default_payment_method": payment_method_id}}
        return _dict(await self.client.v1.customers.update_async(customer, params))

    # -- subscriptions ---------------------------------------------------------------------
    def _item(self, price_id: str) -> dict[str, Any]:
        return {"plan": price_id} if self.legacy_plans else {"price": price_id}

    async def create_subscription(
        self,
        *,
        customer: str,
        price_id: str,
        metadata: dict[str, str],
        trial_period_days: int,
        stripe_coupon_id: str | None,
        idempotency_key: str,
    ) -> Answer:
        params: Any = {
            "customer": customer,
            "items": [self._item(price_id)],
            "metadata": metadata,
            "expand": ["latest_invoice"],
        }
        if trial_period_days:
            params["trial_period_days"] = trial_period_days
        if stripe_coupon_id and not self.legacy_plans:
            params["discounts"] = [{"coupon": stripe_coupon_id}]
        subscription = await self.client.v1.subscriptions.create_async(params, self._options(idempotency_key))
        return _answer(subscription)

    async def change_subscription_price(self, subscription_id: str, item_id: str, price_id: str) -> Answer:
        params: Any = {"items": [{"id": item_id, **self._item(price_id)}]}
        if not self.legacy_plans:
            params["proration_behavior"] = "create_prorations"
        return _answer(await self.client.v1.subscriptions.update_async(subscription_id, params))

    async def set_cancel_at_period_end(self, subscription_id: str, cancel: bool) -> Answer:
        params: Any = {"cancel_at_period_end": cancel}
        return _answer(await self.client.v1.subscriptions.update_async(subscription_id, params))

    async def cancel_subscription(self, subscription_id: str) -> Answer:
        return _answer(await self.client.v1.subscriptions.cancel_async(subscription_id))

    async def retrieve_subscription(self, subscription_id: str) -> Answer:
        return _answer(await self.client.v1.subscriptions.retrieve_async(subscription_id))

    # -- Checkout and the customer portal --------------------------------------------------
    async def create_checkout_session(self, params: dict[str, Any]) -> Obj:
        """A hosted Checkout page (``mode`` subscription or payment); the caller builds ``params``
        (``billing.checkout``). Each click is a new session: no idempotency key."""
        return _dict(await self.client.v1.checkout.sessions.create_async(params))  # type: ignore[arg-type]

    async def create_portal_session(self, *, customer: str, return_url: str) -> Obj:
        params: Any = {"customer": customer, "return_url": return_url}
        return _dict(await self.client.v1.billing_portal.sessions.create_async(params))

    # -- payments --------------------------------------------------------------------------
    async def charge_off_session(
        self,
        *,
        customer: str,
        payment_method: str,
        amount_cents: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Obj:
        params: Any = {
            "amount": amount_cents,
            "currency": currency,
            "customer": customer,
            "payment_method": payment_method,
            "off_session": True,
            "confirm": True,
            "metadata": metadata,
        }
        return _dict(
            await self.client.v1.payment_intents.create_async(params, self._options(idempotency_key))
        )

    async def refund_payment_intent(self, payment_intent_id: str, *, idempotency_key: str) -> Obj:
        """A full refund of a PaymentIntent's charge (bookings' refunds)."""
        params: Any = {"payment_intent": payment_intent_id}
        return _dict(await self.client.v1.refunds.create_async(params, self._options(idempotency_key)))

    # -- catalog ---------------------------------------------------------------------------
    async def create_product(self, *, name: str, metadata: dict[str, str], idempotency_key: str) -> Obj:
        params: Any = {"name": name, "metadata": metadata}
        return _dict(await self.client.v1.products.create_async(params, self._options(idempotency_key)))

    async def create_price(
        self,
        *,
        product: str,
        amount_cents: int,
        currency: str,
        interval: str,
        metadata: dict[str, str],
        key: str,
    ) -> Obj:
        """A Price (or, with ``legacy_plans``, a Plan whose id is ``key``)."""
        if self.legacy_plans:
            plan: Any = {
                "id": key,
                "product": product,
                "amount": amount_cents,
                "currency": currency,
                "interval": interval,
                "metadata": metadata,
            }
            return _dict(await self.client.v1.plans.create_async(plan))
        params: Any = {
            "product": product,
            "unit_amount": amount_cents,
            "currency": currency,
            "recurring": {"interval": interval},
            "metadata": metadata,
        }
        return _dict(await self.client.v1.prices.create_async(params, self._options(key)))

    async def archive_price(self, price_id: str) -> None:
        """Retire a replaced price (existing subscriptions keep it). Plans stay as they are."""
        if not self.legacy_plans:
            await self.client.v1.prices.update_async(price_id, {"active": False})

    async def create_coupon(self, params: dict[str, Any]) -> Obj:
        return _dict(await self.client.v1.coupons.create_async(params))  # type: ignore[arg-type]


def gateway(runtime: Runtime) -> StripeGateway:
    """The runtime's gateway (created on first use)."""
    found = runtime.extras.get("stripe")
    if not isinstance(found, StripeGateway):
        found = StripeGateway(runtime.settings.stripe)
        runtime.extras["stripe"] = found
    return found
