"""Our RLPx sessions and LES/4 messages against an independent implementation: the npm
package @ethereumjs/devp2p 6.1.3 (pinned in tools/), driven by tools/devp2p_peer.js. It
dials us, and we dial it; both ends check what the other sent, byte for byte where the
encoding is fixed. Its known defects (spec/les-wire.md §8.1) are worked around in the script
(a 24-code capability, the leaked status timer) or tolerated here (a bare-integer
Disconnect)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from lightclient.core.nodeid import format_enode
from lightclient.les.codes import MsgCode
from lightclient.les.forkid import ForkId
from lightclient.les.messages import BlockHeaders, GetBlockHeaders, Resume
from lightclient.les.status import ChainHead, Status, client_status
from lightclient.rlpx.keys import private_key_from_bytes, public_key_of
from lightclient.rlpx.p2p import DisconnectReason, Protocol
from lightclient.rlpx.session import Session, SessionConfig, connect, listen
from lightclient.testing.synthetic import SyntheticChain

TOOLS = Path(__file__).resolve().parent.parent / "tools"
SCRIPT = TOOLS / "devp2p_peer.js"
OUR_KEY = bytes.fromhex("49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee")
THEIR_KEY = bytes.fromhex("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291")
CHAIN_ID = 1337
LES4 = SessionConfig(protocols=(Protocol("les", 4, 24),), client_id="lightclient/test")
HEADERS = [h.rlp for h in SyntheticChain(4, seed=8).headers()]
GENESIS = bytes(range(32))


def require_devp2p() -> str:
    """node and the npm package; skipped locally without them, a failure in CI."""
    node = shutil.which("node")
    if node is None or not (TOOLS / "node_modules" / "@ethereumjs" / "devp2p").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("@ethereumjs/devp2p is required in CI: `make tools` installs it")
        pytest.skip("@ethereumjs/devp2p not installed (run `make tools`)")
    return node


class Peer:
    """The Node process: JSON lines out (events), JSON lines in (commands)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def event(self, kind: str, timeout: float = 15) -> dict[str, Any]:
        assert self.process.stdout is not None
        while True:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
            assert line, f"the ethereumjs peer exited before sending {kind!r}"
            event: dict[str, Any] = json.loads(line)
            if event["event"] == "error":
                raise AssertionError(f"ethereumjs: {event['message']}")
            if event["event"] == kind:
                return event

    async def command(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()


@asynccontextmanager
async def ethereumjs(*args: str, chain_id: int = CHAIN_ID) -> AsyncIterator[Peer]:
    node = require_devp2p()
    process = await asyncio.create_subprocess_exec(
        node, str(SCRIPT), *args, "--key", THEIR_KEY.hex(), "--chain-id", str(chain_id),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield Peer(process)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def our_status() -> Status:
    head = ChainHead(4, CHAIN_ID, GENESIS, head_td=17, head_hash=bytes(31) + b"\x01",
                     head_num=3, fork_id=ForkId(bytes.fromhex("fc64ec04"), 1150000))  # fmt: skip
    return client_status(head)


THEIR_STATUS = {"headTd": 9, "headHash": "0x" + "22" * 32, "headNum": 4,
                "genesisHash": "0x" + GENESIS.hex(), "forkID": ["0xfc64ec04", 1150000]}  # fmt: skip


def check_their_status(payload: bytes) -> None:
    values = Status.decode(payload).values()
    assert values["protocolVersion"] == b"\x04"
    assert values["networkId"] == b"\x82\x05\x39"  # 1337
    assert values["genesisHash"] == b"\xa0" + GENESIS
    assert values["headNum"] == b"\x04" and values["headHash"] == b"\xa0" + b"\x22" * 32


async def test_ethereumjs_dials_our_listener() -> None:
    key = private_key_from_bytes(OUR_KEY)
    seen: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def handler(session: Session) -> None:
        await seen.put(("hello", session.remote_hello))
        status = await session.receive()
        await seen.put(("status", status))
        await session.send(MsgCode.STATUS, our_status().encode())
        request = await session.receive()
        await seen.put(("request", request))
        asked = GetBlockHeaders.decode(request.payload)
        await session.send(MsgCode.BLOCK_HEADERS,
                           BlockHeaders(asked.req_id, 123456, tuple(HEADERS)).encode())  # fmt: skip
        await session.send(MsgCode.RESUME, Resume(99).encode())
        await seen.put(("ending", await session.receive()))

    server = await listen("127.0.0.1", 0, key, handler, LES4)
    port = server.sockets[0].getsockname()[1]
    enode = format_enode(public_key_of(key), "127.0.0.1", port)
    try:
        async with ethereumjs("dial", "--enode", enode) as peer:
            hello = await peer.event("hello")
            assert hello["hello"]["caps"] == [["les", 4]]
            assert hello["hello"]["clientId"] == "lightclient/test"
            assert hello["hello"]["id"] == public_key_of(key).hex()
            kind, our_hello = await seen.get()
            assert kind == "hello" and our_hello.client_id.startswith("ethereumjs-devp2p")
            assert our_hello.node_pubkey == public_key_of(private_key_from_bytes(THEIR_KEY))
            await peer.command(status=THEIR_STATUS)
            kind, status = await asyncio.wait_for(seen.get(), 10)
            assert status.code == MsgCode.STATUS
            check_their_status(status.payload)
            got = (await peer.event("status"))["status"]
            assert got["networkId"] == "0539" and got["genesisHash"] == GENESIS.hex()
            assert got["forkID"] == ["fc64ec04", "118c30"]
            asked = GetBlockHeaders(77, 2, 3, 0, False)
            await peer.command(send=MsgCode.GET_BLOCK_HEADERS, payload=asked.encode().hex())
            kind, request = await asyncio.wait_for(seen.get(), 10)
            assert request.code == MsgCode.GET_BLOCK_HEADERS
            assert request.payload == asked.encode()  # their RLP, byte for byte
            reply = await peer.event("message")
            assert reply["code"] == MsgCode.BLOCK_HEADERS
            expected = BlockHeaders(77, 123456, tuple(HEADERS)).encode()
            assert bytes.fromhex(reply["payload"]) == expected
            resume = await peer.event("message")  # code 23: past ethereumjs's own 23 codes
            assert resume["code"] == MsgCode.RESUME
            await peer.command(disconnect=int(DisconnectReason.REQUESTED))
            removed = await peer.event("removed")
            assert removed["byUs"] is True
    finally:
        server.close()
        await server.wait_closed()


async def test_we_dial_ethereumjs() -> None:
    key = private_key_from_bytes(OUR_KEY)
    async with ethereumjs("listen", "--port", "0") as peer:
        listening = await peer.event("listening")
        their_pub = bytes.fromhex(listening["id"])
        assert their_pub == public_key_of(private_key_from_bytes(THEIR_KEY))
        session = await connect("127.0.0.1", listening["port"], key, their_pub, LES4)
        try:
            assert session.remote_hello.client_id.startswith("ethereumjs-devp2p")
            assert session.snappy  # both said version 5
            hello = await peer.event("hello")
            assert hello["hello"]["id"] == public_key_of(key).hex()
            await session.send(MsgCode.STATUS, our_status().encode())
            # ethereumjs reports a Status only once it has sent its own.
            await peer.command(status=THEIR_STATUS)
            got = (await peer.event("status"))["status"]
            assert got["headNum"] == "03" and got["announceType"] == "01"
            status = await asyncio.wait_for(session.receive(), 10)
            check_their_status(status.payload)
            rtt = await asyncio.wait_for(session.ping(), 10)  # their Pong, Snappy-compressed
            assert 0 <= rtt < 10
            await session.disconnect(DisconnectReason.REQUESTED)
            removed = await peer.event("removed")
            assert removed["reason"] == DisconnectReason.REQUESTED and removed["byUs"] is False
        finally:
            await session.close()
