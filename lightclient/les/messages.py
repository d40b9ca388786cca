"""LES/4 messages (spec §4.5, §4.6): one frozen dataclass each, with ``encode()`` (the RLP
payload, before Snappy) and a strict ``decode(payload)``.

Requests are ``[reqID, body]``; replies are ``[reqID, BV, data]``. Decoding fails as
geth's does, raising :class:`LesProtocolError` (``ErrDecode``, Disconnect 0x10).

What decoding does *not* refuse, because geth does not either at that point:

* trailing bytes after the message's single RLP value (``Msg.Decode`` ignores them);
* item counts of 0 or past the serving limits. A geth server drops such a request with no
  reply and no disconnect (§6.1), so that is the server's decision:
  :func:`lightclient.les.costs.request_count_ok`.

Header, body, receipt, transaction and trie-node values are kept as their raw RLP.
Headers are checked with :func:`lightclient.core.header.decode_header`; bodies, receipts
and transactions only for their outer shape (full transaction decoding is not done).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol, Self, TypeVar

from lightclient.core.header import decode_header
from lightclient.core.rlpcodec import item_bounds
from lightclient.errors import DecodeError, HeaderSourceError, InvalidInput, LesProtocolError
from lightclient.les.announce import Announce
from lightclient.les.codec import (
    MAX_UINT64,
    encode_bool,
    encode_bytes,
    encode_int,
    encode_list,
    first_item,
    read_bool,
    read_bytes,
    read_fixed,
    read_list,
    read_struct,
    read_uint,
    whole_item,
)
from lightclient.les.codes import PROTOCOL_MAX_MSG_SIZE, MsgCode
from lightclient.les.status import Status

__all__ = [
    "DECODERS",
    "BlockBodies",
    "BlockHeaders",
    "Code",
    "CodeReq",
    "GetBlockBodies",
    "GetBlockHeaders",
    "GetCode",
    "GetHelperTrieProofs",
    "GetProofsV2",
    "GetReceipts",
    "GetTxStatus",
    "HelperTrieProofs",
    "HelperTrieReq",
    "Message",
    "ProofReq",
    "ProofsV2",
    "Receipts",
    "Reply",
    "Request",
    "Resume",
    "SendTxV2",
    "Stop",
    "TxLookup",
    "TxStatus",
    "TxStatusEntry",
    "decode_message",
    "encode_message",
]

ZERO_HASH = bytes(32)
T = TypeVar("T")


class Message(Protocol):
    CODE: ClassVar[MsgCode]

    def encode(self) -> bytes: ...


def _uint64(value: int, what: str) -> None:
    if not 0 <= value <= MAX_UINT64:
        raise InvalidInput(f"{what} {value} is not a uint64")


def _hash(value: bytes, what: str) -> None:
    if len(value) != 32:
        raise InvalidInput(f"{what} must be 32 bytes")


def _hashes(raw: bytes, what: str) -> tuple[bytes, ...]:
    return tuple(read_fixed(item, 32, what) for item in read_list(raw, what))


def _items(raw: bytes, what: str, read: Callable[[bytes, str], T]) -> tuple[T, ...]:
    return tuple(read(item, what) for item in read_list(raw, what))


def _is_list(raw: bytes) -> bool:
    return raw[0] >= 0xC0


# ---------------------------------------------------------------- envelopes


def _encode_request(req_id: int, body: bytes) -> bytes:
    return encode_list([encode_int(req_id), body])


def _encode_reply(req_id: int, bv: int, data: bytes) -> bytes:
    return encode_list([encode_int(req_id), encode_int(bv), data])


def _open_request(payload: bytes, what: str) -> tuple[int, bytes]:
    req_raw, body = read_struct(first_item(payload, what), 2, what)
    return read_uint(req_raw, f"{what}.reqID"), body


def _open_reply(payload: bytes, what: str) -> tuple[int, int, bytes]:
    req_raw, bv_raw, data = read_struct(first_item(payload, what), 3, what)
    return read_uint(req_raw, f"{what}.reqID"), read_uint(bv_raw, f"{what}.BV"), data


@dataclass(frozen=True, slots=True)
class Request:
    """Base of the eight requests: ``req_id`` is chosen by the client and echoed back."""

    req_id: int

    def __post_init__(self) -> None:
        _uint64(self.req_id, "reqID")

    @property
    def count(self) -> int:
        """The item count the cost and the serving limit are computed from (§6.1)."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Reply:
    """Base of the seven replies: the request's ID and the client's buffer value."""

    req_id: int
    bv: int

    def __post_init__(self) -> None:
        _uint64(self.req_id, "reqID")
        _uint64(self.bv, "BV")


# ---------------------------------------------------------------- headers


@dataclass(frozen=True, slots=True)
class GetBlockHeaders(Request):
    """``[reqID, [origin, amount, skip, reverse]]``; origin is a number or a 32-byte hash.

    A zero-hash origin means block 0 to geth (it sends the number then), so it decodes as
    the number 0 and encodes as the number.
    """

    CODE: ClassVar[MsgCode] = MsgCode.GET_BLOCK_HEADERS
    origin: int | bytes
    amount: int
    skip: int = 0
    reverse: bool = False

    def __post_init__(self) -> None:
        Request.__post_init__(self)
        if isinstance(self.origin, bytes):
            _hash(self.origin, "origin hash")
        else:
            _uint64(self.origin, "origin number")
        _uint64(self.amount, "amount")
        _uint64(self.skip, "skip")

    @property
    def count(self) -> int:
        return self.amount

    def encode(self) -> bytes:
        origin = self.origin
        if isinstance(origin, bytes) and origin != ZERO_HASH:
            origin_raw = encode_bytes(origin)
        else:
            origin_raw = encode_int(origin if isinstance(origin, int) else 0)
        query = [origin_raw, encode_int(self.amount), encode_int(self.skip)]
        return _encode_request(self.req_id, encode_list([*query, encode_bool(self.reverse)]))

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        req_id, body = _open_request(payload, "GetBlockHeaders")
        origin_raw, amount, skip, reverse = read_struct(body, 4, "GetBlockHeaders query")
        return cls(
            req_id,
            _read_origin(origin_raw),
            read_uint(amount, "amount"),
            read_uint(skip, "skip"),
            read_bool(reverse, "reverse"),
        )


def _read_origin(raw: bytes) -> int | bytes:
    try:
        start, stop, is_list = item_bounds(raw)
    except DecodeError as exc:
        raise LesProtocolError(f"origin: {exc}") from None
    size = stop - start
    if size == 32 and not is_list:
        value = read_fixed(raw, 32, "origin")
        return 0 if value == ZERO_HASH else value
    if size <= 8:
        return read_uint(raw, "origin")
    raise LesProtocolError(f"invalid input size {size} for origin")


def _read_header(raw: bytes, what: str) -> bytes:
    try:
        decode_header(raw)
    except (HeaderSourceError, DecodeError) as exc:
        raise LesProtocolError(f"{what}: {exc}") from None
    return raw


@dataclass(frozen=True, slots=True)
class BlockHeaders(Reply):
    """``[reqID, BV, [header, ...]]``; headers as their consensus RLP."""

    CODE: ClassVar[MsgCode] = MsgCode.BLOCK_HEADERS
    headers: tuple[bytes, ...] = ()

    def encode(self) -> bytes:
        return _encode_reply(self.req_id, self.bv, encode_list(list(self.headers)))

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        req_id, bv, data = _open_reply(payload, "BlockHeaders")
        return cls(req_id, bv, _items(data, "header", _read_header))


# ---------------------------------------------------------------- hash-list requests


@dataclass(frozen=True, slots=True)
class _HashRequest(Request):
    NAME: ClassVar[str] = ""
    hashes: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        Request.__post_init__(self)
        for h in self.hashes:
            _hash(h, "hash")

    @property
    def count(self) -> int:
        return len(self.hashes)

    def encode(self) -> bytes:
        return _encode_request(self.req_id, encode_list([encode_bytes(h) for h in self.hashes]))

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        req_id, body = _open_request(payload, cls.NAME)
        return cls(req_id, _hashes(body, f"{cls.NAME} hash"))


@dataclass(frozen=True, slots=True)
class GetBlockBodies(_HashRequest):
    """``[reqID, [blockHash, ...]]``"""

    CODE: ClassVar[MsgCode] = MsgCode.GET_BLOCK_BODIES
    NAME: ClassVar[str] = "GetBlockBodies"


@dataclass(frozen=True, slots=True)
class GetReceipts(_HashRequest):
    """``[reqID, [blockHash, ...]]``"""

    CODE: ClassVar[MsgCode] = MsgCode.GET_RECEIPTS
    NAME: ClassVar[str] = "GetReceipts"


@dataclass(frozen=True, slots=True)
class GetTxStatus(_HashRequest):
    """``[reqID, [txHash, ...]]``"""

    CODE: ClassVar[MsgCode] = MsgCode.GET_TX_STATUS
    NAME: ClassVar[str] = "GetTxStatus"


# ---------------------------------------------------------------- bodies and receipts


def _read_body(raw: bytes, what: str) -> bytes:
    fields = read_list(raw, what)
    if len(fields) not in (2, 3):
        raise LesProtocolError(f"{what}: a body has 2 or 3 fields, not {len(fields)}")
    for field in fields:
        read_list(field, f"{what} field")
    return raw


def _read_receipts(raw: bytes, what: str) -> tuple[bytes, ...]:
    return tuple(read_list(raw, what))


@dataclass(frozen=True, slots=True)
class BlockBodies(Reply):
    """``[reqID, BV, [body, ...]]``; each body the stored ``[txs, uncles(, withdrawals)]``."""

    CODE: ClassVar[MsgCode] = MsgCode.BLOCK_BODIES
    bodies: tuple[bytes, ...] = ()

    def encode(self) -> bytes:
        return _encode_reply(self.req_id, self.bv, encode_list(list(self.bodies)))

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        req_id, bv, data = _open_reply(payload, "BlockBodies")
        return cls(req_id, bv, _items(data, "body", _read_body))


@dataclass(frozen=True, slots=True)
class Receipts(Reply):
    """``[reqID, BV, [[receipt, ...], ...]]``; receipts raw (typed ones are strings)."""

    CODE: ClassVar[MsgCode] = MsgCode.RECEIPTS
    receipts: tuple[tuple[bytes, ...], ...] = ()

    def encode(self) -> bytes:
        blocks = [encode_list(list(block)) for block in self.receipts]
        return _encode_reply(self.req_id, self.bv, encode_list(blocks))

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        req_id, bv, data = _open_reply(payload, "Receipts")
        return cls(req_id, bv, _items(data, "receipts", _read_receipts))


# ---------------------------------------------------------------- code and proofs


@dataclass(frozen=True, slots=True)
class CodeReq:
    """``[blockHash, accountKey]``; the key is keccak256(address)."""

    block_hash: bytes
    account_key: bytes

    def __post_init__(self) -> None:
        _hash(self.block_hash, "block hash")

    def encode(self) -> bytes:
        return encode_list([encode_bytes(self.block_hash), encode_bytes(self.account_key)])

    @classmethod
    def read(cls, raw: bytes, what: str) -> CodeReq:
        block, account = read_struct(raw, 2, what)
        return cls(read_fixed(block, 32, f"{what}.blockHash"), read_bytes(account, what))


@dataclass(frozen=True, slots=True)
class GetCode(Request):
    """``[reqID, [[blockHash, accountKey], ...]]``"""

    CODE: ClassVar[MsgCode] = MsgCode.GET_CODE
    reqs: tuple[CodeReq, ...] = ()

    @property
    def count(self) -> int:
        return len(self.reqs)

    def encode(self) -> bytes:
        return _encode_request(self.req_id, encode_list([r.encode() for r in self.reqs]))

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        req_id, body = _open_request(payload, "GetCode")
        return cls(req_id, _items(body, "GetCode entry", CodeReq.read))


@dataclass(frozen=True, slots=True)
class Code(Reply):
    """``[reqID, BV, [code, ...]]``"""

    CODE: ClassVar[MsgCode] = MsgCode.CODE
    codes: tuple[bytes, ...] = ()

    def encode(self) -> bytes:
        return _encode_reply(
            self.req_id, self.bv, encode_list([encode_bytes(c) for c in self.codes])
        )

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        req_id, bv, data = _open_reply(payload, "Code")
        return cls(req_id, bv, _items(data, "code", read_bytes))


@dataclass(frozen=True, slots=True)
class ProofReq:
    """``[blockHash, accountKey, key, fromLevel]``; account proofs have an empty accountKey."""

    block_hash: bytes
    account_key: bytes
    key: bytes
    from_level: int = 0

    def __post_init__(self) -> None:
        _hash(self.block_hash, "block hash")
        _uint64(self.from_level, "fromLevel")

    def encode(self) -> bytes:
        return encode_list(
            [
                encode_bytes(self.block_hash),
                encode_bytes(self.account_key),
                encode_bytes(self.key),
                encode_int(self.from_level),
            ]
        )

    @classmethod
    def read(cls, raw: bytes, what: str) -> ProofReq:
        block, account, key, level = read_struct(raw, 4, what)
        return cls(
            read_fixed(block, 32, f"{what}.blockHash"),
            read_bytes(account, f"{what}.accountKey"),
            read_bytes(key, f"{what}.key"),
            read_uint(level, f"{what}.fromLevel"),
        )


@dataclass(frozen=True, slots=True)
class GetProofsV2(Request):
    """``[reqID, [[blockHash, accountKey, key, fromLevel], ...]]``"""

    CODE: ClassVar[MsgCode] = MsgCode.GET_PROOFS_V2
    reqs: tuple[ProofReq, ...] = ()

    @property
    def count(self) -> int:
        return len(self.reqs)

    def encode(self) -> bytes:
        return _encode_request(self.req_id, encode_list([r.encode() for r in self.reqs]))

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        req_id, body = _open_request(payload, "GetProofsV2")
        return cls(req_id, _items(body, "GetProofsV2 entry", ProofReq.read))


def _read_node(raw: bytes, what: str) -> bytes:
    return whole_item(raw, what)


@dataclass(frozen=True, slots=True)
class ProofsV2(Reply):
    """``[reqID, BV, [node, ...]]``: one node set, each node its raw RLP embedded as is."""

    CODE: ClassVar[MsgCode] = MsgCode.PROOFS_V2
    nodes: tuple[bytes, ...] = ()

    def encode(self) -> bytes:
        return _encode_reply(self.req_id, self.bv, encode_list(list(self.nodes)))

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        req_id, bv, data = _open_reply(payload, "ProofsV2")
        return cls(req_id, bv, _items(data, "node", _read_node))


# ---------------------------------------------------------------- helper tries

HELPER_TRIE_CHT = 0
HELPER_TRIE_BLOOM = 1
AUX_HEADER = 2


@dataclass(frozen=True, slots=True)
class HelperTrieReq:
    """``[type, trieIdx, key, fromLevel, auxReq]``; type 0 = CHT, 1 = BloomTrie."""

    type: int
    trie_idx: int
    key: bytes
    from_level: int = 0
    aux_req: int = 0

    def __post_init__(self) -> None:
        for name in ("type", "trie_idx", "from_level", "aux_req"):
            _uint64(getattr(self, name), name)

    def encode(self) -> bytes:
        return encode_list(
            [
                encode_int(self.type),
                encode_int(self.trie_idx),
                encode_bytes(self.key),
                encode_int(self.from_level),
                encode_int(self.aux_req),
            ]
        )

    @classmethod
    def read(cls, raw: bytes, what: str) -> HelperTrieReq:
        kind, idx, key, level, aux = read_struct(raw, 5, what)
        return cls(
            read_uint(kind, f"{what}.type"),
            read_uint(idx, f"{what}.trieIdx"),
            read_bytes(key, f"{what}.key"),
            read_uint(level, f"{what}.fromLevel"),
            read_uint(aux, f"{what}.auxReq"),
        )


@dataclass(frozen=True, slots=True)
class GetHelperTrieProofs(Request):
    """``[reqID, [[type, trieIdx, key, fromLevel, auxReq], ...]]``"""

    CODE: ClassVar[MsgCode] = MsgCode.GET_HELPER_TRIE_PROOFS
    reqs: tuple[HelperTrieReq, ...] = ()

    @property
    def count(self) -> int:
        return len(self.reqs)

    def encode(self) -> bytes:
        return _encode_request(self.req_id, encode_list([r.encode() for r in self.reqs]))

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        req_id, body = _open_request(payload, "GetHelperTrieProofs")
        return cls(req_id, _items(body, "GetHelperTrieProofs entry", HelperTrieReq.read))


@dataclass(frozen=True, slots=True)
class HelperTrieProofs(Reply):
    """``[reqID, BV, [[node, ...], [auxData, ...]]]``; aux items are header RLP as strings."""

    CODE: ClassVar[MsgCode] = MsgCode.HELPER_TRIE_PROOFS
    nodes: tuple[bytes, ...] = ()
    aux_data: tuple[bytes, ...] = ()

    def encode(self) -> bytes:
        aux = encode_list([encode_bytes(a) for a in self.aux_data])
        return _encode_reply(
            self.req_id, self.bv, encode_list([encode_list(list(self.nodes)), aux])
        )

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        req_id, bv, data = _open_reply(payload, "HelperTrieProofs")
        nodes, aux = read_struct(data, 2, "HelperTrieProofs data")
        return cls(
            req_id, bv, _items(nodes, "node", _read_node), _items(aux, "auxData", read_bytes)
        )


# ---------------------------------------------------------------- transactions

LEGACY_TX_FIELDS = 9
TYPED_TX_TYPES = frozenset({1, 2})  # EIP-2930 and EIP-1559: what geth v1.11.6 decodes


def _read_tx(raw: bytes, what: str) -> bytes:
    """A transaction in consensus form: a legacy 9-field list or ``type || [fields]``."""
    if _is_list(raw):
        read_struct(raw, LEGACY_TX_FIELDS, f"{what} (legacy)")
        return raw
    envelope = read_bytes(raw, what)
    if not envelope:
        raise LesProtocolError(f"{what}: typed transaction too short")
    if envelope[0] not in TYPED_TX_TYPES:
        raise LesProtocolError(f"{what}: transaction type {envelope[0]} not supported")
    fields = envelope[1:]
    if not fields or not _is_list(fields):
        raise LesProtocolError(f"{what}: a typed transaction's payload is an RLP list")
    read_list(fields, what)
    return raw


@dataclass(frozen=True, slots=True)
class SendTxV2(Request):
    """``[reqID, [tx, ...]]``; each tx its consensus encoding (as an RLP item)."""

    CODE: ClassVar[MsgCode] = MsgCode.SEND_TX_V2
    txs: tuple[bytes, ...] = ()

    @property
    def count(self) -> int:
        return len(self.txs)

    def encode(self) -> bytes:
        return _encode_request(self.req_id, encode_list(list(self.txs)))

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        req_id, body = _open_request(payload, "SendTxV2")
        return cls(req_id, _items(body, "tx", _read_tx))


@dataclass(frozen=True, slots=True)
class TxLookup:
    """Where an included transaction is: ``[blockHash, blockNumber, txIndex]``."""

    block_hash: bytes
    block_number: int
    tx_index: int

    def __post_init__(self) -> None:
        _hash(self.block_hash, "block hash")
        _uint64(self.block_number, "block number")
        _uint64(self.tx_index, "tx index")

    def encode(self) -> bytes:
        return encode_list(
            [
                encode_bytes(self.block_hash),
                encode_int(self.block_number),
                encode_int(self.tx_index),
            ]
        )


TX_UNKNOWN, TX_QUEUED, TX_PENDING, TX_INCLUDED = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class TxStatusEntry:
    """``[status, lookup or c0, error]``; status 0 unknown, 1 queued, 2 pending, 3 included."""

    status: int
    lookup: TxLookup | None = None
    error: str = ""

    def __post_init__(self) -> None:
        _uint64(self.status, "tx status")

    def encode(self) -> bytes:
        lookup = self.lookup.encode() if self.lookup is not None else encode_list([])
        error = encode_bytes(self.error.encode("utf-8", "surrogateescape"))
        return encode_list([encode_int(self.status), lookup, error])

    @classmethod
    def read(cls, raw: bytes, what: str) -> TxStatusEntry:
        status, lookup_raw, error = read_struct(raw, 3, what)
        lookup = None
        if lookup_raw != b"\xc0":  # geth's rlp:"nil": only the empty list means nil
            block, number, index = read_struct(lookup_raw, 3, f"{what}.lookup")
            lookup = TxLookup(
                read_fixed(block, 32, f"{what}.blockHash"),
                read_uint(number, f"{what}.blockNumber"),
                read_uint(index, f"{what}.txIndex"),
            )
        text = read_bytes(error, f"{what}.error").decode("utf-8", "surrogateescape")
        return cls(read_uint(status, f"{what}.status"), lookup, text)


@dataclass(frozen=True, slots=True)
class TxStatus(Reply):
    """``[reqID, BV, [entry, ...]]``: the reply to SendTxV2 and GetTxStatus, in request order."""

    CODE: ClassVar[MsgCode] = MsgCode.TX_STATUS
    statuses: tuple[TxStatusEntry, ...] = ()

    def encode(self) -> bytes:
        return _encode_reply(self.req_id, self.bv, encode_list([s.encode() for s in self.statuses]))

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        req_id, bv, data = _open_reply(payload, "TxStatus")
        return cls(req_id, bv, _items(data, "TxStatus entry", TxStatusEntry.read))


# ---------------------------------------------------------------- Stop / Resume


@dataclass(frozen=True, slots=True)
class Stop:
    """StopMsg: geth sends ``c0`` and its client ignores the payload."""

    CODE: ClassVar[MsgCode] = MsgCode.STOP

    def encode(self) -> bytes:
        return encode_list([])

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        return cls()


@dataclass(frozen=True, slots=True)
class Resume:
    """ResumeMsg: a *bare* uint BV, not a list (a list is a decode error in geth)."""

    CODE: ClassVar[MsgCode] = MsgCode.RESUME
    bv: int

    def __post_init__(self) -> None:
        _uint64(self.bv, "BV")

    def encode(self) -> bytes:
        return encode_int(self.bv)

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        return cls(read_uint(first_item(payload, "ResumeMsg"), "ResumeMsg BV"))


# ---------------------------------------------------------------- dispatch


# Message code to decoder: every code LES/4 defines.
DECODERS: dict[MsgCode, Callable[[bytes], Message]] = {
    Status.CODE: Status.decode,
    Announce.CODE: Announce.decode,
    GetBlockHeaders.CODE: GetBlockHeaders.decode,
    BlockHeaders.CODE: BlockHeaders.decode,
    GetBlockBodies.CODE: GetBlockBodies.decode,
    BlockBodies.CODE: BlockBodies.decode,
    GetReceipts.CODE: GetReceipts.decode,
    Receipts.CODE: Receipts.decode,
    GetCode.CODE: GetCode.decode,
    Code.CODE: Code.decode,
    GetProofsV2.CODE: GetProofsV2.decode,
    ProofsV2.CODE: ProofsV2.decode,
    GetHelperTrieProofs.CODE: GetHelperTrieProofs.decode,
    HelperTrieProofs.CODE: HelperTrieProofs.decode,
    SendTxV2.CODE: SendTxV2.decode,
    GetTxStatus.CODE: GetTxStatus.decode,
    TxStatus.CODE: TxStatus.decode,
    Stop.CODE: Stop.decode,
    Resume.CODE: Resume.decode,
}


def decode_message(code: int, payload: bytes) -> Message:
    """Decode the payload of LES message ``code`` (relative to the LES offset).

    Raises ``ErrMsgTooLarge`` past 10 MiB, ``ErrInvalidMsgCode`` for a code LES/4 does
    not define (including the les/1 codes geth dropped), ``ErrDecode`` for bad RLP.
    Whether a side *accepts* a code is :func:`lightclient.les.codes.server_accepts` /
    ``client_accepts``.
    """
    if len(payload) > PROTOCOL_MAX_MSG_SIZE:
        raise LesProtocolError(
            f"message of {len(payload)} bytes > {PROTOCOL_MAX_MSG_SIZE}", kind="ErrMsgTooLarge"
        )
    try:
        decoder = DECODERS[MsgCode(code)]
    except (ValueError, KeyError):
        raise LesProtocolError(
            f"invalid message code {code:#x}", kind="ErrInvalidMsgCode"
        ) from None
    return decoder(payload)


def encode_message(message: Message) -> tuple[int, bytes]:
    """(code, payload) of a message, ready for the transport."""
    return int(message.CODE), message.encode()
