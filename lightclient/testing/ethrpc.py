"""A minimal Ethereum JSON-RPC node over a real socket, backed by an EmbeddedChain.

It answers ``eth_chainId``, ``eth_blockNumber`` and ``eth_getBlockByNumber`` (header
fields only), singly or in batches, over HTTP on 127.0.0.1, so that the JSON-RPC header
source can be tested against the embedded chain byte for byte.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from lightclient.core.header import header_json_from_rlp
from lightclient.errors import ChainGap
from lightclient.sources.embedded import EmbeddedChain
from lightclient.testing.threads import serve_app_in_thread

__all__ = ["serve_embedded_chain"]


def _answer(chain: EmbeddedChain, request: Any) -> dict[str, Any]:
    rid = request.get("id") if isinstance(request, dict) else None
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        return {
            "jsonrpc": "2.0",
            "id": rid,
            "error": {"code": -32600, "message": "invalid request"},
        }
    method, params = request["method"], request.get("params") or []
    if method == "eth_blockNumber":
        return {"jsonrpc": "2.0", "id": rid, "result": hex(chain.head())}
    if method == "eth_chainId":
        return {"jsonrpc": "2.0", "id": rid, "result": hex(131277322940537)}
    if method == "eth_getBlockByNumber":
        tag = params[0] if params else "latest"
        number = chain.head() if tag == "latest" else int(tag, 16)
        try:
            _, raw = chain.header_rlp(number)
        except ChainGap:
            return {"jsonrpc": "2.0", "id": rid, "result": None}
        block: dict[str, Any] = header_json_from_rlp(raw)
        block["transactions"] = []
        block["uncles"] = []
        return {"jsonrpc": "2.0", "id": rid, "result": block}
    return {
        "jsonrpc": "2.0",
        "id": rid,
        "error": {
            "code": -32601,
            "message": f"the method {method} does not exist/is not available",
        },
    }


@contextmanager
def serve_embedded_chain(chain: EmbeddedChain) -> Iterator[str]:
    """Serve ``chain`` on 127.0.0.1 (a free port) in a background thread; yields the URL."""
    lock = threading.Lock()

    async def handle(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        with lock:
            if isinstance(body, list):
                result: Any = [_answer(chain, item) for item in body]
            else:
                result = _answer(chain, body)
        return web.json_response(result)

    def make_app() -> web.Application:
        app = web.Application()
        app.router.add_post("/", handle)
        return app

    with serve_app_in_thread(make_app) as url:
        yield url
