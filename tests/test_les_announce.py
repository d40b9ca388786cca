"""lightclient.les.announce: Announce layout (spec §5.1), signed announce (§5.3, derived
vector with EIP-8 key B from §1.10.1) and capacity updates (§7.6, derived vector)."""

from __future__ import annotations

import pytest
import rlp
from eth_keys.datatypes import PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from lightclient.core.keccak import keccak
from lightclient.errors import LesProtocolError
from lightclient.les.announce import (
    Announce,
    UpdateAllowance,
    block_info_digest,
    block_info_rlp,
    capacity_update,
    check_head_announce,
    cost_update,
    flow_params,
    sign_announce,
    verify_announce,
)
from lightclient.les.codec import encode_bytes, encode_int
from lightclient.les.codes import ANNOUNCE_NONE, ANNOUNCE_SIGNED, ANNOUNCE_SIMPLE
from lightclient.les.costs import CostTable, RequestCost
from lightclient.pool.clock import ManualClock

KEY_A = bytes.fromhex("49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee")
KEY_B = bytes.fromhex("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291")
NODE_A = bytes.fromhex("6469cc2093f39e9117071e660d3ab14bbad3d99f4203bd7a11acb94882050e7e")
NODE_B = bytes.fromhex("a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7")
BLOCK1 = bytes.fromhex("88e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb6")
TD1 = 34351349760

# spec §5.3
RLP_INFO = "e8a088e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb6018507ff800000"
DIGEST = "abdc5b6cd6ac4c4e612e6a87c5d9428312b069f1fcd559b69ff0b6388a5eac4f"
SIG = (
    "a8a511c26ec709ae55876a9b1f2f8e1c2fd85c85d26c130d27409f3710f52ab5"
    "000afef7e6ebb162d34aa912c0b29dc2ca0b7999322c2d0c4ebd3a28534a1d6700"
)
SIGNED = (
    "f875a088e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb6018507ff80000080"
    "f84af848847369676eb841a8a511c26ec709ae55876a9b1f2f8e1c2fd85c85d26c130d27409f3710f52ab5"
    "000afef7e6ebb162d34aa912c0b29dc2ca0b7999322c2d0c4ebd3a28534a1d6700"
)


def test_node_ids_of_the_keys() -> None:
    assert keccak(PrivateKey(KEY_B).public_key.to_bytes()) == NODE_B
    assert keccak(PrivateKey(KEY_A).public_key.to_bytes()) == NODE_A


def test_signed_announce_vector_from_spec() -> None:
    assert block_info_rlp(BLOCK1, 1, TD1).hex() == RLP_INFO
    assert block_info_digest(BLOCK1, 1, TD1).hex() == DIGEST
    signed = sign_announce(Announce(BLOCK1, 1, TD1), KEY_B)
    assert signed.update == (("sign", encode_bytes(bytes.fromhex(SIG))),)
    assert signed.encode().hex() == SIGNED
    assert Announce.decode(bytes.fromhex(SIGNED)) == signed
    verify_announce(signed, NODE_B)


def test_signature_from_another_key_is_wrong() -> None:
    with pytest.raises(LesProtocolError, match="wrong signature"):
        verify_announce(Announce.decode(bytes.fromhex(SIGNED)), NODE_A)
    # The signature does not cover a changed TD either.
    tampered = Announce(BLOCK1, 1, TD1 + 1, 0, Announce.decode(bytes.fromhex(SIGNED)).update)
    with pytest.raises(LesProtocolError):
        verify_announce(tampered, NODE_B)


def test_missing_or_malformed_signature() -> None:
    with pytest.raises(LesProtocolError) as info:
        verify_announce(Announce(BLOCK1, 1, TD1), NODE_B)
    assert info.value.kind == "ErrMissingKey"
    short = Announce(BLOCK1, 1, TD1, 0, (("sign", encode_bytes(bytes(64))),))
    with pytest.raises(LesProtocolError):
        verify_announce(short, NODE_B)


def test_capacity_update_vector_from_spec() -> None:
    # spec §7.6, capacity 32 000: zero head, MRR then BL = cap x 6000.
    expected = (
        "f84ea00000000000000000000000000000000000000000000000000000000000000000808080e9d38f"
        "666c6f77436f6e74726f6c2f4d5252827d00d48e666c6f77436f6e74726f6c2f424c840b71b000"
    )
    update = capacity_update(32_000)
    assert update.encode().hex() == expected
    assert not update.is_head
    assert flow_params(update.update) == (192_000_000, 32_000)


def test_flow_params_need_both_keys() -> None:
    assert flow_params((("flowControl/BL", encode_int(5)),)) is None
    assert flow_params((("flowControl/MRR", encode_int(5)),)) is None


def test_td_sanity_check_at_100_bits() -> None:
    Announce(BLOCK1, 1, 2**100 - 1).sanity_check()
    with pytest.raises(LesProtocolError, match="bitlen 101"):
        Announce(BLOCK1, 1, 2**100).sanity_check()


def _raw_list(*items: bytes) -> bytes:
    body = b"".join(items)
    assert len(body) < 56
    return bytes((0xC0 + len(body),)) + body


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (rlp.encode([bytes(31), 1, 0, 0, []]), "too short"),
        (rlp.encode([bytes(32), 1, 0, 0]), "too few"),
        (_raw_list(encode_bytes(bytes(32)), b"\x81\x01", b"\x80", b"\x80", b"\xc0"), "prefix"),
        (_raw_list(encode_bytes(bytes(32)), b"\x00", b"\x80", b"\x80", b"\xc0"), "leading"),
        (rlp.encode([bytes(32), 1, 0, 0, [[b"a", b"b", b"c"]]]), "too many"),
        (rlp.encode([bytes(32), 1, 0, 0, b""]), "expected a list"),
    ],
)
def test_announce_decoding_is_strict(payload: bytes, problem: str) -> None:
    with pytest.raises(LesProtocolError, match=problem):
        Announce.decode(payload)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.binary(min_size=32, max_size=32),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**128),
    st.integers(0, 2**64 - 1),
    st.lists(st.tuples(st.text("abcsign/", max_size=12), st.binary(max_size=70)), max_size=4),
)
def test_announce_round_trip(
    head: bytes, number: int, td: int, depth: int, update: list[tuple[str, bytes]]
) -> None:
    entries = tuple((k, encode_bytes(v)) for k, v in update)
    announce = Announce(head, number, td, depth, entries)
    assert Announce.decode(announce.encode()) == announce


def test_flow_params_that_do_not_decode_are_ignored_not_fatal() -> None:
    update = (("flowControl/BL", b"\x00"), ("flowControl/MRR", encode_int(5)))
    assert flow_params(update) is None


def test_cost_update_merges_only_known_codes() -> None:
    mrc = CostTable({0x02: RequestCost(1, 2), 0x20: RequestCost(3, 4)}).encode()
    table = cost_update((("flowControl/MRC", mrc),), 24)
    assert table is not None and dict(table) == {0x02: RequestCost(1, 2)}
    assert cost_update((("flowControl/MRC", b"\x80"),), 24) is None
    assert cost_update((), 24) is None


def test_head_announce_checks_follow_the_announce_type() -> None:
    signed = Announce.decode(bytes.fromhex(SIGNED))
    plain = Announce(BLOCK1, 1, TD1)
    check_head_announce(plain, ANNOUNCE_SIMPLE, NODE_B)  # simple: no signature needed
    check_head_announce(signed, ANNOUNCE_SIGNED, NODE_B)
    with pytest.raises(LesProtocolError) as info:
        check_head_announce(plain, ANNOUNCE_NONE, NODE_B)
    assert info.value.kind == "ErrUnexpectedResponse"
    with pytest.raises(LesProtocolError):
        check_head_announce(plain, ANNOUNCE_SIGNED, NODE_B)
    # A parameter update (zero hash) is fine whatever was asked for.
    check_head_announce(capacity_update(1), ANNOUNCE_NONE, NODE_B)


def test_update_allowance_recharges_a_byte_per_10_ms() -> None:
    clock = ManualClock()
    allowance = UpdateAllowance(clock)
    assert not allowance.reject(100_000)
    assert allowance.reject(1)  # 100 001 > 100 000
    clock.run(20_000_000)  # 20 ms: 2 bytes back
    assert not allowance.reject(1)  # 100 001 - 2 + 1 = 100 000
    assert allowance.reject(1)
