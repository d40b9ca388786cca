"""The client pool: who is served, with how much capacity (geth's ClientPool and
priorityPool, spec shared/spec/server-pool.md §2).

Single-threaded and driven by an injected clock. Priorities are computed exactly instead of
geth's lazy queue (§7.21): within one operation a client's priority depends only on its own
balance, temporary capacity and bias, so one heap of active clients, built when a limit is
first exceeded and given a fresh item whenever a client's temporary capacity or bias
changes, finds each next client to cut in O(log n) (geth's tests describe the same order).
The heap is dropped when the operation commits or rolls back, because balances move
between operations. The observable
rules are kept: a candidate is judged by its priority estimated after the connection bias,
reductions go in 1/4 steps (1/100 for the requester), changes are made on a temporary copy
and committed only when the target is met, and estimates are strictly below the current
priority. Ties go to the client that connected first.

Connections are total: ``register`` either adds a client or leaves the pool as it was, and
``unregister`` always removes the client, whatever fails on the way (a balance that cannot
be written is logged, not raised), so no entry outlives its connection. A peer whose
``update_capacity`` or ``disconnect`` raises is logged and does not break the pool.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from lightclient.errors import LightClientError
from lightclient.pool.balance import BalanceTracker, NodeBalance, PriceFactors
from lightclient.pool.clock import MINUTE, SECOND, Timer

__all__ = [
    "CantFindMaximum",
    "ClientPeer",
    "ClientPool",
    "NoPriority",
    "NotConnected",
]

MAX_INT64 = 2**63 - 1
MIN_INT64 = -(2**63)
CAPACITY_STEP_DIV = 4
FINE_STEP_DIV = 100
DEFAULT_CONNECTED_BIAS = 3 * MINUTE
CURVE_CACHE_TIME = 10 * SECOND  # geth reuses an unforced capacity curve this long
log = logging.getLogger(__name__)


class NotConnected(LightClientError):
    def __init__(self) -> None:
        super().__init__("client not connected")


class NoPriority(LightClientError):
    def __init__(self) -> None:
        super().__init__("priority too low to raise capacity")


class CantFindMaximum(LightClientError):
    def __init__(self) -> None:
        super().__init__("unable to find maximum allowed capacity")


class ClientPeer(Protocol):
    """What the pool needs of a connected client."""

    @property
    def node_id(self) -> bytes: ...

    @property
    def free_id(self) -> str: ...

    def inactive_allowance(self) -> int:
        """ns an inactive free client may wait before it is disconnected."""
        ...

    def update_capacity(self, capacity: int, requested: bool) -> None: ...

    def disconnect(self) -> None: ...


@dataclass(eq=False)
class _Entry:
    peer: ClientPeer
    balance: NodeBalance
    connected_at: int
    capacity: int = 0
    temp_capacity: int = 0
    min_target: int = 0
    step_div: int = CAPACITY_STEP_DIV
    bias: int = 0
    in_temp: bool = False
    requested: bool = False
    inactive_timer: Timer | None = None
    priority_flag: bool = False
    seq: int = 0  # connection order, the tie-break between equal priorities
    version: int = 0  # bumped on each change of temp_capacity or bias (stale heap items)


@dataclass
class _Curve:
    points: list[tuple[int, int]]  # (free capacity, next priority)
    node_points: dict[bytes, list[int]] = field(default_factory=dict)
    exclude_first: bool = False
    excluded: list[int] = field(default_factory=list)

    def exclude(self, node_id: bytes) -> _Curve:
        own = self.node_points.get(node_id)
        if own is None:
            return self
        return _Curve(self.points, self.node_points, False, sorted(own))

    def point(self, i: int) -> tuple[int, int]:
        free, pri = self.points[i]
        if i == 0 and self.exclude_first:
            free = 0
        for e in self.excluded:
            if e >= i and e + 1 < len(self.points):
                free += self.points[e + 1][0] - self.points[e][0]
        return free, pri

    def max_capacity(self, priority: Callable[[int], int]) -> int:
        """The most capacity available to a client whose priority at capacity c is
        ``priority(c)`` (decreasing in c)."""
        lo, hi = 0, len(self.points) - 1
        while lo < hi:  # first m where not (free == 0 or priority(free) > nextPri)
            mid = (lo + hi) // 2
            free, next_pri = self.point(mid)
            if free == 0 or priority(free) > next_pri:
                lo = mid + 1
            else:
                hi = mid
        m = lo
        free_m, _ = self.point(m)
        if free_m == 0 or m == 0:
            return free_m
        free_prev, pri_prev = self.point(m - 1)
        if priority(free_m) > pri_prev:
            return free_m
        lo_c, hi_c = free_prev, free_m - 1
        while lo_c < hi_c:  # largest c with c == 0 or priority(c) > pri_prev
            mid = (lo_c + hi_c + 1) // 2
            if mid == 0 or priority(mid) > pri_prev:
                lo_c = mid
            else:
                hi_c = mid - 1
        return lo_c


class ClientPool:
    """Free and priority clients sharing a total capacity."""

    def __init__(
        self,
        tracker: BalanceTracker,
        *,
        min_cap: int,
        connected_bias: int = DEFAULT_CONNECTED_BIAS,
    ) -> None:
        self.tracker = tracker
        self.clock = tracker.clock
        self.min_cap = min_cap
        self.connected_bias = connected_bias
        self.active_bias = max(connected_bias, 1)
        self.max_count = 0
        self.max_cap = 0
        self.entries: dict[bytes, _Entry] = {}
        self.default_pos = PriceFactors()
        self.default_neg = PriceFactors()
        self.stopped = False
        self._temp: list[_Entry] = []
        # Running totals over temp capacities, and the clients waiting with capacity 0.
        self._count = 0
        self._cap = 0
        self._waiting: dict[bytes, _Entry] = {}
        # Active clients by (priority, connection order) during one operation; see above.
        self._heap: list[tuple[int, int, int, _Entry]] | None = None
        self._seq = itertools.count()
        # The last capacity curve, when it was made, and whether a commit made it stale.
        self._curve: _Curve | None = None
        self._curve_at = 0
        self._curve_forced = False

    # -- counters --------------------------------------------------------------------

    def active(self) -> tuple[int, int]:
        """(number of active clients, their total capacity), committed."""
        caps = [e.capacity for e in self.entries.values() if e.capacity]
        return len(caps), sum(caps)

    def _temp_counts(self) -> tuple[int, int]:
        return self._count, self._cap

    def _set_temp(self, e: _Entry, capacity: int) -> None:
        """Change a temporary capacity, keeping the running totals in step."""
        old = e.temp_capacity
        self._cap += capacity - old
        if old == 0 and capacity:
            self._count += 1
        elif old and capacity == 0:
            self._count -= 1
        e.temp_capacity = capacity
        self._refresh(e)

    def _set_bias(self, e: _Entry, bias: int) -> None:
        e.bias = bias
        self._refresh(e)

    def _refresh(self, e: _Entry) -> None:
        """Mark ``e``'s heap items stale and, if it is active, push its current priority."""
        e.version += 1
        if self._heap is not None and e.temp_capacity:
            heapq.heappush(self._heap, (self._active_key(e), e.seq, e.version, e))

    def connected(self) -> Iterator[_Entry]:
        return iter(self.entries.values())

    # -- configuration ---------------------------------------------------------------

    def set_default_factors(self, pos: PriceFactors, neg: PriceFactors) -> None:
        self.default_pos, self.default_neg = pos, neg

    def set_limits(self, max_count: int, max_cap: int) -> None:
        lowered = max_count < self.max_count or max_cap < self.max_cap
        raised = max_count > self.max_count or max_cap > self.max_cap
        self.max_count, self.max_cap = max_count, max_cap
        if lowered:
            self._enforce_limits()
            self._finalize(True)
        if raised:
            self._try_activate(False)

    def set_connected_bias(self, bias: int) -> None:
        self.connected_bias = bias
        self.active_bias = max(bias, 1)
        self._try_activate(False)

    # -- connections -----------------------------------------------------------------

    def register(self, peer: ClientPeer) -> NodeBalance | None:
        """A client connected; returns its balance (capacity is given through the peer)."""
        if self.stopped:
            return None
        if peer.node_id in self.entries:
            raise LightClientError("client already registered")
        balance = self.tracker.open(peer.node_id, peer.free_id)
        balance.set_price_factors(self.default_pos, self.default_neg)
        entry = _Entry(peer, balance, self.clock.now(), min_target=self.min_cap)
        entry.seq = next(self._seq)
        self.entries[peer.node_id] = entry
        self._waiting[peer.node_id] = entry
        try:
            balance.listener = _Listener(self, entry)
            if not balance.balance.pos.is_zero():
                entry.priority_flag = True
                balance.check_priority_status()  # registers the zero callback
            if not entry.priority_flag:
                self._arm_inactive_timer(entry)
            self._try_activate(False)
        except BaseException:
            self._abort_operation()
            self._remove(entry)
            raise
        return balance

    def unregister(self, peer: ClientPeer) -> None:
        """The client went away. Never raises; the entry is gone afterwards (an entry of a
        different peer object with the same ID is not this peer's, and is kept)."""
        entry = self.entries.get(peer.node_id)
        if entry is None or entry.peer is not peer:
            return
        had_capacity = entry.capacity != 0
        entry.priority_flag = False
        try:
            entry.balance.deactivate()
        except Exception:  # a bug, not an expected failure: the client must still go
            log.exception("deactivating %s failed", peer.node_id.hex())
        self._remove(entry)
        if had_capacity:
            try:
                self._try_activate(True)
            except Exception:
                log.exception("activating waiting clients after %s left failed",
                              peer.node_id.hex())  # fmt: skip
                self._abort_operation()

    def _remove(self, entry: _Entry) -> None:
        """Drop ``entry`` from every structure of the pool (cannot fail)."""
        entry.balance.listener = None
        entry.balance.remove_update_callback()
        entry.balance.stop_timer()
        entry.balance.active = False
        self._cancel_inactive_timer(entry)
        if entry.in_temp:
            entry.in_temp = False
            self._temp = [e for e in self._temp if e is not entry]
        self._set_temp(entry, 0)
        entry.capacity = 0
        node_id = entry.peer.node_id
        if self.entries.get(node_id) is entry:
            del self.entries[node_id]
        if self._waiting.get(node_id) is entry:
            del self._waiting[node_id]

    def _abort_operation(self) -> None:
        """Undo an operation's uncommitted temporary changes after an error."""
        self._heap = None
        for e in self._temp:
            self._set_temp(e, e.capacity)
            e.in_temp = False
            e.min_target = self.min_cap
            e.step_div = CAPACITY_STEP_DIV
            e.bias = 0
        self._temp = []

    def stop(self) -> None:
        """Store every balance and cancel the timers (the pool answers no more
        registrations, and nothing fires after the store is closed). Every balance is
        tried; if any could not be written, the first error is raised at the end."""
        self.stopped = True
        failure: LightClientError | None = None
        for entry in self.entries.values():
            entry.balance.stop_timer()
            self._cancel_inactive_timer(entry)
            try:
                entry.balance.get_balance()  # settle the charges up to now
                entry.balance.store(pos=True, neg=True)
            except LightClientError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def persist_connected(self) -> None:
        """Write the current balances of connected clients (called periodically). Every
        client is tried; the first failure is raised at the end."""
        failure: LightClientError | None = None
        for entry in list(self.entries.values()):
            try:
                entry.balance.get_balance()
                entry.balance.store(pos=True, neg=True)
            except LightClientError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    # -- priorities ------------------------------------------------------------------

    def _active_key(self, e: _Entry) -> int:
        if e.bias == 0:
            return e.balance.priority(e.temp_capacity)
        return e.balance.estimate_priority(e.temp_capacity, 0, 0, e.bias, True)

    def _enter_temp(self, e: _Entry) -> None:
        if not e.in_temp:
            e.in_temp = True
            self._temp.append(e)

    def _enforce_limits(self) -> tuple[_Entry | None, int]:
        last: _Entry | None = None
        last_pri = MIN_INT64
        while True:
            count, cap = self._temp_counts()
            if cap <= self.max_cap and count <= self.max_count:
                return last, last_pri
            pri, c = self._lowest_active()
            self._enter_temp(c)
            if c.temp_capacity == c.min_target or count > self.max_count:
                self._set_temp(c, 0)
            else:
                sub = max(1, c.temp_capacity // c.step_div)
                if c.temp_capacity - sub < c.min_target:
                    sub = c.temp_capacity - c.min_target
                self._set_temp(c, c.temp_capacity - sub)
            last, last_pri = c, pri

    def _lowest_active(self) -> tuple[int, _Entry]:
        """The active client with the lowest priority (the first connected on ties).

        Each active client has exactly one heap item of its current version, keyed by its
        priority when that version began; older items are skipped. (Re-evaluating on every
        pop would never settle on a real clock, where balances change by the nanosecond.)
        """
        heap = self._heap
        if heap is None:
            heap = [
                (self._active_key(e), e.seq, e.version, e)
                for e in self.entries.values()
                if e.temp_capacity
            ]
            heapq.heapify(heap)
            self._heap = heap
        while True:
            key, _, version, e = heap[0]
            if version == e.version and e.temp_capacity and self.entries.get(e.peer.node_id) is e:
                return key, e
            heapq.heappop(heap)

    def _finalize(self, commit: bool) -> None:
        self._heap = None
        if commit:
            self._curve_forced = True
        changes: list[tuple[_Entry, int, int]] = []
        for e in self._temp:
            old = e.capacity
            if commit:
                e.capacity = e.temp_capacity
            else:
                self._set_temp(e, e.capacity)
            e.in_temp = False
            if e.capacity == 0 and e.peer.node_id in self.entries:
                self._waiting[e.peer.node_id] = e
            else:
                self._waiting.pop(e.peer.node_id, None)
            e.min_target = self.min_cap
            e.step_div = CAPACITY_STEP_DIV
            e.bias = 0
            if e.capacity != old:
                changes.append((e, old, e.capacity))
        self._temp = []
        for e, old, new in changes:
            self._apply(e, old, new)

    def _apply(self, e: _Entry, old: int, new: int) -> None:
        if e.peer.node_id not in self.entries:
            return
        requested, e.requested = e.requested, False
        if old == 0:
            e.balance.set_capacity(new)
            e.balance.activate()
            self._cancel_inactive_timer(e)
            _tell_capacity(e.peer, new, requested)
        elif new == 0:
            e.balance.deactivate()
            _tell_capacity(e.peer, 0, requested)
            if not e.priority_flag:
                self._arm_inactive_timer(e)
        else:
            e.balance.set_capacity(new)
            _tell_capacity(e.peer, new, requested)

    def _try_activate(self, commit: bool) -> None:
        tried: set[bytes] = set()
        while True:
            waiting = [
                e for node_id, e in self._waiting.items() if not e.in_temp and node_id not in tried
            ]
            if not waiting:
                break
            c = max(waiting, key=lambda e: e.balance.priority(self.min_cap))
            tried.add(c.peer.node_id)
            self._enter_temp(c)
            c.bias = self.active_bias
            self._set_temp(c, self.min_cap)
            self._enforce_limits()
            if c.temp_capacity > 0:
                commit = True
                self._set_bias(c, 0)
            else:
                break
        self._curve_forced = True
        self._finalize(commit)

    def _request_capacity(self, e: _Entry, min_target: int, max_target: int, bias: int) -> int:
        min_target = max(min_target, self.min_cap)
        max_target = max(max_target, min_target)
        bias = max(bias, self.active_bias)
        self._enter_temp(e)
        if max_target > e.capacity:
            e.step_div = FINE_STEP_DIV
            e.bias = bias
        self._set_temp(e, max_target)
        e.min_target = min_target
        self._enforce_limits()
        ok = min_target <= e.temp_capacity <= max_target and e.temp_capacity != e.capacity
        self._finalize(ok)
        return e.capacity

    def set_capacity(self, node_id: bytes, requested_cap: int, bias: int, requested: bool) -> int:
        """Change a client's capacity; returns the capacity it has afterwards."""
        bias = max(bias, self.connected_bias)
        e = self.entries.get(node_id)
        if e is None:
            raise NotConnected()
        capacity = e.capacity
        if capacity == 0:
            return 0
        requested_cap = max(requested_cap, self.min_cap)
        if requested_cap > self.min_cap and not e.priority_flag:
            raise NoPriority()
        if requested_cap == capacity:
            return capacity
        e.requested = requested
        if requested_cap > capacity:
            curve = self.capacity_curve().exclude(node_id)
            available = curve.max_capacity(
                lambda c: e.balance.estimate_priority(c, 0, 0, bias, False)
            )
            if available < requested_cap:
                e.requested = False
                return capacity
            min_target = max(capacity, requested_cap - requested_cap // 20)
            max_target = requested_cap
        else:
            min_target = max_target = requested_cap
        new = self._request_capacity(e, min_target, max_target, bias)
        e.requested = False
        if min_target <= new <= max_target:
            return new
        raise CantFindMaximum()

    def capacity_curve(self) -> _Curve:
        """How much capacity could be had at which priority (geth's capacity curve).

        Building it walks every active client, so, as geth does, it is reused for up to
        10 s unless a committed change (or an activation attempt) has made it stale."""
        now = self.clock.now()
        if (
            self._curve is not None
            and not self._curve_forced
            and now - self._curve_at < CURVE_CACHE_TIME
        ):
            return self._curve
        self._curve_forced = False
        self._curve_at = now
        self._curve = self._build_curve()
        return self._curve

    def _build_curve(self) -> _Curve:
        count, _ = self._temp_counts()
        exclude_first = count == self.max_count
        points: list[tuple[int, int]] = []
        node_points: dict[bytes, list[int]] = {}
        saved_max = self.max_cap
        try:
            while True:
                _, active_cap = self._temp_counts()
                if active_cap <= 0:
                    break
                free = max(self.max_cap - active_cap, 0)
                self.max_cap = saved_max - (free + 1)
                node, pri = self._enforce_limits()
                self.max_cap = saved_max
                if node is None:
                    break
                if points and pri < points[-1][1]:
                    pri = points[-1][1]
                points.append((free, pri))
                node_points.setdefault(node.peer.node_id, []).append(len(points) - 1)
        finally:
            self.max_cap = saved_max
            self._finalize(False)
        points.append((self.max_cap, MAX_INT64))
        return _Curve(points, node_points, exclude_first)

    # -- inactive timeout and priority changes --------------------------------------------

    def _arm_inactive_timer(self, e: _Entry) -> None:
        self._cancel_inactive_timer(e)

        def expire() -> None:
            e.inactive_timer = None
            if e.capacity == 0 and not e.priority_flag and self.entries.get(e.peer.node_id) is e:
                self.unregister(e.peer)
                try:
                    e.peer.disconnect()
                except Exception:
                    log.exception("disconnecting %s failed", e.peer.node_id.hex())

        e.inactive_timer = self.clock.after(e.peer.inactive_allowance(), expire)

    def _cancel_inactive_timer(self, e: _Entry) -> None:
        if e.inactive_timer is not None:
            e.inactive_timer.stop()
            e.inactive_timer = None

    def _priority_gained(self, e: _Entry) -> None:
        e.priority_flag = True
        if e.capacity == 0:
            self._cancel_inactive_timer(e)

    def _priority_lost(self, e: _Entry) -> None:
        e.priority_flag = False
        if e.capacity > self.min_cap:
            self._request_capacity(e, self.min_cap, self.min_cap, 0)
        elif e.capacity == 0:
            self._arm_inactive_timer(e)

    def _priority_update(self, e: _Entry) -> None:
        if not self._temp and e.peer.node_id in self.entries:
            self._try_activate(False)


def _tell_capacity(peer: ClientPeer, capacity: int, requested: bool) -> None:
    try:
        peer.update_capacity(capacity, requested)
    except Exception:  # the pool's state is already committed; the peer's is its own
        log.exception("telling %s its capacity %d failed", peer.node_id.hex(), capacity)


class _Listener:
    def __init__(self, pool: ClientPool, entry: _Entry) -> None:
        self.pool = pool
        self.entry = entry

    def priority_gained(self, balance: NodeBalance) -> None:
        self.pool._priority_gained(self.entry)

    def priority_lost(self, balance: NodeBalance) -> None:
        self.pool._priority_lost(self.entry)

    def priority_update(self, balance: NodeBalance) -> None:
        self.pool._priority_update(self.entry)
