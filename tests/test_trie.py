"""The batch trie builder and proofs, against py-trie's HexaryTrie (one insert per key)."""

from __future__ import annotations

import itertools

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st
from trie.hexary import HexaryTrie

from lightclient.core.keccak import keccak
from lightclient.core.trie import BLANK_ROOT, insert_sorted, prove, verify_proof
from lightclient.errors import InvalidInput, InvalidProof

key_sets = st.integers(min_value=1, max_value=10).flatmap(
    lambda n: st.dictionaries(
        st.binary(min_size=n, max_size=n),
        st.binary(min_size=1, max_size=80),
        min_size=1,
        max_size=300,
    )
)


def _reference(items: dict[bytes, bytes]) -> HexaryTrie:
    t = HexaryTrie({})
    for k, v in items.items():
        t[k] = v
    return t


@settings(max_examples=150, deadline=None)
@given(items=key_sets, cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=5))
def test_batches_give_py_trie_root(items: dict[bytes, bytes], cuts: list[int]) -> None:
    """Any split of the keys into batches, each inserted sorted, gives py-trie's root."""
    expected = _reference(items).root_hash
    pairs = list(items.items())
    bounds = sorted({0, len(pairs), *[c % (len(pairs) + 1) for c in cuts]})
    db: dict[bytes, bytes] = {}
    root = BLANK_ROOT
    for lo, hi in itertools.pairwise(bounds):
        root = insert_sorted(db, root, sorted(pairs[lo:hi]))
    assert root == expected


@settings(max_examples=60, deadline=None)
@given(items=key_sets, probe=st.binary(min_size=1, max_size=10))
def test_proofs_match_geth_rules(items: dict[bytes, bytes], probe: bytes) -> None:
    ref = _reference(items)
    db: dict[bytes, bytes] = {}
    root = insert_sorted(db, BLANK_ROOT, sorted(items.items()))
    for key, value in list(items.items())[:20]:
        proof = prove(db, root, key)
        assert verify_proof(root, key, proof) == value
        # geth's proofs hold the root and the hash-referenced nodes; py-trie adds inline ones.
        nodes = [rlp.encode(x) for x in ref.get_proof(key)]  # type: ignore[no-untyped-call]
        assert proof == [n for i, n in enumerate(nodes) if i == 0 or len(n) >= 32]
    width = len(next(iter(items)))
    probe = probe[:width].ljust(width, b"\x00")
    assert verify_proof(root, probe, prove(db, root, probe)) == items.get(probe)


def _cht_trie(count: int) -> tuple[dict[bytes, bytes], bytes]:
    db: dict[bytes, bytes] = {}
    items = [
        (n.to_bytes(8, "big"), rlp.encode([keccak(bytes([n % 256])), n])) for n in range(count)
    ]
    return db, insert_sorted(db, BLANK_ROOT, items)


def test_proof_with_useless_node_is_rejected() -> None:
    db, root = _cht_trie(300)
    key = (5).to_bytes(8, "big")
    proof = prove(db, root, key)
    extra = prove(db, root, (299).to_bytes(8, "big"))[-1]
    assert extra not in proof
    with pytest.raises(InvalidProof, match="useless nodes in merkle proof nodeset"):
        verify_proof(root, key, [*proof, extra])


def test_proof_with_missing_or_tampered_node_is_rejected() -> None:
    db, root = _cht_trie(300)
    key = (5).to_bytes(8, "big")
    proof = prove(db, root, key)
    with pytest.raises(InvalidProof, match="missing"):
        verify_proof(root, key, proof[:-1])
    tampered = [*proof[:-1], proof[-1].replace(keccak(bytes([5])), b"\x11" * 32)]
    assert tampered[-1] != proof[-1]
    with pytest.raises(InvalidProof):
        verify_proof(root, key, tampered)
    with pytest.raises(InvalidProof):
        verify_proof(b"\x22" * 32, key, proof)


def test_absence_proof() -> None:
    db, root = _cht_trie(300)
    key = (1000).to_bytes(8, "big")
    assert verify_proof(root, key, prove(db, root, key)) is None


def test_bad_batches_are_refused() -> None:
    db: dict[bytes, bytes] = {}
    with pytest.raises(InvalidInput, match="sorted"):
        insert_sorted(db, BLANK_ROOT, [(b"\x02", b"a"), (b"\x01", b"b")])
    with pytest.raises(InvalidInput, match="non-empty"):
        insert_sorted(db, BLANK_ROOT, [(b"\x02", b"")])
    with pytest.raises(InvalidInput, match="same length"):
        insert_sorted(db, BLANK_ROOT, [(b"\x02", b"a"), (b"\x03\x00", b"b")])
    assert insert_sorted(db, BLANK_ROOT, []) == BLANK_ROOT
