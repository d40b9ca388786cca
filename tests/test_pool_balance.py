"""Balances, pricing and priority on a manual clock (geth's balance_test.go, spec §6.1)."""

from __future__ import annotations

import math

import pytest

from lightclient.pool.balance import BalanceOverflow, BalanceTracker, NodeBalance, PriceFactors
from lightclient.pool.clock import MINUTE, SECOND, ManualClock
from lightclient.pool.memstore import MemoryBalanceStore

ZERO_ID = b"\x00" * 32
HOUR = 60 * MINUTE


def make(cap: int, factors: PriceFactors | None = None) -> tuple[ManualClock, NodeBalance]:
    clock = ManualClock()
    node = BalanceTracker(clock, MemoryBalanceStore()).open(ZERO_ID, "")
    if factors is not None:
        node.set_price_factors(factors, factors)
    if cap:
        node.activate()
        node.set_capacity(cap)
    return clock, node


def test_add_balance() -> None:
    _, node = make(1000)
    for amount, expected in [(100, (0, 100)), (-100, (100, 0)), (-100, (0, 0)), (1, (0, 1))]:
        assert node.add_balance(amount) == expected
    with pytest.raises(BalanceOverflow, match="balance overflow"):
        node.add_balance(2**63 - 1)
    assert node.get_balance() == (1, 0)


def test_set_balance() -> None:
    _, node = make(1000)
    for pos, neg in [(1000, 0), (0, 1000), (1000, 1000)]:
        node.set_balance(pos, neg)
        assert node.get_balance() == (pos, neg)


def test_time_cost() -> None:
    clock, node = make(1000, PriceFactors(1, 0, 1))
    for _ in range(2):
        node.set_balance(MINUTE, 0)
        clock.run(SECOND)
        assert node.get_balance() == (59 * SECOND, 0)
        clock.run(0)
        assert node.get_balance() == (59 * SECOND, 0)
        clock.run(59 * SECOND)
        assert node.get_balance() == (0, 0)
        clock.run(SECOND)
        assert node.get_balance() == (0, SECOND)


def test_request_cost() -> None:
    _, node = make(1000, PriceFactors(1, 0, 1))
    node.set_balance(MINUTE, 0)
    for cost, expected in [(SECOND, (59 * SECOND, 0)), (0, (59 * SECOND, 0)),
                           (59 * SECOND, (0, 0)), (SECOND, (0, SECOND))]:  # fmt: skip
        node.request_served(cost)
        assert node.get_balance() == expected


def test_balance_to_priority() -> None:
    _, node = make(1000)
    for pos, neg, priority in [(1000, 0, 1), (2000, 0, 2), (0, 0, 0), (0, 1000, -1000)]:
        node.set_balance(pos, neg)
        assert node.priority(1000) == priority


def test_estimated_priority() -> None:
    clock, node = make(1_000_000_000, PriceFactors(1, 0, 1))
    node.set_balance(MINUTE, 0)
    steps = [
        (SECOND, 0, SECOND, 58),
        (0, 0, SECOND, 58),
        (SECOND, SECOND, SECOND, 55),
        (SECOND, SECOND, 3 * SECOND, 48),
        (55 * SECOND, 0, 0, -1),
        (0, 0, MINUTE, -60 * SECOND - 120 * SECOND // 29),
    ]
    for run, cost, future, expected in steps:
        clock.run(run)
        node.request_served(cost)
        assert node.estimate_priority(1_000_000_000, 0, future, 0, False) == expected
    assert -60 * SECOND - 120 * SECOND // 29 == -64137931034


def test_time_until_thresholds() -> None:
    _, node = make(1_000_000, PriceFactors(1, 0, 1))
    node.set_balance(SECOND, 0)
    assert node.time_until(500) == (500_000_000, True)
    assert node.time_until(0) == (SECOND, True)
    assert node.time_until(-SECOND) == (2 * SECOND, True)


def test_zero_callback_fires_when_the_balance_runs_out() -> None:
    clock, node = make(1000, PriceFactors(1, 0, 1))

    class Listener:
        lost = 0

        def priority_gained(self, balance: NodeBalance) -> None:
            pass

        def priority_lost(self, balance: NodeBalance) -> None:
            self.lost += 1

        def priority_update(self, balance: NodeBalance) -> None:
            pass

    listener = Listener()
    node.listener = listener
    node.add_balance(MINUTE)
    assert node.has_priority and node.has_callback(zero=True)
    clock.run(MINUTE)
    assert listener.lost == 1 and not node.has_priority


def test_persistence_with_expiration() -> None:
    """geth's TestBalancePersistence: halves every 2 h (pos) and every 1 h (neg)."""
    clock = ManualClock()
    store = MemoryBalanceStore()
    tracker = BalanceTracker(clock, store)
    tracker.set_expiration_tcs(2 * 3600 / math.log(2), 3600 / math.log(2))
    node = tracker.open(ZERO_ID, "")
    node.set_balance(16_000_000_000, 16_000_000_000)
    clock.run(2 * HOUR)
    assert node.get_balance() == (8_000_000_000, 4_000_000_000)
    # Restart: a new tracker on the same store with the saved offsets and a clock at 0.
    offsets = (tracker.pos_exp.offset(clock.now()), tracker.neg_exp.offset(clock.now()))
    clock2 = ManualClock()
    tracker2 = BalanceTracker(clock2, store)
    tracker2.set_expiration_tcs(2 * 3600 / math.log(2), 3600 / math.log(2))
    tracker2.pos_exp.set_log_offset(0, offsets[0])
    tracker2.neg_exp.set_log_offset(0, offsets[1])
    again = tracker2.open(ZERO_ID, "")
    assert again.get_balance() == (8_000_000_000, 4_000_000_000)
    clock2.run(2 * HOUR)
    assert again.get_balance() == (4_000_000_000, 1_000_000_000)


def test_small_positive_balances_are_kept() -> None:
    """geth deleted positive balances <= 1e6 (spec §7.8); we keep every non-zero one."""
    clock = ManualClock()
    store = MemoryBalanceStore()
    tracker = BalanceTracker(clock, store)
    tracker.open(b"\x01" * 32, "").add_balance(5, "meta")
    assert tracker.open(b"\x01" * 32, "").get_balance() == (5, 0)
    assert store.load_meta(b"\x01" * 32) == "meta"
    node = tracker.open(b"\x02" * 32, "1.2.3.4")
    node.set_balance(0, 1_000_000)
    assert tracker.open(b"\x02" * 32, "1.2.3.4").get_balance() == (0, 0)  # at the threshold
    node.set_balance(0, 1_000_001)
    assert tracker.open(b"\x02" * 32, "1.2.3.4").get_balance() == (0, 1_000_001)
