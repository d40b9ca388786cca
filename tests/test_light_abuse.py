"""Light-serving abuse over real sockets: error counts that survive reconnection, every
malformed input counted, quiet handling of clients that leave or stall, and bounded
handshakes and connections."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from eth_keys.backends.coincurve import CoinCurveECCBackend
from eth_keys.datatypes import PrivateKey
from lightwire import answer, hello

from lightclient.client.client import LightClient, NoServer
from lightclient.client.connection import ServerConnection, ServerRefused
from lightclient.core.nodeid import node_id_from_pubkey
from lightclient.errors import SourceUnavailable
from lightclient.pool.clock import ManualClock, SystemClock
from lightclient.server.lightserve import ErrorLedger, LightServer, Limits
from lightclient.server.protocol import (
    ERR_INVALID,
    ERR_UNAVAILABLE,
    ERROR_DECAY,
    MAX_HELLO_SIZE,
    MAX_REQUEST_ERRORS,
)
from lightclient.server.service import PoolConfig, PoolService
from lightclient.sources.base import checked_headers
from lightclient.store.balances import SqliteBalanceStore
from lightclient.store.sqlite import Store
from lightclient.sync.syncer import Syncer
from lightclient.testing.synthetic import MemoryHeaderSource, SyntheticChain

SIZE = 16
SECTIONS = 3  # sections 0..2 are indexed; 3 is not


class FlakyNode(MemoryHeaderSource):
    """A node whose head query fails while ``down`` is set."""

    down = False

    async def head(self) -> int:
        if self.down:
            raise SourceUnavailable("node down")
        return await super().head()


@dataclass
class Served:
    server: LightServer
    clock: ManualClock
    node: FlakyNode
    store: Store
    url: str
    runner: web.AppRunner


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start light servers on 127.0.0.1 (a manual clock for the server, a real one for the
    pool); all are stopped at the end."""
    started: list[Served] = []

    async def make(limits: Limits | None = None, confirmations: int = 0) -> Served:
        node = FlakyNode(SyntheticChain(SIZE * SECTIONS + 2, seed=3).headers())
        store = Store.open(tmp_path / str(len(started)))
        await Syncer(node, store, section_size=SIZE, confirmations=confirmations).sync()
        genesis = checked_headers(await node.headers(0, 1), 0, None)[0].hash
        service = PoolService(SystemClock(), SqliteBalanceStore(store), PoolConfig())
        clock = ManualClock(start=10**12)
        server = LightServer(node, store, service, clock, section_size=SIZE,
                             genesis_hash=genesis, limits=limits)  # fmt: skip
        runner = web.AppRunner(server.app(), shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        url = f"ws://127.0.0.1:{sock.getsockname()[1]}"
        started.append(served := Served(server, clock, node, store, url, runner))
        return served

    yield make
    for served in started:
        await served.runner.cleanup()
        served.server.service.stop()
        served.store.close()


def key(i: int) -> PrivateKey:
    return PrivateKey(bytes([i]) * 32)


def node_id(k: PrivateKey) -> bytes:
    return node_id_from_pubkey(k.public_key.to_bytes())


async def settled(server: LightServer) -> None:
    """Wait until the server has finished with every socket."""
    for _ in range(200):
        if not server.admission.open and not server.admission.pending:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"sockets left: {server.admission.open} {server.admission.pending}")


async def assert_dropped(ws: aiohttp.ClientWebSocketResponse) -> None:
    closing = await ws.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert closing.extra == "too many invalid requests made"


GET_HEAD = json.dumps({"id": 1, "method": "getHead", "params": {}})


async def test_the_error_count_survives_reconnection_and_decays_hourly(
    start: Callable[..., Any],
) -> None:
    s: Served = await start()
    k = key(1)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(s.url) as ws:
            assert (await hello(ws, k))["type"] == "welcome"
            for _ in range(MAX_REQUEST_ERRORS + 1):
                await ws.send_str("not json")
                assert (await answer(ws))["error"]["code"] == ERR_INVALID
            await assert_dropped(ws)
        # Reconnecting at once with the same key does not start afresh.
        with pytest.raises(ServerRefused, match="too many invalid requests"):
            await ServerConnection(s.url, k).connect()
        other = ServerConnection(s.url, key(2))  # the count is the key's, not the address's
        await other.connect()
        await other.close()
        # An hour later the count is down to the bound: admitted, dropped at the next error.
        s.clock.run(ERROR_DECAY)
        async with session.ws_connect(s.url) as ws:
            assert (await hello(ws, k))["type"] == "welcome"
            await ws.send_str(GET_HEAD)
            assert (await answer(ws))["result"]["number"] == SIZE * SECTIONS + 1
            await ws.send_str("{}")
            assert (await answer(ws))["error"]["code"] == ERR_INVALID
            await assert_dropped(ws)
        # Two more hours: 19, so one more error is answered and the client stays.
        s.clock.run(2 * ERROR_DECAY)
        async with session.ws_connect(s.url) as ws:
            assert (await hello(ws, k))["type"] == "welcome"
            await ws.send_str("[]")
            assert (await answer(ws))["error"]["code"] == ERR_INVALID
            await ws.send_str(GET_HEAD)
            assert "result" in await answer(ws)
    assert s.server.errors.count(node_id(k)) == MAX_REQUEST_ERRORS


async def test_binary_frames_and_unknown_methods_count(start: Callable[..., Any]) -> None:
    s: Served = await start()
    k = key(3)
    async with aiohttp.ClientSession() as session, session.ws_connect(s.url) as ws:
        assert (await hello(ws, k))["type"] == "welcome"
        await ws.send_bytes(GET_HEAD.encode())
        reply = await answer(ws)
        assert reply["error"]["code"] == ERR_INVALID and "binary" in reply["error"]["message"]
        assert s.server.errors.count(node_id(k)) == 1
        await ws.send_str(json.dumps({"id": 2, "method": "les_addBalance", "params": {}}))
        assert "unknown method" in (await answer(ws))["error"]["message"]
        assert s.server.errors.count(node_id(k)) == 2
        for _ in range(MAX_REQUEST_ERRORS - 1):
            await ws.send_bytes(b"\x00")
            assert (await answer(ws))["error"]["code"] == ERR_INVALID
        await assert_dropped(ws)


async def test_missing_sections_count_and_server_failures_do_not(
    start: Callable[..., Any],
) -> None:
    s: Served = await start()
    k = key(4)
    conn = ServerConnection(s.url, k)
    await conn.connect()
    assert conn.challenge["checkpoint"]["sectionIndex"] == SECTIONS - 1
    ws = conn._ws
    assert ws is not None

    async def ask(params: dict[str, Any], method: str = "getHelperTrieProofs") -> Any:
        future = asyncio.get_running_loop().create_future()
        conn._waiting[77] = future
        await ws.send_str(json.dumps({"id": 77, "method": method, "params": params}))
        return await asyncio.wait_for(future, 5)

    def cht(section: int, number: int) -> dict[str, Any]:
        return {"type": 0, "trieIdx": section, "keys": ["0x" + number.to_bytes(8, "big").hex()]}

    present = await ask(cht(SECTIONS - 1, 5))
    assert present["result"]["proofs"] and s.server.errors.count(node_id(k)) == 0
    # A section beyond the advertised one is the client's fault.
    missing = await ask(cht(SECTIONS, 5))
    assert missing["error"]["code"] == ERR_UNAVAILABLE
    assert s.server.errors.count(node_id(k)) == 1
    # So is a block beyond the end of the trie's sections, or a bloom section beyond it.
    beyond = await ask(cht(0, SIZE))
    assert beyond["error"]["code"] == ERR_INVALID
    bloom = await ask({"type": 1, "trieIdx": 0, "keys": ["0x" + "00" * 9 + "01"]})
    assert bloom["error"]["code"] == ERR_INVALID
    assert s.server.errors.count(node_id(k)) == 3
    # The server's own node being down is not the client's fault.
    s.node.down = True
    down = await ask({}, "getHead")
    assert down["error"]["code"] == ERR_UNAVAILABLE
    assert s.server.errors.count(node_id(k)) == 3
    s.node.down = False
    await conn.close()


async def test_clients_leaving_stalling_or_lying_before_hello_log_no_error(
    start: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    s: Served = await start(Limits(hello_timeout=0.3))
    async with aiohttp.ClientSession() as session:
        for _ in range(3):  # closes right after the challenge
            async with session.ws_connect(s.url) as ws:
                assert json.loads((await ws.receive(timeout=5)).data)["type"] == "challenge"
        async with session.ws_connect(s.url) as ws:  # closes before reading anything
            pass
        async with session.ws_connect(s.url) as ws:  # stalls past the hello timeout
            await ws.receive(timeout=5)
            refused = json.loads((await ws.receive(timeout=5)).data)
            assert refused == {"type": "refused", "reason": "no hello in time"}
        async with session.ws_connect(s.url) as ws:  # a hello far over its bound
            await ws.receive(timeout=5)
            await ws.send_str("x" * (MAX_HELLO_SIZE + 1))
            refused = json.loads((await ws.receive(timeout=5)).data)
            assert refused["type"] == "refused" and "at most" in refused["reason"]
        async with session.ws_connect(s.url) as ws:  # binary garbage
            await ws.receive(timeout=5)
            await ws.send_bytes(b"\xff" * 64)
            assert json.loads((await ws.receive(timeout=5)).data)["type"] == "refused"
    await settled(s.server)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert loud == []
    # One short line each, at debug level.
    lines = [r.getMessage() for r in caplog.records if r.name == "lightclient.server.lightserve"]
    assert len(lines) >= 7 and all("\n" not in line for line in lines)


async def test_pending_handshakes_are_bounded_per_ip(start: Callable[..., Any]) -> None:
    s: Served = await start(Limits(pending_per_ip=2))
    async with aiohttp.ClientSession() as session:
        stalled = [await session.ws_connect(s.url) for _ in range(2)]
        challenges = [json.loads((await ws.receive(timeout=5)).data) for ws in stalled]
        assert [c["type"] for c in challenges] == ["challenge", "challenge"]
        with pytest.raises(ServerRefused, match="too many handshakes in progress from 127"):
            await ServerConnection(s.url, key(5)).connect()
        # One finishes its handshake: a slot is free again.
        assert (await hello(stalled[0], key(6), challenges[0]))["type"] == "welcome"
        admitted = ServerConnection(s.url, key(7))
        await admitted.connect()
        assert admitted.connected
        await admitted.close()
        for ws in stalled:
            await ws.close()
    await settled(s.server)


async def test_pending_handshakes_are_bounded_overall(start: Callable[..., Any]) -> None:
    s: Served = await start(Limits(pending=1))
    async with aiohttp.ClientSession() as session, session.ws_connect(s.url) as stalled:
        await stalled.receive(timeout=5)
        with pytest.raises(ServerRefused, match=r"too many handshakes in progress$"):
            await ServerConnection(s.url, key(8)).connect()


async def test_connections_are_bounded_per_ip_and_overall(start: Callable[..., Any]) -> None:
    s: Served = await start(Limits(connections=3, connections_per_ip=2))
    first, second = ServerConnection(s.url, key(9)), ServerConnection(s.url, key(10))
    await first.connect()
    await second.connect()
    with pytest.raises(ServerRefused, match=r"too many connections from 127\.0\.0\.1"):
        await ServerConnection(s.url, key(11)).connect()
    await first.close()
    await settled_to(s.server, 1)
    third = ServerConnection(s.url, key(11))
    await third.connect()
    await second.close()
    await third.close()
    await settled(s.server)
    overall: Served = await start(Limits(connections=1))
    only = ServerConnection(overall.url, key(12))
    await only.connect()
    with pytest.raises(ServerRefused, match="too many connections to this server"):
        await ServerConnection(overall.url, key(13)).connect()
    await only.close()


async def settled_to(server: LightServer, sockets: int) -> None:
    for _ in range(200):
        if server.admission.open.total() == sockets:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"sockets: {server.admission.open}")


def test_the_error_ledger_is_bounded_and_forgets_the_least_recent() -> None:
    clock = ManualClock()
    ledger = ErrorLedger(clock, capacity=3)
    for i in range(3):
        ledger.add(bytes([i]))
    ledger.add(bytes([0]))  # 0 is now the most recent
    ledger.add(bytes([9]))  # over capacity: 1, the least recently counted, is forgotten
    assert len(ledger) == 3
    assert [ledger.count(bytes([i])) for i in (0, 1, 2, 9)] == [2, 0, 1, 1]
    clock.run(ERROR_DECAY)
    assert [ledger.count(bytes([i])) for i in (0, 2, 9)] == [1, 0, 0]
    assert len(ledger) == 1  # decayed to zero: forgotten


def test_hello_signatures_are_recovered_by_libsecp256k1() -> None:
    """coincurve is installed, so eth-keys recovers through it (~0.05 ms, not ~5 ms)."""
    assert isinstance(key(1).sign_msg_hash(b"\x01" * 32).backend, CoinCurveECCBackend)


async def test_the_client_asks_only_servers_that_have_the_section(
    start: Callable[..., Any], tmp_path: Path
) -> None:
    """A server that has not indexed the client's checkpoint yet is not asked for it (that
    would count against the client), until it advertises the section."""
    lagging: Served = await start(confirmations=SIZE)  # sections 0 and 1 only
    assert lagging.store.section_count() == SECTIONS - 1
    full = Store.open(tmp_path / "full")
    await Syncer(lagging.node, full, section_size=SIZE, confirmations=0).sync()
    checkpoint = full.checkpoint(SECTIONS - 1)
    full.close()
    assert checkpoint is not None
    client = LightClient(checkpoint, SIZE, [lagging.url], key(14))
    await client.start()
    try:
        with pytest.raises(NoServer, match=f"section {SECTIONS - 1}"):
            await client.header_by_number(5)
        assert lagging.server.errors.count(client.servers[0].connection.node_id) == 0
        # The server indexes the section: asked again for its checkpoint, then served.
        await Syncer(lagging.node, lagging.store, section_size=SIZE, confirmations=0).sync()
        header = await client.header_by_number(5)
        assert header.number == 5 and client.servers[0].connection.sections == SECTIONS
    finally:
        await client.close()
