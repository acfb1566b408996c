"""One-click unsubscribe (RFC 8058) from the optional kinds of mail (``reminders``).

Optional notices carry ``List-Unsubscribe: <{api}/api/mail/unsubscribe?token=...>`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``: mail apps show an "Unsubscribe" button
that POSTs to it. The token names the purpose and the address, signed with a key derived from
the instance secret (nothing stored; it does not expire, as unsubscribe links must not). The
opt-out is a row in ``email_opt_outs``; the sender discards optional mail to such addresses.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.hashing import keyed_hash
from saaskit.kit.state import Runtime
from saaskit.mail.models import OPTIONAL_PURPOSES, EmailOptOut

SIGNATURE_CHARS = 32


def _signature(secret: str, payload: str) -> str:
    return keyed_hash(secret, "mail-unsubscribe", payload)[:SIGNATURE_CHARS]


def make_token(secret: str, purpose: str, email: str) -> str:
    payload = base64.urlsafe_b64encode(f"{purpose}\n{email.lower()}".encode()).decode().rstrip("=")
    return f"{payload}.{_signature(secret, payload)}"


def read_token(secret: str, token: str) -> tuple[str, str] | None:
    """(purpose, address) of a genuine token, else None."""
    payload, _, signature = token.partition(".")
    if not payload or not hmac.compare_digest(signature.encode(), _signature(secret, payload).encode()):
        return None
    try:
        purpose, email = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().split("\n", 1)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return (purpose, email) if purpose in OPTIONAL_PURPOSES and email else None


def unsubscribe_url(runtime: Runtime, purpose: str, email: str) -> str:
    token = make_token(runtime.secret, purpose, email)
    return f"{runtime.settings.product.public_api_url}/api/mail/unsubscribe?token={token}"


async def opt_out(session: AsyncSession, purpose: str, email: str) -> None:
    """Record the opt-out (service context); doing it twice changes nothing."""
    await session.execute(
        insert(EmailOptOut).values(email=email.lower(), purpose=purpose).on_conflict_do_nothing()
    )


async def has_opted_out(session: AsyncSession, purpose: str, email: str) -> bool:
    found = await session.scalar(
        select(EmailOptOut.email).where(EmailOptOut.email == email.lower(), EmailOptOut.purpose == purpose)
    )
    return found is not None
