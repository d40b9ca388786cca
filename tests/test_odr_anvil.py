"""On-demand retrieval and the light client's eth_* methods, end to end over real sockets.

anvil (Shanghai, so bodies carry withdrawals) holds: block 1, a contract deployed by a
legacy creation whose init writes storage slot 1; block 2, a legacy call to it (LOG2, slot
1 += 1), an EIP-1559 call, an EIP-1559 transfer and an EIP-2930 call with an access list;
then empty blocks. Our LES server
serves it from anvil's JSON-RPC; our LightClient syncs from checkpoint 1 (the tx blocks are
before it, so their headers come by CHT proof) and answers eth_* from verified data only.
Every answer, through ``RpcServer.handle_payload``, must equal anvil's own for the fields
geth v1.11.6 returns.

A lying server sits in front of the honest one: its ChainData tampers with one kind of
answer (named in each case below). The client must never return the tampered data: it
gets the honest server's answer, and the liar is dropped.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import require_anvil
from eth_account import Account
from eth_keys.datatypes import PrivateKey
from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from test_chaindata_anvil import INIT, KEY
from web3 import AsyncWeb3, Web3
from web3.exceptions import BlockNotFound, Web3RPCError
from web3.types import BlockIdentifier, RPCEndpoint

from lightclient.client.client import LightClient
from lightclient.client.odr import Odr, StateUnavailable
from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import encode_list
from lightclient.errors import InvalidInput, LightClientError
from lightclient.les.codec import read_list
from lightclient.les.forkid import ForkFilter, ForkSchedule, fork_id
from lightclient.les.messages import TxLookup, TxStatusEntry
from lightclient.pool.clock import SystemClock
from lightclient.rlpx.keys import private_key_from_bytes
from lightclient.rpc.les_client import light_client_methods
from lightclient.rpc.node import LightNode
from lightclient.rpc.server import RpcServer
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
from lightclient.w3les import LightClientProvider

pytestmark = [pytest.mark.timeout(180), pytest.mark.anvil]
SIZE = 16
SCHEDULE = ForkSchedule.of([])  # anvil starts with every fork active
OTHER = to_checksum_address("0x" + "ab" * 20)  # receives a transfer
ABSENT = "0x" + "cd" * 20  # never touched


@dataclass
class Chain:
    anvil: AnvilProcess
    network_id: int
    chain_id: int
    sender: str
    contract: str
    deploy_block: str
    tx_block: str
    txs: list[str]  # hashes of all four transactions


def _mine(anvil: AnvilProcess, account: Any, chain_id: int, txs: list[dict[str, Any]]) -> str:
    hashes = []
    for tx in txs:
        raw = account.sign_transaction(dict(tx, chainId=chain_id)).raw_transaction
        hashes.append(anvil.rpc("eth_sendRawTransaction", ["0x" + raw.hex()]))
    anvil.rpc("evm_mine")
    block = anvil.rpc("eth_getBlockByNumber", ["latest", False])
    assert block["transactions"] == hashes
    return str(block["hash"])


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    require_anvil()
    with AnvilProcess(hardfork="shanghai", states=64) as anvil:
        anvil.rpc("evm_setAutomine", [False])
        account = Account.from_key(KEY)
        chain_id = int(anvil.rpc("eth_chainId"), 16)
        deploy = _mine(anvil, account, chain_id, [
            {"nonce": 0, "gasPrice": 2 * 10**9, "gas": 200_000, "data": INIT, "value": 0},
        ])  # fmt: skip
        receipt = anvil.rpc("eth_getTransactionReceipt", [anvil.rpc(
            "eth_getBlockByHash", [deploy, False])["transactions"][0]])  # fmt: skip
        contract = to_checksum_address(receipt["contractAddress"])
        fee = {"maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "type": 2}
        block = _mine(anvil, account, chain_id, [
            {"nonce": 1, "gasPrice": 2 * 10**9, "gas": 100_000, "to": contract, "value": 0},
            {"nonce": 2, "gas": 100_000, "to": contract, "value": 5, **fee},
            {"nonce": 3, "gas": 21_000, "to": OTHER, "value": 10**15, **fee},
            {"type": 1, "nonce": 4, "gasPrice": 2 * 10**9, "gas": 100_000, "to": contract,
             "accessList": [{"address": contract, "storageKeys": ["0x" + "00" * 31 + "01"]}]},
        ])  # fmt: skip
        anvil.rpc("anvil_mine", [hex(3 * SIZE)])
        hashes = [
            *anvil.rpc("eth_getBlockByHash", [deploy, False])["transactions"],
            *anvil.rpc("eth_getBlockByHash", [block, False])["transactions"],
        ]
        yield Chain(anvil, int(anvil.rpc("net_version")), chain_id, account.address.lower(),
                    contract.lower(), deploy, block, hashes)  # fmt: skip


class Lying(FullNodeChainData):
    """A full node's data with one kind of answer tampered (``kind``)."""

    def __init__(self, data: JsonRpcChainData, kind: str, tx_block: bytes) -> None:
        super().__init__(data)
        self.kind = kind
        self.tx_block = tx_block
        self.lied = 0

    async def body_rlp(self, block_hash: bytes) -> bytes | None:
        raw = await super().body_rlp(block_hash)
        if self.kind != "body" or raw is None or block_hash != self.tx_block:
            return raw
        self.lied += 1  # the last transaction left out
        parts = read_list(raw, "body")
        txs = read_list(parts[0], "txs")
        return encode_list([encode_list(txs[:-1]), *parts[1:]])

    async def receipts_rlp(self, block_hash: bytes) -> bytes | None:
        raw = await super().receipts_rlp(block_hash)
        if self.kind != "receipts" or raw is None or block_hash != self.tx_block:
            return raw
        self.lied += 1  # the receipts in reverse order
        return encode_list(read_list(raw, "receipts")[::-1])

    async def code(self, block_hash: bytes, account_key: bytes) -> bytes | None:
        code = await super().code(block_hash, account_key)
        if self.kind != "code" or code is None:
            return code
        self.lied += 1  # one byte more
        return code + b"\x00"

    async def proof_nodes(
        self, block_hash: bytes, account_key: bytes, key: bytes
    ) -> list[bytes] | None:
        nodes = await super().proof_nodes(block_hash, account_key, key)
        storage = bool(account_key)
        if nodes is None or self.kind != ("storage" if storage else "account"):
            return nodes
        self.lied += 1  # the leaf left out
        return nodes[:-1]

    async def tx_status(self, tx_hash: bytes) -> TxStatusEntry:
        status = await super().tx_status(tx_hash)
        if self.kind == "hide":
            self.lied += 1  # "unknown": not provably a lie, so another server is asked
            return TxStatusEntry(0)
        if self.kind != "txstatus" or status.lookup is None:
            return status
        self.lied += 1  # placed one index further
        look = status.lookup
        return TxStatusEntry(3, TxLookup(look.block_hash, look.block_number, look.tx_index + 1))


@dataclass
class Served:
    server: LesServer
    data: FullNodeChainData
    store: Store
    service: PoolService


@dataclass
class Net:
    client: LightClient
    rpc: RpcServer
    honest: Served
    liar: Served | None


async def _serve(chain: Chain, source: JsonRpcHeaderSource, path: Path, key: int,
                 lie: str | None) -> Served:  # fmt: skip
    store = Store.open(path)
    await Syncer(source, store, section_size=SIZE, confirmations=2).sync()
    genesis = checked_headers(await source.headers(0, 1), 0, None)[0].hash
    data = JsonRpcChainData(source)
    # LES asks by keccak(address) and keccak(slot); a JSON-RPC backed server needs the
    # preimages of those the test asks about.
    for address in (chain.sender, chain.contract, OTHER, ABSENT):
        data.remember(bytes.fromhex(address[2:]))
    data.remember((0).to_bytes(32, "big"), (1).to_bytes(32, "big"))
    full = (
        FullNodeChainData(data)
        if lie is None
        else Lying(data, lie, bytes.fromhex(chain.tx_block[2:]))
    )
    service = PoolService(SystemClock(), SqliteBalanceStore(store), PoolConfig())
    server = LesServer(source, store, service, SystemClock(),
                       node_key=private_key_from_bytes(bytes([key]) * 32), section_size=SIZE,
                       genesis_hash=genesis, network_id=chain.network_id,
                       fork_schedule=SCHEDULE, chain_data=full)  # fmt: skip
    await server.start("127.0.0.1", 0)
    return Served(server, full, store, service)


@pytest.fixture
async def net(chain: Chain, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Net]:
    param: str = getattr(request, "param", "")
    lie, _, alone = param.partition(":")  # "kind:alone": the liar is the only server
    source = JsonRpcHeaderSource(chain.anvil.url)
    honest = await _serve(chain, source, tmp_path / "honest", 0x31, None)
    liar = await _serve(chain, source, tmp_path / "liar", 0x33, lie) if lie else None
    genesis = checked_headers(await source.headers(0, 1), 0, None)[0].hash
    checkpoint = honest.store.checkpoint(1)
    assert checkpoint is not None
    urls = ([liar.server.enode] if liar else []) + [honest.server.enode]  # the liar first
    if liar and alone:
        urls = [liar.server.enode]
    client = LightClient(
        checkpoint, SIZE, urls, PrivateKey(os.urandom(32)),
        genesis_hash=genesis, network_id=chain.network_id,
        fork_filter=ForkFilter(genesis, SCHEDULE),
        fork_id=fork_id(genesis, SCHEDULE, checkpoint.head_block(SIZE), 0), confirmations=2,
    )  # fmt: skip
    await client.start()
    await client.sync()
    try:
        yield Net(client, RpcServer(light_client_methods(client)), honest, liar)
    finally:
        await client.close()
        for served in (honest, liar):
            if served is not None:
                await served.server.stop()
                served.service.stop()
                served.store.close()
        await source.close()


async def call(net: Net, method: str, *params: Any) -> Any:
    payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    answer = await net.rpc.handle_payload(payload)
    assert "error" not in answer, (method, params, answer)
    return answer["result"]


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def same(ours: Any, theirs: Any, skip: tuple[str, ...] = ()) -> None:
    """Our answer equals anvil's on every field we return (anvil adds later fields)."""
    if isinstance(ours, dict):
        assert isinstance(theirs, dict)
        for key, value in ours.items():
            if key in skip:
                continue
            assert key in theirs, key
            same(value, theirs[key], skip)
    elif isinstance(ours, list):
        assert isinstance(theirs, list) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            same(a, b, skip)
    else:
        assert _norm(ours) == _norm(theirs)


async def test_blocks_and_transactions_equal_anvils(chain: Chain, net: Net) -> None:
    node = chain.anvil
    assert await call(net, "eth_chainId") == node.rpc("eth_chainId")
    assert await call(net, "net_version") == node.rpc("net_version")
    assert (await call(net, "web3_clientVersion")).startswith("lightclient/")
    assert await call(net, "eth_blockNumber") == node.rpc("eth_blockNumber")
    for block in (chain.deploy_block, chain.tx_block):
        for full in (False, True):
            ours = await call(net, "eth_getBlockByHash", block, full)
            theirs = node.rpc("eth_getBlockByHash", [block, full])
            same(ours, theirs)
            by_number = await call(net, "eth_getBlockByNumber", ours["number"], full)
            assert by_number == ours
        count = await call(net, "eth_getBlockTransactionCountByHash", block)
        assert count == node.rpc("eth_getBlockTransactionCountByHash", [block])
        number = theirs["number"]
        assert await call(net, "eth_getBlockTransactionCountByNumber", number) == count
        for index in range(int(count, 16)):
            ours = await call(net, "eth_getTransactionByBlockHashAndIndex", block, hex(index))
            same(ours, node.rpc("eth_getTransactionByBlockHashAndIndex", [block, hex(index)]))
            again = await call(net, "eth_getTransactionByBlockNumberAndIndex", number, hex(index))
            assert again == ours
        assert await call(net, "eth_getTransactionByBlockHashAndIndex", block, "0x9") is None
        for method, at in (("eth_getUncleCountByBlockHash", block),
                           ("eth_getUncleCountByBlockNumber", number)):  # fmt: skip
            assert await call(net, method, at) == node.rpc(method, [at]) == "0x0"
        assert await call(net, "eth_getUncleByBlockHashAndIndex", block, "0x0") is None
    empty = await call(net, "eth_getBlockByNumber", "latest", True)
    same(empty, node.rpc("eth_getBlockByNumber", ["latest", True]))
    assert await call(net, "eth_getBlockByNumber", hex(10**6), False) is None
    assert await call(net, "eth_getBlockByHash", "0x" + "11" * 32, False) is None


async def test_transactions_and_receipts_by_hash_equal_anvils(chain: Chain, net: Net) -> None:
    node = chain.anvil
    logs = 0
    for tx_hash in chain.txs:
        same(await call(net, "eth_getTransactionByHash", tx_hash),
             node.rpc("eth_getTransactionByHash", [tx_hash]))  # fmt: skip
        ours = await call(net, "eth_getTransactionReceipt", tx_hash)
        same(ours, node.rpc("eth_getTransactionReceipt", [tx_hash]))
        logs += len(ours["logs"])
    assert logs >= 2  # the legacy and the EIP-1559 call each emit a LOG2
    created = await call(net, "eth_getTransactionReceipt", chain.txs[0])
    assert created["contractAddress"] == chain.contract
    assert await call(net, "eth_getTransactionByHash", "0x" + "22" * 32) is None
    assert await call(net, "eth_getTransactionReceipt", "0x" + "22" * 32) is None


async def test_state_equals_anvils(chain: Chain, net: Net) -> None:
    node = chain.anvil
    for tag in ("latest", "0x1", "0x2", {"blockHash": chain.deploy_block}, chain.tx_block):
        for address in (chain.sender, chain.contract, OTHER, ABSENT):
            for method in ("eth_getBalance", "eth_getTransactionCount", "eth_getCode"):
                assert await call(net, method, address, tag) == node.rpc(method, [address, tag])
        for slot in ("0x0", "0x1"):
            assert await call(net, "eth_getStorageAt", chain.contract, slot, tag) == node.rpc(
                "eth_getStorageAt", [chain.contract, slot, tag]
            )
    slot1 = [await call(net, "eth_getStorageAt", chain.contract, "0x1", n) for n in ("0x1", "0x2")]
    assert slot1 == ["0x" + "2a".rjust(64, "0"), "0x" + "2d".rjust(64, "0")]  # init, 3 calls
    keys = ["0x" + "01".rjust(64, "0"), "0x" + "00" * 32]  # a set slot and an unset one
    for address in (chain.contract, chain.sender, ABSENT):
        for tag in ("latest", "0x1"):
            ours = await call(net, "eth_getProof", address, keys, tag)
            theirs = node.rpc("eth_getProof", [address, keys, tag])
            for entry in theirs["storageProof"]:  # an empty storage trie: geth proves with
                if entry["proof"] == ["0x80"]:  # no nodes, anvil with the empty root's RLP
                    entry["proof"] = []
            same(ours, theirs)


async def test_errors(chain: Chain, net: Net) -> None:
    def ask(method: str, *params: Any) -> Any:
        payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        return net.rpc.handle_payload(payload)

    answer = await ask("eth_getBalance", chain.sender, hex(10**6))
    assert answer["error"] == {"code": -32000, "message": "header not found"}
    answer = await ask("eth_getBalance", "0x1234", "latest")
    assert answer["error"]["code"] == -32602
    answer = await ask("eth_getBlockByNumber", "finalized", False)
    assert answer["error"]["message"] == "finalized header not found"
    answer = await ask("eth_getBlockByNumber", "0x1", "yes")
    assert answer["error"]["code"] == -32602
    # State past the servers' window: refused before any server is asked.
    with pytest.raises(StateUnavailable, match="newest 8 blocks"):
        await Odr(net.client, state_window=8).account(1, bytes(20))
    narrow = RpcServer(light_client_methods(net.client, state_window=8))
    payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance",
                          "params": [chain.sender, "0x1"]})  # fmt: skip
    answer = await narrow.handle_payload(payload)
    assert answer["error"]["code"] == -32000
    assert "state of block 1 is not available" in answer["error"]["message"]
    assert [s.url for s in net.client.servers] == [net.honest.server.enode]


async def test_send_raw_transaction(chain: Chain, net: Net) -> None:
    account = Account.from_key(KEY)
    tx = {"nonce": 5, "gas": 21_000, "to": OTHER, "value": 1, "maxFeePerGas": 10**10,
          "maxPriorityFeePerGas": 10**9, "type": 2, "chainId": chain.chain_id}  # fmt: skip
    raw = account.sign_transaction(tx).raw_transaction
    tx_hash = await call(net, "eth_sendRawTransaction", "0x" + raw.hex())
    assert tx_hash == "0x" + keccak(raw).hex()
    pending = chain.anvil.rpc("eth_getTransactionByHash", [tx_hash])
    assert pending is not None and pending["blockHash"] is None
    chain.anvil.rpc("anvil_dropTransaction", [tx_hash])  # leave the chain as it was
    stale = account.sign_transaction(dict(tx, nonce=0)).raw_transaction  # nonce too low
    payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                          "params": ["0x" + stale.hex()]})  # fmt: skip
    answer = await net.rpc.handle_payload(payload)
    assert answer["error"]["code"] == -32000 and "nonce" in answer["error"]["message"].lower()


CASES: dict[str, tuple[str, Callable[[Chain], list[Any]]]] = {
    "body": ("eth_getBlockByHash", lambda c: [c.tx_block, True]),
    "receipts": ("eth_getTransactionReceipt", lambda c: [c.txs[2]]),
    "account": ("eth_getBalance", lambda c: [c.sender, "latest"]),
    "storage": ("eth_getStorageAt", lambda c: [c.contract, "0x1", "latest"]),
    "code": ("eth_getCode", lambda c: [c.contract, "latest"]),
    "txstatus": ("eth_getTransactionByHash", lambda c: [c.txs[1]]),
}


@pytest.mark.parametrize("net", list(CASES), indirect=True)
async def test_a_lying_server_is_dropped_and_never_believed(chain: Chain, net: Net) -> None:
    assert net.liar is not None
    liar = net.liar.data
    assert isinstance(liar, Lying)
    method, params = CASES[liar.kind]
    ours = await call(net, method, *params(chain))
    same(ours, chain.anvil.rpc(method, params(chain)))  # the honest server's answer
    assert liar.lied >= 1
    assert net.liar.server.enode in net.client.dropped
    assert "does not verify" in net.client.dropped[net.liar.server.enode]
    assert [s.url for s in net.client.servers] == [net.honest.server.enode]


@pytest.mark.parametrize("net", ["hide"], indirect=True)
async def test_a_server_hiding_a_transaction_is_not_the_last_word(chain: Chain, net: Net) -> None:
    assert net.liar is not None and isinstance(net.liar.data, Lying)
    for method in ("eth_getTransactionByHash", "eth_getTransactionReceipt"):
        same(await call(net, method, chain.txs[3]), chain.anvil.rpc(method, [chain.txs[3]]))
    assert net.liar.data.lied >= 2
    # Unknown everywhere: null, once every server was asked.
    assert await call(net, "eth_getTransactionByHash", "0x" + "22" * 32) is None
    assert len(net.client.servers) == 2  # an "unknown" proves nothing against the server


@pytest.mark.parametrize("net", ["body:alone", "code:alone"], indirect=True)
async def test_with_only_a_liar_the_answer_is_an_error(chain: Chain, net: Net) -> None:
    assert net.liar is not None and isinstance(net.liar.data, Lying)
    method, params = CASES[net.liar.data.kind]
    payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params(chain)})
    answer = await net.rpc.handle_payload(payload)
    assert "result" not in answer and answer["error"]["code"] == -32000
    assert "does not verify" in answer["error"]["message"]
    assert net.client.servers == [] and net.liar.server.enode in net.client.dropped


@pytest.mark.parametrize("net", ["account"], indirect=True)
async def test_concurrent_requests_to_a_liar_all_get_the_honest_answer(
    chain: Chain, net: Net
) -> None:
    asked = [call(net, "eth_getBalance", chain.sender, "latest") for _ in range(4)]
    answers = await asyncio.gather(*asked)
    assert answers == [chain.anvil.rpc("eth_getBalance", [chain.sender, "latest"])] * 4
    assert [s.url for s in net.client.servers] == [net.honest.server.enode]


async def test_light_node_answers_equal_anvils(chain: Chain, net: Net) -> None:
    node, anvil = LightNode(net.client), chain.anvil
    assert await node.block_number() == int(anvil.rpc("eth_blockNumber"), 16)
    assert await node.chain_id() == chain.chain_id
    for address in (chain.sender, chain.contract, OTHER, ABSENT):
        raw = bytes.fromhex(address[2:])
        for tag, theirs in (("latest", "latest"), (1, "0x1"), (chain.tx_block, chain.tx_block)):
            balance = anvil.rpc("eth_getBalance", [address, theirs])
            assert await node.get_balance(address, tag) == int(balance, 16)
            assert await node.get_balance(raw, tag) == int(balance, 16)
            nonce = anvil.rpc("eth_getTransactionCount", [address, theirs])
            assert await node.get_transaction_count(address, tag) == int(nonce, 16)
            code = anvil.rpc("eth_getCode", [address, theirs])
            assert "0x" + (await node.get_code(address, tag)).hex() == code
    word = anvil.rpc("eth_getStorageAt", [chain.contract, "0x1", "0x2"])
    assert "0x" + (await node.get_storage_at(chain.contract, 1, 2)).hex() == word
    assert "0x" + (await node.get_storage_at(chain.contract, "0x1", "0x2")).hex() == word
    same(await node.get_block(chain.tx_block, True),
         anvil.rpc("eth_getBlockByHash", [chain.tx_block, True]))  # fmt: skip
    same(await node.get_block(), anvil.rpc("eth_getBlockByNumber", ["latest", False]))
    assert await node.get_block(10**6) is None
    for tx_hash in chain.txs:
        same(await node.get_transaction(tx_hash), anvil.rpc("eth_getTransactionByHash", [tx_hash]))
        same(await node.get_transaction_receipt(bytes.fromhex(tx_hash[2:])),
             anvil.rpc("eth_getTransactionReceipt", [tx_hash]))  # fmt: skip
    keys = ["0x" + "01".rjust(64, "0")]
    same(await node.get_proof(chain.contract, keys),
         anvil.rpc("eth_getProof", [chain.contract, keys, "latest"]))  # fmt: skip
    # The RPC over the same node answers the same.
    rpc = RpcServer(light_client_methods(node))
    payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance",
                          "params": [chain.sender, "0x1"]})  # fmt: skip
    answer = await rpc.handle_payload(payload)
    assert int(answer["result"], 16) == await node.get_balance(chain.sender, 1)
    with pytest.raises(LightClientError, match="header not found"):
        await node.get_balance(chain.sender, 10**6)
    with pytest.raises(InvalidInput):
        await node.get_balance("0x1234")
    with pytest.raises(InvalidInput):
        await node.get_block(b"short")


async def test_web3_through_the_light_client_provider_equals_anvil(chain: Chain, net: Net) -> None:
    ours = AsyncWeb3(LightClientProvider(net.client))
    theirs = Web3(Web3.HTTPProvider(chain.anvil.url))
    assert await ours.is_connected()
    assert await ours.eth.block_number == theirs.eth.block_number
    assert await ours.eth.chain_id == theirs.eth.chain_id
    for address in (chain.sender, chain.contract, OTHER):
        checksum = to_checksum_address(address)
        assert await ours.eth.get_balance(checksum) == theirs.eth.get_balance(checksum)
        assert await ours.eth.get_balance(checksum, 1) == theirs.eth.get_balance(checksum, 1)
        count = await ours.eth.get_transaction_count(checksum)
        assert count == theirs.eth.get_transaction_count(checksum)
        assert await ours.eth.get_code(checksum) == theirs.eth.get_code(checksum)
    contract = to_checksum_address(chain.contract)
    word = await ours.eth.get_storage_at(contract, 1, HexStr("0x2"))
    assert word == theirs.eth.get_storage_at(contract, 1, 2)
    blocks: list[BlockIdentifier] = ["latest", HexStr(chain.tx_block), 1]
    for block_id in blocks:
        for full in (False, True):
            mine = await ours.eth.get_block(block_id, full)
            same_web3(mine, theirs.eth.get_block(block_id, full))
    for tx_hash in map(HexStr, chain.txs):
        same_web3(await ours.eth.get_transaction(tx_hash), theirs.eth.get_transaction(tx_hash))
        same_web3(await ours.eth.get_transaction_receipt(tx_hash),
                  theirs.eth.get_transaction_receipt(tx_hash))  # fmt: skip
    with pytest.raises(Web3RPCError, match="header not found"):
        await ours.eth.get_balance(to_checksum_address(chain.sender), 10**6)
    with pytest.raises(BlockNotFound):
        await ours.eth.get_block(10**6)
    batch = await ours.provider.make_batch_request(
        [(RPCEndpoint("eth_blockNumber"), []), (RPCEndpoint("eth_chainId"), [])]
    )
    assert isinstance(batch, list)
    assert [a["result"] for a in batch] == [hex(theirs.eth.block_number), hex(chain.chain_id)]


def same_web3(ours: Any, theirs: Any) -> None:
    """web3's formatted answers: ours has no field anvil lacks (anvil adds later ones,
    e.g. yParity), and each is equal."""
    if isinstance(ours, Mapping):
        assert isinstance(theirs, Mapping)
        for key, value in ours.items():
            assert key in theirs, key
            same_web3(value, theirs[key])
    elif isinstance(ours, list):
        assert isinstance(theirs, list) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            same_web3(a, b)
    else:
        assert ours == theirs
