"""What the platform admins' operator actions share, whatever domain owns them
(``accounts.operator``, ``devices.operator``, ``billing.operator``, ``tracking.operator``).

Each operator action calls its domain's service and writes one audit row (``activities``) in the
same transaction, so the change and its record commit together; it flushes, never commits. It
answers an ``Outcome``: a sentence for the admin pages' flash message, and the figures the JSON
admin endpoints return. The admin pages and the JSON endpoints both call these actions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit import service as audit
from saaskit.audit.service import Actor


@dataclass(frozen=True)
class Outcome:
    message: str
    data: dict[str, Any] = field(default_factory=dict)


async def record_user(
    session: AsyncSession,
    actor: Actor,
    user_id: uuid.UUID,
    email: str,
    action: str,
    description: str,
    metadata: dict[str, Any],
) -> None:
    """The audit row of an operator action on one user (platform-wide: no organization)."""
    await audit.record(
        session,
        actor,
        organization_id=None,
        action=action,
        entity_type="user",
        entity_id=user_id,
        entity_name=email,
        description=description,
        metadata=metadata,
    )
