"""Depth-bounded JSON (core/jsontext.py): exact depth for any JSON, strings ignored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightclient.core.jsontext import check_depth, loads
from lightclient.errors import DecodeError

# Strings full of brackets, quotes and escapes: they must never count as nesting.
TEXT = st.text(alphabet=st.sampled_from('[]{}"\\ab\n\u00e9'), max_size=12)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=60,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300)
@given(value=VALUES, ensure_ascii=st.booleans(), as_bytes=st.booleans())
def test_depth_is_exact(value: Any, ensure_ascii: bool, as_bytes: bool) -> None:
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    data: str | bytes = text.encode() if as_bytes else text
    d = depth(value)
    check_depth(data, max_depth=d)  # exactly at the limit: accepted
    if d:
        with pytest.raises(DecodeError):
            check_depth(data, max_depth=d - 1)
    assert loads(data) == value


def test_deep_nesting_is_refused_before_parsing() -> None:
    for text in ("[" * 100_000, '{"a":' * 300 + "1" + "}" * 300, b"[" * 100_000):
        with pytest.raises(DecodeError, match="nested deeper than 256"):
            loads(text)
    # Brackets inside strings do not nest; many shallow arrays are fine.
    assert loads(json.dumps(["[" * 1000] * 3)) == ["[" * 1000] * 3
    assert loads("[" + ",".join(["[]"] * 5000) + "]") == [[]] * 5000


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 300 + b'"' + b'\\"' * 400_000,  # an unterminated string full of escaped quotes
        b'"' + b'a"' * 400_000 + b"[" * 300,  # quotes opening and closing strings all along
        b"," * 30_000 + b'"' + b'\\",' * 300_000,
    ],
    ids=["escaped", "alternating", "commas"],
)
def test_the_string_scan_is_linear(body: bytes) -> None:
    """These bodies (about 1 MB) made the old pattern retry from every quote: hours of CPU
    with the event loop (or the GIL) held. Linear, they take milliseconds; the timeout only
    catches a return of the quadratic scan."""
    from lightclient.core.jsontext import check_items
    from lightclient.errors import LimitExceeded

    with pytest.raises((DecodeError, LimitExceeded, ValueError)):
        check_depth(body)
        check_items(body, 20_000)
        loads(body)


def test_an_unterminated_string_hides_what_follows_as_the_decoder_does() -> None:
    text = '["a\\"' + "[" * 300
    check_depth(text)  # the brackets are inside the (unterminated) string
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(DecodeError):
        check_depth("[" * 300 + '"abc')
