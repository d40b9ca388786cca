"""Fuzzing the real endpoint over real sockets (hypothesis, seeded and bounded): wrong types
and extreme values for every parameter of every method, hostile JSON, hostile headers. The
server must answer each with strict JSON-RPC and a code it documents (never -32603 or a
500), and the pool must stay consistent. `benchmarks/fuzz_rpc.py` runs the same generators
for 100,000 requests and more, outside CI."""

from __future__ import annotations

import contextlib
import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rpcenv import Env, auth, call, rpc_env, strict_json

from lightclient.testing.rpcfuzz import (
    ALLOWED_CODES,
    METHODS,
    check_answer,
    check_pool,
    headers_strategy,
    request_strategy,
)

FUZZ = settings(
    max_examples=150, derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip


class Client:
    """A keep-alive HTTP connection that reconnects when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in range(2):
            try:
                self.conn.request("POST", "/", body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return response.status, data
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with rpc_env(tmp_path_factory.mktemp("fuzz")) as running:
        for index in (1, 2, 3):
            running.connect(index)
        yield running


@pytest.fixture(scope="module")
def client(env: Env) -> Iterator[Client]:
    c = Client(env.port)
    yield c
    c.close()


@pytest.mark.parametrize("method", [*METHODS, None], ids=[*METHODS, "any"])
@FUZZ
@given(data=st.data(), token=st.sampled_from([True, True, True, False]))
def test_every_method_with_hostile_parameters(
    env: Env, client: Client, method: str | None, data: st.DataObject, token: bool
) -> None:
    request = data.draw(request_strategy(method))
    headers = {"Content-Type": "application/json", **(auth() if token else {})}
    status, raw = client.send(json.dumps(request).encode(), headers)
    assert status == 200, raw[:300]
    answer = strict_json(raw) if raw else None
    check_answer(request, answer, authenticated=token)
    env.on_loop(lambda: check_pool(env.service))


@FUZZ
@given(body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_hostile_bodies(env: Env, client: Client, body: bytes) -> None:
    status, raw = client.send(body, {"Content-Type": "application/json"})
    assert status == 200
    if raw:
        answer = strict_json(raw)
        for item in answer if isinstance(answer, list) else [answer]:
            if "error" in item:
                assert item["error"]["code"] in ALLOWED_CODES


@FUZZ
@given(headers=headers_strategy())
def test_hostile_headers(env: Env, client: Client, headers: dict[str, str]) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"les_serverInfo","params":[]}'
    status, raw = client.send(body, headers)
    assert status in (200, 401, 403, 415), (status, raw[:200])
    if status == 200:
        answer = strict_json(raw)
        code = answer.get("error", {}).get("code")
        assert code in (None, -32001)
        assert (code is None) == headers.get("Authorization", "").startswith("Bearer ey")


def test_the_server_still_answers_and_the_pool_is_whole(env: Env, tmp_path: Path) -> None:
    client = Client(env.port)
    try:
        status, raw = client.send(b'{"jsonrpc":"2.0","id":1,"method":"les_serverInfo"}',
                                  {"Content-Type": "application/json", **auth()})  # fmt: skip
        assert status == 200 and "result" in strict_json(raw)
    finally:
        client.close()
    env.on_loop(lambda: check_pool(env.service))


SLOW = {
    "idle": b"",
    "half-header": b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Ty",
    "half-body": b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    b'Content-Length: 500\r\n\r\n[{"jsonrpc":',
    "garbage": b"\x16\x03\x01\x00\xa5\x01\x00\x00",
    "whole": b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    b'Content-Length: 38\r\n\r\n{"jsonrpc":"2.0","id":1,"method":"x"}',
}


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with rpc_env(tmp_path_factory.mktemp("tight"), max_connections=24,
                 max_connections_per_ip=16, header_timeout=0.3, body_timeout=0.3,
                 idle_timeout=0.6) as running:  # fmt: skip
        yield running


@settings(max_examples=12, derandomize=True, deadline=None, database=None)
@given(kinds=st.lists(st.sampled_from(sorted(SLOW)), min_size=1, max_size=30))
def test_many_and_slow_connections(tight: Env, kinds: list[str]) -> None:
    """However many connections are open and however slowly they send, the server keeps
    at most its bounds, closes the slow ones in time, and its counts return to zero."""
    import socket
    import time

    opened = []
    try:
        for kind in kinds:
            sock = socket.create_connection(("127.0.0.1", tight.port), timeout=5)
            opened.append(sock)
            if SLOW[kind]:
                with contextlib.suppress(OSError):
                    sock.sendall(SLOW[kind])
        time.sleep(0.1)
        assert tight.running.open_connections() <= 16
        deadline = time.monotonic() + 10
        while tight.running.open_connections() and time.monotonic() < deadline:
            time.sleep(0.1)  # the slow and idle ones are cut within ~1 s
        assert tight.running.open_connections() == 0
        answer = call(tight.port, "rpc_modules")
        assert answer["result"] == {"les": "1.0"}
    finally:
        for sock in opened:
            sock.close()
