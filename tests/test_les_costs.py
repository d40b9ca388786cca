"""lightclient.les.costs against spec §7.2 (tables and derived numbers) and §4.8 (the
default MRC encoding). geth v1.11.6 les/costtracker.go is where the spec read them."""

from __future__ import annotations

import pytest
import rlp

from lightclient.errors import LesProtocolError
from lightclient.les.codes import MAX_COUNT, MsgCode
from lightclient.les.costs import (
    DEFAULT_COSTS,
    CostTable,
    RequestCost,
    make_cost_table,
    min_buf_limit,
    min_capacity,
    request_count_ok,
)

BL = 96_000_000

# spec §7.2 "Result with defaults": code -> (baseCost, reqCost, largest N that fits BL)
SPEC_DEFAULTS = {
    0x02: (300_000, 60_000, 192),
    0x04: (0, 1_400_000, 32),
    0x06: (0, 2_000_000, 48),
    0x0A: (0, 900_000, 64),
    0x0F: (0, 1_200_000, 64),
    0x11: (0, 2_000_000, 48),
    0x13: (0, 900_000, 64),
    0x14: (0, 500_000, 192),
}


@pytest.mark.parametrize(("code", "expected"), SPEC_DEFAULTS.items())
def test_default_costs_match_spec(code: int, expected: tuple[int, int, int]) -> None:
    base, per_item, largest = expected
    assert DEFAULT_COSTS[code] == RequestCost(base, per_item)
    # The largest count that fits BL, bounded by the protocol maximum (§6.1).
    fits = max(
        n for n in range(1, MAX_COUNT[MsgCode(code)] + 1) if DEFAULT_COSTS.max_cost(code, n) <= BL
    )
    assert fits == largest


def test_default_covers_exactly_the_eight_requests() -> None:
    assert sorted(DEFAULT_COSTS) == sorted(SPEC_DEFAULTS)
    assert DEFAULT_COSTS.covers_all_requests()
    assert not CostTable({0x02: RequestCost(1, 1)}).covers_all_requests()


def test_min_buf_limit_and_min_capacity_from_spec() -> None:
    # spec §7.2: minBufLimit = 3 x 32 000 000, minCap = 16 000, BL = MRR x 6000.
    assert min_buf_limit(DEFAULT_COSTS) == 96_000_000
    assert min_capacity(96_000_000) == 16_000
    assert min_capacity(96_000_001) == 16_001  # a ceiling, not a floor
    # No code exceeds minBufLimit by default, so the scaled table is the same.
    assert make_cost_table(min_buf_limit(DEFAULT_COSTS)) == DEFAULT_COSTS


def test_scaling_when_a_code_exceeds_min_buf_limit() -> None:
    # Headers cost 300000 + 192 x 60000 = 11 820 000; with a 10e6 limit both are scaled
    # by 0.999 x 10e6 / 11.82e6 and truncated (costtracker.go makeCostList).
    table = make_cost_table(10_000_000)
    mul = 0.999 * 10_000_000 / 11_820_000
    assert table[0x02] == RequestCost(int(300_000 * mul), int(60_000 * mul))
    assert table[0x04] == RequestCost(0, 1_400_000)  # 1.4e6 fits: unchanged


def test_max_cost_is_not_capped() -> None:
    # spec §7.2: 64 helper-trie entries cost 128e6, above BL; the server does not cap it.
    assert DEFAULT_COSTS.max_cost(0x11, 64) == 128_000_000
    assert DEFAULT_COSTS.max_cost(0x02, 192) == 300_000 + 192 * 60_000


def test_mrc_encoding_vector_from_spec() -> None:
    # spec §4.8, default MRC value sorted by code.
    expected = (
        "f83ac802830493e082ea60c6048083155cc0c60680831e8480c60a80830dbba0c60f8083124f80"
        "c61180831e8480c61380830dbba0c614808307a120"
    )
    assert DEFAULT_COSTS.encode().hex() == expected
    assert CostTable.decode(bytes.fromhex(expected), 24) == DEFAULT_COSTS


def test_mrc_decode_drops_codes_past_protocol_length_and_last_duplicate_wins() -> None:
    raw = rlp.encode([[0x02, 1, 2], [0x15, 3, 4], [0x16, 5, 6], [0x02, 7, 8]])
    on_les2 = CostTable.decode(raw, 22)
    assert dict(on_les2) == {0x02: RequestCost(7, 8), 0x15: RequestCost(3, 4)}
    assert 0x16 in CostTable.decode(raw, 24)


@pytest.mark.parametrize(
    "value", [[[2, 1]], [[2, 1, 2, 3]], [[2, 1, b"\x00"]], [[2**64, 1, 1]], [b"x"]]
)
def test_mrc_decode_is_strict(value: list[object]) -> None:
    with pytest.raises(LesProtocolError):
        CostTable.decode(rlp.encode(value), 24)


@pytest.mark.parametrize(
    ("code", "count", "ok"),
    [(0x02, 0, False), (0x02, 192, True), (0x02, 193, False), (0x14, 256, True), (0x04, 33, False)],
)
def test_count_rule(code: int, count: int, ok: bool) -> None:
    assert request_count_ok(code, count) is ok
