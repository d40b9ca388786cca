"""The pool's arithmetic is total and every pool operation is atomic (issue 7, items 3-4).

A real SQLite store in a temporary directory and a manual clock. Extreme factors, amounts,
metas, biases, intervals and request costs either work or are refused with a
LightClientError that changed nothing; no failure leaves a pool entry without its peer.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightclient.errors import InvalidInput, LightClientError
from lightclient.pool.balance import MAX_BALANCE, BalanceTracker, PriceFactors
from lightclient.pool.clock import SECOND, ManualClock
from lightclient.pool.memstore import MemoryBalanceStore
from lightclient.rpc.les_admin import les_admin_methods
from lightclient.rpc.params import parse_params
from lightclient.server.service import (
    MAX_API_FACTOR,
    MAX_IDS,
    MAX_META_BYTES,
    PoolConfig,
    PoolService,
)
from lightclient.store.balances import BalanceWriteError, SqliteBalanceStore
from lightclient.store.sqlite import Store

MIN_INT64 = -(2**63)
CONFIG = PoolConfig(min_cap=100, max_count=3, max_capacity=1000)
FACTOR_KEYS = (
    "pricing/timeFactor",
    "pricing/capacityFactor",
    "pricing/requestCostFactor",
    "pricing/negative/timeFactor",
    "pricing/negative/capacityFactor",
    "pricing/negative/requestCostFactor",
)


@dataclass(eq=False)
class Peer:
    """A peer that, like the light server, unregisters itself when the pool drops it."""

    index: int
    service: PoolService | None = None
    cap: int = 0
    live: bool = False

    @property
    def node_id(self) -> bytes:
        return bytes([self.index + 1]) * 32

    @property
    def free_id(self) -> str:
        return f"10.0.0.{self.index}"

    def inactive_allowance(self) -> int:
        return 10 * SECOND

    def update_capacity(self, capacity: int, requested: bool) -> None:
        self.cap = capacity

    def disconnect(self) -> None:
        self.live = False


def connect(service: PoolService, index: int) -> Peer:
    peer = Peer(index, service)
    service.pool.register(peer)
    peer.live = True
    return peer


def leave(service: PoolService, peer: Peer) -> None:
    """What the LES server does when a connection ends, whatever happened before."""
    peer.live = False
    service.pool.unregister(peer)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[PoolService, ManualClock, Store]]:
    clock = ManualClock()
    store = Store.open(tmp_path)
    yield PoolService(clock, SqliteBalanceStore(store), CONFIG), clock, store
    store.close()


def stored(store: Store) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    pos = store.db.execute("SELECT * FROM pos_balances ORDER BY node_id").fetchall()
    neg = store.db.execute("SELECT * FROM neg_balances ORDER BY free_id").fetchall()
    return pos, neg


def snapshot(service: PoolService, store: Store) -> dict[str, Any]:
    """Everything an operation could change: balances, capacities, factors, the store."""
    clients = {}
    for node_id, entry in service.pool.entries.items():
        b = entry.balance
        clients[node_id.hex()] = (
            b.get_balance(), entry.capacity, entry.priority_flag, b.pos_factor, b.neg_factor,
            b.meta, b.active,
        )  # fmt: skip
    return {
        "clients": clients,
        "active": service.pool.active(),
        "defaults": (service.pool.default_pos, service.pool.default_neg),
        "api": repr(service.api_factors),
        "bias": service.pool.connected_bias,
        "stored": stored(store),
    }


def fail_writes(store: Store) -> None:
    """Make every balance write fail inside SQLite, as a full disk would."""
    for table in ("pos_balances", "neg_balances"):
        for event in ("INSERT", "UPDATE", "DELETE"):
            store.db.execute(
                f"CREATE TRIGGER IF NOT EXISTS fail_{table}_{event} BEFORE {event} ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )


def check_invariants(service: PoolService, peers: dict[int, Peer]) -> None:
    pool = service.pool
    for entry in pool.entries.values():
        assert isinstance(entry.peer, Peer) and entry.peer.live, "an entry without a peer"
        assert peers.get(entry.peer.index) is entry.peer
        pos, neg = entry.balance.get_balance()
        assert 0 <= pos <= MAX_BALANCE and 0 <= neg <= MAX_BALANCE
        assert entry.capacity == entry.peer.cap
        assert entry.capacity == 0 or pool.min_cap <= entry.capacity <= pool.max_cap
    for index, peer in peers.items():
        if peer.live:
            own = pool.entries.get(peer.node_id)
            assert own is not None and own.peer is peer, f"peer {index} lost its entry"
    count, cap = pool.active()
    told = [p.cap for p in peers.values() if p.live and p.cap]
    assert (count, cap) == (len(told), sum(told))
    assert count <= pool.max_count and cap <= pool.max_cap
    assert (pool._count, pool._cap) == (count, cap) and not pool._temp


# -- item 3: a pricing factor the arithmetic cannot take -------------------------------------


def test_a_huge_factor_is_refused_and_the_pool_keeps_working(env: Any) -> None:
    """Fails on main: 1e308 was accepted, then every balance read raised OverflowError."""
    service, clock, store = env
    peer = connect(service, 0)
    service.add_balance(peer.node_id.hex(), 10**15)
    before = snapshot(service, store)
    for name in FACTOR_KEYS:
        for value in (1e308, MAX_API_FACTOR * 1.0000001, 10**19):
            with pytest.raises(LightClientError) as err:
                service.set_client_params([peer.node_id.hex()], {name: value})
            assert str(err.value) == f"invalid value for parameter '{name}'"
            assert err.value.rpc_code == -32000
            with pytest.raises(LightClientError, match="invalid value"):
                service.set_default_params({name: value})
    assert snapshot(service, store) == before
    clock.run(3600 * SECOND)
    info = service.client_info([peer.node_id.hex()])[peer.node_id.hex()]
    assert info["isConnected"] and 0 < info["pricing/balance"] < 10**15
    leave(service, peer)
    assert service.pool.entries == {}
    again = connect(service, 0)  # the reconnection is accepted
    assert service.pool.entries[again.node_id].peer is again and again.cap == CONFIG.min_cap


@pytest.mark.parametrize("neg_tc", [0.0, 3600.0])
def test_the_largest_factors_saturate_instead_of_overflowing(tmp_path: Path, neg_tc: float) -> None:
    """Every factor at its maximum, intervals and costs at int64 scale: balances saturate at
    0 and 2^63-1, nothing raises, stop() stores everything. (With expiration, a 292-year
    bias reads values 2^millions of times larger than now: those saturate too.)"""
    clock = ManualClock()
    store = Store.open(tmp_path)
    config = PoolConfig(min_cap=100, max_count=3, max_capacity=1000, neg_expiration_tc=neg_tc)
    service = PoolService(clock, SqliteBalanceStore(store), config)
    paid, free = connect(service, 0), connect(service, 1)
    service.add_balance(paid.node_id.hex(), MAX_BALANCE)
    biggest = dict.fromkeys(FACTOR_KEYS, MAX_API_FACTOR)
    service.set_client_params([], biggest)
    service.set_default_params(biggest)
    service.set_connected_bias(2**63 - 1)
    late = connect(service, 2)  # judged after a 292-year bias at the largest prices
    for dt in (1, SECOND, 2**40, 2**62):
        clock.run(dt)
        for p in (paid, free, late):
            entry = service.pool.entries.get(p.node_id)
            if entry is not None:
                entry.balance.request_served(2**64)
        check_invariants(service, {0: paid, 1: free, 2: late})
    info = service.client_info([])
    assert info[paid.node_id.hex()]["pricing/balance"] == 0  # drained, not negative
    # The last request was charged just now, at the largest price: saturated.
    assert info[free.node_id.hex()]["pricing/negBalance"] == MAX_BALANCE
    service.stop()
    fresh = PoolService(ManualClock(), SqliteBalanceStore(store), config)
    assert fresh.tracker.open(free.node_id, free.free_id).get_balance() == (0, MAX_BALANCE)
    store.close()


def test_price_factors_refuse_what_the_arithmetic_cannot_take() -> None:
    for bad in (float("nan"), float("inf"), -1e-300, 1e9 * 1.0000001, 1e308):
        with pytest.raises(InvalidInput):
            PriceFactors(bad, 0, 0)
    assert str(PriceFactors(-0.0, 5e-324, 1e9)) == str(PriceFactors(0.0, 5e-324, 1e9))


def test_stop_persists_balances_after_extreme_use(env: Any, tmp_path: Path) -> None:
    """Fails on main: after an accepted 1e308 factor, stop() raised OverflowError (the
    SIGTERM that exited 1 without persisting balances)."""
    service, clock, store = env
    peer = connect(service, 0)
    service.add_balance(peer.node_id.hex(), 10**15)
    with pytest.raises(LightClientError):
        service.set_client_params([peer.node_id.hex()], {"pricing/timeFactor": 1e308})
    service.set_client_params([peer.node_id.hex()], {"pricing/timeFactor": 1e9})
    clock.run(1000 * SECOND)  # 1e12 charged
    service.stop()
    fresh = PoolService(ManualClock(), SqliteBalanceStore(store), CONFIG)
    pos = fresh.client_info([peer.node_id.hex()])[peer.node_id.hex()]["pricing/balance"]
    assert pos == 10**15 - 1000 * 10**9 - 1000 * CONFIG.min_cap * 10**9 // 10**6


# -- item 4: a failed les_addBalance must not credit -----------------------------------------


def test_a_lone_surrogate_meta_is_refused_before_anything_changes(env: Any) -> None:
    """Fails on main: SQLite's UnicodeEncodeError came after the in-memory credit, so a
    retry credited twice."""
    service, _clock, store = env
    peer = connect(service, 0)
    service.add_balance(peer.node_id.hex(), 10**15, "first")
    before = snapshot(service, store)
    with pytest.raises(InvalidInput, match="not valid UTF-8"):
        service.add_balance(peer.node_id.hex(), 10**15, "\ud800")
    assert snapshot(service, store) == before
    assert service.add_balance(peer.node_id.hex(), 10**15, "retry") == [10**15, 2 * 10**15]
    leave(service, peer)
    assert service.pool.entries == {}
    assert connect(service, 0).cap == CONFIG.min_cap


@pytest.mark.parametrize("connected", [True, False])
def test_a_failed_write_credits_nothing(env: Any, connected: bool) -> None:
    """Fails on main: memory was credited before the write raised, and the error was a
    bare sqlite3 error (-32603)."""
    service, _clock, store = env
    node = Peer(0).node_id.hex()
    if connected:
        connect(service, 0)
    service.add_balance(node, 10**15)
    fail_writes(store)
    before = snapshot(service, store)
    with pytest.raises(BalanceWriteError, match="disk full") as err:
        service.add_balance(node, 10**15)
    assert err.value.rpc_code == -32000
    assert snapshot(service, store) == before
    assert service.client_info([node])[node]["pricing/balance"] == 10**15


def test_unregister_removes_the_entry_even_when_the_store_fails(
    env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Fails on main: the write in deactivate raised out of unregister, leaving a ghost
    entry that kept its capacity and refused the reconnection."""
    service, clock, store = env
    peer, other = connect(service, 0), connect(service, 1)
    clock.run(3600 * SECOND)  # negative balances now above 1e6: they must be written
    fail_writes(store)
    with caplog.at_level(logging.ERROR):
        leave(service, peer)
    assert "not saved: could not store the negative balance" in caplog.text
    assert peer.node_id not in service.pool.entries
    assert service.pool.active() == (1, CONFIG.min_cap)
    again = connect(service, 0)
    assert service.pool.entries[again.node_id].peer is again
    check_invariants(service, {0: again, 1: other})
    with pytest.raises(BalanceWriteError):
        service.stop()  # every balance was tried; the failure is reported, not swallowed


def test_unregister_of_another_peer_object_keeps_the_live_entry(env: Any) -> None:
    service, _clock, _store = env
    peer = connect(service, 0)
    service.pool.unregister(Peer(0))  # same ID, not the registered connection
    assert service.pool.entries[peer.node_id].peer is peer


def test_balance_overflow_is_geths_error_and_changes_nothing(env: Any) -> None:
    service, _clock, store = env
    peer = connect(service, 0)
    node = peer.node_id.hex()
    # Values go through float64 as in geth: near 2^63 they are multiples of 1024.
    top = 2**63 - 1024
    assert service.add_balance(node, 2**62) == [0, 2**62]
    assert service.add_balance(node, 2**62 - 1024) == [2**62, top]
    before = snapshot(service, store)
    for amount in (1024, 2**62, MAX_BALANCE):
        with pytest.raises(LightClientError, match=r"^balance overflow$"):
            service.add_balance(node, amount)
        assert snapshot(service, store) == before
    assert service.add_balance(node, 1023) == [top, MAX_BALANCE]  # saturated reading
    assert service.add_balance(node, MIN_INT64) == [MAX_BALANCE, 0]  # clamps at 0
    assert service.add_balance(node, MIN_INT64) == [0, 0]
    for amount in (2**63, MIN_INT64 - 1):
        with pytest.raises(InvalidInput, match="int64"):
            service.add_balance(node, amount)


# -- input bounds ----------------------------------------------------------------------------


def test_meta_is_bounded_in_utf8_bytes(env: Any) -> None:
    service, _clock, store = env
    node = Peer(0).node_id.hex()
    assert service.add_balance(node, 5, "é" * (MAX_META_BYTES // 2)) == [0, 5]
    before = snapshot(service, store)
    for meta in ("é" * (MAX_META_BYTES // 2) + "x", "x" * (MAX_META_BYTES + 1), "\udfff"):
        with pytest.raises(InvalidInput, match="invalid meta"):
            service.add_balance(node, 5, meta)
    assert snapshot(service, store) == before
    assert service.balances.load_meta(Peer(0).node_id) == "é" * (MAX_META_BYTES // 2)


def test_meta_and_id_lists_are_checked_by_the_rpc_decoder(env: Any) -> None:
    """The bounds apply before the items are parsed, with geth's 'invalid argument i'."""
    service, _clock, _store = env
    methods = {m.name: m for m in les_admin_methods(service)}
    node = Peer(0).node_id.hex()
    too_many = ["not an id"] * (MAX_IDS + 1)
    for name, params in (
        ("les_clientInfo", [too_many]),
        ("les_setClientParams", [too_many, {"pricing/timeFactor": 1}]),
    ):
        with pytest.raises(InvalidInput) as err:
            parse_params(params, methods[name].params)
        assert str(err.value) == (
            f"invalid argument 0: too many node IDs: {MAX_IDS + 1}, at most {MAX_IDS} are allowed"
        )
    long_meta = "x" * (MAX_META_BYTES + 1)
    with pytest.raises(InvalidInput, match=r"^invalid argument 2: invalid meta"):
        parse_params([node, 1, long_meta], methods["les_addBalance"].params)
    assert parse_params([[node] * MAX_IDS], methods["les_clientInfo"].params) == [[node] * MAX_IDS]


def test_id_lists_are_bounded_in_the_service(env: Any) -> None:
    service, _clock, store = env
    before = snapshot(service, store)
    ids = [Peer(0).node_id.hex()] * (MAX_IDS + 1)
    with pytest.raises(InvalidInput, match=f"at most {MAX_IDS}"):
        service.client_info(ids)
    with pytest.raises(InvalidInput, match=f"at most {MAX_IDS}"):
        service.set_client_params(ids, {"pricing/timeFactor": 1})
    assert snapshot(service, store) == before
    assert len(service.client_info(ids[:MAX_IDS])) == 1


@pytest.mark.parametrize("tc", [5e-324, 0.5, -1.0, float("nan"), float("inf")])
def test_expiration_time_constants_are_bounded(tc: float) -> None:
    tracker = BalanceTracker(ManualClock(), MemoryBalanceStore())
    with pytest.raises(InvalidInput, match="expiration time constant"):
        tracker.set_expiration_tcs(0, tc)
    assert tracker.expiration_tcs == (0.0, 0.0) and tracker.neg_exp.rate == 0.0
    tracker.set_expiration_tcs(1.0, 0)


def test_a_register_that_fails_leaves_no_entry(env: Any) -> None:
    service, _clock, store = env
    store.db.execute("DROP TABLE neg_balances")  # loading the client's balance fails
    with pytest.raises(sqlite3.Error):
        service.pool.register(Peer(0))
    assert service.pool.entries == {} and service.pool._waiting == {}


# -- random sequences of extreme operations --------------------------------------------------

EXTREME_FLOATS = [0.0, -0.0, 5e-324, 1e-300, 1.0, 500.0, 1e9, MAX_API_FACTOR, 1e308, float("nan"),
                  float("inf"), -1.0, 10**19, 2**63 - 1]  # fmt: skip
EXTREME_INTS = [0, 1, -1, 10**6, 10**15, 2**62, 2**63 - 1, MIN_INT64, 2**63, MIN_INT64 - 1]
METAS = [None, "", "ok", "\ud800", "x" * MAX_META_BYTES, "x" * (MAX_META_BYTES + 1)]
TIMES = [0, 1, SECOND, 3600 * SECOND, 2**50, 2**62]
BIASES = [-1, 0, 1, SECOND, 2**40, 2**63 - 1]

PEER = st.integers(0, 4)
OP = st.one_of(
    st.tuples(st.just("connect"), PEER),
    st.tuples(st.just("connect"), PEER),
    st.tuples(st.just("leave"), PEER),
    st.tuples(st.just("add"), PEER, st.sampled_from(EXTREME_INTS), st.sampled_from(METAS)),
    st.tuples(st.just("client"), st.lists(PEER, min_size=1, max_size=3),
              st.sampled_from((*FACTOR_KEYS, "capacity")), st.sampled_from(EXTREME_FLOATS)),
    st.tuples(st.just("default"), st.sampled_from(FACTOR_KEYS), st.sampled_from(EXTREME_FLOATS)),
    st.tuples(st.just("bias"), st.sampled_from(BIASES)),
    st.tuples(st.just("run"), st.sampled_from(TIMES)),
    st.tuples(st.just("serve"), PEER, st.sampled_from(EXTREME_INTS)),
    st.tuples(st.just("break"), st.booleans()),
)  # fmt: skip


def _apply(service: PoolService, store: Store, peers: dict[int, Peer], op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "connect" and not (op[1] in peers and peers[op[1]].live):
        peers[op[1]] = connect(service, op[1])
    elif kind == "leave" and op[1] in peers:
        leave(service, peers[op[1]])
    elif kind == "add":
        service.add_balance(Peer(op[1]).node_id.hex(), op[2], op[3])
    elif kind == "client":
        ids = [Peer(i).node_id.hex() for i in op[1] if i in peers and peers[i].live]
        service.set_client_params(ids or [Peer(9).node_id.hex()], {op[2]: op[3]})
    elif kind == "default":
        service.set_default_params({op[1]: op[2]})
    elif kind == "bias":
        service.set_connected_bias(op[1])
    elif kind == "serve":
        entry = service.pool.entries.get(Peer(op[1]).node_id)
        if entry is not None:
            entry.balance.request_served(op[2])
    elif kind == "break":  # the disk fills up, or recovers
        if op[1]:
            fail_writes(store)
        else:
            for (name,) in store.db.execute("SELECT name FROM sqlite_master WHERE type='trigger'"):
                store.db.execute(f"DROP TRIGGER {name}")


@settings(max_examples=100, deadline=None, derandomize=True)
@given(ops=st.lists(OP, min_size=5, max_size=30))
def test_random_extreme_operations_keep_the_pool_consistent(ops: list[tuple[Any, ...]]) -> None:
    """Every operation succeeds or raises a LightClientError that changed nothing (capacity
    grants excepted, which report what was granted); the invariants hold after each."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock()
        store = Store.open(tmp)
        try:
            service = PoolService(clock, SqliteBalanceStore(store), CONFIG)
            peers: dict[int, Peer] = {}
            for op in ops:
                # Peers the pool disconnected (inactive timeout) end their connection.
                for peer in list(peers.values()):
                    if not peer.live:
                        service.pool.unregister(peer)
                if op[0] == "run":
                    clock.run(op[1])
                else:
                    before = snapshot(service, store)
                    try:
                        _apply(service, store, peers, op)
                    except LightClientError as exc:
                        if not str(exc).startswith("insufficient capacity"):
                            assert snapshot(service, store) == before, (op, exc)
                for peer in list(peers.values()):
                    if not peer.live:
                        service.pool.unregister(peer)
                check_invariants(service, peers)
            for peer in peers.values():
                leave(service, peer)
            assert service.pool.entries == {} and service.pool.active() == (0, 0)
        finally:
            store.close()
