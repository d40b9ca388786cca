"""The LES server over real sockets, driven by a hand-made LES/4 client (tests/lesclient.py):
Status, every request type, helper-trie proofs verified as a light client does, flow
control (Stop/Resume on a manual clock), pool admission and capacity updates, bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lesclient import (
    NETWORK,
    SERVER_KEY,
    SIZE,
    Setup,
    disconnect_reason,
    make_setup,
    nothing_within,
    request,
)

from lightclient.core.keccak import keccak
from lightclient.core.proofs import verify_bloom_proof, verify_cht_proof
from lightclient.core.rlpcodec import encode_bytes, encode_list
from lightclient.core.sections import bloom_trie_key, cht_key
from lightclient.errors import RlpxError
from lightclient.les.announce import Announce, capacity_update, verify_announce
from lightclient.les.codec import encode_int
from lightclient.les.codes import REQUEST_CODES, MsgCode
from lightclient.les.costs import DEFAULT_COSTS, CostTable, RequestCost
from lightclient.les.flowcontrol import FREEZE_BASE, FREEZE_CHECK, FREEZE_RANDOM
from lightclient.les.forkid import ForkId
from lightclient.les.messages import (
    BlockBodies,
    BlockHeaders,
    Code,
    CodeReq,
    GetBlockBodies,
    GetBlockHeaders,
    GetCode,
    GetHelperTrieProofs,
    GetProofsV2,
    GetReceipts,
    GetTxStatus,
    HelperTrieProofs,
    HelperTrieReq,
    ProofReq,
    ProofsV2,
    Receipts,
    Resume,
    SendTxV2,
    Stop,
    TxLookup,
    TxStatus,
    TxStatusEntry,
)
from lightclient.les.status import ChainHead, Status, client_status
from lightclient.pool.clock import ManualClock, SystemClock
from lightclient.rlpx.keys import public_key_of
from lightclient.rlpx.p2p import DisconnectReason
from lightclient.server.chaindata import TxPoolError
from lightclient.server.service import PoolConfig

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    s = await make_setup(tmp_path, SystemClock())
    yield s
    await s.close()


def value(status: Status, key: str) -> bytes:
    return status.values()[key]


# ---------------------------------------------------------------- Status


async def test_status_as_a_geth_server_sends_it(setup: Setup) -> None:
    session, status = await setup.dial()
    keys = [k for k, _ in status.entries]
    assert keys == ["protocolVersion", "networkId", "headTd", "headHash", "headNum",
                    "genesisHash", "forkID", "serveHeaders", "serveChainSince",
                    "serveStateSince", "serveRecentState", "txRelay", "recentTxLookup",
                    "flowControl/BL", "flowControl/MRR", "flowControl/MRC"]  # fmt: skip
    head = setup.head
    assert value(status, "headNum") == encode_int(head)
    assert value(status, "headHash") == encode_bytes(setup.headers[head].hash or b"")
    assert value(status, "headTd") == encode_int(setup.td(head))
    assert value(status, "genesisHash") == encode_bytes(setup.genesis)
    assert value(status, "networkId") == encode_int(NETWORK)
    assert value(status, "forkID") == setup.fork().encode()
    assert value(status, "flowControl/BL") == encode_int(96_000_000)
    assert value(status, "flowControl/MRR") == encode_int(16_000)
    assert value(status, "flowControl/MRC") == DEFAULT_COSTS.encode()
    assert value(status, "recentTxLookup") == encode_int(1)  # no tx index behind it
    assert session.remote_hello.client_id == "lightclient/v0.1.0"


async def test_status_carries_the_checkpoint_when_its_height_is_known(tmp_path: Path) -> None:
    s = await make_setup(tmp_path, SystemClock(), checkpoint_height=lambda cp: 1234)
    try:
        _session, status = await s.dial()
        latest = s.store.latest_checkpoint()
        assert latest is not None and latest.section_index == 3
        assert value(status, "checkpoint/value") == latest.rlp()
        assert value(status, "checkpoint/registerHeight") == encode_int(1234)
    finally:
        await s.close()


@pytest.mark.parametrize(
    "change",
    ["genesis", "network", "version", "fork", "no-fork"],
)
async def test_status_refusals_are_subprotocol_errors(setup: Setup, change: str) -> None:
    genesis = bytes(32) if change == "genesis" else setup.genesis
    network = 5 if change == "network" else NETWORK
    fork = ForkId(b"\xde\xad\xbe\xef", 0) if change == "fork" else setup.fork()
    head = ChainHead(4, network, genesis, fork_id=fork)
    entries = list(client_status(head).entries)
    if change == "version":
        entries[0] = ("protocolVersion", encode_int(3))
    if change == "no-fork":
        entries = [e for e in entries if e[0] != "forkID"]
    session, _ = await setup.dial(status=Status(tuple(entries)))
    assert await disconnect_reason(session) == DisconnectReason.SUBPROTOCOL_ERROR
    assert not setup.server.peers


async def test_a_server_as_client_gets_nothing_and_goes_at_its_next_message(setup: Setup) -> None:
    head = ChainHead(4, NETWORK, setup.genesis, fork_id=setup.fork())
    status = Status((*client_status(head).entries, ("flowControl/MRR", encode_int(1))))
    session, _ = await setup.dial(status=status)
    assert not setup.server.peers
    await session.send(MsgCode.GET_BLOCK_HEADERS, GetBlockHeaders(1, 0, 1).encode())
    assert await disconnect_reason(session) == DisconnectReason.QUITTING


async def test_a_request_before_the_status_is_refused(setup: Setup) -> None:
    from lesclient import LES4, client_key

    from lightclient.rlpx.session import connect

    session = await connect("127.0.0.1", setup.server.port, client_key(9),
                            public_key_of(SERVER_KEY), LES4)  # fmt: skip
    setup.sessions.append(session)
    await session.send(MsgCode.GET_BLOCK_HEADERS, GetBlockHeaders(1, 0, 1).encode())
    assert await disconnect_reason(session) == DisconnectReason.SUBPROTOCOL_ERROR


async def test_no_status_in_time_is_a_read_timeout(tmp_path: Path) -> None:
    from lesclient import LES4, client_key

    from lightclient.rlpx.session import connect
    from lightclient.server.les_server import LesServerLimits

    s = await make_setup(tmp_path, SystemClock(), limits=LesServerLimits(handshake_timeout=0.3))
    try:
        session = await connect("127.0.0.1", s.server.port, client_key(9),
                                public_key_of(SERVER_KEY), LES4)  # fmt: skip
        s.sessions.append(session)
        status = await asyncio.wait_for(session.receive(), 5)  # the server's comes anyway
        assert status.code == MsgCode.STATUS
        assert await disconnect_reason(session) == DisconnectReason.READ_TIMEOUT
    finally:
        await s.close()


# ---------------------------------------------------------------- headers


def numbers_of(reply: BlockHeaders, setup: Setup) -> list[int]:
    by_rlp = {h.rlp: h.number for h in setup.headers}
    return [by_rlp[h] for h in reply.headers]


async def test_headers_by_number_and_hash_as_handler_test_expects(setup: Setup) -> None:
    session, _ = await setup.dial()
    h = setup.head
    cases: list[tuple[GetBlockHeaders, list[int]]] = [
        (GetBlockHeaders(1, h - 4, 3, 3, False), [h - 4, h]),
        (GetBlockHeaders(2, 4, 3, 3, True), [4, 0]),
        (GetBlockHeaders(3, h - 4, 3, 2, False), [h - 4, h - 1]),
        (GetBlockHeaders(4, h + 1, 1), []),
        (GetBlockHeaders(5, b"\x99" * 32, 1), []),
        (GetBlockHeaders(6, 0, 10), list(range(10))),
        (GetBlockHeaders(7, 10, 5, 0, True), [10, 9, 8, 7, 6]),
        (GetBlockHeaders(8, setup.headers[20].hash or b"", 3, 1, False), [20, 22, 24]),
        (GetBlockHeaders(9, setup.headers[20].hash or b"", 3, 9, True), [20, 10, 0]),
        (GetBlockHeaders(10, h - 1, 192), [h - 1, h]),
        (GetBlockHeaders(11, 2, 5, 2**64 - 1, False), [2]),
    ]
    for query, expected in cases:
        reply = await request(session, query)
        assert isinstance(reply, BlockHeaders) and reply.req_id == query.req_id
        assert numbers_of(reply, setup) == expected, query
        assert 0 < reply.bv <= 96_000_000


async def test_count_zero_or_over_the_limit_is_dropped_silently(setup: Setup) -> None:
    session, _ = await setup.dial()
    for query in (GetBlockHeaders(1, 0, 0), GetBlockHeaders(2, 0, 193),
                  GetBlockBodies(3, ()), GetTxStatus(4, (b"\x01" * 32,) * 257)):  # fmt: skip
        await session.send(query.CODE, query.encode())
    await nothing_within(session)
    reply = await request(session, GetBlockHeaders(5, 0, 1))
    assert isinstance(reply, BlockHeaders) and reply.req_id == 5
    assert setup.server.errors.count(node(1)) == 0


def node(key_byte: int) -> bytes:
    from lesclient import client_key

    return keccak(public_key_of(client_key(key_byte)))


# ---------------------------------------------------------------- helper tries


async def test_cht_proof_with_aux_header_verifies(setup: Setup) -> None:
    session, _ = await setup.dial()
    checkpoint = setup.store.checkpoint(2)
    assert checkpoint is not None
    for number in (0, 40, 3 * SIZE - 1):
        query = GetHelperTrieProofs(number, (HelperTrieReq(0, 2, cht_key(number), 0, 2),))
        reply = await request(session, query)
        assert isinstance(reply, HelperTrieProofs) and len(reply.aux_data) == 1
        proved = verify_cht_proof(checkpoint.cht_root, number, reply.nodes, reply.aux_data[0])
        assert proved.header.rlp == setup.headers[number].rlp
        assert proved.td == setup.td(number)


async def test_cht_aux_rules_and_missing_tries(setup: Setup) -> None:
    session, _ = await setup.dial()
    # auxReq 1 (deprecated) and 0: nodes, no aux item; a missing header is a nil header.
    reqs = (HelperTrieReq(0, 1, cht_key(5), 0, 1), HelperTrieReq(0, 1, cht_key(6), 0, 0),
            HelperTrieReq(0, 1, cht_key(10**6), 0, 2))  # fmt: skip
    reply = await request(session, GetHelperTrieProofs(1, reqs))
    assert isinstance(reply, HelperTrieProofs) and reply.aux_data == (b"\xc0",)
    assert reply.nodes
    # A trie the server does not have, or an unknown type: no reply at all.
    for kind, index in ((0, 99), (1, 99), (7, 0)):
        query = GetHelperTrieProofs(2, (HelperTrieReq(kind, index, cht_key(1), 0, 2),))
        await session.send(query.CODE, query.encode())
        await nothing_within(session, 0.2)
    # fromLevel leaves the nodes nearest the root out.
    full = await request(session, GetHelperTrieProofs(3, (HelperTrieReq(0, 1, cht_key(5)),)))
    cut = await request(session, GetHelperTrieProofs(4, (HelperTrieReq(0, 1, cht_key(5), 1),)))
    assert cut.nodes == full.nodes[1:]


async def test_bloom_trie_proof_verifies(setup: Setup) -> None:
    from lightclient.core.bloombits import rotate_blooms
    from lightclient.core.header import decode_header

    session, _ = await setup.dial()
    checkpoint = setup.store.checkpoint(3)
    assert checkpoint is not None
    section = 1
    blooms = [
        decode_header(h.rlp).bloom for h in setup.headers[section * SIZE : (section + 1) * SIZE]
    ]
    vectors = rotate_blooms(blooms)
    set_bits = [b for b in range(2048) if vectors[b].any()]
    bits = [*set_bits[:2], next(b for b in range(2048) if not vectors[b].any())]
    reqs = tuple(HelperTrieReq(1, 3, bloom_trie_key(bit, section)) for bit in bits)
    reply = await request(session, GetHelperTrieProofs(1, reqs))
    assert isinstance(reply, HelperTrieProofs) and reply.aux_data == ()
    for bit in bits:
        key = bloom_trie_key(bit, section)
        one = await request(session, GetHelperTrieProofs(2, (HelperTrieReq(1, 3, key),)))
        got = verify_bloom_proof(checkpoint.bloom_root, bit, section, one.nodes, SIZE)
        assert got == bytes(vectors[bit])


# ---------------------------------------------------------------- chain data


class FakeChain:
    """A ChainData with one known block (hash 0x11..), one account and one transaction."""

    BLOCK = b"\x11" * 32
    ACCOUNT = keccak(b"\x00" * 20)
    KNOWN_TX = b"\x33" * 32

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def body_rlp(self, block_hash: bytes) -> bytes | None:
        return encode_list([encode_list([]), encode_list([])]) if block_hash == self.BLOCK else None

    async def receipts_rlp(self, block_hash: bytes) -> bytes | None:
        return encode_list([encode_bytes(b"\x02" + b"\xc0")]) if block_hash == self.BLOCK else None

    async def code(self, block_hash: bytes, account_key: bytes) -> bytes | None:
        ok = block_hash == self.BLOCK and account_key == self.ACCOUNT
        return b"\x60\x00" if ok else None

    async def proof_nodes(self, block_hash: bytes, account_key: bytes,
                          key: bytes) -> list[bytes] | None:  # fmt: skip
        if block_hash != self.BLOCK:
            return None
        return [encode_list([encode_bytes(b"\x20" + key[:4]), encode_bytes(b"v")]),
                encode_list([encode_bytes(b"\x30"), encode_bytes(account_key[:2])])]  # fmt: skip

    async def send_raw_tx(self, tx: bytes) -> None:
        if tx.startswith(b"\x02"):
            raise TxPoolError("transaction underpriced")
        self.sent.append(tx)

    async def tx_status(self, tx_hash: bytes) -> TxStatusEntry:
        if tx_hash == self.KNOWN_TX:
            return TxStatusEntry(3, TxLookup(self.BLOCK, 7, 0))
        if any(keccak(t) == tx_hash for t in self.sent):
            return TxStatusEntry(2)
        return TxStatusEntry(0)


async def test_without_chain_data_everything_is_unknown(setup: Setup) -> None:
    session, _ = await setup.dial()
    block = setup.headers[3].hash or b""
    bodies = await request(session, GetBlockBodies(1, (block, block)))
    assert isinstance(bodies, BlockBodies) and bodies.bodies == ()
    receipts = await request(session, GetReceipts(2, (block,)))
    assert isinstance(receipts, Receipts) and receipts.receipts == ()
    code = await request(session, GetCode(3, (CodeReq(block, b"\x01" * 32),)))
    assert isinstance(code, Code) and code.codes == ()
    proofs = await request(session, GetProofsV2(4, (ProofReq(block, b"", b"\x01" * 32),)))
    assert isinstance(proofs, ProofsV2) and proofs.nodes == ()
    status = await request(session, GetTxStatus(5, (b"\x01" * 32, b"\x02" * 32)))
    assert isinstance(status, TxStatus) and status.statuses == (TxStatusEntry(0),) * 2
    assert status.encode().endswith(bytes.fromhex("c380c080c380c080"))
    legacy = encode_list([encode_int(0)] * 9)
    sent = await request(session, SendTxV2(6, (legacy,)))
    assert isinstance(sent, TxStatus) and sent.statuses[0].status == 0
    assert "not available" in sent.statuses[0].error
    assert setup.server.errors.count(node(1)) == 5  # two bodies, receipts, code, proof


async def test_chain_data_is_served_as_geth_does(tmp_path: Path) -> None:
    chain = FakeChain()
    s = await make_setup(tmp_path, SystemClock(), chain_data=chain)
    try:
        session, _ = await s.dial()
        known, unknown = FakeChain.BLOCK, b"\x99" * 32
        bodies = await request(session, GetBlockBodies(1, (unknown, known, unknown)))
        assert isinstance(bodies, BlockBodies) and bodies.bodies == (b"\xc2\xc0\xc0",)
        receipts = await request(session, GetReceipts(2, (known,)))
        assert isinstance(receipts, Receipts) and receipts.receipts == ((b"\x82\x02\xc0",),)
        code = await request(session, GetCode(3, (CodeReq(known, FakeChain.ACCOUNT),
                                                   CodeReq(known, b"\x05" * 32))))  # fmt: skip
        assert isinstance(code, Code) and code.codes == (b"\x60\x00",)
        reqs = (ProofReq(known, b"", b"\xaa" * 32), ProofReq(known, b"", b"\xaa" * 32),
                ProofReq(known, b"\x01" * 32, b"\xbb" * 32, 1))  # fmt: skip
        proofs = await request(session, GetProofsV2(4, reqs))
        assert isinstance(proofs, ProofsV2)
        first = await chain.proof_nodes(known, b"", b"\xaa" * 32)
        storage = await chain.proof_nodes(known, b"\x01" * 32, b"\xbb" * 32)
        assert first is not None and storage is not None
        assert proofs.nodes == (*first, storage[1])  # one de-duplicated set, fromLevel 1
        legacy = encode_list([encode_int(1)] * 9)
        typed = encode_bytes(b"\x02" + encode_list([encode_int(1)] * 12))
        sent = await request(session, SendTxV2(5, (legacy, typed)))
        assert isinstance(sent, TxStatus)
        assert sent.statuses == (
            TxStatusEntry(2),
            TxStatusEntry(0, None, "transaction underpriced"),
        )
        assert chain.sent == [legacy]
        status = await request(session, GetTxStatus(6, (FakeChain.KNOWN_TX, keccak(legacy))))
        assert isinstance(status, TxStatus)
        assert status.statuses == (TxStatusEntry(3, TxLookup(known, 7, 0)), TxStatusEntry(2))
        assert s.server.errors.count(node(1)) == 3  # two unknown bodies, one unknown account
    finally:
        await s.close()


# ---------------------------------------------------------------- flow control


async def test_stop_and_resume_when_pushed_over_the_buffer(tmp_path: Path) -> None:
    import random

    clock = ManualClock(10**12)
    costs = CostTable({int(code): RequestCost(600_000, 0) for code in REQUEST_CODES})
    s = await make_setup(tmp_path, clock, pool=PoolConfig(min_cap=1000, max_capacity=10**9),
                         costs=costs, charge_max_cost=True, rng=random.Random(7))  # fmt: skip
    try:
        session, status = await s.dial()
        assert value(status, "flowControl/BL") == encode_int(6_000_000)
        assert value(status, "flowControl/MRR") == encode_int(1000)
        for i in range(10):  # BV 5.4e6, 4.8e6, ..., 0
            reply = await request(session, GetBlockHeaders(i, 0, 1))
            assert isinstance(reply, BlockHeaders) and reply.bv == 6_000_000 - 600_000 * (i + 1)
        stop = await request(session, GetBlockHeaders(10, 0, 1))
        assert isinstance(stop, Stop)
        await session.send(MsgCode.GET_BLOCK_HEADERS, GetBlockHeaders(11, 0, 1).encode())
        await nothing_within(session, 0.2)  # frozen: no reply
        delay = FREEZE_BASE + random.Random(7).randrange(FREEZE_RANDOM)
        elapsed = delay
        clock.run(delay)
        while 1000 * elapsed // 1_000_000 <= 6_000_000 // 8:
            await nothing_within(session, 0.05)
            clock.run(FREEZE_CHECK)
            elapsed += FREEZE_CHECK
        resume = decode_message_of(await asyncio.wait_for(session.receive(), 5))
        assert resume == Resume(1000 * elapsed // 1_000_000)
        reply = await request(session, GetBlockHeaders(12, 0, 1))
        assert isinstance(reply, BlockHeaders) and reply.bv == resume.bv - 600_000
    finally:
        await s.close()


def decode_message_of(message: object) -> object:
    from lightclient.les.messages import decode_message

    return decode_message(message.code, message.payload)  # type: ignore[attr-defined]


async def test_a_request_over_the_buffer_limit_always_freezes(setup: Setup) -> None:
    session, _ = await setup.dial()
    reqs = tuple(HelperTrieReq(0, 0, cht_key(i)) for i in range(64))  # 128e6 > BL
    stop = await request(session, GetHelperTrieProofs(1, reqs))
    assert isinstance(stop, Stop)


# ---------------------------------------------------------------- pool


async def test_a_full_pool_refuses_a_free_client_with_requested(tmp_path: Path) -> None:
    s = await make_setup(tmp_path, SystemClock(),
                         pool=PoolConfig(max_count=1, max_capacity=16_000))  # fmt: skip
    try:
        first, _ = await s.dial(1)
        reply = await request(first, GetBlockHeaders(1, 0, 1))
        assert isinstance(reply, BlockHeaders)
        second, _ = await s.dial(2)
        assert await disconnect_reason(second) == DisconnectReason.REQUESTED
        assert list(s.server.peers) == [node(1)]
        assert node(2) not in s.service.pool.entries
    finally:
        await s.close()


async def test_capacity_changes_reach_the_client_as_an_announce(setup: Setup) -> None:
    from lightclient.core.nodeid import format_node_id

    setup.service.add_balance(format_node_id(node(1)), 10**15)
    session, _ = await setup.dial(1)
    setup.service.set_client_params([format_node_id(node(1))], {"capacity": 32_000})
    update = await asyncio.wait_for(session.receive(), 5)
    assert update.code == MsgCode.ANNOUNCE
    assert update.payload == bytes.fromhex(
        "f84ea00000000000000000000000000000000000000000000000000000000000000000808080e9d38f"
        "666c6f77436f6e74726f6c2f4d5252827d00d48e666c6f77436f6e74726f6c2f424c840b71b000"
    )
    assert update.payload == capacity_update(32_000).encode()
    peer = setup.server.peers[node(1)]
    assert peer.buffer.params.buf_limit == 32_000 * 6000


# ---------------------------------------------------------------- announcements


async def test_head_announcements_simple_and_signed(tmp_path: Path) -> None:
    s = await make_setup(tmp_path, SystemClock(), length=4 * SIZE + 20, visible=4 * SIZE + 10)
    try:
        simple, _ = await s.dial(1, announce_type=1)
        signed, _ = await s.dial(2, announce_type=2)
        silent, _ = await s.dial(3, announce_type=0)
        await s.server.announce_head()  # nothing new: the Status head counts as told
        await nothing_within(simple, 0.1)
        s.source.visible += 3
        await s.server.announce_head()
        head = s.head
        expected = Announce(s.headers[head].hash or b"", head, s.td(head), 0)
        got = Announce.decode((await asyncio.wait_for(simple.receive(), 5)).payload)
        assert got == expected
        sig = Announce.decode((await asyncio.wait_for(signed.receive(), 5)).payload)
        assert (sig.head_hash, sig.head_number, sig.head_td) == (
            expected.head_hash,
            head,
            s.td(head),
        )
        verify_announce(sig, keccak(public_key_of(SERVER_KEY)))
        await nothing_within(silent, 0.1)
        await s.server.announce_head()  # the same head again: not announced twice
        await nothing_within(simple, 0.1)
    finally:
        await s.close()


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("code", "payload"),
    [
        (MsgCode.STATUS, b"\xc0"),  # a second Status
        (MsgCode.ANNOUNCE, b"\xc0"),  # server-to-client messages
        (MsgCode.BLOCK_HEADERS, bytes.fromhex("c7078405b8d800c0")),
        (MsgCode.STOP, b"\xc0"),
        (0x08, b"\xc0"),  # les/1 GetProofs
        (MsgCode.GET_BLOCK_HEADERS, b"\xc3\x01\xc0\x01"),  # undecodable
        (MsgCode.GET_BLOCK_HEADERS, b"\xff"),
        (MsgCode.GET_HELPER_TRIE_PROOFS, b"\xc4\x01\xc2\xc1\x80"),
    ],
)
async def test_bad_input_is_a_subprotocol_error_and_counted(
    setup: Setup, code: int, payload: bytes
) -> None:
    session, _ = await setup.dial()
    await session.send(code, payload)
    assert await disconnect_reason(session) == DisconnectReason.SUBPROTOCOL_ERROR
    assert setup.server.errors.count(node(1)) == 1


async def test_a_message_over_10_mib_is_a_subprotocol_error(setup: Setup) -> None:
    session, _ = await setup.dial()
    huge = GetBlockBodies(1, (b"\x01" * 32,) * (10 * 1024 * 1024 // 33 + 10)).encode()
    await session.send(MsgCode.GET_BLOCK_BODIES, huge)
    assert await disconnect_reason(session, 20) == DisconnectReason.SUBPROTOCOL_ERROR


async def test_too_many_invalid_requests_drop_and_then_refuse_the_node(setup: Setup) -> None:
    session, _ = await setup.dial()
    unknown = (b"\x77" * 32,) * 7
    for i in range(3):  # 21 unknown bodies: over the limit of 20
        reply = await request(session, GetBlockBodies(i, unknown))
        assert isinstance(reply, BlockBodies)
    assert await disconnect_reason(session) == DisconnectReason.SUBPROTOCOL_ERROR
    again, _ = await setup.dial()
    assert await disconnect_reason(again) == DisconnectReason.SUBPROTOCOL_ERROR
    other, _ = await setup.dial(2)  # another node is not affected
    assert isinstance(await request(other, GetBlockHeaders(1, 0, 1)), BlockHeaders)


async def test_the_same_node_twice_is_refused(setup: Setup) -> None:
    first, _ = await setup.dial(1)
    second, _ = await setup.dial(1)
    assert await disconnect_reason(second) == DisconnectReason.SUBPROTOCOL_ERROR
    assert isinstance(await request(first, GetBlockHeaders(1, 0, 1)), BlockHeaders)


async def test_stop_ends_sessions_with_quitting(setup: Setup) -> None:
    session, _ = await setup.dial()
    await setup.server.stop()
    assert await disconnect_reason(session) == DisconnectReason.QUITTING


async def test_remote_address_of_a_session(setup: Setup) -> None:
    session, _ = await setup.dial()
    address = session.remote_address
    assert address is not None and address == ("127.0.0.1", setup.server.port)
    assert setup.server.peers[node(1)].free_id == node(1).hex()  # loopback: by node ID


async def test_les3_is_refused_before_any_status_by_default(setup: Setup) -> None:
    from lesclient import client_key

    from lightclient.rlpx.p2p import Protocol
    from lightclient.rlpx.session import SessionConfig, connect

    les3 = SessionConfig(protocols=(Protocol("les", 3, 24),))
    session = await connect("127.0.0.1", setup.server.port, client_key(4),
                            public_key_of(SERVER_KEY), les3)  # fmt: skip
    setup.sessions.append(session)
    assert await disconnect_reason(session) == DisconnectReason.SUBPROTOCOL_ERROR


async def test_les3_is_served_with_an_unlimited_tx_index(tmp_path: Path) -> None:
    from lightclient.rlpx.p2p import Protocol
    from lightclient.rlpx.session import SessionConfig

    s = await make_setup(tmp_path, SystemClock(), recent_tx_lookup=0)
    try:
        head = ChainHead(3, NETWORK, s.genesis)
        les3 = SessionConfig(protocols=(Protocol("les", 3, 24),))
        session, status = await s.dial(5, status=client_status(head), config=les3)
        assert "forkID" not in status.values() and "recentTxLookup" not in status.values()
        assert value(status, "protocolVersion") == encode_int(3)
        assert isinstance(await request(session, GetBlockHeaders(1, 0, 1)), BlockHeaders)
    finally:
        await s.close()


async def test_stop_also_ends_sessions_still_in_the_status_exchange(setup: Setup) -> None:
    from lesclient import LES4, client_key

    from lightclient.rlpx.session import connect

    session = await connect("127.0.0.1", setup.server.port, client_key(6),
                            public_key_of(SERVER_KEY), LES4)  # fmt: skip
    setup.sessions.append(session)
    assert (await asyncio.wait_for(session.receive(), 5)).code == MsgCode.STATUS
    await setup.server.stop()
    assert await disconnect_reason(session, 2) == DisconnectReason.QUITTING


async def test_a_failing_node_leaves_a_request_unanswered_not_the_client_dropped(
    setup: Setup,
) -> None:
    session, _ = await setup.dial()
    setup.source.failing = True
    await session.send(MsgCode.GET_BLOCK_HEADERS, GetBlockHeaders(1, 0, 1).encode())
    await nothing_within(session, 0.3)
    setup.source.failing = False
    reply = await request(session, GetBlockHeaders(2, 0, 1))
    assert isinstance(reply, BlockHeaders) and reply.req_id == 2
    assert setup.server.errors.count(node(1)) == 0


async def test_an_evicted_free_client_gets_capacity_zero_and_requested(tmp_path: Path) -> None:
    from lightclient.core.nodeid import format_node_id

    s = await make_setup(tmp_path, SystemClock(),
                         pool=PoolConfig(max_count=1, max_capacity=16_000))  # fmt: skip
    try:
        free, _ = await s.dial(1)
        s.service.add_balance(format_node_id(node(2)), 10**15)
        priority, _ = await s.dial(2)
        messages = []
        try:
            while True:
                messages.append(await asyncio.wait_for(free.receive(), 5))
        except RlpxError as exc:  # the session ended
            reason = exc.reason
        assert reason == DisconnectReason.REQUESTED
        for message in messages:  # the MRR 0 / BL 0 update, if it was flushed in time
            assert message.code == MsgCode.ANNOUNCE
            assert message.payload == capacity_update(0).encode()
        assert isinstance(await request(priority, GetBlockHeaders(1, 0, 1)), BlockHeaders)
        assert list(s.server.peers) == [node(2)]
    finally:
        await s.close()


async def test_costs_are_scaled_to_fit_a_small_minimum_capacity(tmp_path: Path) -> None:
    from lightclient.les.costs import MIN_BUFFER_REQ_AMOUNT

    s = await make_setup(tmp_path, SystemClock(), pool=PoolConfig(min_cap=1000))
    try:
        _session, status = await s.dial()
        costs = CostTable.decode(value(status, "flowControl/MRC"), 24)
        assert costs == s.server.costs and costs.covers_all_requests()
        for code, amount in MIN_BUFFER_REQ_AMOUNT.items():
            assert costs.max_cost(code, amount) <= 6_000_000 // 3
    finally:
        await s.close()
