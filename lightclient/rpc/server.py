"""JSON-RPC 2.0 dispatch: strict requests, single or batched, to the enabled namespaces.

Methods are registered per namespace (``les``, ``rpc``...) and served only when their
namespace is enabled, like geth's ``--http.api``; admin methods (the client pool's) only to
callers the transport authenticated (a valid JWT, or the IPC socket). The transports
(:mod:`lightclient.rpc.http`, :mod:`lightclient.rpc.ipc`) hand raw bodies to
:meth:`RpcServer.handle_payload`; this module is the one place where exceptions become
JSON-RPC errors:

* a body that is not strict UTF-8 JSON (BOM, UTF-16/32, ``NaN``, nesting past 256): -32700
  "parse error";
* past a bound (body size, number of values, batch length): -32600 naming the bound;
* a request that is not an object with ``"jsonrpc": "2.0"``, a string ``method`` and an id
  that is a string, a number or null; an empty batch: -32600;
* an unknown or disabled method: -32601 "the method X does not exist/is not available";
* an admin method without authentication: -32001 "unauthorized: ...", with no effect;
* :class:`~lightclient.errors.LightClientError`: its ``rpc_code`` (-32602 for bad
  parameters, -32000 otherwise) and its message;
* anything else: -32603 "internal error" (logged), never a 500 or a dropped connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lightclient.errors import DecodeError, LightClientError, LimitExceeded
from lightclient.rpc.params import JsonInt, Param, decode_request_body, parse_params

if TYPE_CHECKING:
    from aiohttp import web

    from lightclient.rpc.http import HttpPolicy

__all__ = ["UNAUTHORIZED", "Limits", "Method", "RpcServer", "encode"]

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Any]]
UNAUTHORIZED = -32001
_THREAD_DECODE = 1 << 20  # bodies this large are decoded off the event loop


@dataclass(frozen=True, slots=True)
class Method:
    name: str  # e.g. "les_getCheckpoint"
    handler: Handler
    params: Sequence[Param] = ()
    admin: bool = False  # answered only to authenticated callers (JWT or IPC)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request body may hold; checked before any method runs."""

    max_body: int = 5 * 1024 * 1024  # bytes, geth's maxRequestContentLength
    max_items: int = 20_000  # JSON values in one body (array elements + object members)
    max_batch: int = 1000  # requests in one batch, geth's later BatchRequestLimit


def _error(rid: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def _valid_id(rid: object) -> bool:
    if rid is None or isinstance(rid, str):
        return True
    if isinstance(rid, bool):
        return False
    if isinstance(rid, JsonInt):
        return not rid.huge
    if isinstance(rid, int):
        return True
    return isinstance(rid, float) and math.isfinite(rid)


def encode(answer: Any) -> str:
    """Strict JSON text of an answer (never NaN/Infinity: such a result is an error)."""
    try:
        return json.dumps(answer, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError):
        log.error("an answer could not be written as JSON: %.200r", answer)
        if isinstance(answer, list):
            return encode([_error(a.get("id"), -32603, "internal error") for a in answer])
        return encode(_error(answer.get("id"), -32603, "internal error"))


class RpcServer:
    """Dispatches JSON-RPC requests to the methods of the enabled namespaces."""

    def __init__(
        self,
        methods: Iterable[Method],
        modules: Iterable[str] | None = None,
        limits: Limits | None = None,
    ) -> None:
        all_methods = list(methods)
        enabled = (
            set(modules) if modules is not None else {m.name.split("_")[0] for m in all_methods}
        )
        self.limits = limits or Limits()
        # Large bodies are decoded in threads; two at a time bounds the memory they take
        # (a 5 MiB body is about 30 MB while it is checked and decoded).
        self._large_decodes = asyncio.Semaphore(2)
        self.modules = sorted(enabled)
        self.methods = {m.name: m for m in all_methods if m.name.split("_", 1)[0] in enabled}
        if "rpc" in enabled or modules is None:
            self.methods["rpc_modules"] = Method("rpc_modules", self._rpc_modules)

    async def _rpc_modules(self) -> dict[str, str]:
        return {name: "1.0" for name in self.modules if name != "rpc"}

    async def handle_one(self, request: Any, *, admin: bool = False) -> dict[str, Any] | None:
        if not isinstance(request, dict):
            return _error(None, -32600, "invalid request")
        rid = request.get("id")
        if not _valid_id(rid):
            return _error(None, -32600, "invalid request: the id must be a string, number or null")
        method = request.get("method")
        if request.get("jsonrpc") != "2.0":
            return _error(rid, -32600, 'invalid request: "jsonrpc" must be "2.0"')
        if not isinstance(method, str):
            return _error(rid, -32600, "invalid request: no method")
        answer = await self._call(request, rid, method, admin)
        if "id" not in request:
            return None  # a notification: never answered, not even with an error
        return answer

    async def _call(
        self, request: dict[str, Any], rid: Any, method: str, admin: bool
    ) -> dict[str, Any]:
        entry = self.methods.get(method)
        if entry is None:
            return _error(rid, -32601, f"the method {method:.200} does not exist/is not available")
        if entry.admin and not admin:
            return _error(rid, UNAUTHORIZED, f"unauthorized: {method} is an admin method; send "
                          "Authorization: Bearer <JWT> made with the admin secret, or use the "
                          "IPC socket")  # fmt: skip
        try:
            args = parse_params(request.get("params"), entry.params)
            result = await entry.handler(*args)
        except LightClientError as exc:
            return _error(rid, exc.rpc_code, str(exc))
        except Exception:  # the boundary: never let a bug drop the connection
            log.exception("internal error in %s", method)
            return _error(rid, -32603, "internal error")
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    async def decode(self, payload: str | bytes) -> Any:
        """The decoded body; raises _Refused with the error answer to send instead."""
        if len(payload) > self.limits.max_body:
            raise _Refused(_error(None, -32600, f"request too large (at most "
                                  f"{self.limits.max_body} bytes)"))  # fmt: skip
        try:
            if len(payload) >= _THREAD_DECODE:
                async with self._large_decodes:
                    return await asyncio.to_thread(decode_request_body, payload,
                                                   self.limits.max_items)  # fmt: skip
            return decode_request_body(payload, self.limits.max_items)
        except LimitExceeded as exc:
            raise _Refused(_error(None, -32600, f"request too large: {exc}")) from None
        except (DecodeError, ValueError, RecursionError):
            raise _Refused(_error(None, -32700, "parse error")) from None

    async def handle_payload(self, payload: str | bytes, *, admin: bool = False) -> Any:
        """The answer to a raw request body (None when nothing is to be sent back)."""
        try:
            request = await self.decode(payload)
        except _Refused as refused:
            return refused.answer
        if isinstance(request, list):
            if not request:
                return _error(None, -32600, "empty batch")
            if len(request) > self.limits.max_batch:
                return _error(None, -32600, f"batch too large (at most "
                              f"{self.limits.max_batch} requests)")  # fmt: skip
            answers = [await self.handle_one(r, admin=admin) for r in request]
            kept = [a for a in answers if a is not None]
            return kept or None
        return await self.handle_one(request, admin=admin)

    def app(self, policy: HttpPolicy | None = None) -> web.Application:
        """An aiohttp application serving this server over HTTP and WebSocket."""
        from lightclient.rpc.http import HttpPolicy, build_app

        return build_app(self, policy or HttpPolicy())


class _Refused(Exception):
    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(answer["error"]["message"])
        self.answer = answer
