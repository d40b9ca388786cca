"""The JSON-RPC server and the les_* checkpoint methods over real sockets (HTTP and WS),
with geth's result forms, codes and messages; and the web3.py module against it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from web3 import AsyncWeb3, Web3
from web3.exceptions import Web3RPCError
from web3.providers import AsyncHTTPProvider

from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.networks import network
from lightclient.rpc.les import les_checkpoint_methods
from lightclient.rpc.server import RpcServer
from lightclient.store.sqlite import Store
from lightclient.sync.syncer import Syncer
from lightclient.testing.synthetic import MemoryHeaderSource, SyntheticChain
from lightclient.testing.threads import serve_app_in_thread
from lightclient.w3les import ASYNC_LES_MODULES, LES_MODULES, AsyncLes, Les

ORACLE = "0x9a9070028361F7AAbeB3f2F2Dc07F82C4a98A02a"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("store")
    s = Store.open(path)
    chain = SyntheticChain(16 * 3, seed=3)
    asyncio.run(Syncer(MemoryHeaderSource(chain.headers()), s, section_size=16,
                       confirmations=0).sync())  # fmt: skip
    yield s
    s.close()


@pytest.fixture(scope="module")
def url(store: Store) -> Iterator[str]:
    server = RpcServer(les_checkpoint_methods(store, ORACLE), modules=["les", "rpc"])
    with serve_app_in_thread(server.app) as address:
        yield address


@pytest.fixture
def empty_url(tmp_path: Path) -> Iterator[str]:
    server = RpcServer(les_checkpoint_methods(Store.open(tmp_path), None), modules=["les"])
    with serve_app_in_thread(server.app) as address:
        yield address


async def post(url: str, body: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers={"Content-Type": "application/json"}) as response,
    ):
        text = await response.text()
        return response.status, json.loads(text) if text else None


async def call(url: str, method: str, params: Any = None, rid: Any = 1) -> Any:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        body["params"] = params
    status, answer = await post(url, json.dumps(body))
    assert status == 200
    return answer


async def test_latest_and_get_checkpoint_forms(url: str, store: Store) -> None:
    latest = store.latest_checkpoint()
    assert latest is not None and latest.section_index == 2
    answer = await call(url, "les_latestCheckpoint", [])
    assert answer == {"jsonrpc": "2.0", "id": 1, "result": latest.latest_rpc_form()}
    assert answer["result"][0] == "0x2"
    got = await call(url, "les_getCheckpoint", [1])
    one = store.checkpoint(1)
    assert one is not None and got["result"] == one.get_rpc_form()
    assert len(got["result"]) == 3
    address = await call(url, "les_getCheckpointContractAddress")
    assert address["result"] == ORACLE
    assert (await call(url, "rpc_modules"))["result"] == {"les": "1.0"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            ["0x1fa"],
            "invalid argument 0: json: cannot unmarshal string into Go value of type uint64",
        ),
        ([], "missing value for required argument 0"),
        ([1, 2], "too many arguments, want at most 1"),
        ([-1], "invalid argument 0: json: cannot unmarshal number -1 into Go value of type uint64"),
        (
            [1.5],
            "invalid argument 0: json: cannot unmarshal number 1.5 into Go value of type uint64",
        ),
        ([True], "invalid argument 0: json: cannot unmarshal bool into Go value of type uint64"),
        (
            [18446744073709551616],
            "invalid argument 0: json: cannot unmarshal number "
            "18446744073709551616 into Go value of type uint64",
        ),
        ({"index": 1}, "non-array args"),
    ],
)
async def test_get_checkpoint_bad_params(url: str, params: Any, message: str) -> None:
    answer = await call(url, "les_getCheckpoint", params)
    assert answer == {"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": message}}


async def test_method_errors(url: str, empty_url: str) -> None:
    for index in (3, 506, 2**64 - 1):
        answer = await call(url, "les_getCheckpoint", [index])
        assert answer["error"] == {"code": -32000, "message": "no local checkpoint provided"}
        assert "result" not in answer
    none = await call(empty_url, "les_latestCheckpoint", [])
    assert none["error"] == {"code": -32000, "message": "no local checkpoint provided"}
    off = await call(empty_url, "les_getCheckpointContractAddress", [])
    assert off["error"] == {"code": -32000, "message": "checkpoint registrar is not activated"}
    # [null] decodes to index 0, as Go leaves a uint64 at zero for JSON null.
    assert (await call(url, "les_getCheckpoint", [None]))["result"] is not None


async def test_protocol_errors(url: str, empty_url: str) -> None:
    # py-evm (imported by these tests, as by `lightclient dev`) raises the recursion limit
    # beyond the C stack: this body used to be able to crash the process. Now: -32700.
    import sys

    assert sys.getrecursionlimit() >= 10_000
    status, answer = await post(url, "[" * 200_000)
    assert status == 200 and answer["error"]["code"] == -32700
    status, answer = await post(url, "{not json")
    assert status == 200
    assert answer == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "parse error"},
    }
    _, answer = await post(url, "[]")
    assert answer["error"] == {"code": -32600, "message": "empty batch"}
    _, answer = await post(url, '"hello"')
    assert answer["error"]["code"] == -32600
    unknown = await call(url, "les_noSuchThing")
    assert unknown["error"] == {
        "code": -32601,
        "message": "the method les_noSuchThing does not exist/is not available",
    }
    # A module that is not enabled is not there: rpc_modules on a les-only server.
    disabled = await call(empty_url, "rpc_modules")
    assert disabled["error"]["code"] == -32601
    # Notifications get no answer.
    status, answer = await post(url, '{"jsonrpc":"2.0","method":"les_latestCheckpoint"}')
    assert status == 200 and answer is None
    # A bare GET is geth's health check; other methods are not served.
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 200 and await response.read() == b""
        async with session.put(url, data="{}") as response:
            assert response.status == 405


async def test_batches_keep_ids_and_order(url: str) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "les_getCheckpoint", "params": [0]},
        {"jsonrpc": "2.0", "id": 7, "method": "les_getCheckpoint", "params": ["x"]},
        {"jsonrpc": "2.0", "method": "les_latestCheckpoint"},
        {"jsonrpc": "2.0", "id": None, "method": "nope"},
    ]
    _, answer = await post(url, json.dumps(batch))
    assert [a["id"] for a in answer] == ["a", 7, None]
    assert "result" in answer[0] and answer[1]["error"]["code"] == -32602
    assert answer[2]["error"]["code"] == -32601


async def test_websocket(url: str, store: Store) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url.replace("http", "ws")) as ws,
    ):
        await ws.send_str('{"jsonrpc":"2.0","id":5,"method":"les_latestCheckpoint","params":[]}')
        answer = json.loads((await ws.receive()).data)
        latest = store.latest_checkpoint()
        assert latest is not None and answer["result"] == latest.latest_rpc_form()
        await ws.send_str("garbage")
        assert json.loads((await ws.receive()).data)["error"]["code"] == -32700
        await ws.send_str('[{"jsonrpc":"2.0","id":1,"method":"les_getCheckpoint","params":[0]}]')
        batch = json.loads((await ws.receive()).data)
        assert batch[0]["id"] == 1 and len(batch[0]["result"]) == 3


def test_web3_module_sync(url: str, store: Store) -> None:
    w3 = Web3(Web3.HTTPProvider(url), external_modules=LES_MODULES)
    les: Les = w3.les  # type: ignore[attr-defined]
    latest = les.latest_checkpoint()
    assert isinstance(latest, TrustedCheckpoint)
    assert latest == store.latest_checkpoint()
    assert les.get_checkpoint(1) == store.checkpoint(1)
    assert les.get_checkpoint_contract_address() == ORACLE
    with pytest.raises(Web3RPCError, match="no local checkpoint provided"):
        les.get_checkpoint(9)
    with pytest.raises(ValueError):
        les.get_checkpoint(-1)


async def test_web3_module_async(url: str, store: Store) -> None:
    w3 = AsyncWeb3(AsyncHTTPProvider(url), external_modules=ASYNC_LES_MODULES)
    les: AsyncLes = w3.les  # type: ignore[attr-defined]
    assert await les.latest_checkpoint() == store.latest_checkpoint()
    assert await les.get_checkpoint(0) == store.checkpoint(0)
    assert await les.get_checkpoint_contract_address() == ORACLE
    await w3.provider.disconnect()


def test_mainnet_checkpoint_round_trips_through_the_module() -> None:
    cp = network("mainnet").checkpoint

    class Hardcoded:
        def latest_checkpoint(self) -> TrustedCheckpoint:
            return cp

        def checkpoint(self, index: int) -> TrustedCheckpoint | None:
            return cp if index == cp.section_index else None

    server = RpcServer(les_checkpoint_methods(Hardcoded(), ORACLE))
    with serve_app_in_thread(server.app) as address:
        w3 = Web3(Web3.HTTPProvider(address), external_modules=LES_MODULES)
        les: Les = w3.les  # type: ignore[attr-defined]
        assert les.latest_checkpoint() == cp
        raw = w3.provider.make_request("les_latestCheckpoint", [])  # type: ignore[arg-type]
        assert raw["result"] == [
            "0x1fa",
            "0x3d1a139a6fc7764211236ef7c64d9e8c1fe55b358d7414e25277bac1144486cd",
            "0xef7fc3321a239a54238593bdf68d82933d903cb533b0d03228a8d958cd35ea77",
            "0x51d7bfe7c6397b1caa8b1cb046de4aeaf7e7fbd3fb6c726b60bf750de78809e8",
        ]
