"""A whole JSON-RPC endpoint for the security, bounds and fuzz tests: the checkpoint methods
over a real SQLite store of a synthetic chain, the pool's admin methods over a PoolService
with a manual clock, served by the real guarded aiohttp server (and IPC) in a thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lightclient.pool.clock import SECOND, ManualClock
from lightclient.rpc.auth import bearer_header
from lightclient.rpc.http import HttpPolicy
from lightclient.rpc.les import les_checkpoint_methods
from lightclient.rpc.les_admin import les_admin_methods
from lightclient.rpc.server import Limits, RpcServer
from lightclient.server.service import PoolConfig, PoolService
from lightclient.store.balances import SqliteBalanceStore
from lightclient.store.sqlite import Store
from lightclient.sync.syncer import Syncer
from lightclient.testing.synthetic import MemoryHeaderSource, SyntheticChain
from lightclient.testing.threads import RunningRpc, serve_rpc_in_thread

SECRET = bytes(range(32))
NOW = 1_700_000_000.0  # the server's wall clock in these tests (JWT iat is checked against it)
ORACLE = "0x9a9070028361F7AAbeB3f2F2Dc07F82C4a98A02a"
CONFIG = PoolConfig(min_cap=100, max_count=5, max_capacity=1000)


def fixed_clock() -> float:
    return NOW


@dataclass(eq=False)
class Peer:
    """A connected client as the pool sees it (the ClientPeer protocol)."""

    index: int
    cap: int = 0
    disconnected: bool = False

    @property
    def node_id(self) -> bytes:
        return bytes([self.index]) * 32

    @property
    def free_id(self) -> str:
        return f"10.0.0.{self.index}"

    def inactive_allowance(self) -> int:
        return 10 * SECOND

    def update_capacity(self, capacity: int, requested: bool) -> None:
        self.cap = capacity

    def disconnect(self) -> None:
        self.disconnected = True


@dataclass
class Env:
    running: RunningRpc
    service: PoolService
    clock: ManualClock
    peers: list[Peer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def port(self) -> int:
        return self.running.port

    def on_loop(self, fn: Any) -> Any:
        """Run ``fn()`` on the server's thread (the pool and store live there)."""
        return self.running.loop.call(fn)

    def connect(self, index: int) -> Peer:
        peer = Peer(index)
        self.on_loop(lambda: self.service.pool.register(peer))
        self.peers.append(peer)
        return peer


def build_store(path: Path) -> None:
    """Three indexed sections of a synthetic chain (in a thread: callers may be async)."""

    def build() -> None:
        store = Store.open(path)
        chain = SyntheticChain(16 * 3, seed=3)
        asyncio.run(Syncer(MemoryHeaderSource(chain.headers()), store, section_size=16,
                           confirmations=0).sync())  # fmt: skip
        store.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(build).result(60)


@contextmanager
def rpc_env(
    tmp_path: Path, limits: Limits | None = None, ipc: bool = False, **policy: Any
) -> Iterator[Env]:
    """The endpoint, with ``policy`` overriding HttpPolicy fields (secret SECRET, clock NOW)."""
    build_store(tmp_path / "store")
    holder: dict[str, Any] = {}
    clock = ManualClock()

    def make() -> RpcServer:
        store = Store.open(tmp_path / "store")  # opened on the server's thread
        service = PoolService(clock, SqliteBalanceStore(store), CONFIG)
        holder["store"], holder["service"] = store, service
        methods = les_checkpoint_methods(store, ORACLE) + les_admin_methods(service)
        return RpcServer(methods, ["les", "rpc"], limits)

    base = HttpPolicy(jwt_secret=SECRET, clock=fixed_clock)
    ipc_path = tmp_path / "t.ipc" if ipc else None
    with serve_rpc_in_thread(make, replace(base, **policy), ipc_path) as running:
        env = Env(running, holder["service"], clock)
        try:
            yield env
        finally:
            env.on_loop(holder["store"].close)


def auth(now: float = NOW, secret: bytes = SECRET) -> dict[str, str]:
    return bearer_header(secret, now)


def post(
    port: int, body: bytes | str, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request on a fresh connection: (status, headers, body)."""
    data = body.encode() if isinstance(body, str) else body
    sent = {"Content-Type": "application/json", **(headers or {})}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, "/", body=data, headers=sent)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def strict_json(raw: bytes) -> Any:
    """Decode an answer, failing on anything that is not strict JSON."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"the answer holds {name}: not JSON")

    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


def call(port: int, method: str, params: Any = None, *, token: bool = False, rid: Any = 1) -> Any:
    request: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        request["params"] = params
    status, _, raw = post(port, json.dumps(request), auth() if token else None)
    assert status == 200, (status, raw[:200])
    return strict_json(raw)
