"""What a light client serves on its own JSON-RPC endpoint: its trusted checkpoint through
the les_* methods, and the eth_* methods a geth v1.11.6 light node answers, from verified
data only (headers of the verified chain; bodies, receipts, accounts, storage and code by
on-demand retrieval, :class:`~lightclient.client.odr.Odr`, checked against them).

Block parameters: ``"latest"``/``"pending"`` (the verified head), ``"earliest"``, a 0x
number, and for state methods also a block hash (EIP-1898: a 32-byte hex string or
``{"blockHash": ...}`` / ``{"blockNumber": ...}``). ``"safe"``/``"finalized"`` are refused
as on geth's light client. State older than the servers keep gives an error that says so.
"""

from __future__ import annotations

from typing import Any

from lightclient import __version__
from lightclient.client.client import LightClient
from lightclient.client.odr import STATE_WINDOW, Account, Odr, UnknownBlock
from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.header import Header
from lightclient.core.keccak import keccak
from lightclient.core.trie import BLANK_ROOT
from lightclient.errors import InvalidInput, LightClientError
from lightclient.les.messages import TX_UNKNOWN
from lightclient.rpc.eth_json import block_json, receipt_json, transaction_json, uncle_json
from lightclient.rpc.les import les_checkpoint_methods
from lightclient.rpc.params import Param
from lightclient.rpc.server import Method

__all__ = ["CLIENT_VERSION", "light_client_methods"]

CLIENT_VERSION = f"lightclient/v{__version__}/python"
_EMPTY_CODE_HASH = keccak(b"")


class _Checkpoints:
    def __init__(self, client: LightClient) -> None:
        self.client = client

    def latest_checkpoint(self) -> TrustedCheckpoint | None:
        return self.client.latest_checkpoint()

    def checkpoint(self, index: int) -> TrustedCheckpoint | None:
        return self.client.get_checkpoint(index)


def _hex_bytes(value: object, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise InvalidInput(f"{what}: hex string without 0x prefix")
    try:
        out = bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidInput(f"{what}: invalid hex string") from None
    if size is not None and len(out) != size:
        raise InvalidInput(f"{what}: hex string has length {2 * len(out)}, want {2 * size}")
    return out


def _block_tag(value: object) -> object:
    """A block number or tag (geth's ``rpc.BlockNumber``)."""
    if isinstance(value, str) and value in ("latest", "pending", "earliest", "safe", "finalized"):
        return value
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise InvalidInput(f'invalid block number {value!r}: a 0x quantity or "latest"')


def _block_or_hash(value: object) -> object:
    """geth's ``rpc.BlockNumberOrHash``: a number/tag, a 32-byte hash, or an object."""
    if isinstance(value, dict):
        if "blockHash" in value:
            return _hex_bytes(value["blockHash"], "blockHash", 32)
        if "blockNumber" in value:
            return _block_tag(value["blockNumber"])
        raise InvalidInput("types BlockNumber or BlockHash not found")
    if isinstance(value, str) and len(value) == 66:
        return _hex_bytes(value, "block hash", 32)
    return _block_tag(value)


def _bool(value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInput("json: cannot unmarshal value into Go value of type bool")
    return value


def _address(value: object) -> bytes:
    return _hex_bytes(value, "address", 20)


def _hash(value: object) -> bytes:
    return _hex_bytes(value, "hash", 32)


def _index(value: object) -> int:
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise InvalidInput(f"invalid index {value!r}: a 0x quantity")


def _slot(value: object) -> bytes:
    """geth's ``common.HexToHash``: hex, left-padded (or cut on the left) to 32 bytes."""
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


def _slots(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput("storage keys are a list of hex strings")
    return list(value)


def _raw_tx(value: object) -> bytes:
    raw = _hex_bytes(value, "transaction")
    if not raw:
        raise InvalidInput("typed transaction too short")
    return raw


def light_client_methods(
    client: LightClient, chain_id: int | None = None, state_window: int | None = STATE_WINDOW
) -> list[Method]:
    """The light client's RPC methods. ``chain_id`` defaults to the network ID;
    ``state_window``: how many of the newest blocks the servers have state for (None:
    archive servers), see :class:`~lightclient.client.odr.Odr`."""
    odr = Odr(client, state_window)

    async def number_of(tag: object) -> int:
        if tag in ("latest", "pending"):
            return client.head_number
        if tag == "earliest":
            return 0
        if tag in ("safe", "finalized"):
            raise LightClientError(f"{tag} header not found")
        assert isinstance(tag, int)
        return tag

    async def header_at(tag: object) -> Header | None:
        """The verified header, None when unknown (past the head, a hash we do not hold)."""
        if isinstance(tag, bytes):
            try:
                return await odr.header(tag)
            except UnknownBlock:
                return None
        number = await number_of(tag)
        if number > client.head_number:
            return None
        return await client.header_by_number(number)

    async def state_header(tag: object) -> Header:
        header = await header_at(tag)
        if header is None:
            raise LightClientError("header not found")
        return header

    async def block_number() -> str:
        return hex(client.head_number)

    async def get_block(tag: object, full: bool) -> dict[str, Any] | None:
        header = await header_at(tag)
        if header is None:
            return None
        body = await odr.body(header.hash)
        return block_json(body, full, client.td.get(header.number))

    async def tx_count(tag: object) -> str | None:
        header = await header_at(tag)
        if header is None:
            return None
        return hex(len((await odr.body(header.hash)).transactions))

    async def tx_by_index(tag: object, index: int) -> dict[str, Any] | None:
        header = await header_at(tag)
        if header is None:
            return None
        body = await odr.body(header.hash)
        return transaction_json(body, index) if index < len(body.transactions) else None

    async def uncle_count(tag: object) -> str | None:
        header = await header_at(tag)
        if header is None:
            return None
        return hex(len((await odr.body(header.hash)).uncles))

    async def uncle_by_index(tag: object, index: int) -> dict[str, Any] | None:
        header = await header_at(tag)
        if header is None:
            return None
        uncles = (await odr.body(header.hash)).uncles
        return uncle_json(uncles[index]) if index < len(uncles) else None

    async def account(address: bytes, tag: object) -> Account | None:
        header = await state_header(tag)
        return await odr.account(header.hash, address)

    async def get_balance(address: bytes, tag: object) -> str:
        found = await account(address, tag)
        return hex(found.balance if found else 0)

    async def get_nonce(address: bytes, tag: object) -> str:
        found = await account(address, tag)
        return hex(found.nonce if found else 0)

    async def get_code(address: bytes, tag: object) -> str:
        header = await state_header(tag)
        return "0x" + (await odr.code(header.hash, address)).hex()

    async def get_storage(address: bytes, slot: bytes, tag: object) -> str:
        header = await state_header(tag)
        value, _, _ = await odr.storage(header.hash, address, slot)
        return "0x" + value.to_bytes(32, "big").hex()

    async def get_proof(address: bytes, keys: list[str], tag: object) -> dict[str, Any]:
        header = await state_header(tag)
        found, proof = await odr.account_proof(header.hash, address)
        proofs = []
        for key in keys:
            value, _, nodes = await odr.storage(header.hash, address, _slot(key))
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
            "address": "0x" + address.hex(),
            "accountProof": ["0x" + n.hex() for n in proof],
            "balance": hex(balance),
            "codeHash": "0x" + code_hash.hex(),
            "nonce": hex(nonce),
            "storageHash": "0x" + root.hex(),
            "storageProof": proofs,
        }

    async def tx_by_hash(tx_hash: bytes) -> dict[str, Any] | None:
        found = await odr.transaction(tx_hash)
        if found is None:
            return None
        body, index = found
        return transaction_json(body, index)

    async def tx_receipt(tx_hash: bytes) -> dict[str, Any] | None:
        found = await odr.transaction(tx_hash)
        if found is None:
            return None
        body, index = found
        receipts = await odr.receipts(body.header.hash)
        return receipt_json(body, receipts, index)

    async def send_raw(raw: bytes) -> str:
        status = await odr.send_transaction(raw)
        if status.error:
            raise LightClientError(status.error)
        if status.status == TX_UNKNOWN:
            raise LightClientError("the light server did not accept the transaction")
        return "0x" + keccak(raw).hex()

    async def chain() -> str:
        value = chain_id if chain_id is not None else client.network_id
        if value is None:
            raise LightClientError("chain ID not known")
        return hex(value)

    async def net_version() -> str:
        if client.network_id is None:
            raise LightClientError("network ID not known")
        return str(client.network_id)

    async def client_version() -> str:
        return CLIENT_VERSION

    block = Param(_block_tag)
    state = Param(_block_or_hash, optional=True, default="latest")
    full = Param(_bool, optional=True)
    return [
        *les_checkpoint_methods(_Checkpoints(client), client.oracle_address),
        Method("eth_chainId", chain),
        Method("net_version", net_version),
        Method("web3_clientVersion", client_version),
        Method("eth_blockNumber", block_number),
        Method("eth_getBlockByNumber", get_block, (block, full)),
        Method("eth_getBlockByHash", get_block, (Param(_hash), full)),
        Method("eth_getBlockTransactionCountByNumber", tx_count, (block,)),
        Method("eth_getBlockTransactionCountByHash", tx_count, (Param(_hash),)),
        Method("eth_getTransactionByBlockNumberAndIndex", tx_by_index, (block, Param(_index))),
        Method("eth_getTransactionByBlockHashAndIndex", tx_by_index, (Param(_hash), Param(_index))),
        Method("eth_getUncleCountByBlockNumber", uncle_count, (block,)),
        Method("eth_getUncleCountByBlockHash", uncle_count, (Param(_hash),)),
        Method("eth_getUncleByBlockNumberAndIndex", uncle_by_index, (block, Param(_index))),
        Method("eth_getUncleByBlockHashAndIndex", uncle_by_index, (Param(_hash), Param(_index))),
        Method("eth_getBalance", get_balance, (Param(_address), state)),
        Method("eth_getTransactionCount", get_nonce, (Param(_address), state)),
        Method("eth_getCode", get_code, (Param(_address), state)),
        Method("eth_getStorageAt", get_storage, (Param(_address), Param(_slot), state)),
        Method("eth_getProof", get_proof, (Param(_address), Param(_slots), state)),
        Method("eth_getTransactionByHash", tx_by_hash, (Param(_hash),)),
        Method("eth_getTransactionReceipt", tx_receipt, (Param(_hash),)),
        Method("eth_sendRawTransaction", send_raw, (Param(_raw_tx),)),
    ]
