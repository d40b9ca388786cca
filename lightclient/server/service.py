"""The light server's administration: the pool behind the server-side ``les_*`` methods.

Follows the seed document's API (les-namespace.md) and geth v1.11.6's formats, with geth's
defects fixed (server-pool.md §7): every parameter is validated before anything is applied;
an empty ID list means all connected clients; a zero ``stop`` means the end of the ID space;
capacities are integers within limits; bad IDs and negative counts are errors; balances are
durable when ``les_addBalance`` returns and connected clients' charges are saved
periodically.

Bounds, checked before anything is parsed further or changed:

* a pricing factor is a JSON number in ``[0, MAX_API_FACTOR]`` (1e18 per second, or per
  1e9 cost units: the whole int64 balance range in about 9 s), so the pool's arithmetic
  stays finite; anything else is geth's ``invalid value for parameter '<name>'``;
* an amount is an int64 (the RPC layer decodes it so); a balance that would pass
  ``2^63-1`` is geth's ``balance overflow`` and changes nothing;
* a meta text is at most ``MAX_META_BYTES`` (1024) bytes of UTF-8, and must be encodable
  (no lone surrogates);
* an ID list holds at most ``MAX_IDS`` (1000) entries.

Every operation is atomic: it is validated, then persisted, then applied in memory; a
failure on the way leaves both the store and the pool as they were.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightclient.core.nodeid import format_node_id, parse_node_id
from lightclient.errors import InvalidInput, LightClientError
from lightclient.pool.balance import MAX_PRICE_FACTOR, BalanceTracker, NodeBalance, PriceFactors
from lightclient.pool.clientpool import CantFindMaximum, ClientPool, NotConnected
from lightclient.pool.clock import MINUTE, SECOND, Clock
from lightclient.store.balances import SqliteBalanceStore

__all__ = [
    "DEFAULT_API_FACTORS",
    "MAX_API_FACTOR",
    "MAX_IDS",
    "MAX_META_BYTES",
    "PoolConfig",
    "PoolService",
    "check_id_count",
    "check_meta",
    "go_duration",
]

log = logging.getLogger(__name__)

_FACTOR_KEYS = {
    "pricing/timeFactor": ("pos", "time"),
    "pricing/capacityFactor": ("pos", "capacity"),
    "pricing/requestCostFactor": ("pos", "request"),
    "pricing/negative/timeFactor": ("neg", "time"),
    "pricing/negative/capacityFactor": ("neg", "capacity"),
    "pricing/negative/requestCostFactor": ("neg", "request"),
}
# Server defaults in API units (per second / per 1e9 cost units): {0, 1e9, 1e9}.
DEFAULT_API_FACTORS = {"time": 0.0, "capacity": 1e9, "request": 1e9}
_API_UNIT = 1e9  # API factors are per second (1e9 ns) or per 1e9 cost units
MAX_API_FACTOR = MAX_PRICE_FACTOR * _API_UNIT  # 1e18
MAX_META_BYTES = 1024
MAX_IDS = 1000


def check_meta(meta: str | None) -> None:
    """A balance meta must be UTF-8 encodable and at most MAX_META_BYTES long."""
    if meta is None:
        return
    try:
        size = len(meta.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"invalid meta: not valid UTF-8 text ({exc.reason} at position {exc.start})"
        ) from None
    if size > MAX_META_BYTES:
        raise InvalidInput(
            f"invalid meta: {size} bytes of UTF-8, at most {MAX_META_BYTES} are allowed"
        )


def check_id_count(count: int) -> None:
    """An ID list must have at most MAX_IDS entries."""
    if count > MAX_IDS:
        raise InvalidInput(f"too many node IDs: {count}, at most {MAX_IDS} are allowed")


@dataclass(frozen=True, slots=True)
class PoolConfig:
    min_cap: int = 16000
    max_count: int = 100  # --light.maxpeers
    max_capacity: int = 1_600_000
    connected_bias: int = 3 * MINUTE
    pos_expiration_tc: float = 0.0  # seconds; 0: positive balances do not expire
    neg_expiration_tc: float = 3600.0  # negative balances decay with a 1 h time constant
    persist_interval: int = 5 * MINUTE


def go_duration(ns: int) -> str:
    """Go's time.Duration.String() for the values we print (e.g. -1s, 1.5ms, 3m0s)."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    n = abs(ns)
    if n < 1000:
        return f"{sign}{n}ns"
    if n < 1_000_000:
        return f"{sign}{_trim(n / 1000)}µs"
    if n < SECOND:
        return f"{sign}{_trim(n / 1_000_000)}ms"
    hours, rest = divmod(n, 3600 * SECOND)
    minutes, rest = divmod(rest, 60 * SECOND)
    seconds = _trim(rest / SECOND)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def _go_float(value: float) -> float | int:
    """Go prints whole float64 values without ``.0``; so do we."""
    return int(value) if value.is_integer() and abs(value) < 1e21 else value


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond float64, as Go's json refuses it
        return None


class PoolService:
    """Client pool, balance persistence and the admin operations behind ``les_*``."""

    def __init__(self, clock: Clock, balances: SqliteBalanceStore, config: PoolConfig) -> None:
        self.clock = clock
        self.config = config
        self.balances = balances
        self.tracker = BalanceTracker(clock, balances)
        pos_offset, neg_offset = balances.load_offsets()
        self.tracker.set_expiration_tcs(config.pos_expiration_tc, config.neg_expiration_tc)
        now = clock.now()
        self.tracker.pos_exp.set_log_offset(now, pos_offset)
        self.tracker.neg_exp.set_log_offset(now, neg_offset)
        self.pool = ClientPool(self.tracker, min_cap=config.min_cap,
                               connected_bias=config.connected_bias)  # fmt: skip
        self.api_factors = {"pos": dict(DEFAULT_API_FACTORS), "neg": dict(DEFAULT_API_FACTORS)}
        self._push_default_factors()
        self.pool.set_limits(config.max_count, config.max_capacity)

    # -- helpers -----------------------------------------------------------------------

    def _push_default_factors(self) -> None:
        self.pool.set_default_factors(self._factors("pos"), self._factors("neg"))

    def _factors(self, sign: str, source: Mapping[str, float] | None = None) -> PriceFactors:
        values = source or self.api_factors[sign]
        return PriceFactors(values["time"] / _API_UNIT, values["capacity"] / _API_UNIT,
                            values["request"] / _API_UNIT)  # fmt: skip

    def _balance(self, node_id: bytes) -> tuple[NodeBalance, bool]:
        entry = self.pool.entries.get(node_id)
        if entry is not None:
            return entry.balance, True
        return self.tracker.open(node_id, ""), False

    def persist(self) -> None:
        """Save connected clients' balances and the expiration offsets (periodic task)."""
        self.pool.persist_connected()
        now = self.clock.now()
        self.balances.save_offsets(
            self.tracker.pos_exp.offset(now), self.tracker.neg_exp.offset(now)
        )

    def cleanup(self) -> int:
        """Drop stored negative balances that expired to 1,000,000 or less."""
        offset = self.tracker.neg_exp.offset(self.clock.now())
        dropped = 0
        for free_id, value in self.balances.all_negative():
            if value.value(offset) <= 1_000_000:
                self.balances.store_neg(free_id, None)
                dropped += 1
        return dropped

    def stop(self) -> None:
        """Store every balance and the expiration offsets; each is tried even if another
        failed (the first failure is raised afterwards)."""
        try:
            self.pool.stop()
        finally:
            now = self.clock.now()
            self.balances.save_offsets(
                self.tracker.pos_exp.offset(now), self.tracker.neg_exp.offset(now)
            )

    # -- les_* -------------------------------------------------------------------------

    def server_info(self) -> dict[str, int]:
        _count, connected = self.pool.active()
        priority = sum(
            e.capacity for e in self.pool.entries.values() if e.capacity and e.priority_flag
        )
        return {
            "freeClientCapacity": self.config.min_cap,
            "maximumCapacity": self.config.max_capacity,
            "minimumCapacity": self.config.min_cap,
            "priorityConnectedCapacity": priority,
            "totalCapacity": self.pool.max_cap,
            "totalConnectedCapacity": connected,
        }

    def _info(self, node_id: bytes) -> dict[str, Any]:
        balance, connected = self._balance(node_id)
        pos, neg = balance.get_balance()
        info: dict[str, Any] = {
            "isConnected": connected,
            "pricing/balance": pos,
            "pricing/balanceMeta": self.balances.load_meta(node_id) or "",
            "priority": pos != 0,
        }
        if connected:
            entry = self.pool.entries[node_id]
            info["capacity"] = entry.capacity
            info["connectionTime"] = _go_float((self.clock.now() - entry.connected_at) / SECOND)
            info["pricing/negBalance"] = neg
        return info

    def client_info(self, ids: Sequence[str] | None) -> dict[str, Any]:
        check_id_count(len(ids or ()))
        parsed = [parse_node_id(i) for i in ids or []]
        if not parsed:
            parsed = list(self.pool.entries)
        return {format_node_id(node_id): self._info(node_id) for node_id in sorted(set(parsed))}

    def priority_client_info(self, start: bytes, stop: bytes, max_count: int) -> dict[str, Any]:
        if max_count < 0:
            raise InvalidInput(f"maxCount must not be negative, got {max_count}")
        end = None if stop == b"\x00" * 32 else stop
        # One page is at most MAX_IDS clients: a larger maxCount gets MAX_IDS and, as geth
        # marks a cut page, an empty entry naming the next ID, so paging still reaches all.
        max_count = min(max_count, MAX_IDS)
        ids = self.balances.positive_ids(start, end, max_count + 1)
        result: dict[str, Any] = {}
        for node_id in ids[:max_count]:
            result[format_node_id(node_id)] = self._info(node_id)
        if len(ids) > max_count:
            result[format_node_id(ids[max_count])] = {}
        return result

    def add_balance(self, node: str, amount: int, meta: str | None = None) -> list[int]:
        """Add ``amount`` (int64) to a client's positive balance; [before, after].

        Nothing changes unless the new balance was stored: an overflow, a bad meta or a
        failed write is an error and the balance is as it was."""
        check_meta(meta)
        node_id = parse_node_id(node)
        if not isinstance(amount, int) or not -(2**63) <= amount < 2**63:
            raise InvalidInput(f"invalid amount {amount!r}: it must be an int64")
        balance, _connected = self._balance(node_id)
        old, new = balance.add_balance(int(amount), meta)
        return [old, new]

    def _parse_params(self, params: object, *, per_client: bool) -> dict[str, float | int]:
        if not isinstance(params, dict):
            raise InvalidInput("the parameters must be an object")
        parsed: dict[str, float | int] = {}
        for name, value in params.items():
            if name in _FACTOR_KEYS:
                number = _number(value)
                if number is None or not (math.isfinite(number) and 0 <= number <= MAX_API_FACTOR):
                    raise LightClientError(f"invalid value for parameter '{name}'")
                parsed[name] = number + 0.0  # -0.0 is 0
            elif name == "capacity" and per_client:
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or (isinstance(value, float) and not value.is_integer())
                ):
                    raise LightClientError(
                        "invalid value for parameter 'capacity': it must be an integer"
                    )
                capacity = int(value)
                if not self.config.min_cap <= capacity <= self.config.max_capacity:
                    raise LightClientError(
                        f"invalid value for parameter 'capacity': {capacity} is outside "
                        f"[{self.config.min_cap}, {self.config.max_capacity}]"
                    )
                parsed[name] = capacity
            else:
                kind = "client" if per_client else "default"
                raise LightClientError(f"invalid {kind} parameter '{name}'")
        return parsed

    def _apply_factors(self, base: dict[str, dict[str, float]], parsed: Mapping[str, Any]) -> None:
        for name, value in parsed.items():
            if name in _FACTOR_KEYS:
                sign, field_name = _FACTOR_KEYS[name]
                base[sign][field_name] = float(value)

    def set_client_params(self, ids: Sequence[str] | None, params: object) -> None:
        check_id_count(len(ids or ()))
        parsed = self._parse_params(params, per_client=True)
        targets = [parse_node_id(i) for i in ids or []]
        if not targets:
            targets = list(self.pool.entries)
        missing = [t for t in targets if t not in self.pool.entries]
        if missing:
            raise LightClientError(
                "client(s) not connected: " + ", ".join(format_node_id(m) for m in missing)
            )
        if "capacity" in parsed:
            for node_id in targets:
                entry = self.pool.entries[node_id]
                if parsed["capacity"] > self.config.min_cap and not entry.priority_flag:
                    raise LightClientError(
                        f"client {format_node_id(node_id)}: priority too low to raise capacity"
                    )
        # Capacities first. If any cannot be granted, the ones already changed are set back
        # (in reverse order, so what each freed is there again) and no pricing factor is
        # changed; the error names each shortfall. A client that a raise pushed out of a
        # full pool is not brought back: that is the one effect a failed call can leave.
        failures: list[str] = []
        changed: list[tuple[bytes, int]] = []
        if "capacity" in parsed:
            wanted = int(parsed["capacity"])
            for node_id in targets:
                found = self.pool.entries.get(node_id)
                before = found.capacity if found is not None else 0
                name, problem = format_node_id(node_id), None
                try:
                    granted = self.pool.set_capacity(node_id, wanted, 0, False)
                except NotConnected:  # went away while earlier targets were served
                    failures.append(f"{name}: disconnected")
                    continue
                except CantFindMaximum as exc:
                    problem = str(exc)
                    now = self.pool.entries.get(node_id)
                    granted = now.capacity if now is not None else 0
                if granted != before:
                    changed.append((node_id, before))
                if problem is not None:
                    failures.append(f"{name}: {problem}")
                elif granted != wanted:
                    inactive = " (client inactive)" if granted == 0 else ""
                    failures.append(f"{name}: granted {granted} of {wanted}{inactive}")
        if failures:
            self._restore_capacities(changed)
            note = "; capacities restored" if changed else ""
            note += "; pricing factors unchanged" if len(parsed) > 1 else ""
            raise LightClientError("insufficient capacity: " + "; ".join(failures) + note)
        if any(name in _FACTOR_KEYS for name in parsed):
            # Every client's new factors are built (and checked) before any is set.
            changes = [
                (balance, *self._client_factors(balance, parsed))
                for balance in (
                    self.pool.entries[t].balance for t in targets if t in self.pool.entries
                )
            ]
            for balance, pos, neg in changes:
                balance.set_price_factors(pos, neg)

    def _restore_capacities(self, changed: list[tuple[bytes, int]]) -> None:
        for node_id, capacity in reversed(changed):
            if node_id not in self.pool.entries or capacity == 0:
                continue
            try:
                self.pool.set_capacity(node_id, capacity, 0, False)
            except LightClientError as exc:  # logged: the error the caller gets says enough
                log.warning("could not restore the capacity of %s: %s",
                            format_node_id(node_id), exc)  # fmt: skip

    def _client_factors(
        self, balance: NodeBalance, parsed: Mapping[str, Any]
    ) -> tuple[PriceFactors, PriceFactors]:
        current = {
            sign: {
                "time": f.time * _API_UNIT, "capacity": f.capacity * _API_UNIT,
                "request": f.request * _API_UNIT,
            }
            for sign, f in (("pos", balance.pos_factor), ("neg", balance.neg_factor))
        }  # fmt: skip
        self._apply_factors(current, parsed)
        return self._factors("pos", current["pos"]), self._factors("neg", current["neg"])

    def set_default_params(self, params: object) -> None:
        parsed = self._parse_params(params, per_client=False)
        factors = {sign: dict(values) for sign, values in self.api_factors.items()}
        self._apply_factors(factors, parsed)
        pos, neg = self._factors("pos", factors["pos"]), self._factors("neg", factors["neg"])
        self.api_factors = factors
        self.pool.set_default_factors(pos, neg)

    def set_connected_bias(self, bias: int) -> None:
        if bias < 0:
            raise LightClientError(f"bias illegal: {go_duration(bias)} less than 0")
        self.pool.set_connected_bias(bias)
