"""Headers from any Ethereum JSON-RPC endpoint, over HTTP(S) or WebSocket.

Requests go out as JSON-RPC batches of ``eth_getBlockByNumber(n, false)``, at most
``concurrency`` of them in flight, and are put back in block order. Each header's RLP is
rebuilt from the JSON fields; the hash and number the node claims are kept beside it as
they are, and :func:`~lightclient.sources.base.checked_headers` compares them.

Transient failures (connection errors, timeouts, HTTP 408/425/429/5xx, JSON-RPC errors
such as rate limits) are retried with exponential backoff and a little jitter; when the
retries run out the source raises :class:`~lightclient.errors.SourceUnavailable`. Answers
that are not JSON-RPC at all fail at once, with the URL in the message. Nodes that refuse
batches are asked one request at a time; nodes that find a batch too large get halves.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp

from lightclient.core import jsontext
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

T = TypeVar("T")

_SCHEMES = ("http", "https", "ws", "wss")
# HTTP statuses worth another try: timeouts, rate limits, overloaded or restarting nodes.
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# JSON-RPC error codes worth another try: limit exceeded (EIP-1474), internal error,
# and the HTTP-like 429 some providers use for rate limits.
_RETRY_CODES = frozenset({-32005, -32603, 429})
_RETRY_WORDS = (
    "rate limit",
    "too many requests",
    "timeout",
    "timed out",
    "try again",
    "busy",
    "temporarily",
)
# Words in a batch refusal saying the batch is too big (rather than batches unsupported).
_TOO_LARGE_WORDS = ("too large", "too big", "too many", "limit", "exceed")
_MAX_DELAY = 10.0


class RpcError(HeaderSourceError):
    """The node answered a request with a JSON-RPC error object that is not transient."""

    def __init__(
        self, url: str, method: str, code: int, message: str, *, block: int | None = None
    ) -> None:
        super().__init__(
            f"{url}: {method} failed with JSON-RPC error {code}: {message}", block=block
        )
        self.code = code
        self.rpc_message = message


class _Transient(Exception):
    """A failure worth retrying; ``retry_after`` is the node's own hint, in seconds."""

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _TooLarge(Exception):
    """The node refused a request because of its size (HTTP 413)."""


class JsonRpcHeaderSource:
    """A :class:`~lightclient.sources.base.HeaderSource` over an Ethereum JSON-RPC endpoint.

    ``retries`` is the number of further tries after the first one fails transiently;
    ``backoff`` the first delay in seconds (doubled each time, capped at 10 s);
    ``timeout`` the limit in seconds for one request or batch.
    """

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
        if not isinstance(url, str):
            raise InvalidInput(f"the JSON-RPC URL must be a string, not {type(url).__name__}")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES or not parts.netloc or not parts.hostname:
            raise InvalidInput(f"not an http(s):// or ws(s):// URL: {url!r}")
        if batch_size < 1 or concurrency < 1:
            raise InvalidInput("batch_size and concurrency must be at least 1")
        if retries < 0 or backoff < 0 or timeout <= 0:
            raise InvalidInput("retries and backoff must be >= 0 and timeout > 0")
        self.url = url
        self.is_ws = scheme in ("ws", "wss")
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self._limit = asyncio.Semaphore(concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_lock = asyncio.Lock()
        self._ws_reader: asyncio.Task[None] | None = None
        # Request id -> (the future its answer goes to, whether it was sent in a batch).
        self._ws_pending: dict[int, tuple[asyncio.Future[Any], bool]] = {}
        self._ids = itertools.count(1)
        self._batches = True

    @property
    def description(self) -> str:
        """The endpoint URL."""
        return self.url

    async def __aenter__(self) -> JsonRpcHeaderSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transport: one try, raising _Transient for what is worth retrying ----------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def _post(self, payload: Any) -> Any:
        try:
            async with self._http().post(self.url, json=payload) as response:
                body = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After", "")
        except (aiohttp.ClientSSLError, aiohttp.InvalidURL) as exc:
            raise SourceUnavailable(f"cannot reach {self.url}: {_describe(exc)}") from None
        except TimeoutError:
            raise _Transient(f"no answer within {self.timeout:g} s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _Transient(_describe(exc)) from None
        if status in _RETRY_STATUS:
            raise _Transient(f"HTTP {status}", _seconds(retry_after))
        if status == 413:
            raise _TooLarge(f"HTTP {status}")
        try:
            return jsontext.loads(body)
        except ValueError:
            if status >= 400:
                raise SourceUnavailable(
                    f"{self.url} answered HTTP {status}: {_snippet(body)}"
                ) from None
            raise SourceUnavailable(
                f"{self.url} did not answer with JSON: {_snippet(body)}"
            ) from None

    async def _ws_connection(self) -> aiohttp.ClientWebSocketResponse:
        async with self._ws_lock:
            if self._ws is None or self._ws.closed:
                if self._ws_reader is not None:
                    await asyncio.gather(self._ws_reader, return_exceptions=True)
                try:
                    self._ws = await self._http().ws_connect(self.url, max_msg_size=0)
                except (aiohttp.ClientSSLError, aiohttp.InvalidURL) as exc:
                    raise SourceUnavailable(f"cannot reach {self.url}: {_describe(exc)}") from None
                except aiohttp.WSServerHandshakeError as exc:
                    if exc.status in _RETRY_STATUS:
                        raise _Transient(f"WebSocket handshake: HTTP {exc.status}") from None
                    raise SourceUnavailable(
                        f"cannot reach {self.url}: WebSocket handshake failed: {_describe(exc)}"
                    ) from None
                except TimeoutError:
                    raise _Transient(f"no WebSocket connection within {self.timeout:g} s") from None
                except (aiohttp.ClientError, OSError) as exc:
                    raise _Transient(_describe(exc)) from None
                self._ws_reader = asyncio.create_task(self._read_ws(self._ws))
            return self._ws

    async def _read_ws(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Hand every answer on the connection to the request that waits for it."""
        error: Exception = _Transient("the WebSocket connection closed")
        try:
            async for message in ws:
                if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    continue
                try:
                    data = jsontext.loads(message.data)
                except ValueError:
                    error = SourceUnavailable(
                        f"{self.url} sent a WebSocket message that is not JSON: "
                        f"{_snippet(message.data)}"
                    )
                    break
                self._dispatch(data)
        except TimeoutError:
            error = _Transient("the WebSocket connection timed out")
        except (aiohttp.ClientError, OSError) as exc:
            error = _Transient(_describe(exc))
        finally:
            if not ws.closed:
                await ws.close()
            for future, _ in list(self._ws_pending.values()):
                if not future.done():
                    future.set_exception(error)
            self._ws_pending.clear()

    def _dispatch(self, data: Any) -> None:
        items = data if isinstance(data, list) else [data]
        matched: list[asyncio.Future[Any]] = []
        orphan_error = False
        for item in items:
            if not isinstance(item, dict) or "method" in item:
                continue  # subscription notifications and the like
            rid = item.get("id")
            entry = self._ws_pending.get(rid) if isinstance(rid, int) else None
            if entry is not None:
                matched.append(entry[0])
            elif rid is None and item.get("error") is not None:
                orphan_error = True
        if not matched and orphan_error:
            # An error without an id (e.g. "batches not supported") answers a batch we
            # cannot name: the oldest one in flight takes it and falls back to single
            # requests. Single requests never take such errors (they time out instead).
            oldest = next((f for f, is_batch in self._ws_pending.values() if is_batch), None)
            matched = [oldest] if oldest is not None else []
        for future in matched:
            if not future.done():
                future.set_result(data)

    async def _send_ws(self, payload: Any) -> Any:
        ws = await self._ws_connection()
        is_batch = isinstance(payload, list)
        ids = [item["id"] for item in payload] if is_batch else [payload["id"]]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        for rid in ids:
            self._ws_pending[rid] = (future, is_batch)
        try:
            await ws.send_str(json.dumps(payload))
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise _Transient(f"no answer within {self.timeout:g} s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _Transient(_describe(exc)) from None
        finally:
            for rid in ids:
                self._ws_pending.pop(rid, None)

    async def _once(self, payload: Any) -> Any:
        """Send one request or batch and return the parsed answer (no retries)."""
        async with self._limit:
            if self.is_ws:
                return await self._send_ws(payload)
            return await self._post(payload)

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` until it does not fail transiently, ``retries`` more times at most."""
        delay = self.backoff
        for tried in range(1, self.retries + 2):
            try:
                return await attempt()
            except _Transient as exc:
                if tried > self.retries:
                    tries = f"{tried} tries" if tried > 1 else "1 try"
                    raise SourceUnavailable(
                        f"cannot reach {self.url}: {exc} (after {tries})"
                    ) from None
                jitter = 1 + random.random() / 4
                await asyncio.sleep(max(exc.retry_after, min(delay, _MAX_DELAY) * jitter))
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    # -- JSON-RPC ---------------------------------------------------------------------------

    def _request(self, method: str, params: Sequence[Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}

    def _result(self, method: str, rid: int, response: Any, block: int | None = None) -> Any:
        """The result in one JSON-RPC response; raises for errors and malformed answers."""
        if not isinstance(response, dict):
            raise SourceUnavailable(
                f"{self.url}: the answer to {method} is a JSON {_kind(response)}, "
                "not a JSON-RPC response object",
                block=block,
            )
        error = response.get("error")
        if error is not None:
            if response.get("id") not in (rid, None):
                raise SourceUnavailable(
                    f"{self.url}: {method} request {rid} got the error answer of request "
                    f"{response.get('id')!r}",
                    block=block,
                )
            code, message = _error_parts(error)
            if _is_transient(code, message):
                raise _Transient(f"{method} failed with JSON-RPC error {code}: {message}")
            raise RpcError(self.url, method, code, message, block=block)
        if "id" not in response:
            raise SourceUnavailable(f"{self.url}: the answer to {method} has no id", block=block)
        if response["id"] != rid:
            raise SourceUnavailable(
                f"{self.url}: {method} request {rid} got an answer with id {response['id']!r}",
                block=block,
            )
        if "result" not in response:
            raise SourceUnavailable(
                f"{self.url}: the answer to {method} has neither a result nor an error",
                block=block,
            )
        return response["result"]

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One JSON-RPC request, with retries. Returns its result.

        Raises :class:`RpcError` for a JSON-RPC error answer, and
        :class:`~lightclient.errors.SourceUnavailable` when the node cannot be reached
        (after the retries) or does not answer JSON-RPC.
        """
        return await self._call(method, params)

    async def call_many(self, method: str, params_list: Sequence[Sequence[Any]]) -> list[Any]:
        """The same method for many parameter lists, as JSON-RPC batches of at most
        ``batch_size`` when the node takes batches (one at a time otherwise), with retries.
        Returns the results in order; raises as :meth:`call` does."""
        size = self.batch_size
        chunks = [params_list[i : i + size] for i in range(0, len(params_list), size)]
        answers = await _gather(self._call_many(method, chunk) for chunk in chunks)
        return list(itertools.chain.from_iterable(answers))

    async def _call(self, method: str, params: Sequence[Any], block: int | None = None) -> Any:
        async def attempt() -> Any:
            request = self._request(method, params)
            try:
                response = await self._once(request)
            except _TooLarge as exc:
                raise SourceUnavailable(
                    f"{self.url} refused {method}: {exc}", block=block
                ) from None
            return self._result(method, request["id"], response, block)

        return await self._retrying(attempt)

    async def _each(
        self, method: str, params_list: Sequence[Sequence[Any]], blocks: Sequence[int | None]
    ) -> list[Any]:
        return await _gather(
            self._call(method, p, b) for p, b in zip(params_list, blocks, strict=True)
        )

    async def _call_many(
        self,
        method: str,
        params_list: Sequence[Sequence[Any]],
        blocks: Sequence[int | None] | None = None,
    ) -> list[Any]:
        """The same method for many parameter lists, as one batch when the node allows it."""
        labels: Sequence[int | None] = blocks if blocks is not None else [None] * len(params_list)
        if not params_list:
            return []
        if len(params_list) == 1 or not self._batches:
            return await self._each(method, params_list, labels)
        requests = [self._request(method, p) for p in params_list]

        async def attempt() -> Any:
            response = await self._once(requests)
            if isinstance(response, dict) and response.get("error") is not None:
                code, message = _error_parts(response["error"])
                if _is_transient(code, message):
                    raise _Transient(f"a batch failed with JSON-RPC error {code}: {message}")
            return response

        try:
            response = await self._retrying(attempt)
        except _TooLarge:
            return await self._halves(method, params_list, labels)
        refusal = _batch_refusal(response, {r["id"] for r in requests})
        if refusal is not None:
            if any(word in refusal.lower() for word in _TOO_LARGE_WORDS):
                return await self._halves(method, params_list, labels)
            self._batches = False  # e.g. {"id": null, "error": "batches are not supported"}
            return await self._each(method, params_list, labels)
        by_id = {item["id"]: item for item in response if isinstance(item, dict) and "id" in item}
        results: list[Any] = []
        again: list[int] = []
        for index, request in enumerate(requests):
            item = by_id.get(request["id"])
            if item is None:
                raise SourceUnavailable(
                    f"{self.url}: the batch answer has no response with id {request['id']} "
                    f"({method} {json.dumps(request['params'])})",
                    block=labels[index],
                )
            try:
                results.append(self._result(method, request["id"], item, labels[index]))
            except _Transient:
                results.append(None)
                again.append(index)
        if again:
            redone = await self._each(
                method, [params_list[i] for i in again], [labels[i] for i in again]
            )
            for index, result in zip(again, redone, strict=True):
                results[index] = result
        return results

    async def _halves(
        self, method: str, params_list: Sequence[Sequence[Any]], blocks: Sequence[int | None]
    ) -> list[Any]:
        """A batch the node found too large, as two smaller batches (and smaller from now)."""
        half = len(params_list) // 2
        self.batch_size = max(1, min(self.batch_size, half))
        first, second = await _gather(
            [
                self._call_many(method, params_list[:half], blocks[:half]),
                self._call_many(method, params_list[half:], blocks[half:]),
            ]
        )
        return first + second

    # -- HeaderSource -----------------------------------------------------------------------

    async def head(self) -> int:
        """The node's newest block number (``eth_blockNumber``)."""
        result = await self.call("eth_blockNumber", [])
        number = _quantity(result)
        if number is None:
            raise SourceUnavailable(
                f"{self.url}: eth_blockNumber returned {result!r}, not a hex quantity"
            )
        return number

    async def headers(self, start: int, count: int) -> list[RawHeader]:
        """Headers ``start .. start+count-1`` in order, as the node claims them."""
        if start < 0 or count < 0:
            raise InvalidInput(f"bad header range: start {start}, count {count}")
        numbers = range(start, start + count)
        size = self.batch_size
        chunks = [numbers[i : i + size] for i in range(0, count, size)]
        answers = await _gather(
            self._call_many("eth_getBlockByNumber", [[hex(n), False] for n in chunk], chunk)
            for chunk in chunks
        )
        blocks = itertools.chain.from_iterable(answers)
        return [self._raw_header(n, block) for n, block in zip(numbers, blocks, strict=True)]

    async def number_of(self, block_hash: bytes) -> int | None:
        """The number of the block with that hash, if the node knows it."""
        block = await self.call("eth_getBlockByHash", ["0x" + block_hash.hex(), False])
        if not isinstance(block, dict):
            return None
        return _quantity(block.get("number"))

    def _raw_header(self, number: int, block: Any) -> RawHeader:
        if block is None:
            raise ChainGap(f"{self.url} has no block {number}", block=number)
        if not isinstance(block, dict):
            raise InvalidHeader(
                f"{self.url} returned a JSON {_kind(block)} for block {number}, not a block",
                block=number,
            )
        try:
            claimed = _quantity(block.get("number"))
            if claimed is None:
                raise DecodeError(f"its number is {block.get('number')!r}, not a hex quantity")
            block_hash = _hash32(block.get("hash"))
            raw = header_rlp_from_json(block)
        except DecodeError as exc:
            raise InvalidHeader(
                f"{self.url} returned an unusable header for block {number}: {exc}", block=number
            ) from None
        return RawHeader(claimed, block_hash, raw)

    async def close(self) -> None:
        """Close the WebSocket and the HTTP session (the source reconnects if used again)."""
        ws, self._ws = self._ws, None
        if ws is not None and not ws.closed:
            await ws.close()
        reader, self._ws_reader = self._ws_reader, None
        if reader is not None:
            await asyncio.gather(reader, return_exceptions=True)
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


async def _gather(aws: Iterable[Awaitable[T]]) -> list[T]:
    """``asyncio.gather`` that cancels (and waits for) the others when one fails."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _batch_refusal(response: Any, ids: set[int]) -> str | None:
    """Why the answer to a batch is a refusal of the whole batch, or None if it is not."""
    if isinstance(response, dict):
        error = response.get("error")
        if error is not None:
            return "JSON-RPC error {}: {}".format(*_error_parts(error))
        return "the answer to a batch is not a list"
    if not isinstance(response, list):
        return "the answer to a batch is not a list"
    if not response:
        return "empty answer to a batch"
    answered = {item.get("id") for item in response if isinstance(item, dict)}
    if answered & ids == ids:
        return None
    # Some ids have no answer. geth answers a batch over its limit with one error (code
    # -32600, "batch too large") carrying the first request's id; others use a null id.
    errors = [
        item["error"]
        for item in response
        if isinstance(item, dict) and item.get("error") is not None
    ]
    refusals = [e for e in errors if _error_parts(e)[0] in (-32600, -32003) or not answered & ids]
    if refusals:
        return "JSON-RPC error {}: {}".format(*_error_parts(refusals[0]))
    return None  # a genuinely incomplete answer: reported per missing id


def _error_parts(error: Any) -> tuple[int, str]:
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message")
        return (
            code if isinstance(code, int) and not isinstance(code, bool) else 0,
            message if isinstance(message, str) else json.dumps(error)[:200],
        )
    return 0, str(error)[:200]


def _is_transient(code: int, message: str) -> bool:
    lowered = message.lower()
    return code in _RETRY_CODES or any(word in lowered for word in _RETRY_WORDS)


def _quantity(value: Any) -> int | None:
    """A JSON-RPC hex quantity ("0x1a") as an int, or None."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")) or len(value) < 3:
        return None
    try:
        return int(value[2:], 16)
    except ValueError:
        return None


def _hash32(value: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise DecodeError(f"its hash is {value!r}, not 0x-prefixed hex")
    try:
        data = bytes.fromhex(value[2:])
    except ValueError:
        raise DecodeError(f"its hash {value!r} is not hex") from None
    if len(data) != 32:
        raise DecodeError(f"its hash {value!r} has {len(data)} bytes, not 32")
    return data


def _seconds(value: str) -> float:
    """A Retry-After header in seconds (0 when absent or an HTTP date); at most 30."""
    try:
        return min(max(float(value), 0.0), 30.0)
    except ValueError:
        return 0.0


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "null" if value is None else "number"
    )


def _snippet(body: bytes | str) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
