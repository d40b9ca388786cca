"""Ethash headers: real mainnet seals (blocks 0-2), mined low-difficulty seals, each rule
broken in turn and refused by block; the difficulty formula against py-evm's per fork."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import ethash
import pytest
from eth.vm.forks.byzantium.headers import compute_difficulty
from eth.vm.forks.homestead.headers import compute_homestead_difficulty
from hypothesis import given, settings
from hypothesis import strategies as st

from lightclient.consensus import (
    KNOWN_CONFIGS,
    ConsensusConfig,
    EthashEngine,
    HeaderFields,
    header_fields,
    verify_chain,
)
from lightclient.consensus.ethash import seal_hash, verify_seal
from lightclient.consensus.fields import EMPTY_UNCLE_HASH
from lightclient.consensus.rules import MINIMUM_DIFFICULTY, calc_difficulty
from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import encode_bytes, encode_list, int_to_min_bytes, split_list
from lightclient.errors import ConsensusError, LightClientError

# Mainnet's genesis and blocks 1 and 2; they hash to geth's known values (checked below).
GENESIS = bytes.fromhex(
    "f90214a00000000000000000000000000000000000000000000000000000000000000000a01dcc4de8dec75d7a"
    "ab85b567b6ccd41ad312451b948a7413f0a142fd40d49347940000000000000000000000000000000000000000"
    "a0d7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544a056e81f171bcc55a6ff8345"
    "e692c0f86e5b48e01b996cadc001622fb5e363b421a056e81f171bcc55a6ff8345e692c0f86e5b48e01b996cad"
    "c001622fb5e363b421b90100" + "00" * 256 + "850400000000808213888080a011bbe8db4e347b4e8c937c1c"
    "8370e4b5ed33adb3db69cbdb7a38e1e50b1b82faa0000000000000000000000000000000000000000000000000"
    "0000000000000000880000000000000042"
)
BLOCK1 = bytes.fromhex(
    "f90211a0d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3a01dcc4de8dec75d7a"
    "ab85b567b6ccd41ad312451b948a7413f0a142fd40d493479405a56e2d52c817161883f50c441c3228cfe54d9f"
    "a0d67e4d450343046425ae4271474353857ab860dbc0a1dde64b41b5cd3a532bf3a056e81f171bcc55a6ff8345"
    "e692c0f86e5b48e01b996cadc001622fb5e363b421a056e81f171bcc55a6ff8345e692c0f86e5b48e01b996cad"
    "c001622fb5e363b421b90100" + "00" * 256 + "8503ff80000001821388808455ba422499476574682f7631"
    "2e302e302f6c696e75782f676f312e342e32a0969b900de27b6ac6a67742365dd65f55a0526c41fd18e1b16f1a"
    "1215c2e66f5988539bd4979fef1ec4"
)
BLOCK2 = bytes.fromhex(
    "f90218a088e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb6a01dcc4de8dec75d7a"
    "ab85b567b6ccd41ad312451b948a7413f0a142fd40d4934794dd2f1e6e498202e86d8f5442af596580a4f03c2c"
    "a04943d941637411107494da9ec8bc04359d731bfd08b72b4d0edcbd4cd2ecb341a056e81f171bcc55a6ff8345"
    "e692c0f86e5b48e01b996cadc001622fb5e363b421a056e81f171bcc55a6ff8345e692c0f86e5b48e01b996cad"
    "c001622fb5e363b421b90100" + "00" * 256 + "8503ff00100002821388808455ba4241a0476574682f7631"
    "2e302e302d30636463373634372f6c696e75782f676f312e34a02f0790c5aa31ab94195e1f6443d645af5b75c4"
    "6c04fbf9911711198a0ce8fdda88b853fa261a86aa9e"
)
MAINNET = KNOWN_CONFIGS["mainnet"]
# Field positions in the header list.
DIFFICULTY, NUMBER, GAS_LIMIT, GAS_USED, TIME, EXTRA, MIX, NONCE = 7, 8, 9, 10, 11, 12, 13, 14


def patch(raw: bytes, **changes: bytes | int) -> bytes:
    """The header with fields replaced (ints as minimal big-endian bytes)."""
    names = {"difficulty": DIFFICULTY, "number": NUMBER, "gas_limit": GAS_LIMIT,
             "gas_used": GAS_USED, "timestamp": TIME, "extra": EXTRA, "mix": MIX,
             "nonce": NONCE, "parent": 0}  # fmt: skip
    fields = split_list(raw)
    for name, value in changes.items():
        fields[names[name]] = int_to_min_bytes(value) if isinstance(value, int) else value
    return encode_list([encode_bytes(f) for f in fields])


def refused(
    parent: bytes, headers: list[bytes], config: ConsensusConfig = MAINNET
) -> ConsensusError:
    with pytest.raises(ConsensusError) as info:
        verify_chain(parent, headers, EthashEngine(), config)
    assert isinstance(info.value, LightClientError)
    return info.value


def test_the_vectors_are_mainnets_blocks() -> None:
    hashes = [keccak(raw).hex() for raw in (GENESIS, BLOCK1, BLOCK2)]
    assert hashes == [
        "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3",
        "88e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb6",
        "b495a1d7e6663152ae92708da4843337b958146015a2802f4193a410044698c9",
    ]


def test_mainnet_blocks_1_and_2_verify_with_their_real_seals() -> None:
    verify_chain(GENESIS, [BLOCK1, BLOCK2], EthashEngine(), MAINNET)
    verify_chain(BLOCK1, [BLOCK2], EthashEngine(), MAINNET)


def test_seal_check_time_on_block_1() -> None:
    header = header_fields(BLOCK1)
    verify_seal(header)  # builds (or reuses) epoch 0's light cache
    start = time.perf_counter()
    for _ in range(20):
        verify_seal(header)
    per_header = (time.perf_counter() - start) / 20
    assert per_header < 0.1  # measured ~3 ms on this machine


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"nonce": bytes.fromhex("539bd4979fef1ec5")}, "errInvalidMixDigest"),
        ({"mix": bytes(32)}, "errInvalidMixDigest"),
        ({"difficulty": 17171480577}, "errInvalidDifficulty"),
        ({"timestamp": 0}, "errOlderBlockTime"),
        ({"gas_limit": 5005}, "errInvalidGasLimit"),
        ({"gas_used": 5001}, "errInvalidGasUsed"),
        ({"extra": b"x" * 33}, "errExtraDataTooLong"),
        ({"parent": bytes(32)}, "ErrUnknownAncestor"),
        ({"number": 3}, "errInvalidNumber"),
    ],
)
def test_a_broken_block_1_is_refused_by_number(change: dict[str, bytes | int], rule: str) -> None:
    error = refused(GENESIS, [patch(BLOCK1, **change)])
    number = change.get("number", 1)  # the header's own number names it
    block = number if isinstance(number, int) else 1
    assert (error.block, error.rule) == (block, rule)
    assert f"block {block}" in str(error)


def test_the_first_bad_block_of_a_run_is_named() -> None:
    bad2 = patch(BLOCK2, nonce=bytes(8))
    error = refused(GENESIS, [BLOCK1, bad2])
    assert (error.block, error.rule) == (2, "errInvalidMixDigest")


def test_a_forged_chain_linked_by_hash_is_refused_by_its_seal() -> None:
    # A server invents block 2 with the right parent hash, difficulty and gas: no valid PoW.
    forged = patch(BLOCK2, extra=b"forged", nonce=bytes(8))
    fields = header_fields(forged)
    mix = ethash.hash(0, seal_hash(fields), 0)[1]
    error = refused(BLOCK1, [patch(forged, mix=mix)])
    assert (error.block, error.rule) == (2, "errInvalidPoW")


def mine(raw: bytes) -> bytes:
    """Find a nonce for the header's (low) difficulty; the mix digest that goes with it."""
    header = header_fields(raw)
    digest = seal_hash(header)
    target = 2**256 // header.difficulty
    for nonce in range(10_000):
        final, mix = ethash.hash(header.number // 30000, digest, nonce)
        if int.from_bytes(final, "big") <= target:
            return patch(raw, nonce=nonce.to_bytes(8, "big"), mix=mix)
    raise AssertionError("no nonce found")


def test_mined_low_difficulty_seals_verify_and_tampered_ones_do_not() -> None:
    for number in (3, 7):
        mined = mine(patch(BLOCK2, number=number, difficulty=16, extra=b"mined in a test"))
        header = header_fields(mined)
        verify_seal(header)
        with pytest.raises(ConsensusError) as info:
            verify_seal(header_fields(patch(mined, extra=b"changed after")))
        assert info.value.block == number


def _parent(number: int, difficulty: int, timestamp: int, uncles: bool) -> HeaderFields:
    uncle_hash = keccak(b"uncles") if uncles else EMPTY_UNCLE_HASH
    return HeaderFields(
        bytes(32), bytes(32), uncle_hash, bytes(20), difficulty, number, 8_000_000, 0,
        timestamp, b"", bytes(32), bytes(8), None, (),
    )  # fmt: skip


FORK_DELAYS = [
    (4_370_000, 3_000_000),  # Byzantium
    (7_280_000, 5_000_000),  # Constantinople
    (9_200_000, 9_000_000),  # Muir Glacier
    (12_965_000, 9_700_000),  # London
    (13_773_000, 10_700_000),  # Arrow Glacier
    (15_050_000, 11_400_000),  # Gray Glacier
]


@settings(max_examples=200, deadline=None)
@given(
    fork=st.sampled_from(FORK_DELAYS),
    offset=st.integers(0, 700_000),
    difficulty=st.integers(MINIMUM_DIFFICULTY, 2**64),
    gap=st.integers(1, 2000),
    uncles=st.booleans(),
)
def test_difficulty_matches_py_evm_from_byzantium_on(
    fork: tuple[int, int], offset: int, difficulty: int, gap: int, uncles: bool
) -> None:
    start, delay = fork
    number = start + offset
    parent = _parent(number - 1, difficulty, 1_600_000_000, uncles)
    evm_parent = SimpleNamespace(
        timestamp=parent.timestamp, difficulty=difficulty, block_number=parent.number,
        uncles_hash=parent.uncle_hash,
    )  # fmt: skip
    ours = calc_difficulty(MAINNET, parent.timestamp + gap, parent)
    assert ours == compute_difficulty(delay, evm_parent, parent.timestamp + gap)


@settings(max_examples=100, deadline=None)
@given(
    number=st.integers(1_150_000, 4_369_999),
    difficulty=st.integers(MINIMUM_DIFFICULTY, 2**64),
    gap=st.integers(1, 2000),
)
def test_homestead_difficulty_matches_py_evm(number: int, difficulty: int, gap: int) -> None:
    parent = _parent(number - 1, difficulty, 1_500_000_000, False)
    evm_parent: Any = SimpleNamespace(
        timestamp=parent.timestamp, difficulty=difficulty, block_number=parent.number
    )
    ours = calc_difficulty(MAINNET, parent.timestamp + gap, parent)
    assert ours == compute_homestead_difficulty(evm_parent, parent.timestamp + gap)


def test_frontier_difficulty_floor_and_bomb() -> None:
    # Below the minimum the floor is 131072 whatever the parent (geth; py-evm differs here).
    parent = _parent(10, 1000, 100, False)
    assert calc_difficulty(MAINNET, 101, parent) == MINIMUM_DIFFICULTY
    # Block 200000: period 2, a bomb of 2**0 on top of the adjustment.
    parent = _parent(199_999, 2048 * 100_000, 100, False)
    assert calc_difficulty(MAINNET, 101, parent) == 2048 * 100_000 + 100_000 + 1
    assert calc_difficulty(MAINNET, 113, parent) == 2048 * 100_000 - 100_000 + 1


def test_core_header_objects_and_the_future_rule() -> None:
    from lightclient.core.header import decode_header

    verify_chain(decode_header(GENESIS), [decode_header(BLOCK1)], EthashEngine(), MAINNET)
    block1_time = header_fields(BLOCK1).timestamp
    verify_chain(GENESIS, [BLOCK1], EthashEngine(), MAINNET, now=block1_time - 15)
    with pytest.raises(ConsensusError) as info:
        verify_chain(GENESIS, [BLOCK1], EthashEngine(), MAINNET, now=block1_time - 16)
    assert (info.value.block, info.value.rule) == (1, "ErrFutureBlock")


def test_malformed_rlp_is_a_consensus_error() -> None:
    with pytest.raises(ConsensusError) as info:
        verify_chain(GENESIS, [BLOCK1[:-1]], EthashEngine(), MAINNET)
    assert (info.value.block, info.value.rule) == (1, "errInvalidHeader")
    with pytest.raises(ConsensusError) as info:
        verify_chain(GENESIS, [BLOCK1, b"\xc0"], EthashEngine(), MAINNET)
    assert (info.value.block, info.value.rule) == (2, "errInvalidHeader")
