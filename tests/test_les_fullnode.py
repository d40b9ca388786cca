"""The LES server in front of a real node: anvil with legacy and EIP-1559 transactions,
indexed into a real store, served over RLPx with bodies and receipts from the node. The
independent @ethereumjs/devp2p client and our own LesConnection ask for them; the replies
must be geth's encodings, whose roots equal the headers'."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import require_anvil
from eth_account import Account
from test_chaindata_anvil import KEY
from test_devp2p_interop import ethereumjs

from lightclient.client.les_connection import LesConnection
from lightclient.core.rlpcodec import split_list
from lightclient.core.trie import ordered_trie_root
from lightclient.les.codec import read_bytes, read_list
from lightclient.les.codes import MsgCode
from lightclient.les.forkid import ForkSchedule, fork_id
from lightclient.les.messages import BlockBodies, GetBlockBodies, GetReceipts, Receipts
from lightclient.pool.clock import SystemClock
from lightclient.rlpx.keys import private_key_from_bytes
from lightclient.server.fullnode import FullNodeChainData
from lightclient.server.les_server import LesServer
from lightclient.server.service import PoolConfig, PoolService
from lightclient.sources.base import checked_headers
from lightclient.sources.chaindata import JsonRpcChainData
from lightclient.sources.jsonrpc import JsonRpcHeaderSource
from lightclient.store.balances import SqliteBalanceStore
from lightclient.store.sqlite import Store
from lightclient.sync.syncer import Syncer
from lightclient.testing.anvil import AnvilProcess

pytestmark = pytest.mark.timeout(120)
SIZE = 16
SCHEDULE = ForkSchedule.of([])  # anvil starts with every fork active


@dataclass
class Node:
    url: str
    network_id: int
    tx_block: bytes  # the hash of the block holding the transactions


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    require_anvil()
    with AnvilProcess() as anvil:
        anvil.rpc("evm_setAutomine", [False])
        account = Account.from_key(KEY)
        chain_id = int(anvil.rpc("eth_chainId"), 16)
        txs = [
            {"nonce": 0, "gasPrice": 10**10, "gas": 21_000, "to": account.address, "value": 1},
            {"type": 2, "nonce": 1, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9,
             "gas": 21_000, "to": account.address, "value": 2},
        ]  # fmt: skip
        for tx in txs:
            raw = account.sign_transaction(dict(tx, chainId=chain_id)).raw_transaction
            anvil.rpc("eth_sendRawTransaction", ["0x" + raw.hex()])
        anvil.rpc("evm_mine")
        block = anvil.rpc("eth_getBlockByNumber", ["latest", False])
        assert len(block["transactions"]) == 2
        anvil.rpc("anvil_mine", [hex(3 * SIZE)])
        yield Node(anvil.url, int(anvil.rpc("net_version")), bytes.fromhex(block["hash"][2:]))


@dataclass
class Served:
    server: LesServer
    data: JsonRpcChainData
    genesis: bytes
    head: int


@pytest.fixture
async def served(node: Node, tmp_path: Path) -> AsyncIterator[Served]:
    source = JsonRpcHeaderSource(node.url)
    store = Store.open(tmp_path)
    await Syncer(source, store, section_size=SIZE, confirmations=2).sync()
    genesis = checked_headers(await source.headers(0, 1), 0, None)[0].hash
    data = JsonRpcChainData(source)
    service = PoolService(SystemClock(), SqliteBalanceStore(store), PoolConfig())
    server = LesServer(source, store, service, SystemClock(),
                       node_key=private_key_from_bytes(b"\x31" * 32), section_size=SIZE,
                       genesis_hash=genesis, network_id=node.network_id,
                       fork_schedule=SCHEDULE, chain_data=FullNodeChainData(data))  # fmt: skip
    await server.start("127.0.0.1", 0)
    try:
        yield Served(server, data, genesis, await source.head())
    finally:
        await server.stop()
        service.stop()
        await source.close()
        store.close()


async def _roots(served: Served, block_hash: bytes) -> tuple[bytes, bytes]:
    """(transactionsRoot, receiptsRoot) of the node's header for that block."""
    header = await served.data.header(block_hash)
    assert header is not None
    fields = split_list(header.rlp)
    return fields[4], fields[5]


def _consensus(items: tuple[bytes, ...] | list[bytes]) -> list[bytes]:
    """List elements as the trie holds them: a legacy item's RLP list, a typed one's bytes."""
    return [item if item[0] >= 0xC0 else read_bytes(item, "item") for item in items]


async def test_ethereumjs_gets_receipts_and_bodies_whose_roots_match(
    node: Node, served: Served
) -> None:
    fork = fork_id(served.genesis, SCHEDULE, served.head, 0)
    async with ethereumjs("dial", "--enode", served.server.enode,
                          chain_id=node.network_id) as peer:  # fmt: skip
        await peer.event("hello")
        await peer.command(status={
            "headTd": 0, "headHash": "0x" + "00" * 32, "headNum": 0,
            "genesisHash": "0x" + served.genesis.hex(), "forkID": ["0x" + fork.hash.hex(), 0],
        })  # fmt: skip
        await peer.event("status")
        asked = GetReceipts(5, (node.tx_block,))
        await peer.command(send=MsgCode.GET_RECEIPTS, payload=asked.encode().hex())
        reply = await peer.event("message")
        assert reply["code"] == MsgCode.RECEIPTS
        receipts = Receipts.decode(bytes.fromhex(reply["payload"]))
        assert receipts.req_id == 5 and len(receipts.receipts) == 1
        tx_root, receipts_root = await _roots(served, node.tx_block)
        assert len(receipts.receipts[0]) == 2
        assert ordered_trie_root(_consensus(receipts.receipts[0])) == receipts_root
        bodies_req = GetBlockBodies(6, (node.tx_block,))
        await peer.command(send=MsgCode.GET_BLOCK_BODIES, payload=bodies_req.encode().hex())
        reply = await peer.event("message")
        bodies = BlockBodies.decode(bytes.fromhex(reply["payload"]))
        txs = read_list(read_list(bodies.bodies[0], "body")[0], "txs")
        assert len(txs) == 2 and txs[1][0] < 0xC0  # the EIP-1559 one is a typed envelope
        assert ordered_trie_root(_consensus(txs)) == tx_root


async def test_our_client_gets_the_same_from_our_server(node: Node, served: Served) -> None:
    connection = await LesConnection.dial(
        served.server.enode, private_key_from_bytes(b"\x32" * 32), genesis_hash=served.genesis,
        network_id=node.network_id,
    )  # fmt: skip
    try:
        receipts = await connection.get_receipts([node.tx_block])
        expected = await served.data.receipts_rlp(node.tx_block)
        assert expected is not None and receipts == [tuple(read_list(expected, "receipts"))]
        bodies = await connection.get_bodies([node.tx_block, b"\x00" * 32])
        assert bodies == [await served.data.body_rlp(node.tx_block)]  # the unknown is skipped
    finally:
        await connection.close()
