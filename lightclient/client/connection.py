"""One light client's connection to one light server (see lightclient.server.protocol)."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import aiohttp
from eth_keys.datatypes import PrivateKey

from lightclient.core import jsontext
from lightclient.core.hexutil import decode_hex
from lightclient.core.nodeid import node_id_from_pubkey
from lightclient.core.sections import cht_key
from lightclient.errors import LightClientError, SourceUnavailable
from lightclient.server.protocol import (
    AUX_HEADER,
    ERR_BUFFER,
    HT_BLOOMBITS,
    HT_CANONICAL,
    PROTOCOL,
    auth_digest,
)

__all__ = ["ServerConnection", "ServerError", "ServerRefused"]


class ServerError(LightClientError):
    """The server answered a request with an error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class ServerRefused(SourceUnavailable):
    """The server did not admit us (bad handshake, pool full, already connected...)."""


class ServerConnection:
    def __init__(self, url: str, node_key: PrivateKey, *, timeout: float = 15.0) -> None:
        self.url = url
        self.node_key = node_key
        self.node_id = node_id_from_pubkey(node_key.public_key.to_bytes())
        self.timeout = timeout
        self.challenge: dict[str, Any] = {}
        self.capacity = 0
        self.buffer = 0
        self.head: dict[str, Any] | None = None
        # Sections the server has advertised (its challenge, or a later getCheckpoint):
        # asking for another counts as an invalid request against our node ID.
        self.sections = 0
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.capacity_changed = asyncio.Event()
        # Clear while the server has frozen us (a "stop", or a request refused for the
        # buffer), set again by its "resume". Changed only by the reader, in message order.
        self.resumed = asyncio.Event()
        self.resumed.set()

    async def connect(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        try:
            self._ws = await self._session.ws_connect(self.url, max_msg_size=1 << 24)
            self.challenge = await self._receive_json()
            if self.challenge.get("type") == "refused":  # over a connection bound
                raise ServerRefused(f"{self.url} refused us: {self.challenge.get('reason')}")
            if (
                self.challenge.get("type") != "challenge"
                or self.challenge.get("protocol") != PROTOCOL
            ):
                raise ServerRefused(f"{self.url} does not speak {PROTOCOL}")
            nonce = bytes.fromhex(str(self.challenge["nonce"])[2:])
            signature = self.node_key.sign_msg_hash(auth_digest(nonce))
            sig = (signature.r.to_bytes(32, "big") + signature.s.to_bytes(32, "big")
                   + bytes((signature.v + 27,)))  # fmt: skip
            await self._ws.send_str(json.dumps({
                "type": "hello", "pubkey": "0x" + self.node_key.public_key.to_bytes().hex(),
                "signature": "0x" + sig.hex(),
            }))  # fmt: skip
            welcome = await self._receive_json()
        except ServerRefused:
            await self.close()
            raise
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await self.close()
            raise SourceUnavailable(f"cannot reach {self.url}: {exc}") from None
        except (KeyError, ValueError) as exc:
            await self.close()
            raise ServerRefused(f"{self.url}: malformed handshake ({exc})") from None
        if welcome.get("type") != "welcome":
            await self.close()
            raise ServerRefused(f"{self.url} refused us: {welcome.get('reason', welcome)}")
        self.capacity = int(welcome.get("capacity", 0))
        self.buffer = int(welcome.get("bufLimit", 0))
        self.head = self.challenge.get("head")
        self._note_checkpoint(self.challenge.get("checkpoint"))
        self._reader = asyncio.ensure_future(self._read())

    def _note_checkpoint(self, checkpoint: Any) -> None:
        index = checkpoint.get("sectionIndex") if isinstance(checkpoint, dict) else None
        if isinstance(index, int) and not isinstance(index, bool) and index >= 0:
            self.sections = max(self.sections, index + 1)

    async def refresh_sections(self) -> int:
        """Ask the server for its latest checkpoint; returns the sections it now has."""
        self._note_checkpoint(await self.request("getCheckpoint", {}))
        return self.sections

    async def _receive_json(self) -> dict[str, Any]:
        assert self._ws is not None
        message = await self._ws.receive(timeout=self.timeout)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise ServerRefused(
                f"{self.url} closed the connection: {message.extra or message.type}"
            )
        data = jsontext.loads(message.data)
        if not isinstance(data, dict):
            raise ValueError("a message must be a JSON object")
        return data

    async def _read(self) -> None:
        assert self._ws is not None
        reason: Exception = SourceUnavailable(f"{self.url} closed the connection")
        try:
            async for message in self._ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    data = jsontext.loads(message.data)
                except ValueError:
                    continue
                if not isinstance(data, dict):
                    continue
                kind = data.get("type")
                if kind == "capacity":
                    self.capacity = int(data.get("capacity", 0))
                    self.capacity_changed.set()
                elif kind == "announce":
                    self.head = data.get("head")
                elif kind == "stop":
                    self.resumed.clear()
                elif kind == "resume":
                    self.buffer = int(data.get("bv", self.buffer))
                    self.resumed.set()
                elif "id" in data:
                    error = data.get("error")
                    if isinstance(error, dict) and error.get("code") == ERR_BUFFER:
                        self.resumed.clear()
                    future = self._waiting.pop(data["id"], None)
                    if future is not None and not future.done():
                        future.set_result(data)
        except (aiohttp.ClientError, OSError) as exc:
            reason = SourceUnavailable(f"{self.url}: {exc}")
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(reason)
        self._waiting.clear()

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    @property
    def frozen(self) -> bool:
        return not self.resumed.is_set()

    @property
    def usable(self) -> bool:
        """The server gave us capacity (a client it did not admit has 0)."""
        return self.capacity > 0

    # -- the typed requests LightClient makes (lightclient.client.transport.LightTransport) --

    async def head_number(self) -> int:
        return int((await self.request("getHead", {}))["number"])

    async def cht_proof(self, trie_idx: int, number: int) -> tuple[list[bytes], list[bytes]]:
        params = {"type": HT_CANONICAL, "trieIdx": trie_idx,
                  "keys": ["0x" + cht_key(number).hex()], "auxReq": AUX_HEADER}  # fmt: skip
        answer = await self.request("getHelperTrieProofs", params)
        return [_hex(n) for n in answer["proofs"]], [_hex(a) for a in answer["auxData"]]

    async def bloom_proof(self, trie_idx: int, key: bytes) -> list[bytes]:
        params = {"type": HT_BLOOMBITS, "trieIdx": trie_idx, "keys": ["0x" + key.hex()]}
        answer = await self.request("getHelperTrieProofs", params)
        return [_hex(n) for n in answer["proofs"]]

    async def header_range(self, first: int, amount: int) -> list[bytes]:
        answer = await self.request("getHeaders", {"origin": first, "amount": amount})
        if not isinstance(answer, list):
            raise TypeError("getHeaders answers a list")
        return [_hex(text) for text in answer]

    async def request(self, method: str, params: dict[str, Any], *, retries: int = 5) -> Any:
        """Send a request; while the server has us frozen (flow control), wait for its
        resume message and try again, up to ``retries`` times."""
        for _ in range(retries):
            if not self.connected:
                raise SourceUnavailable(f"{self.url} is not connected")
            try:
                await asyncio.wait_for(self.resumed.wait(), self.timeout)
            except TimeoutError:
                raise ServerError(ERR_BUFFER, f"{self.url} kept us frozen") from None
            rid = next(self._ids)
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._waiting[rid] = future
            assert self._ws is not None
            await self._ws.send_str(json.dumps({"id": rid, "method": method, "params": params}))
            answer = await asyncio.wait_for(future, self.timeout)
            self.buffer = int(answer.get("bv", self.buffer))
            error = answer.get("error")
            if error is None:
                return answer.get("result")
            if error.get("code") == ERR_BUFFER:
                continue
            raise ServerError(int(error.get("code", 0)), str(error.get("message")))
        raise ServerError(ERR_BUFFER, f"{self.url}: the buffer did not recharge in time")

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


def _hex(text: object) -> bytes:
    raw = decode_hex(text)
    if raw is None:
        raise ValueError(f"not hex: {text!r}")
    return raw
