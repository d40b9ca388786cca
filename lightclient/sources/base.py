"""The header-source interface, and the checks every source's output goes through.

A source hands out raw header RLP with the hash it claims for each block. Nothing a
source says is trusted: :func:`checked_headers` recomputes every hash from the RLP,
checks the numbers and that parent hashes link, and reports gaps and reorgs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from lightclient.core.header import Header, decode_header
from lightclient.errors import ChainGap, InvalidHeader, ReorgDetected

__all__ = ["HeaderSource", "RawHeader", "checked_headers"]


@dataclass(frozen=True, slots=True)
class RawHeader:
    """What a source returns for one block: its number, the hash it claims, and the RLP."""

    number: int
    hash: bytes | None
    rlp: bytes


@runtime_checkable
class HeaderSource(Protocol):
    """Anything that can hand out a chain's headers by number."""

    @property
    def description(self) -> str:
        """A short name for messages, e.g. ``http://127.0.0.1:8545`` or a file path."""
        ...

    async def head(self) -> int:
        """The number of the newest block the source can give."""
        ...

    async def headers(self, start: int, count: int) -> list[RawHeader]:
        """Headers ``start .. start+count-1``, in order; raises ChainGap if one is missing."""
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...


def checked_headers(raw: list[RawHeader], start: int, parent_hash: bytes | None) -> list[Header]:
    """Verify a batch from a source and decode it.

    ``parent_hash`` is the hash of block ``start - 1`` when known (None at genesis or when
    the batch starts the run). Raises :class:`InvalidHeader` for bad RLP, wrong numbers or a
    hash mismatch, :class:`ChainGap` for a missing block and :class:`ReorgDetected` when a
    parent hash does not link.
    """
    out: list[Header] = []
    expected = start
    previous = parent_hash
    for item in raw:
        if item.number != expected:
            if item.number > expected:
                raise ChainGap(f"the source skipped block {expected}", block=expected)
            raise InvalidHeader(
                f"the source returned block {item.number} where block {expected} was due",
                block=expected,
            )
        header = decode_header(item.rlp, item.hash)
        if header.number != expected:
            raise InvalidHeader(
                f"the RLP of block {expected} carries number {header.number}", block=expected
            )
        if previous is not None and header.parent_hash != previous:
            raise ReorgDetected(
                f"block {expected}'s parent hash 0x{header.parent_hash.hex()} does not match "
                f"block {expected - 1}'s hash 0x{previous.hex()}: the chain changed (reorg) "
                "or the source is inconsistent",
                block=expected,
            )
        out.append(header)
        previous = header.hash
        expected += 1
    return out
