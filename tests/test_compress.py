"""CompressBytes / DecompressBytes against geth's own vectors and a plain reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import load_vectors
from hypothesis import given, settings
from hypothesis import strategies as st

from lightclient.core.compress import (
    bitset_decode,
    bitset_encode,
    compress_bytes,
    compress_many,
    decompress_bytes,
)
from lightclient.errors import CompressionError, InvalidInput
from lightclient.testing.reference import naive_compress

VECTORS: Any = load_vectors("compress_vectors.json")


def _hex(text: str) -> bytes:
    return bytes.fromhex(text[2:])


@pytest.mark.parametrize("data", VECTORS["encodingCycle"])
def test_encoding_cycle(data: str) -> None:
    raw = _hex(data)
    assert bitset_decode(bitset_encode(raw), len(raw)) == raw


@pytest.mark.parametrize(
    "case", VECTORS["decodingCycle"], ids=lambda c: f"{c['size']}-{c['input'][:12]}"
)
def test_decoding_cycle(case: dict[str, Any]) -> None:
    data = _hex(case["input"])
    if case["fail"] is None:
        original = bitset_decode(data, case["size"])
        assert len(original) == case["size"]
        assert bitset_encode(original) == data
    else:
        with pytest.raises(CompressionError) as info:
            bitset_decode(data, case["size"])
        assert str(info.value) == case["fail"]


@pytest.mark.parametrize("case", VECTORS["compression"])
def test_compression(case: dict[str, str]) -> None:
    data, out = _hex(case["input"]), _hex(case["output"])
    assert compress_bytes(data) == out
    assert decompress_bytes(out, len(data)) == data


def test_decompress_longer_than_target() -> None:
    for case in VECTORS["decompressErrors"]:
        with pytest.raises(CompressionError) as info:
            decompress_bytes(_hex(case["input"]), case["size"])
        assert str(info.value) == case["fail"]


@pytest.mark.parametrize("case", VECTORS["edges"])
def test_edges(case: dict[str, Any]) -> None:
    if "zeros" in case:
        data = bytearray(case["zeros"])
        if "set" in case:
            data[case["set"][0]] = case["set"][1]
        raw = bytes(data)
    else:
        raw = _hex(case["input"])
    assert compress_bytes(raw) == _hex(case["output"])
    assert decompress_bytes(compress_bytes(raw), len(raw)) == raw


def test_negative_target() -> None:
    with pytest.raises(InvalidInput):
        decompress_bytes(b"", -1)


@st.composite
def sparse_bytes(draw: st.DrawFn) -> bytes:
    """Up to 5000 bytes with at most 60 non-zero ones (bloom vectors look like this)."""
    size = draw(st.integers(0, 5000))
    if size == 0:
        return b""
    data = bytearray(size)
    for index, value in draw(
        st.dictionaries(st.integers(0, size - 1), st.integers(1, 255), max_size=60)
    ).items():
        data[index] = value
    return bytes(data)


sparse = sparse_bytes()
anything = st.one_of(sparse, st.binary(max_size=600))


@settings(max_examples=300, deadline=None)
@given(data=anything)
def test_matches_plain_reference_and_round_trips(data: bytes) -> None:
    compressed = compress_bytes(data)
    assert compressed == naive_compress(data)
    assert decompress_bytes(compressed, len(data)) == data


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.dictionaries(st.integers(0, 63), st.integers(1, 255), max_size=40).map(
            lambda d: bytes(d.get(i, 0) for i in range(64))
        ),
        min_size=1,
        max_size=20,
    )
)
def test_compress_many_equals_one_by_one(rows: list[bytes]) -> None:
    array = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), 64)
    assert compress_many(array) == [compress_bytes(r) for r in rows]


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=64), target=st.integers(0, 600))
def test_decompress_never_crashes(data: bytes, target: int) -> None:
    try:
        out = decompress_bytes(data, target)
    except CompressionError as exc:
        assert str(exc) in {
            "missing bytes on input",
            "extra bytes on input",
            "target data size exceeded",
            "zero byte in input content",
        }
    else:
        assert len(out) == target
