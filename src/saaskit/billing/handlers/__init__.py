"""Webhook event handlers, one module per event family, registered by event type.

A handler gets the event (as stored) and a session with the service context, inside the
processing job's transaction; it must be idempotent and order-independent (see ``sync`` and
``invoices``). Work that needs Stripe happens in an optional ``prefetch`` step run before the
transaction opens. Raising makes the job retry with backoff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing.owners import Owner
from saaskit.kit.state import Runtime

Obj = dict[str, Any]


@dataclass
class Event:
    """What a handler sees: the event's object, type and creation time (its version)."""

    type: str
    object: Obj
    created: datetime
    raw: Obj
    prefetched: Obj = field(default_factory=dict)


@dataclass
class Outcome:
    """What the event row records about the processing."""

    owner: Owner | None = None
    old_tier: str | None = None
    new_tier: str | None = None
    note: str | None = None


Handler = Callable[[AsyncSession, Runtime, Event], Awaitable[Outcome]]
Prefetch = Callable[[Runtime, Event], Awaitable[Obj]]


@dataclass(frozen=True)
class Registration:
    handler: Handler
    prefetch: Prefetch | None = None


REGISTRY: dict[str, Registration] = {}


def handles(*event_types: str, prefetch: Prefetch | None = None) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for event_type in event_types:
            REGISTRY[event_type] = Registration(handler, prefetch)
        return handler

    return register


def load() -> dict[str, Registration]:
    """Import every family so that its handlers register."""
    from saaskit.billing.handlers import checkout, customers, invoices, payments, subscriptions  # noqa: F401

    return REGISTRY
