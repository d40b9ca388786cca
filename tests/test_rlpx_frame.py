"""RLPx framing (spec §1.7-1.8, vectors §1.10.4) and Snappy (spec §2.5)."""

from __future__ import annotations

import coincurve
import pytest
import rlpx_vectors as v
from hypothesis import given, settings
from hypothesis import strategies as st

from lightclient.core.keccak import keccak, keccak_state
from lightclient.errors import RlpxError
from lightclient.rlpx import snappy
from lightclient.rlpx.frame import HEADER_SIZE, FrameCodec, split_code
from lightclient.rlpx.handshake import Initiator, Recipient, Secrets, derive_secrets


class StubMac:
    """geth TestFrameReadWrite's fake hash: ignores input, always 32 bytes of 01."""

    def update(self, data: bytes, /) -> None:
        pass

    def digest(self) -> bytes:
        return b"\x01" * 32


def _vector_secrets(initiator: bool) -> Secrets:
    return derive_secrets(
        initiator=initiator,
        ephemeral=coincurve.PrivateKey(v.EPH_A if initiator else v.EPH_B),
        remote_ephemeral=v.EPH_PUB_B if initiator else v.EPH_PUB_A,
        initiator_nonce=v.NONCE_A,
        recipient_nonce=v.NONCE_B,
        auth_packet=v.AUTH2,
        ack_packet=v.ACK2,
        remote_pubkey=v.PUB_B if initiator else v.PUB_A,
    )


def _decode(codec: FrameCodec, wire: bytes) -> tuple[int, bytes]:
    need = codec.decode_header(wire[:HEADER_SIZE])
    assert need == len(wire) - HEADER_SIZE
    return codec.decode_body(wire[HEADER_SIZE:])


def _pair() -> tuple[FrameCodec, FrameCodec]:
    key_a, key_b = coincurve.PrivateKey(), coincurve.PrivateKey()
    initiator = Initiator(key_a, key_b.public_key.format(compressed=False)[1:])
    recipient = Recipient(key_b)
    recipient.handle_auth(initiator.auth_packet())
    a = initiator.complete(recipient.ack_packet())
    return FrameCodec(a), FrameCodec(recipient.secrets())


def test_geth_frame_read_write_vector() -> None:
    # spec §1.10.4(a), verbatim from geth p2p/rlpx/rlpx_test.go TestFrameReadWrite
    empty = keccak(b"")

    def secrets() -> Secrets:
        return Secrets(empty, empty, StubMac(), StubMac(), v.PUB_A)

    wire = FrameCodec(secrets()).encode(8, bytes.fromhex("c401020304"))
    assert wire == v.GETH_FRAME
    assert _decode(FrameCodec(secrets()), wire) == (8, bytes.fromhex("c401020304"))


def test_b_frames_after_the_eip8_handshake() -> None:
    # spec §1.10.4(b): B's first two frames after (Auth2, Ack2), real MACs, checked by ethereumjs
    b = FrameCodec(_vector_secrets(initiator=False))
    assert b.encode(0, v.B_HELLO_PAYLOAD) == v.B_FRAME1_HELLO
    assert b.encode(2, bytes.fromhex("0100c0")) == v.B_FRAME2_PING
    a = FrameCodec(_vector_secrets(initiator=True))
    assert _decode(a, v.B_FRAME1_HELLO) == (0, v.B_HELLO_PAYLOAD)
    assert _decode(a, v.B_FRAME2_PING) == (2, bytes.fromhex("0100c0"))


def test_frames_out_of_order_fail_the_mac() -> None:
    # the keystream and MAC state run on: frame 2 cannot be read first
    a = FrameCodec(_vector_secrets(initiator=True))
    with pytest.raises(RlpxError, match="bad header MAC"):
        a.decode_header(v.B_FRAME2_PING[:HEADER_SIZE])


@pytest.mark.parametrize("where", [0, 20, 40, 143], ids=["header", "hmac", "body", "fmac"])
def test_a_flipped_bit_is_a_bad_mac(where: int) -> None:
    a = FrameCodec(_vector_secrets(initiator=True))
    wire = bytearray(v.B_FRAME1_HELLO)
    wire[where] ^= 0x80
    with pytest.raises(RlpxError, match=r"bad (header|frame) MAC") as info:
        _decode(a, bytes(wire))
    assert info.value.reason == 0x01  # a read error: geth drops without a Disconnect


def test_frame_size_limit_is_checked_from_the_header() -> None:
    sender, receiver = _pair()
    receiver.max_frame_size = 100
    wire = sender.encode(0x10, bytes(200))
    with pytest.raises(RlpxError, match="frame size 201 above the limit 100"):
        receiver.decode_header(wire[:HEADER_SIZE])


def test_sending_16_mib_is_refused() -> None:
    sender, _ = _pair()
    with pytest.raises(RlpxError, match="16MB"):
        sender.encode(0x10, bytes(0xFFFFFF))  # one code byte makes it 0x1000000
    assert len(sender.encode(0x10, bytes(0xFFFFFE))) == 32 + 0x1000000 + 16


@pytest.mark.parametrize(
    ("data", "expect"),
    [
        (b"\x80\xc0", (0, b"\xc0")),
        (b"\x10", (0x10, b"")),
        (b"\x81\x80", (0x80, b"")),
        (b"\x88" + b"\xff" * 8, ((1 << 64) - 1, b"")),
    ],
)
def test_split_code_canonical(data: bytes, expect: tuple[int, bytes]) -> None:
    assert split_code(data) == expect


@pytest.mark.parametrize(
    "data", [b"", b"\x00", b"\x81\x05", b"\x82\x00\x80", b"\x89" + bytes(9), b"\xc0", b"\x82\x01"]
)
def test_split_code_rejects_what_geth_rejects(data: bytes) -> None:
    with pytest.raises(RlpxError, match="invalid message code"):
        split_code(data)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    messages=st.lists(
        st.tuples(st.integers(0, 2**64 - 1), st.binary(max_size=300)), min_size=1, max_size=5
    )
)
def test_frames_round_trip(messages: list[tuple[int, bytes]]) -> None:
    a, b = _pair()
    for code, payload in messages:
        wire = a.encode(code, payload)
        assert len(wire) % 16 == 0 and len(wire) >= 64
        assert _decode(b, wire) == (code, payload)
        assert _decode(a, b.encode(code, payload)) == (code, payload)


def test_keccak_state_reads_without_finalising() -> None:
    state = keccak_state(b"ab")
    assert state.digest() == keccak(b"ab")
    state.update(b"c")
    assert state.digest() == keccak(b"abc")


def test_snappy_ping_vector_and_round_trip() -> None:
    # spec §2.7: Ping/Pong payload c0 compresses to 0100c0
    assert snappy.compress(b"\xc0") == bytes.fromhex("0100c0")
    assert snappy.decompress(bytes.fromhex("0100c0")) == b"\xc0"
    data = bytes(range(256)) * 50
    assert snappy.decompress(snappy.compress(data)) == data


def test_snappy_length_header_bounded_before_decompressing() -> None:
    # spec §2.5: a declared length above 0xFFFFFF is refused from the varint alone
    bomb = bytes.fromhex("8080808001")  # declares 2^28 bytes, carries none
    assert snappy.decoded_length(bomb) == 1 << 28
    with pytest.raises(RlpxError, match="above the limit"):
        snappy.decompress(bomb)
    with pytest.raises(RlpxError, match="above the limit 10"):
        snappy.decompress(snappy.compress(bytes(11)), limit=10)


@pytest.mark.parametrize("data", [b"", b"\xff\xff\xff\xff\xff\xff", b"\x05\x00ab", b"\x03\x08a"])
def test_snappy_corrupt_input(data: bytes) -> None:
    with pytest.raises(RlpxError, match="snappy"):
        snappy.decompress(data)
