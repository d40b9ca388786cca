"""LES flow control, wire-exact with geth v1.11.6 ``les/flowcontrol/control.go``
(spec §7.1, §7.3-§7.5).

Units: costs and buffers are integers; ``MRR`` is cost units per millisecond, time is
integer nanoseconds from an injected clock (anything with ``now() -> int``, such as
``lightclient.pool.clock.ManualClock`` or ``SystemClock``). Recharge over ``dt`` ns is
``MRR * dt // 1_000_000`` (integer division, as geth), capped at BL.

* :class:`ClientBuffer` is the server's account of one client (geth ``ClientNode``).
  Not modelled: the ``ClientManager``'s faster recharge from spare server capacity
  (§7.8); refunds of ``maxCost - realCost`` go straight into the buffer, which is what
  geth's corrected buffer value amounts to when there is no spare capacity.
* :class:`ServerBuffer` is the client's estimate of its buffer at one server
  (geth ``ServerNode``).
* Freezing (StopMsg/ResumeMsg): :data:`FREEZE_BASE` + random [0, :data:`FREEZE_RANDOM`),
  then every :data:`FREEZE_CHECK` until :func:`may_resume`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lightclient.errors import InvalidInput

__all__ = [
    "DEC_PARAM_DELAY",
    "FREEZE_BASE",
    "FREEZE_CHECK",
    "FREEZE_RANDOM",
    "MS",
    "SAFETY_MARGIN",
    "ClientBuffer",
    "FlowParams",
    "Now",
    "ServerBuffer",
    "may_resume",
    "recharge",
]

MS = 1_000_000  # ns per millisecond: geth's fcTimeConst
DEC_PARAM_DELAY = 2_000 * MS  # a capacity decrease applies this long after it is sent
SAFETY_MARGIN = 1 * MS  # the client asks for 1 ms of MRR more than the max cost
FREEZE_BASE = 700 * MS
FREEZE_RANDOM = 600 * MS
FREEZE_CHECK = 100 * MS


class Now(Protocol):
    def now(self) -> int:
        """Nanoseconds on a monotonic scale."""
        ...


@dataclass(frozen=True, slots=True)
class FlowParams:
    """A client's flow-control parameters: buffer limit BL and minimum recharge MRR."""

    buf_limit: int
    min_recharge: int

    def __post_init__(self) -> None:
        if self.buf_limit < 0 or self.min_recharge < 0:
            raise InvalidInput("flow-control parameters are non-negative")


def recharge(min_recharge: int, elapsed_ns: int) -> int:
    """Cost units recharged in ``elapsed_ns`` at ``min_recharge`` per ms (0 if negative)."""
    return min_recharge * max(elapsed_ns, 0) // MS


def may_resume(bv: int, buf_limit: int) -> bool:
    """Whether a frozen client is resumed: its buffer is above BL/8 (integer division)."""
    return bv > buf_limit // 8


class ClientBuffer:
    """The server's accounting of one client's buffer (BV starts at BL)."""

    def __init__(self, params: FlowParams, clock: Now) -> None:
        self._clock = clock
        self._params = params
        self._bv = params.buf_limit  # may go negative (one-time costs)
        self._last = clock.now()
        self._schedule: list[tuple[int, FlowParams]] = []
        self._sum_cost = 0
        self._accepted: dict[int, int] = {}

    @property
    def params(self) -> FlowParams:
        """The parameters in force now (a pending decrease is not yet)."""
        self._update(self._clock.now())
        return self._params

    def _recalc(self, now: int) -> None:
        self._bv = min(
            self._bv + recharge(self._params.min_recharge, now - self._last),
            self._params.buf_limit,
        )
        self._last = now

    def _update(self, now: int) -> None:
        while self._schedule and self._schedule[0][0] <= now:
            due, params = self._schedule.pop(0)
            self._recalc(due)
            self._apply(params)
        self._recalc(now)

    def _apply(self, params: FlowParams) -> None:
        diff = params.buf_limit - self._params.buf_limit
        if diff > 0:
            self._bv += diff
        elif self._bv > params.buf_limit:
            self._bv = params.buf_limit
        self._params = params

    def buffer_value(self) -> int:
        """The current BV, floored at 0 (geth's BufferStatus)."""
        self._update(self._clock.now())
        return max(self._bv, 0)

    def accept(self, index: int, max_cost: int) -> tuple[bool, int]:
        """Charge ``max_cost`` for request ``index``: (True, 0), or (False, shortfall).

        A refused request leaves the buffer alone; the caller freezes the client (les/3+)
        or disconnects it with 0x03 (les/2) and charges only the incoming-size cost.
        """
        self._update(self._clock.now())
        if max_cost > self._bv:
            return False, max_cost - self._bv
        self._bv -= max_cost
        self._sum_cost += max_cost
        self._accepted[index] = self._sum_cost
        return True, 0

    def processed(self, index: int, max_cost: int, real_cost: int) -> int:
        """Refund ``max_cost - real_cost`` and return the BV to put in the reply.

        Reported BV = current BV + the max costs of requests accepted after this one,
        floored at 0.
        """
        self._update(self._clock.now())
        refund = max_cost - min(real_cost, max_cost)
        if refund:
            self._bv = min(self._bv + refund, self._params.buf_limit)
        reported = self._bv + self._sum_cost - self._accepted.pop(index, 0)
        return max(reported, 0)

    def one_time_cost(self, cost: int) -> None:
        """Charge a cost outside any request (the incoming-size cost of a dropped one)."""
        self._update(self._clock.now())
        self._bv -= cost

    def update_params(self, params: FlowParams) -> None:
        """New parameters: an MRR increase applies now, a decrease after 2 s."""
        now = self._clock.now()
        self._update(now)
        if params.min_recharge >= self._params.min_recharge:
            self._schedule = []
            self._apply(params)
            return
        for i, (due, pending) in enumerate(self._schedule):
            if params.min_recharge >= pending.min_recharge:
                self._schedule[i] = (due, params)
                del self._schedule[i + 1 :]
                return
        self._schedule.append((now + DEC_PARAM_DELAY, params))


class ServerBuffer:
    """A client's estimate of its buffer at one server (BLE starts at BL).

    The estimate recharges only after a reply or a Resume said it was below BL, as in
    geth; queueing a request lowers it without starting the recharge.
    """

    def __init__(self, params: FlowParams, clock: Now) -> None:
        self._clock = clock
        self._params = params
        self._estimate = params.buf_limit
        self._recharging = False
        self._last = clock.now()
        self._sum_cost = 0
        self._pending: dict[int, int] = {}

    @property
    def params(self) -> FlowParams:
        return self._params

    def _recalc(self, now: int) -> None:
        if now < self._last:
            return
        if self._recharging:
            self._estimate += recharge(self._params.min_recharge, now - self._last)
            if self._estimate >= self._params.buf_limit:
                self._estimate = self._params.buf_limit
                self._recharging = False
        self._last = now

    def estimate(self) -> int:
        self._recalc(self._clock.now())
        return self._estimate

    def wait_time(self, max_cost: int) -> int | None:
        """Nanoseconds to wait before a request of ``max_cost`` may be sent (0 = now).

        None when the server gave no buffer at all (BL 0): it cannot be used.
        """
        params = self._params
        if params.buf_limit == 0:
            return None
        self._recalc(self._clock.now())
        needed = min(max_cost + SAFETY_MARGIN * params.min_recharge // MS, params.buf_limit)
        if self._estimate >= needed:
            return 0
        if params.min_recharge == 0:
            return None
        return (needed - self._estimate) * MS // params.min_recharge

    def queued(self, req_id: int, max_cost: int) -> None:
        """Record a request sent with ``max_cost`` (the cost table's, capped at BL)."""
        self._recalc(self._clock.now())
        self._estimate = max(self._estimate - max_cost, 0)
        self._sum_cost += max_cost
        self._pending[req_id] = self._sum_cost

    def received_reply(self, req_id: int, bv: int) -> None:
        """Correct the estimate from a reply's BV; an unknown ``req_id`` is ignored."""
        now = self._clock.now()
        self._recalc(now)
        bv = min(bv, self._params.buf_limit)
        sent_after = self._pending.pop(req_id, None)
        if sent_after is None:
            return
        self._estimate = max(self._estimate, max(bv - (self._sum_cost - sent_after), 0))
        self._recharging = self._estimate < self._params.buf_limit
        self._last = now

    def resumed(self, bv: int) -> None:
        """ResumeMsg(bv): forget pending requests, the estimate becomes ``min(bv, BL)``."""
        self._pending.clear()
        now = self._clock.now()
        self._recalc(now)
        self._estimate = min(bv, self._params.buf_limit)
        self._recharging = self._estimate < self._params.buf_limit
        self._last = now

    def update_params(self, params: FlowParams) -> None:
        """New BL/MRR from an Announce: a larger BL adds the difference to the estimate."""
        self._recalc(self._clock.now())
        if params.buf_limit > self._params.buf_limit:
            self._estimate += params.buf_limit - self._params.buf_limit
        else:
            self._estimate = min(self._estimate, params.buf_limit)
        self._params = params
