"""One light client's LES/4 connection to one light server over RLPx, as geth v1.11.6's
light client behaves towards a server (spec les-wire.md §4.4, §4.5, §5.5, §7.4-§7.6;
``les/peer.go``, ``les/client_handler.go``, ``les/retrieve.go``).

``await LesConnection.dial(enode, key, genesis_hash=..., network_id=...)`` connects, sends
our Status (dummy head, ``announceType`` simple) while reading the server's, and judges it
with geth's checks (genesis, network, version, fork ID, what it serves, its flow-control
parameters, its checkpoint). A reader task then matches replies to requests by request ID,
applies Announces (head, BL/MRR, cost updates) and StopMsg/ResumeMsg.

Requests are never sent when the client-side estimate of the server's buffer
(:class:`~lightclient.les.flowcontrol.ServerBuffer` with the server's MRC table, capped at
BL) cannot take them: the request waits for the recharge, or for ResumeMsg while frozen,
up to ``LesTimeouts.flow_wait``. A request sent while the server then freezes us gets no
reply (spec §7.5): it is sent again once resumed, within the same bound.

Errors: :class:`~lightclient.errors.LesProtocolError` when the server broke the protocol
(we send Disconnect with its ``disconnect`` reason, 0x10 mostly);
:class:`~lightclient.errors.SourceUnavailable` when it cannot be reached, disconnects,
times out or keeps us waiting past the bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import coincurve

from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.keccak import keccak
from lightclient.core.nodeid import parse_enode
from lightclient.errors import (
    InvalidInput,
    LesProtocolError,
    LightClientError,
    RlpxError,
    SourceUnavailable,
)
from lightclient.les.announce import (
    Announce,
    UpdateAllowance,
    check_head_announce,
    cost_update,
    flow_params,
)
from lightclient.les.codes import (
    ANNOUNCE_SIMPLE,
    DISC_READ_TIMEOUT,
    DISC_REQUESTED,
    MAX_COUNT,
    PROTOCOL_LENGTHS,
    REPLY_FOR,
    MsgCode,
    client_accepts,
)
from lightclient.les.costs import CostTable, request_count_ok
from lightclient.les.flowcontrol import FlowParams, Now, ServerBuffer
from lightclient.les.forkid import ForkFilter, ForkId, ForkSchedule, fork_id
from lightclient.les.messages import (
    BlockBodies,
    BlockHeaders,
    Code,
    CodeReq,
    GetBlockBodies,
    GetBlockHeaders,
    GetCode,
    GetHelperTrieProofs,
    GetProofsV2,
    GetReceipts,
    GetTxStatus,
    HelperTrieProofs,
    HelperTrieReq,
    Message,
    ProofReq,
    ProofsV2,
    Receipts,
    Reply,
    Resume,
    SendTxV2,
    TxStatus,
    TxStatusEntry,
    decode_message,
)
from lightclient.les.status import (
    ChainHead,
    ServerOffer,
    Status,
    check_common,
    client_status,
    judge_server,
)
from lightclient.pool.clock import SystemClock
from lightclient.rlpx.keys import public_key_of
from lightclient.rlpx.p2p import Protocol
from lightclient.rlpx.session import Session, SessionConfig, connect

__all__ = [
    "HEADER_CHT_CONFIRMS",
    "MAX_RESPONSE_ERRORS",
    "LesConnection",
    "LesHead",
    "LesTimeouts",
]

log = logging.getLogger(__name__)
R = TypeVar("R", bound=Reply)

VERSION = 4
MAX_RESPONSE_ERRORS = 50  # geth's maxResponseErrors: above it the server is dropped
ERROR_DECAY_NS = 3600 * 1_000_000_000  # invalid responses decay by one per hour
HEADER_CHT_CONFIRMS = 256  # geth's HelperTrieConfirmations: blocks before a section is served
HELPER_TRIE_CHT = 0
HELPER_TRIE_BLOOM = 1
AUX_HEADER = 2


@dataclass(frozen=True, slots=True)
class LesTimeouts:
    """How patient the client is, in seconds."""

    handshake: float = 5.0  # the whole Status exchange (geth: 5 s, then Disconnect 0x0b)
    request: float = 10.0  # one request's reply (geth's hard request timeout)
    flow_wait: float = 10.0  # waiting for the buffer to recharge or for ResumeMsg


@dataclass(frozen=True, slots=True)
class LesHead:
    """The server's head as its Status or latest Announce gave it."""

    number: int
    hash: bytes
    td: int


class _Frozen(LightClientError):
    """The server sent StopMsg while this request was in flight: it will not answer it."""


class _ErrorCount:
    """geth's invalid-response counter: +1 per invalid reply, decaying 1 per hour."""

    def __init__(self, clock: Now) -> None:
        self._clock = clock
        self._value = 0.0
        self._time = clock.now()

    def add(self) -> float:
        now = self._clock.now()
        self._value = max(self._value - (now - self._time) / ERROR_DECAY_NS, 0.0) + 1
        self._time = now
        return self._value


class LesConnection:
    """An established LES/4 session with a light server (Status already judged)."""

    def __init__(
        self,
        session: Session,
        our_key: coincurve.PrivateKey,
        head: ChainHead,
        offer: ServerOffer,
        *,
        clock: Now,
        timeouts: LesTimeouts,
        section_size: int | None,
        confirmations: int = HEADER_CHT_CONFIRMS,
    ) -> None:
        self.session = session
        self.confirmations = confirmations
        self.node_id = keccak(public_key_of(our_key))  # ours, as ServerConnection's
        self.remote_node_id = session.remote_node_id
        self.offer = offer
        self.timeouts = timeouts
        self.section_size = section_size
        self._clock = clock
        self.head = LesHead(head.head_num, head.head_hash, head.head_td)
        self.checkpoint: TrustedCheckpoint | None = offer.checkpoint
        self.costs: CostTable = offer.costs
        self.buffer = ServerBuffer(FlowParams(offer.buf_limit, offer.min_recharge), clock)
        self.head_changed = asyncio.Event()
        self.resumed = asyncio.Event()  # clear while the server has us frozen
        self.resumed.set()
        self.invalid_responses = 0
        self.error: LightClientError | None = None  # why the connection ended
        self._errors = _ErrorCount(clock)
        self._allowance = UpdateAllowance(clock)
        self._pending: dict[int, tuple[MsgCode, asyncio.Future[Reply]]] = {}
        self._flow_changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name="les-client-read")

    # -- dialing ------------------------------------------------------------------------------

    @classmethod
    async def dial(
        cls,
        enode_url: str,
        node_key: coincurve.PrivateKey,
        *,
        genesis_hash: bytes,
        network_id: int,
        fork_filter: ForkFilter | None = None,
        our_fork_id: ForkId | None = None,
        local_head: int = 0,
        local_time: int = 0,
        clock: Now | None = None,
        timeouts: LesTimeouts | None = None,
        section_size: int | None = None,
        session_config: SessionConfig | None = None,
        confirmations: int = HEADER_CHT_CONFIRMS,
    ) -> LesConnection:
        """Connect to ``enode_url`` and run the LES/4 Status exchange as a geth client.

        ``our_fork_id`` is what our Status carries (default: the genesis-only ID, CRC32 of
        the genesis hash with no next fork); ``fork_filter`` judges the server's at
        ``local_head`` / ``local_time``. ``section_size`` lets :attr:`sections` count the
        sections the server's head implies, beside its advertised checkpoint.
        """
        enode = parse_enode(enode_url)
        if not enode.dialable or enode.host is None or enode.tcp_port is None:
            raise InvalidInput(f"{enode_url} has no host and TCP port to dial")
        if len(genesis_hash) != 32:
            raise InvalidInput("the genesis hash is 32 bytes")
        timeouts = timeouts or LesTimeouts()
        config = session_config or SessionConfig(protocols=(Protocol("les", VERSION, 24),))
        try:
            session = await connect(enode.host, enode.tcp_port, node_key, enode.pubkey, config)
        except RlpxError as exc:
            raise SourceUnavailable(f"cannot reach {enode.url()}: {exc}") from None
        if not any(slot.name == "les" and slot.version == VERSION for slot in session.protocols):
            await session.disconnect(0x03)
            raise SourceUnavailable(f"{enode.url()} does not speak les/{VERSION}")
        ours = ChainHead(
            VERSION,
            network_id,
            genesis_hash,
            fork_id=our_fork_id or fork_id(genesis_hash, ForkSchedule.of([]), 0, 0),
        )
        try:
            status = await asyncio.wait_for(_exchange_status(session, ours), timeouts.handshake)
            values = check_common(
                status,
                version=VERSION,
                network_id=network_id,
                genesis_hash=genesis_hash,
                fork_filter=fork_filter,
                head=local_head,
                time=local_time,
            )
            head, offer = judge_server(values, version=VERSION)
        except TimeoutError:
            await session.disconnect(DISC_READ_TIMEOUT)
            raise SourceUnavailable(
                f"{enode.url()}: no Status within {timeouts.handshake:g} s"
            ) from None
        except LesProtocolError as exc:
            await session.disconnect(exc.disconnect)
            raise LesProtocolError(
                f"{enode.url()}: {exc}", kind=exc.kind, disconnect=exc.disconnect
            ) from None
        except RlpxError as exc:
            await session.close()
            raise SourceUnavailable(f"{enode.url()} during the Status exchange: {exc}") from None
        return cls(
            session,
            node_key,
            head,
            offer,
            clock=clock or SystemClock(),
            timeouts=timeouts,
            section_size=section_size,
            confirmations=confirmations,
        )

    # -- state --------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.error is None and not self.session.closed

    @property
    def frozen(self) -> bool:
        return not self.resumed.is_set()

    @property
    def usable(self) -> bool:
        """Connected, and given a buffer that recharges (capacity 0 means unusable)."""
        params = self.buffer.params
        return self.connected and params.buf_limit > 0 and params.min_recharge > 0

    @property
    def sections(self) -> int:
        """Sections the server can prove: its checkpoint's, or (with ``section_size``) those
        its head is past by geth's confirmation margin, whichever is more."""
        count = self.checkpoint.section_index + 1 if self.checkpoint is not None else 0
        margin = self.confirmations
        if self.section_size and self.head.number >= margin:
            count = max(count, (self.head.number - margin + 1) // self.section_size)
        return count

    async def refresh_sections(self) -> int:
        """LES has no checkpoint request: the count follows the head announcements."""
        return self.sections

    async def head_number(self) -> int:
        return self.head.number

    # -- the reader ---------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            while True:
                message = await self.session.receive()
                self._handle(message.code, message.payload)
        except LesProtocolError as exc:
            log.info("light server %s: %s", self.remote_node_id.hex()[:16], exc)
            await self._end(exc, exc.disconnect)
        except RlpxError as exc:
            await self._end(SourceUnavailable(f"light server disconnected: {exc}"), None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug of ours: end cleanly all the same
            log.warning("LES client reader failed: %r", exc)
            await self._end(SourceUnavailable(f"internal error: {exc!r}"), None)

    def _handle(self, code: int, payload: bytes) -> None:
        if not client_accepts(code, VERSION):
            raise LesProtocolError(f"invalid message code {code:#x}", kind="ErrInvalidMsgCode")
        message = decode_message(code, payload)
        if isinstance(message, Announce):
            self._announce(message)
        elif code == MsgCode.STOP:
            self.resumed.clear()
            for _, future in self._pending.values():  # no reply will come (spec §7.5)
                if not future.done():
                    future.set_exception(_Frozen("frozen by the server"))
        elif isinstance(message, Resume):
            self.buffer.resumed(message.bv)
            self.resumed.set()
            self._flow_changed.set()
        elif isinstance(message, Reply):
            self._reply(MsgCode(code), message)

    def _announce(self, announce: Announce) -> None:
        announce.sanity_check()
        if self._allowance.reject(announce.update_size()):
            raise LesProtocolError("announce update allowance exceeded", kind="ErrRequestRejected")
        params = flow_params(announce.update)
        if params is not None:
            self.buffer.update_params(FlowParams(*params))
            self._flow_changed.set()
        costs = cost_update(announce.update, PROTOCOL_LENGTHS[VERSION])
        if costs is not None:
            self.costs = CostTable({**self.costs, **costs})
        check_head_announce(announce, ANNOUNCE_SIMPLE, self.remote_node_id)
        if announce.is_head:
            self.head = LesHead(announce.head_number, announce.head_hash, announce.head_td)
            self.head_changed.set()

    def _reply(self, code: MsgCode, reply: Reply) -> None:
        self.buffer.received_reply(reply.req_id, reply.bv)
        self._flow_changed.set()
        entry = self._pending.get(reply.req_id)
        if entry is None or entry[1].done():
            self._invalid(f"reply {code.name} with unknown request ID {reply.req_id}")
            return
        expected, future = entry
        if code != expected:
            self._invalid(f"{code.name} in reply to a request answered by {expected.name}")
            future.set_exception(
                LesProtocolError(f"{code.name} is not a reply to it", kind="ErrUnexpectedResponse")
            )
            return
        future.set_result(reply)

    def _invalid(self, what: str) -> None:
        """An invalid or unsolicited response: counted; past 50 the server is dropped."""
        value = self._errors.add()
        self.invalid_responses = round(value)
        log.info("light server %s: %s", self.remote_node_id.hex()[:16], what)
        if value > MAX_RESPONSE_ERRORS:
            raise LesProtocolError(f"too many invalid responses ({what})",
                                   kind="ErrUnexpectedResponse")  # fmt: skip

    async def _end(self, error: LightClientError, reason: int | None) -> None:
        if self.error is None:
            self.error = error
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(self.error)
        self._flow_changed.set()
        self.resumed.set()  # wake waiters: they see the error
        if reason is None:
            await self.session.close()
        else:
            await self.session.disconnect(reason)

    async def close(self, reason: int = DISC_REQUESTED) -> None:
        """Send Disconnect (0x00 by default) and stop the reader."""
        await self._end(SourceUnavailable("connection closed by us"), reason)
        if self._reader is not asyncio.current_task():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    # -- requests -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.error is not None:
            raise self.error
        if self.session.closed:
            raise SourceUnavailable(f"light server disconnected: {self.session.error}")

    async def _wait_for_buffer(self, cost: int, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._check_open()
            remaining = deadline - loop.time()
            if not self.resumed.is_set():
                if remaining <= 0:
                    raise SourceUnavailable("the server kept us frozen (no ResumeMsg)")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.resumed.wait(), remaining)
                continue
            wait = self.buffer.wait_time(cost)
            if wait is None:
                raise SourceUnavailable("the server gives us no buffer (capacity 0)")
            if wait == 0:
                return
            if wait / 1e9 > remaining:
                raise SourceUnavailable(
                    f"the server's buffer would not recharge within {self.timeouts.flow_wait:g} s"
                )
            self._flow_changed.clear()
            with contextlib.suppress(TimeoutError):  # a reply, Resume or update may come first
                await asyncio.wait_for(self._flow_changed.wait(), wait / 1e9)

    async def _request(
        self, code: MsgCode, count: int, build: Callable[[int], Message], reply_type: type[R]
    ) -> R:
        if not request_count_ok(code, count):  # a server drops it without a reply
            raise InvalidInput(f"{code.name} of {count} items: 1 to {MAX_COUNT[code]} allowed")
        if code not in self.costs:
            raise SourceUnavailable(f"the server does not price {code.name}")
        cost = min(self.costs.max_cost(code, count), self.buffer.params.buf_limit)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeouts.flow_wait
        while True:
            await self._wait_for_buffer(cost, deadline)
            req_id = secrets.randbits(64)
            while req_id in self._pending:
                req_id = secrets.randbits(64)
            future: asyncio.Future[Reply] = loop.create_future()
            self._pending[req_id] = (REPLY_FOR[code], future)
            self.buffer.queued(req_id, cost)
            try:
                try:
                    await self.session.send(code, build(req_id).encode())
                except RlpxError as exc:
                    raise SourceUnavailable(f"light server disconnected: {exc}") from None
                reply = await asyncio.wait_for(future, self.timeouts.request)
            except _Frozen:
                continue  # not answered: sent again once resumed
            except TimeoutError:
                raise SourceUnavailable(
                    f"no reply to {code.name} within {self.timeouts.request:g} s"
                ) from None
            finally:
                self._pending.pop(req_id, None)
            if not isinstance(reply, reply_type):  # pragma: no cover - checked by code
                raise LesProtocolError("unexpected reply type", kind="ErrUnexpectedResponse")
            return reply

    async def get_headers(
        self, origin: int | bytes, amount: int, skip: int = 0, reverse: bool = False
    ) -> list[bytes]:
        """Header RLPs (a short or empty list where the server has no more)."""
        reply = await self._request(
            MsgCode.GET_BLOCK_HEADERS,
            amount,
            lambda rid: GetBlockHeaders(rid, origin, amount, skip, reverse),
            BlockHeaders,
        )
        if len(reply.headers) > amount:
            raise LesProtocolError(
                f"{len(reply.headers)} headers for {amount} asked", kind="ErrUnexpectedResponse"
            )
        return list(reply.headers)

    async def helper_trie_proofs(
        self, reqs: list[HelperTrieReq]
    ) -> tuple[list[bytes], list[bytes]]:
        """(proof nodes, aux data) for CHT / BloomTrie keys; nothing is verified here."""
        reply = await self._request(
            MsgCode.GET_HELPER_TRIE_PROOFS,
            len(reqs),
            lambda rid: GetHelperTrieProofs(rid, tuple(reqs)),
            HelperTrieProofs,
        )
        return list(reply.nodes), list(reply.aux_data)

    async def get_bodies(self, hashes: list[bytes]) -> list[bytes]:
        reply = await self._request(
            MsgCode.GET_BLOCK_BODIES,
            len(hashes),
            lambda rid: GetBlockBodies(rid, tuple(hashes)),
            BlockBodies,
        )
        return list(reply.bodies)

    async def get_receipts(self, hashes: list[bytes]) -> list[tuple[bytes, ...]]:
        reply = await self._request(
            MsgCode.GET_RECEIPTS, len(hashes), lambda rid: GetReceipts(rid, tuple(hashes)), Receipts
        )
        return list(reply.receipts)

    async def get_code(self, reqs: list[CodeReq]) -> list[bytes]:
        reply = await self._request(
            MsgCode.GET_CODE, len(reqs), lambda rid: GetCode(rid, tuple(reqs)), Code
        )
        return list(reply.codes)

    async def get_proofs(self, reqs: list[ProofReq]) -> list[bytes]:
        reply = await self._request(
            MsgCode.GET_PROOFS_V2, len(reqs), lambda rid: GetProofsV2(rid, tuple(reqs)), ProofsV2
        )
        return list(reply.nodes)

    async def get_tx_status(self, hashes: list[bytes]) -> list[TxStatusEntry]:
        """The server's claimed status of each transaction (a hint: nothing is proved)."""
        reply = await self._request(
            MsgCode.GET_TX_STATUS,
            len(hashes),
            lambda rid: GetTxStatus(rid, tuple(hashes)),
            TxStatus,
        )
        return list(reply.statuses)

    async def send_txs(self, txs: list[bytes]) -> list[TxStatusEntry]:
        """SendTxV2: each tx as an RLP list item (:func:`~lightclient.core.ethcodec.list_item`
        of its consensus encoding); the server's status of each after adding it."""
        reply = await self._request(
            MsgCode.SEND_TX_V2, len(txs), lambda rid: SendTxV2(rid, tuple(txs)), TxStatus
        )
        return list(reply.statuses)

    # -- what LightClient asks (lightclient.client.transport.LightTransport) -------------------

    async def cht_proof(self, trie_idx: int, number: int) -> tuple[list[bytes], list[bytes]]:
        req = HelperTrieReq(HELPER_TRIE_CHT, trie_idx, number.to_bytes(8, "big"), 0, AUX_HEADER)
        return await self.helper_trie_proofs([req])

    async def bloom_proof(self, trie_idx: int, key: bytes) -> list[bytes]:
        nodes, _ = await self.helper_trie_proofs([HelperTrieReq(HELPER_TRIE_BLOOM, trie_idx, key)])
        return nodes

    async def header_range(self, first: int, amount: int) -> list[bytes]:
        return await self.get_headers(first, amount)


async def _exchange_status(session: Session, ours: ChainHead) -> Status:
    """Send our Status while reading theirs; the first LES message must be a Status."""
    sending = asyncio.create_task(session.send(MsgCode.STATUS, client_status(ours).encode()))
    try:
        message = await session.receive()
        await sending
    finally:
        if not sending.done():
            sending.cancel()
    if message.code != MsgCode.STATUS:
        raise LesProtocolError(
            f"first message code {message.code:#x}, not Status", kind="ErrNoStatusMsg"
        )
    decoded = decode_message(message.code, message.payload)
    assert isinstance(decoded, Status)
    return decoded
