"""JsonRpcChainData against a real anvil, and against a node that lies.

The chain (anvil, Shanghai, so bodies carry withdrawals): block 1 deploys a contract (legacy
creation) whose calls write storage slot 1 and emit a LOG2; block 2 holds a legacy call, an
EIP-2930 call with an access list, an EIP-1559 call, an EIP-1559 transfer and a creation
that reverts (a failed receipt); block 3 is empty. The test of exactness is that the body
and receipts RLP rebuilt from JSON give the header's roots, and that each tx is byte for
byte what eth-account signed.

The lying node is a small aiohttp proxy in front of anvil that edits chosen answers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import rlp
from aiohttp import web
from conftest import require_anvil
from eth_account import Account
from eth_utils.address import to_checksum_address
from trie.hexary import HexaryTrie

from lightclient.core.keccak import keccak
from lightclient.core.trie import verify_proof
from lightclient.sources.chaindata import (
    TX_INCLUDED,
    TX_PENDING,
    TX_QUEUED,
    TX_UNKNOWN,
    ChainDataMismatch,
    JsonRpcChainData,
    TxLookup,
    TxStatus,
)
from lightclient.sources.jsonrpc import JsonRpcHeaderSource
from lightclient.testing.anvil import AnvilProcess

pytestmark = pytest.mark.anvil

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil #0
OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil #1
# Runtime: mem[0] = 7; LOG2(mem[0:32], topics 0xbb, 0xaa); slot1 += 1.
RUNTIME = bytes.fromhex("600760005260aa60bb60206000a260015460010160015500")
# Init: slot1 = 0x2a; return RUNTIME.
INIT = bytes.fromhex("602a6001556018601160003960186000f3") + RUNTIME
REVERT_INIT = bytes.fromhex("60006000fd")


@dataclass
class Chain:
    anvil: AnvilProcess
    contract: bytes
    deploy_block: bytes
    mixed_block: bytes
    empty_block: bytes
    raws: list[bytes] = field(default_factory=list)  # block 2's txs as eth-account signed them
    sender: bytes = b""


def _mine_with(anvil: AnvilProcess, raws: list[bytes]) -> bytes:
    for raw in raws:
        anvil.rpc("eth_sendRawTransaction", ["0x" + raw.hex()])
    anvil.rpc("evm_mine")
    block = anvil.rpc("eth_getBlockByNumber", ["latest", False])
    assert len(block["transactions"]) == len(raws)
    return bytes.fromhex(block["hash"][2:])


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    require_anvil()
    with AnvilProcess(hardfork="shanghai", states=64) as anvil:
        anvil.rpc("evm_setAutomine", [False])
        account = Account.from_key(KEY)
        chain_id = int(anvil.rpc("eth_chainId"), 16)
        fee = 10 * 10**9

        def sign(tx: dict[str, Any]) -> bytes:
            raw: bytes = account.sign_transaction(dict(tx, chainId=chain_id)).raw_transaction
            return raw

        deploy = sign({"nonce": 0, "gasPrice": fee, "gas": 200_000, "data": INIT, "value": 0})
        deploy_block = _mine_with(anvil, [deploy])
        receipt = anvil.rpc("eth_getTransactionReceipt", ["0x" + keccak(deploy).hex()])
        contract = to_checksum_address(receipt["contractAddress"])
        other = to_checksum_address(Account.from_key(OTHER_KEY).address)
        slot1 = "0x" + "00" * 31 + "01"
        raws = [
            sign({"nonce": 1, "gasPrice": fee, "gas": 100_000, "to": contract, "value": 0}),
            sign(
                {
                    "type": 1,
                    "nonce": 2,
                    "gasPrice": fee,
                    "gas": 100_000,
                    "to": contract,
                    "value": 5,
                    "data": b"\x01\x02",
                    "accessList": [{"address": contract, "storageKeys": [slot1]}],
                }
            ),
            sign(
                {
                    "type": 2,
                    "nonce": 3,
                    "maxFeePerGas": fee,
                    "maxPriorityFeePerGas": 10**9,
                    "gas": 100_000,
                    "to": contract,
                    "value": 0,
                }
            ),
            sign(
                {
                    "type": 2,
                    "nonce": 4,
                    "maxFeePerGas": fee,
                    "maxPriorityFeePerGas": 1,
                    "gas": 21_000,
                    "to": other,
                    "value": 10**18,
                }
            ),
            sign({"nonce": 5, "gasPrice": fee, "gas": 100_000, "data": REVERT_INIT, "value": 0}),
        ]
        mixed_block = _mine_with(anvil, raws)
        empty_block = _mine_with(anvil, [])
        yield Chain(
            anvil,
            bytes.fromhex(contract[2:]),
            deploy_block,
            mixed_block,
            empty_block,
            raws,
            bytes.fromhex(account.address[2:]),
        )


@pytest.fixture
async def data(chain: Chain) -> AsyncIterator[JsonRpcChainData]:
    async with JsonRpcChainData(chain.anvil.url) as source:
        yield source


def _header(chain: Chain, block_hash: bytes) -> dict[str, Any]:
    block: dict[str, Any] = chain.anvil.rpc("eth_getBlockByHash", ["0x" + block_hash.hex(), False])
    return block


def _root(items: list[bytes]) -> bytes:
    """The ordered trie root by py-trie: an independent check of our own builder."""
    trie = HexaryTrie({})
    for index, item in enumerate(items):
        trie[rlp.encode(index)] = item
    root: bytes = trie.root_hash
    return root


def _envelope(item: Any) -> bytes:
    """A body/receipt list item back to its consensus encoding."""
    return item if isinstance(item, bytes) else rlp.encode(item)


# -- bodies ---------------------------------------------------------------------------------


async def test_body_rlp_matches_the_header(chain: Chain, data: JsonRpcChainData) -> None:
    body = await data.body_rlp(chain.mixed_block)
    assert body is not None
    txs, uncles, withdrawals = rlp.decode(body)
    assert uncles == [] and withdrawals == []  # Shanghai: the withdrawals list is there
    encoded = [_envelope(tx) for tx in txs]
    assert encoded == chain.raws  # byte for byte what eth-account signed
    assert isinstance(txs[0], list) and isinstance(txs[4], list)  # legacy: lists
    assert all(isinstance(tx, bytes) for tx in txs[1:4])  # typed: strings
    assert [tx[0] for tx in encoded[1:4]] == [1, 2, 2]
    header = _header(chain, chain.mixed_block)
    assert "0x" + _root(encoded).hex() == header["transactionsRoot"]
    assert "0x" + keccak(rlp.encode(uncles)).hex() == header["sha3Uncles"]
    assert "0x" + _root([]).hex() == header["withdrawalsRoot"]
    # anvil's own raw encoding agrees too.
    for index, tx in enumerate(encoded):
        raw = chain.anvil.rpc(
            "eth_getRawTransactionByBlockHashAndIndex",
            ["0x" + chain.mixed_block.hex(), hex(index)],
        )
        assert raw == "0x" + tx.hex()


async def test_empty_body_and_receipts(chain: Chain, data: JsonRpcChainData) -> None:
    assert await data.body_rlp(chain.empty_block) == bytes.fromhex("c3c0c0c0")
    assert await data.receipts_rlp(chain.empty_block) == b"\xc0"


async def test_london_body_has_two_items() -> None:
    require_anvil()
    with AnvilProcess() as anvil:  # london: no withdrawals in the header or the body
        anvil.rpc("evm_mine")
        block = anvil.rpc("eth_getBlockByNumber", ["latest", False])
        async with JsonRpcChainData(anvil.url) as source:
            body = await source.body_rlp(bytes.fromhex(block["hash"][2:]))
    assert body == bytes.fromhex("c2c0c0")


# -- receipts -------------------------------------------------------------------------------


async def test_receipts_rlp_matches_the_header(chain: Chain, data: JsonRpcChainData) -> None:
    encoded_list = await data.receipts_rlp(chain.mixed_block)
    assert encoded_list is not None
    items = rlp.decode(encoded_list)
    assert len(items) == 5
    receipts = [_envelope(item) for item in items]
    header = _header(chain, chain.mixed_block)
    assert "0x" + _root(receipts).hex() == header["receiptsRoot"]
    assert [r[0] for r in receipts[1:4]] == [1, 2, 2]  # typed receipts: type || rlp(list)
    fields = [rlp.decode(r if r[0] >= 0xC0 else r[1:]) for r in receipts]
    statuses = [f[0] for f in fields]
    assert statuses == [b"\x01", b"\x01", b"\x01", b"\x01", b""]  # the revert failed
    assert all(len(f) == 4 and len(f[2]) == 256 for f in fields)  # consensus: with bloom
    log = fields[0][3][0]
    assert log[0] == chain.contract
    assert log[1] == [b"\x00" * 31 + b"\xbb", b"\x00" * 31 + b"\xaa"]
    assert log[2] == (7).to_bytes(32, "big")


async def test_receipts_fall_back_to_one_receipt_per_tx(
    chain: Chain, data: JsonRpcChainData
) -> None:
    want = await data.receipts_rlp(chain.mixed_block)

    def no_block_receipts(method: str, params: list[Any], answer: dict[str, Any]) -> Any:
        if method == "eth_getBlockReceipts":
            error = {"code": -32601, "message": "the method eth_getBlockReceipts does not exist"}
            return {"jsonrpc": "2.0", "id": answer["id"], "error": error}
        return answer

    async with (
        _lying_node(chain, no_block_receipts) as url,
        JsonRpcChainData(url, retries=0) as source,
    ):
        assert await source.receipts_rlp(chain.mixed_block) == want


# -- unknown blocks -------------------------------------------------------------------------


async def test_unknown_hash_gives_none(chain: Chain, data: JsonRpcChainData) -> None:
    unknown = b"\x11" * 32
    assert await data.header(unknown) is None
    assert await data.body_rlp(unknown) is None
    assert await data.receipts_rlp(unknown) is None
    assert await data.code(unknown, chain.contract) is None
    assert await data.proof_nodes(unknown, chain.contract) is None
    assert await data.proof_nodes(unknown, chain.contract, b"\x00" * 32) is None
    assert await data.tx_status(unknown) == TxStatus(TX_UNKNOWN)


# -- state ----------------------------------------------------------------------------------


def _state_root(chain: Chain, block_hash: bytes) -> bytes:
    return bytes.fromhex(_header(chain, block_hash)["stateRoot"][2:])


async def test_code_verified_against_the_state_root(chain: Chain, data: JsonRpcChainData) -> None:
    assert await data.code(chain.mixed_block, chain.contract) == RUNTIME
    # By keccak(address), as LES GetCode asks: the address was learned from a body/receipt.
    fresh = JsonRpcChainData(chain.anvil.url)
    try:
        assert await fresh.code(chain.mixed_block, keccak(chain.contract)) is None
        await fresh.receipts_rlp(chain.deploy_block)  # sees the created contract's address
        assert await fresh.code(chain.mixed_block, keccak(chain.contract)) == RUNTIME
    finally:
        await fresh.close()
    # geth's server skips accounts without code and absent accounts.
    assert await data.code(chain.mixed_block, chain.sender) is None
    assert await data.code(chain.mixed_block, b"\x42" * 20) is None


async def test_account_and_storage_proofs(chain: Chain, data: JsonRpcChainData) -> None:
    state_root = _state_root(chain, chain.mixed_block)
    nodes = await data.proof_nodes(chain.mixed_block, chain.contract)
    assert nodes
    account = verify_proof(state_root, keccak(chain.contract), nodes)
    assert account is not None
    _nonce, balance, storage_root, code_hash = rlp.decode(account)
    assert code_hash == keccak(RUNTIME) and int.from_bytes(balance, "big") == 5
    # Storage slot 1: 0x2a + 3 calls (the three calls in block 2) = 0x2d.
    slot = (1).to_bytes(32, "big")
    storage = await data.proof_nodes(chain.mixed_block, chain.contract, slot)
    assert storage
    value = verify_proof(storage_root, keccak(slot), storage)  # storage nodes only
    assert value is not None and rlp.decode(value) == b"\x2d"
    # Hashed keys, as GetProofsV2 carries them: learned from the body's access list.
    await data.body_rlp(chain.mixed_block)
    hashed = await data.proof_nodes(
        chain.mixed_block, keccak(chain.contract), keccak(slot), storage_key_hashed=True
    )
    assert hashed == storage
    # Absent slot, absent account: proofs of absence (valid, geth serves them).
    empty_slot = (9).to_bytes(32, "big")
    absent = await data.proof_nodes(chain.mixed_block, chain.contract, empty_slot)
    assert absent is not None and verify_proof(storage_root, keccak(empty_slot), absent) is None
    nobody = b"\x42" * 20
    absent_account = await data.proof_nodes(chain.mixed_block, nobody)
    assert absent_account and verify_proof(state_root, keccak(nobody), absent_account) is None
    # No storage trie for an absent account: geth skips the entry.
    assert await data.proof_nodes(chain.mixed_block, nobody, slot) is None
    # An EOA has an empty storage trie: no nodes.
    assert await data.proof_nodes(chain.mixed_block, chain.sender, slot) == []
    # Without a known preimage a hashed key cannot be served.
    assert await data.proof_nodes(chain.mixed_block, b"\x77" * 32) is None


async def test_stale_state_unless_archive() -> None:
    require_anvil()
    with AnvilProcess(states=256) as anvil:  # keeps block 1's state: archive can serve it
        anvil.rpc("evm_mine")
        first = bytes.fromhex(anvil.rpc("eth_getBlockByNumber", ["latest", False])["hash"][2:])
        address = bytes.fromhex(anvil.rpc("eth_accounts")[0][2:])
        # geth: stale when number + 128 <= head. Block 1 is fresh up to head 128.
        anvil.rpc("anvil_mine", [hex(127)])
        async with JsonRpcChainData(anvil.url) as source:
            assert await source.rpc.head() == 128
            assert await source.proof_nodes(first, address)
            anvil.rpc("evm_mine")  # head 129 = 1 + 128: stale
            assert await source.proof_nodes(first, address) is None
            assert await source.code(first, address) is None
        async with JsonRpcChainData(anvil.url, archive=True) as archive:
            assert await archive.proof_nodes(first, address)


# -- transactions ---------------------------------------------------------------------------


async def test_tx_status_and_send(chain: Chain, data: JsonRpcChainData) -> None:
    included = keccak(chain.raws[2])
    status = await data.tx_status(included)
    number = int(_header(chain, chain.mixed_block)["number"], 16)
    assert status == TxStatus(TX_INCLUDED, TxLookup(chain.mixed_block, number, 2))
    assert status.rlp() == rlp.encode([3, [chain.mixed_block, number, 2], b""])
    assert TxStatus(TX_UNKNOWN).rlp() == bytes.fromhex("c380c080")

    other = Account.from_key(OTHER_KEY)
    chain_id = int(chain.anvil.rpc("eth_chainId"), 16)
    to = to_checksum_address("0x" + "33" * 20)

    def signed(nonce: int) -> bytes:
        tx = {"nonce": nonce, "gasPrice": 10**10, "gas": 21_000, "to": to, "value": 1}
        raw: bytes = other.sign_transaction(dict(tx, chainId=chain_id)).raw_transaction
        return raw

    pending, queued = signed(0), signed(5)
    assert await data.send_raw_tx(pending) == TxStatus(TX_PENDING)
    assert await data.send_raw_tx(pending) == TxStatus(TX_PENDING)  # known: just its status
    assert await data.send_raw_tx(queued) == TxStatus(TX_QUEUED)
    assert await data.tx_status(keccak(queued)) == TxStatus(TX_QUEUED)
    # A refused tx: status 0 and the node's error text (here: a nonce already used).
    reused = (
        Account.from_key(KEY)
        .sign_transaction(
            {
                "nonce": 0,
                "gasPrice": 10**10,
                "gas": 21_000,
                "to": to,
                "value": 2,
                "chainId": chain_id,
            }
        )
        .raw_transaction
    )
    refused = await data.send_raw_tx(reused)
    assert refused.status == TX_UNKNOWN and refused.lookup is None and refused.error
    assert refused.rlp() == rlp.encode([0, [], refused.error.encode()])


# -- a node that lies -----------------------------------------------------------------------

Tamper = Callable[[str, list[Any], dict[str, Any]], Any]


class _LyingNode:
    """An aiohttp JSON-RPC proxy to anvil that passes each answer through ``tamper``."""

    def __init__(self, upstream: str, tamper: Tamper) -> None:
        self.upstream, self.tamper = upstream, tamper
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _forward(self, session: aiohttp.ClientSession, request: Any) -> Any:
        async with session.post(self.upstream, json=request) as response:
            answer = json.loads(await response.read())
        return self.tamper(request["method"], request.get("params") or [], answer)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with aiohttp.ClientSession() as session:
            if isinstance(body, list):
                answer: Any = [await self._forward(session, item) for item in body]
            else:
                answer = await self._forward(session, body)
        return web.json_response(answer)

    async def __aenter__(self) -> str:
        app = web.Application()
        app.router.add_post("/", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/"
        return self.url

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


def _lying_node(chain: Chain, tamper: Tamper) -> _LyingNode:
    return _LyingNode(chain.anvil.url, tamper)


def _edit(method: str, edit: Callable[[Any], None]) -> Tamper:
    def tamper(called: str, params: list[Any], answer: dict[str, Any]) -> Any:
        if called == method and answer.get("result") is not None:
            edit(answer["result"])
        return answer

    return tamper


def _bump_value(block: Any) -> None:
    block["transactions"][1]["value"] = "0x6"


def _bump_value_and_hash(block: Any) -> None:
    # A consistent lie about one tx (its listed hash fits the edited tx): only the root
    # can catch it.
    from lightclient.core.ethcodec import encode_transaction

    tx = block["transactions"][3]
    tx["value"] = hex(int(tx["value"], 16) + 1)
    tx["hash"] = "0x" + keccak(encode_transaction(tx)).hex()


def _bump_gas(receipts: Any) -> None:
    receipts[0]["cumulativeGasUsed"] = hex(int(receipts[0]["cumulativeGasUsed"], 16) + 1)


def _drop_log(receipts: Any) -> None:
    receipts[1]["logs"] = []


def _state_root_of_header(block: Any) -> None:
    block["stateRoot"] = "0x" + "00" * 32


LIES: list[tuple[str, Tamper, str, str]] = [
    ("body", _edit("eth_getBlockByHash", _bump_value), "encodes to hash", "tx value"),
    ("body", _edit("eth_getBlockByHash", _bump_value_and_hash), "transactionsRoot", "tx+hash"),
    ("body", _edit("eth_getBlockByHash", _state_root_of_header), "header", "header field"),
    ("receipts", _edit("eth_getBlockReceipts", _bump_gas), "receiptsRoot", "receipt gas"),
    ("receipts", _edit("eth_getBlockReceipts", _drop_log), "receiptsRoot", "receipt log"),
]


@pytest.mark.parametrize(
    ("what", "tamper", "message"), [lie[:3] for lie in LIES], ids=[lie[3] for lie in LIES]
)
async def test_a_lying_node_is_caught(
    chain: Chain, what: str, tamper: Tamper, message: str
) -> None:
    async with _lying_node(chain, tamper) as url, JsonRpcChainData(url, retries=0) as source:
        with pytest.raises(ChainDataMismatch, match=message):
            if what == "body":
                await source.body_rlp(chain.mixed_block)
            else:
                await source.receipts_rlp(chain.mixed_block)


def _replace(method: str, result: Any) -> Tamper:
    def tamper(called: str, params: list[Any], answer: dict[str, Any]) -> Any:
        if called == method:
            answer["result"] = result(answer["result"]) if callable(result) else result
        return answer

    return tamper


def _drop_first_node(proof: Any) -> Any:
    proof["accountProof"] = proof["accountProof"][1:]
    return proof


def _extra_node(proof: Any) -> Any:
    proof["accountProof"] = proof["accountProof"] + ["0xc20180"]  # unused by the walk
    return proof


def _other_storage_value(proof: Any) -> Any:
    proof["storageProof"][0]["value"] = "0x99"
    return proof


async def test_lying_state_is_caught(chain: Chain) -> None:
    slot = (1).to_bytes(32, "big")
    cases: list[tuple[Tamper, str, bool]] = [
        (_replace("eth_getCode", "0x6000"), "the code hashes to", False),
        (_replace("eth_getProof", _drop_first_node), "account proof does not verify", False),
        (_replace("eth_getProof", _extra_node), "useless nodes", False),
        (_replace("eth_getProof", _other_storage_value), "storage proof", True),
    ]
    for tamper, message, storage in cases:
        async with (
            _lying_node(chain, tamper) as url,
            JsonRpcChainData(url, retries=0) as source,
        ):
            with pytest.raises(ChainDataMismatch, match=message):
                if storage:
                    await source.proof_nodes(chain.mixed_block, chain.contract, slot)
                elif "code" in message:
                    await source.code(chain.mixed_block, chain.contract)
                else:
                    await source.proof_nodes(chain.mixed_block, chain.contract)


async def test_lying_tx_lookup_is_caught(chain: Chain) -> None:
    def wrong_index(tx: Any) -> Any:
        tx["transactionIndex"] = "0x0"
        return tx

    async with (
        _lying_node(chain, _replace("eth_getTransactionByHash", wrong_index)) as url,
        JsonRpcChainData(url, retries=0) as source,
    ):
        with pytest.raises(ChainDataMismatch, match="does not hold it there"):
            await source.tx_status(keccak(chain.raws[2]))


async def test_shares_a_json_rpc_source(chain: Chain) -> None:
    rpc = JsonRpcHeaderSource(chain.anvil.url)
    try:
        source = JsonRpcChainData(rpc)
        assert await source.body_rlp(chain.empty_block) == bytes.fromhex("c3c0c0c0")
        await source.close()  # not ours: stays usable
        assert await rpc.head() >= 3
    finally:
        await rpc.close()


async def test_uncles_are_fetched_and_checked(chain: Chain) -> None:
    # anvil mines no uncles: the proxy lists one (the empty block's header) to exercise
    # the path: each uncle must hash to its listed hash, and their list to sha3Uncles.
    uncle = _header(chain, chain.empty_block)

    def with_uncle(edit_uncle: Callable[[dict[str, Any]], Any]) -> Tamper:
        def tamper(method: str, params: list[Any], answer: dict[str, Any]) -> Any:
            if method == "eth_getBlockByHash" and answer.get("result"):
                answer["result"]["uncles"] = [uncle["hash"]]
            if method == "eth_getUncleByBlockHashAndIndex":
                answer["result"] = edit_uncle(dict(uncle))
            return answer

        return tamper

    def wrong_field(header: dict[str, Any]) -> dict[str, Any]:
        return dict(header, gasUsed="0x1")

    cases: list[tuple[Tamper, str]] = [
        (with_uncle(lambda header: header), "sha3Uncles"),
        (with_uncle(wrong_field), "uncle 0 hashes to"),
        (with_uncle(lambda header: None), "uncle 0 is missing"),
    ]
    for tamper, message in cases:
        async with (
            _lying_node(chain, tamper) as url,
            JsonRpcChainData(url, retries=0) as source,
        ):
            with pytest.raises(ChainDataMismatch, match=message):
                await source.body_rlp(chain.mixed_block)


async def test_unknown_tx_type_is_fetched_raw(chain: Chain, data: JsonRpcChainData) -> None:
    want = await data.body_rlp(chain.mixed_block)
    seen: list[str] = []

    def unknown_type(method: str, params: list[Any], answer: dict[str, Any]) -> Any:
        seen.append(method)
        if method == "eth_getBlockByHash" and answer.get("result"):
            answer["result"]["transactions"][2]["type"] = "0x7e"  # a type we do not encode
        return answer

    async with (
        _lying_node(chain, unknown_type) as url,
        JsonRpcChainData(url, retries=0) as source,
    ):
        assert await source.body_rlp(chain.mixed_block) == want
    assert "eth_getRawTransactionByBlockHashAndIndex" in seen

    def bad_raw(method: str, params: list[Any], answer: dict[str, Any]) -> Any:
        unknown_type(method, params, answer)
        if method == "eth_getRawTransactionByBlockHashAndIndex":
            answer["result"] = "0x02c0"
        return answer

    async with (
        _lying_node(chain, bad_raw) as url,
        JsonRpcChainData(url, retries=0) as source,
    ):
        with pytest.raises(ChainDataMismatch, match="encodes to hash"):
            await source.body_rlp(chain.mixed_block)


async def test_over_websocket(chain: Chain, data: JsonRpcChainData) -> None:
    async with JsonRpcChainData(chain.anvil.ws_url) as source:
        assert await source.body_rlp(chain.mixed_block) == await data.body_rlp(chain.mixed_block)
        want = await data.receipts_rlp(chain.mixed_block)
        assert await source.receipts_rlp(chain.mixed_block) == want
        assert await source.code(chain.mixed_block, chain.contract) == RUNTIME
