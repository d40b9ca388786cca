"""On-demand retrieval (ODR) for a :class:`~lightclient.client.client.LightClient`: block
bodies, receipts, accounts, storage, code and transaction status from its LES servers,
each checked against an already verified header before it is returned (light-odr.md §0,
§1.1-§1.4, §1.7):

* a body: the transactions trie root equals ``transactionsRoot``, keccak(rlp(uncles))
  equals ``sha3Uncles`` and (Shanghai on) the withdrawals trie root equals
  ``withdrawalsRoot`` (geth v1.11.6 did not check the last one; we do);
* receipts: the receipts trie root over their consensus encoding equals ``receiptsRoot``;
* an account: a GetProofsV2 proof of ``keccak(address)`` against ``stateRoot`` (a proof
  of absence gives None);
* a storage slot: a proof of ``keccak(slot)`` against the proved account's storage root;
* code: keccak(code) equals the proved account's ``codeHash``;
* tx status: only a hint (nothing proves it); :meth:`Odr.transaction` checks an
  "included" claim against the verified body of the block it names.

A reply that does not verify drops the server that sent it and the request goes to the
next one (:meth:`LightClient.ask`); nothing unverified is returned. State is asked only
for blocks within the newest ``state_window`` blocks (geth's non-archive servers keep 128),
older state is refused with :class:`StateUnavailable` before any server is asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from lightclient.client.client import LightClient
from lightclient.client.les_connection import LesConnection
from lightclient.client.transport import LightTransport
from lightclient.core.ethcodec import EMPTY_UNCLE_HASH, list_item, ordered_trie_root, uncle_hash
from lightclient.core.header import Header, decode_header
from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import decode_node, split_list
from lightclient.core.trie import BLANK_ROOT, verify_proof
from lightclient.errors import InvalidInput, InvalidProof, LightClientError, SourceUnavailable
from lightclient.les.codec import read_bytes, read_list
from lightclient.les.messages import TX_INCLUDED, CodeReq, ProofReq, TxStatusEntry

__all__ = [
    "EMPTY_CODE_HASH",
    "STATE_WINDOW",
    "TX_STATUS_CANDIDATES",
    "Account",
    "Body",
    "Odr",
    "StateUnavailable",
    "UnknownBlock",
    "consensus_items",
]

V = TypeVar("V")
EMPTY_CODE_HASH = keccak(b"")
STATE_WINDOW = 128  # geth's TriesInMemory: what a non-archive server still has state for
TX_STATUS_CANDIDATES = 5  # geth's maxTxStatusCandidates: servers asked for a tx's status
# Header RLP field positions (light-odr.md §7.2).
_F_UNCLES, _F_STATE, _F_TXS, _F_RECEIPTS, _F_WITHDRAWALS = 1, 3, 4, 5, 16


class UnknownBlock(LightClientError):
    """The block is not in the client's verified chain."""


class StateUnavailable(LightClientError):
    """The block's state is older than the servers keep (and no archive is configured)."""


@dataclass(frozen=True, slots=True)
class Body:
    """A verified block body: transactions and withdrawals in consensus encoding (a legacy
    tx is its RLP list, a typed one ``type || rlp(payload)``), uncles as header RLPs."""

    header: Header
    transactions: list[bytes]
    uncles: list[bytes]
    withdrawals: list[bytes] | None
    rlp: bytes  # the body as the server sent it: [txs, uncles(, withdrawals)]


@dataclass(frozen=True, slots=True)
class Account:
    """A verified account, with the state-trie proof nodes it was proved by."""

    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes
    proof: list[bytes]


def consensus_items(items: list[bytes]) -> list[bytes]:
    """RLP list items as the trie holds them: a legacy item's RLP list, a typed item's bytes
    (the inverse of :func:`~lightclient.core.ethcodec.list_item`)."""
    return [item if item[:1] >= b"\xc0" else read_bytes(item, "typed item") for item in items]


def _les(connection: LightTransport) -> LesConnection:
    if not isinstance(connection, LesConnection):
        raise SourceUnavailable("this server does not serve on-demand data (not LES)")
    return connection


def _one(answer: list[bytes], what: str) -> bytes:
    if len(answer) != 1:
        raise InvalidProof(f"invalid number of response entries: {len(answer)} {what} for 1")
    return answer[0]


def _uint(raw: bytes, what: str) -> int:
    if raw[:1] == b"\x00":
        raise InvalidProof(f"{what} has a leading zero byte")
    return int.from_bytes(raw, "big")


def verify_body(header: Header, raw: bytes) -> Body:
    """The body of ``header``'s block, checked against its roots (raises InvalidProof)."""
    fields = split_list(header.rlp)
    parts = read_list(raw, "body")
    if len(parts) not in (2, 3):
        raise InvalidProof(f"a body has 2 or 3 fields, not {len(parts)}")
    txs = consensus_items(read_list(parts[0], "transactions"))
    if ordered_trie_root(txs) != fields[_F_TXS]:
        raise InvalidProof("transaction hash mismatch")
    uncles = read_list(parts[1], "uncles")
    if uncle_hash(uncles) != fields[_F_UNCLES]:
        raise InvalidProof("uncle hash mismatch")
    withdrawals: list[bytes] | None = None
    has_root = len(fields) > _F_WITHDRAWALS
    if len(parts) == 3:
        withdrawals = read_list(parts[2], "withdrawals")
        if not has_root:
            raise InvalidProof("withdrawals in a body whose header has no withdrawalsRoot")
        if ordered_trie_root(withdrawals) != fields[_F_WITHDRAWALS]:
            raise InvalidProof("withdrawals hash mismatch")
    elif has_root:
        raise InvalidProof("no withdrawals in a body whose header has a withdrawalsRoot")
    return Body(header, txs, uncles, withdrawals, raw)


def _empty_body(header: Header) -> bytes | None:
    fields = split_list(header.rlp)
    if fields[_F_TXS] != BLANK_ROOT or fields[_F_UNCLES] != EMPTY_UNCLE_HASH:
        return None
    if len(fields) <= _F_WITHDRAWALS:
        return b"\xc2\xc0\xc0"
    return b"\xc3\xc0\xc0\xc0" if fields[_F_WITHDRAWALS] == BLANK_ROOT else None


def verify_receipts(header: Header, items: tuple[bytes, ...] | list[bytes]) -> list[bytes]:
    """The block's receipts in consensus encoding, checked against ``receiptsRoot``."""
    receipts = consensus_items(list(items))
    if ordered_trie_root(receipts) != split_list(header.rlp)[_F_RECEIPTS]:
        raise InvalidProof("receipt hash mismatch")
    return receipts


def decode_account(value: bytes | None, proof: list[bytes]) -> Account | None:
    """The state-trie leaf ``[nonce, balance, storageRoot, codeHash]`` (None: absent)."""
    if value is None:
        return None
    node = decode_node(value)
    if not isinstance(node, list) or len(node) != 4:
        raise InvalidProof("the proved account is not a 4-item list")
    nonce, balance, root, code_hash = node
    if not all(isinstance(x, bytes) for x in node):
        raise InvalidProof("the proved account has a nested item")
    assert isinstance(nonce, bytes) and isinstance(balance, bytes)
    assert isinstance(root, bytes) and isinstance(code_hash, bytes)
    if len(root) != 32 or len(code_hash) != 32:
        raise InvalidProof("the proved account's storage root or code hash is not 32 bytes")
    return Account(_uint(nonce, "nonce"), _uint(balance, "balance"), root, code_hash, proof)


class Odr:
    """Verified on-demand retrieval over ``client``'s servers (see the module docstring).

    ``block`` arguments are a block number or a 32-byte block hash of the verified chain.
    ``state_window`` is how many of the newest blocks the servers keep state for (None: all,
    as against archive servers).
    """

    def __init__(self, client: LightClient, state_window: int | None = STATE_WINDOW) -> None:
        self.client = client
        self.state_window = state_window

    async def header(self, block: int | bytes) -> Header:
        """The verified header of a block number (CHT-proved if old) or hash (synced chain)."""
        if isinstance(block, int):
            if block < 0 or block > self.client.head_number:
                raise UnknownBlock(f"block {block} is past the head {self.client.head_number}")
            return await self.client.header_by_number(block)
        block_hash = bytes(block)
        header = self.client.header_by_hash(block_hash)
        if header is not None:
            return header
        # Not held: a server's header for the hash says which number to prove; the header
        # at that number, verified (CHT proof or hash links), must then have this hash.
        claimed = await self.client.ask(
            lambda c: _les(c).get_headers(block_hash, 1),
            lambda a: [decode_header(raw, block_hash) for raw in a[:1]],
        )
        if claimed and claimed[0].number <= self.client.head_number:
            header = await self.client.header_by_number(claimed[0].number)
            if header.hash == block_hash:
                return header
        raise UnknownBlock(f"block 0x{block_hash.hex()} is not in the verified chain")

    async def body(self, block: int | bytes) -> Body:
        """The block's verified body. A header whose roots are those of an empty body needs
        no request: the empty body is the only one that verifies."""
        header = await self.header(block)
        h = header.hash
        empty = _empty_body(header)
        if empty is not None:
            return verify_body(header, empty)
        return await self.client.ask(
            lambda c: _les(c).get_bodies([h]), lambda a: verify_body(header, _one(a, "bodies"))
        )

    async def receipts(self, block: int | bytes) -> list[bytes]:
        """The block's receipts in consensus encoding (typed: ``type || rlp(list)``)."""
        header = await self.header(block)
        h = header.hash
        if split_list(header.rlp)[_F_RECEIPTS] == BLANK_ROOT:
            return []  # the only receipts that verify

        def verify(answer: list[tuple[bytes, ...]]) -> list[bytes]:
            if len(answer) != 1:
                raise InvalidProof(f"invalid number of response entries: {len(answer)}")
            return verify_receipts(header, answer[0])

        return await self.client.ask(lambda c: _les(c).get_receipts([h]), verify)

    async def _state_header(self, block: int | bytes) -> Header:
        header = await self.header(block)
        head = self.client.head_number
        if self.state_window is not None and header.number + self.state_window <= head:
            raise StateUnavailable(
                f"the state of block {header.number} is not available: light servers keep "
                f"the state of the newest {self.state_window} blocks only (head {head})"
            )
        return header

    async def _proof(
        self, header: Header, account_key: bytes, key: bytes, root: bytes,
        decode: Callable[[bytes | None, list[bytes]], V],
    ) -> V:  # fmt: skip
        """GetProofsV2 of ``key`` against ``root``; ``decode`` of the proved value (None:
        absent) is part of the check, so a server whose value does not decode is dropped."""
        req = ProofReq(header.hash, account_key, key)

        def verify(nodes: list[bytes]) -> V:
            return decode(verify_proof(root, key, nodes), nodes)

        return await self.client.ask(lambda c: _les(c).get_proofs([req]), verify)

    async def account_proof(
        self, block: int | bytes, address: bytes
    ) -> tuple[Account | None, list[bytes]]:
        """(the account at ``address`` in the block's state or None when the proof shows it
        does not exist, the state-trie proof nodes)."""
        header = await self._state_header(block)

        def decode(value: bytes | None, proof: list[bytes]) -> tuple[Account | None, list[bytes]]:
            return decode_account(value, proof), proof

        return await self._proof(header, b"", keccak(address), header.state_root, decode)

    async def account(self, block: int | bytes, address: bytes) -> Account | None:
        """The account at ``address`` in the block's state; None when proved absent."""
        return (await self.account_proof(block, address))[0]

    async def storage(
        self, block: int | bytes, address: bytes, slot: bytes
    ) -> tuple[int, Account | None, list[bytes]]:
        """(value, the account, the storage proof nodes) of a 32-byte ``slot``; 0 for an
        absent account, an empty storage trie or an absent slot."""
        if len(slot) != 32:
            raise InvalidInput(f"a storage slot has 32 bytes, not {len(slot)}")
        header = await self._state_header(block)
        account = await self.account(header.hash, address)
        if account is None or account.storage_root == BLANK_ROOT:
            return 0, account, []

        def decode(value: bytes | None, proof: list[bytes]) -> tuple[int, list[bytes]]:
            if value is None:
                return 0, proof
            item = decode_node(value)
            if not isinstance(item, bytes) or item[:1] == b"\x00":
                raise InvalidProof("a storage value is a minimal RLP string")
            return int.from_bytes(item, "big"), proof

        value, proof = await self._proof(
            header, keccak(address), keccak(slot), account.storage_root, decode
        )
        return value, account, proof

    async def code(self, block: int | bytes, address: bytes) -> bytes:
        """The code at ``address`` (empty for an absent account or one without code)."""
        header = await self._state_header(block)
        account = await self.account(header.hash, address)
        if account is None or account.code_hash == EMPTY_CODE_HASH:
            return b""
        req = CodeReq(header.hash, keccak(address))
        want = account.code_hash

        def verify(answer: list[bytes]) -> bytes:
            code = _one(answer, "codes")
            if keccak(code) != want:
                raise InvalidProof("data hash mismatch")
            return code

        return await self.client.ask(lambda c: _les(c).get_code([req]), verify)

    async def tx_status(self, tx_hash: bytes) -> TxStatusEntry:
        """A server's claimed status of a transaction: a hint, not proved."""

        def verify(answer: list[TxStatusEntry]) -> TxStatusEntry:
            return _one_status(answer)

        return await self.client.ask(lambda c: _les(c).get_tx_status([tx_hash]), verify)

    async def transaction(self, tx_hash: bytes) -> tuple[Body, int] | None:
        """(the verified body holding the transaction, its index), or None when none of up
        to ``TX_STATUS_CANDIDATES`` servers says it is included in the verified chain (as
        geth's light client: the status is a hint, the first "included" one is followed).
        The claim is checked against the verified body of the block it names: a server
        whose claim the body does not bear out is dropped and the next one asked."""
        Answer = tuple[TxStatusEntry, Header | None, list[bytes]]
        asked: list[LightTransport] = []

        async def call(connection: LightTransport) -> Answer:
            asked.append(connection)
            les = _les(connection)
            status = _one_status(await les.get_tx_status([tx_hash]))
            lookup = status.lookup
            if status.status != TX_INCLUDED or lookup is None:
                return status, None, []
            if lookup.block_number > self.client.head_number:
                return status, None, []  # past our head: not included as far as we know
            header = await self.client.header_by_number(lookup.block_number)
            return status, header, await les.get_bodies([lookup.block_hash])

        def verify(answer: Answer) -> tuple[Body, int] | None:
            status, header, bodies = answer
            if header is None or status.lookup is None:
                return None
            lookup = status.lookup
            if header.hash != lookup.block_hash:
                raise InvalidProof(f"transaction placed in block {lookup.block_number} "
                                   "by a hash that is not the canonical one")  # fmt: skip
            body = verify_body(header, _one(bodies, "bodies"))
            index = lookup.tx_index
            if index >= len(body.transactions) or keccak(body.transactions[index]) != tx_hash:
                raise InvalidProof("transaction hash mismatch at the claimed index")
            return body, index

        for _ in range(TX_STATUS_CANDIDATES):
            try:
                found = await self.client.ask(call, verify, exclude=asked)
            except SourceUnavailable:
                if asked:
                    return None  # no other server to ask
                raise
            if found is not None:
                return found
        return None

    async def send_transaction(self, raw: bytes) -> TxStatusEntry:
        """SendTxV2 of one transaction in consensus encoding; the server's status of it."""
        item = list_item(raw)

        def verify(answer: list[TxStatusEntry]) -> TxStatusEntry:
            return _one_status(answer)

        return await self.client.ask(lambda c: _les(c).send_txs([item]), verify)


def _one_status(answer: list[TxStatusEntry]) -> TxStatusEntry:
    if len(answer) != 1:
        raise InvalidProof(f"invalid number of response entries: {len(answer)} statuses for 1")
    return answer[0]
