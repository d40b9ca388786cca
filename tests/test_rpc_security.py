"""Who may call what on the JSON-RPC endpoint, over real sockets: the admin JWT (geth's rules
and messages), virtual hosts, CORS and WebSocket origins, content types, the IPC socket, the
admin command and web3 with a token. Each of these was open on main before issue 7."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from rpcenv import NOW, SECRET, Env, auth, call, post, rpc_env, strict_json
from web3 import IPCProvider, Web3
from web3.exceptions import Web3RPCError

from lightclient.cli.endpoint import exposure_warning
from lightclient.cli.main import main
from lightclient.errors import InvalidInput
from lightclient.rpc.auth import AuthError, check_bearer, load_or_create_secret, read_secret
from lightclient.w3les import LES_MODULES, Les, jwt_http_provider

PAID = "0x" + "5a" * 32
ADMIN_CALLS: list[tuple[str, list[Any]]] = [
    ("les_serverInfo", []),
    ("les_clientInfo", [[]]),
    ("les_priorityClientInfo", [None, None, 10]),
    ("les_addBalance", [PAID, 1000, "x"]),
    ("les_setClientParams", [[], {"pricing/timeFactor": 1}]),
    ("les_setDefaultParams", [{"pricing/timeFactor": 1}]),
    ("les_setConnectedBias", [5]),
]


@pytest.fixture
def env(tmp_path: Path) -> Any:
    with rpc_env(tmp_path, ipc=True) as running:
        yield running


def balance(env: Env, node: str = PAID) -> int:
    info = env.on_loop(lambda: env.service.client_info([node]))
    return int(info[node[2:]]["pricing/balance"])


@pytest.mark.parametrize(("method", "params"), ADMIN_CALLS, ids=[m for m, _ in ADMIN_CALLS])
def test_admin_methods_refuse_callers_without_the_token(
    env: Env, method: str, params: list[Any]
) -> None:
    env.connect(1)
    before = env.on_loop(lambda: (env.service.server_info(), env.service.client_info([]),
                                  dict(env.service.api_factors["pos"]),
                                  env.service.pool.connected_bias))  # fmt: skip
    answer = call(env.port, method, params)
    assert answer["error"]["code"] == -32001
    assert answer["error"]["message"].startswith(f"unauthorized: {method} is an admin method")
    after = env.on_loop(lambda: (env.service.server_info(), env.service.client_info([]),
                                 dict(env.service.api_factors["pos"]),
                                 env.service.pool.connected_bias))  # fmt: skip
    assert after == before and balance(env) == 0
    assert "result" in call(env.port, method, params, token=True)


def test_public_methods_need_no_token(env: Env) -> None:
    assert call(env.port, "les_latestCheckpoint", [])["result"][0] == "0x2"
    assert call(env.port, "rpc_modules")["result"] == {"les": "1.0"}


def test_a_credit_with_the_token_is_durable(env: Env) -> None:
    assert call(env.port, "les_addBalance", [PAID, 10**9, "inv"], token=True)["result"] == [
        0,
        10**9,
    ]
    assert balance(env) == 10**9


def _token(claims: dict[str, Any], secret: bytes = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, alg)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer " + _token({"iat": int(NOW) - 61}), "stale token"),
        ("Bearer " + _token({"iat": int(NOW) + 61}), "future token"),
        ("Bearer " + _token({"sub": "x"}), "missing issued-at"),
        ("Bearer " + _token({"iat": 10**310}), "invalid issued-at"),
        ("Bearer " + _token({"iat": "1700000000"}), "invalid issued-at"),
        ("Bearer " + _token({"iat": int(NOW), "exp": 10**310}), "token is expired"),
        ("Bearer " + _token({"iat": int(NOW), "exp": int(NOW) - 1}), "token is expired"),
        ("Bearer " + _token({"iat": int(NOW)}, b"\x01" * 32), "Signature verification failed"),
        ("Bearer " + _token({"iat": int(NOW)}, b"k" * 64, "HS512"), "The specified alg value"),
        ("Bearer not.a.token", ""),
        ("Basic dXNlcjpwYXNz", "missing token"),
        ("Bearer ", "missing token"),
    ],
)
def test_bad_tokens_get_geths_401(env: Env, header: str, message: str) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "les_addBalance",
                       "params": [PAID, 5, None]})  # fmt: skip
    status, _, raw = post(env.port, body, {"Authorization": header})
    assert status == 401 and raw.decode().startswith(message)
    assert balance(env) == 0


def test_an_unsigned_token_is_refused() -> None:
    unsigned = jwt.encode({"iat": int(NOW)}, None, "none")
    with pytest.raises(AuthError):
        check_bearer("Bearer " + unsigned, SECRET, lambda: NOW)
    check_bearer("Bearer " + _token({"iat": int(NOW) + 59}), SECRET, lambda: NOW)
    check_bearer("Bearer " + _token({"iat": int(NOW) - 59}), SECRET, lambda: NOW)


async def test_websocket_authenticates_at_the_upgrade(env: Env) -> None:
    request = {"jsonrpc": "2.0", "id": 1, "method": "les_addBalance", "params": [PAID, 7]}
    ws_url = env.url.replace("http", "ws")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url) as ws:
            await ws.send_str(json.dumps(request))
            assert json.loads((await ws.receive()).data)["error"]["code"] == -32001
        async with session.ws_connect(ws_url, headers=auth()) as ws:
            await ws.send_str(json.dumps(request))
            assert json.loads((await ws.receive()).data)["result"] == [0, 7]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(ws_url, headers=auth(NOW - 3600))
        assert refused.value.status == 401


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("attacker.example", 403),
        ("attacker.example:8545", 403),
        ("localhost:8545", 200),
        ("LOCALHOST", 200),
        ("127.0.0.1:8545", 200),
        ("[::1]:8545", 200),
        ("10.1.2.3", 200),  # an IP literal always passes, as geth's
    ],
)
def test_virtual_hosts_stop_dns_rebinding(env: Env, host: str, status: int) -> None:
    body = '{"jsonrpc":"2.0","id":1,"method":"les_latestCheckpoint","params":[]}'
    got, _, raw = post(env.port, body, {"Host": host})
    assert got == status
    if status == 403:
        assert raw == b"invalid host specified\n"


def test_any_vhost_when_asked(tmp_path: Path) -> None:
    with rpc_env(tmp_path, vhosts=("*",)) as env:
        body = '{"jsonrpc":"2.0","id":1,"method":"les_latestCheckpoint","params":[]}'
        assert post(env.port, body, {"Host": "attacker.example"})[0] == 200


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("multipart/form-data; boundary=x", 415),
        ("", 415),
        ("application/json", 200),
        ("application/json; charset=utf-8", 200),
        ("application/json-rpc", 200),
        ("application/jsonrequest", 200),
    ],
)
def test_content_types_as_geth(env: Env, content_type: str, status: int) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "les_addBalance",
                       "params": [PAID, 5]})  # fmt: skip
    got, _, raw = post(env.port, body, {"Content-Type": content_type, **auth()})
    assert got == status
    if status == 415:
        assert raw == b"invalid content type, only application/json is supported\n"
        assert balance(env) == 0


def test_a_page_cannot_post_from_its_origin(env: Env) -> None:
    body = '{"jsonrpc":"2.0","id":1,"method":"les_latestCheckpoint","params":[]}'
    status, headers, _ = post(env.port, body, {"Origin": "http://evil.example"})
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    status, _, _ = post(env.port, "", {"Origin": "http://evil.example",
                                       "Access-Control-Request-Method": "POST"},
                        method="OPTIONS")  # fmt: skip
    assert status == 403


def test_cors_domains_when_configured(tmp_path: Path) -> None:
    with rpc_env(tmp_path, cors_domains=("http://app.example",)) as env:
        body = '{"jsonrpc":"2.0","id":1,"method":"les_latestCheckpoint","params":[]}'
        status, headers, _ = post(env.port, body, {"Origin": "http://app.example"})
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "http://app.example"
        status, headers, _ = post(env.port, "", {"Origin": "http://app.example",
                                                 "Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "content-type"},
                                  method="OPTIONS")  # fmt: skip
        assert status == 204 and headers["Access-Control-Allow-Methods"] == "POST, GET"
        assert post(env.port, body, {"Origin": "http://other.example"})[0] == 403


async def test_websocket_origins(tmp_path: Path) -> None:
    with rpc_env(tmp_path, ws_origins=("http://app.example",)) as env:
        ws_url = env.url.replace("http", "ws")
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(ws_url, origin="http://evil.example")
            assert refused.value.status == 403
            async with session.ws_connect(ws_url, origin="http://app.example") as ws:
                await ws.send_str('{"jsonrpc":"2.0","id":1,"method":"rpc_modules"}')
                assert json.loads((await ws.receive()).data)["result"] == {"les": "1.0"}
            async with session.ws_connect(ws_url) as ws:  # no Origin: not a browser
                await ws.send_str('{"jsonrpc":"2.0","id":1,"method":"rpc_modules"}')
                assert "result" in json.loads((await ws.receive()).data)


def test_health_check_get(env: Env) -> None:
    assert post(env.port, b"", {}, method="GET")[:1] == (200,)


def _ipc_call(path: Path, request: bytes) -> Any:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(request)
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return strict_json(data)


def test_ipc_serves_admin_methods_without_a_token(env: Env) -> None:
    path = env.running.ipc_path
    assert path is not None and stat.S_IMODE(path.stat().st_mode) == 0o600
    request = {"jsonrpc": "2.0", "id": 3, "method": "les_addBalance", "params": [PAID, 11]}
    answer = _ipc_call(path, json.dumps(request).encode())
    assert answer == {"jsonrpc": "2.0", "id": 3, "result": [0, 11]}
    assert _ipc_call(path, b'  {"jsonrpc":"2.0","id":4,"method":"rpc_modules"}')["result"] == {
        "les": "1.0"
    }
    assert _ipc_call(path, b"42 ")["error"]["code"] == -32700
    provider = IPCProvider(str(path))
    w3 = Web3(provider, external_modules=LES_MODULES)
    les: Les = w3.les  # type: ignore[attr-defined]
    try:
        assert les.server_info()["totalCapacity"] == 1000
        assert les.add_balance(PAID, 4)[1] == 15
    finally:
        sock: Any = getattr(provider._socket, "sock", None)  # web3 keeps it open
        if sock is not None:
            sock.close()


def test_admin_command_over_ipc_and_http(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = env.running.ipc_path
    assert main(["admin", "les_addBalance", PAID, "100", "note", "--ipcpath", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == [0, 100]
    assert main(["admin", "les_serverInfo", "--http", env.url]) == 1
    assert "unauthorized" in capsys.readouterr().err
    assert main(["admin", "les_nope", "--ipcpath", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == "lightclient: error: the method les_nope does not exist/is not available " \
        "(code -32601)\n"  # fmt: skip
    assert main(["admin", "les_serverInfo", "--ipcpath", str(tmp_path / "none.ipc")]) == 1
    assert "cannot reach the server's IPC socket" in capsys.readouterr().err


def test_web3_with_the_jwt_provider(tmp_path: Path) -> None:
    import time

    with rpc_env(tmp_path, clock=time.time) as env:
        w3 = Web3(jwt_http_provider(env.url, SECRET), external_modules=LES_MODULES)
        les: Les = w3.les  # type: ignore[attr-defined]
        assert les.add_balance(PAID, 10**6, "web3") == [0, 10**6]
        assert les.client_info([PAID])["5a" * 32]["pricing/balanceMeta"] == "web3"
        plain = Web3(Web3.HTTPProvider(env.url), external_modules=LES_MODULES)
        with pytest.raises(Web3RPCError, match="unauthorized"):
            plain.les.server_info()  # type: ignore[attr-defined]
        assert plain.les.latest_checkpoint().section_index == 2  # type: ignore[attr-defined]


def test_secret_file_created_private_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "d" / "jwtsecret"
    secret, created = load_or_create_secret(path)
    assert created and len(secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == (secret, False)
    assert read_secret(path) == secret
    path.write_text("0x1234")
    with pytest.raises(InvalidInput, match="expected 32 bytes as 64 hex digits"):
        read_secret(path)


def test_stale_ipc_socket_is_replaced_and_a_live_one_refused(env: Env, tmp_path: Path) -> None:
    import asyncio

    from lightclient.rpc.ipc import start_ipc
    from lightclient.rpc.server import RpcServer

    live = env.running.ipc_path
    assert live is not None
    with pytest.raises(InvalidInput, match="another process is serving"):
        asyncio.run(start_ipc(RpcServer([]), live))
    stale = tmp_path / "stale.ipc"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(stale))
    sock.close()  # the file stays, nobody listens

    async def reuse() -> None:
        server = await start_ipc(RpcServer([]), stale)
        await server.close()

    asyncio.run(reuse())
    assert not stale.exists()
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(InvalidInput, match="is not a socket"):
        asyncio.run(start_ipc(RpcServer([]), plain))
    assert plain.read_text() == "x"


def test_binding_publicly_warns() -> None:
    warning = exposure_warning("0.0.0.0", ["les", "rpc"], admin=True)
    assert warning is not None and "reachable from other machines" in warning
    assert "les, rpc" in warning and "JWT" in warning
    assert exposure_warning("127.0.0.1", ["les"], admin=True) is None
    assert exposure_warning("::1", ["les"], admin=True) is None
    assert exposure_warning("localhost", ["les"], admin=False) is None
