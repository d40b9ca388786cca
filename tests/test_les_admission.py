"""The hardening bounds on the LES/RLPx endpoint (issue 7, carried to the wire protocol):
sockets and handshakes in progress are bounded overall and per IP before any cryptography
is spent on them, and the error count of a node ID survives its reconnections and decays."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lesclient import Setup, make_setup

from lightclient.errors import RlpxError
from lightclient.pool.clock import ManualClock, SystemClock
from lightclient.server.admission import ERROR_DECAY, Admission, ErrorLedger, Limits


@pytest.fixture
async def served(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    limits: Limits = request.param
    setup = await make_setup(tmp_path, SystemClock(), admission=Admission(limits))
    try:
        yield setup
    finally:
        await setup.close()


def raw(port: int) -> socket.socket:
    """A TCP connection that never starts its handshake (a stalled or hostile peer)."""
    return socket.create_connection(("127.0.0.1", port), timeout=5)


async def closed_at_once(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` without waiting for a handshake."""

    def read() -> bool:
        sock.settimeout(2)
        try:
            return sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    return await asyncio.to_thread(read)


async def settled(setup: Setup, sockets: int) -> None:
    for _ in range(300):
        if setup.server.admission.open.total() == sockets:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"sockets: {setup.server.admission.open}")


@pytest.mark.parametrize("served", [Limits(pending_per_ip=2)], indirect=True)
async def test_pending_handshakes_are_bounded_per_ip(served: Setup) -> None:
    stalled = [raw(served.server.port) for _ in range(2)]
    try:
        await settled(served, 2)
        third = raw(served.server.port)
        assert await closed_at_once(third)
        third.close()
        with pytest.raises(RlpxError):
            await served.dial(5)
        stalled.pop().close()  # a slot is free again
        await settled(served, 1)
        _, status = await served.dial(6)
        assert status.values()["networkId"]
    finally:
        for sock in stalled:
            sock.close()


@pytest.mark.parametrize("served", [Limits(connections=3, connections_per_ip=2)], indirect=True)
async def test_connections_are_bounded_per_ip(served: Setup) -> None:
    first, _ = await served.dial(9)
    await served.dial(10)
    await settled(served, 2)
    refused = raw(served.server.port)
    assert await closed_at_once(refused)
    refused.close()
    await first.close()
    await settled(served, 1)
    await served.dial(11)  # a slot was freed


@pytest.mark.parametrize("served", [Limits(connections=1)], indirect=True)
async def test_connections_are_bounded_overall(served: Setup) -> None:
    await served.dial(12)
    await settled(served, 1)
    refused = raw(served.server.port)
    assert await closed_at_once(refused)
    refused.close()


async def test_counts_return_to_zero_after_failed_handshakes(tmp_path: Path) -> None:
    setup = await make_setup(tmp_path, SystemClock(), admission=Admission(Limits()))
    try:
        socks = [raw(setup.server.port) for _ in range(3)]
        for sock in socks:
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n" + b"\x00" * 400)  # not RLPx
        await settled(setup, 3)
        assert setup.server.admission.pending.total() == 3
        for sock in socks:
            sock.close()  # they leave in the middle of their handshakes
        await settled(setup, 0)
        assert not setup.server.admission.pending
    finally:
        await setup.close()


def test_the_error_ledger_is_bounded_and_forgets_the_least_recent() -> None:
    clock = ManualClock()
    ledger = ErrorLedger(clock, capacity=3)
    for i in range(3):
        ledger.add(bytes([i]))
    ledger.add(bytes([0]))  # 0 is now the most recent
    ledger.add(bytes([9]))  # over capacity: 1, the least recently counted, is forgotten
    assert len(ledger) == 3
    assert [ledger.count(bytes([i])) for i in (0, 1, 2, 9)] == [2, 0, 1, 1]
    clock.run(ERROR_DECAY)
    assert [ledger.count(bytes([i])) for i in (0, 2, 9)] == [1, 0, 0]
    assert len(ledger) == 1  # decayed to zero: forgotten
