"""The light-serving endpoint: light clients connect over WebSocket, prove their node ID,
get capacity from the client pool, and request headers and CHT/BloomTrie proofs, each
request charged to their flow-control buffer and their balance.

The admin ``les_*`` methods are never served here (they live on the admin endpoint).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import random
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from eth_keys.datatypes import PublicKey, Signature
from eth_keys.exceptions import BadSignature

from lightclient.core import jsontext
from lightclient.core.hexutil import decode_hex
from lightclient.core.keccak import keccak
from lightclient.core.nodeid import node_id_from_pubkey
from lightclient.core.trie import prove
from lightclient.errors import LightClientError
from lightclient.pool.balance import NodeBalance
from lightclient.pool.clock import Clock
from lightclient.server.protocol import (
    AUX_HEADER,
    BUF_LIMIT_RATIO,
    COSTS,
    ERR_BUFFER,
    ERR_INACTIVE,
    ERR_INVALID,
    ERR_UNAVAILABLE,
    ERROR_DECAY,
    FREEZE_BASE,
    FREEZE_CHECK,
    FREEZE_RANDOM,
    HT_BLOOMBITS,
    HT_CANONICAL,
    MAX_REQUEST_ERRORS,
    PROTOCOL,
    RESUME_FRACTION,
    auth_digest,
)
from lightclient.server.service import PoolService
from lightclient.sources.base import HeaderSource, checked_headers
from lightclient.store.sqlite import Store

__all__ = ["FlowControl", "LightServer", "RequestError"]

log = logging.getLogger(__name__)


class RequestError(LightClientError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class FlowControl:
    """A client's buffer: ``capacity`` cost units per ms of recharge, ``capacity * 6000`` deep."""

    def __init__(self, clock: Clock, capacity: int) -> None:
        self.clock = clock
        self.capacity = 0
        self.buf_limit = 0
        self.buf_value = 0
        self.last = clock.now()
        self.update(capacity)

    def _recharge(self) -> None:
        now = self.clock.now()
        if now > self.last:
            self.buf_value = min(
                self.buf_limit, self.buf_value + self.capacity * (now - self.last) // 1_000_000
            )
        self.last = now

    def update(self, capacity: int) -> None:
        self._recharge()
        limit = capacity * BUF_LIMIT_RATIO
        if limit > self.buf_limit:
            self.buf_value += limit - self.buf_limit
        self.buf_value = min(self.buf_value, limit)
        self.capacity, self.buf_limit = capacity, limit

    def accept(self, cost: int) -> bool:
        self._recharge()
        if cost > self.buf_value:
            return False
        self.buf_value -= cost
        return True

    def value(self) -> int:
        self._recharge()
        return self.buf_value


@dataclass(eq=False)
class _Peer:
    """A connected light client, as the pool sees it (the ClientPeer protocol)."""

    server: LightServer
    ws: web.WebSocketResponse
    node_id: bytes
    free_id: str
    flow: FlowControl
    balance: NodeBalance | None = None
    capacity: int = 0
    errors: int = 0  # invalid requests, less one per hour (geth's maxRequestErrors)
    errors_at: int = 0  # clock time of the last decay step
    closed: bool = False
    frozen: bool = False
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def inactive_allowance(self) -> int:
        return self.server.inactive_allowance

    def _send(self, message: dict[str, Any]) -> None:
        if self.closed or self.ws.closed:
            return
        task = asyncio.ensure_future(self.ws.send_str(json.dumps(message)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def update_capacity(self, capacity: int, requested: bool) -> None:
        self.capacity = capacity
        self.flow.update(capacity)
        self._send({"type": "capacity", "capacity": capacity, "bufLimit": self.flow.buf_limit,
                    "minRecharge": capacity})  # fmt: skip

    def count_error(self, now: int) -> None:
        hours = (now - self.errors_at) // ERROR_DECAY
        if hours > 0:
            self.errors = max(0, self.errors - hours)
            self.errors_at += hours * ERROR_DECAY
        if self.errors == 0:
            self.errors_at = now
        self.errors += 1

    def freeze(self) -> None:
        """Stop serving until the buffer has recharged (geth's clientPeer.freeze)."""
        if self.frozen:
            return
        self.frozen = True
        self._send({"type": "stop"})
        clock = self.server.clock
        delay = FREEZE_BASE + random.randrange(FREEZE_RANDOM)

        def check() -> None:
            if self.closed:
                return
            value, limit = self.flow.value(), self.flow.buf_limit
            if limit and value <= limit // RESUME_FRACTION:
                clock.after(FREEZE_CHECK, check)
                return
            self.frozen = False
            self._send({"type": "resume", "bv": value})

        clock.after(delay, check)

    def disconnect(self) -> None:
        if not self.closed:
            self.closed = True
            task = asyncio.ensure_future(self.ws.close(message=b"disconnected by the pool"))
            self.tasks.add(task)


class LightServer:
    """Serves headers and proofs from a node's chain and the syncer's store."""

    def __init__(
        self,
        source: HeaderSource,
        store: Store,
        service: PoolService,
        clock: Clock,
        *,
        section_size: int,
        genesis_hash: bytes,
        inactive_allowance: int = 0,
    ) -> None:
        self.source = source
        self.store = store
        self.service = service
        self.clock = clock
        self.section_size = section_size
        self.genesis_hash = genesis_hash
        self.inactive_allowance = inactive_allowance
        self.peers: dict[bytes, _Peer] = {}
        self.served = 0

    # -- requests ------------------------------------------------------------------------

    async def _header_rlp(self, number: int) -> bytes:
        raw = await self.source.headers(number, 1)
        return checked_headers(raw, number, None)[0].rlp

    async def _get_headers(self, params: dict[str, Any]) -> list[str]:
        origin = params.get("origin")
        amount, skip, reverse = (
            params.get("amount", 1),
            params.get("skip", 0),
            params.get("reverse", False),
        )
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (amount, skip)) or (
            not isinstance(reverse, bool)
        ):
            raise RequestError(ERR_INVALID, "amount and skip are integers, reverse a boolean")
        if isinstance(origin, str):
            block_hash = decode_hex(origin, 32)
            number_of = getattr(self.source, "number_of", None)
            if block_hash is None or number_of is None:
                raise RequestError(ERR_INVALID, "origin is a block number or a 32-byte hash")
            found = await number_of(block_hash)
            if found is None:
                return []
            start = int(found)
        elif isinstance(origin, int) and not isinstance(origin, bool) and origin >= 0:
            start = origin
        else:
            raise RequestError(ERR_INVALID, "origin is a block number or a 32-byte hash")
        if skip < 0:
            raise RequestError(ERR_INVALID, "skip must not be negative")
        head = await self.source.head()
        numbers = []
        n = start
        for _ in range(amount):
            if n < 0 or n > head:
                break
            numbers.append(n)
            n = n - skip - 1 if reverse else n + skip + 1
        return ["0x" + (await self._header_rlp(x)).hex() for x in numbers]

    async def _helper_proofs(self, params: dict[str, Any]) -> dict[str, list[str]]:
        kind, index, keys = params.get("type"), params.get("trieIdx"), params.get("keys")
        aux = params.get("auxReq", 0)
        if (
            kind not in (HT_CANONICAL, HT_BLOOMBITS)
            or not isinstance(index, int)
            or not (isinstance(keys, list) and keys)
        ):
            raise RequestError(ERR_INVALID, "type is 0 or 1, trieIdx an integer, keys a list")
        checkpoint = self.store.checkpoint(index) if index >= 0 else None
        if checkpoint is None:
            raise RequestError(ERR_UNAVAILABLE, f"section {index} is not indexed here")
        root = checkpoint.cht_root if kind == HT_CANONICAL else checkpoint.bloom_root
        nodes: dict[bytes, None] = {}
        aux_data: list[str] = []
        for text in keys:
            key = decode_hex(text)
            if key is None or len(key) != (8 if kind == HT_CANONICAL else 10):
                raise RequestError(ERR_INVALID, f"bad key {text!r}")
            for node in prove(self.store.nodes, root, key):
                nodes[node] = None
            if kind == HT_CANONICAL and aux == AUX_HEADER:
                number = int.from_bytes(key, "big")
                aux_data.append("0x" + (await self._header_rlp(number)).hex())
        return {"proofs": ["0x" + n.hex() for n in nodes], "auxData": aux_data}

    async def _head(self) -> dict[str, Any]:
        number = await self.source.head()
        rlp = await self._header_rlp(number)
        return {"number": number, "hash": "0x" + keccak(rlp).hex()}

    async def _checkpoint(self) -> dict[str, Any] | None:
        latest = self.store.latest_checkpoint()
        return None if latest is None else latest.to_json_with_hash()

    @staticmethod
    def _count(method: str, params: dict[str, Any]) -> int:
        if method == "getHeaders":
            amount = params.get("amount", 1)
            return amount if isinstance(amount, int) and not isinstance(amount, bool) else 0
        if method == "getHelperTrieProofs":
            keys = params.get("keys")
            return len(keys) if isinstance(keys, list) else 0
        return 1

    async def _serve(self, peer: _Peer, message: Any) -> dict[str, Any]:
        rid = message.get("id") if isinstance(message, dict) else None
        try:
            if not isinstance(message, dict) or not isinstance(message.get("method"), str):
                raise RequestError(ERR_INVALID, "a request is {id, method, params}")
            method = message["method"]
            params = message.get("params") or {}
            cost = COSTS.get(method)
            if cost is None:
                raise RequestError(ERR_INVALID, f"unknown method {method}")
            if not isinstance(params, dict):
                raise RequestError(ERR_INVALID, "params must be an object")
            count = self._count(method, params)
            if not 0 < count <= cost.max_count:
                raise RequestError(
                    ERR_INVALID, f"{method}: 1 to {cost.max_count} items per request"
                )
            if peer.capacity == 0:
                raise RequestError(ERR_INACTIVE, "no capacity: waiting for a slot in the pool")
            if peer.frozen:
                raise RequestError(ERR_BUFFER, "frozen: wait for the resume message")
            max_cost = cost.max_cost(count)
            if not peer.flow.accept(max_cost):
                peer.freeze()
                raise RequestError(ERR_BUFFER, "request came too early: buffer exceeded")
            handler = {
                "getHeaders": self._get_headers,
                "getHelperTrieProofs": self._helper_proofs,
            }.get(method)
            result: Any
            if handler is not None:
                result = await handler(params)
            elif method == "getHead":
                result = await self._head()
            else:
                result = await self._checkpoint()
            if peer.balance is not None:
                peer.balance.request_served(max_cost)
            self.served += 1
            return {"id": rid, "result": result, "bv": peer.flow.value()}
        except RequestError as exc:
            if exc.code == ERR_INVALID:
                peer.count_error(self.clock.now())
            return {"id": rid, "error": {"code": exc.code, "message": str(exc)},
                    "bv": peer.flow.value()}  # fmt: skip
        except LightClientError as exc:
            return {"id": rid, "error": {"code": ERR_UNAVAILABLE, "message": str(exc)},
                    "bv": peer.flow.value()}  # fmt: skip

    # -- connections ------------------------------------------------------------------------

    def _free_id(self, request: web.Request, node_id: bytes) -> str:
        host = request.remote or ""
        try:
            if ipaddress.ip_address(host).is_loopback:
                return node_id.hex()
        except ValueError:
            return node_id.hex()
        return host

    async def _challenge(self, ws: web.WebSocketResponse) -> bytes:
        nonce = os.urandom(32)
        head = await self._head()
        await ws.send_str(json.dumps({
            "type": "challenge", "protocol": PROTOCOL, "nonce": "0x" + nonce.hex(),
            "genesis": "0x" + self.genesis_hash.hex(), "sectionSize": self.section_size,
            "head": head, "checkpoint": await self._checkpoint(),
        }))  # fmt: skip
        return nonce

    @staticmethod
    def _authenticate(nonce: bytes, hello: Any) -> bytes:
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            raise RequestError(ERR_INVALID, "expected a hello message")
        pubkey = decode_hex(hello.get("pubkey"), 64)
        signature = decode_hex(hello.get("signature"), 65)
        if pubkey is None or signature is None or signature[64] not in (27, 28):
            raise RequestError(ERR_INVALID, "hello needs a 64-byte pubkey and a 65-byte signature")
        try:
            sig = Signature(vrs=(signature[64] - 27, int.from_bytes(signature[:32], "big"),
                                 int.from_bytes(signature[32:64], "big")))  # fmt: skip
            recovered = sig.recover_public_key_from_msg_hash(auth_digest(nonce))
        except (BadSignature, ValueError) as exc:
            raise RequestError(ERR_INVALID, f"bad signature: {exc}") from None
        if recovered != PublicKey(pubkey):
            raise RequestError(ERR_INVALID, "the signature is not by that key")
        return node_id_from_pubkey(pubkey)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 20, heartbeat=30)
        await ws.prepare(request)
        nonce = await self._challenge(ws)
        try:
            first = await ws.receive(timeout=10)
            node_id = self._authenticate(nonce, jsontext.loads(first.data)
                                         if first.type == WSMsgType.TEXT else None)  # fmt: skip
        except (RequestError, TimeoutError, ValueError, RecursionError) as exc:
            await ws.send_str(json.dumps({"type": "refused", "reason": str(exc) or "timeout"}))
            await ws.close()
            return ws
        if node_id in self.peers:
            await ws.send_str(json.dumps({"type": "refused", "reason": "already connected"}))
            await ws.close()
            return ws
        peer = _Peer(self, ws, node_id, self._free_id(request, node_id), FlowControl(self.clock, 0))
        self.peers[node_id] = peer
        try:
            peer.balance = self.service.pool.register(peer)
            await ws.send_str(json.dumps({
                "type": "welcome", "nodeId": node_id.hex(), "capacity": peer.capacity,
                "bufLimit": peer.flow.buf_limit, "minRecharge": peer.capacity,
                "costs": {m: [c.base, c.per_item, c.max_count] for m, c in COSTS.items()},
            }))  # fmt: skip
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    request_body = jsontext.loads(message.data)
                except (ValueError, RecursionError):  # not JSON, or nested beyond reason
                    request_body = None
                answer = await self._serve(peer, request_body)
                await ws.send_str(json.dumps(answer))
                if peer.errors > MAX_REQUEST_ERRORS:
                    await ws.close(message=b"too many invalid requests made")
                    break
        finally:
            peer.closed = True
            self.peers.pop(node_id, None)
            self.service.pool.unregister(peer)
        return ws

    async def announce_head(self) -> None:
        head = await self._head()
        for peer in list(self.peers.values()):
            if peer.capacity:
                peer._send({"type": "announce", "head": head})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.handle)
        return app
