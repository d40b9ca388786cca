"""Bounds and strict JSON-RPC 2.0 on the real endpoint, over real sockets (issue 7 items 2 and
6): every case here was accepted, held or crashed on main before the issue."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rpcenv import Env, auth, call, post, rpc_env, strict_json

from lightclient.rpc.http import _quiet_accept_errors
from lightclient.rpc.server import Limits

PAID = "0x" + "5a" * 32


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with rpc_env(tmp_path_factory.mktemp("bounds")) as running:
        yield running


def test_a_body_of_millions_of_values_is_refused_before_decoding(env: Env) -> None:
    body = "[" + ",".join(["1"] * 2_500_000) + "]"  # 5 MB, as in the report
    assert len(body) < 5 * 1024 * 1024
    status, _, raw = post(env.port, body)
    answer = strict_json(raw)
    assert status == 200 and isinstance(answer, dict)
    assert answer["error"]["code"] == -32600
    assert "more than 20000 values" in answer["error"]["message"]


def test_a_body_over_the_size_bound_is_413(env: Env) -> None:
    status, _, raw = post(env.port, b'"' + b"a" * (5 * 1024 * 1024) + b'"')
    assert status == 413 and raw.startswith(b"content length too large")


def test_seventy_thousand_ids_are_refused(env: Env) -> None:
    ids = [f"0x{i:064x}" for i in range(70_000)]
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "les_clientInfo", "params": [ids]})
    status, _, raw = post(env.port, body, auth())
    assert status == 200 and strict_json(raw)["error"]["code"] == -32600
    thousand_and_one = [f"0x{i:064x}" for i in range(1001)]
    answer = call(env.port, "les_clientInfo", [thousand_and_one], token=True)
    assert answer["error"]["code"] == -32602 and "at most 1000" in answer["error"]["message"]


def test_batches_are_bounded(env: Env) -> None:
    one = {"jsonrpc": "2.0", "id": 1, "method": "rpc_modules"}
    answer = strict_json(post(env.port, json.dumps([one] * 1001))[2])
    assert answer["error"] == {"code": -32600, "message": "batch too large (at most 1000 requests)"}
    assert len(strict_json(post(env.port, json.dumps([one] * 1000))[2])) == 1000


@pytest.mark.parametrize(
    "body",
    [
        b'{"jsonrpc":"2.0","id":NaN,"method":"rpc_modules"}',
        b'{"jsonrpc":"2.0","id":Infinity,"method":"rpc_modules"}',
        b'{"jsonrpc":"2.0","id":1,"method":"les_getCheckpoint","params":[-Infinity]}',
        b'\xef\xbb\xbf{"jsonrpc":"2.0","id":1,"method":"rpc_modules"}',  # UTF-8 BOM
        '{"jsonrpc":"2.0","id":1,"method":"rpc_modules"}'.encode("utf-16"),
        '{"jsonrpc":"2.0","id":1,"method":"rpc_modules"}'.encode("utf-16-le"),
        '{"jsonrpc":"2.0","id":1,"method":"rpc_modules"}'.encode("utf-32"),
        b'{"jsonrpc":"2.0","id":"\xed\xa0\x80","method":"rpc_modules"}',  # a surrogate in UTF-8
        b'{"jsonrpc":"2.0","id":"\xff","method":"rpc_modules"}',
    ],
    ids=["nan", "inf", "neg-inf", "bom", "utf16", "utf16le", "utf32", "surrogate", "latin1"],
)
def test_only_strict_utf8_json(env: Env, body: bytes) -> None:
    status, _, raw = post(env.port, body)
    assert status == 200
    assert strict_json(raw) == {"jsonrpc": "2.0", "id": None,
                                "error": {"code": -32700, "message": "parse error"}}  # fmt: skip


def test_huge_integers_are_bad_parameters_not_parse_errors(env: Env) -> None:
    digits = "9" * 5000
    body = '{"jsonrpc":"2.0","id":1,"method":"les_getCheckpoint","params":[' + digits + "]}"
    answer = strict_json(post(env.port, body)[2])
    assert answer["id"] == 1 and answer["error"]["code"] == -32602
    message = answer["error"]["message"]
    assert message.startswith("invalid argument 0: json: cannot unmarshal number 9999")
    assert "(5000 digits) into Go value of type uint64" in message
    body = '{"jsonrpc":"2.0","id":' + digits + ',"method":"rpc_modules"}'
    assert strict_json(post(env.port, body)[2])["error"]["code"] == -32600


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "rpc_modules"}, -32600),
        ({"jsonrpc": "2.0", "id": [1], "method": "rpc_modules"}, -32600),
        ({"jsonrpc": "2.0", "id": True, "method": "rpc_modules"}, -32600),
        ({"id": 1, "method": "rpc_modules"}, -32600),
        ({"jsonrpc": "1.0", "id": 1, "method": "rpc_modules"}, -32600),
        ({"jsonrpc": 2.0, "id": 1, "method": "rpc_modules"}, -32600),
        ({"jsonrpc": "2.0", "id": 1}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": "rpc_modules", "params": {"a": 1}}, -32602),
    ],
)
def test_requests_must_be_json_rpc_2(env: Env, request_: dict[str, Any], code: int) -> None:
    answer = strict_json(post(env.port, json.dumps(request_))[2])
    assert answer["error"]["code"] == code
    valid_id = isinstance(request_["id"], int | str) and not isinstance(request_["id"], bool)
    assert answer["id"] == (request_["id"] if valid_id else None)


@pytest.mark.parametrize("rid", ["abc", 7, -3, 1.5, None, "", 2**70])
def test_valid_ids_are_echoed(env: Env, rid: Any) -> None:
    assert call(env.port, "rpc_modules", rid=rid) == {"jsonrpc": "2.0", "id": rid,
                                                       "result": {"les": "1.0"}}  # fmt: skip


def _raw_connection(port: int, opened: list[socket.socket] | None = None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if opened is not None:
        opened.append(sock)
    return sock


@contextlib.contextmanager
def _closing(sockets: list[socket.socket]) -> Iterator[None]:
    try:
        yield
    finally:
        for sock in sockets:
            sock.close()


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` within ``within`` seconds (reads give EOF/reset)."""
    sock.settimeout(within)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_half_sent_requests_and_idle_connections_are_closed(tmp_path: Path) -> None:
    opened: list[socket.socket] = []
    with (
        rpc_env(tmp_path, header_timeout=0.4, body_timeout=0.4, idle_timeout=0.8) as env,
        _closing(opened),
    ):
        half = _raw_connection(env.port, opened)
        half.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Ty")
        started = time.monotonic()
        assert _closed_by_server(half, 10)
        assert time.monotonic() - started >= 0.3
        body_late = _raw_connection(env.port, opened)
        body_late.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
                          b"\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"")  # fmt: skip
        body_late.settimeout(10)
        assert body_late.recv(65536).startswith(b"HTTP/1.1 408")
        assert _closed_by_server(body_late, 5)
        idle = _raw_connection(env.port, opened)
        assert _closed_by_server(idle, 10)
        # A connection that keeps sending requests is never cut.
        busy = _raw_connection(env.port, opened)
        body = b'{"jsonrpc":"2.0","id":1,"method":"x"}'
        request = (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
        for _ in range(6):  # 1.2 s in all: longer than both timeouts
            busy.sendall(request)
            busy.settimeout(10)
            assert busy.recv(65536).startswith(b"HTTP/1.1 200")
            time.sleep(0.2)


def test_connections_are_bounded_per_ip_and_in_all(tmp_path: Path) -> None:
    opened: list[socket.socket] = []
    with rpc_env(tmp_path, max_connections=8, max_connections_per_ip=3) as env, _closing(opened):
        held = [_raw_connection(env.port, opened) for _ in range(3)]
        time.sleep(0.2)
        assert _closed_by_server(_raw_connection(env.port, opened), 5)
        assert not _closed_by_server(held[0], 0.3)
        for sock in held:
            sock.close()
        time.sleep(0.3)
        assert call(env.port, "rpc_modules")["result"] == {"les": "1.0"}
    opened.clear()
    with (
        rpc_env(tmp_path / "b", max_connections=2, max_connections_per_ip=5) as env,
        _closing(opened),
    ):
        for _ in range(2):
            _raw_connection(env.port, opened)
        time.sleep(0.2)
        assert _closed_by_server(_raw_connection(env.port, opened), 5)


def test_custom_limits(tmp_path: Path) -> None:
    with rpc_env(tmp_path, limits=Limits(max_body=2000, max_items=50, max_batch=3)) as env:
        one = {"jsonrpc": "2.0", "id": 1, "method": "rpc_modules"}
        assert strict_json(post(env.port, json.dumps([one] * 4))[2])["error"]["code"] == -32600
        assert post(env.port, json.dumps([one] * 100))[0] == 413
        assert (
            strict_json(post(env.port, json.dumps([list(range(60))]))[2])["error"]["message"]
            == "request too large: JSON holds more than 50 values"
        )


def test_a_result_that_is_not_json_is_an_internal_error(tmp_path: Path) -> None:
    from lightclient.rpc.server import Method, RpcServer

    async def nan() -> float:
        return float("nan")

    async def bug() -> None:
        raise RuntimeError("a bug")

    server = RpcServer([Method("t_nan", nan), Method("t_bug", bug)])
    answer = json.loads(asyncio.run(_encode(server, '{"jsonrpc":"2.0","id":1,"method":"t_nan"}')))
    internal = {"code": -32603, "message": "internal error"}
    assert answer == {"jsonrpc": "2.0", "id": 1, "error": internal}
    answer = json.loads(asyncio.run(_encode(server, '{"jsonrpc":"2.0","id":2,"method":"t_bug"}')))
    assert answer["error"]["code"] == -32603


async def _encode(server: Any, body: str) -> str:
    from lightclient.rpc.server import encode

    return encode(await server.handle_payload(body))


def test_out_of_descriptors_logs_one_line_a_minute(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lightclient.rpc.http

    monkeypatch.setattr(lightclient.rpc.http, "_accept_warned", 0.0)
    loop = asyncio.new_event_loop()
    try:
        seen: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: seen.append(context))
        _quiet_accept_errors(loop)
        handler = loop.get_exception_handler()
        assert handler is not None
        error = OSError(24, "Too many open files")
        with caplog.at_level(logging.WARNING):
            for _ in range(50):
                handler(loop, {"message": "socket.accept() out of system resource",
                               "exception": error})  # fmt: skip
        records = [r for r in caplog.records if "cannot accept connections" in r.message]
        assert len(records) == 1 and not seen
        handler(loop, {"message": "something else"})
        assert seen == [{"message": "something else"}]
    finally:
        loop.close()


@pytest.mark.parametrize(
    "payload",
    [
        b"GARBAGE\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",  # TLS on the HTTP port
        b"GET / HTTP/1.1\r\nX: " + b"a" * 10_000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n",  # no key
    ],
    ids=["method", "length", "tls", "header", "ws-key"],
)
def test_malformed_http_is_a_400_without_a_traceback(
    env: Env, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), _raw_connection(env.port) as sock:
        sock.sendall(payload)
        sock.settimeout(10)
        assert sock.recv(200).split(b"\r\n")[0].endswith(b"400 Bad Request")
        time.sleep(0.1)
    noisy = [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]
    assert not noisy, [r.getMessage() for r in noisy]


@pytest.mark.timeout(60)
def test_an_unterminated_string_of_quotes_is_refused_at_once(env: Env) -> None:
    """About 900 KB that made the depth check retry from every quote: the event loop was
    held for about an hour (5 s for 40 KB, measured). Now: a parse error at once."""
    body = b"[" * 300 + b'"' + b'\\"' * 450_000
    status, _, raw = post(env.port, body)
    assert status == 200 and strict_json(raw)["error"]["code"] == -32700


def test_notifications_are_never_answered(env: Env) -> None:
    notifications = [
        {"jsonrpc": "2.0", "method": "les_nope"},
        {"jsonrpc": "2.0", "method": "les_addBalance", "params": [PAID, 5]},
        {"jsonrpc": "2.0", "method": "les_getCheckpoint", "params": ["x"]},
    ]
    for request in notifications:
        status, _, raw = post(env.port, json.dumps(request))
        assert (status, raw) == (200, b"")
    assert (
        call(env.port, "les_clientInfo", [[PAID]], token=True)["result"][PAID[2:]][
            "pricing/balance"
        ]
        == 0
    )
