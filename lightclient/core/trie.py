"""Ethereum Merkle-Patricia tries built from sorted batches, with proofs.

The CHT and the BloomTrie only ever grow by a batch of new keys per section, and each
section's root is taken after its whole batch. Inserting a sorted batch into the existing
trie in one pass touches every affected node once, instead of once per key as repeated
``HexaryTrie.set`` calls do, and gives byte-identical nodes and roots. py-trie (4.0.0) has
no batch or ordered builder, hence this module.

Nodes are stored in any ``MutableMapping[bytes, bytes]`` from keccak(node RLP) to node RLP
(a dict in memory, or the SQLite store). Nodes shorter than 32 bytes are inlined in their
parent, as in every Ethereum trie.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import decode_node, encode_bytes, encode_node
from lightclient.errors import DecodeError, InvalidInput, InvalidProof, SectionError

__all__ = [
    "BLANK_ROOT",
    "NodeDB",
    "insert_sorted",
    "key_nibbles",
    "ordered_trie_root",
    "prove",
    "verify_proof",
]

NodeDB = MutableMapping[bytes, bytes]
# Decoded node: a list of byte strings and nested (inline) nodes; b"" is the empty node.
_Node = Any

BLANK_ROOT = keccak(b"\x80")
_BLANK = b""


# bytes.translate tables between ASCII hex digits and nibble values: far faster than loops.
_TO_NIBBLE = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))
_FROM_NIBBLE = bytes.maketrans(bytes(range(16)), b"0123456789abcdef")


def key_nibbles(key: bytes) -> bytes:
    """The key as a byte string of nibbles (values 0..15), high nibble first."""
    return key.hex().encode("ascii").translate(_TO_NIBBLE)


def _hex_prefix(nibbles: bytes, leaf: bool) -> bytes:
    flag = 0x20 if leaf else 0x00
    if len(nibbles) % 2:
        return bytes((flag | 0x10 | nibbles[0],)) + bytes.fromhex(
            nibbles[1:].translate(_FROM_NIBBLE).decode("ascii")
        )
    return bytes((flag,)) + bytes.fromhex(nibbles.translate(_FROM_NIBBLE).decode("ascii"))


def _decode_hex_prefix(encoded: bytes) -> tuple[bytes, bool]:
    if not encoded:
        raise InvalidProof("trie node with an empty path")
    flag = encoded[0] >> 4
    if flag > 3:
        raise InvalidProof("trie node path with an invalid hex-prefix flag")
    nibbles = key_nibbles(encoded[1:])
    if flag & 1:
        nibbles = bytes((encoded[0] & 0x0F,)) + nibbles
    elif encoded[0] & 0x0F:
        raise InvalidProof("trie node path with non-zero padding")
    return nibbles, bool(flag & 2)


def _common_prefix(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class _Batch:
    """One sorted batch insertion into the trie held in ``db``."""

    __slots__ = ("db", "keys", "values")

    def __init__(self, db: NodeDB, keys: list[bytes], values: list[bytes]) -> None:
        self.db = db
        self.keys = keys
        self.values = values

    def ref(self, node: _Node) -> _Node:
        """How a parent refers to ``node``: inline if its RLP is short, else by hash."""
        enc = encode_node(node)
        if len(enc) < 32:
            return node
        digest = keccak(enc)
        self.db[digest] = enc
        return digest

    def load(self, ref: _Node) -> _Node:
        if isinstance(ref, bytes):
            if ref == _BLANK:
                return _BLANK
            try:
                enc = self.db[ref]
            except KeyError:
                raise SectionError(
                    f"trie node 0x{ref.hex()} is missing from the node store"
                ) from None
            return decode_node(enc)
        return ref

    def leaf_ref(self, path: bytes, value: bytes) -> _Node:
        """``ref`` of a leaf node, encoded directly: leaves are most of a CHT's nodes."""
        hp = _hex_prefix(path, True)
        enc_path = hp if len(hp) == 1 and hp[0] < 0x80 else encode_bytes(hp)
        payload = enc_path + encode_bytes(value)
        size = len(payload)
        enc = bytes((0xC0 + size,)) + payload if size < 56 else encode_node([hp, value])
        if len(enc) < 32:
            return [hp, value]
        digest = keccak(enc)
        self.db[digest] = enc
        return digest

    def build(
        self, keys: Sequence[bytes], values: Sequence[bytes], lo: int, hi: int, d: int
    ) -> _Node:
        """A fresh subtree over ``keys[lo:hi]`` (sorted, unique, none a prefix of another)."""
        if hi - lo == 1:
            return [_hex_prefix(keys[lo][d:], True), values[lo]]
        first, last = keys[lo], keys[hi - 1]
        e = d
        while first[e] == last[e]:
            e += 1
        if e > d:
            return [_hex_prefix(first[d:e], False), self.ref(self.build(keys, values, lo, hi, e))]
        branch: list[_Node] = [_BLANK] * 17
        for nibble, i, j in _groups(keys, lo, hi, d):
            if j - i == 1:
                branch[nibble] = self.leaf_ref(keys[i][d + 1 :], values[i])
            else:
                branch[nibble] = self.ref(self.build(keys, values, i, j, d + 1))
        return branch

    def insert(self, node: _Node, lo: int, hi: int, d: int) -> _Node:
        """``node`` (at depth ``d``) with ``keys[lo:hi]`` added; returns the new node."""
        keys, values = self.keys, self.values
        if isinstance(node, bytes):  # the empty node
            return self.build(keys, values, lo, hi, d)
        if len(node) == 17:
            return self._into_branch(list(node), lo, hi, d, None, None)
        path, is_leaf = _decode_hex_prefix(node[0])
        if is_leaf:
            existing = keys[lo][:d] + path
            ks = list(keys[lo:hi])
            vs = list(values[lo:hi])
            pos = bisect_left(ks, existing)
            if pos < len(ks) and ks[pos] == existing:
                pass  # the batch overwrites the stored value
            else:
                ks.insert(pos, existing)
                vs.insert(pos, node[1])
            return self.build(ks, vs, 0, len(ks), d)
        common = min(_common_prefix(path, keys[lo][d:]), _common_prefix(path, keys[hi - 1][d:]))
        if common == len(path):
            child = self.insert(self.load(node[1]), lo, hi, d + common)
            return [node[0], self.ref(child)]
        # The batch leaves the extension's path at offset `common`: split it into a branch.
        nibble = path[common]
        rest = path[common + 1 :]
        pending = [_hex_prefix(rest, False), node[1]] if rest else None
        branch: list[_Node] = [_BLANK] * 17
        branch[nibble] = node[1]
        new = self._into_branch(branch, lo, hi, d + common, nibble, pending)
        if common:
            return [_hex_prefix(path[:common], False), self.ref(new)]
        return new

    def _into_branch(
        self,
        branch: list[_Node],
        lo: int,
        hi: int,
        d: int,
        pending_slot: int | None,
        pending_node: _Node,
    ) -> _Node:
        """Add ``keys[lo:hi]`` under a branch at depth ``d``.

        ``pending_slot``/``pending_node`` carry a split extension's remainder that has not
        been referenced (hashed and stored) yet, so that it is only stored if it survives.
        """
        keys = self.keys
        if len(keys[lo]) == d:
            raise InvalidInput("trie keys must all have the same length")
        touched_pending = False
        for nibble, i, j in _groups(keys, lo, hi, d):
            if nibble == pending_slot and pending_node is not None:
                child = pending_node
                touched_pending = True
            else:
                child = self.load(branch[nibble])
            branch[nibble] = self.ref(self.insert(child, i, j, d + 1))
        if pending_slot is not None and pending_node is not None and not touched_pending:
            branch[pending_slot] = self.ref(pending_node)
        return branch


def _groups(keys: Sequence[bytes], lo: int, hi: int, d: int) -> Iterator[tuple[int, int, int]]:
    """Runs of ``keys[lo:hi]`` sharing the nibble at depth ``d``: (nibble, start, stop)."""
    i = lo
    while i < hi:
        nibble = keys[i][d]
        j = i + 1
        while j < hi and keys[j][d] == nibble:
            j += 1
        yield nibble, i, j
        i = j


def insert_sorted(db: NodeDB, root: bytes, items: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Insert ``(key, value)`` pairs, sorted by key with unique keys, into the trie ``root``.

    All keys must have the same length, and values must be non-empty. Returns the new root;
    every new node is written to ``db`` (old nodes stay, so older roots remain provable).
    """
    keys: list[bytes] = []
    values: list[bytes] = []
    previous: bytes | None = None
    for key, value in items:
        if previous is not None and key <= previous:
            raise InvalidInput("trie batch keys must be sorted and unique")
        if not value:
            raise InvalidInput("trie values must be non-empty (absent keys are deletions)")
        previous = key
        keys.append(key_nibbles(key))
        values.append(value)
    if not keys:
        return root
    if any(len(k) != len(keys[0]) for k in keys):
        raise InvalidInput("trie keys must all have the same length")
    batch = _Batch(db, keys, values)
    node = batch.load(root) if root != BLANK_ROOT else _BLANK
    new_root = batch.insert(node, 0, len(keys), 0)
    enc = encode_node(new_root)
    digest = keccak(enc)
    db[digest] = enc  # the root is stored by hash even when short
    return digest


def ordered_trie_root(values: Sequence[bytes], db: NodeDB | None = None) -> bytes:
    """geth's ``DeriveSha``: the root of the trie mapping ``rlp(i)`` to ``values[i]``.

    This is transactionsRoot, receiptsRoot and withdrawalsRoot. The keys ``rlp(i)`` differ
    in length (``80``, ``01``..``7f``, ``8180``..) but none is a prefix of another, so the
    sorted batch builder takes them in one pass. An empty list gives :data:`BLANK_ROOT`.
    """
    if not values:
        return BLANK_ROOT
    if not all(values):
        raise InvalidInput("trie values must be non-empty")
    pairs = sorted(
        (encode_bytes(i.to_bytes((i.bit_length() + 7) // 8, "big")), i) for i in range(len(values))
    )
    keys = [key_nibbles(key) for key, _ in pairs]
    ordered = [values[i] for _, i in pairs]
    batch = _Batch(db if db is not None else {}, keys, ordered)
    enc = encode_node(batch.build(keys, ordered, 0, len(keys), 0))
    digest = keccak(enc)
    batch.db[digest] = enc
    return digest


def prove(db: Mapping[bytes, bytes], root: bytes, key: bytes) -> list[bytes]:
    """The RLP of every hashed node on the path to ``key`` (proof of presence or absence)."""
    nibbles = key_nibbles(key)
    proof: list[bytes] = []
    ref: _Node = root
    node: _Node
    pos = 0
    while True:
        if isinstance(ref, bytes):
            if ref == _BLANK:
                return proof
            try:
                enc = db[ref]
            except KeyError:
                raise SectionError(
                    f"trie node 0x{ref.hex()} is missing from the node store"
                ) from None
            proof.append(enc)
            node = decode_node(enc)
        else:
            node = ref
        if len(node) == 17:
            if pos == len(nibbles):
                return proof
            ref = node[nibbles[pos]]
            pos += 1
            continue
        path, is_leaf = _decode_hex_prefix(node[0])
        if is_leaf or nibbles[pos : pos + len(path)] != path:
            return proof
        pos += len(path)
        ref = node[1]


def verify_proof(root: bytes, key: bytes, proof: Iterable[bytes]) -> bytes | None:
    """Check a Merkle proof of ``key`` against ``root``, as geth's light client does.

    Returns the value, or None when the proof shows the key is absent. Raises
    :class:`InvalidProof` when a needed node is missing or malformed, and when the proof
    carries nodes the verification did not read ("useless nodes in merkle proof nodeset").
    """
    nodes: dict[bytes, bytes] = {}
    for enc in proof:
        nodes[keccak(bytes(enc))] = bytes(enc)
    used: set[bytes] = set()
    value = _walk(root, key_nibbles(key), nodes, used)
    if len(used) != len(nodes):
        raise InvalidProof("useless nodes in merkle proof nodeset")
    return value


def _walk(
    root: bytes, nibbles: bytes, nodes: Mapping[bytes, bytes], used: set[bytes]
) -> bytes | None:
    ref: _Node = root
    pos = 0
    for _ in range(2 * len(nibbles) + 2):
        if isinstance(ref, bytes):
            if ref == _BLANK:
                return None
            if len(ref) != 32:
                raise InvalidProof("merkle proof verification failed: malformed node reference")
            enc = nodes.get(ref)
            if enc is None:
                raise InvalidProof(
                    f"merkle proof verification failed: proof node (hash 0x{ref.hex()}) missing"
                )
            used.add(ref)
            try:
                node = decode_node(enc)
            except DecodeError as exc:
                raise InvalidProof(
                    f"merkle proof verification failed: bad proof node: {exc}"
                ) from None
        else:
            node = ref
        if not isinstance(node, list):
            raise InvalidProof("merkle proof verification failed: a trie node must be a list")
        if len(node) == 17:
            if pos == len(nibbles):
                value = node[16]
                if not isinstance(value, bytes):
                    raise InvalidProof("merkle proof verification failed: bad branch value")
                return value or None
            ref = node[nibbles[pos]]
            pos += 1
            continue
        if len(node) != 2 or not isinstance(node[0], bytes):
            raise InvalidProof("merkle proof verification failed: invalid trie node")
        path, is_leaf = _decode_hex_prefix(node[0])
        if is_leaf:
            if nibbles[pos:] == path:
                if not isinstance(node[1], bytes):
                    raise InvalidProof("merkle proof verification failed: bad leaf value")
                return node[1]
            return None
        if nibbles[pos : pos + len(path)] != path:
            return None
        pos += len(path)
        ref = node[1]
    raise InvalidProof("merkle proof verification failed: path longer than the key")
