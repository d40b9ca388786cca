"""Light server and light clients over real sockets: sync from a checkpoint, verified
headers and bloom bits, charging, priority, eviction, and a lying server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from eth_keys.datatypes import PrivateKey

from lightclient.client.client import LightClient, NoServer
from lightclient.client.connection import ServerConnection, ServerRefused
from lightclient.core.bloombits import rotate_blooms
from lightclient.core.header import decode_header
from lightclient.pool.clock import SECOND, SystemClock
from lightclient.server.lightserve import LightServer
from lightclient.server.service import PoolConfig, PoolService
from lightclient.sources.embedded import EmbeddedChain, EmbeddedHeaderSource
from lightclient.store.balances import SqliteBalanceStore
from lightclient.store.sqlite import Store
from lightclient.sync.syncer import Syncer

SIZE = 32


@dataclass
class Setup:
    chain: EmbeddedChain
    store: Store
    service: PoolService
    server: LightServer
    url: str
    runner: web.AppRunner


async def start_server(
    tmp_path: Path,
    chain: EmbeddedChain,
    config: PoolConfig,
    server_class: type[LightServer] = LightServer,
) -> Setup:
    source = EmbeddedHeaderSource(chain)
    store = Store.open(tmp_path)
    await Syncer(source, store, section_size=SIZE, confirmations=2).sync()
    service = PoolService(SystemClock(), SqliteBalanceStore(store), config)
    genesis = chain.header_rlp(0)[0]
    server = server_class(source, store, service, SystemClock(), section_size=SIZE,
                          genesis_hash=genesis, inactive_allowance=10 * SECOND)  # fmt: skip
    runner = web.AppRunner(server.app(), shutdown_timeout=1.0)
    await runner.setup()
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    return Setup(chain, store, service, server, f"ws://127.0.0.1:{sock.getsockname()[1]}", runner)


@pytest.fixture
async def chain() -> EmbeddedChain:
    c = EmbeddedChain(seed=5)
    c.mine_until(4 * SIZE + 10, log_every=2)
    return c


@pytest.fixture
async def setup(tmp_path: Path, chain: EmbeddedChain) -> AsyncIterator[Setup]:
    s = await start_server(tmp_path, chain, PoolConfig(min_cap=16000, max_count=3,
                                                       max_capacity=10**9))  # fmt: skip
    yield s
    await s.runner.cleanup()
    s.store.close()


def key(i: int) -> PrivateKey:
    return PrivateKey(bytes([i]) * 32)


async def test_sync_from_checkpoint_and_verified_data(setup: Setup, chain: EmbeddedChain) -> None:
    checkpoint = setup.store.checkpoint(2)
    assert checkpoint is not None
    client = LightClient(checkpoint, SIZE, [setup.url], key(1))
    await client.start()
    head = await client.sync()
    assert head.number == chain.head()
    assert head.hash == chain.header_rlp(chain.head())[0]
    # Historical headers come with CHT proofs against the checkpoint's root.
    for n in (0, 5, SIZE * 2 + 7):
        assert (await client.header_by_number(n)).hash == chain.header_rlp(n)[0]
    # Bloom bits of section 1 equal the rotation of the chain's own blooms.
    blooms = [decode_header(chain.header_rlp(n)[1]).bloom for n in range(SIZE, 2 * SIZE)]
    vectors = rotate_blooms(blooms)
    set_bits = [b for b in range(2048) if vectors[b].any()]
    assert set_bits
    for bit in set_bits[:5] + [b for b in range(2048) if not vectors[b].any()][:3]:
        assert await client.bloom_bits(bit, 1) == vectors[bit].tobytes()
    # The free client was charged for its connection and requests.
    info = setup.service.client_info([client.servers[0].connection.node_id.hex()])
    entry = next(iter(info.values()))
    assert entry["isConnected"] and entry["capacity"] == 16000
    assert entry["pricing/negBalance"] > 0
    await client.close()


async def test_pool_admission_priority_and_eviction(setup: Setup) -> None:
    connections = []
    for i in range(3):
        c = ServerConnection(setup.url, key(10 + i))
        await c.connect()
        assert c.capacity == 16000
        connections.append(c)
    # The pool is full (3 clients): a fourth free client is not admitted, and is let go.
    fourth = ServerConnection(setup.url, key(20))
    await fourth.connect()
    assert fourth.capacity == 0
    # Paying makes it a priority client: it displaces a free one at once.
    setup.service.add_balance(fourth.node_id.hex(), 10**15)
    assert fourth.node_id.hex() in setup.service.client_info([])
    info = setup.service.client_info([fourth.node_id.hex()])[fourth.node_id.hex()]
    assert info["priority"]
    import asyncio

    await asyncio.sleep(0.2)
    evicted = [c for c in connections if not c.connected or c.capacity == 0]
    assert len(evicted) == 1
    for c in [*connections, fourth]:
        await c.close()


class LyingServer(LightServer):
    """Sends CHT proofs of a different block than the one asked."""

    async def _helper_proofs(self, params: dict[str, Any]) -> dict[str, list[str]]:
        if params.get("type") == 0:
            key = bytes.fromhex(params["keys"][0][2:])
            other = (int.from_bytes(key, "big") + 1).to_bytes(8, "big")
            params = dict(params, keys=["0x" + other.hex()])
        return await super()._helper_proofs(params)


async def test_lying_server_is_detected_and_dropped(tmp_path: Path, chain: EmbeddedChain) -> None:
    config = PoolConfig(min_cap=16000, max_count=5, max_capacity=10**9)
    liar = await start_server(tmp_path / "liar", chain, config, LyingServer)
    honest = await start_server(tmp_path / "honest", chain, config)
    checkpoint = honest.store.checkpoint(2)
    assert checkpoint is not None
    client = LightClient(checkpoint, SIZE, [liar.url, honest.url], key(3))
    await client.start()
    client.servers[0].score = 10  # prefer the liar first
    assert (await client.header_by_number(7)).hash == chain.header_rlp(7)[0]
    assert liar.url in client.dropped and "does not verify" in client.dropped[liar.url]
    assert [s.url for s in client.servers] == [honest.url]
    await client.close()
    only_liar = LightClient(checkpoint, SIZE, [liar.url], key(4))
    await only_liar.start()
    with pytest.raises(NoServer):
        await only_liar.header_by_number(7)
    await only_liar.close()
    for s in (liar, honest):
        await s.runner.cleanup()
        s.store.close()


async def test_bad_handshakes_and_requests(setup: Setup) -> None:
    import json

    import aiohttp

    async with aiohttp.ClientSession() as session, session.ws_connect(setup.url) as ws:
        challenge = json.loads((await ws.receive()).data)
        assert challenge["type"] == "challenge" and challenge["sectionSize"] == SIZE
        await ws.send_str(json.dumps({"type": "hello", "pubkey": "0x12", "signature": "0x34"}))
        refused = json.loads((await ws.receive()).data)
        assert refused["type"] == "refused" and "pubkey" in refused["reason"]
    c = ServerConnection(setup.url, key(30))
    await c.connect()
    from lightclient.client.connection import ServerError

    for params in ({"type": 5, "trieIdx": 0, "keys": ["0x00"]}, {"type": 0, "trieIdx": 99,
                   "keys": ["0x" + "00" * 8]}, {"type": 0, "trieIdx": 0, "keys": []}):  # fmt: skip
        with pytest.raises(ServerError):
            await c.request("getHelperTrieProofs", params)
    with pytest.raises(ServerError, match="unknown method"):
        await c.request("les_addBalance", {})  # admin methods are not served here
    headers = await c.request("getHeaders", {"origin": 10, "amount": 3, "skip": 1, "reverse": True})
    assert [decode_header(bytes.fromhex(h[2:])).number for h in headers] == [10, 8, 6]
    by_hash = await c.request("getHeaders", {"origin": "0x" + setup.chain.header_rlp(4)[0].hex()})
    assert decode_header(bytes.fromhex(by_hash[0][2:])).number == 4
    await c.close()
    first = ServerConnection(setup.url, key(31))
    await first.connect()
    with pytest.raises(ServerRefused, match="already connected"):
        await ServerConnection(setup.url, key(31)).connect()
    await first.close()


async def test_flow_control_freezes_and_resumes(setup: Setup) -> None:
    """A client that asks for more than its buffer holds is told so, frozen (stop), refused
    while frozen, and resumed by the server after 0.7-1.3 s once its buffer recharged."""
    import asyncio
    import json
    import time

    from lightclient.server.protocol import ERR_BUFFER

    conn = ServerConnection(setup.url, key(40))
    await conn.connect()
    assert conn.capacity == 16000 and conn.buffer == 16000 * 6000
    keys = ["0x" + n.to_bytes(8, "big").hex() for n in range(32)]
    proofs = {"type": 0, "trieIdx": 2, "keys": keys, "auxReq": 0}  # 32 x 2e6 = 64e6 units
    await conn.request("getHelperTrieProofs", proofs)
    assert conn.buffer < 16000 * 6000 - 60_000_000 and conn.resumed.is_set()

    # Send the second one by hand to see the refusal itself, then the stop message.
    assert conn._ws is not None
    answers: list[dict[str, Any]] = []
    for rid in (9001, 9002):
        future = asyncio.get_running_loop().create_future()
        conn._waiting[rid] = future
        await conn._ws.send_str(json.dumps({"id": rid, "method": "getHelperTrieProofs",
                                            "params": proofs}))  # fmt: skip
        answers.append(await asyncio.wait_for(future, 5))
        if rid == 9001:
            frozen_at = time.monotonic()  # the freeze began just before this answer
    assert answers[0]["error"]["code"] == ERR_BUFFER
    assert "buffer exceeded" in answers[0]["error"]["message"]
    assert answers[1]["error"]["code"] == ERR_BUFFER  # refused while frozen
    assert "frozen" in answers[1]["error"]["message"]
    assert conn.frozen
    await asyncio.wait_for(conn.resumed.wait(), 5)
    waited = time.monotonic() - frozen_at
    assert 0.5 < waited < 5.0, waited  # 0.7-1.3 s, with room for a slow machine
    assert conn.buffer > 16000 * 6000 // 8
    # Resumed: served again.
    small = dict(proofs, keys=keys[:1])
    result = await conn.request("getHelperTrieProofs", small)
    assert len(result["proofs"]) > 0
    await conn.close()
