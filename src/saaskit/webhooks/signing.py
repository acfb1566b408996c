"""Signing per the Standard Webhooks specification, with its reference library.

Each request carries ``webhook-id`` (``msg_<hex>``: the same on every attempt, so receivers can
drop repeats), ``webhook-timestamp`` (Unix seconds of the attempt) and ``webhook-signature``:
``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, computed by
``standardwebhooks.Webhook.sign``. Right after a rotation the previous secret signs too (for
``SAASKIT_WEBHOOKS_SECRET_OVERLAP_HOURS``): the header then holds both signatures, space
separated, as the specification allows, so a receiver that has not switched yet still verifies.

The secret is ``whsec_`` + base64 of 32 random bytes: the receiver needs it to verify, so it is
stored sealed (``kit.crypto``: AES-256-GCM under a key derived from the instance secret, bound to
the endpoint's row), not hashed. Changing ``SAASKIT_SECRET_KEY`` makes the stored secrets
unreadable: such endpoints fail until their secret is rotated.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime

from standardwebhooks.webhooks import Webhook

from saaskit.kit import crypto

PURPOSE = "webhook-endpoint-secret"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _associated(endpoint_id: uuid.UUID) -> bytes:
    return b"webhook_endpoints:" + endpoint_id.bytes


def seal(instance_secret: str, endpoint_id: uuid.UUID, secret: str) -> bytes:
    return crypto.seal(instance_secret, PURPOSE, secret.encode(), associated=_associated(endpoint_id))


def unseal(instance_secret: str, endpoint_id: uuid.UUID, sealed: bytes) -> str:
    """The secret; raises ``kit.crypto.CannotOpen`` when it cannot be read."""
    return crypto.unseal(instance_secret, PURPOSE, sealed, associated=_associated(endpoint_id)).decode()


def webhook_id(message_id: uuid.UUID) -> str:
    return f"msg_{message_id.hex}"


def headers(message_id: uuid.UUID, at: datetime, body: bytes, secrets_: list[str]) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, signed with each of ``secrets_``."""
    msg_id = webhook_id(message_id)
    signatures = [Webhook(secret).sign(msg_id, at, body) for secret in secrets_]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
