"""Sections: turning a section's headers into its CHT and BloomTrie roots, cumulatively.

* CHT: key ``BE8(number)``, value ``RLP([hash, td])`` for every block of the section,
  inserted into the trie whose root is the previous section's CHT root.
* BloomTrie: key ``BE2(bit) ‖ BE8(section)``, value ``CompressBytes`` of the rotated bit
  vector for that bit; an all-zero vector is not stored (absent key = all zero).

Total difficulty is the running sum of header difficulties from genesis. A run that starts
at a later section must be given the state at the end of the section before it
(:class:`ChainState`) and a node store holding that state's tries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lightclient.core.bloombits import BLOOM_BITS, rotate_blooms
from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.compress import compress_many
from lightclient.core.header import Header
from lightclient.core.rlpcodec import encode_int
from lightclient.core.trie import BLANK_ROOT, NodeDB, insert_sorted
from lightclient.errors import InvalidInput, ReorgDetected, SectionError

__all__ = [
    "DEFAULT_CONFIRMATIONS",
    "DEFAULT_SECTION_SIZE",
    "ChainState",
    "SectionIndexer",
    "bloom_trie_key",
    "cht_key",
    "cht_value",
    "complete_sections",
    "validate_section_size",
]

DEFAULT_SECTION_SIZE = 32768
DEFAULT_CONFIRMATIONS = 256


def validate_section_size(size: int) -> int:
    """Section sizes must be positive multiples of 8 (whole bytes of bloom bits)."""
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0 or size % 8:
        raise InvalidInput(f"section size must be a positive multiple of 8, got {size!r}")
    return size


def complete_sections(head: int, section_size: int, confirmations: int) -> int:
    """How many sections are complete at ``head``: section i needs head >= (i+1)·N − 1 + K."""
    if confirmations < 0:
        raise InvalidInput(f"confirmations must not be negative, got {confirmations}")
    if head + 1 < confirmations:
        return 0
    return (head + 1 - confirmations) // section_size


def cht_key(number: int) -> bytes:
    return number.to_bytes(8, "big")


def cht_value(block_hash: bytes, td: int) -> bytes:
    """RLP([hash, td]), built by hand on the hot path (see rlpcodec)."""
    if 0 < td < 0x80:
        payload = b"\xa0" + block_hash + bytes((td,))
    else:
        td_bytes = td.to_bytes((td.bit_length() + 7) // 8, "big")
        payload = b"\xa0" + block_hash + bytes((0x80 + len(td_bytes),)) + td_bytes
        if len(td_bytes) > 55:
            payload = b"\xa0" + block_hash + encode_int(td)
    size = len(payload)
    return bytes((0xC0 + size,)) + payload if size < 56 else bytes((0xF8, size)) + payload


def bloom_trie_key(bit: int, section: int) -> bytes:
    return bit.to_bytes(2, "big") + section.to_bytes(8, "big")


@dataclass(frozen=True, slots=True)
class ChainState:
    """Where indexing stands: after ``sections`` complete sections."""

    sections: int = 0
    cht_root: bytes = BLANK_ROOT
    bloom_root: bytes = BLANK_ROOT
    td: int = 0  # total difficulty of the last block of the last section
    head_hash: bytes | None = None  # hash of that block

    def checkpoint(self) -> TrustedCheckpoint | None:
        if self.sections == 0 or self.head_hash is None:
            return None
        return TrustedCheckpoint(self.sections - 1, self.head_hash, self.cht_root, self.bloom_root)


class SectionIndexer:
    """Adds whole sections to the CHT and BloomTrie held in ``db``, one after another."""

    def __init__(self, section_size: int, db: NodeDB, state: ChainState | None = None) -> None:
        self.section_size = validate_section_size(section_size)
        self.db = db
        self.state = state or ChainState()

    def process(self, headers: Sequence[Header]) -> TrustedCheckpoint:
        """Add the next section; ``headers`` are its blocks, verified and in order."""
        size = self.section_size
        state = self.state
        section = state.sections
        first = section * size
        if len(headers) != size:
            raise SectionError(f"section {section} needs {size} headers, got {len(headers)}")
        if headers[0].number != first:
            raise SectionError(
                f"section {section} starts at block {first}, got block {headers[0].number}"
            )
        if state.head_hash is not None and headers[0].parent_hash != state.head_hash:
            raise ReorgDetected(
                f"block {first}'s parent hash 0x{headers[0].parent_hash.hex()} is not the hash "
                f"of indexed block {first - 1} (0x{state.head_hash.hex()}): the chain changed",
                block=first,
            )
        td = state.td
        cht_items: list[tuple[bytes, bytes]] = []
        append = cht_items.append
        for offset, header in enumerate(headers):
            number = first + offset
            if header.number != number:
                raise SectionError(f"section {section} is missing block {number}")
            td += header.difficulty
            append((number.to_bytes(8, "big"), cht_value(header.hash, td)))
        cht_root = insert_sorted(self.db, state.cht_root, cht_items)

        vectors = rotate_blooms([h.bloom for h in headers])
        compressed = compress_many(vectors)
        bloom_items = [
            (bloom_trie_key(bit, section), value)
            for bit, value in zip(range(BLOOM_BITS), compressed, strict=True)
            if value
        ]
        bloom_root = insert_sorted(self.db, state.bloom_root, bloom_items)

        head = headers[-1].hash
        self.state = ChainState(section + 1, cht_root, bloom_root, td, head)
        return TrustedCheckpoint(section, head, cht_root, bloom_root)
