"""The running light server (real sockets, real clock): periodic jobs outlive failures, and
hostile messages are answered or dropped without hurting the server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
from eth_keys.datatypes import PrivateKey
from lightwire import answer, hello

from lightclient.client.connection import ServerConnection
from lightclient.errors import SourceUnavailable
from lightclient.server.protocol import ERR_INVALID, MAX_REQUEST_ERRORS
from lightclient.server.runtime import start_light_server
from lightclient.server.service import PoolConfig
from lightclient.sources.base import RawHeader
from lightclient.store.sqlite import Store
from lightclient.testing.synthetic import MemoryHeaderSource, SyntheticChain


class FlakyNode(MemoryHeaderSource):
    """A node whose head query fails while ``down`` is set (a restart, a network cut)."""

    down = False

    async def head(self) -> int:
        if self.down:
            raise SourceUnavailable("node down")
        return await super().head()

    async def headers(self, start: int, count: int) -> list[RawHeader]:
        return await super().headers(start, count)


async def test_announcements_resume_after_the_node_was_down(tmp_path: Path) -> None:
    node = FlakyNode(SyntheticChain(50).headers())
    store = Store.open(tmp_path)
    running = await start_light_server(node, store, section_size=32, config=PoolConfig(),
                                       host="127.0.0.1", port=0, announce_interval=0.1)  # fmt: skip
    client = ServerConnection(running.url, PrivateKey(b"\x07" * 32))
    try:
        await client.connect()
        node.down = True
        await asyncio.sleep(0.4)  # several announce rounds fail
        assert not any(task.done() for task in running.tasks)
        client.head = None
        node.down = False
        heads: list[Any] = []
        for _ in range(50):
            heads.append(client.head)
            if heads[-1] is not None:
                break
            await asyncio.sleep(0.05)
        assert heads[-1] is not None and heads[-1]["number"] == 49
    finally:
        await client.close()
        await running.stop()
        store.close()


async def test_hostile_messages_are_answered_then_the_client_is_dropped(tmp_path: Path) -> None:
    node = FlakyNode(SyntheticChain(50).headers())
    store = Store.open(tmp_path)
    running = await start_light_server(node, store, section_size=32, config=PoolConfig(),
                                       host="127.0.0.1", port=0)  # fmt: skip
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(running.url) as ws:
            assert (await hello(ws, PrivateKey(b"\x08" * 32)))["type"] == "welcome"
            # Nested far beyond what a parser recurses into: an error answer, not a crash.
            await ws.send_str("[" * 100_000 + "]" * 100_000)
            assert (await answer(ws))["error"]["code"] == ERR_INVALID
            # The server still serves this client, and counts each bad request.
            for _ in range(MAX_REQUEST_ERRORS - 1):
                await ws.send_str("not json")
                assert (await answer(ws))["error"]["code"] == ERR_INVALID
            await ws.send_str(json.dumps({"id": 1, "method": "getHead", "params": {}}))
            assert (await answer(ws))["result"]["number"] == 49
            await ws.send_str("{}")  # the 21st bad request: answered, then the door closes
            assert (await answer(ws))["error"]["code"] == ERR_INVALID
            closing = await ws.receive(timeout=5)
            assert closing.type == aiohttp.WSMsgType.CLOSE
            assert closing.extra == "too many invalid requests made"
    finally:
        await running.stop()
        store.close()
