"""devp2p base protocol encoding: Hello, Disconnect, capability offsets (spec §2, vectors §2.7)."""

from __future__ import annotations

import pytest
import rlpx_vectors as v

from lightclient.core.rlpcodec import encode_bytes, encode_int, encode_list
from lightclient.errors import RlpxError
from lightclient.rlpx import snappy
from lightclient.rlpx.p2p import (
    Capability,
    DisconnectReason,
    Hello,
    Protocol,
    ProtocolSlot,
    decode_disconnect,
    encode_disconnect,
    match_protocols,
)


def test_eip8_hello_with_version_bump_and_extra_fields() -> None:
    # spec §2.7, verbatim from EIP-8: version 0x37, three extra elements, must be accepted
    hello = Hello.decode(v.EIP8_HELLO)
    assert hello.version == 55
    assert hello.client_id == "kneth/v0.91/plan9"
    assert hello.capabilities == (Capability("eth", 61), Capability("mork", 22))
    assert hello.listen_port == 9999
    assert hello.node_pubkey == v.PUB_A
    assert hello.rest == ([b"foo", b"bar"], b"\x03", b"\x04")
    assert hello.encode() == v.EIP8_HELLO  # the extras re-encode to the same bytes


def test_hello_payload_of_frame_vector() -> None:
    # spec §1.10.4(b): rlp([5, "test", [["les", 4]], 0, pubB])
    hello = Hello(5, "test", (Capability("les", 4),), 0, v.PUB_B)
    assert hello.encode() == v.B_HELLO_PAYLOAD
    assert Hello.decode(v.B_HELLO_PAYLOAD) == hello


def test_hello_sorts_capabilities_by_name_then_version() -> None:
    hello = Hello(
        5, "x", (Capability("snap", 1), Capability("les", 4), Capability("les", 2)), 0, v.PUB_A
    )
    assert Hello.decode(hello.encode()).capabilities == (
        Capability("les", 2),
        Capability("les", 4),
        Capability("snap", 1),
    )


def test_hello_trailing_bytes_after_the_value_are_ignored() -> None:
    # spec §0: geth's Msg.Decode reads one value and ignores what follows
    assert Hello.decode(v.B_HELLO_PAYLOAD + b"\x01\x02").client_id == "test"


def _hello_items(caps: bytes, version: bytes = b"\x05") -> bytes:
    return encode_list([version, encode_bytes(b"t"), caps, encode_int(0), encode_bytes(v.PUB_A)])


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (bytes(2049), "too large"),
        (encode_list([encode_int(5), encode_bytes(b""), encode_list([])]), "too few"),
        (Hello(5, "t", (), 0, v.PUB_A).encode()[:-1], "RLP"),
        (_hello_items(encode_list([encode_list([encode_list([]), encode_int(5)])])), "capability"),
        (_hello_items(encode_list([encode_list([encode_bytes(b"les")])])), "capability"),
        (_hello_items(encode_list([]), version=b"\x00"), "non-canonical"),
    ],
    ids=["oversize", "short", "truncated", "cap-name-list", "cap-one-item", "version-00"],
)
def test_bad_hellos(payload: bytes, match: str) -> None:
    with pytest.raises(RlpxError, match=match) as info:
        Hello.decode(payload)
    assert info.value.reason == DisconnectReason.NETWORK_ERROR  # geth: plain error, no Disconnect


def test_disconnect_encodings() -> None:
    # spec §2.7: derived small payloads
    assert encode_disconnect(0) == bytes.fromhex("c180")
    assert encode_disconnect(DisconnectReason.TOO_MANY_PEERS) == bytes.fromhex("c104")
    assert encode_disconnect(DisconnectReason.SUBPROTOCOL_ERROR) == bytes.fromhex("c110")


@pytest.mark.parametrize(
    ("payload", "compressed", "reason"),
    [
        (bytes.fromhex("c104"), False, 4),
        (snappy.compress(bytes.fromhex("c104")), True, 4),
        (bytes.fromhex("c180"), False, 0),
        (bytes.fromhex("c110"), True, 0x10),  # geth form but not compressed: still read
        (bytes.fromhex("0b"), True, 0x0B),  # ethereumjs: bare uint, uncompressed (spec §8.1 #3)
        (bytes.fromhex("04"), False, 4),
        (b"", True, 0),
        (bytes.fromhex("ff"), False, 0),  # garbage counts as 0, as geth
    ],
)
def test_disconnect_decoding_is_tolerant(payload: bytes, compressed: bool, reason: int) -> None:
    assert decode_disconnect(payload, compressed=compressed) == reason


GETH_SERVER = [Capability(n, ver) for n, ver in [("eth", 66), ("eth", 67), ("eth", 68)]] + [
    Capability("les", 2),
    Capability("les", 3),
    Capability("les", 4),
    Capability("snap", 1),
]


def test_only_les4_shared_takes_0x10() -> None:
    # spec §2.1 example: a peer offering only les/4 to a geth server
    ours = [Protocol("les", 4, 24)]
    assert match_protocols(ours, GETH_SERVER) == [ProtocolSlot("les", 4, 0x10, 24)]


def test_eth_sorts_before_les_and_only_the_highest_version_is_kept() -> None:
    # spec §2.1: sorted by name; a lower version's codes are given back
    ours = [
        Protocol("les", 4, 24),
        Protocol("les", 3, 24),
        Protocol("eth", 68, 17),
        Protocol("eth", 67, 17),
    ]
    assert match_protocols(ours, GETH_SERVER) == [
        ProtocolSlot("eth", 68, 0x10, 17),
        ProtocolSlot("les", 4, 0x21, 24),
    ]


def test_no_shared_version_no_slot() -> None:
    assert match_protocols([Protocol("les", 5, 24)], GETH_SERVER) == []
    assert match_protocols([Protocol("les", 4, 24)], [Capability("LES", 4)]) == []
