"""``LightNode``: the light client's verified eth_* calls as an async Python API, the one
place their logic lives (the JSON-RPC methods of :mod:`lightclient.rpc.les_client` are
thin wrappers over it, so both answer the same)::

    node = LightNode(client)                       # a started, synced LightClient
    await node.block_number()                      # 1234
    await node.get_balance("0x00...01")            # wei, from a verified account proof
    await node.get_block("latest", full=True)      # geth's JSON shape of the block

Quantities come back as ``int``, code and storage words as ``bytes``; blocks,
transactions, receipts and proofs in geth v1.11.6's JSON shapes
(:mod:`lightclient.rpc.eth_json`). A block is ``"latest"``/``"pending"``/``"earliest"``,
a number (``int`` or 0x string) or, for the state calls, a 32-byte block hash (``bytes`` or
0x string). Errors are :class:`~lightclient.errors.LightClientError` (InvalidInput for a
bad argument), as the RPC turns them into JSON-RPC errors.
"""

from __future__ import annotations

from typing import Any

from lightclient.client.client import LightClient
from lightclient.client.odr import STATE_WINDOW, Account, Odr, UnknownBlock
from lightclient.core.header import Header
from lightclient.core.keccak import keccak
from lightclient.core.trie import BLANK_ROOT
from lightclient.errors import InvalidInput, LightClientError
from lightclient.les.messages import TX_UNKNOWN
from lightclient.rpc.eth_json import block_json, receipt_json, transaction_json, uncle_json

__all__ = [
    "BlockId",
    "LightNode",
    "hex_bytes",
    "parse_block_id",
    "parse_block_tag",
    "storage_slot",
]

BlockId = int | str | bytes
_EMPTY_CODE_HASH = keccak(b"")
_TAGS = ("latest", "pending", "earliest", "safe", "finalized")


def hex_bytes(value: object, what: str, size: int | None = None) -> bytes:
    """0x hex to bytes (geth's ``hexutil.Bytes``), of ``size`` bytes when given."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise InvalidInput(f"{what}: hex string without 0x prefix")
    try:
        out = bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidInput(f"{what}: invalid hex string") from None
    if size is not None and len(out) != size:
        raise InvalidInput(f"{what}: hex string has length {2 * len(out)}, want {2 * size}")
    return out


def parse_block_tag(value: object) -> int | str:
    """A block number or tag (geth's ``rpc.BlockNumber``)."""
    if isinstance(value, str) and value in _TAGS:
        return value
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise InvalidInput(f'invalid block number {value!r}: a 0x quantity or "latest"')


def parse_block_id(value: object) -> int | str | bytes:
    """geth's ``rpc.BlockNumberOrHash``: a number/tag, a 32-byte hash, or an object."""
    if isinstance(value, dict):
        if "blockHash" in value:
            return hex_bytes(value["blockHash"], "blockHash", 32)
        if "blockNumber" in value:
            return parse_block_tag(value["blockNumber"])
        raise InvalidInput("types BlockNumber or BlockHash not found")
    if isinstance(value, str) and len(value) == 66:
        return hex_bytes(value, "block hash", 32)
    return parse_block_tag(value)


def _block(value: BlockId) -> int | str | bytes:
    """A Python caller's block: also a plain ``int`` or 32 raw bytes."""
    if isinstance(value, bool):
        raise InvalidInput(f"invalid block {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise InvalidInput(f"invalid block number {value}")
        return value
    if isinstance(value, bytes):
        if len(value) != 32:
            raise InvalidInput("a block hash is 32 bytes")
        return value
    return parse_block_id(value)


def _bytes(value: str | bytes, what: str, size: int | None = None) -> bytes:
    if isinstance(value, bytes):
        if size is not None and len(value) != size:
            raise InvalidInput(f"{what}: {len(value)} bytes, want {size}")
        return value
    return hex_bytes(value, what, size)


def storage_slot(value: object) -> bytes:
    """geth's ``common.HexToHash``: hex, left-padded (or cut on the left) to 32 bytes; an
    ``int`` or raw bytes from a Python caller."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**256:
        return value.to_bytes(32, "big")
    if isinstance(value, bytes):
        return value[-32:].rjust(32, b"\0")
    if not isinstance(value, str):
        raise InvalidInput("a storage key is a hex string")
    text = value[2:] if value.startswith(("0x", "0X")) else value
    if len(text) % 2:
        text = "0" + text
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise InvalidInput(f"invalid storage key {value!r}") from None
    return raw[-32:].rjust(32, b"\0")


class LightNode:
    """The verified eth_* calls of a :class:`LightClient` (started and synced by its
    owner). ``chain_id`` defaults to the network ID; ``state_window``: how many of the
    newest blocks the servers keep state for (None: archive servers)."""

    def __init__(
        self,
        client: LightClient,
        chain_id: int | None = None,
        state_window: int | None = STATE_WINDOW,
    ) -> None:
        self.client = client
        self._chain_id = chain_id
        self.odr = Odr(client, state_window)

    # -- blocks ------------------------------------------------------------------------
    async def _number_of(self, tag: int | str) -> int:
        if tag in ("latest", "pending"):
            return self.client.head_number
        if tag == "earliest":
            return 0
        if tag in ("safe", "finalized"):
            raise LightClientError(f"{tag} header not found")
        assert isinstance(tag, int)
        return tag

    async def header(self, block: BlockId = "latest") -> Header | None:
        """The verified header, None when unknown (past the head, a hash we do not hold)."""
        tag = _block(block)
        if isinstance(tag, bytes):
            try:
                return await self.odr.header(tag)
            except UnknownBlock:
                return None
        number = await self._number_of(tag)
        if number > self.client.head_number:
            return None
        return await self.client.header_by_number(number)

    async def _state_header(self, block: BlockId) -> Header:
        header = await self.header(block)
        if header is None:
            raise LightClientError("header not found")
        return header

    async def block_number(self) -> int:
        return self.client.head_number

    async def get_block(
        self, block: BlockId = "latest", full: bool = False
    ) -> dict[str, Any] | None:
        header = await self.header(block)
        if header is None:
            return None
        body = await self.odr.body(header.hash)
        return block_json(body, full, self.client.td.get(header.number))

    async def get_block_transaction_count(self, block: BlockId = "latest") -> int | None:
        header = await self.header(block)
        if header is None:
            return None
        return len((await self.odr.body(header.hash)).transactions)

    async def get_transaction_by_block(self, block: BlockId, index: int) -> dict[str, Any] | None:
        header = await self.header(block)
        if header is None:
            return None
        body = await self.odr.body(header.hash)
        return transaction_json(body, index) if 0 <= index < len(body.transactions) else None

    async def get_uncle_count(self, block: BlockId = "latest") -> int | None:
        header = await self.header(block)
        if header is None:
            return None
        return len((await self.odr.body(header.hash)).uncles)

    async def get_uncle(self, block: BlockId, index: int) -> dict[str, Any] | None:
        header = await self.header(block)
        if header is None:
            return None
        uncles = (await self.odr.body(header.hash)).uncles
        return uncle_json(uncles[index]) if 0 <= index < len(uncles) else None

    # -- state -------------------------------------------------------------------------
    async def get_account(self, address: str | bytes, block: BlockId = "latest") -> Account | None:
        """The verified account (None: proved absent)."""
        header = await self._state_header(block)
        return await self.odr.account(header.hash, _bytes(address, "address", 20))

    async def get_balance(self, address: str | bytes, block: BlockId = "latest") -> int:
        found = await self.get_account(address, block)
        return found.balance if found else 0

    async def get_transaction_count(self, address: str | bytes, block: BlockId = "latest") -> int:
        found = await self.get_account(address, block)
        return found.nonce if found else 0

    async def get_code(self, address: str | bytes, block: BlockId = "latest") -> bytes:
        header = await self._state_header(block)
        return await self.odr.code(header.hash, _bytes(address, "address", 20))

    async def get_storage_at(
        self, address: str | bytes, slot: int | str | bytes, block: BlockId = "latest"
    ) -> bytes:
        """The 32-byte word in ``slot``."""
        header = await self._state_header(block)
        key = storage_slot(slot)
        value, _, _ = await self.odr.storage(header.hash, _bytes(address, "address", 20), key)
        return value.to_bytes(32, "big")

    async def get_proof(
        self, address: str | bytes, keys: list[str], block: BlockId = "latest"
    ) -> dict[str, Any]:
        """eth_getProof's answer (EIP-1186), from verified proofs."""
        raw = _bytes(address, "address", 20)
        header = await self._state_header(block)
        found, proof = await self.odr.account_proof(header.hash, raw)
        proofs = []
        for key in keys:
            value, _, nodes = await self.odr.storage(header.hash, raw, storage_slot(key))
            proofs.append(
                {"key": key, "value": hex(value), "proof": ["0x" + n.hex() for n in nodes]}
            )
        if found is None:
            # geth: "no storageTrie means the account does not exist, so the codeHash is
            # the hash of an empty bytearray"
            nonce, balance, root, code_hash = 0, 0, BLANK_ROOT, _EMPTY_CODE_HASH
        else:
            nonce, balance = found.nonce, found.balance
            root, code_hash = found.storage_root, found.code_hash
        return {
            "address": "0x" + raw.hex(),
            "accountProof": ["0x" + n.hex() for n in proof],
            "balance": hex(balance),
            "codeHash": "0x" + code_hash.hex(),
            "nonce": hex(nonce),
            "storageHash": "0x" + root.hex(),
            "storageProof": proofs,
        }

    # -- transactions ------------------------------------------------------------------
    async def get_transaction(self, tx_hash: str | bytes) -> dict[str, Any] | None:
        found = await self.odr.transaction(_bytes(tx_hash, "hash", 32))
        if found is None:
            return None
        body, index = found
        return transaction_json(body, index)

    async def get_transaction_receipt(self, tx_hash: str | bytes) -> dict[str, Any] | None:
        found = await self.odr.transaction(_bytes(tx_hash, "hash", 32))
        if found is None:
            return None
        body, index = found
        receipts = await self.odr.receipts(body.header.hash)
        return receipt_json(body, receipts, index)

    async def send_raw_transaction(self, raw: str | bytes) -> bytes:
        """Relay a signed transaction to the servers; its hash."""
        data = _bytes(raw, "transaction")
        if not data:
            raise InvalidInput("typed transaction too short")
        status = await self.odr.send_transaction(data)
        if status.error:
            raise LightClientError(status.error)
        if status.status == TX_UNKNOWN:
            raise LightClientError("the light server did not accept the transaction")
        return keccak(data)

    # -- the chain ---------------------------------------------------------------------
    async def chain_id(self) -> int:
        value = self._chain_id if self._chain_id is not None else self.client.network_id
        if value is None:
            raise LightClientError("chain ID not known")
        return value

    async def network_id(self) -> int:
        if self.client.network_id is None:
            raise LightClientError("network ID not known")
        return self.client.network_id
