"""ECIES on secp256k1 exactly as devp2p's auth and ack packets use it (geth's ECIES_AES128_SHA256).

``04 || R (64) || iv (16) || AES-128-CTR(kE, iv, m) || HMAC-SHA256(kM, iv || c || s2)`` with
``kE || kMraw = SHA256(BE32(1) || ecdh(r, K))`` (NIST SP 800-56 concat KDF, one block, empty
shared info s1) and ``kM = SHA256(kMraw)``. For EIP-8 packets ``s2`` is the 2-byte size prefix.

Libraries: coincurve (see :mod:`lightclient.rlpx.keys`) for the point maths; pycryptodome for
AES-CTR (already installed through eth-hash, C code, lets us set the full 16-byte initial counter
block); the standard library for SHA-256 and HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import coincurve
from Crypto.Cipher import AES

from lightclient.errors import RlpxError
from lightclient.rlpx.keys import ecdh, generate_private_key, public_key_of

__all__ = ["OVERHEAD", "decrypt", "encrypt"]

_POINT = 65
_IV = 16
_TAG = 32
OVERHEAD = _POINT + _IV + _TAG  # 113 bytes


def _keys(shared: bytes) -> tuple[bytes, bytes]:
    k = hashlib.sha256(b"\x00\x00\x00\x01" + shared).digest()
    return k[:16], hashlib.sha256(k[16:]).digest()


def _ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    out: bytes = AES.new(key, AES.MODE_CTR, nonce=b"", initial_value=iv).encrypt(data)
    return out


def encrypt(
    pubkey: bytes,
    message: bytes,
    shared_mac_data: bytes = b"",
    *,
    ephemeral: coincurve.PrivateKey | None = None,
    iv: bytes | None = None,
) -> bytes:
    """Encrypt ``message`` to the 64-byte ``pubkey``; ``ephemeral`` and ``iv`` only for tests."""
    ephemeral = ephemeral or generate_private_key()
    iv = os.urandom(_IV) if iv is None else iv
    k_enc, k_mac = _keys(ecdh(ephemeral, pubkey))
    ciphertext = _ctr(k_enc, iv, message)
    tag = hmac.new(k_mac, iv + ciphertext + shared_mac_data, hashlib.sha256).digest()
    return b"\x04" + public_key_of(ephemeral) + iv + ciphertext + tag


def decrypt(key: coincurve.PrivateKey, data: bytes, shared_mac_data: bytes = b"") -> bytes:
    """Decrypt a packet made by :func:`encrypt`; RlpxError if malformed or its MAC is wrong."""
    if len(data) < OVERHEAD:
        raise RlpxError("ecies: packet too short")
    if data[0] != 4:
        raise RlpxError("ecies: ephemeral key is not an uncompressed point")
    point, iv = data[1:_POINT], data[_POINT : _POINT + _IV]
    ciphertext, tag = data[_POINT + _IV : -_TAG], data[-_TAG:]
    k_enc, k_mac = _keys(ecdh(key, point))
    expect = hmac.new(k_mac, iv + ciphertext + shared_mac_data, hashlib.sha256).digest()
    if not hmac.compare_digest(expect, tag):
        raise RlpxError("ecies: invalid message (MAC mismatch)")
    return _ctr(k_enc, iv, ciphertext)
