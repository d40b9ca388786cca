"""Exponentially expiring values, exactly as geth's les/utils/expiredvalue.go computes them.

A value ``{base, exp}`` stands for ``base * 2^(exp - logOffset)``, where ``logOffset`` is a
log2 offset in 24-bit fixed point that grows with time at a configured rate. Nothing decays
in place: additions are scaled up by ``2^logOffset``, and decay is applied on reading.

Go's integer and float conversions are reproduced (truncation toward zero, uint64
wrap-around, float64 maths) so that balances match geth's to the unit. Where Go's float
maths would go to infinity (a value read far before the offset it was added at), the
result saturates instead of raising: ``2^x`` is +inf beyond float64 and reads as
``MAX_VALUE``; a scale-down by ``2^n`` with a huge ``n`` is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "FIXED_FACTOR",
    "ExpiredValue",
    "Expirer",
    "fixed_fraction",
    "fixed_pow2",
    "fixed_to_uint64",
    "uint64_to_fixed",
]

FIXED_FACTOR = 0x1000000  # 2^24: Fixed64 has 24 fractional bits
_U64 = 2**64
_I64 = 2**63
_NO_WRAP = 2**39  # exponents below this convert to Fixed64 without wrapping
MAX_VALUE = 2**63 - 1  # what an infinite float reads as (the pool's maxBalance)
_MAX_EXP_GAP = 2100  # 2^-n underflows to 0 for every float64 beyond this
LOG_TO_FIXED = FIXED_FACTOR / math.log(2)
FIXED_TO_LOG = math.log(2) / FIXED_FACTOR


def _as_int64(value: int) -> int:
    value %= _U64
    return value - _U64 if value >= _I64 else value


def uint64_to_fixed(value: int) -> int:
    """Go's Uint64ToFixed64: the uint64 product wraps, then reads as int64."""
    return _as_int64(value * FIXED_FACTOR)


def fixed_to_uint64(value: int) -> int:
    """Go's Fixed64.ToUint64: ``uint64(f) / 2^24`` (negative offsets wrap)."""
    return (value % _U64) // FIXED_FACTOR


def fixed_fraction(value: int) -> int:
    """Go's ``f % 2^24`` (the remainder takes the sign of ``f``)."""
    return int(math.fmod(value, FIXED_FACTOR)) if value < 0 else value % FIXED_FACTOR


def fixed_pow2(value: int) -> float:
    """``2^(f / 2^24)`` as float64, computed as geth does (+inf where it overflows)."""
    try:
        return math.exp(float(value) * FIXED_TO_LOG)
    except OverflowError:
        return math.inf


def _uint64_of_float(value: float) -> int:
    """Go's ``uint64(x)`` for a non-negative float64 (truncation); +inf saturates."""
    if value != value or value <= 0:
        return 0
    if value == math.inf:
        return MAX_VALUE
    return int(value) % _U64


@dataclass(slots=True)
class ExpiredValue:
    """``base * 2^(exp - logOffset)``; stored as RLP ``[base, exp]``."""

    base: int = 0
    exp: int = 0

    def value(self, log_offset: int) -> int:
        base = self.base
        if not base:
            return 0
        exp = self.exp
        # exp << 24 is Uint64ToFixed64 whenever it does not wrap (the pool's hot path).
        fixed = exp << 24 if 0 <= exp < _NO_WRAP else uint64_to_fixed(exp)
        return _uint64_of_float(float(base) * fixed_pow2(fixed - log_offset))

    def add(self, amount: int, log_offset: int) -> int:
        """Add ``amount`` (which may be negative) at ``log_offset``; returns the net change,
        which differs from ``amount`` only when a subtraction hits zero."""
        integer, frac = fixed_to_uint64(log_offset), fixed_fraction(log_offset)
        factor = fixed_pow2(frac)
        base = factor * float(amount)
        if integer < self.exp:  # base / 2^gap, exactly as the division (0 when far)
            base = math.ldexp(base, -min(self.exp - integer, _MAX_EXP_GAP))
        if integer > self.exp:
            self.base >>= integer - self.exp
            self.exp = integer
        if base >= 0 or _uint64_of_float(-base) <= self.base:
            if base >= 0:
                self.base = (self.base + _uint64_of_float(base)) % _U64
            else:
                self.base -= _uint64_of_float(-base)
            return amount
        net = int(-float(self.base) / factor)
        self.base = 0
        return net

    def add_exp(self, other: ExpiredValue) -> None:
        a_base = other.base
        if self.exp > other.exp:
            a_base >>= self.exp - other.exp
        if self.exp < other.exp:
            self.base >>= other.exp - self.exp
            self.exp = other.exp
        self.base = (self.base + a_base) % _U64

    def sub_exp(self, other: ExpiredValue) -> None:
        a_base = other.base
        if self.exp > other.exp:
            a_base >>= self.exp - other.exp
        if self.exp < other.exp:
            self.base >>= other.exp - self.exp
            self.exp = other.exp
        self.base = self.base - a_base if self.base > a_base else 0

    def is_zero(self) -> bool:
        return self.base == 0

    def copy(self) -> ExpiredValue:
        return ExpiredValue(self.base, self.exp)


class Expirer:
    """The shared log offset of one kind of balance, growing at ``rate`` per ns."""

    def __init__(self) -> None:
        self.log_offset = 0
        self.rate = 0.0
        self.last_update = 0

    def set_rate(self, now: int, rate: float) -> None:
        dt = now - self.last_update
        if dt > 0:
            self.log_offset += int(LOG_TO_FIXED * float(dt) * self.rate)
        self.last_update = now
        self.rate = rate

    def set_log_offset(self, now: int, log_offset: int) -> None:
        self.last_update = now
        self.log_offset = log_offset

    def offset(self, now: int) -> int:
        dt = now - self.last_update
        if dt <= 0:
            return self.log_offset
        return self.log_offset + int(LOG_TO_FIXED * float(dt) * self.rate)
