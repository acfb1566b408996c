"""Authenticated encryption of small secrets kept at rest for a while (AES-256-GCM).

Tokens that only need to be *recognised* later are stored as hashes (``kit.hashing``). A few
must be *given back* later: the one-time link of a password reset waits in the mail outbox
until the job sends it. Those are sealed here:

- the key is derived from the instance secret (``SAASKIT_SECRET_KEY``) with HKDF-SHA-256, one
  key per ``purpose``: a leaked database (or backup) without the secret reveals nothing, and a
  ciphertext sealed for one purpose does not open for another;
- each value gets a fresh 96-bit nonce; ``associated`` data (for instance the outbox row's id)
  binds the ciphertext to its row: copied into another row, it no longer opens;
- the format is ``version byte || nonce || ciphertext+tag``, so the scheme can change later.

Changing the instance secret makes what was sealed under the old one unreadable
(``CannotOpen``): the mail outbox then marks such messages failed.
"""

from __future__ import annotations

import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
NONCE_BYTES = 12


class CannotOpen(Exception):
    """The ciphertext was sealed under another key or purpose, for another row, or altered."""


@lru_cache(maxsize=16)
def _key(secret: str, purpose: str) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"saaskit:seal:{purpose}".encode()
    ).derive(secret.encode())
    return AESGCM(key)


def seal(secret: str, purpose: str, plaintext: bytes, *, associated: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return VERSION + nonce + _key(secret, purpose).encrypt(nonce, plaintext, associated)


def unseal(secret: str, purpose: str, sealed: bytes, *, associated: bytes) -> bytes:
    if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != VERSION:
        raise CannotOpen("not a sealed value of this version")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return _key(secret, purpose).decrypt(nonce, body, associated)
    except InvalidTag as exc:
        raise CannotOpen("wrong key, purpose or row, or the value was altered") from exc
