"""Encryption of backups and archives with the configured key: an envelope, streamed in chunks.

A file is encrypted with a fresh random 256-bit *data key*; the data key is stored in the
header, itself encrypted (AES-256-GCM) with the configured *master key*. The body is a sequence
of chunks (1 MiB of plaintext each), each AES-256-GCM with its own nonce (a random 8-byte prefix
and the chunk's number) and the header, its number and a "last chunk" flag as associated data:
a chunk cannot be changed, moved, dropped, or the file cut short without decryption failing.

Layout::

    MAGIC (8) | key id (8) | nonce prefix (8) | wrapped-key nonce (12) | wrapped data key (48)
    then per chunk: length (4, big endian) | ciphertext + tag

The key id (the first 8 bytes of the master key's SHA-256) tells a wrong key at once, before
anything is decrypted: ``decrypt`` says which key the file needs.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"SKENC01\n"
CHUNK = 1 << 20
SUFFIX = ".enc"
_HEADER = len(MAGIC) + 8 + 8 + 12 + 48


class CryptoError(Exception):
    """A file that cannot be decrypted: the wrong key, or damaged; the message says which."""


def new_key() -> str:
    """A new master key, base64 (what ``SAASKIT_BACKUP_ENCRYPTION_KEY`` holds)."""
    return base64.b64encode(os.urandom(32)).decode()


def parse_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise CryptoError("the encryption key is not base64 (`saaskit backup keygen` makes one)") from None
    if len(key) != 32:
        raise CryptoError(f"the encryption key must be 32 bytes (base64), not {len(key)}")
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).digest()[:8].hex()


def _nonce(prefix: bytes, number: int) -> bytes:
    return prefix + struct.pack(">I", number)


def _aad(header: bytes, number: int, last: bool) -> bytes:
    return header + struct.pack(">I?", number, last)


def encrypt_file(source: Path, target: Path, key: bytes) -> None:
    """Encrypt ``source`` into ``target`` (streamed: memory stays at one chunk)."""
    data_key = os.urandom(32)
    wrap_nonce = os.urandom(12)
    prefix = os.urandom(8)
    wrapped = AESGCM(key).encrypt(wrap_nonce, data_key, MAGIC + bytes.fromhex(key_id(key)))
    header = MAGIC + bytes.fromhex(key_id(key)) + prefix + wrap_nonce + wrapped
    cipher = AESGCM(data_key)
    with source.open("rb") as src, target.open("wb") as out:
        out.write(header)
        number = 0
        chunk = src.read(CHUNK)
        while True:
            following = src.read(CHUNK) if chunk else b""
            last = not following
            sealed = cipher.encrypt(_nonce(prefix, number), chunk, _aad(header, number, last))
            out.write(struct.pack(">I", len(sealed)))
            out.write(sealed)
            if last:
                break
            chunk, number = following, number + 1


def file_key_id(path: Path) -> str | None:
    """The key id an encrypted file needs (None: not one of ours)."""
    with path.open("rb") as file:
        head = file.read(len(MAGIC) + 8)
    return head[len(MAGIC) :].hex() if head.startswith(MAGIC) and len(head) == len(MAGIC) + 8 else None


def _read_exact(file: BinaryIO, size: int) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise CryptoError("the encrypted file is cut short: damaged")
    return data


def decrypt_file(source: Path, target: Path, key: bytes) -> None:
    """Decrypt ``source`` into ``target``; a wrong key or any damage raises ``CryptoError``
    (and leaves no ``target``)."""
    try:
        _decrypt(source, target, key)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _decrypt(source: Path, target: Path, key: bytes) -> None:
    with source.open("rb") as src, target.open("wb") as out:
        header = src.read(_HEADER)
        if len(header) != _HEADER or not header.startswith(MAGIC):
            raise CryptoError(f"{source.name} is not an encrypted saaskit file")
        needed = header[len(MAGIC) : len(MAGIC) + 8].hex()
        if needed != key_id(key):
            raise CryptoError(
                f"wrong encryption key: {source.name} was encrypted with key {needed}, the configured "
                f"key is {key_id(key)} (set SAASKIT_BACKUP_ENCRYPTION_KEY to the key used then)"
            )
        prefix = header[len(MAGIC) + 8 : len(MAGIC) + 16]
        wrap_nonce = header[len(MAGIC) + 16 : len(MAGIC) + 28]
        try:
            data_key = AESGCM(key).decrypt(wrap_nonce, header[len(MAGIC) + 28 :], header[: len(MAGIC) + 8])
        except InvalidTag:
            raise CryptoError(f"{source.name}: the key does not open it (wrong key, or damaged)") from None
        cipher = AESGCM(data_key)
        number = 0
        while True:
            size = struct.unpack(">I", _read_exact(src, 4))[0]
            sealed = _read_exact(src, size)
            last = src.peek(1) == b""  # nothing after it: the file says it must be the last
            try:
                out.write(cipher.decrypt(_nonce(prefix, number), sealed, _aad(header, number, last)))
            except InvalidTag:
                raise CryptoError(f"{source.name}: chunk {number} fails authentication: damaged") from None
            if last:
                return
            number += 1
