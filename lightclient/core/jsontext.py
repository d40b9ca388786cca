"""JSON text from outside (peers, nodes, RPC callers, files) with a bound on nesting depth.

Why by hand: the standard library's C decoder recurses once per nesting level and trusts
the interpreter's recursion limit to stop it, but py-evm and py_ecc raise that limit to
10^4-10^5 when imported, beyond what the C stack holds: a message of 100,000 ``[`` then
crashes the whole process (seen here: a segmentation fault inside ``json.loads``). No
maintained JSON library we use bounds the depth while keeping ``parse_int``/``parse_float``
hooks, so the depth is checked first: a count of openers clears ordinary messages at once, and
larger ones have their strings cut out and their brackets summed with numpy.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from lightclient.errors import DecodeError, InvalidInput, LimitExceeded

__all__ = ["MAX_DEPTH", "check_depth", "check_items", "load_file", "loads", "loads_strict"]

MAX_DEPTH = 256  # far beyond any message of ours or of a node's JSON-RPC

# A JSON string, removed whole so that brackets inside it do not count. An unterminated
# string runs to the end of the text (the decoder never looks past it either), and the
# quantifiers are possessive: the scan is linear in the text. (A pattern that must find a
# closing quote retries from every later quote of an unterminated string: quadratic, and a
# 40 KB body once stalled the server for 5 s.)
_STRINGS_STR = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_STRINGS_BYTES = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_OPEN = np.zeros(256, dtype=np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


def check_depth(text: str | bytes, max_depth: int = MAX_DEPTH) -> None:
    """Raise DecodeError if ``text`` nests arrays and objects deeper than ``max_depth``."""
    if isinstance(text, str):
        if text.count("[") + text.count("{") <= max_depth:
            return  # cannot nest deeper than it has openers
        raw = _STRINGS_STR.sub("", text).encode("utf-8", "surrogatepass")
    else:
        if text.count(b"[") + text.count(b"{") <= max_depth:
            return
        raw = _STRINGS_BYTES.sub(b"", bytes(text))
    steps = _OPEN[np.frombuffer(raw, dtype=np.uint8)]
    if steps.size and int(np.cumsum(steps, dtype=np.int32).max()) > max_depth:
        raise DecodeError(f"JSON nested deeper than {max_depth} levels")


def check_items(text: str | bytes, max_items: int) -> None:
    """Raise LimitExceeded if ``text`` holds more than about ``max_items`` values.

    Values are counted as separators plus openers outside strings (an upper bound on the
    number of array elements and object members), so that a body of ``[1,1,1,...]`` is
    refused before the decoder builds millions of objects. Commas are counted first; only
    a text with more of them than allowed has its strings cut out for the exact count.
    """
    if isinstance(text, str):
        if text.count(",") + text.count("[") + text.count("{") <= max_items:
            return
        bare = _STRINGS_STR.sub("", text)
        count = bare.count(",") + bare.count("[") + bare.count("{")
    else:
        if text.count(b",") + text.count(b"[") + text.count(b"{") <= max_items:
            return
        raw = _STRINGS_BYTES.sub(b"", bytes(text))
        count = raw.count(b",") + raw.count(b"[") + raw.count(b"{")
    if count > max_items:
        raise LimitExceeded(f"JSON holds more than {max_items} values")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_strict(
    text: str | bytes, *, max_items: int, max_depth: int = MAX_DEPTH, **hooks: Any
) -> Any:
    """Strict JSON from outside: UTF-8 only (no BOM, no UTF-16/32, no lone surrogates in
    the bytes), no ``NaN``/``Infinity``, bounded depth and number of values. Raises
    ValueError on anything else (DecodeError past the depth, LimitExceeded past the count)."""
    if isinstance(text, bytes | bytearray | memoryview):
        text = bytes(text).decode("utf-8")  # strict: UnicodeDecodeError is a ValueError
    if text.startswith("\ufeff"):
        raise ValueError("a byte order mark is not JSON")
    check_depth(text, max_depth)
    check_items(text, max_items)
    return json.loads(text, parse_constant=_no_constant, **hooks)


def loads(text: str | bytes, **hooks: Any) -> Any:
    """``json.loads`` after :func:`check_depth`; malformed text raises ValueError."""
    check_depth(text)
    return json.loads(text, **hooks)


def load_file(path: str | Path, *, what: str, max_bytes: int = 64 * 1024 * 1024) -> Any:
    """The JSON in a file the user named (a genesis, a checkpoint, a keystore), read at most
    ``max_bytes`` and depth-checked; every failure is one InvalidInput naming the file."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} {file}: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise InvalidInput(f"{file} is larger than {max_bytes} bytes")
    try:
        return loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"{file} is not JSON: {exc}") from None
