"""RLPx sessions over asyncio streams: handshake, Hello, then sub-protocol messages (spec §1.4, §2).

``await connect(host, port, key, pubkey, config)`` dials; ``await accept(reader, writer, key,
config)`` answers one inbound connection; ``await listen(host, port, key, handler, config)``
serves many. Each returns or hands over a :class:`Session` whose Hello exchange is done:
``send(code, payload)`` and ``receive()`` speak the negotiated sub-protocol (codes relative to
its offset), Ping is answered and sent by the session itself, and Snappy is applied when the
peer's Hello says version 5 or later.

Every failure is an :class:`RlpxError` carrying the reason geth would give; 0x01 (network
error) means the connection was dropped with nothing sent, as geth does on read errors. A
Disconnect from the peer is a :class:`PeerDisconnected` with the peer's reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import coincurve

from lightclient.core.keccak import keccak
from lightclient.errors import PeerDisconnected, RlpxError
from lightclient.rlpx import snappy
from lightclient.rlpx.frame import HEADER_SIZE, MAX_FRAME_SIZE, FrameCodec
from lightclient.rlpx.handshake import Initiator, Recipient, Secrets
from lightclient.rlpx.keys import public_key_of
from lightclient.rlpx.p2p import (
    BASE_PROTOCOL_LENGTH,
    BASE_PROTOCOL_VERSION,
    DISCONNECT,
    EMPTY_LIST,
    HELLO,
    PING,
    PONG,
    DisconnectReason,
    Hello,
    Protocol,
    ProtocolSlot,
    decode_disconnect,
    encode_disconnect,
    match_protocols,
    reason_name,
)

__all__ = ["Gate", "Message", "Session", "SessionConfig", "accept", "connect", "listen"]

log = logging.getLogger(__name__)
T = TypeVar("T")

NETWORK_ERROR = DisconnectReason.NETWORK_ERROR
_CLOSED = object()  # queue sentinel: the read loop ended


@dataclass(frozen=True)
class SessionConfig:
    """What we offer and how patient we are; defaults are geth v1.11.6's (spec §1.9, §2.4)."""

    client_id: str = "lightclient/v0.1.0"
    protocols: tuple[Protocol, ...] = ()
    handshake_timeout: float = 5.0  # auth + ack
    read_timeout: float = 30.0  # per frame, Hello included
    write_timeout: float = 20.0
    disconnect_timeout: float = 1.0  # write deadline of our Disconnect
    dial_timeout: float = 15.0
    ping_interval: float = 15.0
    max_frame_size: int = MAX_FRAME_SIZE
    max_message_size: int = snappy.MAX_PLAIN  # after decompression
    queue_size: int = 64  # received sub-protocol messages not yet taken by receive()
    require_shared_protocol: bool = True  # none in common: Disconnect 0x03, as geth
    max_pending_handshakes: int = 50  # listen(): inbound connections before Hello is done


@dataclass(frozen=True)
class Message:
    """A received sub-protocol message; ``code`` is relative to the protocol's offset."""

    protocol: str
    version: int
    code: int
    payload: bytes = field(repr=False)


class _Transport:
    """Frames over a stream pair: one writer at a time, Snappy when switched on."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        secrets: Secrets,
        config: SessionConfig,
    ) -> None:
        self.reader, self.writer, self.config = reader, writer, config
        self.codec = FrameCodec(secrets, max_frame_size=config.max_frame_size)
        self.snappy = False
        self._lock = asyncio.Lock()

    async def write(self, code: int, payload: bytes, timeout: float | None = None) -> None:
        if self.snappy:
            payload = snappy.compress(payload)
        async with self._lock:
            self.writer.write(self.codec.encode(code, payload))
            try:
                await asyncio.wait_for(self.writer.drain(), timeout or self.config.write_timeout)
            except (OSError, TimeoutError) as exc:
                raise RlpxError(f"write failed: {exc or 'timeout'}") from None

    async def _read_exactly(self, n: int) -> bytes:
        try:
            return await asyncio.wait_for(self.reader.readexactly(n), self.config.read_timeout)
        except TimeoutError:
            raise RlpxError(f"read timeout ({self.config.read_timeout:g} s)") from None
        except asyncio.IncompleteReadError:
            raise RlpxError("connection closed by the peer") from None
        except OSError as exc:
            raise RlpxError(f"read failed: {exc}") from None

    async def read(self) -> tuple[int, bytes, bool]:
        """``(code, payload, compressed)``; the payload decompressed except for a Disconnect."""
        need = self.codec.decode_header(await self._read_exactly(HEADER_SIZE))
        code, payload = self.codec.decode_body(await self._read_exactly(need))
        if not self.snappy or code == DISCONNECT:
            if len(payload) > self.config.max_message_size:
                raise RlpxError(f"message of {len(payload)} bytes above the limit")
            return code, payload, self.snappy
        return code, snappy.decompress(payload, self.config.max_message_size), False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class Session:
    """One established devp2p connection (after the Hello exchange)."""

    def __init__(
        self,
        transport: _Transport,
        remote_pubkey: bytes,
        remote_hello: Hello,
        protocols: list[ProtocolSlot],
    ) -> None:
        self._transport = transport
        self.config = transport.config
        self.remote_pubkey = remote_pubkey
        self.remote_node_id = keccak(remote_pubkey)
        self.remote_hello = remote_hello
        self.protocols = tuple(protocols)
        self._queue: asyncio.Queue[Message | object] = asyncio.Queue(self.config.queue_size)
        self._error: RlpxError | None = None
        self._pong_waiters: list[asyncio.Future[None]] = []
        self._tasks = [
            asyncio.create_task(self._read_loop(), name="rlpx-read"),
            asyncio.create_task(self._ping_loop(), name="rlpx-ping"),
        ]

    @property
    def snappy(self) -> bool:
        return self._transport.snappy

    @property
    def remote_address(self) -> tuple[str, int] | None:
        """The peer's (host, port) as the socket reports it, None if unknown."""
        peer = self._transport.writer.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            return str(peer[0]), int(peer[1])
        return None

    @property
    def closed(self) -> bool:
        return self._error is not None

    @property
    def error(self) -> RlpxError | None:
        """Why the session ended (None while it is open)."""
        return self._error

    def _slot(self, protocol: str | None) -> ProtocolSlot:
        for slot in self.protocols:
            if protocol is None or slot.name == protocol:
                if protocol is None and len(self.protocols) > 1:
                    raise RlpxError("several protocols negotiated: name the one to send on")
                return slot
        raise RlpxError(f"protocol {protocol or '(any)'} not negotiated with this peer")

    async def send(self, code: int, payload: bytes, protocol: str | None = None) -> None:
        """Send sub-protocol message ``code`` (relative) with an RLP ``payload``."""
        if self._error is not None:
            raise self._error
        slot = self._slot(protocol)
        if not 0 <= code < slot.length:
            raise RlpxError(f"message code {code} out of range for {slot.name}/{slot.version}")
        try:
            await self._transport.write(slot.offset + code, payload)
        except RlpxError as exc:
            await self._end(exc, send=False)
            raise

    async def receive(self) -> Message:
        """The next sub-protocol message; raises the session's error once it has ended."""
        if self._error is not None and self._queue.empty():
            raise self._error
        item = await self._queue.get()
        if isinstance(item, Message):
            return item
        self._queue.put_nowait(item)  # let every later receive() see the end too
        assert self._error is not None
        raise self._error

    async def ping(self) -> float:
        """Send a Ping and wait for the next Pong (within the read timeout); seconds taken."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._pong_waiters.append(waiter)
        start = loop.time()
        try:
            if self._error is not None:
                raise self._error
            await self._transport.write(PING, EMPTY_LIST)
            await _timed("ping", self.config.read_timeout, waiter)
        finally:
            with contextlib.suppress(ValueError):
                self._pong_waiters.remove(waiter)
        return loop.time() - start

    async def disconnect(self, reason: int = DisconnectReason.REQUESTED) -> None:
        """Send Disconnect with ``reason`` (1 s write deadline, as geth) and close."""
        await self._end(RlpxError(f"disconnected by us: {reason_name(reason)}", reason))

    async def close(self) -> None:
        """Drop the connection without a Disconnect."""
        await self._end(RlpxError("closed by us"), send=False)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect(DisconnectReason.QUITTING)

    async def _end(self, error: RlpxError, *, send: bool = True) -> None:
        if self._error is not None:
            return
        self._error = error
        if send and error.reason != NETWORK_ERROR and not isinstance(error, PeerDisconnected):
            with contextlib.suppress(RlpxError):
                payload = encode_disconnect(error.reason)
                await self._transport.write(DISCONNECT, payload, self.config.disconnect_timeout)
        self._transport.close()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        # A full queue has no receive() waiting; once drained, receive() sees _error.
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_CLOSED)
        for waiter in self._pong_waiters:
            if not waiter.done():
                waiter.set_exception(error)

    async def _read_loop(self) -> None:
        try:
            while True:
                code, payload, compressed = await self._transport.read()
                await self._handle(code, payload, compressed)
        except RlpxError as exc:
            await self._end(exc)
        except Exception as exc:  # a bug of ours must still end the session cleanly
            log.warning("RLPx read loop failed: %r", exc)
            await self._end(RlpxError(f"internal error: {exc!r}"), send=False)

    async def _handle(self, code: int, payload: bytes, compressed: bool) -> None:
        if code == PING:
            await self._transport.write(PONG, EMPTY_LIST)
        elif code == DISCONNECT:
            reason = decode_disconnect(payload, compressed=compressed)
            raise PeerDisconnected(f"peer disconnected: {reason_name(reason)}", reason)
        elif code == PONG:
            for waiter in self._pong_waiters:
                if not waiter.done():
                    waiter.set_result(None)
        elif code < BASE_PROTOCOL_LENGTH:
            return  # Hello again and reserved base-protocol codes: geth discards them
        else:
            for slot in self.protocols:
                if slot.offset <= code < slot.offset + slot.length:
                    message = Message(slot.name, slot.version, code - slot.offset, payload)
                    await self._queue.put(message)
                    return
            raise RlpxError(f"message code 0x{code:x} out of range")

    async def _ping_loop(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.config.ping_interval)
                await self._transport.write(PING, EMPTY_LIST)
        except RlpxError as exc:
            await self._end(exc, send=False)


async def _read_packet(reader: asyncio.StreamReader) -> bytes:
    try:
        prefix = await reader.readexactly(2)
        return prefix + await reader.readexactly(int.from_bytes(prefix, "big"))
    except asyncio.IncompleteReadError:
        raise RlpxError("connection closed during the handshake") from None
    except OSError as exc:
        raise RlpxError(f"handshake read failed: {exc}") from None


async def _write_raw(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    try:
        await writer.drain()
    except OSError as exc:
        raise RlpxError(f"handshake write failed: {exc}") from None


async def _timed(what: str, timeout: float, step: Awaitable[T]) -> T:
    try:
        return await asyncio.wait_for(step, timeout)
    except TimeoutError:
        raise RlpxError(f"{what} timed out after {timeout:g} s") from None


def _our_hello(key: coincurve.PrivateKey, config: SessionConfig) -> Hello:
    caps = tuple(p.capability for p in config.protocols)
    return Hello(BASE_PROTOCOL_VERSION, config.client_id, caps, 0, public_key_of(key))


def _check_hello(hello: Hello, remote_pubkey: bytes) -> None:
    if len(hello.node_pubkey) != 64 or not any(hello.node_pubkey):
        raise RlpxError("Hello node id invalid", DisconnectReason.INVALID_IDENTITY)
    if hello.node_pubkey != remote_pubkey:
        raise RlpxError(
            "Hello node id differs from the RLPx one", DisconnectReason.UNEXPECTED_IDENTITY
        )


async def _exchange_hello(
    transport: _Transport, key: coincurve.PrivateKey, remote_pubkey: bytes
) -> tuple[Hello, list[ProtocolSlot]]:
    """Send our Hello while reading theirs; the checks geth makes, in geth's order (spec §2.2)."""
    config = transport.config
    sending = asyncio.create_task(transport.write(HELLO, _our_hello(key, config).encode()))
    try:
        code, payload, _ = await transport.read()
        await sending
    finally:
        sending.cancel()
        if sending.done() and not sending.cancelled():
            sending.exception()  # retrieved: the read error is the one reported
    if code == DISCONNECT:
        reason = decode_disconnect(payload, compressed=False)
        with contextlib.suppress(RlpxError):  # geth echoes the reason
            await transport.write(DISCONNECT, encode_disconnect(reason), config.disconnect_timeout)
        raise PeerDisconnected(f"peer disconnected: {reason_name(reason)}", reason)
    if code != HELLO:
        raise RlpxError(f"expected Hello, got message code 0x{code:x}")
    hello = Hello.decode(payload)
    _check_hello(hello, remote_pubkey)
    transport.snappy = hello.version >= BASE_PROTOCOL_VERSION
    slots = match_protocols(config.protocols, hello.capabilities)
    if not slots and config.require_shared_protocol:
        raise RlpxError("no shared capability", DisconnectReason.USELESS_PEER)
    return hello, slots


async def _establish(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    secrets: Secrets,
    key: coincurve.PrivateKey,
    config: SessionConfig,
) -> Session:
    transport = _Transport(reader, writer, secrets, config)
    try:
        hello, slots = await _exchange_hello(transport, key, secrets.remote_pubkey)
    except RlpxError as exc:
        if exc.reason != NETWORK_ERROR and not isinstance(exc, PeerDisconnected):
            with contextlib.suppress(RlpxError):
                payload = encode_disconnect(exc.reason)
                await transport.write(DISCONNECT, payload, config.disconnect_timeout)
        transport.close()
        raise
    return Session(transport, secrets.remote_pubkey, hello, slots)


async def _initiate(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    key: coincurve.PrivateKey,
    remote_pubkey: bytes,
) -> Secrets:
    initiator = Initiator(key, remote_pubkey)
    await _write_raw(writer, initiator.auth_packet())
    return initiator.complete(await _read_packet(reader))


async def _respond(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: coincurve.PrivateKey
) -> Secrets:
    recipient = Recipient(key)
    recipient.handle_auth(await _read_packet(reader))
    await _write_raw(writer, recipient.ack_packet())
    return recipient.secrets()


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()


async def connect(
    host: str,
    port: int,
    key: coincurve.PrivateKey,
    remote_pubkey: bytes,
    config: SessionConfig | None = None,
) -> Session:
    """Dial ``host:port``, run the RLPx initiator and the Hello exchange."""
    config = config or SessionConfig()
    try:
        reader, writer = await _timed(
            "dial", config.dial_timeout, asyncio.open_connection(host, port)
        )
    except OSError as exc:
        raise RlpxError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
    try:
        secrets = await _timed(
            "handshake", config.handshake_timeout, _initiate(reader, writer, key, remote_pubkey)
        )
    except RlpxError:
        _close(writer)
        raise
    return await _establish(reader, writer, secrets, key, config)


async def accept(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    key: coincurve.PrivateKey,
    config: SessionConfig | None = None,
) -> Session:
    """Answer one inbound connection: the RLPx recipient side, then the Hello exchange."""
    config = config or SessionConfig()
    try:
        secrets = await _timed("handshake", config.handshake_timeout, _respond(reader, writer, key))
    except RlpxError:
        _close(writer)
        raise
    return await _establish(reader, writer, secrets, key, config)


class Gate(typing.Protocol):
    """Admission of inbound sockets by address, asked before any handshake work."""

    def refusal(self, ip: str) -> str | None: ...

    def enter(self, ip: str) -> None: ...

    def handshake_over(self, ip: str) -> None: ...

    def leave(self, ip: str) -> None: ...


async def listen(
    host: str,
    port: int,
    key: coincurve.PrivateKey,
    handler: Callable[[Session], Awaitable[None]],
    config: SessionConfig | None = None,
    *,
    on_error: Callable[[RlpxError], None] | None = None,
    gate: Gate | None = None,
) -> asyncio.Server:
    """Serve RLPx on ``host:port``; ``handler`` gets each established session.

    A connection that fails before or during Hello is logged at debug level (and given to
    ``on_error``), never raised into the server; past ``max_pending_handshakes`` connections
    still in their handshake, a new one is closed at once. When ``handler`` returns the session
    ends with Disconnect 0x08 (quitting), when it raises an RlpxError with that error's reason,
    and when it raises anything else with 0x10 (sub-protocol error), as geth picks them.
    ``gate``, if given, is asked first: a socket it refuses is closed before the handshake,
    and it is told when the handshake is over and when the connection ends.
    """
    config = config or SessionConfig()
    pending = asyncio.Semaphore(config.max_pending_handshakes)

    def failed(exc: RlpxError) -> None:
        log.debug("inbound RLPx connection failed: %s", exc)
        if on_error is not None:
            on_error(exc)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The outermost frame of the connection's task: Python 3.11's start_server logs a
        # traceback for a task that ends cancelled (at shutdown), so end it normally instead.
        try:
            await serve_one(reader, writer)
        except asyncio.CancelledError:
            _close(writer)

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if gate is None:
            await serve_admitted(reader, writer)
            return
        peer = writer.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else "unix"
        why = gate.refusal(ip)
        if why is not None:
            _close(writer)
            failed(RlpxError(why, DisconnectReason.TOO_MANY_PEERS))
            return
        gate.enter(ip)
        shaking = [True]

        def handshake_over() -> None:
            if shaking[0]:
                shaking[0] = False
                gate.handshake_over(ip)

        try:
            await serve_admitted(reader, writer, handshake_over)
        finally:
            handshake_over()  # also when refused or failed before the handshake ended
            gate.leave(ip)

    async def serve_admitted(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handshake_over: Callable[[], None] = lambda: None,
    ) -> None:
        if pending.locked():
            _close(writer)
            failed(RlpxError("too many pending handshakes", DisconnectReason.TOO_MANY_PEERS))
            return
        try:
            async with pending:
                session = await accept(reader, writer, key, config)
        except RlpxError as exc:
            failed(exc)
            return
        finally:
            handshake_over()
        await _run_handler(handler, session)

    return await asyncio.start_server(serve, host, port)


async def _run_handler(handler: Callable[[Session], Awaitable[None]], session: Session) -> None:
    reason: int = DisconnectReason.QUITTING
    try:
        await handler(session)
    except RlpxError as exc:
        reason = exc.reason
    except Exception as exc:
        log.warning("RLPx session handler failed: %r", exc)
        reason = DisconnectReason.SUBPROTOCOL_ERROR
    finally:
        await session.disconnect(reason)
