"""Expiring values against geth's les/utils/expiredvalue_test.go vectors (spec §6.6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightclient.pool.expiration import FIXED_FACTOR, ExpiredValue, Expirer, uint64_to_fixed


def test_value_expiration() -> None:
    assert [ExpiredValue(128, 0).value(uint64_to_fixed(k)) for k in (0, 1, 2)] == [128, 64, 32]
    assert [ExpiredValue(128, 2).value(uint64_to_fixed(k)) for k in (2, 3)] == [128, 64]


@pytest.mark.parametrize(
    ("start", "amount", "offset", "value", "net"),
    [
        ((128, 0), 128, 0, 256, 128),
        ((128, 2), 128, 0, 640, 128),
        ((128, 0), 128, 1, 192, 128),
        ((128, 2), 128, 1, 384, 128),
        ((128, 2), 128, 3, 192, 128),
        ((128, 0), -64, 0, 64, -64),
        ((128, 0), -128, 0, 0, -128),
        ((128, 0), -192, 0, 0, -128),
        ((128, 0), -64, 1, 0, -64),
        ((128, 0), -128, 1, 0, -64),
        ((128, 2), -128, 1, 128, -128),
        ((128, 2), -128, 2, 0, -128),
    ],
)
def test_value_addition(
    start: tuple[int, int], amount: int, offset: int, value: int, net: int
) -> None:
    v = ExpiredValue(*start)
    assert v.add(amount, uint64_to_fixed(offset)) == net
    assert v.value(uint64_to_fixed(offset)) == value


@pytest.mark.parametrize(
    ("a", "b", "offset", "expected"),
    [((128, 0), (128, 0), 0, 256), ((128, 1), (128, 0), 0, 384), ((128, 0), (128, 1), 0, 384),
     ((128, 0), (128, 0), 1, 128)],
)  # fmt: skip
def test_expired_value_addition(
    a: tuple[int, int], b: tuple[int, int], offset: int, expected: int
) -> None:
    v = ExpiredValue(*a)
    v.add_exp(ExpiredValue(*b))
    assert v.value(uint64_to_fixed(offset)) == expected


@pytest.mark.parametrize(
    ("a", "b", "offset", "expected"),
    [((128, 0), (128, 0), 0, 0), ((128, 0), (128, 1), 0, 0), ((128, 1), (128, 0), 0, 128),
     ((128, 1), (128, 0), 1, 64)],
)  # fmt: skip
def test_expired_value_subtraction(
    a: tuple[int, int], b: tuple[int, int], offset: int, expected: int
) -> None:
    v = ExpiredValue(*a)
    v.sub_exp(ExpiredValue(*b))
    assert v.value(uint64_to_fixed(offset)) == expected


def test_expirer_rate_and_offsets() -> None:
    e = Expirer()
    e.set_rate(0, 1e-9)  # one e-fold per second: the log2 offset grows by 1/ln2 a second
    assert e.offset(10**9) == int(FIXED_FACTOR / 0.6931471805599453 * 1e9 * 1e-9)
    e.set_rate(10**9, 0.0)
    assert e.offset(5 * 10**9) == e.offset(10**9)
    e.set_log_offset(7, 123)
    assert e.offset(8) == 123


@given(
    start=st.integers(0, 2**62),
    amounts=st.lists(st.integers(-(2**40), 2**40), max_size=20),
)
def test_additions_never_go_negative(start: int, amounts: list[int]) -> None:
    v = ExpiredValue(start, 0)
    for amount in amounts:
        before = v.value(0)
        net = v.add(amount, 0)
        assert v.base >= 0
        assert net == amount or (amount < 0 and net >= amount and v.base == 0)
        assert v.value(0) >= 0 and (amount >= 0 or v.value(0) <= before)
