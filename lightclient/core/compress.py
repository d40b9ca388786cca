"""geth's sparse bitset encoding (common/bitutil CompressBytes / DecompressBytes), exact.

Hand-written: no maintained Python library implements this encoding. The encoder is
vectorised with numpy (the hot path compresses 2048 mostly-zero vectors per section); the
decoder is plain Python, faithful to geth's order of checks and its error messages.

Encoding ``enc(d)``: empty for all-zero data; one byte as itself; otherwise
``enc(bitset) ‖ nonzero bytes`` where the MSB-first bitset marks the non-zero bytes.
``compress_bytes`` returns ``enc(d)`` only if it is strictly shorter than ``d``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lightclient.errors import CompressionError, InvalidInput

__all__ = [
    "bitset_decode",
    "bitset_encode",
    "compress_bytes",
    "compress_many",
    "decompress_bytes",
]

_MISSING = "missing bytes on input"
_EXTRA = "extra bytes on input"
_EXCEEDED = "target data size exceeded"
_ZERO = "zero byte in input content"


def _encode_array(d: npt.NDArray[np.uint8]) -> bytes:
    n = d.shape[0]
    if n == 0:
        return b""
    if n == 1:
        return b"" if d[0] == 0 else bytes(d.tobytes())
    mask = d != 0
    nonzero = d[mask]
    if nonzero.shape[0] == 0:
        return b""
    bitset = np.packbits(mask)  # MSB-first, zero-padded to whole bytes
    return _encode_array(bitset) + bytes(nonzero.tobytes())


def bitset_encode(data: bytes) -> bytes:
    """The raw recursive encoding (geth's bitsetEncodeBytes)."""
    return _encode_array(np.frombuffer(data, dtype=np.uint8))


def compress_bytes(data: bytes) -> bytes:
    """CompressBytes: the encoding if strictly shorter than ``data``, else ``data`` itself."""
    encoded = bitset_encode(data)
    return encoded if len(encoded) < len(data) else bytes(data)


def compress_many(vectors: npt.NDArray[np.uint8]) -> list[bytes]:
    """CompressBytes of every row of a 2-D uint8 array (rows that are all zero give b"")."""
    if vectors.ndim != 2:
        raise InvalidInput("compress_many takes a 2-D array of rows")
    width = vectors.shape[1]
    nonzero_rows = np.flatnonzero(vectors.any(axis=1)) if width else np.array([], dtype=np.intp)
    out = [b""] * vectors.shape[0]
    for row in nonzero_rows:
        encoded = _encode_array(vectors[row])
        out[row] = encoded if len(encoded) < width else vectors[row].tobytes()
    return out


def _decode_partial(data: bytes, target: int) -> tuple[bytearray, int]:
    if target == 0:
        return bytearray(), 0
    out = bytearray(target)
    if not data:
        return out, 0
    if target == 1:
        out[0] = data[0]
        return out, (1 if data[0] else 0)
    bitset, ptr = _decode_partial(data, (target + 7) // 8)
    size = len(data)
    for byte_index, byte in enumerate(bitset):
        if not byte:
            continue
        for bit in range(8):
            if byte & (0x80 >> bit):
                i = byte_index * 8 + bit
                if ptr >= size:
                    raise CompressionError(_MISSING)
                if i >= target:
                    raise CompressionError(_EXCEEDED)
                value = data[ptr]
                if value == 0:
                    raise CompressionError(_ZERO)
                out[i] = value
                ptr += 1
    return out, ptr


def bitset_decode(data: bytes, target: int) -> bytes:
    """The raw recursive decoding (geth's bitsetDecodeBytes): all input must be used."""
    if target < 0:
        raise InvalidInput(f"target size must not be negative, got {target}")
    out, used = _decode_partial(bytes(data), target)
    if used != len(data):
        raise CompressionError(_EXTRA)
    return bytes(out)


def decompress_bytes(data: bytes, target: int) -> bytes:
    """DecompressBytes: inverse of :func:`compress_bytes` for an output of ``target`` bytes."""
    if target < 0:
        raise InvalidInput(f"target size must not be negative, got {target}")
    if len(data) > target:
        raise CompressionError(_EXCEEDED)
    if len(data) == target:
        return bytes(data)
    return bitset_decode(data, target)
