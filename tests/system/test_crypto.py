"""The backup encryption envelope (system/crypto.py): files of any size round-trip; a wrong key
is named as such before any decryption; a changed, dropped or cut chunk fails authentication and
leaves no output behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from saaskit.system import crypto


@pytest.fixture
def key() -> bytes:
    return crypto.parse_key(crypto.new_key())


@pytest.mark.parametrize("size", [0, 1, crypto.CHUNK - 1, crypto.CHUNK, 2 * crypto.CHUNK + 123])
def test_round_trip(size: int, key: bytes, tmp_path: Path) -> None:
    plain = os.urandom(size)
    (tmp_path / "a").write_bytes(plain)
    crypto.encrypt_file(tmp_path / "a", tmp_path / "b", key)
    assert crypto.file_key_id(tmp_path / "b") == crypto.key_id(key)
    crypto.decrypt_file(tmp_path / "b", tmp_path / "c", key)
    assert (tmp_path / "c").read_bytes() == plain


def test_wrong_key_and_damage_are_refused(key: bytes, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(os.urandom(3 * crypto.CHUNK))
    crypto.encrypt_file(tmp_path / "a", tmp_path / "b", key)
    sealed = (tmp_path / "b").read_bytes()
    other = crypto.parse_key(crypto.new_key())
    with pytest.raises(crypto.CryptoError, match=f"encrypted with key {crypto.key_id(key)}"):
        crypto.decrypt_file(tmp_path / "b", tmp_path / "c", other)
    chunk = 4 + crypto.CHUNK + 16  # one sealed chunk with its length
    header = len(sealed) - 3 * chunk
    damaged = {
        "flipped": sealed[:-5] + bytes([sealed[-5] ^ 1]) + sealed[-4:],
        "cut at a chunk": sealed[: header + 2 * chunk],
        "cut inside": sealed[:-100],
        "chunks swapped": sealed[:header]
        + sealed[header + chunk : header + 2 * chunk]
        + sealed[header : header + chunk]
        + sealed[header + 2 * chunk :],
    }
    for name, data in damaged.items():
        (tmp_path / "d").write_bytes(data)
        with pytest.raises(crypto.CryptoError, match="damaged"):
            crypto.decrypt_file(tmp_path / "d", tmp_path / "out", key)
        assert not (tmp_path / "out").exists(), name
    with pytest.raises(crypto.CryptoError, match="32 bytes"):
        crypto.parse_key("c2hvcnQ=")
