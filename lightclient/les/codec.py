"""Strict RLP readers for LES messages, failing as geth's decoder does (spec §0).

Every reader takes the *whole encoding* of one item (its prefix included) and raises
:class:`LesProtocolError` (``ErrDecode``, Disconnect 0x10) on anything geth refuses:
non-canonical sizes and integers, a single byte below 0x80 with a prefix, a fixed-size
array of the wrong length, a struct with too few or too many fields, a boolean other
than ``80``/``01``, an integer past 64 bits where geth decodes a ``uint64``.

Writers are the project's own :mod:`lightclient.core.rlpcodec` encoders; this module adds
only :func:`encode_bool`.
"""

from __future__ import annotations

from lightclient.core.rlpcodec import encode_bytes, encode_int, encode_list, item_bounds
from lightclient.errors import DecodeError, LesProtocolError

__all__ = [
    "MAX_UINT64",
    "encode_bool",
    "encode_bytes",
    "encode_int",
    "encode_list",
    "first_item",
    "read_big",
    "read_bool",
    "read_bytes",
    "read_fixed",
    "read_list",
    "read_struct",
    "read_uint",
    "whole_item",
]

MAX_UINT64 = 2**64 - 1


def _fail(what: str, problem: str) -> LesProtocolError:
    return LesProtocolError(f"{what}: {problem}", kind="ErrDecode")


def _bounds(raw: bytes, what: str) -> tuple[int, int, bool]:
    try:
        start, stop, is_list = item_bounds(raw, 0)
    except DecodeError as exc:
        raise _fail(what, str(exc)) from None
    if stop != len(raw):
        raise _fail(what, "trailing bytes after the value")
    return start, stop, is_list


def first_item(payload: bytes, what: str = "message") -> bytes:
    """The encoding of the first item of a message payload.

    geth's ``Msg.Decode`` reads one value and does not look at what follows it, so
    trailing bytes are dropped here, not refused.
    """
    try:
        _, stop, _ = item_bounds(payload, 0)
    except DecodeError as exc:
        raise _fail(what, str(exc)) from None
    return payload[:stop]


def whole_item(raw: bytes, what: str) -> bytes:
    """``raw`` itself, after checking it is exactly one canonical item (``DecodeBytes``)."""
    _bounds(raw, what)
    return raw


def read_list(raw: bytes, what: str) -> list[bytes]:
    """The encodings of the elements of the list ``raw``."""
    start, stop, is_list = _bounds(raw, what)
    if not is_list:
        raise _fail(what, "expected a list, found a string")
    items: list[bytes] = []
    pos = start
    while pos < stop:
        try:
            _, end, _ = item_bounds(raw, pos, stop)
        except DecodeError as exc:
            raise _fail(what, str(exc)) from None
        items.append(raw[pos:end])
        pos = end
    return items


def read_struct(raw: bytes, fields: int, what: str) -> list[bytes]:
    """A list of exactly ``fields`` elements (geth structs refuse extra or missing ones)."""
    items = read_list(raw, what)
    if len(items) != fields:
        problem = "too few elements" if len(items) < fields else "too many elements"
        raise _fail(what, f"{problem} ({len(items)}, expected {fields})")
    return items


def read_bytes(raw: bytes, what: str) -> bytes:
    """The payload of a byte string."""
    start, stop, is_list = _bounds(raw, what)
    if is_list:
        raise _fail(what, "expected a string, found a list")
    return raw[start:stop]


def read_fixed(raw: bytes, size: int, what: str) -> bytes:
    """A byte array of exactly ``size`` bytes (hashes, fork hash, signatures)."""
    value = read_bytes(raw, what)
    if len(value) != size:
        problem = "too short" if len(value) < size else "too long"
        raise _fail(what, f"input string {problem} for [{size}]byte ({len(value)} bytes)")
    return value


def read_big(raw: bytes, what: str) -> int:
    """A non-negative integer of any size, minimal (no leading zero byte)."""
    value = read_bytes(raw, what)
    if value[:1] == b"\x00":
        raise _fail(what, "non-canonical integer (leading zero bytes)")
    return int.from_bytes(value, "big")


def read_uint(raw: bytes, what: str) -> int:
    """A canonical integer that fits geth's ``uint64``."""
    value = read_bytes(raw, what)
    if len(value) > 8:
        raise _fail(what, "input string too long for uint64")
    if value[:1] == b"\x00":
        raise _fail(what, "non-canonical integer (leading zero bytes)")
    return int.from_bytes(value, "big")


def read_bool(raw: bytes, what: str) -> bool:
    """geth's bool: ``80`` is false, ``01`` is true, anything else is an error."""
    if raw == b"\x80":
        return False
    if raw == b"\x01":
        return True
    raise _fail(what, f"invalid boolean value {raw.hex()}")


def encode_bool(value: bool) -> bytes:
    return b"\x01" if value else b"\x80"
