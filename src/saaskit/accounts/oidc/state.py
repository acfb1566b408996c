"""The pending flow, bound to the browser that started it (``flow.py`` starts and finishes it).

The state is bound to the browser by a cookie holding the whole pending flow (provider, state,
nonce, PKCE verifier, purpose, expiry) sealed with AES-256-GCM under a key derived from the
instance secret (kit/crypto.py): nothing is stored server-side, a forged or altered cookie does
not open, and the ``state`` in the callback's address must equal the one sealed in the cookie
of the browser that started (a link made in another browser has no such cookie). The cookie is
deleted by the callback; a replayed callback (same address, same cookie) is refused by the
provider, which gives a code once.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from dataclasses import asdict, dataclass

from saaskit.accounts.oidc.providers import Provider
from saaskit.kit.crypto import CannotOpen, seal, unseal
from saaskit.kit.errors import BadRequest
from saaskit.kit.state import Runtime

COOKIE = "saaskit_oidc"
COOKIE_PATH = "/api/"
SEAL_PURPOSE = "oidc_state"


@dataclass(frozen=True)
class Pending:
    """A started flow, sealed in the browser's cookie until the callback."""

    provider: str
    state: str
    nonce: str
    verifier: str
    purpose: str  # "sign_in" or "connect"
    expires: int  # unix seconds
    return_to: str | None = None
    set_cookie: bool = True
    organization_id: str | None = None  # connect: the organization connecting
    user_id: str | None = None  # connect: who asked


def seal_pending(runtime: Runtime, pending: Pending) -> str:
    sealed = seal(runtime.secret, SEAL_PURPOSE, json.dumps(asdict(pending)).encode(), associated=b"oidc")
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def open_pending(runtime: Runtime, cookie: str | None) -> Pending | None:
    if not cookie:
        return None
    try:
        sealed = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
        return Pending(**json.loads(unseal(runtime.secret, SEAL_PURPOSE, sealed, associated=b"oidc")))
    except (CannotOpen, ValueError, TypeError):
        return None


def check_state(runtime: Runtime, provider: Provider, cookie: str | None, state: str | None) -> Pending:
    """The pending flow of this browser, if ``state`` is the one it started: 400 otherwise."""
    pending = open_pending(runtime, cookie)
    if pending is None:
        raise BadRequest(
            "no sign-in was started in this browser (or it was altered): start again",
            field="state",
            code="invalid_state",
        )
    if not state or not hmac.compare_digest(pending.state, state) or pending.provider != provider.name:
        raise BadRequest(
            "the state does not match the sign-in this browser started (forged or crossed)",
            field="state",
            code="invalid_state",
        )
    if pending.expires < time.time():
        raise BadRequest("the sign-in took too long: start again", field="state", code="state_expired")
    return pending
