"""The full-node data an LES server hands out, from the node's JSON-RPC, checked first.

An LES/4 server answers GetBlockBodies, GetReceipts, GetCode, GetProofsV2, SendTxV2 and
GetTxStatus from the full node behind it. :class:`JsonRpcChainData` fetches that data over
Ethereum JSON-RPC (through :class:`~lightclient.sources.jsonrpc.JsonRpcHeaderSource`, its
batching and retries), rebuilds geth v1.11.6's exact RLP from the JSON fields and checks it
against the header of the requested block before anything is returned:

* the header: rebuilt from the block's JSON, it must hash to the requested block hash;
* a body: the transactions trie root, keccak(rlp(uncles)) and (Shanghai) the withdrawals
  root must equal the header's; every tx must hash to the hash the node lists;
* receipts: the receipts trie root over their consensus encoding must equal receiptsRoot;
* code and proofs: the account (and storage) proof nodes must verify against the header's
  stateRoot with geth's rules (no missing, no useless nodes), and code must hash to the
  proved account's codeHash; state is read at the block *hash* (EIP-1898), so a reorg
  cannot slip another block's state in.

A node whose answer does not match raises :class:`ChainDataMismatch`; an unknown block (and
whatever else geth's server skips) gives None. JSON-RPC failures raise what the JSON-RPC
source raises (:class:`~lightclient.sources.jsonrpc.RpcError`,
:class:`~lightclient.errors.SourceUnavailable`).

LES keys state by hash: GetCode and GetProofsV2 carry keccak(address) and keccak(slot),
while JSON-RPC wants the address and the slot. Addresses and slots seen in bodies and
receipts (senders, recipients, created contracts, log emitters, access lists) and those
given to :meth:`JsonRpcChainData.remember` are kept as preimages; a hash without a known
preimage cannot be served (None).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightclient.core import ethcodec
from lightclient.core.ethcodec import (
    encode_receipt,
    encode_transaction,
    encode_withdrawal,
    list_item,
    ordered_trie_root,
    uncle_hash,
)
from lightclient.core.header import Header, decode_header, header_rlp_from_json
from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import (
    decode_node,
    encode_bytes,
    encode_int,
    encode_list,
    split_list,
)
from lightclient.core.trie import BLANK_ROOT, verify_proof
from lightclient.errors import (
    DecodeError,
    HeaderSourceError,
    InvalidHeader,
    InvalidInput,
    InvalidProof,
)
from lightclient.oracle.reader import verify_storage_proof
from lightclient.sources.jsonrpc import JsonRpcHeaderSource, RpcError

__all__ = [
    "EMPTY_CODE_HASH",
    "TRIES_IN_MEMORY",
    "TX_INCLUDED",
    "TX_PENDING",
    "TX_QUEUED",
    "TX_UNKNOWN",
    "ChainDataMismatch",
    "JsonRpcChainData",
    "TxLookup",
    "TxStatus",
]

# geth's core.TriesInMemory: a non-archive node has state for the newest 128 blocks only.
TRIES_IN_MEMORY = 128
EMPTY_CODE_HASH = keccak(b"")
# geth's txpool.TxStatus values, as LES TxStatus carries them.
TX_UNKNOWN = 0
TX_QUEUED = 1
TX_PENDING = 2
TX_INCLUDED = 3
_METHOD_NOT_FOUND = -32601

# Header RLP field positions (light-odr.md §7.2).
_F_UNCLES, _F_STATE, _F_TXS, _F_RECEIPTS = 1, 3, 4, 5


class ChainDataMismatch(HeaderSourceError):
    """The node's data does not match the header of the block it was asked about (or the
    node's answer is malformed); nothing of it may be served."""


@dataclass(frozen=True, slots=True)
class TxLookup:
    """Where a transaction is included: geth's ``rawdb.LegacyTxLookupEntry``."""

    block_hash: bytes
    block_number: int
    index: int

    def rlp(self) -> bytes:
        """``[blockHash, blockNumber, txIndex]`` as LES TxStatus carries it."""
        return encode_list(
            [encode_bytes(self.block_hash), encode_int(self.block_number), encode_int(self.index)]
        )


@dataclass(frozen=True, slots=True)
class TxStatus:
    """geth's ``light.TxStatus``: status (0 unknown, 1 queued, 2 pending, 3 included), the
    lookup when included, and the pool's error text when a SendTxV2 insert failed."""

    status: int
    lookup: TxLookup | None = None
    error: str = ""

    def rlp(self) -> bytes:
        """``[status, lookup or c0, error]``: one entry of an LES TxStatus reply."""
        lookup = self.lookup.rlp() if self.lookup is not None else b"\xc0"
        return encode_list(
            [encode_int(self.status), lookup, encode_bytes(self.error.encode("utf-8"))]
        )


@dataclass(frozen=True, slots=True)
class _Block:
    header: Header
    fields: list[bytes]  # the header's RLP fields
    json: Mapping[str, Any]


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


class JsonRpcChainData:
    """Bodies, receipts, code, proofs and transactions of a full node over JSON-RPC.

    ``rpc`` is a :class:`JsonRpcHeaderSource` (shared, not closed here) or a URL (a source
    is made for it and closed by :meth:`close`). ``archive=False`` applies geth's
    non-archive rule to code and proofs: a block with ``number + 128 <= head`` is stale
    and gives None, as geth's server skips it.
    """

    def __init__(
        self, rpc: JsonRpcHeaderSource | str, *, archive: bool = False, **source_options: Any
    ) -> None:
        if isinstance(rpc, JsonRpcHeaderSource):
            if source_options:
                raise InvalidInput("source options only go with a URL")
            self.rpc, self._owns = rpc, False
        else:
            self.rpc, self._owns = JsonRpcHeaderSource(rpc, **source_options), True
        self.archive = archive
        self._preimages: dict[bytes, bytes] = {}

    async def __aenter__(self) -> JsonRpcChainData:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the JSON-RPC source if this object made it."""
        if self._owns:
            await self.rpc.close()

    # -- preimages ---------------------------------------------------------------------------

    def remember(self, *values: bytes) -> None:
        """Keep addresses (20 bytes) or storage slots (32 bytes) as preimages of their keccak,
        so that the hashed keys of GetCode/GetProofsV2 can be turned back into them."""
        for value in values:
            if len(value) not in (20, 32):
                raise InvalidInput(f"a preimage is a 20-byte address or 32-byte slot: {value!r}")
            self._preimages[keccak(value)] = bytes(value)

    def preimage(self, key_hash: bytes) -> bytes | None:
        """The remembered address or slot whose keccak is ``key_hash``."""
        return self._preimages.get(bytes(key_hash))

    def _remember_json(self, value: Any, size: int) -> None:
        if isinstance(value, str) and len(value) == 2 + 2 * size:
            with contextlib.suppress(ValueError):
                self.remember(bytes.fromhex(value[2:]))

    def _learn_tx(self, tx: Mapping[str, Any]) -> None:
        self._remember_json(tx.get("from"), 20)
        self._remember_json(tx.get("to"), 20)
        for entry in tx.get("accessList") or ():
            if isinstance(entry, Mapping):
                self._remember_json(entry.get("address"), 20)
                for key in entry.get("storageKeys") or ():
                    self._remember_json(key, 32)

    def _learn_receipt(self, receipt: Mapping[str, Any]) -> None:
        self._remember_json(receipt.get("contractAddress"), 20)
        for log in receipt.get("logs") or ():
            if isinstance(log, Mapping):
                self._remember_json(log.get("address"), 20)

    # -- the header ----------------------------------------------------------------------------

    async def _block(self, block_hash: bytes, full: bool) -> _Block | None:
        """The block's JSON, with its header rebuilt and checked to hash to ``block_hash``."""
        if len(block_hash) != 32:
            raise InvalidInput(f"a block hash has 32 bytes, not {len(block_hash)}")
        block = await self.rpc.call("eth_getBlockByHash", [_hex(block_hash), full])
        if block is None:
            return None
        where = f"{self.rpc.url}: block 0x{block_hash.hex()}"
        if not isinstance(block, Mapping):
            raise ChainDataMismatch(f"{where}: eth_getBlockByHash returned {block!r}")
        try:
            header = decode_header(header_rlp_from_json(block), block_hash)
        except (DecodeError, InvalidHeader) as exc:
            raise ChainDataMismatch(f"{where}: the node's header does not match: {exc}") from None
        return _Block(header, split_list(header.rlp), block)

    async def header(self, block_hash: bytes) -> Header | None:
        """The header of block ``block_hash`` (checked to hash to it), or None if unknown."""
        block = await self._block(block_hash, False)
        return block.header if block is not None else None

    # -- bodies --------------------------------------------------------------------------------

    async def _transactions(self, block: _Block) -> list[bytes]:
        """The block's transactions in consensus encoding, each checked against its hash
        and all of them against transactionsRoot."""
        number = block.header.number
        txs = block.json.get("transactions")
        if not isinstance(txs, list):
            raise ChainDataMismatch(f"{self.rpc.url}: block {number} has no transaction list")
        encoded: list[bytes | None] = []
        unknown: list[int] = []
        for index, tx in enumerate(txs):
            if not isinstance(tx, Mapping):
                raise ChainDataMismatch(
                    f"{self.rpc.url}: block {number} transaction {index} is not an object"
                )
            try:
                if ethcodec.tx_type(tx) in ethcodec.KNOWN_TX_TYPES:
                    encoded.append(encode_transaction(tx))
                else:
                    encoded.append(None)
                    unknown.append(index)
            except DecodeError as exc:
                raise ChainDataMismatch(
                    f"{self.rpc.url}: block {number} transaction {index}: {exc}"
                ) from None
            self._learn_tx(tx)
        if unknown:  # a type we do not encode: ask for its consensus bytes instead
            params = [[_hex(block.header.hash), hex(i)] for i in unknown]
            raws = await self.rpc.call_many("eth_getRawTransactionByBlockHashAndIndex", params)
            for index, raw in zip(unknown, raws, strict=True):
                try:
                    encoded[index] = ethcodec.data(raw, "raw transaction")
                except DecodeError as exc:
                    raise ChainDataMismatch(
                        f"{self.rpc.url}: block {number} raw transaction {index}: {exc}"
                    ) from None
        out: list[bytes] = []
        for index, (tx, enc) in enumerate(zip(txs, encoded, strict=True)):
            assert enc is not None
            claimed = tx.get("hash")
            if claimed is not None and str(claimed).lower() != _hex(keccak(enc)):
                raise ChainDataMismatch(
                    f"{self.rpc.url}: block {number} transaction {index} encodes to hash "
                    f"{_hex(keccak(enc))}, the node says {claimed}"
                )
            out.append(enc)
        root = ordered_trie_root(out)
        if root != block.fields[_F_TXS]:
            raise ChainDataMismatch(
                f"{self.rpc.url}: block {number}: the transactions hash to root {_hex(root)}, "
                f"the header's transactionsRoot is {_hex(block.fields[_F_TXS])}"
            )
        return out

    async def _uncles(self, block: _Block) -> list[bytes]:
        number = block.header.number
        hashes = block.json.get("uncles") or []
        if not isinstance(hashes, list):
            raise ChainDataMismatch(f"{self.rpc.url}: block {number}: uncles is not a list")
        params = [[_hex(block.header.hash), hex(i)] for i in range(len(hashes))]
        answers = await self.rpc.call_many("eth_getUncleByBlockHashAndIndex", params)
        uncles: list[bytes] = []
        for index, (listed, uncle) in enumerate(zip(hashes, answers, strict=True)):
            if not isinstance(uncle, Mapping):
                raise ChainDataMismatch(
                    f"{self.rpc.url}: block {number} uncle {index} is missing: {uncle!r}"
                )
            try:
                raw = header_rlp_from_json(uncle)
            except DecodeError as exc:
                raise ChainDataMismatch(
                    f"{self.rpc.url}: block {number} uncle {index}: {exc}"
                ) from None
            if not isinstance(listed, str) or _hex(keccak(raw)) != listed.lower():
                raise ChainDataMismatch(
                    f"{self.rpc.url}: block {number} uncle {index} hashes to "
                    f"{_hex(keccak(raw))}, the block lists {listed!r}"
                )
            uncles.append(raw)
        digest = uncle_hash(uncles)
        if digest != block.fields[_F_UNCLES]:
            raise ChainDataMismatch(
                f"{self.rpc.url}: block {number}: the uncles hash to {_hex(digest)}, the "
                f"header's sha3Uncles is {_hex(block.fields[_F_UNCLES])}"
            )
        return uncles

    def _withdrawals(self, block: _Block) -> list[bytes] | None:
        """The withdrawals' RLP when the header has a withdrawalsRoot (Shanghai), else None."""
        number = block.header.number
        root_json = block.json.get("withdrawalsRoot")
        withdrawals = block.json.get("withdrawals")
        if root_json is None:
            if withdrawals:
                raise ChainDataMismatch(
                    f"{self.rpc.url}: block {number} has withdrawals but no withdrawalsRoot"
                )
            return None
        if not isinstance(withdrawals, list):
            raise ChainDataMismatch(
                f"{self.rpc.url}: block {number} has a withdrawalsRoot but no withdrawals list"
            )
        try:
            encoded = [encode_withdrawal(w) for w in withdrawals]
            expected = ethcodec.data(root_json, "withdrawalsRoot", 32)
        except (DecodeError, TypeError, AttributeError) as exc:
            raise ChainDataMismatch(f"{self.rpc.url}: block {number} withdrawals: {exc}") from None
        root = ordered_trie_root(encoded)
        if root != expected:
            raise ChainDataMismatch(
                f"{self.rpc.url}: block {number}: the withdrawals hash to root {_hex(root)}, "
                f"the header's withdrawalsRoot is {_hex(expected)}"
            )
        return encoded

    async def body_rlp(self, block_hash: bytes) -> bytes | None:
        """The RLP of geth's ``types.Body`` for the block, as LES BlockBodies sends it:
        ``[[tx...], [uncleHeader...]]``, plus ``[withdrawal...]`` when the header has a
        withdrawalsRoot. Legacy txs are RLP lists, typed txs RLP strings holding
        ``type || payload``. None when the node does not know the block.

        Raises :class:`ChainDataMismatch` when anything does not match the header.
        """
        block = await self._block(block_hash, True)
        if block is None:
            return None
        txs = await self._transactions(block)
        uncles = await self._uncles(block)
        withdrawals = self._withdrawals(block)
        parts = [encode_list([list_item(tx) for tx in txs]), encode_list(uncles)]
        if withdrawals is not None:
            parts.append(encode_list(withdrawals))
        return encode_list(parts)

    # -- receipts ------------------------------------------------------------------------------

    async def _receipt_json(self, block: _Block) -> list[Any]:
        hashes = block.json.get("transactions")
        if not isinstance(hashes, list):
            raise ChainDataMismatch(
                f"{self.rpc.url}: block {block.header.number} has no transaction list"
            )
        if not hashes:
            return []
        try:
            result = await self.rpc.call("eth_getBlockReceipts", [_hex(block.header.hash)])
        except RpcError as exc:
            if exc.code != _METHOD_NOT_FOUND:
                raise
            result = None
        if result is None:  # geth before 1.13 has no eth_getBlockReceipts: one tx at a time
            params = [[h if isinstance(h, str) else h.get("hash")] for h in hashes]
            result = await self.rpc.call_many("eth_getTransactionReceipt", params)
        if not isinstance(result, list) or len(result) != len(hashes):
            count = len(result) if isinstance(result, list) else result
            raise ChainDataMismatch(
                f"{self.rpc.url}: block {block.header.number} has {len(hashes)} transactions "
                f"but the node gave {count!r} receipts"
            )
        return result

    async def receipts_rlp(self, block_hash: bytes) -> bytes | None:
        """The block's receipts as one entry of LES Receipts: the RLP list of the receipts in
        **consensus** encoding (geth ``rlp.EncodeToBytes(types.Receipts)``: a legacy receipt
        is the list ``[statusOrRoot, cumulativeGasUsed, bloom, logs]``, a typed one an RLP
        string holding ``type || rlp(list)``); not geth's storage form. ``c0`` for a block
        without transactions; None when the node does not know the block.

        Raises :class:`ChainDataMismatch` unless the receipts trie root equals receiptsRoot.
        """
        block = await self._block(block_hash, False)
        if block is None:
            return None
        number = block.header.number
        encoded: list[bytes] = []
        for index, receipt in enumerate(await self._receipt_json(block)):
            if not isinstance(receipt, Mapping):
                raise ChainDataMismatch(
                    f"{self.rpc.url}: block {number} receipt {index} is {receipt!r}"
                )
            try:
                encoded.append(encode_receipt(receipt))
            except DecodeError as exc:
                raise ChainDataMismatch(
                    f"{self.rpc.url}: block {number} receipt {index}: {exc}"
                ) from None
            self._learn_receipt(receipt)
        root = ordered_trie_root(encoded)
        if root != block.fields[_F_RECEIPTS]:
            raise ChainDataMismatch(
                f"{self.rpc.url}: block {number}: the receipts hash to root {_hex(root)}, the "
                f"header's receiptsRoot is {_hex(block.fields[_F_RECEIPTS])}"
            )
        return encode_list([list_item(r) for r in encoded])

    # -- state -----------------------------------------------------------------------------------

    async def _state_block(self, block_hash: bytes) -> _Block | None:
        """The block, or None when unknown or (non-archive) stale: number + 128 <= head."""
        block = await self._block(block_hash, False)
        if block is None:
            return None
        if not self.archive and block.header.number + TRIES_IN_MEMORY <= await self.rpc.head():
            return None
        return block

    def _address(self, account: bytes) -> bytes | None:
        if len(account) == 20:
            return bytes(account)
        if len(account) == 32:
            found = self._preimages.get(bytes(account))
            return found if found is not None and len(found) == 20 else None
        raise InvalidInput(
            f"an account is a 20-byte address or its 32-byte keccak, not {len(account)} bytes"
        )

    async def _get_proof(
        self, block: _Block, address: bytes, slots: Sequence[bytes]
    ) -> tuple[Mapping[str, Any], list[bytes], list[bytes] | None]:
        """eth_getProof at the block hash; (answer, account proof nodes, account fields or
        None if absent), the account proof verified against the header's stateRoot."""
        where = f"{self.rpc.url}: block {block.header.number} account {_hex(address)}"
        answer = await self.rpc.call(
            "eth_getProof",
            [_hex(address), [_hex(s) for s in slots], {"blockHash": _hex(block.header.hash)}],
        )
        try:
            nodes = [ethcodec.data(n, "accountProof") for n in answer["accountProof"]]
            value, nodes = _verified(block.fields[_F_STATE], keccak(address), nodes)
            account = decode_node(value) if value is not None else None
        except (InvalidProof, DecodeError, KeyError, TypeError) as exc:
            raise ChainDataMismatch(
                f"{where}: the account proof does not verify against stateRoot "
                f"{_hex(block.fields[_F_STATE])}: {exc}"
            ) from None
        if account is None:
            return answer, nodes, None
        if not isinstance(account, list) or len(account) != 4:
            raise ChainDataMismatch(f"{where}: the proved account is not a 4-item list")
        fields = [x for x in account if isinstance(x, bytes)]
        if len(fields) != 4:
            raise ChainDataMismatch(f"{where}: the proved account has a nested item")
        return answer, nodes, fields

    async def code(self, block_hash: bytes, account: bytes) -> bytes | None:
        """The code of ``account`` (a 20-byte address or its keccak) in the state of the
        block, checked against the codeHash of the account proved against stateRoot.

        None, as geth's server skips the entry, when the block is unknown or stale, the
        account hash has no known preimage, the account does not exist, or it has no code.
        """
        block = await self._state_block(block_hash)
        address = self._address(account)
        if block is None or address is None:
            return None
        _, _, fields = await self._get_proof(block, address, [])
        if fields is None or fields[3] == EMPTY_CODE_HASH:
            return None
        code = await self.rpc.call("eth_getCode", [_hex(address), {"blockHash": _hex(block_hash)}])
        try:
            raw = ethcodec.data(code, "code")
        except DecodeError as exc:
            raise ChainDataMismatch(f"{self.rpc.url}: eth_getCode: {exc}") from None
        if keccak(raw) != fields[3]:
            raise ChainDataMismatch(
                f"{self.rpc.url}: block {block.header.number} account {_hex(address)}: the code "
                f"hashes to {_hex(keccak(raw))}, the proved codeHash is {_hex(fields[3])}"
            )
        return raw

    async def proof_nodes(
        self,
        block_hash: bytes,
        account: bytes,
        storage_key: bytes | None = None,
        *,
        storage_key_hashed: bool = False,
    ) -> list[bytes] | None:
        """The trie nodes geth's GetProofsV2 would add for one entry, each the raw node RLP,
        root first, verified against the block's stateRoot.

        ``account`` is a 20-byte address or keccak(address). Without ``storage_key`` this
        is the account's proof in the state trie (a proof of absence for a missing
        account). With it — the 32-byte slot, or keccak(slot) with
        ``storage_key_hashed=True`` — it is the slot's proof in the account's storage trie
        **only**: geth proves ``key`` in the storage trie and nothing else, and its client
        rejects nodes it does not use. The account proof is still fetched and verified, to
        take the storage root from it. An empty storage trie gives ``[]``.

        None when the block is unknown or stale, a hashed key has no known preimage, or
        (storage) the account does not exist.
        """
        block = await self._state_block(block_hash)
        address = self._address(account)
        if block is None or address is None:
            return None
        if storage_key is None:
            _, nodes, _ = await self._get_proof(block, address, [])
            return nodes
        if len(storage_key) != 32:
            raise InvalidInput(f"a storage key has 32 bytes, not {len(storage_key)}")
        slot = self._preimages.get(bytes(storage_key)) if storage_key_hashed else storage_key
        if slot is None:
            return None
        answer, _, fields = await self._get_proof(block, address, [slot])
        if fields is None:
            return None
        where = f"{self.rpc.url}: block {block.header.number} account {_hex(address)}"
        storage_root = fields[2]
        try:
            proofs = [p for p in answer["storageProof"] if _slot_of(p.get("key")) == slot]
            if len(proofs) != 1:
                raise DecodeError(f"{len(proofs)} storage proofs for slot {_hex(slot)}")
            nodes = [ethcodec.data(n, "storageProof") for n in proofs[0]["proof"]]
            nodes = _verified(storage_root, keccak(slot), nodes)[1]
            # The project's eth_getProof check (also used for the oracle): storageHash and
            # the claimed value against the proofs.
            verify_storage_proof(block.fields[_F_STATE], _hex(address), answer)
        except (InvalidProof, DecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ChainDataMismatch(
                f"{where}: the storage proof of slot {_hex(slot)} does not verify against "
                f"the account's storage root {_hex(storage_root)}: {exc}"
            ) from None
        return nodes

    # -- transactions ----------------------------------------------------------------------------

    async def tx_status(self, tx_hash: bytes) -> TxStatus:
        """geth's ``txStatus`` for one hash: the node's pool first (queued: a nonce past the
        sender's pending nonce; pending otherwise), then the chain: included, with the
        lookup checked against the verified body of that block; unknown otherwise."""
        if len(tx_hash) != 32:
            raise InvalidInput(f"a transaction hash has 32 bytes, not {len(tx_hash)}")
        tx = await self.rpc.call("eth_getTransactionByHash", [_hex(tx_hash)])
        if tx is None:
            return TxStatus(TX_UNKNOWN)
        if not isinstance(tx, Mapping):
            raise ChainDataMismatch(f"{self.rpc.url}: eth_getTransactionByHash returned {tx!r}")
        try:
            if tx.get("blockHash") is None:
                nonce = ethcodec.quantity(tx.get("nonce"), "nonce")
                sender = tx.get("from")
                count = await self.rpc.call("eth_getTransactionCount", [sender, "pending"])
                if nonce >= ethcodec.quantity(count, "transaction count"):
                    return TxStatus(TX_QUEUED)
                return TxStatus(TX_PENDING)
            block_hash = ethcodec.data(tx["blockHash"], "blockHash", 32)
            number = ethcodec.quantity(tx.get("blockNumber"), "blockNumber")
            index = ethcodec.quantity(tx.get("transactionIndex"), "transactionIndex")
        except DecodeError as exc:
            raise ChainDataMismatch(f"{self.rpc.url}: transaction {_hex(tx_hash)}: {exc}") from None
        block = await self._block(block_hash, True)
        if block is None:
            return TxStatus(TX_UNKNOWN)  # reorged away between the two calls
        txs = await self._transactions(block)
        if block.header.number != number or index >= len(txs) or keccak(txs[index]) != tx_hash:
            raise ChainDataMismatch(
                f"{self.rpc.url}: the node places transaction {_hex(tx_hash)} at block "
                f"{number} index {index}, but block 0x{block_hash.hex()} does not hold it there"
            )
        return TxStatus(TX_INCLUDED, TxLookup(block_hash, number, index))

    async def send_raw_tx(self, raw: bytes) -> TxStatus:
        """geth's SendTxV2 for one transaction in consensus encoding (a legacy RLP list, or a
        typed envelope ``type || payload``): its status if already known, else submit it
        with ``eth_sendRawTransaction``; a refusal gives status 0 and the node's error text.
        """
        if not raw:
            raise InvalidInput("an empty transaction")
        tx_hash = keccak(bytes(raw))
        status = await self.tx_status(tx_hash)
        if status.status != TX_UNKNOWN:
            return status
        try:
            await self.rpc.call("eth_sendRawTransaction", [_hex(raw)])
        except RpcError as exc:
            return TxStatus(TX_UNKNOWN, None, exc.rpc_message)
        return await self.tx_status(tx_hash)


def _verified(root: bytes, key: bytes, nodes: list[bytes]) -> tuple[bytes | None, list[bytes]]:
    """(value or None, the nodes geth would send) of a proof checked with geth's rules.

    An empty trie has no nodes to prove anything with: geth's ``Prove`` adds none, while
    some nodes (anvil) answer with the empty root's own RLP ``80``; both mean absence.
    """
    if root == BLANK_ROOT and nodes in ([], [b"\x80"]):
        return None, []
    return verify_proof(root, key, nodes), nodes


def _slot_of(value: Any) -> bytes | None:
    """A storage proof's ``key`` (a quantity or 32-byte data) as 32 bytes."""
    if not isinstance(value, str):
        return None
    try:
        return ethcodec.quantity(value, "key").to_bytes(32, "big")
    except (DecodeError, OverflowError):
        return None
