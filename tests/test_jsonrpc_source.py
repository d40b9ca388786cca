"""The JSON-RPC header source: against a real anvil over HTTP and WebSocket, against a
misbehaving node (a real aiohttp server on 127.0.0.1), and header JSON of every fork's
shape checked against py-evm's own header hashes.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from eth.rlp.headers import BlockHeader
from eth.vm.forks.cancun.blocks import CancunBlockHeader
from eth.vm.forks.london.blocks import LondonBlockHeader
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth.vm.forks.shanghai.blocks import ShanghaiBlockHeader

from lightclient.core.header import decode_header, header_json_from_rlp, header_rlp_from_json
from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import split_list
from lightclient.errors import (
    ChainGap,
    DecodeError,
    HeaderSourceError,
    InvalidHeader,
    InvalidInput,
    SourceUnavailable,
)
from lightclient.sources.base import HeaderSource, checked_headers
from lightclient.sources.jsonrpc import JsonRpcHeaderSource, RpcError
from lightclient.testing.anvil import AnvilProcess, find_anvil
from lightclient.testing.synthetic import FORK_FIELD_COUNTS, SyntheticChain

# -- a real anvil ---------------------------------------------------------------------------

# Runtime: copy the calldata to memory, LOG1(memory[0:calldatasize], topic=calldata[0:32]).
#   CALLDATASIZE PUSH1 0 PUSH1 0 CALLDATACOPY PUSH1 0 CALLDATALOAD CALLDATASIZE PUSH1 0 LOG1 STOP
LOG1_RUNTIME = bytes.fromhex("366000600037600035366000a100")
# Init: CODECOPY the runtime (after these 12 bytes) to memory 0 and RETURN it.
LOG1_INIT = (
    bytes.fromhex(f"60{len(LOG1_RUNTIME):02x}600c60003960{len(LOG1_RUNTIME):02x}6000f3")
    + LOG1_RUNTIME
)
TOPICS = ["0x" + bytes([i]).hex() * 32 for i in range(1, 6)]


class Anvil:
    """A running anvil with a short chain: mined blocks and a few log-emitting transactions."""

    def __init__(self, node: AnvilProcess) -> None:
        self.node = node
        sender = node.rpc("eth_accounts")[0]
        node.rpc("anvil_mine", ["0x5"])
        deploy = node.rpc("eth_sendTransaction", [{"from": sender, "data": "0x" + LOG1_INIT.hex()}])
        receipt = self.receipt(deploy)
        assert receipt["status"] == "0x1", receipt
        self.emitter: str = receipt["contractAddress"]
        assert node.rpc("eth_getCode", [self.emitter, "latest"]) == "0x" + LOG1_RUNTIME.hex()
        self.log_blocks: list[int] = []
        for topic in TOPICS:
            tx = node.rpc(
                "eth_sendTransaction", [{"from": sender, "to": self.emitter, "data": topic}]
            )
            receipt = self.receipt(tx)
            assert receipt["logs"][0]["topics"] == [topic], receipt
            self.log_blocks.append(int(receipt["blockNumber"], 16))
            node.rpc("anvil_mine", [hex(random.Random(topic).randrange(1, 6))])
        self.head = int(node.rpc("eth_blockNumber"), 16)

    def receipt(self, tx: str) -> Any:
        """The receipt once anvil's automine has included the transaction."""
        deadline = time.monotonic() + 10
        while (receipt := self.node.rpc("eth_getTransactionReceipt", [tx])) is None:
            assert time.monotonic() < deadline, f"anvil did not mine {tx}"
            time.sleep(0.005)
        return receipt


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    if find_anvil() is None:
        reason = "anvil not found: `cd tools && npm ci` installs it, or set ANVIL_BIN"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (required when CI=true)")
        pytest.skip(reason)
    with AnvilProcess() as node:
        yield Anvil(node)


@pytest.mark.anvil
@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_anvil_headers_hash_to_anvil_hashes(anvil: Anvil, transport: str) -> None:
    url = anvil.node.url if transport == "http" else anvil.node.ws_url
    async with JsonRpcHeaderSource(url, batch_size=4, concurrency=3) as source:
        assert isinstance(source, HeaderSource)
        assert source.description == url
        head = await source.head()
        assert head == anvil.head
        raw = await source.headers(0, head + 1)
    assert [h.number for h in raw] == list(range(head + 1))
    for item in raw:
        block = anvil.node.rpc("eth_getBlockByNumber", [hex(item.number), False])
        assert item.hash is not None
        assert keccak(item.rlp) == item.hash == bytes.fromhex(block["hash"][2:])
        header = decode_header(item.rlp, item.hash)
        assert header.number == item.number
        assert header.parent_hash == bytes.fromhex(block["parentHash"][2:])
        assert header.bloom == bytes.fromhex(block["logsBloom"][2:])
        assert (int.from_bytes(header.bloom, "big") != 0) == (item.number in anvil.log_blocks)
    checked = checked_headers(raw, 0, None)
    assert checked[-1].hash == raw[-1].hash
    # London blocks have 16 fields; anvil's genesis also carries blobGasUsed and
    # excessBlobGas without withdrawalsRoot (18 fields), and its hash commits to them.
    assert {len(split_list(h.rlp)) for h in raw[1:]} == {16}
    assert len(split_list(raw[0].rlp)) in (16, 18)


@pytest.mark.anvil
@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_anvil_window_gap_and_generic_calls(anvil: Anvil, transport: str) -> None:
    url = anvil.node.url if transport == "http" else anvil.node.ws_url
    async with JsonRpcHeaderSource(url, batch_size=2) as source:
        window = await source.headers(3, 5)
        assert checked_headers(window[1:], 4, window[0].hash)[0].number == 4
        assert await source.headers(anvil.head, 0) == []
        with pytest.raises(ChainGap) as gap:
            await source.headers(anvil.head - 1, 4)
        assert gap.value.block == anvil.head + 1
        assert await source.call("eth_chainId", []) == hex(31337)
        logs = await source.call(
            "eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest", "address": anvil.emitter}]
        )
        assert [log["topics"][0] for log in logs] == TOPICS
        assert [int(log["blockNumber"], 16) for log in logs] == anvil.log_blocks
        assert logs[0]["data"] == TOPICS[0]
        with pytest.raises(RpcError, match="eth_noSuchMethod failed with JSON-RPC error") as info:
            await source.call("eth_noSuchMethod", [])
        # anvil says -32601 "Method not found" over HTTP, but -32602 "data did not match any
        # variant of untagged enum EthRpcCall" over WebSocket.
        assert info.value.code == (-32601 if transport == "http" else -32602)
        assert str(info.value).startswith(f"{url}: ")
        assert await source.number_of(window[0].hash or b"") == 3
        assert await source.number_of(b"\x42" * 32) is None


@pytest.mark.anvil
def test_anvil_process_options_and_cleanup(anvil: Anvil) -> None:
    with AnvilProcess(extra_args=["--gas-limit", "12345678"], chain_id=1337) as node:
        assert node.url.startswith("http://127.0.0.1:") and node.ws_url.startswith("ws://")
        assert node.rpc("eth_chainId") == hex(1337)
        assert node.rpc("eth_getBlockByNumber", ["0x0", False])["gasLimit"] == hex(12345678)
        assert node.rpc("anvil_nodeInfo")["hardFork"].lower() == "london"
        pid, home = node.pid, node.home
        assert pid is not None and home is not None and home.is_dir()
        assert str(home) != os.path.expanduser("~")
    assert node.pid is None and not home.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# -- a misbehaving node on a real socket ------------------------------------------------------

CHAIN = SyntheticChain(30, seed=11, fork="london").headers()

Handler = Callable[[dict[str, Any]], Any]


def _block(number: int) -> dict[str, Any] | None:
    if number >= len(CHAIN):
        return None
    block: dict[str, Any] = header_json_from_rlp(CHAIN[number].rlp)
    block.update(transactions=[], uncles=[], totalDifficulty="0x0", size="0x220")
    return block


def _honest(request: dict[str, Any]) -> Any:
    if request["method"] == "eth_blockNumber":
        return hex(len(CHAIN) - 1)
    if request["method"] == "eth_getBlockByNumber":
        return _block(int(request["params"][0], 16))
    return RpcError("fake", request["method"], -32601, "the method does not exist")


class FakeNode:
    """A JSON-RPC node over HTTP and WebSocket whose misbehaviour each test chooses."""

    def __init__(self) -> None:
        self.answer: Handler = _honest
        self.fail_next = 0  # answer this many HTTP requests with fail_status first
        self.fail_status = 503
        self.retry_after: str | None = None
        self.batches = "ok"  # ok | refuse | refuse-list | too-large | 413
        self.batch_limit = 4  # for "too-large", like geth's BatchRequestLimit
        self.mangle: Callable[[Any], Any] | None = None  # rewrites the JSON answer
        self.raw: tuple[int, str] | None = None  # (status, body) instead of JSON-RPC
        self.slow = False  # never answer (until the test ends)
        self.release = asyncio.Event()
        self.http_requests = 0
        self.batch_sizes: list[int] = []

    def respond(self, body: Any) -> Any | None:
        """The JSON answer to a request body; None for "nothing" (refusal handled here)."""
        if isinstance(body, list):
            self.batch_sizes.append(len(body))
            if self.batches == "refuse":
                return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "no"}}
            if self.batches == "refuse-list":
                error = {"code": -32600, "message": "batch requests are not supported"}
                return [{"jsonrpc": "2.0", "id": None, "error": error}]
            if self.batches == "too-large" and len(body) > self.batch_limit:
                error = {"code": -32600, "message": "batch too large"}
                return [{"jsonrpc": "2.0", "id": body[0]["id"], "error": error}]
            answer: Any = [self._one(item) for item in body]
        else:
            answer = self._one(body)
        return self.mangle(answer) if self.mangle else answer

    def _one(self, item: dict[str, Any]) -> dict[str, Any]:
        result = self.answer(item)
        if isinstance(result, RpcError):
            error = {"code": result.code, "message": result.rpc_message}
            return {"jsonrpc": "2.0", "id": item["id"], "error": error}
        return {"jsonrpc": "2.0", "id": item["id"], "result": result}

    async def handle_http(self, request: web.Request) -> web.StreamResponse:
        self.http_requests += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.Response(status=self.fail_status, text="busy", headers=headers)
        if self.slow:
            await self.release.wait()
        if self.raw is not None:
            return web.Response(status=self.raw[0], text=self.raw[1])
        body = await request.json()
        if isinstance(body, list) and self.batches == "413" and len(body) > self.batch_limit:
            return web.Response(status=413, text="request entity too large")
        return web.json_response(self.respond(body))

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        rng = random.Random(5)
        tasks: set[asyncio.Task[None]] = set()

        async def later(body: Any, delay: float) -> None:
            await asyncio.sleep(delay)  # answers overtake each other: ids must match them
            if not ws.closed:
                await ws.send_json(self.respond(body))

        async for message in ws:
            if message.type == WSMsgType.TEXT:
                task = asyncio.create_task(later(message.json(), rng.random() * 0.01))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        for task in list(tasks):
            task.cancel()
        return ws


@pytest.fixture
async def node() -> AsyncIterator[tuple[FakeNode, str]]:
    fake = FakeNode()
    app = web.Application()
    app.router.add_post("/", fake.handle_http)
    app.router.add_get("/", fake.handle_ws)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    yield fake, f"http://127.0.0.1:{sock.getsockname()[1]}"
    fake.release.set()
    await runner.cleanup()


def _ws(url: str) -> str:
    return "ws" + url.removeprefix("http")


async def test_fake_node_batches_in_order(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    async with JsonRpcHeaderSource(url, batch_size=7, concurrency=2) as source:
        assert await source.head() == 29
        raw = await source.headers(0, 30)
    assert [h.rlp for h in raw] == [h.rlp for h in CHAIN]
    assert [h.hash for h in raw] == [h.hash for h in CHAIN]
    assert checked_headers(raw, 0, None)[-1].hash == CHAIN[-1].hash
    assert fake.batch_sizes == [7, 7, 7, 7, 2]
    assert fake.http_requests == 1 + 5


async def test_fake_node_over_websocket_out_of_order(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    async with JsonRpcHeaderSource(_ws(url), batch_size=3, concurrency=4) as source:
        assert source.description == _ws(url)
        heads = await asyncio.gather(*(source.head() for _ in range(5)))
        raw = await source.headers(2, 25)
        again = await source.headers(0, 30)
    assert heads == [29] * 5
    assert [h.rlp for h in raw] == [h.rlp for h in CHAIN[2:27]]
    assert [h.rlp for h in again] == [h.rlp for h in CHAIN]
    assert fake.http_requests == 0


async def test_retry_then_success(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    fake.fail_next = 3
    async with JsonRpcHeaderSource(url, retries=3, backoff=0.01) as source:
        assert await source.head() == 29
        assert fake.http_requests == 4
        fake.fail_next, fake.fail_status, fake.retry_after = 1, 429, "0"
        assert len(await source.headers(0, 10)) == 10
    fake.fail_next, fake.fail_status = 10, 503
    async with JsonRpcHeaderSource(url, retries=2, backoff=0.01) as source:
        with pytest.raises(SourceUnavailable, match=rf"cannot reach {url}: HTTP 503 \(after 3"):
            await source.head()


async def test_transient_jsonrpc_errors_are_retried(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    flaky = {4, 9}

    def answer(request: dict[str, Any]) -> Any:
        number = int(request["params"][0], 16)
        if number in flaky:
            flaky.discard(number)
            return RpcError("fake", "x", -32005, "rate limit exceeded")
        return _honest(request)

    fake.answer = answer
    async with JsonRpcHeaderSource(url, batch_size=6, backoff=0.01) as source:
        raw = await source.headers(0, 12)
    assert [h.rlp for h in raw] == [h.rlp for h in CHAIN[:12]]
    assert not flaky

    fake.answer = lambda request: RpcError("fake", "x", -32005, "limit exceeded")
    async with JsonRpcHeaderSource(url, retries=1, backoff=0.01) as source:
        with pytest.raises(SourceUnavailable, match="JSON-RPC error -32005: limit exceeded"):
            await source.call("eth_getLogs", [{}])


async def test_lying_node_is_caught(node: tuple[FakeNode, str]) -> None:
    fake, url = node

    def lie(request: dict[str, Any]) -> Any:
        block = _honest(request)
        if isinstance(block, dict) and block["number"] == "0x5":
            block["gasUsed"] = hex(int(block["gasUsed"], 16) + 1)  # keeps the original hash
        return block

    fake.answer = lie
    async with JsonRpcHeaderSource(url, batch_size=4) as source:
        raw = await source.headers(0, 10)
    assert raw[5].hash == CHAIN[5].hash  # the claim is passed on as it is ...
    assert keccak(raw[5].rlp) != raw[5].hash  # ... and the bytes do not match it
    assert all(keccak(h.rlp) == h.hash for i, h in enumerate(raw) if i != 5)
    with pytest.raises(InvalidHeader, match="hash mismatch at block 5") as info:
        checked_headers(raw, 0, None)
    assert info.value.block == 5


async def test_claimed_number_is_passed_on(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    fake.answer = lambda request: _block(1)  # whatever is asked, block 1 comes back
    async with JsonRpcHeaderSource(url) as source:
        raw = await source.headers(3, 2)
    assert [h.number for h in raw] == [1, 1]
    assert [h.hash for h in raw] == [CHAIN[1].hash] * 2
    with pytest.raises(InvalidHeader, match="returned block 1 where block 3 was due"):
        checked_headers(raw, 3, None)


@pytest.mark.parametrize(
    ("style", "transport"),
    [(style, "http") for style in ("refuse", "refuse-list", "too-large", "413")]
    + [(style, "ws") for style in ("refuse", "refuse-list", "too-large")],
)
async def test_batch_refusal_falls_back(
    node: tuple[FakeNode, str], style: str, transport: str
) -> None:
    fake, url = node
    fake.batches = style
    url = url if transport == "http" else _ws(url)
    async with JsonRpcHeaderSource(url, batch_size=10) as source:
        raw = await source.headers(3, 25)
        assert [h.rlp for h in raw] == [h.rlp for h in CHAIN[3:28]]
        if style.startswith("refuse"):  # one try, then single requests only
            assert fake.batch_sizes and set(fake.batch_sizes) <= {10, 5}
            fake.batch_sizes.clear()
            assert len(await source.headers(0, 30)) == 30
            assert fake.batch_sizes == [] and source.batch_size == 10
        else:  # halved until the node accepts: smaller batches from then on
            assert source.batch_size <= fake.batch_limit
            assert len(await source.headers(0, 30)) == 30


async def test_null_block_is_a_gap(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    fake.answer = lambda r: None if r["params"][0] == "0xc" else _honest(r)
    async with JsonRpcHeaderSource(url, batch_size=5) as source:
        with pytest.raises(ChainGap, match=f"{url} has no block 12") as info:
            await source.headers(10, 5)
        assert info.value.block == 12
        with pytest.raises(ChainGap) as info:
            await source.headers(28, 5)
        assert info.value.block == 30


async def test_bad_header_json_is_invalid_header(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    bad: dict[str, Any] = {
        "0x0": {"number": "0x0", "hash": "0x12"},
        "0x1": dict(_block(1) or {}, stateRoot="0x1234"),
        "0x2": "a string",
        "0x3": dict(_block(3) or {}, number=None),
    }
    fake.answer = lambda r: bad[r["params"][0]]
    async with JsonRpcHeaderSource(url) as source:
        for number, pattern in [
            (0, "unusable header for block 0: its hash"),
            (1, "unusable header for block 1: header JSON field stateRoot has 2 bytes"),
            (2, "returned a JSON string for block 2"),
            (3, "unusable header for block 3: its number is None"),
        ]:
            with pytest.raises(InvalidHeader, match=pattern) as info:
                await source.headers(number, 1)
            assert info.value.block == number


async def test_jsonrpc_error_answers(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    fake.answer = lambda request: RpcError("fake", "x", -32000, "method handler crashed")
    async with JsonRpcHeaderSource(url) as source:
        with pytest.raises(
            RpcError, match=f"^{url}: eth_blockNumber failed with JSON-RPC error -32000: method"
        ) as info:
            await source.head()
        assert isinstance(info.value, HeaderSourceError) and info.value.code == -32000
        with pytest.raises(RpcError, match="-32000") as info:
            await source.headers(0, 3)
        assert info.value.block == 0
    assert fake.http_requests == 2  # not retried


@pytest.mark.parametrize(
    ("raw", "mangle", "pattern"),
    [
        ((200, "<html>gateway</html>"), None, "did not answer with JSON: '<html>gateway"),
        ((404, "Not Found"), None, "answered HTTP 404: 'Not Found'"),
        (None, lambda a: {"jsonrpc": "2.0", "id": a["id"]}, "neither a result nor an error"),
        (None, lambda a: {"jsonrpc": "2.0", "result": "0x1"}, "has no id"),
        (None, lambda a: dict(a, id=a["id"] + 1000), "got an answer with id"),
        (None, lambda a: [a], "is a JSON array, not a JSON-RPC response object"),
        (None, lambda a: "0x1d", "is a JSON string"),
    ],
)
async def test_malformed_answers(
    node: tuple[FakeNode, str],
    raw: tuple[int, str] | None,
    mangle: Callable[[Any], Any] | None,
    pattern: str,
) -> None:
    fake, url = node
    fake.raw, fake.mangle = raw, mangle
    async with JsonRpcHeaderSource(url, backoff=0.01) as source:
        with pytest.raises(SourceUnavailable, match=pattern) as info:
            await source.head()
    assert url in str(info.value) and "\n" not in str(info.value)
    assert fake.http_requests == 1  # not retried


async def test_batch_answer_missing_an_id(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    fake.mangle = lambda answer: answer[:-1] if isinstance(answer, list) else answer
    async with JsonRpcHeaderSource(url, batch_size=5) as source:
        with pytest.raises(SourceUnavailable, match="the batch answer has no response with id"):
            await source.headers(0, 5)


async def test_timeout(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    fake.slow = True
    started = time.monotonic()
    async with JsonRpcHeaderSource(url, retries=1, backoff=0.01, timeout=0.2) as source:
        with pytest.raises(SourceUnavailable, match=r"no answer within 0.2 s \(after 2 tries\)"):
            await source.head()
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("scheme", ["http", "ws"])
async def test_connection_refused_fails_fast(scheme: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    url = f"{scheme}://127.0.0.1:{port}"
    started = time.monotonic()
    async with JsonRpcHeaderSource(url, retries=1, backoff=0.01) as source:
        with pytest.raises(SourceUnavailable, match=f"^cannot reach {url}: .*after 2 tries"):
            await source.head()
        with pytest.raises(SourceUnavailable, match=f"cannot reach {url}"):
            await source.headers(0, 10)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "url", ["ftp://x", "127.0.0.1:8545", "http://", "", "file:///tmp/x", "ws:/nohost"]
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(InvalidInput):
        JsonRpcHeaderSource(url)


def test_bad_options() -> None:
    for options in [{"batch_size": 0}, {"concurrency": 0}, {"retries": -1}, {"timeout": 0}]:
        with pytest.raises(InvalidInput):
            JsonRpcHeaderSource("http://127.0.0.1:1", **options)


async def test_bad_range() -> None:
    async with JsonRpcHeaderSource("https://127.0.0.1:1") as source:
        with pytest.raises(InvalidInput):
            await source.headers(-1, 3)
        assert await source.headers(5, 0) == []


# -- header JSON of every fork's shape, against py-evm's hashes --------------------------------

# py-evm header attribute -> eth_getBlockByNumber field name, in RLP order.
PYEVM_FIELDS = {
    "parent_hash": "parentHash",
    "uncles_hash": "sha3Uncles",
    "coinbase": "miner",
    "state_root": "stateRoot",
    "transaction_root": "transactionsRoot",
    "receipt_root": "receiptsRoot",
    "bloom": "logsBloom",
    "difficulty": "difficulty",
    "block_number": "number",
    "gas_limit": "gasLimit",
    "gas_used": "gasUsed",
    "timestamp": "timestamp",
    "extra_data": "extraData",
    "mix_hash": "mixHash",
    "nonce": "nonce",
    "base_fee_per_gas": "baseFeePerGas",
    "withdrawals_root": "withdrawalsRoot",
    "blob_gas_used": "blobGasUsed",
    "excess_blob_gas": "excessBlobGas",
    "parent_beacon_block_root": "parentBeaconBlockRoot",
    "requests_hash": "requestsHash",
}
PYEVM_CLASSES: dict[str, Any] = {
    "frontier": BlockHeader,
    "london": LondonBlockHeader,
    "shanghai": ShanghaiBlockHeader,
    "cancun": CancunBlockHeader,
    "prague": PragueBlockHeader,
}


def _pyevm_header(fork: str, seed: int) -> Any:
    rng = random.Random(f"{fork}-{seed}")
    cls = PYEVM_CLASSES[fork]
    kwargs: dict[str, Any] = {}
    for name in cls._meta.field_names:
        if name.endswith(("_hash", "_root")) and name != "uncles_hash":
            kwargs[name] = rng.randbytes(32)
    kwargs.update(
        difficulty=rng.randrange(1, 2**60) if fork == "frontier" else 0,
        block_number=rng.randrange(2**40) if seed else 0,
        gas_limit=30_000_000,
        gas_used=rng.randrange(30_000_000) if seed else 0,
        timestamp=1_700_000_000 + seed,
        coinbase=rng.randbytes(20),
        bloom=int.from_bytes(rng.randbytes(256), "big") if seed % 2 else 0,
        extra_data=rng.randbytes(rng.randrange(33)),
        nonce=rng.randbytes(8) if fork == "frontier" else b"\x00" * 8,
    )
    if fork != "frontier":
        kwargs["base_fee_per_gas"] = rng.randrange(1, 10**12)
    if fork in ("cancun", "prague"):
        kwargs.update(blob_gas_used=131072 * rng.randrange(7), excess_blob_gas=rng.randrange(9))
    return cls(**kwargs)


def _pyevm_json(header: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"hash": "0x" + bytes(header.hash).hex()}
    for attr in header._meta.field_names:
        value = getattr(header, attr)
        if attr == "bloom":
            out["logsBloom"] = "0x" + value.to_bytes(256, "big").hex()
        elif isinstance(value, int):
            out[PYEVM_FIELDS[attr]] = hex(value)
        else:
            out[PYEVM_FIELDS[attr]] = "0x" + bytes(value).hex()
    # What nodes add around the header fields; it must be ignored.
    out.update(size="0x21f", totalDifficulty="0x0", transactions=[], uncles=[], withdrawals=[])
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("fork", list(PYEVM_CLASSES))
def test_header_rlp_from_pyevm_json(fork: str, seed: int) -> None:
    header = _pyevm_header(fork, seed)
    as_json = _pyevm_json(header)
    raw = header_rlp_from_json(as_json)
    assert keccak(raw) == header.hash == bytes.fromhex(as_json["hash"][2:])
    assert len(split_list(raw)) == FORK_FIELD_COUNTS[fork] == len(header._meta.field_names)
    decoded = decode_header(raw, header.hash)
    assert (decoded.number, decoded.difficulty) == (header.block_number, header.difficulty)
    back = header_json_from_rlp(raw)
    assert back == {name: as_json[name] for name in back}


@pytest.mark.parametrize("fork", sorted(FORK_FIELD_COUNTS))
def test_header_json_round_trip(fork: str) -> None:
    raw = SyntheticChain(1, fork=fork).headers()[0].rlp
    as_json = header_json_from_rlp(raw)
    assert header_rlp_from_json(as_json) == raw
    assert as_json["hash"] == "0x" + keccak(raw).hex()


def test_anvil_genesis_shape() -> None:
    """anvil's London genesis has blob fields but no withdrawalsRoot: 18 fields, hashed so."""
    london = header_json_from_rlp(SyntheticChain(1, fork="london").headers()[0].rlp)
    london.update(blobGasUsed="0x0", excessBlobGas="0x0")
    raw = header_rlp_from_json(london)
    assert len(split_list(raw)) == 18
    assert decode_header(raw).number == 0


def test_header_json_errors() -> None:
    base = header_json_from_rlp(CHAIN[0].rlp)
    for field, value in [("stateRoot", "0x1234"), ("number", "12"), ("gasUsed", "0xzz")]:
        broken = dict(base, **{field: value})
        with pytest.raises(DecodeError, match=field):
            header_rlp_from_json(broken)
    missing = dict(base)
    del missing["mixHash"]
    with pytest.raises(DecodeError, match="lacks the field mixHash"):
        header_rlp_from_json(missing)
