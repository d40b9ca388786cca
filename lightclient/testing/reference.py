"""A deliberately naive reference for CHT and BloomTrie roots.

Straight from the layout in the spec, with no shortcut: py-trie's ``HexaryTrie`` with one
insert per key, the rlp package for values, bit-by-bit bloom rotation and a plain-Python
CompressBytes. Tests compare the fast builder against it; the benchmark uses it as the
baseline. Far too slow for real use (seconds per 32768-block section).
"""

from __future__ import annotations

from collections.abc import Sequence

import rlp
from trie.hexary import HexaryTrie

from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.header import Header

__all__ = ["NaiveIndexer", "naive_compress", "naive_encode", "naive_rotate"]


def naive_encode(d: bytes) -> bytes:
    """bitsetEncodeBytes written as plainly as possible: recursive, one byte at a time."""
    if len(d) == 0:
        return b""
    if len(d) == 1:
        return b"" if d[0] == 0 else bytes(d)
    bitset = bytearray((len(d) + 7) // 8)
    nonzero = bytearray()
    for i, b in enumerate(d):
        if b:
            nonzero.append(b)
            bitset[i // 8] |= 1 << (7 - i % 8)
    if not nonzero:
        return b""
    return naive_encode(bytes(bitset)) + bytes(nonzero)


def naive_compress(data: bytes) -> bytes:
    """CompressBytes written as plainly as possible."""
    e = naive_encode(data)
    return e if len(e) < len(data) else bytes(data)


def naive_rotate(blooms: Sequence[bytes]) -> list[bytes]:
    """The 2048 rotated vectors, bit by bit."""
    n = len(blooms)
    vectors = [bytearray(n // 8) for _ in range(2048)]
    for p, bloom in enumerate(blooms):
        for k in range(2048):
            if bloom[255 - k // 8] >> (k % 8) & 1:
                vectors[k][p // 8] |= 1 << (7 - p % 8)
    return [bytes(v) for v in vectors]


class NaiveIndexer:
    """Cumulative CHT and BloomTrie with one HexaryTrie insert per key."""

    def __init__(self, section_size: int) -> None:
        self.section_size = section_size
        self.cht = HexaryTrie({})
        self.bloom = HexaryTrie({})
        self.td = 0
        self.sections = 0

    def process(self, headers: Sequence[Header]) -> TrustedCheckpoint:
        section = self.sections
        for header in headers:
            self.td += header.difficulty
            self.cht[header.number.to_bytes(8, "big")] = rlp.encode([header.hash, self.td])
        for bit, vector in enumerate(naive_rotate([h.bloom for h in headers])):
            value = naive_compress(vector)
            key = bit.to_bytes(2, "big") + section.to_bytes(8, "big")
            if value:
                self.bloom[key] = value
            else:
                del self.bloom[key]  # type: ignore[no-untyped-call]
        self.sections += 1
        return TrustedCheckpoint(
            section, headers[-1].hash, self.cht.root_hash, self.bloom.root_hash
        )
