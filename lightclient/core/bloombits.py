"""Bloom-bit rotation (geth core/bloombits): per section, one bit vector per bloom bit.

For a section of ``n`` blocks (a multiple of 8) there are 2048 vectors of ``n/8`` bytes.
Vector ``k`` has bit ``7 - p%8`` of byte ``p//8`` set when block ``p`` of the section has
bloom bit ``k`` set, where bloom bit ``k`` is bit ``k%8`` (from the LSB) of byte
``255 - k//8`` of the 256-byte bloom: the bloom read as one big-endian 2048-bit number.

The rotation is a bit-matrix transpose, done with numpy's packbits/unpackbits instead of
2048 x n Python bit operations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from lightclient.core.keccak import keccak
from lightclient.errors import InvalidInput

__all__ = ["BLOOM_BITS", "BLOOM_BYTES", "bloom_bit_indexes", "rotate_blooms"]

BLOOM_BYTES = 256
BLOOM_BITS = 2048


def rotate_blooms(blooms: Sequence[bytes]) -> npt.NDArray[np.uint8]:
    """The 2048 rotated vectors of a section's blooms, as a (2048, n/8) uint8 array.

    Row ``k`` is the vector for bloom bit ``k``. ``blooms`` are the section's headers'
    logsBloom fields in block order.
    """
    n = len(blooms)
    if n % 8:
        raise InvalidInput("section count not multiple of 8")
    if n == 0:
        return np.zeros((BLOOM_BITS, 0), dtype=np.uint8)
    joined = b"".join(blooms)
    if len(joined) != n * BLOOM_BYTES:
        raise InvalidInput("every bloom must be 256 bytes")
    # by_position[q, g]: the bloom of block 8g + q.
    by_position = np.ascontiguousarray(
        np.frombuffer(joined, dtype=np.uint8).reshape(n // 8, 8, BLOOM_BYTES).transpose(1, 0, 2)
    )
    # packed[g, j]: byte g of the vector for MSB-first bloom bit j (= bloom bit 2047 - j).
    # Block 8g + q lands in bit 7 - q of that byte; doing one q at a time keeps the arrays
    # at n/8 x 2048 bytes (a full unpack + transpose is 5x slower here).
    packed = np.zeros((n // 8, BLOOM_BITS), dtype=np.uint8)
    for q in range(8):
        bits = np.unpackbits(by_position[q], axis=1)
        bits <<= 7 - q
        packed |= bits
    return np.ascontiguousarray(packed.T[::-1])


def bloom_bit_indexes(value: bytes) -> tuple[int, int, int]:
    """The three bloom bits a log address or topic sets (geth's calcBloomIndexes)."""
    h = keccak(value)
    return (
        ((h[0] << 8) & 2047) + h[1],
        ((h[2] << 8) & 2047) + h[3],
        ((h[4] << 8) & 2047) + h[5],
    )
