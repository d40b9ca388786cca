"""geth's sparse bitset encoding (``common/bitutil`` CompressBytes / DecompressBytes), exact.

Why this is hand-written: no maintained Python library implements go-ethereum's bitutil
encoding, yet BloomTrie values and the bloom-bits database hold it, so our bytes must match
geth v1.11.6 byte for byte, including which error each malformed input produces.

The encoding of ``d`` (geth's ``bitsetEncodeBytes``)::

    enc(d) = b""              if d has no non-zero byte (this includes d == b"")
           = d                if len(d) == 1
           = enc(bitset(d)) ‖ nonzero(d)   otherwise

where ``bitset(d)`` has one bit per byte of ``d``, MSB first (bit ``7 - i % 8`` of byte
``i // 8``), set when ``d[i] != 0``, and ``nonzero(d)`` is ``d`` with its zero bytes
removed. ``compress_bytes`` returns ``enc(d)`` only when it is strictly shorter than ``d``,
else ``d`` itself; ``decompress_bytes`` therefore treats input of exactly the target length
as uncompressed.

Unrolling the recursion gives what the encoders below compute without recursing: the
levels ``d, bitset(d), bitset(bitset(d)), ...`` shrink to one byte, and ``enc(d)`` is the
non-zero bytes of every level, deepest level first. (A non-zero level has a non-zero bitset,
and the non-zero bytes of a one-byte level are that byte, so the rules agree.)

Speed: the section indexer compresses 2048 mostly-zero vectors of ``section_size / 8``
bytes per section. :func:`compress_many` does each level for all rows at once with numpy
(``np.packbits`` is exactly the MSB-first bitset) and only slices the result per row;
:func:`compress_bytes` handles one vector with a few C-level calls per level. The decoder
lists each level's set bits (numpy for large levels, plain Python for small ones), checks
them in bulk, and reports the error geth's bit-by-bit loop would hit first (its order of
checks: input used up, then position past the target, then zero byte).
"""

from __future__ import annotations

from bisect import bisect_left

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

# geth's error strings (common/bitutil/compress.go), verbatim.
_ERR_MISSING_DATA = "missing bytes on input"
_ERR_UNREFERENCED_DATA = "extra bytes on input"
_ERR_EXCEEDED_TARGET = "target data size exceeded"
_ERR_ZERO_CONTENT = "zero byte in input content"

_ZERO = b"\x00"
_U8 = np.uint8

# Decoding a level whose bitset has at least this many bytes uses numpy; below it, plain
# Python is quicker (measured: both are exact, the tests compare them with a reference).
_NUMPY_FROM = 32

# _SET_BITS[b]: the MSB-first offsets (0 = bit 7) of the bits set in byte value b.
_SET_BITS: tuple[tuple[int, ...], ...] = tuple(
    tuple(offset for offset in range(8) if value & (0x80 >> offset)) for value in range(256)
)


def _as_bytes(data: bytes) -> bytes:
    # bytearray and memoryview arrive despite the annotation; bytes.translate and
    # bytes.find below want a real bytes object.
    return data if type(data) is bytes else bytes(data)


def _bitset(level: bytes) -> bytes:
    """The MSB-first non-zero bitset of ``level`` (``len(level)`` bits, zero padded)."""
    return np.packbits(np.frombuffer(level, dtype=_U8).astype(np.bool_)).tobytes()


def _encode(data: bytes) -> bytes:
    size = len(data)
    if size <= 1:
        return data if size and data[0] else b""
    nonzero = data.translate(None, _ZERO)
    if not nonzero:
        return b""
    parts = [nonzero]
    level = _bitset(data)
    while len(level) > 1:
        parts.append(level.translate(None, _ZERO))
        level = _bitset(level)
    parts.append(level)  # one byte, non-zero because the level above it is
    parts.reverse()
    return b"".join(parts)


def bitset_encode(data: bytes) -> bytes:
    """geth's ``bitsetEncodeBytes``: the raw recursive encoding, with no length check."""
    return _encode(_as_bytes(data))


def compress_bytes(data: bytes) -> bytes:
    """geth's ``CompressBytes``: the encoding if strictly shorter than ``data``, else ``data``."""
    raw = _as_bytes(data)
    encoded = _encode(raw)
    return encoded if len(encoded) < len(raw) else raw


def compress_many(vectors: npt.NDArray[np.uint8]) -> list[bytes]:
    """``compress_bytes`` of every row of a 2-D uint8 array, in row order.

    All rows are processed level by level in a handful of numpy calls; for 2048 sparse
    4096-byte rows this is several times faster than calling :func:`compress_bytes` per row.
    """
    if vectors.ndim != 2:
        raise InvalidInput(f"compress_many takes a 2-D array of rows, got {vectors.ndim}-D")
    if vectors.dtype != _U8:
        raise InvalidInput(f"compress_many takes a uint8 array, got {vectors.dtype}")
    rows, width = vectors.shape
    if width == 0 or rows == 0:
        return [b""] * rows
    matrix = np.ascontiguousarray(vectors)

    # One entry per level, top level first: (its non-zero bytes of all rows concatenated in
    # row order, where each row's run starts, where it ends).
    levels: list[tuple[bytes, list[int], list[int]]] = []
    level = matrix
    while True:
        mask = level.astype(np.bool_)
        nonzero = level[mask].tobytes()
        if level.shape[1] == 1:
            counts = mask[:, 0].astype(np.int64)
            below = None
        else:
            below = np.packbits(mask, axis=1)
            # a row's non-zero count at this level = the bits set in its bitset
            counts = np.bitwise_count(below).sum(axis=1, dtype=np.int64)
        ends = np.cumsum(counts)
        levels.append((nonzero, (ends - counts).tolist(), ends.tolist()))
        if below is None:
            break
        level = below
    levels.reverse()  # the encoding puts the deepest level first

    out: list[bytes] = []
    append = out.append
    for row in range(rows):
        encoded = b"".join([joined[lo[row] : hi[row]] for joined, lo, hi in levels])
        append(encoded if len(encoded) < width else matrix[row].tobytes())
    return out


def _decode_partial(data: bytes, target: int) -> tuple[bytes, int]:
    """geth's ``bitsetDecodePartialBytes``: (output, number of input bytes consumed)."""
    if target == 0:
        return b"", 0
    size = len(data)
    if size == 0:
        return bytes(target), 0
    if target == 1:
        first = data[0]
        return bytes((first,)), (1 if first else 0)
    bitset, ptr = _decode_partial(data, (target + 7) // 8)

    # Every set bit of the bitset, in order, takes the next input byte. geth checks each
    # bit in turn for "input used up", "position past target" and "zero byte", failing at
    # the first problem; find the first bit at which each check would fire and report the
    # earliest (ties keep geth's order of checks).
    large = len(bitset) >= _NUMPY_FROM
    if large:
        found = np.flatnonzero(np.unpackbits(np.frombuffer(bitset, dtype=_U8)))
        count = found.shape[0]
        first_exceeded = int(np.searchsorted(found, target))
    else:
        positions = [
            base + offset
            for base, value in zip(range(0, 8 * len(bitset), 8), bitset, strict=True)
            if value
            for offset in _SET_BITS[value]
        ]
        count = len(positions)
        first_exceeded = bisect_left(positions, target)
    available = size - ptr
    first_missing = available if count > available else count
    zero_at = data.find(0, ptr, ptr + min(count, available))
    first_zero = zero_at - ptr if zero_at >= 0 else count
    first_bad = min(first_missing, first_exceeded, first_zero)
    if first_bad < count:
        if first_bad == first_missing:
            raise CompressionError(_ERR_MISSING_DATA)
        if first_bad == first_exceeded:
            raise CompressionError(_ERR_EXCEEDED_TARGET)
        raise CompressionError(_ERR_ZERO_CONTENT)

    if count == 0:
        return bytes(target), ptr
    if large:
        out = np.zeros(target, dtype=_U8)
        out[found] = np.frombuffer(data, dtype=_U8, count=count, offset=ptr)
        return out.tobytes(), ptr + count
    small = bytearray(target)
    for position, value in zip(positions, data[ptr : ptr + count], strict=True):
        small[position] = value
    return bytes(small), ptr + count


def _check_target(target: int) -> None:
    if target < 0:
        raise InvalidInput(f"target size must not be negative, got {target}")


def bitset_decode(data: bytes, target: int) -> bytes:
    """geth's ``bitsetDecodeBytes``: decode to ``target`` bytes, using up all of ``data``."""
    _check_target(target)
    raw = _as_bytes(data)
    out, used = _decode_partial(raw, target)
    if used != len(raw):
        raise CompressionError(_ERR_UNREFERENCED_DATA)
    return out


def decompress_bytes(data: bytes, target: int) -> bytes:
    """geth's ``DecompressBytes``: the inverse of :func:`compress_bytes` for ``target`` bytes.

    Input longer than ``target`` fails; input exactly ``target`` long is returned as it is
    (it was stored uncompressed); anything shorter is bitset-decoded.
    """
    _check_target(target)
    raw = _as_bytes(data)
    if len(raw) > target:
        raise CompressionError(_ERR_EXCEEDED_TARGET)
    if len(raw) == target:
        return raw
    return bitset_decode(raw, target)
