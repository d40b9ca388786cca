"""RLPx transport benchmark.

Prints, on this machine:
* RLPx handshakes per second over 127.0.0.1 (TCP connect, EIP-8 auth/ack, Hello exchange,
  Disconnect), as a ratio to bare TCP connect + one echo round trip measured in the same run;
* sub-protocol message round trips per second over one session (1 KiB payload, Snappy on), as a
  ratio to bare TCP echo round trips of the same size;
* frame throughput of the codec alone (encode + decode, 64 KiB frames, MB/s), as a ratio to a
  plain AES-256-CTR pass over the same bytes.

Usage: python benchmarks/bench_rlpx.py [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from collections.abc import Awaitable, Callable

import coincurve
from Crypto.Cipher import AES

from lightclient.errors import RlpxError
from lightclient.rlpx.frame import HEADER_SIZE, FrameCodec
from lightclient.rlpx.handshake import Initiator, Recipient
from lightclient.rlpx.keys import public_key_of
from lightclient.rlpx.p2p import Protocol
from lightclient.rlpx.session import Session, SessionConfig, connect, listen

CONFIG = SessionConfig(protocols=(Protocol("les", 4, 24),))
SERVER_KEY = coincurve.PrivateKey()
SERVER_PUB = public_key_of(SERVER_KEY)


async def _rate(seconds: float, step: Callable[[], Awaitable[object]]) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        await step()
        count += 1
    return count / elapsed


async def _echo_server() -> tuple[asyncio.Server, int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def tcp_figures(seconds: float, size: int) -> dict[str, float]:
    server, port = await _echo_server()
    payload = os.urandom(size)

    async def connect_once() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        await reader.readexactly(size)
        writer.close()
        await writer.wait_closed()

    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def round_trip() -> None:
        writer.write(payload)
        await reader.readexactly(size)

    out = {"connect": await _rate(seconds, connect_once), "echo": await _rate(seconds, round_trip)}
    writer.close()
    server.close()
    await server.wait_closed()
    return out


async def rlpx_figures(seconds: float, size: int) -> dict[str, float]:
    async def echo(session: Session) -> None:
        try:
            while True:
                message = await session.receive()
                await session.send(message.code, message.payload)
        except RlpxError:
            return

    server = await listen("127.0.0.1", 0, SERVER_KEY, echo, CONFIG)
    port = server.sockets[0].getsockname()[1]
    key = coincurve.PrivateKey()

    async def handshake() -> None:
        session = await connect("127.0.0.1", port, key, SERVER_PUB, CONFIG)
        await session.disconnect()

    payload = b"\xb9" + size.to_bytes(2, "big") + os.urandom(size)
    session = await connect("127.0.0.1", port, key, SERVER_PUB, CONFIG)

    async def round_trip() -> None:
        await session.send(1, payload)
        await session.receive()

    out = {
        "handshake": await _rate(seconds, handshake),
        "message": await _rate(seconds, round_trip),
    }
    await session.disconnect()
    server.close()
    await server.wait_closed()
    return out


def codec_pair() -> tuple[FrameCodec, FrameCodec]:
    key_a, key_b = coincurve.PrivateKey(), coincurve.PrivateKey()
    initiator, recipient = Initiator(key_a, public_key_of(key_b)), Recipient(key_b)
    recipient.handle_auth(initiator.auth_packet())
    a = initiator.complete(recipient.ack_packet())
    return FrameCodec(a), FrameCodec(recipient.secrets())


def frame_figures(seconds: float, size: int) -> dict[str, float]:
    sender, receiver = codec_pair()
    payload = os.urandom(size)
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        wire = sender.encode(0x10, payload)
        receiver.decode_header(wire[:HEADER_SIZE])
        receiver.decode_body(wire[HEADER_SIZE:])
        done += size
    codec = done / elapsed / 1e6
    cipher = AES.new(os.urandom(32), AES.MODE_CTR, nonce=b"", initial_value=bytes(16))
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        cipher.encrypt(payload)  # the sender's pass
        cipher.encrypt(payload)  # and the receiver's
        done += size
    return {"codec": codec, "aes": done / elapsed / 1e6}


async def amain(seconds: float) -> None:
    tcp = await tcp_figures(seconds, 1024)
    rlpx = await rlpx_figures(seconds, 1024)
    print("over 127.0.0.1, one connection at a time:")
    print(
        f"  {'RLPx handshake + Hello':<30} {rlpx['handshake']:10,.0f} /s"
        f"   {rlpx['handshake'] / tcp['connect']:6.3f}x TCP connect + echo"
    )
    print(
        f"  {'RLPx 1 KiB message round trip':<30} {rlpx['message']:10,.0f} /s"
        f"   {rlpx['message'] / tcp['echo']:6.3f}x TCP 1 KiB echo"
    )
    frames = frame_figures(seconds, 65536)
    print("\nframe codec alone, 64 KiB frames, encode + decode:")
    print(
        f"  {'FrameCodec':<30} {frames['codec']:10,.1f} MB/s"
        f"   {frames['codec'] / frames['aes']:6.3f}x two AES-256-CTR passes"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores\n")
    asyncio.run(amain(args.seconds))


if __name__ == "__main__":
    main()
