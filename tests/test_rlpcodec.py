"""The hand-written RLP paths agree with the rlp package."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from lightclient.core.rlpcodec import (
    decode_node,
    encode_bytes,
    encode_int,
    encode_list,
    encode_node,
    split_list,
)
from lightclient.errors import DecodeError

nodes: st.SearchStrategy[Any] = st.recursive(
    st.binary(max_size=70), lambda children: st.lists(children, max_size=17), max_leaves=40
)


@settings(max_examples=300, deadline=None)
@given(node=nodes)
def test_encode_node_matches_rlp(node: Any) -> None:
    assert encode_node(node) == rlp.encode(node)


@given(value=st.integers(min_value=0, max_value=2**300))
def test_encode_int_matches_rlp(value: int) -> None:
    assert encode_int(value) == rlp.encode(value)


@given(items=st.lists(st.binary(max_size=300), max_size=25))
def test_split_list_round_trip(items: list[bytes]) -> None:
    encoded = encode_list([encode_bytes(i) for i in items])
    assert encoded == rlp.encode(items)
    assert split_list(encoded) == items


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=120))
def test_split_list_is_as_strict_as_rlp(data: bytes) -> None:
    """Whatever rlp refuses as a flat list of strings, split_list refuses too, and vice versa."""
    try:
        expected = rlp.decode(data, strict=True)
        ok = isinstance(expected, list) and all(isinstance(x, bytes) for x in expected)
    except rlp.exceptions.DecodingError:
        ok = False
    if ok:
        assert split_list(data) == expected
    else:
        with pytest.raises(DecodeError):
            split_list(data)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xc2\x81\x05", "single byte below 0x80 with a length prefix"),
        (b"\xc3\xb8\x01\x00", "long form for a short string"),
        (b"\xc2\x81", "item runs past its list"),
        (b"\xf8\x01\x00", "long form for a short list"),
        (b"\xc1\x80\x80", "trailing bytes"),
        (b"\xc4\xb9\x00\x01\x00", "length with a leading zero"),
        (b"\x85hello", "a string, not a list"),
    ],
)
def test_non_canonical_refused(data: bytes, why: str) -> None:
    with pytest.raises(DecodeError):
        split_list(data)


@settings(max_examples=300, deadline=None)
@given(node=nodes)
def test_decode_node_round_trip(node: Any) -> None:
    assert decode_node(rlp.encode(node)) == node


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=100))
def test_decode_node_is_as_strict_as_rlp(data: bytes) -> None:
    try:
        expected = rlp.decode(data, strict=True)
    except rlp.exceptions.DecodingError:
        with pytest.raises(DecodeError):
            decode_node(data)
    else:
        assert decode_node(data) == expected
