"""Snappy block compression of message payloads after a v5 Hello (EIP-706, spec §2.5).

Backed by cramjam's raw (block-format) Snappy: a maintained Rust binding with wheels for
Python 3.11, typed. The declared length is read and bounded *before* decompressing, as geth does,
so a 20-byte packet cannot make us allocate gigabytes.
"""

from __future__ import annotations

import cramjam

from lightclient.errors import RlpxError

__all__ = ["MAX_PLAIN", "compress", "decoded_length", "decompress"]

MAX_PLAIN = 0xFFFFFF  # geth: errPlainMessageTooLarge past 16 MiB - 1


def compress(payload: bytes) -> bytes:
    """The Snappy block encoding of ``payload``."""
    return bytes(cramjam.snappy.compress_raw(payload))


def decoded_length(data: bytes) -> int:
    """The uncompressed length a Snappy block declares (its leading uint32 varint)."""
    value = shift = 0
    for i, byte in enumerate(data[:5]):
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if i == 4 and byte > 0x0F:
                break
            return value
        shift += 7
    raise RlpxError("snappy: corrupt input (bad length header)")


def decompress(data: bytes, limit: int = MAX_PLAIN) -> bytes:
    """Decompress one Snappy block, refusing a declared length above ``limit``."""
    size = decoded_length(data)
    if size > limit:
        raise RlpxError(f"message length {size} above the limit {limit} (snappy header)")
    try:
        plain = bytes(cramjam.snappy.decompress_raw(data))
    except cramjam.DecompressionError as exc:
        raise RlpxError(f"snappy: {exc}") from None
    if len(plain) != size:  # pragma: no cover - cramjam checks this itself
        raise RlpxError("snappy: decoded length differs from the header")
    return plain
