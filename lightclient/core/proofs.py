"""CHT and BloomTrie proofs: built from a node store, verified as geth's light client does.

A CHT proof answers "which header is block N, and what is its total difficulty" against a
trusted CHT root; the header travels beside the proof (geth's auxiliary data). A BloomTrie
proof answers "what is the bit vector of bloom bit B over section S"; a key proved absent
means an all-zero vector. Verification follows les/odr_requests.go: every proof node must
be used, the leaf must decode, and the header must hash to the leaf's hash and carry the
requested number. Error messages are geth's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lightclient.core.compress import decompress_bytes
from lightclient.core.header import Header, decode_header
from lightclient.core.rlpcodec import decode_node
from lightclient.core.sections import bloom_trie_key, cht_key
from lightclient.core.trie import prove, verify_proof
from lightclient.errors import CompressionError, DecodeError, InvalidHeader, InvalidProof

__all__ = [
    "ChtProof",
    "prove_bloom_bits",
    "prove_cht",
    "verify_bloom_proof",
    "verify_cht_proof",
]


@dataclass(frozen=True, slots=True)
class ChtProof:
    """What a verified CHT proof establishes."""

    header: Header
    td: int


def prove_cht(db: Mapping[bytes, bytes], root: bytes, number: int) -> list[bytes]:
    """The proof nodes for block ``number`` in the CHT with root ``root``."""
    return prove(db, root, cht_key(number))


def verify_cht_proof(
    root: bytes, number: int, proof: Sequence[bytes], header_rlp: bytes | None
) -> ChtProof:
    """Check a CHT proof for block ``number`` and the header sent with it.

    Raises :class:`InvalidProof` with geth's messages: "header unavailable", "merkle proof
    verification failed: …", "useless nodes in merkle proof nodeset", "cht hash mismatch",
    "cht number mismatch".
    """
    if not header_rlp:
        raise InvalidProof("header unavailable")
    try:
        header = decode_header(header_rlp)
    except InvalidHeader:
        raise InvalidProof("header unavailable") from None
    value = verify_proof(root, cht_key(number), proof)
    if value is None:
        raise InvalidProof("merkle proof verification failed: the key is not in the trie")
    try:
        leaf = decode_node(value)
    except DecodeError:
        leaf = None
    if (
        not isinstance(leaf, list)
        or len(leaf) != 2
        or not all(isinstance(x, bytes) for x in leaf)
        or len(leaf[0]) != 32
        or leaf[1][:1] == b"\x00"
    ):
        raise InvalidProof("merkle proof verification failed: the CHT leaf is not [hash, td]")
    block_hash, td_bytes = leaf
    assert isinstance(block_hash, bytes) and isinstance(td_bytes, bytes)
    if block_hash != header.hash:
        raise InvalidProof("cht hash mismatch")
    if header.number != number:
        raise InvalidProof("cht number mismatch")
    return ChtProof(header, int.from_bytes(td_bytes, "big"))


def prove_bloom_bits(db: Mapping[bytes, bytes], root: bytes, bit: int, section: int) -> list[bytes]:
    """The proof nodes for bloom bit ``bit`` of ``section`` in the BloomTrie ``root``."""
    return prove(db, root, bloom_trie_key(bit, section))


def verify_bloom_proof(
    root: bytes, bit: int, section: int, proof: Sequence[bytes], section_size: int
) -> bytes:
    """Check a BloomTrie proof; return the decompressed ``section_size / 8``-byte vector.

    A key proved absent is an all-zero vector. A present value that does not decompress to
    that size is an invalid proof.
    """
    if not 0 <= bit < 2048:
        raise InvalidProof("bloom bit out of bounds")
    value = verify_proof(root, bloom_trie_key(bit, section), proof)
    size = section_size // 8
    if value is None:
        return bytes(size)
    try:
        return decompress_bytes(value, size)
    except CompressionError as exc:
        raise InvalidProof(f"bloom bits of section {section}, bit {bit}: {exc}") from None
