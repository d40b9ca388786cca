"""Synthetic chains: valid, linked header RLP with real difficulties and blooms, fast.

For tests and benchmarks that need many sections without mining them. Headers have the
shape of the chosen fork (frontier 15 fields ... prague 21) and each one's parent hash is
the keccak of the previous header's RLP, so they pass every check a real chain passes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import encode_bytes, encode_list, int_to_min_bytes
from lightclient.sources.base import RawHeader

__all__ = ["FORK_FIELD_COUNTS", "SyntheticChain", "make_bloom"]

FORK_FIELD_COUNTS = {"frontier": 15, "london": 16, "shanghai": 17, "cancun": 20, "prague": 21}


def make_bloom(rng: random.Random, bits: int) -> bytes:
    """A 256-byte bloom with up to ``bits`` random bits set."""
    bloom = bytearray(256)
    for _ in range(bits):
        k = rng.randrange(2048)
        bloom[255 - k // 8] |= 1 << (k % 8)
    return bytes(bloom)


@dataclass
class SyntheticChain:
    """A deterministic chain of ``length`` headers; ``headers()`` yields RawHeader objects."""

    length: int
    seed: int = 0
    fork: str = "london"
    bloom_bits: int = 12  # bits per block that has logs
    log_fraction: float = 0.3  # share of blocks with a non-empty bloom
    base_difficulty: int = 17_179_869_184  # mainnet's genesis difficulty
    first_number: int = 0
    first_parent: bytes = b"\x00" * 32

    def __post_init__(self) -> None:
        if self.fork not in FORK_FIELD_COUNTS:
            raise ValueError(f"unknown fork {self.fork!r}")
        self._cache: list[RawHeader] | None = None

    def _header(self, rng: random.Random, number: int, parent: bytes) -> bytes:
        has_logs = rng.random() < self.log_fraction
        bloom = make_bloom(rng, self.bloom_bits) if has_logs else b"\x00" * 256
        difficulty = self.base_difficulty + rng.randrange(0, self.base_difficulty // 64 + 1)
        fields: list[bytes] = [
            parent,
            keccak(b"uncles"),
            rng.randbytes(20),
            rng.randbytes(32),
            rng.randbytes(32),
            rng.randbytes(32),
            bloom,
            int_to_min_bytes(difficulty),
            int_to_min_bytes(number),
            int_to_min_bytes(30_000_000),
            int_to_min_bytes(rng.randrange(0, 30_000_000)),
            int_to_min_bytes(1_438_269_988 + 13 * number),
            rng.randbytes(rng.randrange(0, 33)),
            rng.randbytes(32),
            rng.randbytes(8),
        ]
        count = FORK_FIELD_COUNTS[self.fork]
        extra: list[bytes] = [
            int_to_min_bytes(rng.randrange(7, 10**11)),  # baseFeePerGas
            rng.randbytes(32),  # withdrawalsRoot
            int_to_min_bytes(rng.randrange(0, 6) * 131072),  # blobGasUsed
            int_to_min_bytes(rng.randrange(0, 10**7)),  # excessBlobGas
            rng.randbytes(32),  # parentBeaconBlockRoot
            rng.randbytes(32),  # requestsHash
        ]
        fields.extend(extra[: count - 15])
        return encode_list([encode_bytes(f) for f in fields])

    def headers(self) -> list[RawHeader]:
        if self._cache is None:
            rng = random.Random(self.seed)
            out: list[RawHeader] = []
            parent = self.first_parent
            for i in range(self.length):
                number = self.first_number + i
                raw = self._header(rng, number, parent)
                parent = keccak(raw)
                out.append(RawHeader(number, parent, raw))
            self._cache = out
        return self._cache

    def __iter__(self) -> Iterator[RawHeader]:
        return iter(self.headers())

    def rlp_file_bytes(self, *, as_blocks: bool = False) -> bytes:
        """The chain as an RLP file: concatenated headers, or ``[header, [], []]`` blocks."""
        if not as_blocks:
            return b"".join(h.rlp for h in self.headers())
        return b"".join(encode_list([h.rlp, b"\xc0", b"\xc0"]) for h in self.headers())


class MemoryHeaderSource:
    """The in-memory twin of the header sources: serves a list of RawHeader objects."""

    def __init__(self, headers: list[RawHeader], description: str = "memory") -> None:
        self._headers = headers
        self._first = headers[0].number if headers else 0
        self._description = description

    @property
    def description(self) -> str:
        return self._description

    async def head(self) -> int:
        return self._first + len(self._headers) - 1

    async def headers(self, start: int, count: int) -> list[RawHeader]:
        from lightclient.errors import ChainGap

        lo = start - self._first
        if lo < 0 or lo + count > len(self._headers):
            raise ChainGap(f"{self._description} has no block {max(start, lo)}", block=start)
        return self._headers[lo : lo + count]

    async def number_of(self, block_hash: bytes) -> int | None:
        for header in self._headers:
            if header.hash == block_hash:
                return header.number
        return None

    async def close(self) -> None:
        return None
