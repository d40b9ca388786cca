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
from typing import Any

import numpy as np

from lightclient.errors import DecodeError

__all__ = ["MAX_DEPTH", "check_depth", "loads"]

MAX_DEPTH = 256  # far beyond any message of ours or of a node's JSON-RPC

# A JSON string, removed whole so that brackets inside it do not count.
_STRINGS_STR = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_STRINGS_BYTES = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN = np.zeros(256, dtype=np.int64)
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
    if steps.size and int(np.cumsum(steps).max()) > max_depth:
        raise DecodeError(f"JSON nested deeper than {max_depth} levels")


def loads(text: str | bytes, **hooks: Any) -> Any:
    """``json.loads`` after :func:`check_depth`; malformed text raises ValueError."""
    check_depth(text)
    return json.loads(text, **hooks)
