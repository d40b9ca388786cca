"""Who may hold a socket of the light server, and who has misbehaved too often.

* :class:`Admission` bounds open connections and handshakes in progress, overall and per
  IP, before any cryptography is done for them (the RLPx listener asks it at accept).
* :class:`ErrorLedger` counts invalid requests per node ID across connections, less one per
  hour (geth's ``maxRequestErrors`` rule): a client dropped for too many that reconnects at
  once is refused until the count has decayed to the bound.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass

from lightclient.pool.clock import Clock

__all__ = [
    "ERROR_DECAY",
    "MAX_CONNECTIONS",
    "MAX_CONNECTIONS_PER_IP",
    "MAX_OFFENDERS",
    "MAX_PENDING_HANDSHAKES",
    "MAX_PENDING_PER_IP",
    "MAX_REQUEST_ERRORS",
    "Admission",
    "ErrorLedger",
    "Limits",
]

MAX_REQUEST_ERRORS = 20  # invalid requests before the server hangs up (geth's)
ERROR_DECAY = 3600 * 10**9  # ns: the count drops by one per hour
MAX_OFFENDERS = 10_000  # node IDs whose counts are remembered across connections
MAX_CONNECTIONS = 512  # open sockets, handshaking or admitted (the pool admits fewer)
MAX_CONNECTIONS_PER_IP = 16
MAX_PENDING_HANDSHAKES = 64  # sockets whose RLPx handshake, Hello and Status are not done
MAX_PENDING_PER_IP = 4


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on the light endpoint; a connection over one is closed before its handshake."""

    connections: int = MAX_CONNECTIONS
    connections_per_ip: int = MAX_CONNECTIONS_PER_IP
    pending: int = MAX_PENDING_HANDSHAKES
    pending_per_ip: int = MAX_PENDING_PER_IP


class Admission:
    """Open light sockets and pending handshakes, overall and per IP."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.open: Counter[str] = Counter()
        self.pending: Counter[str] = Counter()

    def refusal(self, ip: str) -> str | None:
        """Why a new socket from ``ip`` is refused, or None to let it in."""
        limits = self.limits
        if self.open.total() >= limits.connections:
            return "too many connections to this server"
        if self.open[ip] >= limits.connections_per_ip:
            return f"too many connections from {ip}"
        if self.pending.total() >= limits.pending:
            return "too many handshakes in progress"
        if self.pending[ip] >= limits.pending_per_ip:
            return f"too many handshakes in progress from {ip}"
        return None

    def enter(self, ip: str) -> None:
        self.open[ip] += 1
        self.pending[ip] += 1

    def handshake_over(self, ip: str) -> None:
        self._drop(self.pending, ip)

    def leave(self, ip: str) -> None:
        self._drop(self.open, ip)

    @staticmethod
    def _drop(counter: Counter[str], ip: str) -> None:
        counter[ip] -= 1
        if counter[ip] <= 0:
            del counter[ip]  # only IPs with sockets stay: the counters stay bounded


@dataclass
class _ErrorCount:
    errors: int
    at: int  # clock time of the last decay step


class ErrorLedger:
    """Invalid requests per node ID, decaying one per hour, kept across connections.

    Bounded to ``capacity`` IDs; the least recently counted are forgotten first. Forgetting
    an offender takes ``capacity`` fresh errors from other IDs, each behind a handshake that
    the per-IP bounds limit."""

    def __init__(self, clock: Clock, capacity: int = MAX_OFFENDERS) -> None:
        self.clock = clock
        self.capacity = capacity
        self._counts: OrderedDict[bytes, _ErrorCount] = OrderedDict()

    def __len__(self) -> int:
        return len(self._counts)

    def _decayed(self, node_id: bytes) -> _ErrorCount | None:
        entry = self._counts.get(node_id)
        if entry is None:
            return None
        now = self.clock.now()
        hours = (now - entry.at) // ERROR_DECAY
        if hours > 0:
            entry.errors = max(0, entry.errors - hours)
            entry.at += hours * ERROR_DECAY
        if entry.errors == 0:
            del self._counts[node_id]
            return None
        return entry

    def count(self, node_id: bytes) -> int:
        """The node's current count of invalid requests."""
        entry = self._decayed(node_id)
        return 0 if entry is None else entry.errors

    def add(self, node_id: bytes) -> int:
        """Count one more invalid request; returns the new count."""
        entry = self._decayed(node_id)
        if entry is None:
            entry = self._counts[node_id] = _ErrorCount(0, self.clock.now())
        entry.errors += 1
        self._counts.move_to_end(node_id)
        while len(self._counts) > self.capacity:
            self._counts.popitem(last=False)
        return entry.errors

    def too_many(self, node_id: bytes) -> bool:
        return self.count(node_id) > MAX_REQUEST_ERRORS
