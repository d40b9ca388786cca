"""JSON-RPC on a Unix socket, as geth's IPC endpoint: every module, admin included, for the
local user only (the socket is made with mode 0600).

The wire is geth's: JSON values one after another on a stream, with no framing (web3.py's
``IPCProvider`` and ``geth attach`` write a request, then read one answer, a JSON value and a
newline). A request is cut from the stream when its top-level array or object closes,
found by :class:`JsonStream` without decoding, so a half-sent request costs only its bytes,
bounded by the body limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import stat
from pathlib import Path

from lightclient.errors import InvalidInput, LimitExceeded
from lightclient.rpc.server import RpcServer, encode

__all__ = ["IPC_NAME", "IpcServer", "JsonStream", "start_ipc"]

log = logging.getLogger(__name__)

IPC_NAME = "lightclient.ipc"
MAX_IPC_CONNECTIONS = 64
READ_SIZE = 1 << 16

_STRUCT = re.compile(rb'["\[\]{}]')  # outside a string: what changes depth or opens one
_IN_STRING = re.compile(rb'["\\]')  # inside a string: its end, or an escape
_SPACE = b" \t\r\n"


class JsonStream:
    """Cuts complete top-level JSON arrays/objects out of a byte stream, incrementally."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.buf = bytearray()
        self.pos = 0  # where scanning resumes
        self.start = 0  # where the value being read began (when depth > 0)
        self.depth = 0
        self.in_string = False

    def feed(self, data: bytes) -> list[bytes]:
        """The complete values that ``data`` finished; raises ValueError on a top-level value
        that is not an array or object, LimitExceeded past ``max_size`` bytes pending."""
        buf = self.buf
        buf += data
        out: list[bytes] = []
        while self.pos < len(buf):
            if self.in_string:
                found = _IN_STRING.search(buf, self.pos)
                if found is None:
                    self.pos = len(buf)
                elif buf[found.start()] == 0x5C:  # a backslash: skip the byte it escapes
                    if found.start() + 1 >= len(buf):
                        self.pos = found.start()  # wait for that byte
                        break
                    self.pos = found.start() + 2
                else:
                    self.in_string = False
                    self.pos = found.start() + 1
            elif self.depth == 0:
                while self.pos < len(buf) and buf[self.pos] in _SPACE:
                    self.pos += 1
                if self.pos == len(buf):
                    break
                if buf[self.pos] not in b"[{":
                    raise ValueError("a request must be a JSON object or array")
                self.start, self.depth = self.pos, 1
                self.pos += 1
            else:
                found = _STRUCT.search(buf, self.pos)
                if found is None:
                    self.pos = len(buf)
                    break
                char = buf[found.start()]
                self.pos = found.start() + 1
                if char == 0x22:
                    self.in_string = True
                elif char in b"[{":
                    self.depth += 1
                else:
                    self.depth -= 1
                    if self.depth == 0:
                        out.append(bytes(buf[self.start : self.pos]))
        keep = self.start if self.depth else self.pos
        del buf[:keep]
        self.pos -= keep
        self.start = 0
        if len(buf) > self.max_size:
            raise LimitExceeded(f"request too large (at most {self.max_size} bytes)")
        return out


class IpcServer:
    def __init__(
        self,
        rpc: RpcServer,
        path: Path,
        server: asyncio.AbstractServer,
        active: set[asyncio.Task[None]],
    ) -> None:
        self.rpc = rpc
        self.path = path
        self.server = server
        self.active = active

    async def close(self) -> None:
        """Stop listening, end the open sessions, remove the socket file."""
        self.server.close()
        for task in list(self.active):
            task.cancel()
        await asyncio.gather(*self.active, return_exceptions=True)
        await self.server.wait_closed()
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(self.path.lstat().st_mode):
                self.path.unlink()


def _clear_stale(path: Path) -> None:
    """Remove a socket file no one listens on; refuse a live one or any other file."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise InvalidInput(f"{path} exists and is not a socket; remove it or use --ipcpath")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError:
        path.unlink()  # nobody answers: left by a process that died
        return
    finally:
        probe.close()
    raise InvalidInput(f"another process is serving {path}; stop it or use another --datadir")


async def start_ipc(rpc: RpcServer, path: str | Path, *, idle_timeout: float = 600.0) -> IpcServer:
    """Serve ``rpc`` (admin methods included) on the Unix socket ``path``, mode 0600."""
    file = Path(path)
    if len(str(file).encode()) > 100:
        raise InvalidInput(f"the IPC path {file} is too long for a Unix socket (over 100 bytes)")
    _clear_stale(file)
    active: set[asyncio.Task[None]] = set()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(active) >= MAX_IPC_CONNECTIONS:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        active.add(task)
        try:
            await _session(rpc, reader, writer, idle_timeout)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            active.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket file is born 0600; no await while the umask is set
    try:
        sock.bind(str(file))
    except OSError as exc:
        sock.close()
        raise InvalidInput(f"cannot serve IPC on {file}: {exc.strerror or exc}") from None
    finally:
        os.umask(old)
    os.chmod(file, 0o600)
    server = await asyncio.start_unix_server(client, sock=sock, limit=READ_SIZE * 2)
    return IpcServer(rpc, file, server, active)


async def _session(
    rpc: RpcServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, idle: float
) -> None:
    stream = JsonStream(rpc.limits.max_body)
    while True:
        try:
            data = await asyncio.wait_for(reader.read(READ_SIZE), idle)
        except TimeoutError:
            return
        if not data:
            return
        try:
            requests = stream.feed(data)
        except (ValueError, LimitExceeded) as exc:
            code = -32600 if isinstance(exc, LimitExceeded) else -32700
            message = str(exc) if code == -32600 else "parse error"
            error = {"code": code, "message": message}
            writer.write(encode({"jsonrpc": "2.0", "id": None, "error": error}).encode() + b"\n")
            await writer.drain()
            return  # the stream cannot be resynchronised
        for body in requests:
            answer = await rpc.handle_payload(body, admin=True)
            if answer is not None:
                writer.write(encode(answer).encode() + b"\n")
                await writer.drain()
