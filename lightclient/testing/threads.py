"""Run a server on 127.0.0.1 in a background thread with its own event loop (for synchronous
callers such as web3's HTTPProvider, hypothesis tests, or tests that must not share the
server's event loop)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

if TYPE_CHECKING:
    from lightclient.rpc.http import HttpPolicy
    from lightclient.rpc.server import RpcServer

__all__ = ["LoopThread", "RunningRpc", "serve_app_in_thread", "serve_rpc_in_thread"]

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread; ``run(coro)`` waits for a result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 30) -> T:
        """``fn()`` on the loop's thread (for state the loop owns)."""

        async def wrapped() -> T:
            return fn()

        return self.run(wrapped(), timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextmanager
def serve_app_in_thread(make_app: Callable[[], web.Application]) -> Iterator[str]:
    """Serve ``make_app()`` on a free 127.0.0.1 port; yields ``http://127.0.0.1:PORT``."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    loop = LoopThread()
    runners: list[web.AppRunner] = []

    async def start() -> None:
        runner = web.AppRunner(make_app(), access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        runners.append(runner)

    loop.run(start(), 10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.run(runners[0].cleanup(), 10)
        loop.close()


@dataclass
class RunningRpc:
    url: str
    port: int
    loop: LoopThread
    ipc_path: Path | None
    runner: web.AppRunner

    def open_connections(self) -> int:
        """Connections the endpoint's guard counts as open now."""
        from lightclient.rpc.http import GUARD

        guard = self.runner.app[GUARD]
        return self.loop.call(lambda: len(guard.conns))


@contextmanager
def serve_rpc_in_thread(
    make_rpc: Callable[[], RpcServer],
    policy: HttpPolicy | None = None,
    ipc_path: Path | None = None,
) -> Iterator[RunningRpc]:
    """The real endpoint (:func:`lightclient.rpc.http.serve`, with its connection guard),
    and the IPC socket if ``ipc_path`` is given, on a free 127.0.0.1 port."""
    from lightclient.rpc.http import serve
    from lightclient.rpc.ipc import IpcServer, start_ipc

    loop = LoopThread()
    ipc: list[IpcServer] = []

    async def start() -> tuple[web.AppRunner, int]:
        rpc = make_rpc()
        started = await serve(rpc, "127.0.0.1", 0, policy)
        if ipc_path is not None:
            ipc.append(await start_ipc(rpc, ipc_path))
        return started

    runner, port = loop.run(start(), 10)

    async def stop() -> None:
        for server in ipc:
            await server.close()
        await runner.cleanup()

    try:
        yield RunningRpc(f"http://127.0.0.1:{port}", port, loop, ipc_path, runner)
    finally:
        loop.run(stop(), 10)
        loop.close()
