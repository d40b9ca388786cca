"""A web3.py module for the ``les`` checkpoint methods, sync and async.

    from web3 import Web3
    from lightclient.w3les import Les
    w3 = Web3(Web3.HTTPProvider(url), external_modules={"les": Les})
    w3.les.latest_checkpoint()            # TrustedCheckpoint
    w3.les.get_checkpoint(506)            # TrustedCheckpoint (index 506)
    w3.les.get_checkpoint_contract_address()

``AsyncLes`` is the same for ``AsyncWeb3`` (``await w3.les.latest_checkpoint()``).
Errors from the node (e.g. "no local checkpoint provided") raise web3's ``Web3RPCError``.

The light server's pool methods are there too (``server_info``, ``client_info``,
``priority_client_info``, ``add_balance``, ``set_client_params``, ``set_default_params``,
``set_connected_bias``). They need the admin token; :func:`jwt_http_provider` (or
:func:`async_jwt_http_provider`) makes a provider that sends a fresh one with each request::

    w3 = Web3(jwt_http_provider(url, "data/jwtsecret"), external_modules=LES_MODULES)
    w3.les.add_balance("0x" + "5a" * 32, 10**12, "invoice 7")   # [old, new]

or use web3's ``IPCProvider("data/lightclient.ipc")``, which needs no token.

:class:`LightClientProvider` answers ``AsyncWeb3`` from a light client in this process,
verified, with no HTTP in between: each request goes through the same dispatch as the
client's RPC endpoint (``lightclient client --http``), so the answers are exactly its own
and its errors raise web3's ``Web3RPCError``::

    w3 = AsyncWeb3(LightClientProvider(client))   # a started, synced LightClient
    await w3.eth.get_balance(address)             # from a verified account proof
    await w3.eth.get_block("latest")
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from web3 import AsyncHTTPProvider, HTTPProvider
from web3.method import Method, default_root_munger
from web3.module import Module
from web3.providers.async_base import AsyncJSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from lightclient.client.client import LightClient
from lightclient.client.odr import STATE_WINDOW
from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.rpc.auth import bearer_header, read_secret
from lightclient.rpc.les_client import light_client_methods
from lightclient.rpc.node import LightNode
from lightclient.rpc.server import RpcServer, encode

__all__ = [
    "ASYNC_LES_MODULES",
    "LES_MODULES",
    "AsyncLes",
    "Les",
    "LightClientProvider",
    "async_jwt_http_provider",
    "jwt_http_provider",
]


def _identity(_method: RPCEndpoint, _module: Module) -> Callable[[Any], Any]:
    """web3 calls result formatters as factories of (method, module); ours are no-ops."""
    return lambda result: result


def _no_request_formatting(_method: RPCEndpoint) -> Callable[[Any], Any]:
    return lambda params: params


def _method(name: str) -> Method[Callable[..., Any]]:
    return Method(
        RPCEndpoint(name),
        mungers=[default_root_munger],
        request_formatters=_no_request_formatting,
        result_formatters=_identity,
    )


def _index(index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 2**64:
        raise ValueError(f"a checkpoint index is a uint64, got {index!r}")
    return index


def _secret(secret: bytes | str | Path) -> bytes:
    return secret if isinstance(secret, bytes) else read_secret(secret)


class _JwtHTTPProvider(HTTPProvider):
    jwt_secret = b""

    def get_request_kwargs(self, *args: Any, **kw: Any) -> dict[str, Any]:
        kwargs = dict(super().get_request_kwargs(*args, **kw))
        kwargs["headers"] = {**kwargs.get("headers", {}), **bearer_header(self.jwt_secret)}
        return kwargs


class _AsyncJwtHTTPProvider(AsyncHTTPProvider):
    jwt_secret = b""

    def get_request_kwargs(self, *args: Any, **kw: Any) -> dict[str, Any]:
        kwargs = dict(super().get_request_kwargs(*args, **kw))
        kwargs["headers"] = {**kwargs.get("headers", {}), **bearer_header(self.jwt_secret)}
        return kwargs


def jwt_http_provider(url: str, secret: bytes | str | Path, **kwargs: Any) -> HTTPProvider:
    """An HTTPProvider that sends ``Authorization: Bearer <JWT>`` (issued at each request)
    made with ``secret``: the 32 bytes, or the path of a jwtsecret file."""
    provider = _JwtHTTPProvider(url, **kwargs)
    provider.jwt_secret = _secret(secret)
    return provider


def async_jwt_http_provider(
    url: str, secret: bytes | str | Path, **kwargs: Any
) -> AsyncHTTPProvider:
    """:func:`jwt_http_provider` for AsyncWeb3."""
    provider = _AsyncJwtHTTPProvider(url, **kwargs)
    provider.jwt_secret = _secret(secret)
    return provider


class _PoolMethods(Module):
    """The admin methods, the same for sync and async: web3 runs the call either way."""

    server_info: Method[Callable[[], Any]] = _method("les_serverInfo")
    client_info: Method[Callable[..., Any]] = _method("les_clientInfo")
    priority_client_info: Method[Callable[[str, str, int], Any]] = _method("les_priorityClientInfo")
    add_balance: Method[Callable[..., Any]] = _method("les_addBalance")
    set_client_params: Method[Callable[[list[str], dict[str, Any]], Any]] = _method(
        "les_setClientParams"
    )
    set_default_params: Method[Callable[[dict[str, Any]], Any]] = _method("les_setDefaultParams")
    set_connected_bias: Method[Callable[[int], Any]] = _method("les_setConnectedBias")


class Les(_PoolMethods):
    """``w3.les`` for a synchronous Web3."""

    _latest: Method[Callable[[], list[str]]] = _method("les_latestCheckpoint")
    _get: Method[Callable[[int], list[str]]] = _method("les_getCheckpoint")
    _address: Method[Callable[[], str]] = _method("les_getCheckpointContractAddress")

    def latest_checkpoint(self) -> TrustedCheckpoint:
        return TrustedCheckpoint.from_latest_rpc_form(self._latest())

    def get_checkpoint(self, index: int) -> TrustedCheckpoint:
        return TrustedCheckpoint.from_get_rpc_form(index, self._get(_index(index)))

    def get_checkpoint_contract_address(self) -> str:
        return str(self._address())


class AsyncLes(_PoolMethods):
    """``w3.les`` for an AsyncWeb3."""

    is_async = True
    _latest: Method[Callable[[], Any]] = _method("les_latestCheckpoint")
    _get: Method[Callable[[int], Any]] = _method("les_getCheckpoint")
    _address: Method[Callable[[], Any]] = _method("les_getCheckpointContractAddress")

    async def latest_checkpoint(self) -> TrustedCheckpoint:
        return TrustedCheckpoint.from_latest_rpc_form(await self._latest())

    async def get_checkpoint(self, index: int) -> TrustedCheckpoint:
        return TrustedCheckpoint.from_get_rpc_form(index, await self._get(_index(index)))

    async def get_checkpoint_contract_address(self) -> str:
        return str(await self._address())


LES_MODULES: dict[str, Any] = {"les": Les}
ASYNC_LES_MODULES: dict[str, Any] = {"les": AsyncLes}


class LightClientProvider(AsyncJSONBaseProvider):
    """An AsyncWeb3 provider over a :class:`LightClient` (or a :class:`LightNode`) in this
    process: the eth_*, net_*, web3_* and les_* methods of ``lightclient client --http``,
    dispatched by :meth:`RpcServer.handle_payload` as that endpoint does. ``chain_id`` and
    ``state_window`` are :func:`light_client_methods`'s (ignored for a LightNode, which
    has its own)."""

    def __init__(
        self,
        client: LightClient | LightNode,
        chain_id: int | None = None,
        state_window: int | None = STATE_WINDOW,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.node = (
            client if isinstance(client, LightNode) else LightNode(client, chain_id, state_window)
        )
        self.rpc = RpcServer(light_client_methods(self.node))

    async def _answer(self, payload: bytes) -> Any:
        answer = await self.rpc.handle_payload(payload)
        # Through the same JSON encoding as the HTTP endpoint, so the answer is its own.
        return self.decode_rpc_response(encode(answer).encode())

    async def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        answer: RPCResponse = await self._answer(self.encode_rpc_request(method, params))
        return answer

    async def make_batch_request(
        self, requests: list[tuple[RPCEndpoint, Any]]
    ) -> list[RPCResponse] | RPCResponse:
        answer: list[RPCResponse] | RPCResponse = await self._answer(
            self.encode_batch_rpc_request(requests)
        )
        return answer
