"""A JSON-RPC 2.0 server on aiohttp: HTTP POST and WebSocket, single requests and batches.

Methods are registered per namespace (``les``, ``rpc``...) and served only when their
namespace is enabled, like geth's ``--http.api``. This module is the one place where
exceptions become JSON-RPC errors:

* malformed JSON: -32700 "parse error"; an empty batch or a request that is not an object
  with a method: -32600;
* an unknown or disabled method: -32601 "the method X does not exist/is not available";
* :class:`~lightclient.errors.LightClientError`: its ``rpc_code`` (-32602 for bad
  parameters, -32000 otherwise) and its message;
* anything else: -32603 "internal error" (logged), never a 500 or a dropped connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from lightclient.errors import InvalidInput, LightClientError
from lightclient.rpc.params import Param, decode_request_body, parse_params

__all__ = ["Method", "RpcServer", "serve"]

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Any]]
MAX_BODY = 5 * 1024 * 1024
MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Method:
    name: str  # e.g. "les_getCheckpoint"
    handler: Handler
    params: Sequence[Param] = ()


def _error(rid: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


class RpcServer:
    """Dispatches JSON-RPC requests to the methods of the enabled namespaces."""

    def __init__(self, methods: Iterable[Method], modules: Iterable[str] | None = None) -> None:
        all_methods = list(methods)
        enabled = (
            set(modules) if modules is not None else {m.name.split("_")[0] for m in all_methods}
        )
        self.modules = sorted(enabled)
        self.methods = {m.name: m for m in all_methods if m.name.split("_", 1)[0] in enabled}
        if "rpc" in enabled or modules is None:
            self.methods["rpc_modules"] = Method("rpc_modules", self._rpc_modules)

    async def _rpc_modules(self) -> dict[str, str]:
        return {name: "1.0" for name in self.modules if name != "rpc"}

    async def handle_one(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict):
            return _error(None, -32600, "invalid request")
        rid = request.get("id")
        method = request.get("method")
        if not isinstance(method, str) or request.get("jsonrpc", "2.0") != "2.0":
            return _error(rid, -32600, "invalid request")
        entry = self.methods.get(method)
        if entry is None:
            return _error(rid, -32601, f"the method {method} does not exist/is not available")
        try:
            args = parse_params(request.get("params"), entry.params)
            result = await entry.handler(*args)
        except LightClientError as exc:
            return _error(rid, exc.rpc_code, str(exc))
        except Exception:  # the boundary: never let a bug drop the connection
            log.exception("internal error in %s", method)
            return _error(rid, -32603, "internal error")
        if "id" not in request:
            return None  # a notification
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    async def handle_payload(self, payload: str | bytes) -> Any:
        """The response to a raw request body (None when nothing is to be sent back)."""
        try:
            request = decode_request_body(payload)
        except (ValueError, RecursionError):
            return _error(None, -32700, "parse error")
        if isinstance(request, list):
            if not request:
                return _error(None, -32600, "empty batch")
            if len(request) > MAX_BATCH:
                return _error(None, -32600, f"batch too large (at most {MAX_BATCH} requests)")
            answers = await asyncio.gather(*(self.handle_one(r) for r in request))
            kept = [a for a in answers if a is not None]
            return kept or None
        return await self.handle_one(request)

    # -- aiohttp ------------------------------------------------------------------------

    async def http(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.websocket(request)
        if request.method != "POST":
            return web.json_response(
                _error(None, -32600, "send JSON-RPC requests with POST"), status=405
            )
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response(_error(None, -32600, "request too large"), status=413)
        answer = await self.handle_payload(body)
        if answer is None:
            return web.Response(status=200, text="")
        return web.json_response(answer, dumps=_dumps)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_BODY, heartbeat=30)
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT or message.type == WSMsgType.BINARY:
                answer = await self.handle_payload(message.data)
            else:
                continue
            if answer is not None:
                await ws.send_str(_dumps(answer))
        return ws

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/", self.http)
        return app


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


async def serve(server: RpcServer, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start ``server`` on host:port (port 0 picks a free one); returns (runner, port)."""
    try:
        sock = socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner, int(sock.getsockname()[1])
