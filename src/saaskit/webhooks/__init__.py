"""Outgoing webhooks (docs/integrations.md, "Outgoing webhooks").

Other domains tell an organization's systems that something happened with one call, inside the
transaction of the change::

    from saaskit import webhooks

    await webhooks.emit(session, organization_id, "member.added", {"user_id": ..., "role": "member"})

Nothing is sent unless that transaction commits. Types come from ``webhooks.catalog``.
"""

from saaskit.webhooks.catalog import EVENT_TYPES
from saaskit.webhooks.service import emit

__all__ = ["EVENT_TYPES", "emit"]
