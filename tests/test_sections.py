"""Section roots from the fast builder equal the naive reference's, section after section."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from lightclient.core.bloombits import bloom_bit_indexes, rotate_blooms
from lightclient.core.header import Header, decode_header
from lightclient.core.sections import (
    SectionIndexer,
    complete_sections,
    validate_section_size,
)
from lightclient.core.trie import prove, verify_proof
from lightclient.errors import InvalidInput, ReorgDetected, SectionError
from lightclient.testing.reference import NaiveIndexer, naive_rotate
from lightclient.testing.synthetic import SyntheticChain, make_bloom


def _headers(chain: SyntheticChain) -> list[Header]:
    return [decode_header(h.rlp, h.hash) for h in chain]


@pytest.mark.parametrize(
    ("fork", "size", "sections", "log_fraction"),
    [
        ("london", 64, 5, 0.3),
        ("frontier", 128, 3, 0.05),
        ("prague", 32, 6, 1.0),
        ("shanghai", 16, 4, 0.0),
        ("cancun", 256, 2, 0.5),
    ],
)
def test_cumulative_roots_equal_naive(
    fork: str, size: int, sections: int, log_fraction: float
) -> None:
    headers = _headers(
        SyntheticChain(size * sections, seed=size, fork=fork, log_fraction=log_fraction)
    )
    fast = SectionIndexer(size, {})
    naive = NaiveIndexer(size)
    roots = set()
    for s in range(sections):
        batch = headers[s * size : (s + 1) * size]
        got = fast.process(batch)
        assert got == naive.process(batch)
        assert got.section_index == s
        assert got.section_head == batch[-1].hash
        roots.add(got.cht_root)
    assert len(roots) == sections  # cumulative: every section moves the root
    assert fast.state.td == sum(h.difficulty for h in headers)


def test_cht_proves_every_older_block_and_td() -> None:
    size = 64
    headers = _headers(SyntheticChain(size * 3, seed=9))
    db: dict[bytes, bytes] = {}
    indexer = SectionIndexer(size, db)
    for s in range(3):
        indexer.process(headers[s * size : (s + 1) * size])
    root = indexer.state.cht_root
    td = 0
    for h in headers:
        td += h.difficulty
        key = h.number.to_bytes(8, "big")
        assert rlp.decode(verify_proof(root, key, prove(db, root, key))) == [
            h.hash,
            td.to_bytes((td.bit_length() + 7) // 8, "big"),
        ]


def test_resume_from_state_gives_the_same_roots() -> None:
    size = 32
    headers = _headers(SyntheticChain(size * 4, seed=3))
    db: dict[bytes, bytes] = {}
    whole = SectionIndexer(size, db)
    expected = [whole.process(headers[s * size : (s + 1) * size]) for s in range(4)]
    # A second indexer picks up after section 1 with the state and the node store.
    first = SectionIndexer(size, {})
    first.process(headers[:size])
    first.process(headers[size : 2 * size])
    resumed = SectionIndexer(size, first.db, dataclasses.replace(first.state))
    assert resumed.process(headers[2 * size : 3 * size]) == expected[2]
    assert resumed.process(headers[3 * size :]) == expected[3]


def test_wrong_section_input_is_refused() -> None:
    size = 16
    headers = _headers(SyntheticChain(size * 2, seed=4))
    indexer = SectionIndexer(size, {})
    with pytest.raises(SectionError, match="needs 16 headers"):
        indexer.process(headers[:8])
    with pytest.raises(SectionError, match="starts at block 0"):
        indexer.process(headers[size:])
    indexer.process(headers[:size])
    other = _headers(SyntheticChain(size * 2, seed=5))
    with pytest.raises(ReorgDetected, match="block 16"):
        indexer.process(other[size:])


@pytest.mark.parametrize("bad", [0, -8, 12, 7])
def test_section_size_must_be_multiple_of_8(bad: int) -> None:
    with pytest.raises(InvalidInput, match="multiple of 8"):
        validate_section_size(bad)


def test_complete_sections_counting() -> None:
    # Section i counts once head >= (i+1)*N - 1 + K.
    assert complete_sections(32768 + 254, 32768, 256) == 0
    assert complete_sections(32768 + 255, 32768, 256) == 1
    assert complete_sections(100, 128, 1) == 0
    assert complete_sections(128, 128, 1) == 1
    assert complete_sections(0, 128, 5) == 0
    with pytest.raises(InvalidInput):
        complete_sections(10, 8, -1)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), groups=st.integers(1, 8), density=st.integers(0, 60))
def test_rotation_equals_bit_by_bit(seed: int, groups: int, density: int) -> None:
    rng = random.Random(seed)
    blooms = [make_bloom(rng, rng.randrange(density + 1)) for _ in range(groups * 8)]
    fast = rotate_blooms(blooms)
    assert fast.shape == (2048, groups)
    assert [row.tobytes() for row in fast] == naive_rotate(blooms)


def test_rotation_layout_like_geth_generator() -> None:
    """geth's TestGenerator: MSB-first bloom bit j of block i lands in vector 2047 - j."""
    rng = random.Random(1)
    blooms = [rng.randbytes(256) for _ in range(64)]
    vectors = rotate_blooms(blooms)
    for i, bloom in enumerate(blooms):
        for j in range(0, 2048, 37):
            bit = bloom[j // 8] >> (7 - j % 8) & 1
            assert (vectors[2047 - j][i // 8] >> (7 - i % 8)) & 1 == bit
    with pytest.raises(InvalidInput, match="section count not multiple of 8"):
        rotate_blooms(blooms[:5])
    assert np.array_equal(rotate_blooms([]), np.zeros((2048, 0), dtype=np.uint8))


def test_bloom_bit_indexes_match_eth_bloom() -> None:
    from eth_bloom.bloom import BloomFilter

    for value in (b"\x00" * 20, b"hello", bytes(range(32))):
        bloom = BloomFilter()
        bloom.add(value)
        as_bytes = int(bloom).to_bytes(256, "big")
        for k in bloom_bit_indexes(value):
            assert as_bytes[255 - k // 8] >> (k % 8) & 1
        assert bin(int(bloom)).count("1") == len(set(bloom_bit_indexes(value)))
