"""What a light client serves on its own JSON-RPC endpoint: its trusted checkpoint through
the les_* methods, and the eth_* methods a geth v1.11.6 light node answers, from verified
data only (headers of the verified chain; bodies, receipts, accounts, storage and code by
on-demand retrieval, :class:`~lightclient.client.odr.Odr`, checked against them). The
logic is :class:`~lightclient.rpc.node.LightNode`'s; these methods parse JSON parameters
and hex-encode its answers.

Block parameters: ``"latest"``/``"pending"`` (the verified head), ``"earliest"``, a 0x
number, and for state methods also a block hash (EIP-1898: a 32-byte hex string or
``{"blockHash": ...}`` / ``{"blockNumber": ...}``). ``"safe"``/``"finalized"`` are refused
as on geth's light client. State older than the servers keep gives an error that says so.
"""

from __future__ import annotations

from lightclient import __version__
from lightclient.client.client import LightClient
from lightclient.client.odr import STATE_WINDOW
from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.errors import InvalidInput
from lightclient.rpc.les import les_checkpoint_methods
from lightclient.rpc.node import (
    BlockId,
    LightNode,
    hex_bytes,
    parse_block_id,
    parse_block_tag,
    storage_slot,
)
from lightclient.rpc.params import Param
from lightclient.rpc.server import Method

__all__ = ["CLIENT_VERSION", "light_client_methods"]

CLIENT_VERSION = f"lightclient/v{__version__}/python"


class _Checkpoints:
    def __init__(self, client: LightClient) -> None:
        self.client = client

    def latest_checkpoint(self) -> TrustedCheckpoint | None:
        return self.client.latest_checkpoint()

    def checkpoint(self, index: int) -> TrustedCheckpoint | None:
        return self.client.get_checkpoint(index)


def _block_tag(value: object) -> object:
    return parse_block_tag(value)


def _block_or_hash(value: object) -> object:
    return parse_block_id(value)


def _bool(value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInput("json: cannot unmarshal value into Go value of type bool")
    return value


def _address(value: object) -> bytes:
    return hex_bytes(value, "address", 20)


def _hash(value: object) -> bytes:
    return hex_bytes(value, "hash", 32)


def _index(value: object) -> int:
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise InvalidInput(f"invalid index {value!r}: a 0x quantity")


def _slot(value: object) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput("a storage key is a hex string")
    return storage_slot(value)


def _slots(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput("storage keys are a list of hex strings")
    return list(value)


def _raw_tx(value: object) -> bytes:
    raw = hex_bytes(value, "transaction")
    if not raw:
        raise InvalidInput("typed transaction too short")
    return raw


def light_client_methods(
    client: LightClient | LightNode,
    chain_id: int | None = None,
    state_window: int | None = STATE_WINDOW,
) -> list[Method]:
    """The light client's RPC methods. ``chain_id`` defaults to the network ID;
    ``state_window``: how many of the newest blocks the servers have state for (None:
    archive servers), see :class:`~lightclient.client.odr.Odr`. Given a
    :class:`LightNode`, its own ``chain_id`` and ``state_window`` hold."""
    if isinstance(client, LightNode):
        node = client
        client = node.client
    else:
        node = LightNode(client, chain_id, state_window)

    async def block_number() -> str:
        return hex(await node.block_number())

    async def tx_count(tag: BlockId) -> str | None:
        count = await node.get_block_transaction_count(tag)
        return None if count is None else hex(count)

    async def uncle_count(tag: BlockId) -> str | None:
        count = await node.get_uncle_count(tag)
        return None if count is None else hex(count)

    async def get_balance(address: bytes, tag: BlockId) -> str:
        return hex(await node.get_balance(address, tag))

    async def get_nonce(address: bytes, tag: BlockId) -> str:
        return hex(await node.get_transaction_count(address, tag))

    async def get_code(address: bytes, tag: BlockId) -> str:
        return "0x" + (await node.get_code(address, tag)).hex()

    async def get_storage(address: bytes, slot: bytes, tag: BlockId) -> str:
        return "0x" + (await node.get_storage_at(address, slot, tag)).hex()

    async def send_raw(raw: bytes) -> str:
        return "0x" + (await node.send_raw_transaction(raw)).hex()

    async def chain() -> str:
        return hex(await node.chain_id())

    async def net_version() -> str:
        return str(await node.network_id())

    async def client_version() -> str:
        return CLIENT_VERSION

    by_index = node.get_transaction_by_block
    block = Param(_block_tag)
    state = Param(_block_or_hash, optional=True, default="latest")
    full = Param(_bool, optional=True)
    return [
        *les_checkpoint_methods(_Checkpoints(client), client.oracle_address),
        Method("eth_chainId", chain),
        Method("net_version", net_version),
        Method("web3_clientVersion", client_version),
        Method("eth_blockNumber", block_number),
        Method("eth_getBlockByNumber", node.get_block, (block, full)),
        Method("eth_getBlockByHash", node.get_block, (Param(_hash), full)),
        Method("eth_getBlockTransactionCountByNumber", tx_count, (block,)),
        Method("eth_getBlockTransactionCountByHash", tx_count, (Param(_hash),)),
        Method("eth_getTransactionByBlockNumberAndIndex", by_index, (block, Param(_index))),
        Method("eth_getTransactionByBlockHashAndIndex", by_index, (Param(_hash), Param(_index))),
        Method("eth_getUncleCountByBlockNumber", uncle_count, (block,)),
        Method("eth_getUncleCountByBlockHash", uncle_count, (Param(_hash),)),
        Method("eth_getUncleByBlockNumberAndIndex", node.get_uncle, (block, Param(_index))),
        Method("eth_getUncleByBlockHashAndIndex", node.get_uncle, (Param(_hash), Param(_index))),
        Method("eth_getBalance", get_balance, (Param(_address), state)),
        Method("eth_getTransactionCount", get_nonce, (Param(_address), state)),
        Method("eth_getCode", get_code, (Param(_address), state)),
        Method("eth_getStorageAt", get_storage, (Param(_address), Param(_slot), state)),
        Method("eth_getProof", node.get_proof, (Param(_address), Param(_slots), state)),
        Method("eth_getTransactionByHash", node.get_transaction, (Param(_hash),)),
        Method("eth_getTransactionReceipt", node.get_transaction_receipt, (Param(_hash),)),
        Method("eth_sendRawTransaction", send_raw, (Param(_raw_tx),)),
    ]
