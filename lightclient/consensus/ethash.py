"""Ethash (proof of work) as geth v1.11.6's consensus/ethash checks a header.

The seal is checked with the ``ethash`` package (C/C++, chfast's ethash with Python
bindings): it builds an epoch's light cache once (about 1.4 s for epoch 0, kept for the
last epoch used) and then checks a header in a few milliseconds.
"""

from __future__ import annotations

import ethash as _ethash

from lightclient.consensus.config import ConsensusConfig
from lightclient.consensus.fields import HeaderFields
from lightclient.consensus.rules import calc_difficulty
from lightclient.core.keccak import keccak
from lightclient.errors import ConsensusError

__all__ = ["ALLOWED_FUTURE_SECONDS", "EPOCH_LENGTH", "EthashEngine", "seal_hash", "verify_seal"]

EPOCH_LENGTH = 30000
MAX_EXTRA = 32
ALLOWED_FUTURE_SECONDS = 15


def seal_hash(header: HeaderFields) -> bytes:
    """The hash the PoW covers: the header without mixHash and nonce."""
    return keccak(header.rlp_without(seal=True))


def verify_seal(header: HeaderFields) -> None:
    """mixHash and nonce are a valid ethash solution for the header's difficulty."""
    if header.difficulty <= 0:
        raise ConsensusError(
            "non-positive difficulty", block=header.number, rule="errInvalidDifficulty"
        )
    final, mix = _ethash.hash(
        header.number // EPOCH_LENGTH, seal_hash(header), int.from_bytes(header.nonce, "big")
    )
    if mix != header.mix_hash:
        raise ConsensusError(
            f"invalid mix digest: have 0x{header.mix_hash.hex()}, the nonce gives 0x{mix.hex()}",
            block=header.number,
            rule="errInvalidMixDigest",
        )
    if int.from_bytes(final, "big") > 2**256 // header.difficulty:
        raise ConsensusError(
            "invalid proof-of-work: the hash is above the difficulty's target",
            block=header.number,
            rule="errInvalidPoW",
        )


class EthashEngine:
    """Checks a header's extra-data size, timestamp, difficulty and PoW seal."""

    name = "ethash"

    def __init__(self, *, check_seal: bool = True) -> None:
        self.check_seal = check_seal

    def begin(self, parent: HeaderFields, config: ConsensusConfig) -> EthashEngine:
        return self  # no state across headers

    def commit(self) -> None:
        pass

    def verify(
        self,
        header: HeaderFields,
        parent: HeaderFields,
        config: ConsensusConfig,
        now: int | None = None,
    ) -> None:
        n = header.number
        if len(header.extra) > MAX_EXTRA:
            raise ConsensusError(
                f"extra-data too long: {len(header.extra)} > {MAX_EXTRA}",
                block=n,
                rule="errExtraDataTooLong",
            )
        if now is not None and header.timestamp > now + ALLOWED_FUTURE_SECONDS:
            raise ConsensusError("block in the future", block=n, rule="ErrFutureBlock")
        if header.timestamp <= parent.timestamp:
            raise ConsensusError(
                f"timestamp {header.timestamp} is not after the parent's {parent.timestamp}",
                block=n,
                rule="errOlderBlockTime",
            )
        expected = calc_difficulty(config, header.timestamp, parent)
        if header.difficulty != expected:
            raise ConsensusError(
                f"invalid difficulty: have {header.difficulty}, want {expected}",
                block=n,
                rule="errInvalidDifficulty",
            )
        if self.check_seal:
            verify_seal(header)
