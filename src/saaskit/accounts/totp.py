"""TOTP (RFC 6238, pyotp) and recovery codes: the pieces two-factor sign-in is made of.

- The secret: 32 base32 characters (160 bits, RFC 4226's recommended length), sealed at rest
  with ``kit.crypto`` (purpose ``totp``, bound to the user's id: copied to another user's row it
  no longer opens).
- A code is accepted for the current 30-second step and one step either side (clocks drift);
  the step it matched is remembered (``last_used_step``) and only a later step is accepted
  afterwards, in one conditional UPDATE: the same code cannot be used twice, even by two
  requests at once.
- Recovery codes: ``RECOVERY_CODES`` per enrolment, ten characters each (50 bits) from an
  alphabet without look-alikes, shown once as ``xxxxx-xxxxx``, stored as keyed hashes
  (HMAC-SHA-256 under a key derived from the instance secret); spending one is one conditional
  UPDATE too.
- The challenge token, what the password step of a sign-in returns to an account with
  two-factor sign-in: sealed (purpose ``two_factor_challenge``), naming the user and its
  expiry; nothing is stored. It is worth nothing without a code.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.two_factor_models import UserRecoveryCode, UserTwoFactor
from saaskit.kit.crypto import CannotOpen, seal, unseal
from saaskit.kit.hashing import keyed_hash

SEAL_PURPOSE = "totp"
CHALLENGE_PURPOSE = "two_factor_challenge"
CHALLENGE_SECONDS = 300
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
DIGITS = 6
STEP_SECONDS = 30


# -- secrets and codes ---------------------------------------------------------------------------
def new_secret() -> str:
    return pyotp.random_base32(32)


def seal_secret(secret_key: str, user_id: uuid.UUID, secret: str) -> bytes:
    return seal(secret_key, SEAL_PURPOSE, secret.encode(), associated=user_id.bytes)


def open_secret(secret_key: str, user_id: uuid.UUID, sealed: bytes) -> str:
    return unseal(secret_key, SEAL_PURPOSE, sealed, associated=user_id.bytes).decode()


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The otpauth:// URI authenticator apps read (from a QR code, usually)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step ``code`` belongs to (now, or one step either side), or None."""
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = totp.timecode(datetime.fromtimestamp(time.time() if at is None else at, UTC))
    found = None
    for step in (current - 1, current, current + 1):
        # Every candidate is compared (constant time, whatever matches).
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalize_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def recovery_code_hash(secret_key: str, code: str) -> str:
    return keyed_hash(secret_key, "recovery_code", normalize_recovery_code(code))


# -- challenge tokens ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Challenge:
    user_id: uuid.UUID
    expires_at: datetime
    method: str = "password"  # the first factor: password, or oidc:<provider>


def new_challenge(secret_key: str, user_id: uuid.UUID, method: str = "password") -> tuple[str, Challenge]:
    expires = int(time.time()) + CHALLENGE_SECONDS
    payload = json.dumps({"u": str(user_id), "e": expires, "m": method}).encode()
    sealed = seal(secret_key, CHALLENGE_PURPOSE, payload, associated=b"challenge")
    token = base64.urlsafe_b64encode(sealed).decode().rstrip("=")
    return token, Challenge(user_id, datetime.fromtimestamp(expires, UTC), method)


def open_challenge(secret_key: str, token: str) -> Challenge | None:
    """The challenge, or None when the token is forged, altered or expired."""
    try:
        sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(unseal(secret_key, CHALLENGE_PURPOSE, sealed, associated=b"challenge"))
        challenge = Challenge(
            uuid.UUID(payload["u"]),
            datetime.fromtimestamp(int(payload["e"]), UTC),
            str(payload.get("m", "password")),
        )
    except (CannotOpen, ValueError, KeyError, TypeError):
        return None
    return challenge if challenge.expires_at.timestamp() > time.time() else None


# -- queries (RLS: the user's own rows; the caller sets the context) -----------------------------
async def get_enrolment(session: AsyncSession, user_id: uuid.UUID) -> UserTwoFactor | None:
    query = select(UserTwoFactor).where(UserTwoFactor.user_id == user_id)
    return await session.scalar(query.execution_options(populate_existing=True))


async def is_enabled(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Sign-in asks this user for a code (enrolment confirmed)."""
    found = await session.scalar(
        select(UserTwoFactor.user_id).where(
            UserTwoFactor.user_id == user_id, UserTwoFactor.confirmed_at.is_not(None)
        )
    )
    return found is not None


async def spend_step(session: AsyncSession, user_id: uuid.UUID, step: int, *, confirming: bool) -> bool:
    """Record ``step`` as used, if no code of it or of a later step was: False is a replay.
    ``confirming``: the enrolment is pending and this confirms it."""
    pending = UserTwoFactor.confirmed_at.is_(None) if confirming else UserTwoFactor.confirmed_at.is_not(None)
    values: dict[str, object] = {"last_used_step": step}
    if confirming:
        values["confirmed_at"] = func.now()
    done = await session.scalar(
        update(UserTwoFactor)
        .where(
            UserTwoFactor.user_id == user_id,
            pending,
            UserTwoFactor.last_used_step.is_(None) | (UserTwoFactor.last_used_step < step),
        )
        .values(**values)
        .returning(UserTwoFactor.user_id)
        .execution_options(synchronize_session=False)
    )
    return done is not None


async def spend_recovery_code(session: AsyncSession, secret_key: str, user_id: uuid.UUID, code: str) -> bool:
    spent = await session.scalar(
        update(UserRecoveryCode)
        .where(
            UserRecoveryCode.user_id == user_id,
            UserRecoveryCode.code_hash == recovery_code_hash(secret_key, code),
            UserRecoveryCode.used_at.is_(None),
        )
        .values(used_at=func.now())
        .returning(UserRecoveryCode.id)
        .execution_options(synchronize_session=False)
    )
    return spent is not None


async def recovery_codes_left(session: AsyncSession, user_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(UserRecoveryCode)
            .where(UserRecoveryCode.user_id == user_id, UserRecoveryCode.used_at.is_(None))
        )
        or 0
    )
