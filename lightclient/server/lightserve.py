"""The light-serving endpoint: light clients connect over WebSocket, prove their node ID,
get capacity from the client pool, and request headers and CHT/BloomTrie proofs, each
request charged to their flow-control buffer and their balance.

The admin ``les_*`` methods are never served here (they live on the admin endpoint).

Abuse bounds: connections and pending handshakes are capped overall and per IP
(:class:`Limits`); a hello must come within ``HELLO_TIMEOUT`` and fit in ``MAX_HELLO_SIZE``;
signature recovery goes through libsecp256k1 (coincurve); invalid requests are counted per
node ID across connections (:class:`ErrorLedger`), so reconnecting does not start afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import random
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMessage, WSMsgType, web
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
from lightclient.server import protocol
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
    MAX_HELLO_SIZE,
    MAX_MESSAGE_SIZE,
    MAX_OFFENDERS,
    MAX_REQUEST_ERRORS,
    PROTOCOL,
    RESUME_FRACTION,
    auth_digest,
)
from lightclient.server.service import PoolService
from lightclient.sources.base import HeaderSource, checked_headers
from lightclient.store.sqlite import Store

__all__ = ["ErrorLedger", "FlowControl", "LightServer", "Limits", "RequestError"]

log = logging.getLogger(__name__)


class _Gone(LightClientError):
    """The client closed its socket before the handshake was over."""


class RequestError(LightClientError):
    """A request (or hello) the server will not serve. ``counted``: it counts against the
    client's node ID (by default the malformed ones, ``ERR_INVALID``)."""

    def __init__(self, code: int, message: str, *, counted: bool | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.counted = code == ERR_INVALID if counted is None else counted


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on the light endpoint; a connection over one is refused with the reason."""

    connections: int = protocol.MAX_CONNECTIONS
    connections_per_ip: int = protocol.MAX_CONNECTIONS_PER_IP
    pending: int = protocol.MAX_PENDING_HANDSHAKES
    pending_per_ip: int = protocol.MAX_PENDING_PER_IP
    hello_timeout: float = protocol.HELLO_TIMEOUT


class _Admission:
    """Open light sockets and pending handshakes, overall and per IP."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open: Counter[str] = Counter()
        self.pending: Counter[str] = Counter()

    def refusal(self, ip: str) -> str | None:
        """Why a new socket from ``ip`` is refused, or None to let it in."""
        limits = self.limits
        if self.open.total() >= limits.connections:
            return "too many connections to this server"
        if self.open[ip] >= limits.connections_per_ip:
            return f"too many connections from {ip}"
        if self.pending.total() >= limits.pending:
            return "too many handshakes in progress"
        if self.pending[ip] >= limits.pending_per_ip:
            return f"too many handshakes in progress from {ip}"
        return None

    def enter(self, ip: str) -> None:
        self.open[ip] += 1
        self.pending[ip] += 1

    def handshake_over(self, ip: str) -> None:
        self._drop(self.pending, ip)

    def leave(self, ip: str) -> None:
        self._drop(self.open, ip)

    @staticmethod
    def _drop(counter: Counter[str], ip: str) -> None:
        counter[ip] -= 1
        if counter[ip] <= 0:
            del counter[ip]  # only IPs with sockets stay: the counters stay bounded


@dataclass
class _ErrorCount:
    errors: int
    at: int  # clock time of the last decay step


class ErrorLedger:
    """Invalid requests per node ID, less one per hour (geth's maxRequestErrors), kept
    across connections: a client dropped for too many that reconnects at once is refused
    until the count has decayed to the bound, then dropped again at its next error.

    Bounded to ``capacity`` IDs; the least recently counted are forgotten first. Forgetting
    an offender takes ``capacity`` fresh errors from other IDs, each behind a handshake that
    the per-IP bounds limit."""

    def __init__(self, clock: Clock, capacity: int = MAX_OFFENDERS) -> None:
        self.clock = clock
        self.capacity = capacity
        self._counts: OrderedDict[bytes, _ErrorCount] = OrderedDict()

    def __len__(self) -> int:
        return len(self._counts)

    def _decayed(self, node_id: bytes) -> _ErrorCount | None:
        entry = self._counts.get(node_id)
        if entry is None:
            return None
        now = self.clock.now()
        hours = (now - entry.at) // ERROR_DECAY
        if hours > 0:
            entry.errors = max(0, entry.errors - hours)
            entry.at += hours * ERROR_DECAY
        if entry.errors == 0:
            del self._counts[node_id]
            return None
        return entry

    def count(self, node_id: bytes) -> int:
        """The node's current count of invalid requests."""
        entry = self._decayed(node_id)
        return 0 if entry is None else entry.errors

    def add(self, node_id: bytes) -> int:
        """Count one more invalid request; returns the new count."""
        entry = self._decayed(node_id)
        if entry is None:
            entry = self._counts[node_id] = _ErrorCount(0, self.clock.now())
        entry.errors += 1
        self._counts.move_to_end(node_id)
        while len(self._counts) > self.capacity:
            self._counts.popitem(last=False)
        return entry.errors

    def too_many(self, node_id: bytes) -> bool:
        return self.count(node_id) > MAX_REQUEST_ERRORS


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
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # the client went away
            log.debug("light client %s: send failed: %s", self.free_id, task.exception())

    def update_capacity(self, capacity: int, requested: bool) -> None:
        self.capacity = capacity
        self.flow.update(capacity)
        self._send({"type": "capacity", "capacity": capacity, "bufLimit": self.flow.buf_limit,
                    "minRecharge": capacity})  # fmt: skip

    def count_error(self) -> None:
        """One more invalid request, counted against the node ID (not this connection)."""
        self.server.errors.add(self.node_id)

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
        limits: Limits | None = None,
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
        self.limits = limits or Limits()
        self.admission = _Admission(self.limits)
        self.errors = ErrorLedger(clock)

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
            or isinstance(index, bool)
            or index < 0
            or not (isinstance(keys, list) and keys)
        ):
            raise RequestError(ERR_INVALID, "type is 0 or 1, trieIdx a section, keys a list")
        # A section the server does not have counts against the client, as an invalid
        # request does: the server advertises its latest section (the challenge, and
        # getCheckpoint) and sections are only ever added, so an honest client never asks
        # for one beyond it. Failures on the server's side (its node or store) do not count.
        checkpoint = self.store.checkpoint(index)
        if checkpoint is None:
            raise RequestError(ERR_UNAVAILABLE, f"section {index} is not indexed here",
                               counted=True)  # fmt: skip
        root = checkpoint.cht_root if kind == HT_CANONICAL else checkpoint.bloom_root
        nodes: dict[bytes, None] = {}
        aux_data: list[str] = []
        for text in keys:
            key = self._trie_key(kind, index, text)
            for node in prove(self.store.nodes, root, key):
                nodes[node] = None
            if kind == HT_CANONICAL and aux == AUX_HEADER:
                number = int.from_bytes(key, "big")
                aux_data.append("0x" + (await self._header_rlp(number)).hex())
        return {"proofs": ["0x" + n.hex() for n in nodes], "auxData": aux_data}

    def _trie_key(self, kind: int, index: int, text: object) -> bytes:
        """A CHT key (a block up to the end of section ``index``) or a BloomTrie key (a
        bloom bit and a section up to ``index``); anything else is an invalid request."""
        key = decode_hex(text)
        if kind == HT_CANONICAL:
            valid = (
                key is not None
                and len(key) == 8
                and int.from_bytes(key, "big") < (index + 1) * self.section_size
            )
        else:
            valid = (
                key is not None
                and len(key) == 10
                and int.from_bytes(key[:2], "big") < 2048
                and int.from_bytes(key[2:], "big") <= index
            )
        if key is None or not valid:
            raise RequestError(ERR_INVALID, f"bad key {text!r} for trie {index}")
        return key

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
            if exc.counted:
                peer.count_error()
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
    def _hello_text(message: WSMessage) -> str:
        """The text of the first message, which must be a small text frame."""
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            raise _Gone("closed before its hello")
        if message.type != WSMsgType.TEXT:
            raise RequestError(ERR_INVALID, "expected a hello message")
        text: str = message.data
        if len(text.encode()) > MAX_HELLO_SIZE:
            raise RequestError(ERR_INVALID, f"a hello is at most {MAX_HELLO_SIZE} bytes")
        return text

    @staticmethod
    def _authenticate(nonce: bytes, hello: Any) -> bytes:
        """The node ID a hello proves (a signature of the nonce by its key); the signature
        is recovered by libsecp256k1 (coincurve, ~0.05 ms), not pure Python (~5 ms)."""
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

    def _admit(self, nonce: bytes, message: WSMessage) -> bytes:
        """The node ID of a client whose hello is good and who may connect."""
        try:
            hello = jsontext.loads(self._hello_text(message))
        except (ValueError, RecursionError):
            raise RequestError(ERR_INVALID, "a hello is a JSON object") from None
        node_id = self._authenticate(nonce, hello)
        if self.errors.too_many(node_id):
            raise RequestError(ERR_INVALID, "too many invalid requests made: try again later",
                               counted=False)  # fmt: skip
        if node_id in self.peers:
            raise RequestError(ERR_INVALID, "already connected", counted=False)
        return node_id

    async def _handshake(self, ws: web.WebSocketResponse, ip: str) -> bytes | None:
        """Challenge and hello: the client's node ID, or None when it was refused or left."""
        try:
            nonce = await self._challenge(ws)
            first = await ws.receive(timeout=self.limits.hello_timeout)
            return self._admit(nonce, first)
        except _Gone as exc:
            log.debug("light client %s %s", ip, exc)
            return None
        except TimeoutError:
            reason = "no hello in time"
        except LightClientError as exc:  # a bad hello, or this server's node is down
            reason = str(exc)
        log.debug("light client %s refused: %s", ip, reason)
        await self._refuse(ws, reason)
        return None

    @staticmethod
    async def _refuse(ws: web.WebSocketResponse, reason: str) -> None:
        with contextlib.suppress(ConnectionError):
            if not ws.closed:
                await ws.send_str(json.dumps({"type": "refused", "reason": reason}))
            await ws.close()

    async def _refuse_early(self, request: web.Request, reason: str) -> web.WebSocketResponse:
        """Refuse a socket over a bound: no challenge, a short close."""
        log.debug("light client %s refused: %s", request.remote, reason)
        ws = web.WebSocketResponse(max_msg_size=MAX_HELLO_SIZE, timeout=1.0)
        with contextlib.suppress(ConnectionError):
            await ws.prepare(request)
            await self._refuse(ws, reason)
        return ws

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ip = request.remote or ""
        reason = self.admission.refusal(ip)
        if reason is not None:
            return await self._refuse_early(request, reason)
        self.admission.enter(ip)
        pending = True
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_SIZE, heartbeat=30)
        try:
            await ws.prepare(request)
            node_id = await self._handshake(ws, ip)
            self.admission.handshake_over(ip)
            pending = False
            if node_id is not None:
                await self._session(ws, request, node_id)
        except ConnectionError as exc:  # the client went away mid-write
            log.debug("light client %s went away: %s", ip, exc)
        finally:
            if pending:
                self.admission.handshake_over(ip)
            self.admission.leave(ip)
        return ws

    async def _session(self, ws: web.WebSocketResponse, request: web.Request,
                       node_id: bytes) -> None:  # fmt: skip
        """Serve an admitted client until it leaves or is dropped."""
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
                answer = await self._answer(peer, message)
                if answer is None:
                    break
                await ws.send_str(json.dumps(answer))
                if self.errors.too_many(node_id):
                    log.info("light client %s dropped: too many invalid requests", peer.free_id)
                    await ws.close(message=b"too many invalid requests made")
                    break
        finally:
            peer.closed = True
            self.peers.pop(node_id, None)
            self.service.pool.unregister(peer)

    async def _answer(self, peer: _Peer, message: WSMessage) -> dict[str, Any] | None:
        """The answer to one message, or None when the socket is failing (a frame over the
        size bound); every message that is not a well-formed request counts as an error."""
        if message.type == WSMsgType.TEXT:
            try:
                body = jsontext.loads(message.data)
            except (ValueError, RecursionError):  # not JSON, or nested beyond reason
                body = None
            return await self._serve(peer, body)
        peer.count_error()
        if message.type != WSMsgType.BINARY:
            return None
        return {"id": None, "error": {"code": ERR_INVALID, "message": "binary frames are "
                "not part of the protocol"}, "bv": peer.flow.value()}  # fmt: skip

    async def announce_head(self) -> None:
        head = await self._head()
        for peer in list(self.peers.values()):
            if peer.capacity:
                peer._send({"type": "announce", "head": head})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.handle)
        return app
