"""Client balances: positive (paid) and negative (usage of free clients), pricing, priority.

Semantics follow geth v1.11.6's les/vflux/server/balance.go (shared/spec/server-pool.md
§1.4-1.7, §2.2), with its defects fixed where §7 says so:

* a positive balance is kept whatever its size (geth deleted balances <= 1,000,000);
  negative balances still use the 1,000,000 threshold;
* charges of connected clients are persisted periodically by the pool, not only on
  deactivation.

Time is in nanoseconds from an injected clock; price factors are in internal units (per ns,
per 1e6 capacity units per ns, per cost unit).

The arithmetic is total. A price factor is a finite float in ``[0, MAX_PRICE_FACTOR]``
(:class:`PriceFactors` refuses anything else), and every charge converts its float to an
integer saturating at ``MAX_BALANCE``, as geth's int64 maths would be if it did not wrap, so
no interval, capacity or request cost can make a balance operation raise. Changes that are
persisted (``add_balance``, ``set_balance``) are computed on a copy, written, and only then
applied: when the write fails, memory is as it was.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from lightclient.errors import InvalidInput, LightClientError
from lightclient.pool.clock import SECOND, Clock, Timer
from lightclient.pool.expiration import ExpiredValue, Expirer

__all__ = [
    "MAX_BALANCE",
    "MAX_PRICE_FACTOR",
    "NEG_THRESHOLD",
    "BalanceListener",
    "BalanceOverflow",
    "BalanceStore",
    "BalanceTracker",
    "NodeBalance",
    "PriceFactors",
]

MAX_BALANCE = 2**63 - 1
MIN_AMOUNT = -(2**63)  # int64, as geth's AddBalance takes
NEG_THRESHOLD = 1_000_000  # negative balances at or below this are not kept
# The largest internal price factor: 1e9 balance units per ns (per 1e6 capacity per ns, per
# cost unit), i.e. 1e18 in the API's per-second units: the whole int64 range in ~9 s. With
# capacities and intervals within int64, every price times interval stays a finite float.
MAX_PRICE_FACTOR = 1e9
MIN_EXPIRATION_TC = 1.0  # seconds
_MAX_COST_SUM = 2**64 - 1  # geth's sumReqCost is a uint64; ours saturates there
log = logging.getLogger(__name__)
_CALLBACK_UPDATE = 0
_CALLBACK_ZERO = 1


class BalanceOverflow(LightClientError):
    def __init__(self) -> None:
        super().__init__("balance overflow")


def charge_of(value: float) -> int:
    """A non-negative float charge as an int64, saturating (NaN and negatives are 0)."""
    if not value > 0:
        return 0
    if value >= MAX_BALANCE:
        return MAX_BALANCE
    return int(value)


def valid_factor(value: float) -> bool:
    return math.isfinite(value) and 0 <= value <= MAX_PRICE_FACTOR


@dataclass(frozen=True, slots=True)
class PriceFactors:
    """Balance units per ns, per ns per 1e6 capacity, and per request cost unit.

    Each is a finite float in ``[0, MAX_PRICE_FACTOR]`` (negative zero reads as 0);
    anything else raises :class:`~lightclient.errors.InvalidInput`."""

    time: float = 0.0
    capacity: float = 0.0
    request: float = 0.0

    def __post_init__(self) -> None:
        for name in ("time", "capacity", "request"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInput(f"price factor {name} must be a number")
            value = float(value)
            if not valid_factor(value):
                raise InvalidInput(
                    f"price factor {name} must be finite and within [0, {MAX_PRICE_FACTOR:g}]"
                )
            object.__setattr__(self, name, value + 0.0)  # -0.0 becomes 0.0

    def connection_price(self, capacity: int, avg_req_cost: float) -> float:
        return self.time + float(capacity) * self.capacity / 1000000 + self.request * avg_req_cost


class BalanceStore(Protocol):
    """Where balances live between connections (the SQLite store, or a dict in tests)."""

    def load_pos(self, node_id: bytes) -> ExpiredValue: ...

    def load_neg(self, free_id: str) -> ExpiredValue: ...

    def store_pos(self, node_id: bytes, value: ExpiredValue | None, meta: str | None) -> None: ...

    def store_neg(self, free_id: str, value: ExpiredValue | None) -> None: ...

    def store_both(
        self,
        node_id: bytes,
        pos: ExpiredValue | None,
        meta: str | None,
        free_id: str,
        neg: ExpiredValue | None,
    ) -> None:
        """Both records in one transaction: either both are written or neither."""
        ...


class BalanceListener(Protocol):
    """What the pool hears from a registered client's balance."""

    def priority_gained(self, balance: NodeBalance) -> None: ...

    def priority_lost(self, balance: NodeBalance) -> None: ...

    def priority_update(self, balance: NodeBalance) -> None: ...


@dataclass(slots=True)
class _Balance:
    pos: ExpiredValue = field(default_factory=ExpiredValue)
    neg: ExpiredValue = field(default_factory=ExpiredValue)

    def copy(self) -> _Balance:
        return _Balance(self.pos.copy(), self.neg.copy())


class BalanceTracker:
    """Shared state of all balances: the clock, the two expirers and the store."""

    def __init__(self, clock: Clock, store: BalanceStore) -> None:
        self.clock = clock
        self.store = store
        self.pos_exp = Expirer()
        self.neg_exp = Expirer()
        self.expiration_tcs = (0.0, 0.0)

    def set_expiration_tcs(self, pos_seconds: float, neg_seconds: float) -> None:
        """Time constants of exponential decay in seconds: 0 (no decay) or a finite number
        of at least MIN_EXPIRATION_TC (a smaller one makes the offsets' rate infinite)."""
        for tc in (pos_seconds, neg_seconds):
            if not (tc == 0 or (math.isfinite(tc) and tc >= MIN_EXPIRATION_TC)):
                raise InvalidInput(
                    f"invalid expiration time constant {tc!r}: 0 or at least "
                    f"{MIN_EXPIRATION_TC:g} s"
                )
        now = self.clock.now()
        self.expiration_tcs = (pos_seconds, neg_seconds)
        self.pos_exp.set_rate(now, 1 / (pos_seconds * SECOND) if pos_seconds else 0.0)
        self.neg_exp.set_rate(now, 1 / (neg_seconds * SECOND) if neg_seconds else 0.0)

    def pos_value(self, b: _Balance, now: int) -> int:
        return min(b.pos.value(self.pos_exp.offset(now)), MAX_BALANCE)

    def neg_value(self, b: _Balance, now: int) -> int:
        return min(b.neg.value(self.neg_exp.offset(now)), MAX_BALANCE)

    def add_value(
        self, b: _Balance, now: int, amount: int, pos: bool, force: bool
    ) -> tuple[int, int, int]:
        """Add to the positive or negative part; (old value, new value, net change)."""
        offset = (self.pos_exp if pos else self.neg_exp).offset(now)
        value = b.pos if pos else b.neg
        # float64(2^63-1) is 2^63, so a saturated value can read one above the cap.
        old = min(value.value(offset), MAX_BALANCE)
        amount = max(amount, MIN_AMOUNT)  # a larger debit clamps at 0 just the same
        if amount > 0 and (amount > MAX_BALANCE or old > MAX_BALANCE - amount):
            if not force:
                raise BalanceOverflow()
            value = ExpiredValue()
            amount = MAX_BALANCE
        net = value.add(amount, offset)
        if pos:
            b.pos = value
        else:
            b.neg = value
        return old, min(value.value(offset), MAX_BALANCE), net

    def charge_negative(self, b: _Balance, now: int, amount: int) -> None:
        """Add usage to the negative balance, saturating at MAX_BALANCE (geth drops a
        charge that would overflow, so its heaviest users stop being charged)."""
        room = MAX_BALANCE - self.neg_value(b, now)
        if amount > 0 and room > 0:
            self.add_value(b, now, min(amount, room), False, False)

    def set_value(self, b: _Balance, now: int, pos: int, neg: int) -> None:
        if pos > MAX_BALANCE or neg > MAX_BALANCE or pos < 0 or neg < 0:
            raise BalanceOverflow()
        pb, nb = ExpiredValue(), ExpiredValue()
        pb.add(pos, self.pos_exp.offset(now))
        nb.add(neg, self.neg_exp.offset(now))
        b.pos, b.neg = pb, nb

    def open(self, node_id: bytes, free_id: str) -> NodeBalance:
        """The balance of a client, loaded from the store."""
        return NodeBalance(self, node_id, free_id)


class NodeBalance:
    """One client's balances, charging and priority (geth's nodeBalance)."""

    def __init__(self, tracker: BalanceTracker, node_id: bytes, free_id: str) -> None:
        self.tracker = tracker
        self.node_id = node_id
        self.free_id = free_id
        now = tracker.clock.now()
        self.balance = _Balance(tracker.store.load_pos(node_id), tracker.store.load_neg(free_id))
        self.meta: str | None = None
        self.pos_factor = PriceFactors()
        self.neg_factor = PriceFactors()
        self.active = False
        self.has_priority = False
        self.listener: BalanceListener | None = None
        self.capacity = 0
        self.sum_req_cost = 0
        self.init_time = now
        self.last_update = now
        self.next_update = 0
        self._timer: Timer | None = None
        self._callbacks: list[tuple[int, int, Callable[[], None]]] = []  # ascending threshold

    # -- reading -----------------------------------------------------------------------

    def _settle(self, now: int) -> None:
        if self.active and now > self.last_update:
            self.balance = self._reduced(
                self.balance, self.last_update, now - self.last_update, self.capacity, 0.0
            )
            self.last_update = now

    def get_balance(self) -> tuple[int, int]:
        now = self.tracker.clock.now()
        self._settle(now)
        return self.tracker.pos_value(self.balance, now), self.tracker.neg_value(self.balance, now)

    def _to_priority(self, now: int, b: _Balance, capacity: int) -> int:
        pos = self.tracker.pos_value(b, now)
        if pos > 0:
            return pos // capacity
        return -self.tracker.neg_value(b, now)

    def priority(self, capacity: int) -> int:
        now = self.tracker.clock.now()
        self._settle(now)
        return self._to_priority(now, self.balance, capacity)

    def estimate_priority(
        self, capacity: int, add_balance: int, future: int, bias: int, update: bool
    ) -> int:
        """A lower estimate of the priority over ``future`` plus ``bias`` ns (geth's rules:
        strictly below the current priority)."""
        now = self.tracker.clock.now()
        self._settle(now)
        b = self.balance.copy()
        if add_balance:
            self.tracker.add_value(b, now, add_balance, True, True)
        if future > 0:
            avg_req_cost = 0.0
            dt = self.last_update - self.init_time
            if dt > SECOND:
                avg_req_cost = float(self.sum_req_cost) * 2 / float(dt)
            b = self._reduced(b, now, future, capacity, avg_req_cost)
        if bias > 0:
            b = self._reduced(b, now + future, bias, capacity, 0.0)
        pri = self._to_priority(now, b, capacity)
        current = self._to_priority(now, self.balance, capacity)
        if pri >= current:
            pri = current - 1
        if update:
            self._add_callback(_CALLBACK_UPDATE, pri, self._signal_update)
        return pri

    def _reduced(self, b: _Balance, start: int, dt: int, capacity: int, avg: float) -> _Balance:
        """``b`` after ``dt`` ns of connection at ``capacity``, charged at the midpoint."""
        at = start + dt // 2
        dtf = float(dt)
        b = b.copy()
        if not b.pos.is_zero():
            factor = self.pos_factor.connection_price(capacity, avg)
            diff = -charge_of(dtf * factor)
            _, _, net = self.tracker.add_value(b, at, diff, True, False)
            if net == diff:
                dtf = 0.0
            else:
                dtf += float(net) / factor
        if dtf > 0:
            factor = self.neg_factor.connection_price(capacity, avg)
            self.tracker.charge_negative(b, at, charge_of(dtf * factor))
        return b

    # -- changing ----------------------------------------------------------------------

    def add_balance(self, amount: int, meta: str | None = None) -> tuple[int, int]:
        """Add to the positive balance (clamped at 0); (before, after).

        Atomic: an overflow (``balance overflow``) or a failed write changes nothing; on
        success the new balance (and ``meta``, if given) is stored before it is applied."""
        now = self.tracker.clock.now()
        self._settle(now)
        b = self.balance.copy()
        old, new, _ = self.tracker.add_value(b, now, amount, True, False)
        self.tracker.store.store_pos(self.node_id, self._kept_pos(b, now), meta)
        self.balance = b
        if meta is not None:
            self.meta = meta
        self._after_change(now)
        return old, new

    def set_balance(self, pos: int, neg: int) -> None:
        """Set both balances; atomic like :meth:`add_balance`."""
        now = self.tracker.clock.now()
        self._settle(now)
        b = self.balance.copy()
        self.tracker.set_value(b, now, pos, neg)
        self.tracker.store.store_both(
            self.node_id, self._kept_pos(b, now), self.meta, self.free_id, self._kept_neg(b, now)
        )
        self.balance = b
        self._after_change(now)

    def _after_change(self, now: int) -> None:
        """Priority bookkeeping after the balance was changed from outside."""
        callbacks = self._check_callbacks(now) + self._exhausted_while_inactive()
        gained = self.check_priority_status()
        for callback in callbacks:
            callback()
        if self.listener is not None:
            if gained:
                self.listener.priority_gained(self)
            self.listener.priority_update(self)

    def request_served(self, cost: int) -> int:
        """Charge a served request of ``cost`` units; returns the positive balance after."""
        cost = min(max(cost, 0), _MAX_COST_SUM)
        now = self.tracker.clock.now()
        self._settle(now)
        fcost = float(cost)
        new_balance = 0
        check = False
        if not self.balance.pos.is_zero():
            pos_cost = -charge_of(fcost * self.pos_factor.request)
            if pos_cost == 0:
                fcost = 0.0
                new_balance = self.tracker.pos_value(self.balance, now)
            else:
                _, new_balance, net = self.tracker.add_value(
                    self.balance, now, pos_cost, True, False
                )
                if pos_cost == net:
                    fcost = 0.0
                else:
                    fcost *= 1 - float(net) / float(pos_cost)
                check = True
        if fcost > 0 and self.neg_factor.request != 0:
            charge = charge_of(fcost * self.neg_factor.request)
            self.tracker.charge_negative(self.balance, now, charge)
            check = True
        self.sum_req_cost = min(self.sum_req_cost + cost, _MAX_COST_SUM)
        if check:
            for callback in self._check_callbacks(now):
                callback()
        return new_balance

    def set_price_factors(self, pos: PriceFactors, neg: PriceFactors) -> None:
        now = self.tracker.clock.now()
        self._settle(now)
        self.pos_factor, self.neg_factor = pos, neg
        for callback in self._check_callbacks(now):
            callback()

    def activate(self) -> None:
        if not self.active:
            self.active = True
            self.last_update = self.tracker.clock.now()

    def deactivate(self) -> None:
        """Stop charging and store both balances. Never raises: if the write fails it is
        logged, and the balances stay in memory for the next save."""
        if self.active:
            self._settle(self.tracker.clock.now())
            if self._timer is not None:
                self._timer.stop()
                self._timer = None
            self.active = False
            self._store_logged(pos=True, neg=True)

    def set_capacity(self, capacity: int) -> None:
        now = self.tracker.clock.now()
        self._settle(now)
        self.capacity = capacity
        for callback in self._check_callbacks(now):
            callback()

    def store(self, *, pos: bool = False, neg: bool = False) -> None:
        """Persist: any non-zero positive balance; a negative one only above 1,000,000."""
        now = self.tracker.clock.now()
        if pos:
            self.tracker.store.store_pos(self.node_id, self._kept_pos(self.balance, now), self.meta)
        if neg:
            self.tracker.store.store_neg(self.free_id, self._kept_neg(self.balance, now))

    def _store_logged(self, *, pos: bool = False, neg: bool = False) -> None:
        """:meth:`store` where a failure must not stop the caller (timers, teardown)."""
        try:
            self.store(pos=pos, neg=neg)
        except LightClientError as exc:
            log.error("balance of %s not saved: %s", self.node_id.hex(), exc)

    def _kept_pos(self, b: _Balance, now: int) -> ExpiredValue | None:
        keep = not b.pos.is_zero() and self.tracker.pos_value(b, now) > 0
        return b.pos.copy() if keep else None

    def _kept_neg(self, b: _Balance, now: int) -> ExpiredValue | None:
        return b.neg.copy() if self.tracker.neg_value(b, now) > NEG_THRESHOLD else None

    # -- callbacks -----------------------------------------------------------------------

    def check_priority_status(self) -> bool:
        if not self.has_priority and not self.balance.pos.is_zero():
            self.has_priority = True
            self._add_callback(_CALLBACK_ZERO, 0, self._exhausted)
            return True
        return False

    def _exhausted_while_inactive(self) -> list[Callable[[], None]]:
        """A client without capacity has no priority checks; if a change emptied its
        positive balance, it loses priority now (geth misses this, spec §7.14)."""
        if self.capacity == 0 and self.has_priority and self.balance.pos.is_zero():
            self._remove_callback(_CALLBACK_ZERO)
            return [self._exhausted]
        return []

    def _exhausted(self) -> None:
        self._store_logged(pos=True)
        self.has_priority = False
        if self.listener is not None:
            self.listener.priority_lost(self)

    def _signal_update(self) -> None:
        if self.listener is not None:
            self.listener.priority_update(self)

    def _add_callback(self, kind: int, threshold: int, callback: Callable[[], None]) -> None:
        self._remove_callback(kind)
        self._callbacks.append((threshold, kind, callback))
        self._callbacks.sort(key=lambda item: item[0])
        now = self.tracker.clock.now()
        self._settle(now)
        self._schedule(now)

    def _remove_callback(self, kind: int) -> bool:
        before = len(self._callbacks)
        self._callbacks = [c for c in self._callbacks if c[1] != kind]
        return len(self._callbacks) != before

    def remove_update_callback(self) -> None:
        self._remove_callback(_CALLBACK_UPDATE)

    def has_callback(self, zero: bool) -> bool:
        kind = _CALLBACK_ZERO if zero else _CALLBACK_UPDATE
        return any(c[1] == kind for c in self._callbacks)

    def _check_callbacks(self, now: int) -> list[Callable[[], None]]:
        fired: list[Callable[[], None]] = []
        if not self._callbacks or self.capacity == 0:
            return fired
        pri = self._to_priority(now, self.balance, self.capacity)
        while self._callbacks and self._callbacks[-1][0] >= pri:
            fired.append(self._callbacks.pop()[2])
        self._schedule(now)
        return fired

    def _schedule(self, now: int) -> None:
        if not self._callbacks:
            self.next_update = 0
            self._update_after(0)
            return
        d, ok = self.time_until(self._callbacks[-1][0])
        if not ok:
            self.next_update = 0
            self._update_after(0)
            return
        if self.next_update == 0 or self.next_update > now + d:
            if d > SECOND:
                d = (d - SECOND) * 7 // 8 + SECOND
            self.next_update = now + d
            self._update_after(d)

    def _update_after(self, delay: int) -> None:
        if self._timer is None or self._timer.stop():
            if delay == 0:
                self._timer = None
            else:
                self._timer = self.tracker.clock.after(delay, self._on_timer)

    def stop_timer(self) -> None:
        """Cancel the pending priority check (the pool is shutting down)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.next_update = 0

    def _on_timer(self) -> None:
        # This timer has fired: forget it, so the check below can schedule the next one.
        # (geth keeps both, so a callback that fires early is never rescheduled and an idle
        # client keeps its capacity after its balance ran out.)
        self._timer = None
        self.next_update = 0
        if self._callbacks:
            now = self.tracker.clock.now()
            self._settle(now)
            for callback in self._check_callbacks(now):
                callback()

    def time_until(self, priority: int) -> tuple[int, bool]:
        """ns until the priority falls to ``priority`` with no requests; (0, False) if never."""
        now = self.tracker.clock.now()
        pos = self.tracker.pos_value(self.balance, now)
        if priority > 0:
            target_pos, target_neg = priority * self.capacity, 0
        else:
            target_pos, target_neg = 0, -priority
        diff = 0.0
        if pos > 0:
            price = self.pos_factor.connection_price(self.capacity, 0.0)
            if price < 1e-100:
                return 0, False
            if target_pos > 0:
                if target_pos > pos:
                    return 0, True
                return _duration(float(pos - target_pos) / price), True
            diff = float(pos) / price
        elif target_pos > 0:
            return 0, True
        neg = self.tracker.neg_value(self.balance, now)
        if target_neg > neg:
            price = self.neg_factor.connection_price(self.capacity, 0.0)
            if price < 1e-100:
                return 0, False
            diff += float(target_neg - neg) / price
        return _duration(diff), True


def _duration(ns: float) -> int:
    """A float of ns as an int64 duration (geth's time.Duration), saturating."""
    return charge_of(ns)
