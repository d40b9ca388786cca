"""The few RLP shapes on the hot path, encoded and split by hand.

Why by hand: the ``rlp`` package encodes and decodes through generic sedes objects, which
costs 5-10 µs per header and per trie node in pure Python. Indexing a 32768-block section
touches ~33k headers and ~35k trie nodes, so the generic path alone would take most of a
second. The shapes here are only flat byte strings, lists of them and nested node lists; the
test suite checks every function against ``rlp`` on random input (hypothesis).
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence
from typing import Union

from lightclient.errors import DecodeError

__all__ = [
    "decode_node",
    "encode_bytes",
    "encode_int",
    "encode_list",
    "encode_node",
    "int_to_min_bytes",
    "item_bounds",
    "item_end",
    "split_list",
]

# What the splitters read: bytes, or a memory-mapped file.
Buffer = Union[bytes, mmap.mmap]  # noqa: UP007
# A trie node is a list whose items are byte strings or (inline) nodes.
Node = Union[bytes, Sequence["Node"]]  # noqa: UP007 (a recursive alias needs Union here)


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes((offset + length,))
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(body),)) + body


def encode_bytes(data: bytes) -> bytes:
    """RLP of a byte string."""
    n = len(data)
    if n == 1 and data[0] < 0x80:
        return bytes(data)
    if n < 56:
        return bytes((0x80 + n,)) + data
    return _length_prefix(n, 0x80) + data


def int_to_min_bytes(value: int) -> bytes:
    """Minimal big-endian bytes of a non-negative integer (0 is empty)."""
    if value < 0:
        raise ValueError("RLP integers are non-negative")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def encode_int(value: int) -> bytes:
    """RLP of a non-negative integer (0 encodes as 0x80)."""
    return encode_bytes(int_to_min_bytes(value))


def encode_list(encoded_items: Sequence[bytes]) -> bytes:
    """RLP list of items that are already RLP-encoded."""
    payload = b"".join(encoded_items)
    return _length_prefix(len(payload), 0xC0) + payload


def encode_node(node: Node) -> bytes:
    """RLP of a trie node: a list of byte strings and nested (inline) nodes."""
    if isinstance(node, bytes):
        return encode_bytes(node)
    parts = []
    for item in node:
        if isinstance(item, bytes):
            n = len(item)
            if n == 0:
                parts.append(b"\x80")
            elif n == 32:  # hash references: the common case
                parts.append(b"\xa0" + item)
            elif n == 1 and item[0] < 0x80:
                parts.append(item)
            elif n < 56:
                parts.append(bytes((0x80 + n,)) + item)
            else:
                parts.append(_length_prefix(n, 0x80) + item)
        else:
            parts.append(encode_node(item))
    payload = b"".join(parts)
    n = len(payload)
    if n < 56:
        return bytes((0xC0 + n,)) + payload
    return _length_prefix(n, 0xC0) + payload


def _long_form(data: Buffer, pos: int, size_len: int, end: int, kind: str) -> tuple[int, int]:
    """(payload start, payload length) of a long-form item whose length takes size_len bytes."""
    start = pos + 1 + size_len
    if start > end:
        raise DecodeError("RLP: truncated length prefix")
    if data[pos + 1] == 0:
        raise DecodeError("RLP: length prefix with leading zeros")
    n = int.from_bytes(data[pos + 1 : start], "big")
    if n < 56:
        raise DecodeError(f"RLP: long form used for a short {kind}")
    return start, n


def _item_bounds(data: Buffer, pos: int, end: int) -> tuple[int, int, bool]:
    """Return (payload start, payload end, is_list) of the item at ``pos``; strict (canonical)."""
    if pos >= end:
        raise DecodeError("RLP: unexpected end of data")
    b = data[pos]
    if b < 0x80:
        return pos, pos + 1, False
    if b < 0xB8:
        n = b - 0x80
        start = pos + 1
        if n == 1 and start < end and data[start] < 0x80:
            raise DecodeError("RLP: single byte below 0x80 must not have a length prefix")
        is_list = False
    elif b < 0xC0:
        start, n = _long_form(data, pos, b - 0xB7, end, "string")
        is_list = False
    elif b < 0xF8:
        n = b - 0xC0
        start = pos + 1
        is_list = True
    else:
        start, n = _long_form(data, pos, b - 0xF7, end, "list")
        is_list = True
    stop = start + n
    if stop > end:
        raise DecodeError("RLP: item runs past the end of its container")
    return start, stop, is_list


def item_bounds(data: Buffer, pos: int = 0, end: int | None = None) -> tuple[int, int, bool]:
    """(payload start, payload end, is_list) of the canonical RLP item at ``pos``.

    The item must end at or before ``end`` (default: the end of ``data``).
    """
    return _item_bounds(data, pos, len(data) if end is None else end)


def item_end(data: Buffer, pos: int = 0) -> int:
    """Offset just past the RLP item that starts at ``pos``."""
    return _item_bounds(data, pos, len(data))[1]


def split_list(data: bytes, pos: int = 0, end: int | None = None) -> list[bytes]:
    """Split one RLP list of *byte strings* (a block header, say) into its items.

    The list must span exactly ``data[pos:end]``; nested lists are refused.
    """
    if end is None:
        end = len(data)
    start, stop, is_list = _item_bounds(data, pos, end)
    if not is_list:
        raise DecodeError("RLP: expected a list, found a byte string")
    if stop != end:
        raise DecodeError("RLP: trailing bytes after the list")
    items: list[bytes] = []
    p = start
    while p < stop:
        s, e, nested = _item_bounds(data, p, stop)
        if nested:
            raise DecodeError("RLP: unexpected nested list")
        items.append(data[s:e])
        p = e
    return items


def _decode_item(data: bytes, pos: int, end: int) -> tuple[Node, int]:
    start, stop, is_list = _item_bounds(data, pos, end)
    if not is_list:
        return data[start:stop], stop
    items: list[Node] = []
    p = start
    while p < stop:
        item, p = _decode_item(data, p, stop)
        items.append(item)
    return items, stop


def decode_node(data: bytes) -> Node:
    """Decode one RLP item (a trie node: nested lists of byte strings), strictly.

    The whole of ``data`` must be that one item.
    """
    item, stop = _decode_item(data, 0, len(data))
    if stop != len(data):
        raise DecodeError("RLP: trailing bytes after the item")
    return item
