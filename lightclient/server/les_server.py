"""An LES server over RLPx, as a geth v1.11.6 light server behaves on the wire
(spec les-wire.md §4-§7).

``LesServer(source, store, service, clock, node_key=..., section_size=..., genesis_hash=...,
network_id=..., fork_schedule=...)``; ``await start(host, port)`` listens, ``enode`` is its
URL, ``await announce_head()`` tells connected clients about a new head, ``await stop()``.

One connection, in geth's order:

1. RLPx and Hello (``lightclient.rlpx.session``); les/2, les/3 and les/4 are offered. A
   les/2 or les/3 peer is refused before any Status (0x10) unless the server's tx index is
   unlimited (``recent_tx_lookup`` 0), as geth.
2. Status, sent and read at the same time, within 5 s (else 0x0b). The client's is checked
   with :func:`check_common` (genesis, network, version, fork ID) and
   :func:`judge_client`; a peer that sends ``flowControl/MRR`` is a server and gets nothing:
   the connection ends (0x08) at its next message. Ours carries the head and its total
   difficulty (summed from the headers: the store's section state plus the difficulties
   after it), serving ranges, BL = minCap x 6000 and MRR = minCap of the pool, the cost
   table, and the store's latest checkpoint only if ``checkpoint_height`` gives its oracle
   registration height (geth advertises nothing without a stable oracle checkpoint).
3. Pool admission (``service.pool.register``): a free client the pool does not activate is
   disconnected at once with 0x00 (geth's inactive timeout is 0); a priority client stays,
   inactive, without announcements, and its requests are not served. Capacity changes
   reach the client as an Announce with a zero head hash (``capacity_update``); a decrease
   applies to the accounting after 2 s.
4. Requests, one at a time: any code but the eight requests, or a message that does not
   decode, ends the connection with 0x10 (ErrInvalidMsgCode / ErrDecode / ErrMsgTooLarge
   past 10 MiB) and counts against the node ID. A count of 0 or above the limit is dropped
   without a reply. The max cost comes from the advertised cost table; a request that finds
   the buffer short freezes the client: StopMsg, no replies, and after 700 ms + [0, 600) ms,
   every 100 ms, ResumeMsg(BV) once BV > BL/8 (les/2: Disconnect 0x03 instead). Each reply
   carries the BV after processing. Unknown items count as invalid requests per node ID
   (decaying one per hour, :class:`~lightclient.server.admission.ErrorLedger`); past 20 the
   client is dropped (0x10) and refused when it comes back (0x10 after the Status).

What is served: headers by number or hash (canonical chain: a hash origin must be canonical,
the sources know no side chains), CHT and BloomTrie proofs from the store (aux header for
CHT entries with auxReq 2 and an 8-byte key), and bodies, receipts, code, state proofs and
transactions through :class:`~lightclient.server.chaindata.ChainData`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import coincurve

from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.header import Header
from lightclient.core.keccak import keccak
from lightclient.core.nodeid import dialable_host, format_enode
from lightclient.core.rlpcodec import split_list
from lightclient.core.trie import prove
from lightclient.errors import HeaderSourceError, LesProtocolError, LightClientError, RlpxError
from lightclient.les.announce import Announce, capacity_update, sign_announce
from lightclient.les.codec import MAX_UINT64, encode_bytes, encode_int, encode_list
from lightclient.les.codes import (
    ANNOUNCE_NONE,
    ANNOUNCE_SIGNED,
    DISC_QUITTING,
    DISC_READ_TIMEOUT,
    DISC_REQUESTED,
    DISC_SUBPROTOCOL_ERROR,
    DISC_USELESS_PEER,
    HANDSHAKE_TIMEOUT,
    PROTOCOL_LENGTHS,
    PROTOCOL_MAX_MSG_SIZE,
    REPLY_FOR,
    SUPPORTED_VERSIONS,
    MsgCode,
    server_accepts,
)
from lightclient.les.costs import (
    BUF_LIMIT_RATIO,
    DEFAULT_COSTS,
    CostTable,
    make_cost_table,
    min_buf_limit,
    request_count_ok,
)
from lightclient.les.flowcontrol import (
    FREEZE_BASE,
    FREEZE_CHECK,
    FREEZE_RANDOM,
    ClientBuffer,
    FlowParams,
    may_resume,
)
from lightclient.les.forkid import ForkFilter, ForkSchedule, fork_id
from lightclient.les.messages import (
    AUX_HEADER,
    HELPER_TRIE_BLOOM,
    HELPER_TRIE_CHT,
    TX_UNKNOWN,
    GetBlockBodies,
    GetBlockHeaders,
    GetCode,
    GetHelperTrieProofs,
    GetProofsV2,
    GetReceipts,
    GetTxStatus,
    Request,
    Resume,
    SendTxV2,
    Stop,
    TxStatusEntry,
    decode_message,
)
from lightclient.les.status import (
    TX_INDEX_DISABLED,
    ChainHead,
    ServerOffer,
    Status,
    check_common,
    judge_client,
    server_refuses_version,
    server_status,
)
from lightclient.pool.balance import NodeBalance
from lightclient.pool.clock import Clock, Timer
from lightclient.rlpx.keys import public_key_of
from lightclient.rlpx.p2p import Protocol
from lightclient.rlpx.session import Session, SessionConfig, listen
from lightclient.server.admission import Admission, ErrorLedger
from lightclient.server.chaindata import ChainData, NoChainData, TxPoolError
from lightclient.server.service import PoolService
from lightclient.sources.base import HeaderSource, checked_headers
from lightclient.store.sqlite import Store

__all__ = ["SOFT_RESPONSE_LIMIT", "LesServer", "LesServerLimits"]

log = logging.getLogger(__name__)

SOFT_RESPONSE_LIMIT = 2 * 1024 * 1024  # softResponseLimit: stop adding items past it
EST_HEADER_RLP_SIZE = 500  # bytes counted per header against the soft limit
TD_BATCH = 1024  # headers fetched at once when summing difficulties
RECENT_HASHES = 256  # hashes kept to find the common ancestor of a reorg
EMPTY_LIST = b"\xc0"
SEND_QUEUE = 100  # messages waiting to be written to one client before announcements drop


@dataclass(frozen=True, slots=True)
class LesServerLimits:
    """Bounds of the RLPx listener (the pool's max_count bounds admitted clients)."""

    max_pending_handshakes: int = 50
    handshake_timeout: float = HANDSHAKE_TIMEOUT / 1e9  # the whole Status exchange, in s


@dataclass(frozen=True, slots=True)
class _Head:
    number: int
    hash: bytes
    td: int
    time: int


def _reply(req_id: int, bv: int, data: bytes) -> bytes:
    return encode_list([encode_int(req_id), encode_int(bv), data])


def _tx_hash(tx: bytes) -> tuple[bytes, bytes]:
    """(hash, consensus encoding) of a transaction item as it travels in SendTxV2: a legacy
    tx is a list (hashed as is), a typed one a string holding ``type || payload``."""
    if tx[0] >= 0xC0:
        return keccak(tx), tx
    start = 1 if tx[0] <= 0xB7 else 1 + (tx[0] - 0xB7)
    envelope = tx[start:]
    return keccak(envelope), envelope


@dataclass(eq=False)
class _LesPeer:
    """A connected LES client, as the pool sees it (the ClientPeer protocol)."""

    server: LesServer
    session: Session
    node_id: bytes
    free_id: str
    version: int
    announce_type: int
    buffer: ClientBuffer
    told_td: int  # the last head TD this client was told (its Status head first)
    capacity: int = 0
    balance: NodeBalance | None = None
    frozen: bool = False
    closed: bool = False
    pending_announce: Announce | None = None
    timer: Timer | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def inactive_allowance(self) -> int:
        return 0  # geth v1.11.6: an inactive free client is dropped at once

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(job)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("LES client %s: send failed: %s", self.node_id.hex()[:16], task.exception())

    def send_soon(self, code: int, payload: bytes) -> None:
        """Queue a message from synchronous code (pool callbacks, timers)."""
        if not self.closed:
            self._spawn(self.session.send(code, payload))

    def update_capacity(self, capacity: int, requested: bool) -> None:
        was_active = self.capacity != 0
        self.capacity = capacity
        if capacity != self.buffer.params.min_recharge:
            self.buffer.update_params(FlowParams(capacity * BUF_LIMIT_RATIO, capacity))
            self.send_soon(MsgCode.ANNOUNCE, capacity_update(capacity).encode())
        if capacity and not was_active and self.pending_announce is not None:
            announce, self.pending_announce = self.pending_announce, None
            self.announce(announce)

    def announce(self, announce: Announce) -> None:
        """A head announcement, if this client asked for them and has not heard of a
        heavier head; stored while the client is inactive."""
        if self.announce_type == ANNOUNCE_NONE or announce.head_td <= self.told_td:
            return
        if self.capacity == 0:
            self.pending_announce = announce
            return
        self.told_td = announce.head_td
        if len(self.tasks) >= SEND_QUEUE:
            return  # geth's per-peer send queue is full: the announcement is dropped
        self.send_soon(MsgCode.ANNOUNCE, announce.encode())

    def disconnect(self) -> None:
        """The pool drops the client (evicted, or not activated): Disconnect 0x00."""
        if not self.closed:
            self.closed = True
            self._spawn(self.session.disconnect(DISC_REQUESTED))

    def freeze(self) -> None:
        """StopMsg, then ResumeMsg once the buffer is above BL/8 (geth's timings)."""
        if self.frozen:
            return
        self.frozen = True
        self.send_soon(MsgCode.STOP, Stop().encode())
        delay = FREEZE_BASE + self.server.rng.randrange(FREEZE_RANDOM)
        self.timer = self.server.clock.after(delay, self._check_resume)

    def _check_resume(self) -> None:
        if self.closed:
            return
        bv = self.buffer.buffer_value()
        if may_resume(bv, self.buffer.params.buf_limit):
            self.frozen = False
            self.send_soon(MsgCode.RESUME, Resume(bv).encode())
        else:
            self.timer = self.server.clock.after(FREEZE_CHECK, self._check_resume)

    def close(self) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.stop()


class LesServer:
    """Serves LES/2-4 light clients over RLPx from a node's headers and the syncer's store."""

    def __init__(
        self,
        source: HeaderSource,
        store: Store,
        service: PoolService,
        clock: Clock,
        *,
        node_key: coincurve.PrivateKey,
        section_size: int,
        genesis_hash: bytes,
        network_id: int,
        fork_schedule: ForkSchedule,
        chain_data: ChainData | None = None,
        costs: CostTable | None = None,
        recent_tx_lookup: int = TX_INDEX_DISABLED,
        serve_recent_state: int = 124,
        checkpoint_height: Callable[[TrustedCheckpoint], int | None] | None = None,
        registered_checkpoint: Callable[[], tuple[TrustedCheckpoint, int] | None] | None = None,
        charge_max_cost: bool = False,
        limits: LesServerLimits | None = None,
        errors: ErrorLedger | None = None,
        admission: Admission | None = None,
        rng: random.Random | None = None,
        client_id: str = "lightclient/v0.1.0",
    ) -> None:
        self.source = source
        self.store = store
        self.service = service
        self.clock = clock
        self.node_key = node_key
        self.section_size = section_size
        self.genesis_hash = genesis_hash
        self.network_id = network_id
        self.fork_schedule = fork_schedule
        self.fork_filter = ForkFilter(genesis_hash, fork_schedule)
        self.chain_data: ChainData = chain_data if chain_data is not None else NoChainData()
        min_cap = service.config.min_cap
        self.flow = FlowParams(min_cap * BUF_LIMIT_RATIO, min_cap)
        if costs is None:
            # geth derives minCap from its costs; here the pool's minCap is given, so the
            # costs are scaled down (geth's rule) when the smallest buffer cannot hold them.
            too_small = self.flow.buf_limit < min_buf_limit(DEFAULT_COSTS)
            costs = make_cost_table(self.flow.buf_limit // 3) if too_small else DEFAULT_COSTS
        self.costs = costs
        self.recent_tx_lookup = recent_tx_lookup
        self.serve_recent_state = serve_recent_state
        self.checkpoint_height = checkpoint_height
        # The oracle's latest verified checkpoint and its registration height, if given:
        # advertised in the Status instead of asking checkpoint_height about the latest one.
        self.registered_checkpoint = registered_checkpoint
        self.charge_max_cost = charge_max_cost  # geth's test mode: real cost = max cost
        self.limits = limits or LesServerLimits()
        self.errors = errors if errors is not None else ErrorLedger(clock)
        # Sockets per IP and handshakes in progress, bounded before any cryptography.
        self.admission = admission if admission is not None else Admission()
        self.rng = rng or random.Random()
        self.peers: dict[bytes, _LesPeer] = {}
        self.served = 0
        self.session_config = SessionConfig(
            client_id=client_id,
            protocols=tuple(Protocol("les", v, PROTOCOL_LENGTHS[v]) for v in SUPPORTED_VERSIONS),
            max_pending_handshakes=self.limits.max_pending_handshakes,
        )
        self._server: asyncio.Server | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self._head_cache: _Head | None = None
        self._recent: dict[int, bytes] = {}
        self._announced: _Head | None = None
        self._signed: tuple[bytes, Announce] | None = None
        self._open: set[Session] = set()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> None:
        """Listen for RLPx connections on ``host:port`` (0: any free port)."""
        self._server = await listen(host, port, self.node_key, self._handle, self.session_config,
                                    gate=self.admission)  # fmt: skip
        self._host, self._port = host, self._server.sockets[0].getsockname()[1]

    @property
    def port(self) -> int:
        return self._port

    @property
    def enode(self) -> str:
        return format_enode(public_key_of(self.node_key), dialable_host(self._host), self._port)

    async def stop(self) -> None:
        """Stop listening and end every session with Disconnect 0x08 (quitting)."""
        if self._server is not None:
            self._server.close()
        for peer in list(self.peers.values()):
            peer.close()
        for session in list(self._open):  # admitted or still in the Status exchange
            with contextlib.suppress(RlpxError):
                await session.disconnect(DISC_QUITTING)
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    # -- the chain head and its total difficulty ---------------------------------------------

    async def _fetch(self, start: int, count: int, parent: bytes | None) -> list[Header]:
        return checked_headers(await self.source.headers(start, count), start, parent)

    async def _sum_from(self, number: int, td: int, parent: bytes | None, target: int) -> _Head:
        """Difficulties from ``number + 1`` to ``target`` added to ``td`` (TD at ``number``)."""
        last_hash, last_rlp = parent, b""
        n = number + 1
        while n <= target:
            count = min(TD_BATCH, target - n + 1)
            for header in await self._fetch(n, count, last_hash):
                td += header.difficulty
                last_hash, last_rlp = header.hash, header.rlp
                self._recent[header.number] = header.hash
            n += count
        for old in [k for k in self._recent if k <= target - RECENT_HASHES]:
            del self._recent[old]
        if not last_rlp:  # nothing fetched: the target is ``number`` itself
            header = (await self._fetch(target, 1, None))[0]
            last_hash, last_rlp = header.hash, header.rlp
        assert last_hash is not None
        return _Head(target, last_hash, td, int.from_bytes(split_list(last_rlp)[11], "big"))

    async def chain_head(self) -> _Head:
        """The source's head with its TD (from the cache when the chain only grew)."""
        number = await self.source.head()
        cached = self._head_cache
        if cached is not None and cached.number == number:
            still = (await self._fetch(number, 1, None))[0]
            if still.hash == cached.hash:
                return cached
        head: _Head | None = None
        if cached is not None and number > cached.number:
            with contextlib.suppress(HeaderSourceError):
                head = await self._sum_from(cached.number, cached.td, cached.hash, number)
        if head is None:
            state = self.store.state()
            base = state.sections * self.section_size - 1
            if base > number or state.sections == 0:
                head = await self._sum_from(-1, 0, None, number)
            else:
                head = await self._sum_from(base, state.td, state.head_hash, number)
        self._head_cache = head
        return head

    async def _reorg_depth(self, old: _Head, new: _Head) -> int:
        """Old head number minus the common ancestor's, 0 if it is not found nearby."""
        n = min(old.number, new.number)
        while n >= 0 and n > old.number - RECENT_HASHES:
            known = self._recent.get(n) if n != old.number else old.hash
            if known is None:
                return 0
            try:
                canonical = (await self._fetch(n, 1, None))[0].hash
            except HeaderSourceError:
                return 0
            if canonical == known:
                return old.number - n
            n -= 1
        return 0

    # -- announcements -------------------------------------------------------------------

    async def announce_head(self) -> None:
        """Announce the source's head to every client that asked, if its TD is heavier
        than the last head announced (geth's broadcastLoop)."""
        head = await self.chain_head()
        last = self._announced
        if last is not None and head.td <= last.td:
            return
        depth = await self._reorg_depth(last, head) if last is not None else 0
        self._announced = head
        plain = Announce(head.hash, head.number, head.td, depth)
        signed: Announce | None = None
        for peer in list(self.peers.values()):
            if peer.announce_type == ANNOUNCE_SIGNED:
                if signed is None:
                    signed = sign_announce(plain, self.node_key.secret)
                peer.announce(signed)
            else:
                peer.announce(plain)

    # -- the handshake ---------------------------------------------------------------------

    def _offer(self) -> ServerOffer:
        checkpoint, height = None, None
        if self.registered_checkpoint is not None:
            found = self.registered_checkpoint()
            if found is not None:
                checkpoint, height = found
        elif self.checkpoint_height is not None:
            latest = self.store.latest_checkpoint()
            if latest is not None:
                height = self.checkpoint_height(latest)
                checkpoint = latest if height is not None else None
        return ServerOffer(
            self.flow.buf_limit,
            self.flow.min_recharge,
            self.costs,
            serve_recent_state=self.serve_recent_state,
            recent_tx_lookup=self.recent_tx_lookup,
            checkpoint=checkpoint,
            register_height=height,
        )

    async def _exchange(self, session: Session, ours: Status) -> Status:
        sending = asyncio.ensure_future(session.send(MsgCode.STATUS, ours.encode()))
        try:
            message = await session.receive()
            await sending
        finally:
            if not sending.done():
                sending.cancel()
        if message.code != MsgCode.STATUS:
            raise LesProtocolError("first message is not a Status", kind="ErrNoStatusMsg")
        if len(message.payload) > PROTOCOL_MAX_MSG_SIZE:
            raise LesProtocolError("Status too large", kind="ErrMsgTooLarge")
        return Status.decode(message.payload)

    def _free_id(self, session: Session) -> str:
        address = session.remote_address
        if address is not None:
            with contextlib.suppress(ValueError):
                if not ipaddress.ip_address(address[0]).is_loopback:
                    return address[0]
        return session.remote_node_id.hex()

    async def _handle(self, session: Session) -> None:
        self._open.add(session)
        try:
            await self._serve_session(session)
        finally:
            self._open.discard(session)

    async def _serve_session(self, session: Session) -> None:
        node_id = session.remote_node_id
        slot = next(s for s in session.protocols if s.name == "les")
        version = slot.version
        if server_refuses_version(version, self.recent_tx_lookup):
            raise RlpxError(f"les/{version} not served (tx index limited)", DISC_SUBPROTOCOL_ERROR)
        head = await self.chain_head()
        fid = fork_id(self.genesis_hash, self.fork_schedule, head.number, head.time)
        chain = ChainHead(version, self.network_id, self.genesis_hash, head.td, head.hash,
                          head.number, fid if version >= 4 else None)  # fmt: skip
        ours = server_status(chain, self._offer())
        try:
            status = await asyncio.wait_for(
                self._exchange(session, ours), self.limits.handshake_timeout
            )
            values = check_common(status, version=version, network_id=self.network_id,
                                  genesis_hash=self.genesis_hash, fork_filter=self.fork_filter,
                                  head=head.number, time=head.time)  # fmt: skip
            view = judge_client(values)
        except TimeoutError:
            raise RlpxError("Status exchange timed out", DISC_READ_TIMEOUT) from None
        except LesProtocolError as exc:
            log.debug("LES client %s refused: %s (%s)", node_id.hex()[:16], exc, exc.kind)
            raise RlpxError(f"Status refused: {exc}", exc.disconnect) from None
        if view.is_server:  # another server: nothing is served; it goes at its next message
            with contextlib.suppress(RlpxError):
                await session.receive()
            return
        if self.errors.too_many(node_id):
            raise RlpxError("too many invalid requests made", DISC_SUBPROTOCOL_ERROR)
        if node_id in self.peers:
            raise RlpxError("already connected", DISC_SUBPROTOCOL_ERROR)
        peer = _LesPeer(self, session, node_id, self._free_id(session), version,
                        view.announce_type, ClientBuffer(self.flow, self.clock),
                        head.td)  # fmt: skip
        self.peers[node_id] = peer
        try:
            try:
                peer.balance = self.service.pool.register(peer)
            except LightClientError as exc:
                raise RlpxError(
                    f"pool registration failed: {exc}", DISC_SUBPROTOCOL_ERROR
                ) from None
            entry = self.service.pool.entries.get(node_id)
            priority = entry is not None and entry.priority_flag
            if peer.balance is None or (peer.capacity == 0 and not priority):
                peer.closed = True
                raise RlpxError("no capacity for this client", DISC_REQUESTED)
            while not peer.closed:
                message = await session.receive()
                await self._dispatch(peer, message.code, message.payload)
        finally:
            peer.close()
            if self.peers.get(node_id) is peer:
                del self.peers[node_id]
            self.service.pool.unregister(peer)

    # -- requests ------------------------------------------------------------------------

    def _bad_input(self, peer: _LesPeer, reason: str) -> RlpxError:
        self.errors.add(peer.node_id)
        log.debug("LES client %s dropped: %s", peer.node_id.hex()[:16], reason)
        return RlpxError(reason, DISC_SUBPROTOCOL_ERROR)

    async def _dispatch(self, peer: _LesPeer, code: int, payload: bytes) -> None:
        if not server_accepts(code):
            raise self._bad_input(peer, f"invalid message code {code:#x}")
        try:
            request = decode_message(code, payload)
        except LesProtocolError as exc:
            raise self._bad_input(peer, f"{exc.kind}: {exc}") from None
        assert isinstance(request, Request)
        if not request_count_ok(code, request.count):
            return  # geth drops it: no reply, only the (zero) incoming-size cost
        if peer.frozen or peer.capacity == 0:
            return  # frozen or inactive: no reply
        max_cost = self.costs.max_cost(code, request.count)
        index = next(_indices)
        accepted, _short = peer.buffer.accept(index, max_cost)
        if not accepted:
            if peer.version < 3:
                raise RlpxError("request came too early (les/2)", DISC_USELESS_PEER)
            log.debug("LES client %s: request came too early", peer.node_id.hex()[:16])
            peer.freeze()
            return
        started = time.perf_counter_ns()
        try:
            data = await self._serve(peer, request)
        except LightClientError as exc:  # our node or store failed: not the client's fault
            log.warning("LES request %s not served: %s", MsgCode(code).name, exc)
            data = None
        real_cost = max_cost if self.charge_max_cost else time.perf_counter_ns() - started
        bv = peer.buffer.processed(index, max_cost, real_cost)
        if data is not None and not peer.closed:
            if peer.balance is not None:
                peer.balance.request_served(min(real_cost, max_cost))
            self.served += 1
            await peer.session.send(REPLY_FOR[MsgCode(code)], _reply(request.req_id, bv, data))
        if self.errors.too_many(peer.node_id):
            raise RlpxError("too many invalid requests made", DISC_SUBPROTOCOL_ERROR)

    def _invalid(self, peer: _LesPeer) -> None:
        self.errors.add(peer.node_id)

    async def _serve(self, peer: _LesPeer, request: Request) -> bytes | None:
        """The reply's data item, or None for no reply at all."""
        if isinstance(request, GetBlockHeaders):
            return encode_list(await self._headers(request))
        if isinstance(request, GetHelperTrieProofs):
            return await self._helper_proofs(request)
        if isinstance(request, GetBlockBodies):
            return await self._by_hash(peer, request.hashes, self.chain_data.body_rlp)
        if isinstance(request, GetReceipts):
            return await self._by_hash(peer, request.hashes, self.chain_data.receipts_rlp)
        if isinstance(request, GetCode):
            return await self._code(peer, request)
        if isinstance(request, GetProofsV2):
            return await self._proofs(peer, request)
        if isinstance(request, SendTxV2):
            return await self._send_txs(request)
        if isinstance(request, GetTxStatus):
            entries = [await self.chain_data.tx_status(h) for h in request.hashes]
            return encode_list([e.encode() for e in entries])
        raise AssertionError(f"unhandled request {request!r}")  # server_accepts() is exhaustive

    async def _header_rlps(self, numbers: list[int]) -> list[bytes]:
        """Canonical headers at ``numbers``, in that order, cut at the first missing one."""
        if not numbers:
            return []
        lo, hi = min(numbers), max(numbers)
        if hi - lo + 1 == len(numbers):
            with contextlib.suppress(HeaderSourceError):
                by_number = {h.number: h.rlp for h in await self._fetch(lo, hi - lo + 1, None)}
                return [by_number[n] for n in numbers]
        out: list[bytes] = []
        for n in numbers:
            try:
                out.append((await self._fetch(n, 1, None))[0].rlp)
            except HeaderSourceError:
                break
        return out

    async def _headers(self, query: GetBlockHeaders) -> list[bytes]:
        """§6.2: by number on the canonical chain; by hash from that (canonical) block."""
        head = await self.source.head()
        if isinstance(query.origin, bytes):
            number_of = getattr(self.source, "number_of", None)
            start = await number_of(query.origin) if number_of is not None else None
            if start is None:
                return []
        else:
            start = query.origin
        step = query.skip + 1
        numbers: list[int] = []
        n = int(start)
        while (
            len(numbers) < query.amount and len(numbers) * EST_HEADER_RLP_SIZE < SOFT_RESPONSE_LIMIT
        ):
            if n > head:
                break
            numbers.append(n)
            if query.reverse:
                if n < step:
                    break
                n -= step
            else:
                n += step
                if n > MAX_UINT64:
                    log.warning("GetBlockHeaders skip overflow (attack?)")
                    break
        return await self._header_rlps(numbers)

    async def _helper_proofs(self, query: GetHelperTrieProofs) -> bytes | None:
        nodes: dict[bytes, None] = {}
        aux: list[bytes] = []
        size = 0
        roots: dict[tuple[int, int], bytes] = {}
        for req in query.reqs:
            if size >= SOFT_RESPONSE_LIMIT:
                break
            root = roots.get((req.type, req.trie_idx))
            if root is None:
                if req.type not in (HELPER_TRIE_CHT, HELPER_TRIE_BLOOM):
                    return None
                checkpoint = self.store.checkpoint(req.trie_idx)
                if checkpoint is None:
                    return None  # the trie is not here: no reply at all (geth)
                root = checkpoint.cht_root if req.type == HELPER_TRIE_CHT else checkpoint.bloom_root
                roots[(req.type, req.trie_idx)] = root
            try:
                proof = prove(self.store.nodes, root, req.key)
            except LightClientError as exc:
                log.warning("helper trie proof failed: %s", exc)
                return None  # les/4: a proving error means no reply
            for node in proof[req.from_level :]:
                if node not in nodes:
                    nodes[node] = None
                    size += len(node)
            if req.type == HELPER_TRIE_CHT and req.aux_req == AUX_HEADER and len(req.key) == 8:
                found = await self._header_rlps([int.from_bytes(req.key, "big")])
                item = found[0] if found else EMPTY_LIST  # a nil header
                aux.append(item)
                size += len(item)
        aux_list = encode_list([encode_bytes(a) for a in aux])
        return encode_list([encode_list(list(nodes)), aux_list])

    async def _by_hash(
        self,
        peer: _LesPeer,
        hashes: tuple[bytes, ...],
        lookup: Callable[[bytes], Coroutine[Any, Any, bytes | None]],
    ) -> bytes:
        items: list[bytes] = []
        size = 0
        for block_hash in hashes:
            if size >= SOFT_RESPONSE_LIMIT:
                break
            item = await lookup(block_hash)
            if item is None:
                self._invalid(peer)
                continue
            items.append(item)
            size += len(item)
        return encode_list(items)

    async def _code(self, peer: _LesPeer, query: GetCode) -> bytes:
        codes: list[bytes] = []
        size = 0
        for req in query.reqs:
            if size >= SOFT_RESPONSE_LIMIT:
                break
            code = await self.chain_data.code(req.block_hash, req.account_key)
            if code is None:
                self._invalid(peer)
                continue
            codes.append(encode_bytes(code))
            size += len(code)
        return encode_list(codes)

    async def _proofs(self, peer: _LesPeer, query: GetProofsV2) -> bytes:
        nodes: dict[bytes, None] = {}
        size = 0
        for req in query.reqs:
            if size >= SOFT_RESPONSE_LIMIT:
                break
            proof = await self.chain_data.proof_nodes(req.block_hash, req.account_key, req.key)
            if proof is None:
                self._invalid(peer)
                continue
            for node in proof[req.from_level :]:
                if node not in nodes:
                    nodes[node] = None
                    size += len(node)
        return encode_list(list(nodes))

    async def _send_txs(self, query: SendTxV2) -> bytes:
        entries: list[TxStatusEntry] = []
        for tx in query.txs:
            tx_hash, consensus = _tx_hash(tx)
            status = await self.chain_data.tx_status(tx_hash)
            if status.status == TX_UNKNOWN:
                try:
                    await self.chain_data.send_raw_tx(consensus)
                except TxPoolError as exc:
                    status = TxStatusEntry(TX_UNKNOWN, None, str(exc))
                else:
                    status = await self.chain_data.tx_status(tx_hash)
            entries.append(status)
        return encode_list([e.encode() for e in entries])


_indices = itertools.count()  # request indices for the buffers' bookkeeping
