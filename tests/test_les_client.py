"""The LES/4 client connection and the light client over it, on real sockets, against a
small scripted LES/4 server: RLPx from lightclient.rlpx, LES messages from lightclient.les,
CHT and BloomTrie proofs from a synthetic chain indexed into a real SQLite store.

Honest server: Status, headers, CHT and BloomTrie proofs, a full LightClient sync.
Lying servers: bad headers, bad proofs, wrong genesis / network / fork ID in the Status,
replies with unknown request IDs, flow control pushed to StopMsg/ResumeMsg."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from eth_keys.datatypes import PrivateKey

from lightclient.client.client import LightClient, NoServer
from lightclient.client.les_connection import LesConnection, LesTimeouts
from lightclient.core.bloombits import rotate_blooms
from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.header import Header, decode_header
from lightclient.core.keccak import keccak
from lightclient.core.nodeid import format_enode
from lightclient.core.trie import prove
from lightclient.errors import (
    InvalidInput,
    LesProtocolError,
    PeerDisconnected,
    RlpxError,
    SourceUnavailable,
)
from lightclient.les.announce import Announce, capacity_update
from lightclient.les.codes import MsgCode
from lightclient.les.costs import CostTable, RequestCost, make_cost_table
from lightclient.les.flowcontrol import ClientBuffer, FlowParams
from lightclient.les.forkid import FORK_SCHEDULES, ForkFilter, ForkId, ForkSchedule, fork_id
from lightclient.les.messages import (
    BlockHeaders,
    GetBlockHeaders,
    GetHelperTrieProofs,
    HelperTrieProofs,
    Resume,
    Stop,
    decode_message,
)
from lightclient.les.status import ChainHead, ServerOffer, Status, server_status
from lightclient.pool.clock import SystemClock
from lightclient.rlpx.keys import private_key_from_bytes, public_key_of
from lightclient.rlpx.p2p import Protocol
from lightclient.rlpx.session import Session, SessionConfig, listen
from lightclient.sources.base import RawHeader
from lightclient.store.sqlite import Store
from lightclient.sync.syncer import Syncer
from lightclient.testing.synthetic import MemoryHeaderSource, SyntheticChain

SIZE = 32
LENGTH = 3 * SIZE + 5  # blocks 0..100: sections 0-2 indexed
NETWORK = 4242
LES4 = SessionConfig(protocols=(Protocol("les", 4, 24),), client_id="scripted-les-server")
SERVER_KEY = private_key_from_bytes(b"\x5a" * 32)
GENESIS_ONLY = ForkSchedule.of([])
FAST = LesTimeouts(handshake=3.0, request=2.0, flow_wait=3.0)


@dataclass
class Chain:
    headers: list[RawHeader]
    store: Store
    td: list[int]

    @property
    def genesis(self) -> bytes:
        return self.header(0).hash

    def header(self, n: int) -> Header:
        return decode_header(self.headers[n].rlp)

    def checkpoint(self, index: int) -> TrustedCheckpoint:
        cp = self.store.checkpoint(index)
        assert cp is not None
        return cp


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    headers = SyntheticChain(LENGTH, seed=21).headers()
    store = Store.open(tmp_path_factory.mktemp("les-chain"))
    syncer = Syncer(MemoryHeaderSource(headers), store, section_size=SIZE, confirmations=2)
    asyncio.run(syncer.sync())
    assert store.section_count() == 3
    td, total = [], 0
    for h in headers:
        total += decode_header(h.rlp).difficulty
        td.append(total)
    return Chain(headers, store, td)


@dataclass
class Script:
    """A scripted LES/4 server: honest unless told otherwise."""

    chain: Chain
    head: int = LENGTH - 1
    genesis: bytes | None = None  # a wrong one to lie in the Status
    network: int = NETWORK
    fork: ForkId | None = None
    buf_limit: int = 300_000_000
    min_recharge: int = 50_000
    costs: CostTable = field(default_factory=make_cost_table)
    checkpoint_index: int = 2
    foreign_headers: bool = False  # answer headers past block 0 with another chain's
    wrong_cht_key: bool = False  # prove the next block instead of the asked one
    unknown_replies: int = 0  # unsolicited replies with random request IDs per request
    stop_first: float = 0.0  # freeze the client on its first request for this long
    silent: bool = False  # never answer requests
    status_delay: float = 0.0  # wait this long before sending our Status
    # what happened
    requests: list[tuple[float, object]] = field(default_factory=list)
    underruns: int = 0
    client_status: Status | None = None
    ended: list[RlpxError] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    stop_sent_at: float = 0.0
    resume_sent_at: float = 0.0

    def status(self) -> Status:
        head = ChainHead(
            4,
            self.network,
            self.genesis or self.chain.genesis,
            self.chain.td[self.head],
            self.chain.header(self.head).hash,
            self.head,
            self.fork or fork_id(self.chain.genesis, GENESIS_ONLY, 0, 0),
        )
        offer = ServerOffer(
            self.buf_limit,
            self.min_recharge,
            self.costs,
            checkpoint=self.chain.checkpoint(self.checkpoint_index),
            register_height=0,
        )
        return server_status(head, offer)

    async def handler(self, session: Session) -> None:
        self.sessions.append(session)
        buffer = ClientBuffer(FlowParams(self.buf_limit, self.min_recharge), SystemClock())
        try:
            await asyncio.sleep(self.status_delay)
            await session.send(MsgCode.STATUS, self.status().encode())
            first = await session.receive()
            assert first.code == MsgCode.STATUS
            self.client_status = Status.decode(first.payload)
            while True:
                message = await session.receive()
                request = decode_message(message.code, message.payload)
                self.requests.append((time.monotonic(), request))
                if self.silent:
                    continue
                if self.stop_first and len(self.requests) == 1:
                    await session.send(MsgCode.STOP, Stop().encode())
                    self.stop_sent_at = time.monotonic()
                    await asyncio.sleep(self.stop_first)
                    self.resume_sent_at = time.monotonic()
                    await session.send(MsgCode.RESUME, Resume(self.buf_limit).encode())
                    buffer = ClientBuffer(FlowParams(self.buf_limit, self.min_recharge),
                                          SystemClock())  # fmt: skip
                    continue
                cost = self.costs.max_cost(message.code, getattr(request, "count", 0))
                cost = min(cost, self.buf_limit)
                ok, _ = buffer.accept(len(self.requests), cost)
                if not ok:
                    self.underruns += 1
                    await session.send(MsgCode.STOP, Stop().encode())
                    continue
                for _ in range(self.unknown_replies):
                    junk = BlockHeaders(secrets.randbits(64), 0, ())
                    await session.send(MsgCode.BLOCK_HEADERS, junk.encode())
                bv = buffer.processed(len(self.requests), cost, cost // 2)
                await self.answer(session, request, bv)
        except RlpxError as exc:
            self.ended.append(exc)

    async def answer(self, session: Session, request: object, bv: int) -> None:
        if isinstance(request, GetBlockHeaders):
            assert isinstance(request.origin, int) and not request.reverse
            numbers = range(request.origin, self.head + 1, request.skip + 1)
            out = [self.chain.header(n).rlp for n in numbers][: request.amount]
            if self.foreign_headers:
                other = SyntheticChain(LENGTH, seed=99).headers()
                out = [other[n].rlp if n else self.chain.header(0).rlp for n in numbers][
                    : request.amount
                ]
            reply = BlockHeaders(request.req_id, bv, tuple(out))
            await session.send(MsgCode.BLOCK_HEADERS, reply.encode())
        elif isinstance(request, GetHelperTrieProofs):
            nodes: dict[bytes, None] = {}
            aux: list[bytes] = []
            for req in request.reqs:
                cp = self.chain.checkpoint(req.trie_idx)
                root = cp.cht_root if req.type == 0 else cp.bloom_root
                key = req.key
                if req.type == 0 and self.wrong_cht_key:
                    key = (int.from_bytes(key, "big") + 1).to_bytes(8, "big")
                for node in prove(self.chain.store.nodes, root, key):
                    nodes[node] = None
                if req.type == 0 and req.aux_req == 2:
                    aux.append(self.chain.header(int.from_bytes(req.key, "big")).rlp)
            reply2 = HelperTrieProofs(request.req_id, bv, tuple(nodes), tuple(aux))
            await session.send(MsgCode.HELPER_TRIE_PROOFS, reply2.encode())


@dataclass
class Running:
    script: Script
    enode: str


Serve = Callable[..., Awaitable[Running]]


@pytest.fixture
async def serve(chain: Chain) -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(**options: object) -> Running:
        script = Script(chain, **options)  # type: ignore[arg-type]
        server = await listen("127.0.0.1", 0, SERVER_KEY, script.handler, LES4)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return Running(script, format_enode(public_key_of(SERVER_KEY), "127.0.0.1", port))

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


CLIENT_KEY = private_key_from_bytes(b"\x11" * 32)


async def dial(chain: Chain, running: Running, **options: object) -> LesConnection:
    kwargs: dict[str, object] = {"genesis_hash": chain.genesis, "network_id": NETWORK,
                                 "timeouts": FAST, "section_size": SIZE}  # fmt: skip
    kwargs.update(options)
    return await LesConnection.dial(running.enode, CLIENT_KEY, **kwargs)  # type: ignore[arg-type]


async def wait_until(check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


# ---------------------------------------------------------------- the connection itself


async def test_status_exchange_and_typed_requests(chain: Chain, serve: Serve) -> None:
    running: Running = await serve()
    conn = await dial(chain, running)
    try:
        assert conn.connected and conn.usable and not conn.frozen
        assert conn.head.number == LENGTH - 1 and conn.head.hash == chain.header(LENGTH - 1).hash
        assert conn.head.td == chain.td[-1]
        assert conn.checkpoint == chain.checkpoint(2) and conn.sections == 3
        assert conn.remote_node_id == keccak(public_key_of(SERVER_KEY))
        assert conn.node_id == running.script.sessions[0].remote_node_id  # our ID, as it sees it
        values = running.script.client_status
        assert values is not None
        got = values.values()
        assert got["announceType"] == b"\x01" and got["headNum"] == b"\x80"
        assert got["genesisHash"] == b"\xa0" + chain.genesis
        headers = await conn.get_headers(10, 5, skip=1)
        assert headers == [chain.header(n).rlp for n in (10, 12, 14, 16, 18)]
        nodes, aux = await conn.cht_proof(2, 7)
        assert aux == [chain.header(7).rlp] and nodes
        # Many concurrent requests: each reply reaches its own caller.
        batches = await asyncio.gather(*(conn.get_headers(n, 2) for n in range(0, 40, 3)))
        for n, batch in zip(range(0, 40, 3), batches, strict=True):
            assert [decode_header(h).number for h in batch] == [n, n + 1]
        assert running.script.underruns == 0 and conn.invalid_responses == 0
        # Counts a server would drop without a reply are refused before sending.
        for amount in (0, 193):
            with pytest.raises(InvalidInput, match="allowed"):
                await conn.get_headers(0, amount)
    finally:
        await conn.close()
    assert isinstance(conn.error, SourceUnavailable)  # closed by us
    await wait_until(lambda: bool(running.script.ended))
    ended = running.script.ended[0]
    assert isinstance(ended, PeerDisconnected) and ended.reason == 0x00


@pytest.mark.parametrize(
    ("lie", "kind"),
    [
        ({"genesis": b"\x13" * 32}, "ErrGenesisBlockMismatch"),
        ({"network": NETWORK + 1}, "ErrNetworkIdMismatch"),
        ({"fork": ForkId(b"\xde\xad\xbe\xef", 0)}, "ErrForkIDRejected"),
        (
            {"costs": CostTable({int(MsgCode.GET_BLOCK_HEADERS): RequestCost(1, 1)})},
            "ErrUselessPeer",
        ),
    ],
)
async def test_a_status_that_lies_is_refused_with_0x10(
    chain: Chain, serve: Serve, lie: dict[str, object], kind: str
) -> None:
    running: Running = await serve(**lie)
    fork_filter = ForkFilter(chain.genesis, GENESIS_ONLY)
    with pytest.raises(LesProtocolError) as caught:
        await dial(chain, running, fork_filter=fork_filter)
    assert caught.value.kind == kind and caught.value.disconnect == 0x10
    await wait_until(lambda: bool(running.script.ended))
    ended = running.script.ended[0]
    assert isinstance(ended, PeerDisconnected) and ended.reason == 0x10


async def test_the_fork_filter_accepts_a_compatible_fork_id(chain: Chain, serve: Serve) -> None:
    mainnet = FORK_SCHEDULES["mainnet"]
    theirs = fork_id(chain.genesis, mainnet, 2_000_000, 0)  # past Homestead and the DAO
    running: Running = await serve(fork=theirs)
    ours = fork_id(chain.genesis, mainnet, 0, 0)
    conn = await dial(chain, running, fork_filter=ForkFilter(chain.genesis, mainnet),
                      our_fork_id=ours)  # fmt: skip
    assert conn.connected
    await conn.close()


async def test_unknown_request_ids_are_counted_then_dropped_as_geth(
    chain: Chain, serve: Serve
) -> None:
    running: Running = await serve(unknown_replies=10)
    conn = await dial(chain, running)
    for n in range(5):  # 50 invalid replies: still tolerated (geth drops above 50)
        assert len(await conn.get_headers(n, 1)) == 1
    await wait_until(lambda: conn.invalid_responses == 50)
    assert conn.connected
    with pytest.raises((LesProtocolError, SourceUnavailable)):
        await conn.get_headers(0, 1)
    await wait_until(lambda: not conn.connected)
    assert isinstance(conn.error, LesProtocolError)
    assert conn.error.kind == "ErrUnexpectedResponse" and conn.error.disconnect == 0x10


async def test_requests_wait_for_the_buffer_and_never_underrun(chain: Chain, serve: Serve) -> None:
    # Each 10-header request costs the whole buffer; MRR refills it in about 0.3 s.
    costs = CostTable({code: RequestCost(0, 100_000) for code in make_cost_table()})
    running: Running = await serve(buf_limit=1_000_000, min_recharge=3_333, costs=costs)
    conn = await dial(chain, running)
    start = time.monotonic()
    for n in range(4):
        assert len(await conn.get_headers(n, 10)) == 10
    elapsed = time.monotonic() - start
    assert running.script.underruns == 0  # the server never had to refuse one
    gaps = [
        b[0] - a[0]
        for a, b in zip(running.script.requests, running.script.requests[1:], strict=False)
    ]
    assert all(gap > 0.1 for gap in gaps), gaps  # held back until the buffer recharged
    assert elapsed > 0.3
    # A request past what the buffer can ever recharge in flow_wait is refused locally.
    slow = CostTable({code: RequestCost(0, 100_000) for code in make_cost_table()})
    running2: Running = await serve(buf_limit=1_000_000, min_recharge=10, costs=slow)
    conn2 = await dial(chain, running2)
    assert len(await conn2.get_headers(0, 10)) == 10
    with pytest.raises(SourceUnavailable, match="recharge"):
        await conn2.get_headers(0, 10)
    assert len(running2.script.requests) == 1
    await conn.close()
    await conn2.close()


async def test_stop_freezes_the_client_and_resume_lets_it_retry(chain: Chain, serve: Serve) -> None:
    running: Running = await serve(stop_first=0.5)
    conn = await dial(chain, running)
    headers = await conn.get_headers(3, 2)
    assert headers == [chain.header(3).rlp, chain.header(4).rlp]
    script = running.script
    assert len(script.requests) == 2  # the unanswered one, then the retry after Resume
    retried_at = script.requests[1][0]
    assert retried_at >= script.resume_sent_at  # nothing was sent while frozen
    assert not conn.frozen and conn.buffer.estimate() > 0
    await conn.close()


async def test_announces_update_the_head_and_flow_parameters(chain: Chain, serve: Serve) -> None:
    running: Running = await serve(head=50)
    conn = await dial(chain, running)
    assert conn.head.number == 50
    session = running.script.sessions[0]
    h = chain.header(60)
    await session.send(MsgCode.ANNOUNCE, Announce(h.hash, 60, chain.td[60]).encode())
    await asyncio.wait_for(conn.head_changed.wait(), 3)
    assert conn.head.number == 60 and conn.head.hash == h.hash
    await session.send(MsgCode.ANNOUNCE, capacity_update(0).encode())
    await wait_until(lambda: not conn.usable)
    with pytest.raises(SourceUnavailable, match="no buffer"):
        await conn.get_headers(0, 1)
    await session.send(MsgCode.ANNOUNCE, capacity_update(32_000).encode())
    await wait_until(lambda: conn.usable)
    assert conn.buffer.params == FlowParams(32_000 * 6000, 32_000)
    assert len(await conn.get_headers(0, 1)) == 1
    # A head announcement with a TD past 100 bits is a protocol error (0x10).
    await session.send(MsgCode.ANNOUNCE, Announce(h.hash, 61, 1 << 101).encode())
    await wait_until(lambda: not conn.connected)
    assert isinstance(conn.error, LesProtocolError)
    await wait_until(lambda: bool(running.script.ended))
    assert running.script.ended[0].reason == 0x10


async def test_a_silent_server_times_out(chain: Chain, serve: Serve) -> None:
    running: Running = await serve(silent=True)
    conn = await dial(chain, running, timeouts=LesTimeouts(request=0.3))
    with pytest.raises(SourceUnavailable, match="no reply"):
        await conn.get_headers(0, 1)
    assert conn.connected
    await conn.close()


# ---------------------------------------------------------------- the light client over LES


def light_client(chain: Chain, urls: list[str], seed: int) -> LightClient:
    return LightClient(chain.checkpoint(2), SIZE, urls, PrivateKey(bytes([seed]) * 32),
                       genesis_hash=chain.genesis, network_id=NETWORK,
                       les_timeouts=FAST)  # fmt: skip


async def test_light_client_syncs_and_verifies_over_les(chain: Chain, serve: Serve) -> None:
    running: Running = await serve()
    client = light_client(chain, [running.enode], 1)
    await client.start()
    try:
        head = await client.sync()
        assert head.number == LENGTH - 1 and head.hash == chain.header(LENGTH - 1).hash
        for n in (0, 5, 2 * SIZE + 7, 3 * SIZE - 1):
            assert (await client.header_by_number(n)).hash == chain.header(n).hash
        blooms = [decode_header(chain.header(n).rlp).bloom for n in range(SIZE, 2 * SIZE)]
        vectors = rotate_blooms(blooms)
        set_bits = [b for b in range(2048) if vectors[b].any()]
        unset = [b for b in range(2048) if not vectors[b].any()]
        assert set_bits
        for bit in set_bits[:4] + unset[:2]:
            assert await client.bloom_bits(bit, 1) == vectors[bit].tobytes()
        assert client.servers[0].score > 0 and not client.dropped
    finally:
        await client.close()


@pytest.mark.parametrize("lie", [{"wrong_cht_key": True}, {"foreign_headers": True}])
async def test_light_client_drops_a_lying_les_server(
    chain: Chain, serve: Serve, lie: dict[str, object]
) -> None:
    liar: Running = await serve(**lie)
    honest: Running = await serve()
    client = light_client(chain, [liar.enode, honest.enode], 2)
    await client.start()
    try:
        client.servers[0].score = 10  # ask the liar first
        head = await client.sync()
        assert head.hash == chain.header(LENGTH - 1).hash
        assert (await client.header_by_number(7)).hash == chain.header(7).hash
        assert liar.enode in client.dropped and "does not verify" in client.dropped[liar.enode]
        assert [s.url for s in client.servers] == [honest.enode]
    finally:
        await client.close()
    only_liar = light_client(chain, [liar.enode], 3)
    await only_liar.start()
    with pytest.raises(NoServer):
        await only_liar.sync()
    await only_liar.close()


async def test_light_client_skips_a_server_whose_status_lies(chain: Chain, serve: Serve) -> None:
    wrong: Running = await serve(network=NETWORK + 7)
    honest: Running = await serve()
    client = light_client(chain, [wrong.enode, honest.enode], 4)
    await client.start()
    try:
        assert "network" in client.dropped[wrong.enode]
        assert (await client.sync()).number == LENGTH - 1
    finally:
        await client.close()
    with pytest.raises(NoServer):
        await light_client(chain, [wrong.enode], 5).start()


async def test_light_client_moves_on_from_a_server_that_does_not_answer(
    chain: Chain, serve: Serve
) -> None:
    silent = await serve(silent=True)
    honest = await serve()
    quick = LesTimeouts(handshake=3.0, request=0.3, flow_wait=1.0)
    client = LightClient(chain.checkpoint(2), SIZE, [silent.enode, honest.enode],
                         PrivateKey(b"\x06" * 32), genesis_hash=chain.genesis,
                         network_id=NETWORK, les_timeouts=quick)  # fmt: skip
    await client.start()
    try:
        client.servers[0].score = 10
        assert (await client.header_by_number(9)).hash == chain.header(9).hash
        assert [s.score for s in client.servers] == [9, 1]  # penalised, not dropped
        assert not client.dropped
    finally:
        await client.close()
    alone = LightClient(chain.checkpoint(2), SIZE, [silent.enode], PrivateKey(b"\x07" * 32),
                        genesis_hash=chain.genesis, network_id=NETWORK,
                        les_timeouts=quick)  # fmt: skip
    await alone.start()
    try:
        with pytest.raises(SourceUnavailable, match="no light server answered"):
            await alone.header_by_number(9)
        assert alone.servers[0].connection.connected
    finally:
        await alone.close()


@pytest.mark.parametrize(
    ("code", "payload", "kind"),
    [
        (MsgCode.GET_BLOCK_HEADERS, GetBlockHeaders(1, 0, 1).encode(), "ErrInvalidMsgCode"),
        (MsgCode.STATUS, b"\xc0", "ErrInvalidMsgCode"),  # a second Status
        (MsgCode.BLOCK_HEADERS, b"\xc2\x01\x02", "ErrDecode"),  # [reqID, BV] without data
    ],
)
async def test_a_message_a_client_must_not_get_ends_the_connection(
    chain: Chain, serve: Serve, code: int, payload: bytes, kind: str
) -> None:
    running = await serve()
    conn = await dial(chain, running)
    await running.script.sessions[0].send(code, payload)
    await wait_until(lambda: not conn.connected)
    assert isinstance(conn.error, LesProtocolError) and conn.error.kind == kind
    with pytest.raises(LesProtocolError):
        await conn.get_headers(0, 1)
    await wait_until(lambda: bool(running.script.ended))
    ended = running.script.ended[0]
    assert isinstance(ended, PeerDisconnected) and ended.reason == 0x10


async def test_a_server_that_sends_no_status_in_time_gets_0x0b(chain: Chain, serve: Serve) -> None:
    running = await serve(status_delay=2.0)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match=r"no Status within 0\.5 s"):
        await dial(chain, running, timeouts=LesTimeouts(handshake=0.5))
    assert time.monotonic() - started < 1.5
    await wait_until(lambda: bool(running.script.ended), 5.0)
    ended = running.script.ended[0]
    assert isinstance(ended, PeerDisconnected) and ended.reason == 0x0B
