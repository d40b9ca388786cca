"""Strict readers for the RLP values of the handshake and the base protocol (spec §0).

Each raises :class:`RlpxError` with reason 0x01 (geth drops the connection without a
Disconnect when an auth, ack, Hello or frame code does not decode).
"""

from __future__ import annotations

from collections.abc import Sequence

from lightclient.core.rlpcodec import Node, decode_node, item_end
from lightclient.errors import DecodeError, RlpxError

__all__ = ["as_bytes", "as_list", "as_uint", "decode_first"]


def decode_first(data: bytes, what: str) -> Node:
    """The first RLP value in ``data``; what follows is ignored, as geth's stream decoder does."""
    try:
        return decode_node(data[: item_end(data)])
    except DecodeError as exc:
        raise RlpxError(f"{what}: {exc}") from None


def as_list(node: Node, what: str, *, min_items: int = 0) -> Sequence[Node]:
    """``node`` as a list of at least ``min_items`` elements."""
    if isinstance(node, bytes):
        raise RlpxError(f"{what}: expected a list, found a string")
    if len(node) < min_items:
        raise RlpxError(f"{what}: too few elements ({len(node)} < {min_items})")
    return node


def as_bytes(node: Node, what: str, size: int | None = None) -> bytes:
    """``node`` as a byte string, of exactly ``size`` bytes when given."""
    if not isinstance(node, bytes):
        raise RlpxError(f"{what}: expected a string, found a list")
    if size is not None and len(node) != size:
        raise RlpxError(f"{what}: wrong length {len(node)} (want {size})")
    return node


def as_uint(node: Node, what: str, *, bits: int = 64) -> int:
    """``node`` as a canonical unsigned integer of at most ``bits`` bits."""
    raw = as_bytes(node, what)
    if raw[:1] == b"\x00":
        raise RlpxError(f"{what}: non-canonical integer (leading zero bytes)")
    if len(raw) * 8 > bits:
        raise RlpxError(f"{what}: integer larger than {bits} bits")
    return int.from_bytes(raw, "big")
