"""localstripe for the card payments (the billing suite's fixtures)."""

from tests.billing.conftest import localstripe_url, stripe_api

__all__ = ["localstripe_url", "stripe_api"]
