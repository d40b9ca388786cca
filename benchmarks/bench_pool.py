"""Client pool and light-serving benchmark.

Prints, on this machine:
* pool operations per second with 10,000 connected clients (register, add_balance, capacity
  changes, admission into a full pool), each as a ratio to the same operation in a pool of
  100 clients measured in the same run;
* memory per connected client (tracemalloc);
* LES/4 requests per second over real RLPx on 127.0.0.1 (headers, CHT proofs), as a
  ratio to an RLPx Ping/Pong round trip, which does no serving work.

Usage: python benchmarks/bench_pool.py [--clients N] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import random
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

from lightclient.client.les_connection import LesConnection
from lightclient.les.forkid import ForkSchedule
from lightclient.les.messages import AUX_HEADER, HELPER_TRIE_CHT, HelperTrieReq
from lightclient.pool.balance import BalanceTracker, PriceFactors
from lightclient.pool.clientpool import ClientPool
from lightclient.pool.clock import SECOND, ManualClock, SystemClock
from lightclient.pool.memstore import MemoryBalanceStore
from lightclient.rlpx.keys import private_key_from_bytes
from lightclient.server.les_server import LesServer
from lightclient.server.service import PoolConfig, PoolService
from lightclient.sources.embedded import EmbeddedChain, EmbeddedHeaderSource
from lightclient.store.balances import SqliteBalanceStore
from lightclient.store.sqlite import Store
from lightclient.sync.syncer import Syncer


class Peer:
    __slots__ = ("cap", "free_id", "node_id")

    def __init__(self, i: int) -> None:
        self.node_id = i.to_bytes(32, "big")
        self.free_id = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        self.cap = 0

    def inactive_allowance(self) -> int:
        return 0

    def update_capacity(self, capacity: int, requested: bool) -> None:
        self.cap = capacity

    def disconnect(self) -> None:
        pass


def _rate(count: int, fn: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - start)


def pool_figures(n: int) -> dict[str, float]:
    clock = ManualClock()
    pool = ClientPool(BalanceTracker(clock, MemoryBalanceStore()), min_cap=1)
    factors = PriceFactors(1, 0, 1)
    pool.set_default_factors(factors, factors)
    pool.set_limits(n, 4 * n)
    peers = [Peer(i) for i in range(n)]
    out = {"register": _rate(n, lambda i: pool.register(peers[i]))}
    rng = random.Random(1)
    out["add_balance"] = _rate(
        2000, lambda i: pool.entries[peers[rng.randrange(n)].node_id].balance.add_balance(10**12)
    )
    paid = [p for p in peers if pool.entries[p.node_id].priority_flag]

    def change(i: int) -> None:
        p = paid[i % len(paid)]
        pool.set_capacity(p.node_id, 2 if pool.entries[p.node_id].capacity == 1 else 1, 0, True)

    out["set_capacity"] = _rate(min(1000, len(paid)), change)
    clock.run(SECOND)
    extra = [Peer(n + i) for i in range(200)]
    out["admit_when_full"] = _rate(200, lambda i: pool.register(extra[i]))
    return out


def memory_per_client(n: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    clock = ManualClock()
    pool = ClientPool(BalanceTracker(clock, MemoryBalanceStore()), min_cap=1)
    pool.set_limits(n, n)
    peers = [Peer(i) for i in range(n)]
    for p in peers:
        pool.register(p)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / n


async def serving_figures(seconds: float) -> dict[str, float]:
    """Requests per second from one LES/4 client over RLPx on 127.0.0.1, as a ratio to an
    RLPx Ping/Pong round trip (the transport with no serving work) in the same run."""
    chain = EmbeddedChain(seed=2)
    chain.mine_until(4 * 256 + 4, log_every=3)
    source = EmbeddedHeaderSource(chain)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp))
        await Syncer(source, store, section_size=256, confirmations=2).sync()
        config = PoolConfig(min_cap=10**9, max_count=10, max_capacity=10**10)
        service = PoolService(SystemClock(), SqliteBalanceStore(store), config)
        genesis = chain.header_rlp(0)[0]
        server = LesServer(source, store, service, SystemClock(),
                           node_key=private_key_from_bytes(os.urandom(32)), section_size=256,
                           genesis_hash=genesis, network_id=1337,
                           fork_schedule=ForkSchedule.of([]))  # fmt: skip
        await server.start("127.0.0.1", 0)
        client = await LesConnection.dial(server.enode, private_key_from_bytes(os.urandom(32)),
                                          genesis_hash=genesis, network_id=1337)  # fmt: skip

        async def rate(call: Callable[[], Awaitable[object]]) -> float:
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                await call()
                count += 1
            return count / (time.perf_counter() - start)

        cht16 = [HelperTrieReq(HELPER_TRIE_CHT, 3, (77 + i).to_bytes(8, "big"), 0, AUX_HEADER)
                 for i in range(16)]  # fmt: skip
        out = {
            "RLPx ping (no work)": await rate(client.session.ping),
            "GetBlockHeaders x1": await rate(lambda: client.get_headers(100, 1)),
            "GetBlockHeaders x192": await rate(lambda: client.get_headers(100, 192)),
            "CHT proofs x16 + headers": await rate(lambda: client.helper_trie_proofs(cht16)),
        }
        await client.close()
        await server.stop()
        service.stop()
        store.close()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores\n")
    small = pool_figures(100)
    big = pool_figures(args.clients)
    print(f"pool operations per second, {args.clients} clients (ratio to a 100-client pool):")
    for name, value in big.items():
        print(f"  {name:<16} {value:12,.0f} /s   {value / small[name]:6.2f}x")
    print(f"\nmemory per connected client: {memory_per_client(args.clients):,.0f} bytes")
    serving = asyncio.run(serving_figures(args.seconds))
    base = serving["RLPx ping (no work)"]
    print("\nlight-serving requests per second, one LES/4 client, RLPx on 127.0.0.1:")
    for name, value in serving.items():
        print(f"  {name:<26} {value:10,.0f} /s   {value / base:6.2f}x ping")


if __name__ == "__main__":
    main()
