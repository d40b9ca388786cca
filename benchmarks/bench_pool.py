"""Client pool and light-serving benchmark.

Prints, on this machine:
* pool operations per second with 10,000 connected clients (register, add_balance, capacity
  changes, admission into a full pool), each as a ratio to the same operation in a pool of
  100 clients measured in the same run;
* memory per connected client (tracemalloc).

LES serving figures are in bench_les.py.

Usage: python benchmarks/bench_pool.py [--clients N]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import time
import tracemalloc
from collections.abc import Callable

from lightclient.pool.balance import BalanceTracker, PriceFactors
from lightclient.pool.clientpool import ClientPool
from lightclient.pool.clock import SECOND, ManualClock
from lightclient.pool.memstore import MemoryBalanceStore


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores\n")
    small = pool_figures(100)
    big = pool_figures(args.clients)
    print(f"pool operations per second, {args.clients} clients (ratio to a 100-client pool):")
    for name, value in big.items():
        print(f"  {name:<16} {value:12,.0f} /s   {value / small[name]:6.2f}x")
    print(f"\nmemory per connected client: {memory_per_client(args.clients):,.0f} bytes")


if __name__ == "__main__":
    main()
