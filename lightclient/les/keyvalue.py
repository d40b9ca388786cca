"""The key/value lists of Status and Announce updates (spec §4.3, §5.1).

On the wire: ``[[key: bytes, value: <one raw RLP item>], ...]``. The value is embedded as
it is, not wrapped in a string. Receivers build a map (the last duplicate wins), ignore
unknown keys and decode each value strictly when they read it. A list's size for the
receivers' caps is ``sum(len(key) + len(value) + 8)``.

Keys are ASCII in practice; they are carried as ``str`` decoded as Latin-1, so any byte
string round-trips.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from lightclient.errors import LesProtocolError
from lightclient.les.codec import (
    encode_bytes,
    encode_list,
    read_bytes,
    read_list,
    read_struct,
    whole_item,
)

__all__ = [
    "Entries",
    "decode_entries",
    "encode_entries",
    "entries_size",
    "get_value",
    "to_map",
]

# (key, raw RLP value) pairs in wire order.
Entries = tuple[tuple[str, bytes], ...]
T = TypeVar("T")


def encode_entries(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """The RLP list of entries; each value must already be one RLP item."""
    return encode_list(
        [encode_list([encode_bytes(key.encode("latin-1")), value]) for key, value in entries]
    )


def decode_entries(raw: bytes, what: str = "key/value list") -> Entries:
    """Entries of a key/value list; each entry must be exactly ``[key, value]``."""
    out: list[tuple[str, bytes]] = []
    for item in read_list(raw, what):
        key_raw, value = read_struct(item, 2, f"{what} entry")
        key = _read_key(key_raw, what)
        out.append((key, whole_item(value, f"{what} value of {key!r}")))
    return tuple(out)


def _read_key(raw: bytes, what: str) -> str:
    return read_bytes(raw, f"{what} key").decode("latin-1")


def entries_size(entries: Iterable[tuple[str, bytes]]) -> int:
    """What geth counts against its 100 000-byte caps: len(key) + len(value) + 8 each."""
    return sum(len(key) + len(value) + 8 for key, value in entries)


def to_map(entries: Iterable[tuple[str, bytes]]) -> dict[str, bytes]:
    """A map of the entries; for a repeated key the last value wins, as in geth."""
    return dict(entries)


def get_value(values: Mapping[str, bytes], key: str, read: Callable[[bytes, str], T]) -> T:
    """Decode ``values[key]`` with ``read``; a missing key is geth's ErrMissingKey."""
    raw = values.get(key)
    if raw is None:
        raise LesProtocolError(f"key {key!r} missing from the list", kind="ErrMissingKey")
    return read(raw, key)
