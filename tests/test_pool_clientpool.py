"""The client pool on a manual clock: geth's clientpool_test.go scenarios (spec §6.2) and
the fuzzer's invariant as a property test."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightclient.pool.balance import BalanceTracker, PriceFactors
from lightclient.pool.clientpool import CantFindMaximum, ClientPool, NoPriority, NotConnected
from lightclient.pool.clock import MINUTE, SECOND, ManualClock
from lightclient.pool.memstore import MemoryBalanceStore

BIAS = 3 * MINUTE
FACTORS = PriceFactors(1, 0, 1)


@dataclass(eq=False)
class Peer:
    index: int
    allowance: int = 0
    cap: int = 0
    events: list[int] = field(default_factory=list)  # disconnects reported

    @property
    def node_id(self) -> bytes:
        return bytes([self.index % 256, self.index >> 8]) + b"\x00" * 30

    @property
    def free_id(self) -> str:
        return f"addr #{self.index}"

    def inactive_allowance(self) -> int:
        return self.allowance

    def update_capacity(self, capacity: int, requested: bool) -> None:
        self.cap = capacity

    def disconnect(self) -> None:
        self.events.append(self.index)


def make_pool(
    limits: tuple[int, int] = (10, 10), factors: bool = True, bias: int = BIAS
) -> tuple[ManualClock, ClientPool, MemoryBalanceStore]:
    clock = ManualClock()
    store = MemoryBalanceStore()
    pool = ClientPool(BalanceTracker(clock, store), min_cap=1, connected_bias=bias)
    if factors:
        pool.set_default_factors(FACTORS, FACTORS)
    pool.set_limits(*limits)
    return clock, pool, store


def add_balance(pool: ClientPool, peer: Peer, amount: int) -> None:
    entry = pool.entries.get(peer.node_id)
    balance = entry.balance if entry else pool.tracker.open(peer.node_id, peer.free_id)
    balance.add_balance(amount)


def test_connect_paid_client() -> None:
    _, pool, _ = make_pool()
    p = Peer(0)
    add_balance(pool, p, MINUTE)
    pool.register(p)
    assert p.cap != 0
    assert pool.set_capacity(p.node_id, 10, BIAS, True) == 10
    assert p.cap == 10


def test_connect_paid_client_to_small_pool() -> None:
    _, pool, _ = make_pool()
    p = Peer(0)
    add_balance(pool, p, MINUTE)
    pool.register(p)
    assert pool.set_capacity(p.node_id, 100, BIAS, True) == 1  # not granted, no error


def test_connect_paid_client_to_full_pool() -> None:
    clock, pool, _ = make_pool()
    peers = [Peer(i) for i in range(10)]
    for p in peers:
        add_balance(pool, p, 20 * SECOND)
        pool.register(p)
        assert p.cap == 1
    poor = Peer(11)
    add_balance(pool, poor, 2 * SECOND)
    pool.register(poor)
    assert poor.cap == 0
    clock.run(SECOND)
    rich = Peer(12)
    add_balance(pool, rich, 5 * MINUTE)
    pool.register(rich)
    assert rich.cap != 0


def test_paid_client_kicked_out() -> None:
    clock, pool, _ = make_pool()
    peers = [Peer(i) for i in range(10)]
    for p in peers:
        add_balance(pool, p, 10 * SECOND)
        pool.register(p)
        clock.run(1_000_000)
    clock.run(BIAS + 11 * SECOND)
    newcomer = Peer(11)
    pool.register(newcomer)
    assert newcomer.cap != 0
    clock.run(0)
    kicked = [p.index for p in peers if p.events]
    assert kicked == [0]


def test_connect_free_client() -> None:
    _, pool, _ = make_pool()
    p = Peer(0)
    pool.register(p)
    assert p.cap == 1
    with pytest.raises(NoPriority, match="priority too low to raise capacity"):
        pool.set_capacity(p.node_id, 2, BIAS, True)
    assert p.cap == 1
    with pytest.raises(NotConnected, match="client not connected"):
        pool.set_capacity(Peer(5).node_id, 2, BIAS, True)


def test_connect_free_client_to_full_pool() -> None:
    clock, pool, _ = make_pool()
    for i in range(10):
        pool.register(Peer(i))
    p11 = Peer(11)
    pool.register(p11)
    assert p11.cap == 0
    clock.run(MINUTE)
    p12 = Peer(12)
    pool.register(p12)
    assert p12.cap == 0
    clock.run(1_000_000 + 4 * MINUTE)
    p13 = Peer(13)
    pool.register(p13)
    assert p13.cap != 0


def test_free_client_kicked_out() -> None:
    clock, pool, _ = make_pool()
    peers = [Peer(i) for i in range(10)]
    for p in peers:
        pool.register(p)
        clock.run(1_000_000)
    p10 = Peer(10)
    pool.register(p10)
    assert p10.cap == 0
    clock.run(0)
    assert p10.events == [10]  # inactive timeout 0: disconnected at once
    clock.run(5 * MINUTE)
    newcomers = [Peer(i) for i in range(10, 20)]
    for p in newcomers:
        pool.register(p)
    clock.run(0)
    kicked = [p.index for p in peers if p.events]
    assert len(kicked) == 10 and all(i < 10 for i in kicked)


def test_positive_balance_calculation() -> None:
    clock, pool, _ = make_pool()
    p = Peer(0)
    add_balance(pool, p, 3 * MINUTE)
    pool.register(p)
    assert pool.set_capacity(p.node_id, 10, BIAS, True) == 10
    clock.run(MINUTE)
    pool.unregister(p)
    pos, _ = pool.tracker.open(p.node_id, p.free_id).get_balance()
    assert abs(pos - 2 * MINUTE) <= max(1, (pos + 2 * MINUTE) // 2000)


def test_downgrade_priority_client() -> None:
    clock, pool, _ = make_pool()
    p = Peer(0)
    add_balance(pool, p, MINUTE)
    pool.register(p)
    pool.set_capacity(p.node_id, 10, BIAS, True)
    assert p.cap == 10
    clock.run(MINUTE)
    assert p.cap == 1  # balance exhausted: priority lost, cut back to the minimum
    entry = pool.entries[p.node_id]
    assert entry.balance.get_balance()[0] == 0
    entry.balance.add_balance(MINUTE)
    pos = entry.balance.get_balance()[0]
    assert abs(pos - MINUTE) <= max(1, (pos + MINUTE) // 2000)
    assert p.cap == 1  # gaining priority does not raise capacity by itself


def test_negative_balance_calculation() -> None:
    clock, pool, _store = make_pool(factors=False)
    pool.tracker.set_expiration_tcs(0, 3600)
    slow = PriceFactors(1e-3, 0, 1)
    pool.set_default_factors(slow, slow)
    peers = [Peer(i) for i in range(10)]
    for p in peers:
        pool.register(p)
    clock.run(SECOND)
    for p in peers:
        pool.unregister(p)
        assert pool.tracker.open(p.node_id, p.free_id).get_balance()[1] == 0  # <= 1e6: not kept
    for p in peers:
        pool.register(p)
    clock.run(MINUTE)
    for p in peers:
        pool.unregister(p)
        neg = pool.tracker.open(p.node_id, p.free_id).get_balance()[1]
        expected = 6 * 10**7 - 6 * 10**7 // 120
        assert abs(neg - expected) <= max(1, (neg + expected) // 2000)


def test_inactive_client() -> None:
    clock, pool, _ = make_pool(limits=(2, 2), factors=False)
    p1, p2, p3 = Peer(1, 10 * SECOND), Peer(2, 10 * SECOND), Peer(3, 10 * SECOND)
    add_balance(pool, p1, 1000 * SECOND)
    add_balance(pool, p3, 2000 * SECOND)
    for p in (p1, p2, p3):
        pool.register(p)
    assert (p1.cap, p2.cap, p3.cap) == (1, 0, 1)
    add_balance(pool, p2, 3000 * SECOND)
    assert (p1.cap, p2.cap) == (0, 1)
    add_balance(pool, p2, -2500 * SECOND)
    assert (p1.cap, p2.cap) == (1, 0)
    pool.set_default_factors(PriceFactors(1, 0, 0), PriceFactors(1, 0, 0))
    p4 = Peer(4, 10 * SECOND)
    add_balance(pool, p4, 1500 * SECOND)
    pool.register(p4)
    assert (p4.cap, p1.cap) == (1, 0)
    clock.run(600 * SECOND)
    pool.entries[p1.node_id].balance.listener.priority_update(pool.entries[p1.node_id].balance)  # type: ignore[union-attr]
    assert (p1.cap, p4.cap) == (1, 0)
    pool.unregister(p2)
    pool.unregister(p4)
    add_balance(pool, p1, -1000 * SECOND)
    assert (p1.cap, p2.cap) == (1, 0)


def apply_op(
    clock: ManualClock, pool: ClientPool, peers: list[Peer], op: tuple[int, int, int]
) -> None:
    """One random pool operation (a connection, a payment, a capacity request, time...)."""
    kind, index, value = op
    peer = peers[index]
    connected = peer.node_id in pool.entries
    if kind == 0 and not connected:
        peer.cap = 0
        pool.register(peer)
    elif kind == 1 and connected:
        pool.unregister(peer)
        peer.cap = 0
    elif kind == 2:
        add_balance(pool, peer, value * 1000 - 10**8)
    elif kind == 3 and connected:
        with contextlib.suppress(NoPriority, NotConnected):
            pool.set_capacity(peer.node_id, 1 + value % 8, SECOND, True)
    elif kind == 4:
        clock.run(value * 1000)
    elif kind == 5:
        pool.set_limits(1 + value % 7, 1 + value % 15)
    else:
        pool.set_connected_bias(value * 1000)
    for p in peers:
        if p.events:
            p.events.clear()
            p.cap = 0


OPS = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 19), st.integers(0, 10**6)), max_size=60)


@settings(max_examples=60, deadline=None)
@given(ops=OPS)
def test_invariants_hold_under_random_operations(ops: list[tuple[int, int, int]]) -> None:
    """geth's vflux fuzzer invariant: what peers were told adds up to the pool's active
    count and capacity, which stay within the limits."""
    clock, pool, _ = make_pool(limits=(5, 12), bias=SECOND)
    peers = [Peer(i) for i in range(20)]
    for op in ops:
        apply_op(clock, pool, peers, op)
        count, cap = pool.active()
        told = [p.cap for p in peers if p.node_id in pool.entries and p.cap]
        assert (len(told), sum(told)) == (count, cap)
        assert count <= pool.max_count and cap <= pool.max_cap


class ScanningPool(ClientPool):
    """The reference: every step scans all active clients for the lowest (priority,
    connection order), as the pool did before its heap."""

    def _lowest_active(self) -> tuple[int, Any]:
        keyed = [(self._active_key(e), e.seq, e) for e in self.entries.values() if e.temp_capacity]
        key, _, entry = min(keyed, key=lambda item: item[:2])
        return key, entry


@settings(max_examples=80, deadline=None)
@given(ops=OPS)
def test_heap_order_equals_a_full_scan(ops: list[tuple[int, int, int]]) -> None:
    """The heap that picks whom to cut gives the same capacities, op by op, as a scan."""
    clock_a, fast, _ = make_pool(limits=(5, 12), bias=SECOND)
    clock_b = ManualClock()
    slow = ScanningPool(
        BalanceTracker(clock_b, MemoryBalanceStore()), min_cap=1, connected_bias=SECOND
    )
    slow.set_default_factors(FACTORS, FACTORS)
    slow.set_limits(5, 12)
    peers_a = [Peer(i) for i in range(20)]
    peers_b = [Peer(i) for i in range(20)]
    for op in ops:
        apply_op(clock_a, fast, peers_a, op)
        apply_op(clock_b, slow, peers_b, op)
        assert [p.cap for p in peers_a] == [p.cap for p in peers_b]
        assert fast.entries.keys() == slow.entries.keys()


@pytest.mark.parametrize("seed", range(4))
def test_heap_order_equals_a_full_scan_long_runs(seed: int) -> None:
    """Long seeded runs with many priority clients of large capacities, where most steps
    cut several clients in 1/4 and 1/100 steps: the heap and the scan still agree."""
    rng = random.Random(seed)
    pools = []
    for cls in (ClientPool, ScanningPool):
        clock = ManualClock()
        pool = cls(BalanceTracker(clock, MemoryBalanceStore()), min_cap=1, connected_bias=SECOND)
        pool.set_default_factors(FACTORS, FACTORS)
        pool.set_limits(12, 400)
        pools.append((clock, pool, [Peer(i) for i in range(30)]))
    for _ in range(1500):
        kind = rng.choice((0, 0, 1, 2, 2, 3, 3, 3, 3, 4, 5, 6))
        op = (kind, rng.randrange(30), rng.randrange(10**6))
        if kind == 3:
            op = (3, op[1], rng.randrange(1, 120) * 8 + rng.randrange(8))
        if kind == 5:
            op = (5, 0, 150 + rng.randrange(250))
        for clock, pool, peers in pools:
            if kind == 3:
                peer = peers[op[1]]
                if peer.node_id in pool.entries:
                    with contextlib.suppress(NoPriority, NotConnected, CantFindMaximum):
                        pool.set_capacity(peer.node_id, op[2], SECOND, True)
            elif kind == 5:
                pool.set_limits(12, op[2])
            else:
                apply_op(clock, pool, peers, op)
        peers_a, peers_b = pools[0][2], pools[1][2]
        assert [p.cap for p in peers_a] == [p.cap for p in peers_b]
