"""Headers from a file: concatenated RLP headers, or RLP blocks as ``geth export`` writes
them (``[header, transactions, uncles, ...]``), optionally gzip-compressed (``.gz``).

The file is scanned once on open to find where each item starts; items are read on demand.
Block numbers are taken to be consecutive from the first item; :func:`checked_headers`
reports any item whose number differs.
"""

from __future__ import annotations

import gzip
import mmap
import os
from array import array
from pathlib import Path

from lightclient.core.header import decode_header
from lightclient.core.rlpcodec import item_end
from lightclient.errors import ChainGap, DecodeError, InvalidHeader, SourceUnavailable
from lightclient.sources.base import RawHeader

__all__ = ["RlpFileHeaderSource"]


class RlpFileHeaderSource:
    """A :class:`~lightclient.sources.base.HeaderSource` over an RLP file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._data = self._open()
        self._starts = array("Q")
        self._ends = array("Q")
        self._scan()
        if not self._starts:
            raise SourceUnavailable(f"{self.path}: the file holds no headers")
        self.first_block = self._number_of(0)

    @property
    def description(self) -> str:
        return str(self.path)

    def _open(self) -> bytes | mmap.mmap:
        try:
            if self.path.suffix == ".gz":
                with gzip.open(self.path, "rb") as fh:
                    return fh.read()
            with self.path.open("rb") as fh:
                if os.fstat(fh.fileno()).st_size == 0:
                    return b""
                return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise SourceUnavailable(f"cannot read {self.path}: {exc}") from None

    def _scan(self) -> None:
        """Find each item's header bytes: the item itself, or a block's first element."""
        data, size, pos = self._data, len(self._data), 0
        starts, ends = self._starts, self._ends
        while pos < size:
            lead = data[pos]
            if lead < 0xC0:
                raise InvalidHeader(
                    f"{self.path}: item {len(starts)} at byte {pos} is not an RLP list "
                    "(not a header or block file?)"
                )
            try:
                end = item_end(data, pos)
                inner = pos + (1 if lead < 0xF8 else 1 + lead - 0xF7)
                if inner < end and data[inner] >= 0xC0:  # a block: [header, txs, ...]
                    starts.append(inner)
                    ends.append(item_end(data, inner))
                else:
                    starts.append(pos)
                    ends.append(end)
            except DecodeError as exc:
                raise InvalidHeader(
                    f"{self.path}: truncated or malformed RLP in item {len(starts)} at byte "
                    f"{pos} (after {len(starts)} complete items): {exc}"
                ) from None
            pos = end

    def _header_rlp(self, index: int) -> bytes:
        return bytes(self._data[self._starts[index] : self._ends[index]])

    def _number_of(self, index: int) -> int:
        return decode_header(self._header_rlp(index)).number

    async def head(self) -> int:
        return self.first_block + len(self._starts) - 1

    async def headers(self, start: int, count: int) -> list[RawHeader]:
        first, total = self.first_block, len(self._starts)
        if start < first:
            raise ChainGap(
                f"{self.path} starts at block {first}; block {start} is not in it (CHT and "
                "BloomTrie sections are cumulative: indexing needs every header from block 0)",
                block=start,
            )
        if start + count > first + total:
            missing = max(start, first + total)
            raise ChainGap(f"{self.path} ends at block {first + total - 1}", block=missing)
        data, starts, ends = self._data, self._starts, self._ends
        lo = start - first
        return [
            RawHeader(start + i, None, bytes(data[starts[lo + i] : ends[lo + i]]))
            for i in range(count)
        ]

    async def close(self) -> None:
        if isinstance(self._data, mmap.mmap):
            self._data.close()
