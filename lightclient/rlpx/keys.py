"""secp256k1 as RLPx uses it: 64-byte public keys, x-only ECDH, 65-byte recoverable signatures.

Backed by coincurve (libsecp256k1 bindings, already a dependency): constant-time scalar
multiplication in C, and signing and recovery of raw 32-byte values (``hasher=None``), which
RLPx needs because it signs ``token XOR nonce`` as it is, without hashing it again.
"""

from __future__ import annotations

import os

import coincurve

from lightclient.errors import RlpxError

__all__ = [
    "PUBKEY_SIZE",
    "SIGNATURE_SIZE",
    "ecdh",
    "generate_private_key",
    "load_public_key",
    "private_key_from_bytes",
    "public_key_of",
    "recover",
    "sign",
]

PUBKEY_SIZE = 64
SIGNATURE_SIZE = 65


def private_key_from_bytes(secret: bytes) -> coincurve.PrivateKey:
    """A private key from its 32 bytes; RlpxError if it is not a valid secp256k1 key."""
    if len(secret) != 32:
        raise RlpxError("a private key is 32 bytes")
    try:
        return coincurve.PrivateKey(secret)
    except ValueError:
        raise RlpxError("private key out of range for secp256k1") from None


def generate_private_key() -> coincurve.PrivateKey:
    """A fresh random private key (from the OS's CSPRNG)."""
    while True:
        try:
            return coincurve.PrivateKey(os.urandom(32))
        except ValueError:  # pragma: no cover - probability ~2^-128
            continue


def public_key_of(key: coincurve.PrivateKey) -> bytes:
    """The 64-byte wire form ``X || Y`` of a private key's public key."""
    return key.public_key.format(compressed=False)[1:]


def load_public_key(pubkey: bytes) -> coincurve.PublicKey:
    """A point from its 64-byte wire form; RlpxError if the length is wrong or it is off-curve."""
    if len(pubkey) != PUBKEY_SIZE:
        raise RlpxError(f"invalid public key length {len(pubkey)} (want 64)")
    try:
        return coincurve.PublicKey(b"\x04" + pubkey)
    except ValueError:
        raise RlpxError("invalid public key: not a point on secp256k1") from None


def ecdh(key: coincurve.PrivateKey, pubkey: bytes) -> bytes:
    """RLPx's key agreement: the X coordinate of ``key * pubkey``, 32 bytes."""
    point = load_public_key(pubkey).multiply(key.secret)
    return point.format(compressed=False)[1:33]


def sign(key: coincurve.PrivateKey, value: bytes) -> bytes:
    """``R || S || V`` (V is 0 or 1) over the 32-byte ``value`` used as the hash."""
    return key.sign_recoverable(value, hasher=None)


def recover(signature: bytes, value: bytes) -> bytes:
    """The 64-byte public key that made ``signature`` over ``value``; RlpxError if none."""
    if len(signature) != SIGNATURE_SIZE:
        raise RlpxError("invalid signature length")
    try:
        point = coincurve.PublicKey.from_signature_and_message(signature, value, hasher=None)
    except (ValueError, TypeError):
        raise RlpxError("invalid signature: no public key recovers from it") from None
    return point.format(compressed=False)[1:]
