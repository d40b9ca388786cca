"""Injected time for the pool: a system clock, and a manual clock for tests.

Time is an integer of nanoseconds (geth's ``mclock.AbsTime``). ``ManualClock.run(d)``
follows geth's simulated clock: it first moves ``now`` to ``now + d``, then fires every
timer due at or before the new time, in due order; timers scheduled by those callbacks are
left for a later ``run`` (``run(0)`` fires zero-delay timers).
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["MINUTE", "SECOND", "Clock", "ManualClock", "SystemClock", "Timer"]

SECOND = 1_000_000_000
MINUTE = 60 * SECOND


class Timer(Protocol):
    def stop(self) -> bool:
        """Cancel; True if the timer had not fired yet."""
        ...


class Clock(Protocol):
    def now(self) -> int:
        """Nanoseconds on a monotonic scale."""
        ...

    def after(self, delay: int, callback: Callable[[], None]) -> Timer:
        """Call ``callback`` once, ``delay`` ns from now."""
        ...


class _ManualTimer:
    __slots__ = ("callback", "due", "fired", "stopped")

    def __init__(self, due: int, callback: Callable[[], None]) -> None:
        self.due = due
        self.callback = callback
        self.fired = False
        self.stopped = False

    def stop(self) -> bool:
        if self.fired or self.stopped:
            return False
        self.stopped = True
        return True


class ManualClock:
    """A clock that only moves when told to (geth's mclock.Simulated)."""

    def __init__(self, start: int = 0) -> None:
        self._now = start
        self._timers: list[tuple[int, int, _ManualTimer]] = []
        self._order = itertools.count()

    def now(self) -> int:
        return self._now

    def after(self, delay: int, callback: Callable[[], None]) -> _ManualTimer:
        timer = _ManualTimer(self._now + max(delay, 0), callback)
        heapq.heappush(self._timers, (timer.due, next(self._order), timer))
        return timer

    def run(self, delay: int) -> None:
        """Advance by ``delay`` ns, then fire the timers that are due (not new ones)."""
        self._now += delay
        due: list[_ManualTimer] = []
        while self._timers and self._timers[0][0] <= self._now:
            due.append(heapq.heappop(self._timers)[2])
        for timer in due:
            if not timer.stopped:
                timer.fired = True
                timer.callback()


class _ThreadTimer:
    def __init__(self, handle: object) -> None:
        self.handle = handle
        self.done = False

    def stop(self) -> bool:
        if self.done:
            return False
        self.done = True
        cancel = getattr(self.handle, "cancel", None)
        if cancel is not None:
            cancel()
        return True


class SystemClock:
    """Real time; timers run on the asyncio loop given (or the running one)."""

    def __init__(self, loop: object | None = None) -> None:
        self._loop = loop

    def now(self) -> int:
        return time.monotonic_ns()

    def after(self, delay: int, callback: Callable[[], None]) -> Timer:
        import asyncio

        loop = self._loop or asyncio.get_event_loop()
        timer = _ThreadTimer(None)

        def fire() -> None:
            if not timer.done:
                timer.done = True
                callback()

        timer.handle = loop.call_later(max(delay, 0) / SECOND, fire)  # type: ignore[attr-defined]
        return timer
