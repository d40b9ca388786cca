"""CHT and BloomTrie proofs, built from the indexer's node store and verified like geth."""

from __future__ import annotations

import pytest

from lightclient.core.bloombits import rotate_blooms
from lightclient.core.header import Header, decode_header
from lightclient.core.proofs import (
    prove_bloom_bits,
    prove_cht,
    verify_bloom_proof,
    verify_cht_proof,
)
from lightclient.core.rlpcodec import encode_bytes, encode_list
from lightclient.core.sections import SectionIndexer, cht_key, cht_value
from lightclient.core.trie import BLANK_ROOT, insert_sorted
from lightclient.errors import InvalidProof
from lightclient.testing.synthetic import SyntheticChain

SIZE = 64


@pytest.fixture(scope="module")
def indexed() -> tuple[dict[bytes, bytes], SectionIndexer, list[Header]]:
    headers = [decode_header(h.rlp) for h in SyntheticChain(SIZE * 3, seed=21, log_fraction=0.2)]
    db: dict[bytes, bytes] = {}
    indexer = SectionIndexer(SIZE, db)
    for s in range(3):
        indexer.process(headers[s * SIZE : (s + 1) * SIZE])
    return db, indexer, headers


def test_cht_proof_of_every_block(
    indexed: tuple[dict[bytes, bytes], SectionIndexer, list[Header]],
) -> None:
    db, indexer, headers = indexed
    root = indexer.state.cht_root
    td = 0
    for h in headers:
        td += h.difficulty
        got = verify_cht_proof(root, h.number, prove_cht(db, root, h.number), h.rlp)
        assert got.header == h
        assert got.td == td


def test_cht_proof_rejections(
    indexed: tuple[dict[bytes, bytes], SectionIndexer, list[Header]],
) -> None:
    db, indexer, headers = indexed
    root = indexer.state.cht_root
    proof = prove_cht(db, root, 127)
    with pytest.raises(InvalidProof, match="header unavailable"):
        verify_cht_proof(root, 127, proof, None)
    with pytest.raises(InvalidProof, match="header unavailable"):
        verify_cht_proof(root, 127, proof, b"\xc0")
    with pytest.raises(InvalidProof, match="cht hash mismatch"):
        verify_cht_proof(root, 127, proof, headers[126].rlp)
    with pytest.raises(InvalidProof, match="useless nodes in merkle proof nodeset"):
        verify_cht_proof(root, 127, [*proof, prove_cht(db, root, 3)[-1]], headers[127].rlp)
    with pytest.raises(InvalidProof, match="merkle proof verification failed"):
        verify_cht_proof(root, 127, proof[:-1], headers[127].rlp)
    with pytest.raises(InvalidProof, match="not in the trie"):
        verify_cht_proof(root, 5000, prove_cht(db, root, 5000), headers[127].rlp)


def test_cht_number_mismatch() -> None:
    """A CHT whose leaf for block 7 holds the hash of a header numbered 8: geth's last check."""
    headers = [decode_header(h.rlp) for h in SyntheticChain(9, seed=2)]
    db: dict[bytes, bytes] = {}
    root = insert_sorted(db, BLANK_ROOT, [(cht_key(7), cht_value(headers[8].hash, 1))])
    with pytest.raises(InvalidProof, match="cht number mismatch"):
        verify_cht_proof(root, 7, prove_cht(db, root, 7), headers[8].rlp)


def test_cht_leaf_that_is_not_hash_td() -> None:
    db: dict[bytes, bytes] = {}
    root = insert_sorted(db, BLANK_ROOT, [(cht_key(1), encode_list([encode_bytes(b"x")]))])
    header = SyntheticChain(2).headers()[1].rlp
    with pytest.raises(InvalidProof, match="not \\[hash, td\\]"):
        verify_cht_proof(root, 1, prove_cht(db, root, 1), header)


def test_bloom_proofs_of_every_bit(
    indexed: tuple[dict[bytes, bytes], SectionIndexer, list[Header]],
) -> None:
    db, indexer, headers = indexed
    root = indexer.state.bloom_root
    for section in range(3):
        vectors = rotate_blooms([h.bloom for h in headers[section * SIZE : (section + 1) * SIZE]])
        absent = 0
        for bit in range(2048):
            proof = prove_bloom_bits(db, root, bit, section)
            got = verify_bloom_proof(root, bit, section, proof, SIZE)
            assert got == vectors[bit].tobytes()
            absent += not any(got)
        assert 0 < absent < 2048  # both present and proved-absent keys were exercised


def test_bloom_proof_rejections(
    indexed: tuple[dict[bytes, bytes], SectionIndexer, list[Header]],
) -> None:
    db, indexer, _ = indexed
    root = indexer.state.bloom_root
    proof = prove_bloom_bits(db, root, 5, 1)
    with pytest.raises(InvalidProof, match="useless nodes"):
        verify_bloom_proof(root, 5, 1, [*proof, prove_bloom_bits(db, root, 1900, 2)[-1]], SIZE)
    with pytest.raises(InvalidProof, match="bloom bit out of bounds"):
        verify_bloom_proof(root, 2048, 1, proof, SIZE)
    # A value too long for the section: decompression refuses it.
    bad_db: dict[bytes, bytes] = {}
    bad_root = insert_sorted(
        bad_db, BLANK_ROOT, [(b"\x00\x05" + (1).to_bytes(8, "big"), b"\xff" * 9)]
    )
    with pytest.raises(InvalidProof, match="target data size exceeded"):
        verify_bloom_proof(bad_root, 5, 1, prove_bloom_bits(bad_db, bad_root, 5, 1), SIZE)


def test_tampered_leaf_breaks_the_proof(
    indexed: tuple[dict[bytes, bytes], SectionIndexer, list[Header]],
) -> None:
    db, indexer, headers = indexed
    root = indexer.state.cht_root
    proof = prove_cht(db, root, 10)
    leaf = proof[-1]
    tampered = leaf[:-1] + bytes([leaf[-1] ^ 1])
    with pytest.raises(InvalidProof):
        verify_cht_proof(root, 10, [*proof[:-1], tampered], headers[10].rlp)
