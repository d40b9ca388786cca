"""Headers from any Ethereum JSON-RPC endpoint, over HTTP(S) or WebSocket.

Requests go out as JSON-RPC batches of ``eth_getBlockByNumber`` (header fields only), with
a bounded number of batches in flight and retries with exponential backoff for transient
failures. Each header's RLP is rebuilt from the JSON fields; the hash the node claims is
kept beside it, and :func:`~lightclient.sources.base.checked_headers` compares the two.
Nodes that refuse batches are asked one request at a time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from lightclient.core.header import header_rlp_from_json
from lightclient.errors import (
    ChainGap,
    DecodeError,
    HeaderSourceError,
    InvalidHeader,
    InvalidInput,
    SourceUnavailable,
)
from lightclient.sources.base import RawHeader

__all__ = ["JsonRpcHeaderSource", "RpcError"]

_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
# JSON-RPC errors worth retrying: rate limits and "header not found yet" style answers.
_RETRY_CODES = {-32005, -32603, 429}


class RpcError(HeaderSourceError):
    """The node answered a request with a JSON-RPC error object."""

    def __init__(self, url: str, method: str, code: int, message: str) -> None:
        super().__init__(f"{url}: {method} failed with JSON-RPC error {code}: {message}")
        self.code = code
        self.rpc_message = message


class _Transient(Exception):
    """A failure worth retrying (connection, timeout, 5xx, rate limit)."""


class _BatchRefused(Exception):
    """The node does not accept JSON-RPC batches."""


class JsonRpcHeaderSource:
    """A :class:`~lightclient.sources.base.HeaderSource` over an Ethereum JSON-RPC endpoint."""

    def __init__(
        self,
        url: str,
        *,
        batch_size: int = 500,
        concurrency: int = 4,
        retries: int = 5,
        backoff: float = 0.25,
        timeout: float = 30.0,
    ) -> None:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https", "ws", "wss") or not urlsplit(url).netloc:
            raise InvalidInput(f"not an http(s):// or ws(s):// URL: {url!r}")
        if batch_size < 1 or concurrency < 1 or retries < 1:
            raise InvalidInput("batch size, concurrency and retries must be at least 1")
        self.url = url
        self.is_ws = scheme in ("ws", "wss")
        self.batch_size = batch_size
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self._limit = asyncio.Semaphore(concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_lock = asyncio.Lock()
        self._ws_reader: asyncio.Task[None] | None = None
        self._ws_waiting: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._batches = True

    @property
    def description(self) -> str:
        return self.url

    async def __aenter__(self) -> JsonRpcHeaderSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transport ---------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def _post(self, payload: Any) -> Any:
        try:
            async with self._http().post(self.url, json=payload) as response:
                body = await response.read()
                if response.status in _RETRY_STATUS:
                    raise _Transient(f"HTTP {response.status}")
                if response.status >= 400 and not body.strip().startswith((b"{", b"[")):
                    raise SourceUnavailable(f"{self.url} answered HTTP {response.status}")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _Transient(_describe(exc)) from None
        try:
            return json.loads(body)
        except ValueError:
            raise SourceUnavailable(f"{self.url} did not answer with JSON: {body[:80]!r}") from None

    async def _ws_connection(self) -> aiohttp.ClientWebSocketResponse:
        async with self._ws_lock:
            if self._ws is None or self._ws.closed:
                try:
                    self._ws = await self._http().ws_connect(self.url, max_msg_size=0)
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    raise _Transient(_describe(exc)) from None
                self._ws_reader = asyncio.ensure_future(self._read_ws(self._ws))
            return self._ws

    async def _read_ws(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        error: Exception = _Transient("the WebSocket connection closed")
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(message.data)
                except ValueError:
                    error = SourceUnavailable(f"{self.url} sent a message that is not JSON")
                    break
                items = data if isinstance(data, list) else [data]
                ids = [i.get("id") for i in items if isinstance(i, dict)]
                key = min((i for i in ids if isinstance(i, int)), default=None)
                future = self._ws_waiting.pop(key, None) if key is not None else None
                if future is not None and not future.done():
                    future.set_result(data)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            error = _Transient(_describe(exc))
        for future in self._ws_waiting.values():
            if not future.done():
                future.set_exception(error)
        self._ws_waiting.clear()

    async def _send_ws(self, payload: Any) -> Any:
        ws = await self._ws_connection()
        items = payload if isinstance(payload, list) else [payload]
        key = min(item["id"] for item in items)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._ws_waiting[key] = future
        try:
            await ws.send_str(json.dumps(payload))
            return await asyncio.wait_for(future, self.timeout)
        except (TimeoutError, aiohttp.ClientError, OSError, ConnectionError) as exc:
            raise _Transient(_describe(exc)) from None
        finally:
            self._ws_waiting.pop(key, None)

    async def _exchange(self, payload: Any) -> Any:
        """Send a request or batch, retrying transient failures with backoff."""
        delay = self.backoff
        last = "unknown error"
        for attempt in range(self.retries):
            try:
                async with self._limit:
                    if self.is_ws:
                        return await self._send_ws(payload)
                    return await self._post(payload)
            except _Transient as exc:
                last = str(exc)
                if attempt + 1 < self.retries:
                    await asyncio.sleep(delay * (1 + random.random() / 4))
                    delay *= 2
        raise SourceUnavailable(f"cannot reach {self.url}: {last}")

    # -- JSON-RPC ----------------------------------------------------------------------

    def _request(self, method: str, params: Sequence[Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}

    def _result(self, method: str, response: Any) -> Any:
        if not isinstance(response, dict) or ("result" not in response and "error" not in response):
            raise SourceUnavailable(f"{self.url}: {method} got a malformed JSON-RPC response")
        error = response.get("error")
        if error is not None:
            code = error.get("code", 0) if isinstance(error, dict) else 0
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            if code in _RETRY_CODES:
                raise _Transient(f"{method}: JSON-RPC error {code}: {message}")
            raise RpcError(self.url, method, code, message)
        return response["result"]

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One JSON-RPC call, with retries; returns its result or raises RpcError."""
        delay = self.backoff
        for attempt in range(self.retries):
            request = self._request(method, params)
            response = await self._exchange(request)
            try:
                return self._result(method, response)
            except _Transient:
                if attempt + 1 >= self.retries:
                    raise SourceUnavailable(
                        f"{self.url}: {method} kept failing after {self.retries} tries"
                    ) from None
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call_many(self, method: str, params_list: Sequence[Sequence[Any]]) -> list[Any]:
        """The same method for many parameter lists, batched when the node allows it."""
        if not self._batches or len(params_list) == 1:
            return list(await asyncio.gather(*(self.call(method, p) for p in params_list)))
        requests = [self._request(method, p) for p in params_list]
        response = await self._exchange(requests)
        if not isinstance(response, list):
            self._batches = False  # e.g. {"error": "batch requests are not supported"}
            return list(await asyncio.gather(*(self.call(method, p) for p in params_list)))
        by_id = {r.get("id"): r for r in response if isinstance(r, dict)}
        results: list[Any] = []
        for request in requests:
            item = by_id.get(request["id"])
            if item is None:
                raise SourceUnavailable(
                    f"{self.url}: the batch answer lacks the response to request {request['id']}"
                )
            try:
                results.append(self._result(method, item))
            except _Transient:
                results.append(await self.call(method, request["params"]))
        return results

    # -- HeaderSource --------------------------------------------------------------------

    async def head(self) -> int:
        result = await self.call("eth_blockNumber", [])
        try:
            return int(result, 16)
        except (TypeError, ValueError):
            raise SourceUnavailable(
                f"{self.url}: eth_blockNumber returned {result!r}, not a hex quantity"
            ) from None

    async def headers(self, start: int, count: int) -> list[RawHeader]:
        numbers = list(range(start, start + count))
        chunks = [numbers[i : i + self.batch_size] for i in range(0, count, self.batch_size)]
        answers = await asyncio.gather(
            *(self._call_many("eth_getBlockByNumber", [[hex(n), False] for n in c]) for c in chunks)
        )
        out: list[RawHeader] = []
        for number, block in zip(numbers, itertools.chain.from_iterable(answers), strict=True):
            out.append(self._raw_header(number, block))
        return out

    async def number_of(self, block_hash: bytes) -> int | None:
        """The number of the block with that hash, if the node knows it."""
        block = await self.call("eth_getBlockByHash", ["0x" + block_hash.hex(), False])
        if not isinstance(block, dict) or not isinstance(block.get("number"), str):
            return None
        return int(block["number"], 16)

    def _raw_header(self, number: int, block: Any) -> RawHeader:
        if block is None:
            raise ChainGap(f"{self.url} has no block {number}", block=number)
        if not isinstance(block, dict):
            raise InvalidHeader(f"{self.url} returned {block!r} for block {number}", block=number)
        try:
            claimed = int(str(block.get("number")), 16)
            block_hash = bytes.fromhex(str(block.get("hash"))[2:])
            raw = header_rlp_from_json(block)
        except (DecodeError, TypeError, ValueError) as exc:
            raise InvalidHeader(
                f"{self.url} returned an unusable header for block {number}: {exc}", block=number
            ) from None
        if len(block_hash) != 32:
            raise InvalidHeader(f"{self.url}: block {number} has a malformed hash", block=number)
        return RawHeader(claimed, block_hash, raw)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._ws_reader is not None:
            await asyncio.gather(self._ws_reader, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
