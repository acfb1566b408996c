"""Secret values in queued mail: one-time links are sealed in the outbox, never stored raw.

A caller marks a value secret by wrapping it: ``Secret(value, shown=...)``, or for a link,
``secret_link(runtime, "/reset-password", token=raw_token)``. ``enqueue`` then stores

- in ``context``: only the ``shown`` form (``https://app.example.com/reset-password?token=[hidden]``),
  which is what the admin Outbox page and the logs of a production install display;
- in ``sealed_secrets``: the real values, as one AES-256-GCM ciphertext (``kit/crypto.py``) under
  a key derived from the instance secret, with the row's id as associated data.

The sending job unseals them only to render the message it hands to the SMTP server, and wipes
them (``sealed_secrets = NULL``) once the message is sent, discarded or past ``expires_at``; a
message with secrets must have an ``expires_at``, so none outlives the link it carries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import orjson

from saaskit.kit import crypto
from saaskit.kit.state import Runtime

PURPOSE = "mail-outbox"
HIDDEN = "[hidden]"


@dataclass(frozen=True, repr=False)
class Secret:
    """A context value that must not be stored or shown: only ``shown`` is."""

    value: str
    shown: str = HIDDEN

    def __repr__(self) -> str:  # never the value, in tracebacks and logs
        return f"Secret({self.shown!r})"

    __str__ = __repr__


def secret_link(runtime: Runtime, path: str, **secret_params: str) -> Secret:
    """A link into the product (``SAASKIT_PRODUCT_URL`` + ``path``) whose query parameters are
    secret: ``secret_link(runtime, "/reset-password", token=raw)``."""
    base = runtime.settings.product.url.rstrip("/") + "/" + path.lstrip("/")
    if not secret_params:
        raise ValueError("secret_link needs at least one secret query parameter")
    hidden = "&".join(f"{name}={HIDDEN}" for name in secret_params)
    return Secret(f"{base}?{urlencode(secret_params)}", f"{base}?{hidden}")


def _associated(row_id: uuid.UUID) -> bytes:
    return b"email_outbox:" + row_id.bytes


def seal(secret: str, row_id: uuid.UUID, values: dict[str, str]) -> bytes:
    return crypto.seal(secret, PURPOSE, orjson.dumps(values), associated=_associated(row_id))


def unseal(secret: str, row_id: uuid.UUID, sealed: bytes) -> dict[str, str]:
    """The secret values; raises ``kit.crypto.CannotOpen`` when they cannot be read."""
    values = orjson.loads(crypto.unseal(secret, PURPOSE, sealed, associated=_associated(row_id)))
    if not isinstance(values, dict):
        raise crypto.CannotOpen("sealed mail secrets are not a mapping")
    return {str(key): str(value) for key, value in values.items()}
