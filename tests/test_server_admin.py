"""The server-side les_* methods over a real socket, on a pool with a manual clock and a real
SQLite file; and a balance that survives SIGKILL right after les_addBalance returns."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rpcenv import Peer

from lightclient.errors import LightClientError
from lightclient.pool.clock import MINUTE, SECOND, ManualClock
from lightclient.rpc.auth import bearer_header
from lightclient.rpc.http import HttpPolicy
from lightclient.rpc.les_admin import les_admin_methods
from lightclient.rpc.server import RpcServer
from lightclient.server.service import PoolConfig, PoolService, go_duration
from lightclient.store.balances import SqliteBalanceStore
from lightclient.store.sqlite import Store
from lightclient.testing.threads import serve_app_in_thread

CONFIG = PoolConfig(min_cap=100, max_count=3, max_capacity=1000)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[PoolService, ManualClock, Path]]:
    clock = ManualClock()
    store = Store.open(tmp_path)
    yield PoolService(clock, SqliteBalanceStore(store), CONFIG), clock, tmp_path
    store.close()


@pytest.fixture
def rpc(service: tuple[PoolService, ManualClock, Path]) -> Iterator[Any]:
    server = RpcServer(les_admin_methods(service[0]), ["les"])
    secret = b"\x42" * 32
    with serve_app_in_thread(lambda: server.app(HttpPolicy(jwt_secret=secret))) as url:
        import urllib.request

        def call(method: str, *params: Any) -> Any:
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
            headers = {"Content-Type": "application/json", **bearer_header(secret)}
            request = urllib.request.Request(url, body.encode(), headers)
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())

        yield call


def test_server_info_and_client_info(service: Any, rpc: Any) -> None:
    pool_service, clock, _ = service
    peers = [Peer(i) for i in range(1, 3)]
    for p in peers:
        pool_service.pool.register(p)
    info = rpc("les_serverInfo")["result"]
    assert info == {"freeClientCapacity": 100, "maximumCapacity": 1000, "minimumCapacity": 100,
                    "priorityConnectedCapacity": 0, "totalCapacity": 1000,
                    "totalConnectedCapacity": 200}  # fmt: skip
    clock.run(90 * SECOND)
    everyone = rpc("les_clientInfo", [])["result"]
    assert set(everyone) == {p.node_id.hex() for p in peers}
    one = everyone["01" * 32]
    assert one["isConnected"] and one["capacity"] == 100 and one["connectionTime"] == 90
    assert one["pricing/balance"] == 0 and not one["priority"]
    # Default factors: capacity 1e9 per second per 1e6 capacity -> 100 * 1e3 per second,
    # charged at the interval's midpoint and decaying with the 1 h time constant since.
    expected = 90 * 100 * 1000 * math.exp(-45 / 3600)
    assert abs(one["pricing/negBalance"] - expected) <= expected / 2000
    unknown = rpc("les_clientInfo", ["0x" + "ee" * 32])["result"]["ee" * 32]
    assert unknown == {"isConnected": False, "pricing/balance": 0,
                       "pricing/balanceMeta": "", "priority": False}  # fmt: skip
    bad = rpc("les_clientInfo", ["nonsense"])
    assert (
        bad["error"]["code"] == -32602 and "invalid node ID 'nonsense'" in bad["error"]["message"]
    )


def test_add_balance_meta_and_enode_ids(service: Any, rpc: Any) -> None:
    pool_service, _, _ = service
    from eth_keys.datatypes import PrivateKey

    key = PrivateKey(b"\x07" * 32)
    enode = f"enode://{key.public_key.to_bytes().hex()}@127.0.0.1:30303"
    node_id = bytes.fromhex(pool_service.client_info([enode]).popitem()[0])
    from lightclient.core.keccak import keccak

    assert node_id == keccak(key.public_key.to_bytes())
    assert rpc("les_addBalance", enode, 1000, "order #1")["result"] == [0, 1000]
    assert rpc("les_addBalance", node_id.hex(), 500)["result"] == [1000, 1500]  # v1.11.6 form
    info = rpc("les_clientInfo", [node_id.hex()])["result"][node_id.hex()]
    assert info["pricing/balance"] == 1500 and info["pricing/balanceMeta"] == "order #1"
    assert rpc("les_addBalance", enode, -5000)["result"] == [1500, 0]
    assert rpc("les_addBalance", enode, 1)["result"] == [0, 1]
    over = rpc("les_addBalance", enode, 2**63 - 1)
    assert over["error"] == {"code": -32000, "message": "balance overflow"}
    bad = rpc("les_addBalance", enode, 1.5)
    assert bad["error"]["message"] == (
        "invalid argument 1: json: cannot unmarshal number 1.5 into Go value of type int64"
    )


def test_priority_client_info(service: Any, rpc: Any) -> None:
    for i in (3, 5, 9):
        rpc("les_addBalance", (bytes([i]) * 32).hex(), 10**9)
    zero = "0x" + "00" * 32
    everything = rpc("les_priorityClientInfo", zero, zero, 10)["result"]
    assert list(everything) == [(bytes([i]) * 32).hex() for i in (3, 5, 9)]  # stop 0 = to the end
    page = rpc("les_priorityClientInfo", zero, zero, 2)["result"]
    assert page[(bytes([9]) * 32).hex()] == {}  # the next ID, as a marker
    ranged = rpc("les_priorityClientInfo", "0x" + "04" * 32, "0x" + "09" * 32, 10)["result"]
    assert list(ranged) == [(bytes([5]) * 32).hex()]
    negative = rpc("les_priorityClientInfo", zero, zero, -1)
    assert negative["error"]["code"] == -32602
    bad = rpc("les_priorityClientInfo", "0x12", zero, 1)
    assert bad["error"]["code"] == -32602 and "invalid argument 0" in bad["error"]["message"]


def test_set_client_params_validates_first(service: Any, rpc: Any) -> None:
    pool_service, _, _ = service
    paid, free = Peer(1), Peer(2)
    rpc("les_addBalance", paid.node_id.hex(), 10**15)
    pool_service.pool.register(paid)
    pool_service.pool.register(free)
    # Empty list = all connected clients: both get the new factors.
    assert rpc("les_setClientParams", [], {"pricing/timeFactor": 2e9})["result"] is None
    for p in (paid, free):
        assert pool_service.pool.entries[p.node_id].balance.pos_factor.time == 2.0
    # One bad parameter: nothing is applied, whatever the order.
    bad = rpc("les_setClientParams", [], {"pricing/timeFactor": 5e9, "pricing/capacityFactor": -1})
    assert bad["error"]["message"] == "invalid value for parameter 'pricing/capacityFactor'"
    assert pool_service.pool.entries[paid.node_id].balance.pos_factor.time == 2.0
    unknown = rpc("les_setClientParams", [], {"colour": 1})
    assert unknown["error"]["message"] == "invalid client parameter 'colour'"
    for value in (150.5, 50, 10**6, True):
        wrong = rpc("les_setClientParams", [paid.node_id.hex()], {"capacity": value})
        assert "invalid value for parameter 'capacity'" in wrong["error"]["message"]
    gone = rpc("les_setClientParams", [("ab" * 32)], {"pricing/timeFactor": 1})
    assert gone["error"]["message"] == f"client(s) not connected: {'ab' * 32}"
    assert rpc("les_setClientParams", [paid.node_id.hex()], {"capacity": 400})["result"] is None
    assert paid.cap == 400
    too_low = rpc("les_setClientParams", [free.node_id.hex()], {"capacity": 200})
    assert "priority too low to raise capacity" in too_low["error"]["message"]
    richer = Peer(3)
    rpc("les_addBalance", richer.node_id.hex(), 10**18)
    pool_service.pool.register(richer)
    assert rpc("les_setClientParams", [richer.node_id.hex()], {"capacity": 500})["result"] is None
    greedy = rpc("les_setClientParams", [paid.node_id.hex()], {"capacity": 900})
    assert greedy["error"]["message"].startswith(f"insufficient capacity: {paid.node_id.hex()}")
    assert rpc("les_serverInfo")["result"]["priorityConnectedCapacity"] == paid.cap + richer.cap


def test_default_params_and_bias(service: Any, rpc: Any) -> None:
    pool_service, _, _ = service
    assert rpc("les_setDefaultParams", {"pricing/negative/timeFactor": 3e9})["result"] is None
    newcomer = Peer(7)
    pool_service.pool.register(newcomer)
    assert pool_service.pool.entries[newcomer.node_id].balance.neg_factor.time == 3.0
    cap = rpc("les_setDefaultParams", {"capacity": 200})
    assert cap["error"]["message"] == "invalid default parameter 'capacity'"
    assert rpc("les_setConnectedBias", 10**9)["result"] is None
    assert pool_service.pool.connected_bias == 10**9
    negative = rpc("les_setConnectedBias", -(10**9))
    assert negative["error"]["message"] == "bias illegal: -1s less than 0"
    assert go_duration(3 * MINUTE) == "3m0s" and go_duration(1_500_000) == "1.5ms"


def test_paid_balance_survives_sigkill(tmp_path: Path) -> None:
    """les_addBalance is durable when it returns: the process dies at once, nothing is lost."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from lightclient.pool.clock import ManualClock
        from lightclient.server.service import PoolConfig, PoolService
        from lightclient.store.balances import SqliteBalanceStore
        from lightclient.store.sqlite import Store
        service = PoolService(ManualClock(), SqliteBalanceStore(Store.open({str(tmp_path)!r})),
                              PoolConfig())
        print(service.add_balance("0x" + "42" * 32, 123456789, "paid"), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == -signal.SIGKILL
    assert result.stdout.strip() == "[0, 123456789]"
    store = Store.open(tmp_path)
    service = PoolService(ManualClock(), SqliteBalanceStore(store), PoolConfig())
    info = service.client_info(["42" * 32])["42" * 32]
    assert info["pricing/balance"] == 123456789 and info["pricing/balanceMeta"] == "paid"
    store.close()


def test_idle_paid_client_drops_to_min_capacity_when_its_balance_runs_out(service: Any) -> None:
    """The priority check fires early (at 7/8 of the way) and must schedule the next one;
    geth's does not, and an idle client would keep its raised capacity for ever."""
    pool_service, clock, _ = service
    paid = Peer(1)
    # Default pricing: capacity factor 1e9 per 1e6 capacity per second, so capacity 400
    # costs 400,000 a second; this balance lasts 60 s.
    pool_service.add_balance(paid.node_id.hex(), 400_000 * 60)
    pool_service.pool.register(paid)
    pool_service.set_client_params([paid.node_id.hex()], {"capacity": 400})
    assert paid.cap == 400
    for _ in range(59):
        clock.run(SECOND)
    assert paid.cap == 400 and pool_service.pool.entries[paid.node_id].priority_flag
    for _ in range(3):
        clock.run(SECOND)
    assert paid.cap == CONFIG.min_cap
    info = pool_service.client_info([paid.node_id.hex()])[paid.node_id.hex()]
    assert info["priority"] is False and info["pricing/balance"] == 0


def test_waiting_priority_client_that_loses_its_balance_is_timed_out(service: Any) -> None:
    """A paid client waiting with no capacity, whose balance is taken away, loses priority
    at once and is disconnected after the inactive allowance (spec §7.14)."""
    pool_service, clock, _ = service
    gone: list[int] = []

    class Waiting(Peer):
        def disconnect(self) -> None:
            gone.append(self.index)

    peers = [Waiting(i) for i in (1, 2, 3, 4)]
    for p in peers:
        pool_service.add_balance(p.node_id.hex(), 10**12)
        pool_service.pool.register(p)
    waiting = next(p for p in peers if p.cap == 0)
    assert pool_service.add_balance(waiting.node_id.hex(), -(10**13)) == [10**12, 0]
    entry = pool_service.pool.entries[waiting.node_id]
    assert not entry.priority_flag and entry.inactive_timer is not None
    clock.run(11 * SECOND)
    assert gone == [waiting.index] and waiting.node_id not in pool_service.pool.entries


def test_admin_errors_have_geths_codes(service: Any, rpc: Any) -> None:
    pool_service, _, _ = service
    p = Peer(1)
    pool_service.pool.register(p)
    zero = "0x" + "00" * 32
    # Errors returned by the method itself are -32000, as geth returns them.
    cases: list[tuple[str, list[Any], str]] = [
        ("les_setConnectedBias", [-(10**9)], "bias illegal: -1s less than 0"),
        ("les_setDefaultParams", [{"colour": 1}], "invalid default parameter 'colour'"),
        ("les_setDefaultParams", [{"pricing/timeFactor": -1}],
         "invalid value for parameter 'pricing/timeFactor'"),
        ("les_setClientParams", [[], {"capacity": 1.5}],
         "invalid value for parameter 'capacity': it must be an integer"),
    ]  # fmt: skip
    for method, params, message in cases:
        error = rpc(method, *params)["error"]
        assert (error["code"], error["message"]) == (-32000, message)
    # A factor beyond float64 is refused, not a crash.
    huge = rpc("les_setDefaultParams", {"pricing/timeFactor": 10**400})["error"]
    assert huge["code"] == -32000 and "pricing/timeFactor" in huge["message"]
    # Malformed enode URLs are invalid IDs, not crashes.
    for bad in ("enode://[", "enode://" + "ab" * 64 + "@[::1"):
        error = rpc("les_clientInfo", [bad])["error"]
        assert error["code"] == -32602 and "invalid node ID" in error["message"]
    # The largest maxCount lists every paid ID.
    pool_service.add_balance(p.node_id.hex(), 5)
    listed = rpc("les_priorityClientInfo", zero, zero, 2**63 - 1)["result"]
    assert list(listed) == [p.node_id.hex()]


def test_extreme_inputs_are_clear_errors_over_rpc(service: Any, rpc: Any) -> None:
    """Issue 7 items 3-4 at the wire: geth's codes, never -32603, and nothing changed."""
    pool_service, clock, _ = service
    p = Peer(1)
    pool_service.pool.register(p)
    node = p.node_id.hex()
    assert rpc("les_addBalance", node, 10**15)["result"] == [0, 10**15]
    huge = rpc("les_setClientParams", [node], {"pricing/timeFactor": 1e308})["error"]
    assert huge == {"code": -32000, "message": "invalid value for parameter 'pricing/timeFactor'"}
    surrogate = rpc("les_addBalance", node, 10**15, "\ud800")["error"]
    assert surrogate["code"] == -32602 and "invalid meta" in surrogate["message"]
    too_long = rpc("les_addBalance", node, 10**15, "x" * 1025)["error"]
    assert too_long["code"] == -32602 and "at most 1024" in too_long["message"]
    overflow = rpc("les_addBalance", node, 2**63 - 1)["error"]
    assert overflow == {"code": -32000, "message": "balance overflow"}
    many = rpc("les_clientInfo", [node] * 1001)["error"]
    assert many["code"] == -32602 and "at most 1000" in many["message"]
    clock.run(SECOND)
    info = rpc("les_clientInfo", [node])["result"][node]
    # Credited once; 1 s at the default 1e9 per second per 1e6 capacity was charged.
    assert info["isConnected"] and info["pricing/balance"] == 10**15 - CONFIG.min_cap * 1000
    assert info["capacity"] == p.cap == CONFIG.min_cap


def test_priority_pages_are_bounded_and_still_reach_everyone(
    service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A huge maxCount used to read every paid ID in one call; now a page holds at most
    MAX_IDS clients and names the next one, so paging from it lists them all."""
    import lightclient.server.service

    monkeypatch.setattr(lightclient.server.service, "MAX_IDS", 3)
    pool_service, _, _ = service
    paid = [bytes([i]) * 32 for i in range(1, 9)]
    for node_id in paid:
        pool_service.add_balance(node_id.hex(), 10)
    seen: list[str] = []
    start, zero = b"\x00" * 32, b"\x00" * 32
    for _ in range(10):
        page = pool_service.priority_client_info(start, zero, 2**63 - 1)
        full = [k for k, v in page.items() if v]
        assert len(full) <= 3
        seen += full
        rest = [k for k, v in page.items() if not v]
        if not rest:
            break
        start = bytes.fromhex(rest[0])
    assert seen == [n.hex() for n in paid]


def test_a_failed_capacity_change_sets_back_the_ones_already_made(service: Any) -> None:
    """les_setClientParams for several clients is all or nothing for capacities: the first
    client's raise is undone when the second cannot get its capacity."""
    pool_service, _, _ = service
    first, second = Peer(1), Peer(2)
    for peer, amount in ((first, 10**12), (second, 10**9)):
        pool_service.add_balance(peer.node_id.hex(), amount)
        pool_service.pool.register(peer)
    assert (first.cap, second.cap) == (100, 100)
    ids = [first.node_id.hex(), second.node_id.hex()]
    with pytest.raises(LightClientError) as failed:
        pool_service.set_client_params(ids, {"capacity": 600, "pricing/timeFactor": 7})
    message = str(failed.value)
    assert message.startswith(f"insufficient capacity: {second.node_id.hex()}")
    assert "capacities restored" in message and "pricing factors unchanged" in message
    assert (first.cap, second.cap) == (100, 100)
    infos = pool_service.client_info(ids)
    assert [infos[i]["capacity"] for i in ids] == [100, 100]
    assert pool_service.pool.active() == (2, 200)
    assert pool_service.pool.entries[first.node_id].balance.pos_factor.time == 0
