"""Hashing of secrets and personal identifiers: raw tokens and raw IPs are never stored.

- Tokens (sessions, API keys, invitations) are 32 random bytes; only SHA-256 is stored,
  which is enough because the input has 256 bits of entropy.
- IPs and other low-entropy identifiers are hashed with HMAC-SHA-256 under a secret salt,
  so a leaked table cannot be reversed by enumerating the IPv4 space.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date
from functools import lru_cache


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@lru_cache(maxsize=64)
def _derived_key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def keyed_hash(secret: str, purpose: str, value: str) -> str:
    """HMAC-SHA-256 of ``value`` under a key derived from ``secret`` for one ``purpose``."""
    return hmac.new(_derived_key(secret, purpose), value.encode(), hashlib.sha256).hexdigest()


def ip_hash(secret: str, ip: str) -> str:
    return keyed_hash(secret, "ip", ip)


def daily_visitor_hash(secret: str, value: str, day: date) -> str:
    """A hash whose salt rotates every day: the same visitor cannot be followed across days."""
    return keyed_hash(secret, f"visitor:{day.isoformat()}", value)


def derived_password(secret: str, purpose: str) -> str:
    return keyed_hash(secret, f"password:{purpose}", "saaskit")
