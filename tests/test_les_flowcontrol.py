"""lightclient.les.flowcontrol against spec §7.1, §7.3-§7.5: numbers computed by hand from
the spec's formulas, and geth v1.11.6 les/handler_test.go TestStopResume as the spec
restates it (BL 1e6, MRR 1000, every request 100 000, test mode: realCost = maxCost)."""

from __future__ import annotations

import pytest

from lightclient.les.flowcontrol import (
    DEC_PARAM_DELAY,
    MS,
    ClientBuffer,
    FlowParams,
    ServerBuffer,
    may_resume,
    recharge,
)
from lightclient.pool.clock import ManualClock

STOP_RESUME = FlowParams(1_000_000, 1_000)
COST = 100_000


def test_recharge_formula() -> None:
    # BV += MRR x elapsed_ns / 1e6, integer division (spec §7.1).
    assert recharge(16_000, MS) == 16_000
    assert recharge(16_000, 62_500) == 1_000
    assert recharge(16_000, 62) == 0
    assert recharge(1_000, -5) == 0


def test_resume_threshold_is_above_an_eighth() -> None:
    assert not may_resume(125_000, 1_000_000)
    assert may_resume(125_001, 1_000_000)


def _serve(buf: ClientBuffer, index: int) -> int | None:
    accepted, _ = buf.accept(index, COST)
    return buf.processed(index, COST, COST) if accepted else None


def test_stop_resume_numbers_from_handler_test() -> None:
    clock = ManualClock()
    buf = ClientBuffer(STOP_RESUME, clock)
    replies = [_serve(buf, i) for i in range(11)]
    assert replies == [900_000 - 100_000 * i for i in range(10)] + [None]
    assert buf.accept(99, COST) == (False, COST)  # frozen: a shortfall of one request
    clock.run(500 * MS)
    assert buf.buffer_value() == 500_000  # the ResumeMsg BV: 1000 x 500 ms
    assert may_resume(buf.buffer_value(), STOP_RESUME.buf_limit)
    replies = [_serve(buf, 100 + i) for i in range(6)]
    assert replies == [400_000, 300_000, 200_000, 100_000, 0, None]


def test_client_estimate_follows_the_same_run() -> None:
    clock = ManualClock()
    server = ClientBuffer(STOP_RESUME, clock)
    client = ServerBuffer(STOP_RESUME, clock)
    for req_id in range(10):
        # The last one finds 100 000 left, 1 000 (1 ms of MRR) short of the safety margin.
        assert client.wait_time(COST) == (0 if req_id < 9 else 1 * MS)
        client.queued(req_id, COST)
        bv = _serve(server, req_id)
        assert bv is not None
        client.received_reply(req_id, bv)
        assert client.estimate() == bv
    # Empty buffer: the wait is (maxCost + 1 ms of MRR - 0) / MRR = 101 ms.
    assert client.wait_time(COST) == 101 * MS
    clock.run(500 * MS)
    client.resumed(server.buffer_value())
    assert client.estimate() == 500_000


def test_reported_bv_adds_back_requests_accepted_later() -> None:
    clock = ManualClock()
    buf = ClientBuffer(FlowParams(1_000, 0), clock)
    assert buf.accept(1, 100) == (True, 0)
    assert buf.accept(2, 200) == (True, 0)
    assert buf.processed(1, 100, 100) == 1_000 - 300 + 200
    assert buf.processed(2, 200, 200) == 700


def test_refund_of_unused_cost() -> None:
    buf = ClientBuffer(FlowParams(1_000, 0), ManualClock())
    buf.accept(1, 400)
    assert buf.processed(1, 400, 150) == 1_000 - 150
    buf.accept(2, 400)
    assert buf.processed(2, 400, 900) == 1_000 - 150 - 400  # realCost capped at maxCost


def test_recharge_caps_at_buffer_limit() -> None:
    clock = ManualClock()
    buf = ClientBuffer(FlowParams(1_000_000, 1_000), clock)
    buf.accept(1, 600_000)
    clock.run(100 * MS)
    assert buf.buffer_value() == 500_000
    clock.run(10_000 * MS)
    assert buf.buffer_value() == 1_000_000


def test_one_time_cost_can_push_bv_below_zero() -> None:
    clock = ManualClock()
    buf = ClientBuffer(FlowParams(1_000, 1), clock)
    buf.one_time_cost(1_500)
    assert buf.buffer_value() == 0  # floored when reported
    assert buf.accept(1, 1) == (False, 501)  # BV is -500 inside
    clock.run(600 * MS)
    assert buf.buffer_value() == 100


def test_parameter_increase_now_decrease_after_two_seconds() -> None:
    clock = ManualClock()
    buf = ClientBuffer(FlowParams(1_000_000, 1_000), clock)
    buf.accept(1, 500_000)
    buf.update_params(FlowParams(2_000_000, 2_000))
    assert buf.buffer_value() == 1_500_000  # the BL difference is added at once
    buf.update_params(FlowParams(600_000, 100))
    assert buf.params == FlowParams(2_000_000, 2_000)
    clock.run(DEC_PARAM_DELAY - 1)
    assert buf.params.buf_limit == 2_000_000
    clock.run(1)
    assert buf.params == FlowParams(600_000, 100)
    assert buf.buffer_value() == 600_000  # clamped to the new BL


def test_client_recharges_only_after_a_reply() -> None:
    clock = ManualClock()
    client = ServerBuffer(FlowParams(1_000_000, 1_000), clock)
    client.queued(1, 300_000)
    clock.run(100 * MS)
    assert client.estimate() == 700_000  # no recharge yet (geth's bufRecharge is off)
    client.received_reply(1, 800_000)
    assert client.estimate() == 800_000
    clock.run(100 * MS)
    assert client.estimate() == 900_000
    clock.run(1_000 * MS)
    assert client.estimate() == 1_000_000


def test_reply_never_lowers_the_estimate_and_unknown_ids_are_ignored() -> None:
    clock = ManualClock()
    client = ServerBuffer(FlowParams(1_000_000, 1_000), clock)
    client.queued(1, 100_000)
    client.queued(2, 100_000)
    client.received_reply(7, 0)
    assert client.estimate() == 800_000
    # BV 950 000 for request 1 minus request 2 (sent after) = 850 000.
    client.received_reply(1, 950_000)
    assert client.estimate() == 850_000
    client.received_reply(2, 10)
    assert client.estimate() == 850_000


def test_client_wait_time() -> None:
    clock = ManualClock()
    client = ServerBuffer(FlowParams(1_000_000, 1_000), clock)
    assert client.wait_time(998_999) == 0  # + 1 000 margin = 999 999 <= BLE
    client.queued(1, 600_000)
    # needed = min(BL, 500 000 + 1 000) = 501 000; BLE 400 000 -> 101 000 / 1000 per ms.
    assert client.wait_time(500_000) == 101 * MS
    # A cost above BL is capped at BL: (1e6 - 4e5) / 1000 = 600 ms.
    assert client.wait_time(5_000_000) == 600 * MS
    assert ServerBuffer(FlowParams(0, 0), clock).wait_time(1) is None


@pytest.mark.parametrize(
    ("new", "estimate"),
    [(FlowParams(1_500_000, 1_000), 900_000), (FlowParams(300_000, 1), 300_000)],
)
def test_client_parameter_update(new: FlowParams, estimate: int) -> None:
    client = ServerBuffer(FlowParams(1_000_000, 1_000), ManualClock())
    client.queued(1, 600_000)
    client.update_params(new)
    assert client.estimate() == estimate
