"""Hostile JSON-RPC traffic for the endpoint's fuzz tests and the long fuzz run (needs
hypothesis, from the ``test`` extra): requests to every method with wrong types and extreme
values, hostile headers, and the checks every answer and the pool must pass."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from lightclient.server.service import MAX_API_FACTOR, PoolService

__all__ = [
    "ADMIN_METHODS",
    "ALLOWED_CODES",
    "METHODS",
    "check_answer",
    "check_pool",
    "headers_strategy",
    "request_strategy",
]

ADMIN_METHODS = (
    "les_serverInfo", "les_clientInfo", "les_priorityClientInfo", "les_addBalance",
    "les_setClientParams", "les_setDefaultParams", "les_setConnectedBias",
)  # fmt: skip
PUBLIC_METHODS = (
    "les_latestCheckpoint", "les_getCheckpoint", "les_getCheckpointContractAddress",
    "rpc_modules",
)  # fmt: skip
METHODS = ADMIN_METHODS + PUBLIC_METHODS
# Every code the endpoint documents; -32603 (a bug) is not among them.
ALLOWED_CODES = frozenset({-32700, -32600, -32601, -32602, -32000, -32001})
FACTOR_KEYS = (
    "pricing/timeFactor", "pricing/capacityFactor", "pricing/requestCostFactor",
    "pricing/negative/timeFactor", "pricing/negative/capacityFactor",
    "pricing/negative/requestCostFactor",
)  # fmt: skip
INT64 = 2**63 - 1
CONNECTED = tuple("0x" + bytes([i]).hex() * 32 for i in (1, 2, 3))  # ids the tests connect

EXTREME_NUMBERS = st.sampled_from([
    0, 1, -1, INT64, INT64 + 1, -INT64 - 1, -INT64 - 2, 2**64 - 1, 2**64, 10**30, 10**400,
    0.0, -0.0, 0.5, 1e-300, 5e-324, 1e308, -1e308, 1.7976931348623157e308, 1e18, 1e18 * 1.01,
])  # fmt: skip
NODE_IDS = st.sampled_from([
    *CONNECTED, "0x" + "5a" * 32, "5a" * 32, "0x" + "00" * 32, "0x" + "ff" * 32, "0x" + "5a" * 31,
    "0x" + "zz" * 32, "enode://" + "ab" * 64 + "@127.0.0.1:30303", "enode://[", "",
])  # fmt: skip
STRINGS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\ud800", "a\udfffb", "\x00", "x" * 1025, "é" * 600, "0x", "null"]),
    NODE_IDS,
)
SCALARS = st.one_of(
    st.none(), st.booleans(), EXTREME_NUMBERS,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), STRINGS,
)  # fmt: skip
PARAM_OBJECTS = st.dictionaries(
    st.sampled_from([*FACTOR_KEYS, "capacity", "nonsense", ""]), SCALARS, max_size=4
)
VALUES = st.one_of(
    SCALARS,
    st.lists(st.one_of(NODE_IDS, SCALARS), max_size=5),
    PARAM_OBJECTS,
)


@st.composite
def _params(draw: st.DrawFn, method: str) -> Any:
    """Parameters shaped for ``method`` (so that the deep checks are reached), or anything."""
    shaped = {
        "les_clientInfo": st.tuples(st.lists(NODE_IDS, max_size=4)),
        "les_priorityClientInfo": st.tuples(
            NODE_IDS | st.none(), NODE_IDS | st.none(), st.integers(-2, 4) | EXTREME_NUMBERS
        ),
        "les_addBalance": st.tuples(NODE_IDS, EXTREME_NUMBERS, STRINGS | st.none()),
        "les_setClientParams": st.tuples(st.lists(NODE_IDS, max_size=3), PARAM_OBJECTS),
        "les_setDefaultParams": st.tuples(PARAM_OBJECTS),
        "les_setConnectedBias": st.tuples(EXTREME_NUMBERS),
        "les_getCheckpoint": st.tuples(EXTREME_NUMBERS | STRINGS),
    }.get(method)
    anything = st.lists(VALUES, max_size=4)
    pick = draw(st.integers(0, 9))  # mostly shaped, so that the later checks are reached
    if shaped is not None and pick < 7:
        return list(draw(shaped))
    return draw(VALUES if pick == 9 else anything)


@st.composite
def request_strategy(draw: st.DrawFn, method: str | None = None) -> dict[str, Any]:
    """One request to ``method`` (None: any, or a made-up name): mostly well-formed
    envelopes around hostile parameters."""
    if method is None:
        method = draw(st.sampled_from(METHODS) | st.text(max_size=20))
    request: dict[str, Any] = {"jsonrpc": "2.0", "id": draw(st.integers(0, 10**6)),
                               "method": method}  # fmt: skip
    request["params"] = draw(_params(method))
    flaw = draw(st.integers(0, 19))  # one in five requests has a flawed envelope
    if flaw == 0:
        odd_ids = st.one_of(
            st.none(), st.text(max_size=5), st.booleans(), st.lists(st.integers(), max_size=2),
            st.floats(allow_nan=False, allow_infinity=False),
        )  # fmt: skip
        request["id"] = draw(odd_ids)
    elif flaw == 1:
        del request["id"]  # a notification
    elif flaw == 2:
        request["jsonrpc"] = draw(st.sampled_from(["1.0", 2, None, ""]))
    elif flaw == 3:
        del request["params"]
    return request


def _valid_id(rid: object) -> bool:
    if isinstance(rid, bool):
        return False
    return (
        rid is None or isinstance(rid, str | int) or (isinstance(rid, float) and math.isfinite(rid))
    )


def check_answer(request: dict[str, Any], answer: Any, *, authenticated: bool) -> None:
    """Raise AssertionError unless ``answer`` is a documented answer to ``request``."""
    envelope_ok = request.get("jsonrpc") == "2.0" and _valid_id(request.get("id"))
    if answer is None:
        assert "id" not in request and envelope_ok, f"no answer to {request!r:.300}"
        return
    assert isinstance(answer, dict) and answer.get("jsonrpc") == "2.0", answer
    assert ("result" in answer) != ("error" in answer), answer
    if "error" in answer:
        error = answer["error"]
        assert isinstance(error.get("message"), str), answer
        assert error.get("code") in ALLOWED_CODES, f"{answer!r:.300} for {request!r:.300}"
    if envelope_ok:
        assert answer["id"] == request.get("id"), (answer, request)
        if request["method"] in ADMIN_METHODS and not authenticated:
            assert answer.get("error", {}).get("code") == -32001, answer
    else:
        assert answer["error"]["code"] == -32600 and answer["id"] in (None, request.get("id"))


def check_pool(service: PoolService) -> None:
    """The pool's invariants, read on the thread that owns it."""
    pool = service.pool
    total = 0
    for entry in pool.entries.values():
        assert entry.peer is not None, "an entry without a peer"
        pos, neg = entry.balance.get_balance()
        assert 0 <= pos <= 2**63 - 1 and 0 <= neg <= 2**63 - 1
        assert entry.capacity == 0 or pool.min_cap <= entry.capacity <= pool.max_cap
        total += entry.capacity
    count, cap = pool.active()
    assert cap == total and cap <= pool.max_cap and count <= pool.max_count
    for sign in ("pos", "neg"):
        for value in service.api_factors[sign].values():
            assert math.isfinite(value) and 0 <= value <= MAX_API_FACTOR
    info = service.server_info()
    assert info["totalConnectedCapacity"] == cap


@st.composite
def headers_strategy(draw: st.DrawFn) -> dict[str, str]:
    """Headers a hostile page, proxy or script might send."""
    from lightclient.rpc.auth import bearer_header

    header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
    headers: dict[str, str] = {}
    headers["Content-Type"] = draw(st.sampled_from([
        "application/json", "text/plain", "application/json; charset=utf-8", "",
        "application/x-www-form-urlencoded", "APPLICATION/JSON", "application/json-rpc",
    ]) | header_text)  # fmt: skip
    if draw(st.booleans()):
        headers["Host"] = draw(st.sampled_from([
            "localhost", "attacker.example", "127.0.0.1:1", "[::1]:2", "LOCALHOST:3",
            "localhost.attacker.example", "",
        ]) | header_text)  # fmt: skip
    if draw(st.booleans()):
        headers["Origin"] = draw(st.sampled_from(["http://evil.example", "null", "file://"])
                                 | header_text)  # fmt: skip
    if draw(st.booleans()):
        secret = bytes(range(32))  # the fuzz endpoint's secret
        headers["Authorization"] = draw(st.sampled_from([
            "Bearer " + bearer_header(secret, 1_700_000_000)["Authorization"][7:],
            "Bearer " + bearer_header(b"\x01" * 32, 1_700_000_000)["Authorization"][7:],
            "Bearer ", "Basic YTpi", "bearer x",
        ]) | header_text)  # fmt: skip
    return {k: v.strip() for k, v in headers.items()}
