"""Stripe's errors as saaskit's error shape: never a 500 for a declined card or a bad id."""

from __future__ import annotations

import logging

import stripe
from fastapi import FastAPI, Request
from starlette.responses import Response

from saaskit.kit.errors import error_response

logger = logging.getLogger(__name__)


def stripe_error_response(exc: stripe.StripeError) -> Response:
    message = exc.user_message or str(exc) or "Stripe refused the request"
    if isinstance(exc, stripe.CardError):
        error = exc.error
        code = getattr(error, "decline_code", None) or getattr(error, "code", None) or "card_declined"
        return error_response(402, "card_declined", message, "payment_method", decline_code=code)
    if isinstance(exc, stripe.InvalidRequestError):
        return error_response(400, "stripe_invalid_request", message, exc.param)
    if isinstance(exc, stripe.RateLimitError):
        return error_response(429, "stripe_rate_limited", "Stripe is rate limiting: try again shortly")
    logger.warning("Stripe error: %s", exc)
    return error_response(503, "stripe_unavailable", "Stripe could not be reached or failed: try again")


def install(app: FastAPI) -> None:
    async def handler(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, stripe.StripeError)
        return stripe_error_response(exc)

    app.add_exception_handler(stripe.StripeError, handler)
