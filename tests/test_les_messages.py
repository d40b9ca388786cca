"""lightclient.les.messages: every LES/4 message (spec §4.5, §4.6). The vectors in
test_spec_vectors are the spec's §4.8 table ("derived by me from the encoding rules" in
/work/shared/spec/les-wire.md); round trips and rejections follow the §0 rules."""

from __future__ import annotations

from typing import Any, TypeVar

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from lightclient.core.keccak import keccak
from lightclient.errors import LesProtocolError
from lightclient.les.announce import Announce
from lightclient.les.codec import encode_bytes, encode_int, encode_list
from lightclient.les.codes import MsgCode
from lightclient.les.messages import (
    DECODERS,
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
    Resume,
    SendTxV2,
    Stop,
    TxLookup,
    TxStatus,
    TxStatusEntry,
    decode_message,
    encode_message,
)

BLOCK1 = bytes.fromhex("88e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb6")
ACCOUNT0 = keccak(bytes(20))

SPEC_VECTORS: list[tuple[Message, str]] = [
    (GetBlockHeaders(7, 0, 1), "c607c480018080"),
    (
        GetBlockHeaders(8, BLOCK1, 192, 0, True),
        "e708e5a088e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb681c08001",
    ),
    (BlockHeaders(7, 96_000_000), "c7078405b8d800c0"),
    (
        GetBlockBodies(9, (BLOCK1,)),
        "e309e1a088e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb6",
    ),
    (
        GetHelperTrieProofs(10, (HelperTrieReq(0, 0, (32767).to_bytes(8, "big"), 0, 2),)),
        "d00acecd8080880000000000007fff8002",
    ),
    (
        GetHelperTrieProofs(11, (HelperTrieReq(1, 0, (5).to_bytes(2, "big") + bytes(8)),)),
        "d20bd0cf01808a000500000000000000008080",
    ),
    (
        GetProofsV2(12, (ProofReq(BLOCK1, b"", ACCOUNT0, 0),)),
        "f8490cf846f844a088e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb680a0"
        "5380c7b7ae81a58eb98d9c78de4a1fd7fd9535fc953ed2be602daaa41767312a80",
    ),
    (
        GetCode(13, (CodeReq(BLOCK1, ACCOUNT0),)),
        "f8470df844f842a088e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb6a0"
        "5380c7b7ae81a58eb98d9c78de4a1fd7fd9535fc953ed2be602daaa41767312a",
    ),
    (
        TxStatus(14, 96_000_000, (TxStatusEntry(0), TxStatusEntry(3, TxLookup(BLOCK1, 1, 0)))),
        "f20e8405b8d800ebc380c080e603e3a088e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc"
        "119f13406cb6018080",
    ),
    (Stop(), "c0"),
    (Resume(96_000_000), "8405b8d800"),
]


@pytest.mark.parametrize(("message", "raw"), SPEC_VECTORS, ids=lambda v: type(v).__name__)
def test_spec_vectors(message: Message, raw: str) -> None:
    assert message.encode().hex() == raw
    assert decode_message(message.CODE, bytes.fromhex(raw)) == message


def test_account_key_is_keccak_of_address() -> None:
    assert ACCOUNT0.hex().startswith("5380c7b7")  # as in the spec's GetProofsV2 vector


# ---------------------------------------------------------------- origin


def test_origin_zero_hash_means_block_zero() -> None:
    raw = rlp.encode([1, [bytes(32), 1, 0, False]])
    assert GetBlockHeaders.decode(raw).origin == 0
    assert GetBlockHeaders(1, bytes(32), 1).encode() == GetBlockHeaders(1, 0, 1).encode()


@pytest.mark.parametrize("origin", [bytes(9), bytes(31), bytes(33), [b"\x01"]])
def test_origin_of_other_sizes_is_refused(origin: Any) -> None:
    with pytest.raises(LesProtocolError):
        GetBlockHeaders.decode(rlp.encode([1, [origin, 1, 0, False]]))


def test_origin_number_must_be_canonical() -> None:
    with pytest.raises(LesProtocolError, match="leading zero"):
        GetBlockHeaders.decode(rlp.encode([1, [b"\x00\x05", 1, 0, False]]))


@pytest.mark.parametrize(
    "payload",
    [
        rlp.encode([1, [5, 1, 0]]),  # query with three fields
        rlp.encode([1, [5, 1, 0, 0, 0]]),  # five fields
        rlp.encode([1, [5, 1, 0, 2]]),  # reverse = 2
        rlp.encode([1, [5, 1, 0, b"\x00"]]),  # reverse = 00
        rlp.encode([1, [5, 1, 0, False], 9]),  # extra envelope field
        rlp.encode([2**64, [5, 1, 0, False]]),  # reqID past uint64
        rlp.encode([b"\x00\x01", [5, 1, 0, False]]),  # non-canonical reqID
        rlp.encode(b"not a list"),
        b"",
    ],
)
def test_get_block_headers_rejections(payload: bytes) -> None:
    with pytest.raises(LesProtocolError) as info:
        decode_message(MsgCode.GET_BLOCK_HEADERS, payload)
    assert info.value.kind == "ErrDecode" and info.value.disconnect == 0x10


def test_trailing_bytes_after_the_message_are_ignored() -> None:
    raw = GetBlockHeaders(7, 0, 1).encode()
    assert GetBlockHeaders.decode(raw + b"\xff\x00") == GetBlockHeaders(7, 0, 1)


def test_over_limit_counts_decode_and_are_left_to_the_count_rule() -> None:
    # geth drops such requests silently (no disconnect), so decoding must not fail.
    big = GetBlockBodies(1, tuple(bytes([i]) * 32 for i in range(40)))
    assert GetBlockBodies.decode(big.encode()).count == 40
    assert GetBlockHeaders.decode(GetBlockHeaders(1, 0, 10_000).encode()).count == 10_000


# ---------------------------------------------------------------- replies


def _header(number: int) -> bytes:
    fields: list[Any] = [bytes(32), bytes(32), bytes(20), bytes(32), bytes(32), bytes(32)]
    fields += [bytes(256), 1, number, 8_000_000, 0, 1_438_269_988, b"", bytes(32), bytes(8)]
    raw: bytes = rlp.encode(fields)
    return raw


def test_block_headers_checks_each_header() -> None:
    reply = BlockHeaders(1, 5, (_header(1), _header(2)))
    assert BlockHeaders.decode(reply.encode()) == reply
    bad = rlp.encode([1, 5, [rlp.decode(_header(1))[:14]]])  # 14 fields
    with pytest.raises(LesProtocolError):
        BlockHeaders.decode(bad)
    with pytest.raises(LesProtocolError):
        BlockHeaders.decode(rlp.encode([1, 5, [b"not a header"]]))


def test_block_bodies_shape() -> None:
    shanghai = rlp.encode([[], [], []])
    reply = BlockBodies(1, 2, (rlp.encode([[], []]), shanghai))
    assert BlockBodies.decode(reply.encode()) == reply
    bodies: list[list[Any]] = [[[]], [[], [], [], []], [b"", []]]
    for body in bodies:
        with pytest.raises(LesProtocolError):
            BlockBodies.decode(rlp.encode([1, 2, [body]]))


def test_tx_status_lookup_nil_is_only_the_empty_list() -> None:
    with pytest.raises(LesProtocolError):
        TxStatus.decode(rlp.encode([1, 2, [[0, b"", b""]]]))
    entry = TxStatus.decode(rlp.encode([1, 2, [[2, [], b"pool full"]]])).statuses[0]
    assert entry == TxStatusEntry(2, None, "pool full")


def test_resume_is_a_bare_uint_not_a_list() -> None:
    assert Resume.decode(bytes.fromhex("8405b8d800")).bv == 96_000_000
    with pytest.raises(LesProtocolError):
        Resume.decode(bytes.fromhex("c58405b8d800"))


def test_stop_payload_is_ignored() -> None:
    assert Stop.decode(b"\xc1\x80") == Stop() == Stop.decode(b"")


def test_send_tx_shapes() -> None:
    legacy = rlp.encode([0, 1, 21000, bytes(20), 0, b"", 27, 1, 1])
    typed = encode_bytes(b"\x02" + rlp.encode([1, 0, 1, 1, 21000, bytes(20), 0, b"", [], 0, 1, 1]))
    msg = SendTxV2(3, (legacy, typed))
    assert SendTxV2.decode(msg.encode()) == msg
    bad = [
        rlp.encode([0, 1, 21000]),  # legacy with 3 fields
        encode_bytes(b""),  # empty typed tx
        encode_bytes(b"\x05" + rlp.encode([])),  # unknown type
        encode_bytes(b"\x02\x80"),  # payload not a list
    ]
    for tx in bad:
        with pytest.raises(LesProtocolError):
            SendTxV2.decode(encode_list([encode_int(3), encode_list([tx])]))


# ---------------------------------------------------------------- dispatch


def test_every_code_has_a_decoder() -> None:
    assert set(DECODERS) == set(MsgCode)


@pytest.mark.parametrize("code", [0x08, 0x09, 0x0C, 0x0D, 0x0E, 0x18, 0xFF])
def test_undefined_and_les1_codes_are_invalid(code: int) -> None:
    with pytest.raises(LesProtocolError) as info:
        decode_message(code, b"\xc0")
    assert info.value.kind == "ErrInvalidMsgCode"


def test_message_size_limit() -> None:
    with pytest.raises(LesProtocolError) as info:
        decode_message(MsgCode.STOP, bytes(10 * 1024 * 1024 + 1))
    assert info.value.kind == "ErrMsgTooLarge"


def test_encode_message() -> None:
    assert encode_message(Resume(1)) == (0x17, b"\x01")


# ---------------------------------------------------------------- round trips

U64 = st.integers(0, 2**64 - 1)
HASH = st.binary(min_size=32, max_size=32)
BLOB = st.binary(max_size=80)
T = TypeVar("T")


def tup(elements: st.SearchStrategy[T]) -> st.SearchStrategy[tuple[T, ...]]:
    return st.lists(elements, max_size=5).map(tuple)


NESTED = st.recursive(BLOB, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
RAW_LIST = st.lists(NESTED, max_size=3).map(rlp.encode)
LEGACY_TX = st.lists(BLOB, min_size=9, max_size=9).map(rlp.encode)
TYPED_TX = st.tuples(st.sampled_from([1, 2]), st.lists(BLOB, max_size=4)).map(
    lambda t: encode_bytes(bytes([t[0]]) + rlp.encode(t[1]))
)
BODY = st.lists(st.lists(NESTED, max_size=2), min_size=2, max_size=3).map(rlp.encode)
ENTRY = st.builds(
    TxStatusEntry,
    st.integers(0, 3),
    st.none() | st.builds(TxLookup, HASH, U64, U64),
    st.text(max_size=20),
)

MESSAGES = st.one_of(
    st.builds(GetBlockHeaders, U64, U64 | HASH.filter(any), U64, U64, st.booleans()),
    st.builds(BlockHeaders, U64, U64, tup(st.integers(0, 2**64 - 1).map(_header))),
    st.builds(GetBlockBodies, U64, tup(HASH)),
    st.builds(BlockBodies, U64, U64, tup(BODY)),
    st.builds(GetReceipts, U64, tup(HASH)),
    st.builds(
        Receipts,
        U64,
        U64,
        tup(tup(RAW_LIST | BLOB.map(encode_bytes))),
    ),
    st.builds(GetCode, U64, tup(st.builds(CodeReq, HASH, BLOB))),
    st.builds(Code, U64, U64, tup(BLOB)),
    st.builds(GetProofsV2, U64, tup(st.builds(ProofReq, HASH, BLOB, BLOB, U64))),
    st.builds(ProofsV2, U64, U64, tup(RAW_LIST)),
    st.builds(
        GetHelperTrieProofs,
        U64,
        tup(st.builds(HelperTrieReq, U64, U64, BLOB, U64, U64)),
    ),
    st.builds(
        HelperTrieProofs,
        U64,
        U64,
        tup(RAW_LIST),
        tup(BLOB),
    ),
    st.builds(SendTxV2, U64, tup(LEGACY_TX | TYPED_TX)),
    st.builds(GetTxStatus, U64, tup(HASH)),
    st.builds(TxStatus, U64, U64, tup(ENTRY)),
    st.builds(Resume, U64),
    st.just(Stop()),
    st.builds(Announce, HASH, U64, st.integers(0, 2**100), U64),
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(MESSAGES)
def test_round_trip_every_message(message: Message) -> None:
    code, payload = encode_message(message)
    assert decode_message(code, payload) == message
    assert rlp.decode(payload) is not None  # a well-formed RLP value, per pyrlp too


@settings(max_examples=300, deadline=None, derandomize=True)
@given(MESSAGES)
def test_non_canonical_request_id_is_refused(message: Message) -> None:
    # The request ID re-encoded with a leading zero byte is never canonical.
    code, payload = encode_message(message)
    if code in (MsgCode.STOP, MsgCode.RESUME, MsgCode.ANNOUNCE):
        return
    items = rlp.decode(payload)
    req_id = int.from_bytes(items[0], "big")
    items[0] = b"\x00" + req_id.to_bytes(max(1, (req_id.bit_length() + 7) // 8), "big")
    with pytest.raises(LesProtocolError):
        decode_message(code, rlp.encode(items))
