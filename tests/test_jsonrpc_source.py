"""The JSON-RPC header source against misbehaving nodes (a real aiohttp server on 127.0.0.1)
and header JSON of every shape. The happy path against anvil is in test_integration.py.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from lightclient.core.header import decode_header, header_json_from_rlp, header_rlp_from_json
from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import split_list
from lightclient.errors import (
    ChainGap,
    DecodeError,
    InvalidHeader,
    InvalidInput,
    SourceUnavailable,
)
from lightclient.sources.base import checked_headers
from lightclient.sources.jsonrpc import JsonRpcHeaderSource, RpcError
from lightclient.testing.synthetic import FORK_FIELD_COUNTS, SyntheticChain

CHAIN = SyntheticChain(30, seed=11, fork="london").headers()

Handler = Callable[[dict[str, Any]], Any]


def _block(number: int) -> dict[str, Any] | None:
    if number >= len(CHAIN):
        return None
    block: dict[str, Any] = header_json_from_rlp(CHAIN[number].rlp)
    block["transactions"] = []
    return block


def _honest(request: dict[str, Any]) -> Any:
    if request["method"] == "eth_blockNumber":
        return hex(len(CHAIN) - 1)
    return _block(int(request["params"][0], 16))


class FakeNode:
    """A JSON-RPC node whose behaviour each test chooses."""

    def __init__(self) -> None:
        self.answer: Handler = _honest
        self.fail_next = 0  # answer this many HTTP requests with 503 first
        self.refuse_batches = False
        self.requests = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503, text="busy")
        body = await request.json()
        if isinstance(body, list):
            if self.refuse_batches:
                return web.json_response(
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {"code": -32600, "message": "no batches"},
                    }
                )
            return web.json_response([self._one(item) for item in body])
        return web.json_response(self._one(body))

    def _one(self, item: dict[str, Any]) -> dict[str, Any]:
        result = self.answer(item)
        if isinstance(result, Exception):
            return {
                "jsonrpc": "2.0",
                "id": item["id"],
                "error": {"code": -32000, "message": str(result)},
            }
        return {"jsonrpc": "2.0", "id": item["id"], "result": result}


@pytest.fixture
async def node() -> AsyncIterator[tuple[FakeNode, str]]:
    fake = FakeNode()
    app = web.Application()
    app.router.add_post("/", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    yield fake, f"http://127.0.0.1:{sock.getsockname()[1]}"
    await runner.cleanup()


async def test_honest_node_batches(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    async with JsonRpcHeaderSource(url, batch_size=7, concurrency=2) as source:
        assert await source.head() == 29
        raw = await source.headers(0, 30)
    assert [h.rlp for h in raw] == [h.rlp for h in CHAIN]
    assert checked_headers(raw, 0, None)[-1].hash == CHAIN[-1].hash
    assert fake.requests == 1 + 5  # eth_blockNumber, then ceil(30 / 7) batches


async def test_retries_transient_errors(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    fake.fail_next = 2
    async with JsonRpcHeaderSource(url, retries=3, backoff=0.01) as source:
        assert await source.head() == 29
    fake.fail_next = 5
    async with JsonRpcHeaderSource(url, retries=2, backoff=0.01) as source:
        with pytest.raises(SourceUnavailable, match="HTTP 503"):
            await source.head()


async def test_lying_node_is_caught(node: tuple[FakeNode, str]) -> None:
    fake, url = node

    def lie(request: dict[str, Any]) -> Any:
        block = _honest(request)
        if isinstance(block, dict) and block["number"] == "0x5":
            block["gasUsed"] = hex(int(block["gasUsed"], 16) + 1)  # keeps the original hash
        return block

    fake.answer = lie
    async with JsonRpcHeaderSource(url) as source:
        raw = await source.headers(0, 10)
    with pytest.raises(InvalidHeader, match="hash mismatch at block 5") as info:
        checked_headers(raw, 0, None)
    assert info.value.block == 5


async def test_batch_refusal_falls_back(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    fake.refuse_batches = True
    async with JsonRpcHeaderSource(url, batch_size=10) as source:
        raw = await source.headers(3, 12)
    assert [h.number for h in raw] == list(range(3, 15))


async def test_missing_block_and_rpc_errors(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    async with JsonRpcHeaderSource(url) as source:
        with pytest.raises(ChainGap, match="no block 30"):
            await source.headers(28, 5)
    fake.answer = lambda request: RuntimeError("method handler crashed")
    async with JsonRpcHeaderSource(url) as source:
        with pytest.raises(RpcError, match="-32000: method handler crashed"):
            await source.head()
    fake.answer = lambda request: "not-hex"
    async with JsonRpcHeaderSource(url) as source:
        with pytest.raises(SourceUnavailable, match="not a hex quantity"):
            await source.head()
    fake.answer = lambda request: {"number": "0x0", "hash": "0x12"}
    async with JsonRpcHeaderSource(url) as source:
        with pytest.raises(InvalidHeader, match="unusable header for block 0"):
            await source.headers(0, 1)


async def test_node_down() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with JsonRpcHeaderSource(f"http://127.0.0.1:{port}", retries=2, backoff=0.01) as source:
        with pytest.raises(SourceUnavailable, match=f"cannot reach http://127.0.0.1:{port}"):
            await source.head()
    async with JsonRpcHeaderSource(f"ws://127.0.0.1:{port}", retries=1) as source:
        with pytest.raises(SourceUnavailable, match="cannot reach"):
            await source.head()


@pytest.mark.parametrize("url", ["ftp://x", "127.0.0.1:8545", "http://", ""])
def test_bad_urls(url: str) -> None:
    with pytest.raises(InvalidInput):
        JsonRpcHeaderSource(url)


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
