"""Clique chains made here, signed with eth-keys keys: turns, recent signers, votes, epoch
checkpoints, timestamps and the London base fee; every broken rule refused by block."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_keys.datatypes import PrivateKey

from lightclient.consensus import (
    CliqueEngine,
    CliqueParams,
    ConsensusConfig,
    HeaderFields,
    header_fields,
    verify_chain,
)
from lightclient.consensus.clique import (
    NONCE_AUTH,
    NONCE_DROP,
    clique_seal_hash,
    recover_clique_signer,
)
from lightclient.consensus.fields import EMPTY_UNCLE_HASH
from lightclient.consensus.rules import INITIAL_BASE_FEE
from lightclient.core.rlpcodec import encode_bytes, encode_list, int_to_min_bytes
from lightclient.errors import ConsensusError

KEYS = [PrivateKey(bytes([i + 1]) * 32) for i in range(5)]
ADDR = {bytes(k.public_key.to_canonical_address()): k for k in KEYS}
# Signers sorted by address, as clique orders them; the last key is never a signer at start.
ORDER = sorted(bytes(k.public_key.to_canonical_address()) for k in KEYS[:3])
OUTSIDER = KEYS[4]
PERIOD, EPOCH = 5, 6
CONFIG = ConsensusConfig("clique", clique=CliqueParams(PERIOD, EPOCH))


def key_of(address: bytes) -> PrivateKey:
    return ADDR[address]


def build(
    parent: HeaderFields,
    key: PrivateKey,
    *,
    difficulty: int | None = None,
    coinbase: bytes = bytes(20),
    nonce: bytes = NONCE_DROP,
    gap: int = PERIOD,
    signers: list[bytes] | None = None,
    base_fee: int | None = None,
    gas_limit: int | None = None,
    in_turn_with: list[bytes] = ORDER,
) -> HeaderFields:
    """A signed header on ``parent``; by default in/out-of-turn difficulty for ``key``."""
    number = parent.number + 1
    signer = bytes(key.public_key.to_canonical_address())
    if difficulty is None:
        turn = signer in in_turn_with and number % len(in_turn_with) == in_turn_with.index(signer)
        difficulty = 2 if turn else 1
    extra = b"v" * 32 + b"".join(signers or []) + bytes(65)
    fields = [
        parent.hash, EMPTY_UNCLE_HASH, coinbase, bytes(32), bytes(32), bytes(32), bytes(256),
        int_to_min_bytes(difficulty), int_to_min_bytes(number),
        int_to_min_bytes(gas_limit or parent.gas_limit), b"",
        int_to_min_bytes(parent.timestamp + gap), extra, bytes(32), nonce,
    ]  # fmt: skip
    if base_fee is not None:
        fields.append(int_to_min_bytes(base_fee))
    unsigned = header_fields(encode_list([encode_bytes(f) for f in fields]))
    signature = key.sign_msg_hash(clique_seal_hash(unsigned)).to_bytes()
    fields[12] = extra[:-65] + signature
    return header_fields(encode_list([encode_bytes(f) for f in fields]))


def genesis(signers: list[bytes] = ORDER) -> HeaderFields:
    fields = [
        bytes(32), EMPTY_UNCLE_HASH, bytes(20), bytes(32), bytes(32), bytes(32), bytes(256),
        b"\x01", b"", int_to_min_bytes(8_000_000), b"", int_to_min_bytes(1_700_000_000),
        b"\x00" * 32 + b"".join(signers) + bytes(65), bytes(32), bytes(8),
    ]  # fmt: skip
    return header_fields(encode_list([encode_bytes(f) for f in fields]))


def chain(parent: HeaderFields, count: int) -> list[HeaderFields]:
    """``count`` in-turn blocks on ``parent`` (checkpoints list the signers)."""
    out = []
    for _ in range(count):
        number = parent.number + 1
        signer = ORDER[number % len(ORDER)]
        listed = ORDER if number % EPOCH == 0 else None
        parent = build(parent, key_of(signer), signers=listed)
        out.append(parent)
    return out


def refused(
    parent: HeaderFields, headers: list[HeaderFields], engine: CliqueEngine | None = None
) -> ConsensusError:
    with pytest.raises(ConsensusError) as info:
        verify_chain(
            parent, headers, engine or CliqueEngine(CONFIG.clique or CliqueParams()), CONFIG
        )
    return info.value


def test_signer_recovery_is_the_key_that_sealed() -> None:
    block = build(genesis(), key_of(ORDER[1]))
    assert recover_clique_signer(block) == ORDER[1]


def test_an_in_turn_chain_across_two_epoch_checkpoints_verifies() -> None:
    g = genesis()
    engine = CliqueEngine(CliqueParams(PERIOD, EPOCH))
    verify_chain(g, chain(g, 13), engine, CONFIG)
    assert engine.snapshot is not None and engine.snapshot.number == 13


def test_raw_rlp_headers_verify_too() -> None:
    g = genesis()
    blocks = chain(g, 3)
    raw = [encode_list([encode_bytes(f) for f in h.raw_fields]) for h in blocks]
    g_raw = encode_list([encode_bytes(f) for f in g.raw_fields])
    verify_chain(g_raw, raw, CliqueEngine(CliqueParams(PERIOD, EPOCH)), CONFIG)
    # block 1 is not an epoch block: without the signers it cannot start there
    error = refused(blocks[0], blocks[1:])
    assert (error.block, error.rule) == (1, "errUnknownAncestor")
    engine = CliqueEngine(CliqueParams(PERIOD, EPOCH), signers=ORDER)
    verify_chain(blocks[0], blocks[1:], engine, CONFIG)


def test_an_out_of_turn_signer_with_difficulty_1_is_accepted() -> None:
    g = genesis()
    # block 1 is ORDER[1]'s turn; ORDER[2] signs it out of turn
    verify_chain(
        g, [build(g, key_of(ORDER[2]))], CliqueEngine(CONFIG.clique or CliqueParams()), CONFIG
    )


@pytest.mark.parametrize("in_turn", [True, False])
def test_a_wrong_difficulty_is_refused(in_turn: bool) -> None:
    g = genesis()
    signer = ORDER[1] if in_turn else ORDER[2]
    bad = build(g, key_of(signer), difficulty=1 if in_turn else 2)
    error = refused(g, [bad])
    assert (error.block, error.rule) == (1, "errWrongDifficulty")
    error = refused(g, [build(g, key_of(signer), difficulty=3)])
    assert (error.block, error.rule) == (1, "errInvalidDifficulty")


def test_a_signer_outside_the_set_is_refused_by_block() -> None:
    g = genesis()
    blocks = chain(g, 2)
    bad = build(blocks[-1], OUTSIDER)
    error = refused(g, [*blocks, bad])
    assert (error.block, error.rule) == (3, "errUnauthorizedSigner")
    assert "block 3" in str(error)


def test_a_signer_that_signed_too_recently_is_refused() -> None:
    g = genesis()
    first = build(g, key_of(ORDER[1]))  # in turn at 1
    again = build(first, key_of(ORDER[1]))  # 3 signers: at most one block in any 2
    error = refused(g, [first, again])
    assert (error.block, error.rule) == (2, "errRecentlySigned")
    # one block later it may sign again
    other = build(first, key_of(ORDER[2]))
    verify_chain(
        g,
        [first, other, build(other, key_of(ORDER[1]))],
        CliqueEngine(CONFIG.clique or CliqueParams()),
        CONFIG,
    )


def test_a_forged_signature_is_refused() -> None:
    g = genesis()
    good = build(g, key_of(ORDER[1]))
    fields = list(good.raw_fields)
    fields[12] = good.extra[:-65] + bytes(64) + b"\x00"
    forged = header_fields(encode_list([encode_bytes(f) for f in fields]))
    error = refused(g, [forged])
    assert error.block == 1 and error.rule in ("errInvalidSignature", "errUnauthorizedSigner")


def test_too_early_a_timestamp_is_refused() -> None:
    g = genesis()
    error = refused(g, [build(g, key_of(ORDER[1]), gap=PERIOD - 1)])
    assert (error.block, error.rule) == (1, "errInvalidTimestamp")


def test_checkpoint_rules() -> None:
    g = genesis()
    blocks = chain(g, 5)
    signer = key_of(ORDER[6 % 3])
    cases = [
        (build(blocks[-1], signer, signers=ORDER[:2]), "errMismatchingCheckpointSigners"),
        (build(blocks[-1], signer), "errMismatchingCheckpointSigners"),
        (build(blocks[-1], signer, signers=ORDER, nonce=NONCE_AUTH), "errInvalidCheckpointVote"),
        (build(blocks[-1], signer, signers=ORDER, coinbase=b"\x01" * 20),
         "errInvalidCheckpointBeneficiary"),
    ]  # fmt: skip
    for bad, rule in cases:
        error = refused(g, [*blocks, bad])
        assert (error.block, error.rule) == (6, rule)
    error = refused(g, [build(g, key_of(ORDER[1]), signers=ORDER)])
    assert (error.block, error.rule) == (1, "errExtraSigners")
    error = refused(g, [build(g, key_of(ORDER[1]), nonce=b"\x01" * 8)])
    assert (error.block, error.rule) == (1, "errInvalidVote")


def test_votes_add_and_drop_signers() -> None:
    g = genesis()
    newcomer = bytes(KEYS[3].public_key.to_canonical_address())
    b1 = build(g, key_of(ORDER[1]), coinbase=newcomer, nonce=NONCE_AUTH)
    b2 = build(b1, key_of(ORDER[2]), coinbase=newcomer, nonce=NONCE_AUTH)  # 2 of 3: added
    four = sorted([*ORDER, newcomer])
    b3 = build(b2, KEYS[3], in_turn_with=four)
    engine = CliqueEngine(CliqueParams(PERIOD, EPOCH))
    verify_chain(g, [b1, b2, b3], engine, CONFIG)
    assert engine.snapshot is not None and newcomer in engine.snapshot.signers
    # Before the second vote the newcomer cannot sign.
    error = refused(g, [b1, build(b1, KEYS[3])])
    assert (error.block, error.rule) == (2, "errUnauthorizedSigner")
    # Dropping: 3 of 4 vote the newcomer out, then it may not sign.
    parent, voters = b3, [s for s in four if s != newcomer]
    dropped: list[HeaderFields] = []
    for voter in voters[:3]:
        if parent.number + 1 == EPOCH:
            break
        parent = build(parent, key_of(voter), coinbase=newcomer, nonce=NONCE_DROP,
                       in_turn_with=four)  # fmt: skip
        dropped.append(parent)
    # blocks 4, 5 give 2 drop votes of 4 signers: not yet a majority (> 2), and the
    # epoch block 6 discards them
    assert len(dropped) == 2
    verify_chain(b3, dropped, engine, CONFIG)
    assert newcomer in engine.snapshot.signers


def test_a_majority_drops_a_signer_which_then_may_not_sign() -> None:
    config = replace(CONFIG, clique=CliqueParams(PERIOD, 30))
    g = genesis()
    victim = ORDER[0]
    b1 = build(g, key_of(ORDER[1]), coinbase=victim, nonce=NONCE_DROP)
    b2 = build(b1, key_of(ORDER[2]), coinbase=victim, nonce=NONCE_DROP)  # 2 of 3: dropped
    engine = CliqueEngine(CliqueParams(PERIOD, 30))
    verify_chain(g, [b1, b2], engine, config)
    assert engine.snapshot is not None and engine.snapshot.signers == set(ORDER[1:])
    with pytest.raises(ConsensusError) as info:
        verify_chain(b2, [build(b2, key_of(victim))], engine, config)
    assert (info.value.block, info.value.rule) == (3, "errUnauthorizedSigner")
    # Two signers left: block 3 is ORDER[2]'s turn by the new order (3 % 2 == 1), but it
    # signed block 2 and may sign only one block in two; ORDER[1] signs out of turn.
    late = build(b2, key_of(ORDER[2]), in_turn_with=ORDER[1:])
    assert late.difficulty == 2
    with pytest.raises(ConsensusError) as info:
        verify_chain(b2, [late], engine, config)
    assert (info.value.block, info.value.rule) == (3, "errRecentlySigned")
    b3 = build(b2, key_of(ORDER[1]), in_turn_with=ORDER[1:])
    assert b3.difficulty == 1
    verify_chain(b2, [b3], engine, config)


def test_a_failed_batch_leaves_the_signer_state_unchanged() -> None:
    g = genesis()
    blocks = chain(g, 3)
    engine = CliqueEngine(CliqueParams(PERIOD, EPOCH))
    verify_chain(g, blocks[:2], engine, CONFIG)
    snapshot = engine.snapshot
    with pytest.raises(ConsensusError):
        verify_chain(blocks[1], [build(blocks[1], OUTSIDER)], engine, CONFIG)
    assert engine.snapshot is snapshot
    verify_chain(blocks[1], blocks[2:], engine, CONFIG)


def test_london_on_clique_base_fee_and_doubled_gas_limit() -> None:
    config = replace(CONFIG, forks={"london": 2})
    g = genesis()
    b1 = build(g, key_of(ORDER[1]))
    engine = CliqueEngine(CliqueParams(PERIOD, EPOCH))
    # the fork block: base fee 1 gwei, the gas limit within 1/1024 of twice the parent's
    fork = build(b1, key_of(ORDER[2]), base_fee=INITIAL_BASE_FEE, gas_limit=16_000_000)
    verify_chain(g, [b1, fork], engine, config)
    # an empty block 3 lowers the base fee by 1/8
    b3 = build(fork, key_of(ORDER[0]), base_fee=INITIAL_BASE_FEE * 7 // 8)
    verify_chain(fork, [b3], engine, config)
    signed = key_of(ORDER[2])
    cases = [
        (build(b1, signed, base_fee=7, gas_limit=16_000_000), "errBaseFee"),
        (build(b1, signed, gas_limit=16_000_000), "errBaseFee"),  # no base fee at all
        (build(b1, signed, base_fee=INITIAL_BASE_FEE), "errInvalidGasLimit"),  # not doubled
    ]
    for bad, rule in cases:
        with pytest.raises(ConsensusError) as info:
            verify_chain(b1, [bad], CliqueEngine(CliqueParams(PERIOD, EPOCH), ORDER), config)
        assert (info.value.block, info.value.rule) == (2, rule)
    # before London a base fee is refused
    error = refused(g, [build(g, key_of(ORDER[1]), base_fee=INITIAL_BASE_FEE)])
    assert (error.block, error.rule) == (1, "errBaseFee")


def test_signer_recovery_agrees_with_py_evm_clique() -> None:
    import rlp
    from eth.consensus.clique._utils import get_block_signer, get_signature_hash
    from eth.rlp.headers import BlockHeader

    for block in chain(genesis(), 7):
        raw = encode_list([encode_bytes(f) for f in block.raw_fields])
        theirs = rlp.decode(raw, sedes=BlockHeader)
        assert get_signature_hash(theirs) == clique_seal_hash(block)
        assert get_block_signer(theirs) == recover_clique_signer(block)


def test_blocks_from_the_future_are_refused_when_now_is_given() -> None:
    g = genesis()
    block = build(g, key_of(ORDER[1]))
    engine = CliqueEngine(CliqueParams(PERIOD, EPOCH))
    verify_chain(g, [block], engine, CONFIG, now=block.timestamp)
    with pytest.raises(ConsensusError) as info:
        verify_chain(g, [block], CliqueEngine(CliqueParams(PERIOD, EPOCH)), CONFIG,
                     now=block.timestamp - 1)  # fmt: skip
    assert (info.value.block, info.value.rule) == (1, "ErrFutureBlock")


def test_the_epoch_block_after_a_vote_lists_the_new_set_and_resets_the_votes() -> None:
    g = genesis()
    newcomer = bytes(KEYS[3].public_key.to_canonical_address())
    four = sorted([*ORDER, newcomer])
    b1 = build(g, key_of(ORDER[1]), coinbase=newcomer, nonce=NONCE_AUTH)
    b2 = build(b1, key_of(ORDER[2]), coinbase=newcomer, nonce=NONCE_AUTH)
    parent, blocks = b2, [b1, b2]
    for voter in (four[3], four[0], four[1]):  # blocks 3-5: no recent signer repeats
        parent = build(parent, key_of(voter), in_turn_with=four)
        blocks.append(parent)
    signer = key_of(four[2])
    stale = build(parent, signer, signers=ORDER, in_turn_with=four)
    error = refused(g, [*blocks, stale])
    assert (error.block, error.rule) == (6, "errMismatchingCheckpointSigners")
    epoch = build(parent, signer, signers=four, in_turn_with=four)
    engine = CliqueEngine(CliqueParams(PERIOD, EPOCH))
    verify_chain(g, [*blocks, epoch], engine, CONFIG)
    assert engine.snapshot is not None
    assert engine.snapshot.votes == [] and engine.snapshot.tally == {}
    assert engine.snapshot.sorted_signers() == four
