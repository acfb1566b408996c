"""In-app notifications, each user's choice of channels per kind, and admin broadcasts
(docs/notifications.md).

Other domains tell a user something with one call, in their own transaction::

    from saaskit import notifications

    await notifications.tell(
        session, runtime,
        user_id=user.id,
        kind="payment_failed",
        mail_template="payment_failed",
        context={"amount_cents": 1999, "currency": "usd", "manage_url": "https://app/billing"},
    )

It creates the in-app notice and/or queues the e-mail, as the user chose for that kind; both
exist only if the transaction commits. ``notify`` (in-app only) and ``notify_organization``
(every active member) are the lower-level calls.
"""

from saaskit.notifications.kinds import KINDS
from saaskit.notifications.service import Told, notify, notify_organization, tell, unread_count

__all__ = ["KINDS", "Told", "notify", "notify_organization", "tell", "unread_count"]
