"""A hand-driven LES/4 client for the LES server tests, and the server set-up they share:
a synthetic chain indexed into a real SQLite store, a pool, an ``LesServer`` on a real
socket. The client is ``rlpx.session.connect`` plus typed ``lightclient.les`` messages."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import coincurve

from lightclient.core.header import decode_header
from lightclient.errors import RlpxError
from lightclient.les.codes import MsgCode
from lightclient.les.forkid import ForkId, ForkSchedule, fork_id
from lightclient.les.messages import decode_message
from lightclient.les.status import ChainHead, Status, client_status
from lightclient.pool.clock import Clock
from lightclient.rlpx.keys import private_key_from_bytes, public_key_of
from lightclient.rlpx.p2p import Protocol
from lightclient.rlpx.session import Message, Session, SessionConfig, connect
from lightclient.server.chaindata import ChainData
from lightclient.server.les_server import LesServer
from lightclient.server.service import PoolConfig, PoolService
from lightclient.sources.base import RawHeader
from lightclient.store.balances import SqliteBalanceStore
from lightclient.store.sqlite import Store
from lightclient.sync.syncer import Syncer
from lightclient.testing.synthetic import MemoryHeaderSource, SyntheticChain

SIZE = 32
NETWORK = 1337
SCHEDULE = ForkSchedule.of([])
SERVER_KEY = private_key_from_bytes(b"\x42" * 32)
LES4 = SessionConfig(protocols=(Protocol("les", 4, 24),), client_id="lesclient/test")


class GrowingSource(MemoryHeaderSource):
    """A node whose visible head can be moved forward over a longer synthetic chain."""

    def __init__(self, headers: list[RawHeader], visible: int) -> None:
        super().__init__(headers)
        self.all = headers
        self.visible = visible

    failing = False  # the node is down: every call fails

    async def head(self) -> int:
        if self.failing:
            from lightclient.errors import SourceUnavailable

            raise SourceUnavailable("node down")
        return self.visible - 1

    async def headers(self, start: int, count: int) -> list[RawHeader]:
        if start + count > self.visible:
            from lightclient.errors import ChainGap

            raise ChainGap(f"no block {start + count - 1}", block=start)
        return await super().headers(start, count)

    async def number_of(self, block_hash: bytes) -> int | None:
        number = await super().number_of(block_hash)
        return number if number is not None and number < self.visible else None


@dataclass
class Setup:
    headers: list[RawHeader]
    source: GrowingSource
    store: Store
    service: PoolService
    server: LesServer
    clock: Clock
    genesis: bytes
    sessions: list[Session] = field(default_factory=list)

    @property
    def head(self) -> int:
        return self.source.visible - 1

    def td(self, number: int) -> int:
        return sum(decode_header(h.rlp).difficulty for h in self.headers[: number + 1])

    def fork(self) -> ForkId:
        return fork_id(self.genesis, SCHEDULE, self.head, 0)

    async def dial(
        self,
        key_byte: int = 1,
        *,
        status: Status | None = None,
        announce_type: int = 1,
        config: SessionConfig = LES4,
    ) -> tuple[Session, Status]:
        """Connect, exchange Status; returns the session and the server's Status."""
        key = private_key_from_bytes(bytes([key_byte]) * 32)
        session = await connect("127.0.0.1", self.server.port, key,
                                public_key_of(SERVER_KEY), config)  # fmt: skip
        self.sessions.append(session)
        if status is None:
            head = ChainHead(4, NETWORK, self.genesis, fork_id=self.fork())
            status = client_status(head, announce_type)
        await session.send(MsgCode.STATUS, status.encode())
        theirs = await asyncio.wait_for(session.receive(), 5)
        assert theirs.code == MsgCode.STATUS
        return session, Status.decode(theirs.payload)

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()
        await self.server.stop()
        self.service.stop()
        self.store.close()


async def make_setup(
    tmp_path: Path,
    clock: Clock,
    *,
    length: int = 4 * SIZE + 10,
    visible: int | None = None,
    pool: PoolConfig | None = None,
    chain_data: ChainData | None = None,
    **server_args: Any,
) -> Setup:
    headers = SyntheticChain(length, seed=3).headers()
    source = GrowingSource(headers, visible or length)
    store = Store.open(tmp_path)
    await Syncer(source, store, section_size=SIZE, confirmations=2).sync()
    service = PoolService(clock, SqliteBalanceStore(store), pool or PoolConfig())
    genesis = headers[0].hash
    assert genesis is not None
    server = LesServer(source, store, service, clock, node_key=SERVER_KEY, section_size=SIZE,
                       genesis_hash=genesis, network_id=NETWORK, fork_schedule=SCHEDULE,
                       chain_data=chain_data, **server_args)  # fmt: skip
    await server.start("127.0.0.1", 0)
    return Setup(headers, source, store, service, server, clock, genesis)


async def request(session: Session, message: Any, timeout: float = 5) -> Any:
    """Send a typed request and decode the next message (the reply, one hopes)."""
    await session.send(message.CODE, message.encode())
    reply = await asyncio.wait_for(session.receive(), timeout)
    return decode_message(reply.code, reply.payload)


async def nothing_within(session: Session, seconds: float = 0.3) -> None:
    """Assert no message arrives within ``seconds``."""
    try:
        message: Message = await asyncio.wait_for(session.receive(), seconds)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected message {message.code:#x}")


async def disconnect_reason(session: Session, timeout: float = 5) -> int:
    """Wait for the session to end; the reason the server gave."""
    try:
        while True:
            await asyncio.wait_for(session.receive(), timeout)
    except RlpxError as exc:
        return exc.reason


def client_key(key_byte: int) -> coincurve.PrivateKey:
    return private_key_from_bytes(bytes([key_byte]) * 32)
