"""RLPx sessions over real 127.0.0.1 sockets: two of ours, and a hand-driven peer misbehaving."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import coincurve
import pytest

from lightclient.core.keccak import keccak
from lightclient.errors import PeerDisconnected, RlpxError
from lightclient.rlpx import snappy
from lightclient.rlpx.frame import HEADER_SIZE, FrameCodec
from lightclient.rlpx.handshake import Initiator
from lightclient.rlpx.keys import public_key_of
from lightclient.rlpx.p2p import (
    Capability,
    DisconnectReason,
    Hello,
    Protocol,
    ProtocolSlot,
    decode_disconnect,
    encode_disconnect,
)
from lightclient.rlpx.session import Session, SessionConfig, connect, listen

LES4 = Protocol("les", 4, 24)
CONFIG = SessionConfig(protocols=(LES4,), handshake_timeout=2, read_timeout=2)
SERVER_KEY = coincurve.PrivateKey()
SERVER_PUB = public_key_of(SERVER_KEY)

Handler = Callable[[Session], Awaitable[None]]


class Server:
    """One of our listeners on an ephemeral port, collecting what went wrong."""

    def __init__(self) -> None:
        self.errors: list[RlpxError] = []
        self.sessions: list[Session] = []
        self.failed = asyncio.Event()
        self.accepted = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.peers: list[RawPeer] = []
        self.clients: list[Session] = []

    def on_error(self, exc: RlpxError) -> None:
        self.errors.append(exc)
        self.failed.set()

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def first_error(self) -> RlpxError:
        await asyncio.wait_for(self.failed.wait(), 5)
        return self.errors[0]

    async def session(self) -> Session:
        """The server side of the first connection, once its Hello exchange is done."""
        await asyncio.wait_for(self.accepted.wait(), 5)
        return self.sessions[0]

    async def dial(self) -> RawPeer:
        peer = await RawPeer.dial(self.port)
        self.peers.append(peer)
        return peer

    async def connect(self, config: SessionConfig = CONFIG) -> Session:
        client = await connect("127.0.0.1", self.port, coincurve.PrivateKey(), SERVER_PUB, config)
        self.clients.append(client)
        return client


@contextlib.asynccontextmanager
async def serving(handler: Handler, config: SessionConfig = CONFIG) -> AsyncIterator[Server]:
    srv = Server()
    loop_errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, ctx: loop_errors.append(ctx))

    async def keep(session: Session) -> None:
        srv.sessions.append(session)
        srv.accepted.set()
        await handler(session)

    srv.server = await listen("127.0.0.1", 0, SERVER_KEY, keep, config, on_error=srv.on_error)
    try:
        yield srv
    finally:
        srv.server.close()
        for session in srv.sessions + srv.clients:
            await session.close()
        for peer in srv.peers:
            peer.close()
        await srv.server.wait_closed()
        await asyncio.sleep(0.01)
        assert loop_errors == []  # no task died with an unhandled exception


async def echo(session: Session) -> None:
    with contextlib.suppress(RlpxError):
        while True:
            message = await session.receive()
            await session.send(message.code, message.payload)


class RawPeer:
    """A peer driven by hand: our sans-IO pieces on a bare socket, free to misbehave."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.key = coincurve.PrivateKey()
        self.codec: FrameCodec | None = None
        self.snappy = False

    @classmethod
    async def dial(cls, port: int) -> RawPeer:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def handshake(self) -> None:
        initiator = Initiator(self.key, SERVER_PUB)
        self.writer.write(initiator.auth_packet())
        prefix = await self.reader.readexactly(2)
        ack = prefix + await self.reader.readexactly(int.from_bytes(prefix, "big"))
        self.codec = FrameCodec(initiator.complete(ack))

    async def send(self, code: int, payload: bytes) -> None:
        assert self.codec is not None
        self.writer.write(
            self.codec.encode(code, snappy.compress(payload) if self.snappy else payload)
        )
        await self.writer.drain()

    async def read(self) -> tuple[int, bytes]:
        assert self.codec is not None
        need = self.codec.decode_header(await self.reader.readexactly(HEADER_SIZE))
        return self.codec.decode_body(await self.reader.readexactly(need))

    async def hello(self, version: int = 5) -> Hello:
        """Exchange Hellos; Snappy on afterwards if we said version 5 (the server always does)."""
        caps = (Capability("les", 4),)
        await self.send(0, Hello(version, "raw", caps, 0, public_key_of(self.key)).encode())
        code, payload = await self.read()
        assert code == 0
        self.snappy = version >= 5
        return Hello.decode(payload)

    async def closed(self) -> bool:
        """True once the other side has closed the TCP connection."""
        try:
            return await asyncio.wait_for(self.reader.read(65536), 5) == b"" or await self.closed()
        except ConnectionError:
            return True

    def close(self) -> None:
        self.writer.close()


async def test_two_sessions_hello_ping_message_disconnect() -> None:
    client_key = coincurve.PrivateKey()
    async with serving(echo) as srv:
        client = await connect("127.0.0.1", srv.port, client_key, SERVER_PUB, CONFIG)
        srv.clients.append(client)
        assert client.remote_node_id == keccak(SERVER_PUB)
        assert client.protocols == (ProtocolSlot("les", 4, 0x10, 24),)
        assert client.snappy and client.remote_hello.version == 5
        assert client.remote_hello.client_id == CONFIG.client_id
        assert await client.ping() >= 0
        await client.send(3, b"\xc3\x01\x02\x03")
        reply = await asyncio.wait_for(client.receive(), 5)
        assert (reply.protocol, reply.version, reply.code, reply.payload) == (
            "les",
            4,
            3,
            b"\xc3\x01\x02\x03",
        )
        server_side = await srv.session()
        assert server_side.remote_pubkey == public_key_of(client_key)
        await client.disconnect(DisconnectReason.TOO_MANY_PEERS)
        with pytest.raises(PeerDisconnected) as info:
            await asyncio.wait_for(server_side.receive(), 5)
        assert info.value.reason == DisconnectReason.TOO_MANY_PEERS
        with pytest.raises(RlpxError, match="disconnected by us"):
            await client.receive()


async def test_messages_are_snappy_compressed_on_the_wire() -> None:
    # 1 MiB of zeros through 64 KiB frames: only passes if the payload really is compressed
    small = SessionConfig(protocols=(LES4,), max_frame_size=1 << 16, read_timeout=5)
    async with serving(echo, small) as srv:
        client = await srv.connect(small)
        await client.send(1, bytes(1 << 20))
        assert (await asyncio.wait_for(client.receive(), 5)).payload == bytes(1 << 20)
        await client.disconnect()


async def test_automatic_ping_is_answered() -> None:
    fast = SessionConfig(protocols=(LES4,), ping_interval=0.01)
    async with serving(echo, fast) as srv:
        peer = await srv.dial()
        await peer.handshake()
        await peer.hello()
        code, payload = await asyncio.wait_for(peer.read(), 5)
        assert (code, snappy.decompress(payload)) == (0x02, b"\xc0")  # the server pings us
        await peer.send(0x02, b"\xc0")
        while (code := (await asyncio.wait_for(peer.read(), 5))[0]) == 0x02:
            pass
        assert code == 0x03  # and answers our Ping with a Pong
        peer.close()


async def test_bad_mac_after_hello_drops_without_disconnect() -> None:
    async with serving(echo) as srv:
        peer = await srv.dial()
        await peer.handshake()
        await peer.hello()
        assert peer.codec is not None
        wire = bytearray(peer.codec.encode(0x10, snappy.compress(b"\xc0")))
        wire[-1] ^= 1
        peer.writer.write(bytes(wire))
        with pytest.raises(RlpxError, match="bad frame MAC") as info:
            await asyncio.wait_for((await srv.session()).receive(), 5)
        assert info.value.reason == DisconnectReason.NETWORK_ERROR
        assert await peer.closed()


async def test_bad_header_mac_during_hello() -> None:
    async with serving(echo) as srv:
        peer = await srv.dial()
        await peer.handshake()
        peer.writer.write(bytes(32))
        error = await srv.first_error()
        assert "bad header MAC" in str(error) and error.reason == DisconnectReason.NETWORK_ERROR
        assert srv.sessions == []


async def test_oversize_frame_is_refused_from_its_header() -> None:
    small = SessionConfig(protocols=(LES4,), max_frame_size=1024)
    async with serving(echo, small) as srv:
        peer = await srv.dial()
        await peer.handshake()
        await peer.hello()
        assert peer.codec is not None
        peer.writer.write(peer.codec.encode(0x10, bytes(2000))[:HEADER_SIZE])  # header only
        with pytest.raises(RlpxError, match="frame size 2001 above the limit 1024"):
            await asyncio.wait_for((await srv.session()).receive(), 5)


async def test_snappy_bomb_is_refused_before_decompressing() -> None:
    async with serving(echo) as srv:
        peer = await srv.dial()
        await peer.handshake()
        await peer.hello()
        assert peer.codec is not None
        peer.writer.write(peer.codec.encode(0x10, bytes.fromhex("80808080080000")))  # 2^31
        with pytest.raises(RlpxError, match="above the limit"):
            await asyncio.wait_for((await srv.session()).receive(), 5)


async def test_unknown_code_after_hello() -> None:
    async with serving(echo) as srv:
        peer = await srv.dial()
        await peer.handshake()
        await peer.hello()
        await peer.send(0x10 + 24, b"\xc0")  # one past les/4's 24 codes
        with pytest.raises(RlpxError, match="0x28 out of range") as info:
            await asyncio.wait_for((await srv.session()).receive(), 5)
        assert info.value.reason == DisconnectReason.NETWORK_ERROR


async def test_reserved_base_codes_are_ignored() -> None:
    async with serving(echo) as srv:
        peer = await srv.dial()
        await peer.handshake()
        await peer.hello()
        await peer.send(0x0F, b"\xc0")
        await peer.send(0x10, b"\xc1\x07")
        code, payload = await asyncio.wait_for(peer.read(), 5)
        assert (code, snappy.decompress(payload)) == (0x10, b"\xc1\x07")
        peer.close()


@pytest.mark.parametrize(
    "garbage",
    [b"\x01\x00" + bytes(range(256)), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"],
    ids=["bad-ecies", "http"],
)
async def test_garbage_before_the_handshake(garbage: bytes) -> None:
    quick = SessionConfig(protocols=(LES4,), handshake_timeout=0.2)
    async with serving(echo, quick) as srv:
        peer = await srv.dial()
        peer.writer.write(garbage)
        error = await srv.first_error()
        assert error.reason == DisconnectReason.NETWORK_ERROR
        assert "ecies" in str(error) or "timed out" in str(error)
        assert await peer.closed()


async def test_too_slow_handshake_on_both_sides() -> None:
    quick = SessionConfig(protocols=(LES4,), handshake_timeout=0.1)
    async with serving(echo, quick) as srv:
        peer = await srv.dial()  # connects, then says nothing
        assert "handshake timed out after 0.1 s" in str(await srv.first_error())
        assert await peer.closed()

    writers: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with pytest.raises(RlpxError, match="handshake timed out"):
        await connect("127.0.0.1", port, coincurve.PrivateKey(), SERVER_PUB, quick)
    for writer in writers:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_read_timeout_ends_a_silent_session() -> None:
    patient = SessionConfig(protocols=(LES4,), read_timeout=0.1, ping_interval=60)
    async with serving(echo, patient) as srv:
        peer = await srv.dial()
        await peer.handshake()
        await peer.hello()
        with pytest.raises(RlpxError, match="read timeout"):
            await asyncio.wait_for((await srv.session()).receive(), 5)
        peer.close()


async def test_hello_with_another_identity_gets_disconnect_0x09() -> None:
    async with serving(echo) as srv:
        peer = await srv.dial()
        await peer.handshake()
        await peer.send(0, Hello(5, "liar", (Capability("les", 4),), 0, SERVER_PUB).encode())
        assert (await peer.read())[0] == 0  # the server's Hello, sent at the same time
        code, payload = await peer.read()
        assert code == 1
        assert decode_disconnect(payload, compressed=False) == 0x09  # uncompressed, as geth
        assert (await srv.first_error()).reason == DisconnectReason.UNEXPECTED_IDENTITY


async def test_hello_with_zero_node_id_gets_disconnect_0x07() -> None:
    async with serving(echo) as srv:
        peer = await srv.dial()
        await peer.handshake()
        await peer.send(0, Hello(5, "zero", (Capability("les", 4),), 0, bytes(64)).encode())
        await peer.read()
        code, payload = await peer.read()
        assert (code, decode_disconnect(payload, compressed=False)) == (1, 0x07)


async def test_no_shared_capability_is_useless_peer() -> None:
    les3 = SessionConfig(protocols=(Protocol("les", 3, 24),))
    async with serving(echo) as srv:
        with pytest.raises(RlpxError) as info:
            await srv.connect(les3)
        assert info.value.reason == DisconnectReason.USELESS_PEER
        assert (await srv.first_error()).reason == DisconnectReason.USELESS_PEER


async def test_disconnect_instead_of_hello_is_echoed() -> None:
    async with serving(echo) as srv:
        peer = await srv.dial()
        await peer.handshake()
        await peer.send(1, encode_disconnect(DisconnectReason.TOO_MANY_PEERS))
        assert (await peer.read())[0] == 0
        code, payload = await peer.read()
        assert (code, decode_disconnect(payload, compressed=False)) == (1, 4)
        error = await srv.first_error()
        assert isinstance(error, PeerDisconnected) and error.reason == 4


async def test_ethereumjs_bare_integer_disconnect_after_hello() -> None:
    # spec §8.1 #3: ethereumjs sends a bare uint, uncompressed even with Snappy on
    async with serving(echo) as srv:
        peer = await srv.dial()
        await peer.handshake()
        await peer.hello()
        assert peer.codec is not None
        peer.writer.write(peer.codec.encode(1, b"\x0b"))
        with pytest.raises(PeerDisconnected) as info:
            await asyncio.wait_for((await srv.session()).receive(), 5)
        assert info.value.reason == DisconnectReason.READ_TIMEOUT


async def test_connect_refused_is_an_rlpx_error(caplog: pytest.LogCaptureFixture) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with caplog.at_level(logging.DEBUG), pytest.raises(RlpxError, match="cannot connect"):
        await connect("127.0.0.1", port, coincurve.PrivateKey(), SERVER_PUB, CONFIG)


async def test_send_checks_code_range_and_protocol() -> None:
    async with serving(echo) as srv:
        client = await srv.connect()
        with pytest.raises(RlpxError, match="out of range"):
            await client.send(24, b"\xc0")
        with pytest.raises(RlpxError, match="eth not negotiated"):
            await client.send(0, b"\xc0", protocol="eth")
        await client.close()
        with pytest.raises(RlpxError, match="closed by us"):
            await client.send(0, b"\xc0")


async def test_handler_errors_become_disconnect_reasons() -> None:
    async def broken(session: Session) -> None:
        await session.receive()
        raise KeyError("a bug in the sub-protocol")

    async with serving(broken) as srv:
        client = await srv.connect()
        await client.send(0, b"\xc0")
        with pytest.raises(PeerDisconnected) as info:
            await asyncio.wait_for(client.receive(), 5)
        assert info.value.reason == DisconnectReason.SUBPROTOCOL_ERROR

    async def done(session: Session) -> None:
        return

    async with serving(done) as srv:
        client = await srv.connect()
        with pytest.raises(PeerDisconnected) as info:
            await asyncio.wait_for(client.receive(), 5)
        assert info.value.reason == DisconnectReason.QUITTING


async def test_pending_handshakes_are_bounded() -> None:
    one = SessionConfig(protocols=(LES4,), max_pending_handshakes=1, handshake_timeout=5)
    async with serving(echo, one) as srv:
        await srv.dial()  # holds the only slot by saying nothing
        second = await srv.dial()
        assert await second.closed()
        error = await srv.first_error()
        assert "pending" in str(error) and error.reason == DisconnectReason.TOO_MANY_PEERS


async def test_no_snappy_towards_a_v4_peer() -> None:
    # spec §2.5: Snappy only when the remote Hello says version 5 or more
    async with serving(echo) as srv:
        peer = await srv.dial()
        await peer.handshake()
        assert (await peer.hello(version=4)).version == 5
        await peer.send(0x10, b"\xc3\x01\x02\x03")  # sent plain
        assert await asyncio.wait_for(peer.read(), 5) == (0x10, b"\xc3\x01\x02\x03")
        assert not (await srv.session()).snappy
