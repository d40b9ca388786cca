"""Clique (proof of authority, EIP-225) as geth v1.11.6's consensus/clique checks a header.

The signer set starts from a checkpoint block's extra-data (or a given set) and is carried
forward header by header: who signed recently, the votes cast and their tally. A light
client starting at a trusted checkpoint does what geth does there: it trusts the signer
list in that epoch block, with no recent signers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from eth_keys.datatypes import Signature
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError

from lightclient.consensus.config import CliqueParams, ConsensusConfig
from lightclient.consensus.fields import EMPTY_UNCLE_HASH, HeaderFields
from lightclient.core.keccak import keccak
from lightclient.errors import ConsensusError, InvalidInput

__all__ = [
    "DIFF_IN_TURN",
    "DIFF_NO_TURN",
    "EXTRA_SEAL",
    "EXTRA_VANITY",
    "NONCE_AUTH",
    "NONCE_DROP",
    "CliqueEngine",
    "CliqueSnapshot",
    "checkpoint_signers",
    "clique_seal_hash",
    "recover_clique_signer",
]

EXTRA_VANITY = 32
EXTRA_SEAL = 65
NONCE_AUTH = b"\xff" * 8
NONCE_DROP = bytes(8)
DIFF_IN_TURN = 2
DIFF_NO_TURN = 1


def clique_seal_hash(header: HeaderFields) -> bytes:
    """The hash a signer signs: the header with the 65-byte seal cut off its extra-data."""
    return keccak(header.rlp_without(extra=header.extra[:-EXTRA_SEAL]))


def recover_clique_signer(header: HeaderFields) -> bytes:
    """The 20-byte address that sealed the header."""
    if len(header.extra) < EXTRA_SEAL:
        raise ConsensusError(
            "extra-data 65 byte signature suffix missing",
            block=header.number,
            rule="errMissingSignature",
        )
    try:
        signature = Signature(header.extra[-EXTRA_SEAL:])
        public = signature.recover_public_key_from_msg_hash(clique_seal_hash(header))
    except (BadSignature, ValidationError, ValueError) as exc:
        raise ConsensusError(
            f"the seal does not recover a signer: {exc}",
            block=header.number,
            rule="errInvalidSignature",
        ) from None
    return bytes(public.to_canonical_address())


def checkpoint_signers(header: HeaderFields) -> tuple[bytes, ...]:
    """The signer list an epoch block carries between its vanity and its seal."""
    body = header.extra[EXTRA_VANITY:-EXTRA_SEAL]
    if len(header.extra) < EXTRA_VANITY + EXTRA_SEAL or len(body) % 20:
        raise ConsensusError(
            "invalid signer list on checkpoint block",
            block=header.number,
            rule="errInvalidCheckpointSigners",
        )
    return tuple(body[i : i + 20] for i in range(0, len(body), 20))


@dataclass(frozen=True, slots=True)
class _Vote:
    signer: bytes
    address: bytes
    authorize: bool


@dataclass(slots=True)
class CliqueSnapshot:
    """The signer state after block ``number`` (geth's clique.Snapshot)."""

    number: int
    hash: bytes
    signers: set[bytes]
    recents: dict[int, bytes] = field(default_factory=dict)
    votes: list[_Vote] = field(default_factory=list)
    tally: dict[bytes, tuple[bool, int]] = field(default_factory=dict)

    def copy(self) -> CliqueSnapshot:
        return replace(
            self,
            signers=set(self.signers),
            recents=dict(self.recents),
            votes=list(self.votes),
            tally=dict(self.tally),
        )

    def sorted_signers(self) -> list[bytes]:
        return sorted(self.signers)

    def in_turn(self, number: int, signer: bytes) -> bool:
        order = self.sorted_signers()
        return signer in self.signers and number % len(order) == order.index(signer)

    def _cast(self, address: bytes, authorize: bool) -> bool:
        if (address in self.signers) == authorize:
            return False  # authorising a signer or dropping a non-signer: no vote
        old = self.tally.get(address)
        self.tally[address] = (old[0], old[1] + 1) if old else (authorize, 1)
        return True

    def _uncast(self, address: bytes, authorize: bool) -> None:
        old = self.tally.get(address)
        if old is None or old[0] != authorize:
            return
        if old[1] > 1:
            self.tally[address] = (old[0], old[1] - 1)
        else:
            del self.tally[address]

    def apply(self, header: HeaderFields, signer: bytes, epoch: int) -> None:
        """Advance over ``header`` sealed by ``signer`` (already checked to be allowed)."""
        number = header.number
        if number % epoch == 0:
            self.votes.clear()
            self.tally.clear()
        limit = len(self.signers) // 2 + 1
        if number >= limit:
            self.recents.pop(number - limit, None)
        self.recents[number] = signer
        coinbase = header.coinbase
        for i, vote in enumerate(self.votes):
            if vote.signer == signer and vote.address == coinbase:
                self._uncast(vote.address, vote.authorize)
                del self.votes[i]
                break
        authorize = header.nonce == NONCE_AUTH
        if self._cast(coinbase, authorize):
            self.votes.append(_Vote(signer, coinbase, authorize))
        tally = self.tally.get(coinbase)
        if tally is not None and tally[1] > len(self.signers) // 2:
            if tally[0]:
                self.signers.add(coinbase)
            else:
                self.signers.discard(coinbase)
                limit = len(self.signers) // 2 + 1
                if number >= limit:
                    self.recents.pop(number - limit, None)
                for vote in [v for v in self.votes if v.signer == coinbase]:
                    self._uncast(vote.address, vote.authorize)
                self.votes = [v for v in self.votes if v.signer != coinbase]
            self.votes = [v for v in self.votes if v.address != coinbase]
            self.tally.pop(coinbase, None)
        self.number = number
        self.hash = header.hash


class CliqueEngine:
    """Checks a header's extra-data, votes, difficulty, timestamp and signer.

    ``signers`` is the signer set at the parent of the first batch; without it the parent
    must be an epoch block, whose extra-data lists them. After a batch verifies, the engine
    keeps the signer state for the next batch that extends it.
    """

    name = "clique"

    def __init__(self, params: CliqueParams, signers: list[bytes] | None = None) -> None:
        if params.epoch <= 0:
            raise InvalidInput("a clique epoch is at least one block")
        self.params = params
        self.initial_signers = None if signers is None else set(signers)
        self.snapshot: CliqueSnapshot | None = None
        self._pending: CliqueSnapshot | None = None

    def _snapshot_at(self, parent: HeaderFields) -> CliqueSnapshot:
        if self.snapshot is not None and self.snapshot.hash == parent.hash:
            return self.snapshot.copy()
        if self.initial_signers is not None and self.snapshot is None:
            return CliqueSnapshot(parent.number, parent.hash, set(self.initial_signers))
        if parent.number % self.params.epoch == 0:
            signers = checkpoint_signers(parent)
            if not signers:
                raise ConsensusError(
                    "the checkpoint block lists no signers",
                    block=parent.number,
                    rule="errInvalidCheckpointSigners",
                )
            return CliqueSnapshot(parent.number, parent.hash, set(signers))
        raise ConsensusError(
            "no clique signer set at this parent: start from an epoch block or give the signers",
            block=parent.number,
            rule="errUnknownAncestor",
        )

    def begin(self, parent: HeaderFields, config: ConsensusConfig) -> CliqueEngine:
        self._pending = self._snapshot_at(parent)
        return self

    def commit(self) -> None:
        if self._pending is not None:
            self.snapshot, self._pending = self._pending, None

    def verify(
        self,
        header: HeaderFields,
        parent: HeaderFields,
        config: ConsensusConfig,
        now: int | None = None,
    ) -> None:
        snap = self._pending
        if snap is None:
            raise InvalidInput("CliqueEngine.verify before begin")
        n = header.number
        epoch = self.params.epoch
        checkpoint = n % epoch == 0

        def fail(message: str, rule: str) -> ConsensusError:
            return ConsensusError(message, block=n, rule=rule)

        if now is not None and header.timestamp > now:
            raise fail("block in the future", "ErrFutureBlock")
        if checkpoint and header.coinbase != bytes(20):
            raise fail(
                "beneficiary in checkpoint block non-zero", "errInvalidCheckpointBeneficiary"
            )
        if header.nonce not in (NONCE_AUTH, NONCE_DROP):
            raise fail("vote nonce not 0x00..0 or 0xff..f", "errInvalidVote")
        if checkpoint and header.nonce != NONCE_DROP:
            raise fail("vote nonce in checkpoint block non-zero", "errInvalidCheckpointVote")
        if len(header.extra) < EXTRA_VANITY:
            raise fail("extra-data 32 byte vanity prefix missing", "errMissingVanity")
        if len(header.extra) < EXTRA_VANITY + EXTRA_SEAL:
            raise fail("extra-data 65 byte signature suffix missing", "errMissingSignature")
        listed = len(header.extra) - EXTRA_VANITY - EXTRA_SEAL
        if not checkpoint and listed:
            raise fail("non-checkpoint block contains extra signer list", "errExtraSigners")
        if checkpoint and listed % 20:
            raise fail("invalid signer list on checkpoint block", "errInvalidCheckpointSigners")
        if header.mix_hash != bytes(32):
            raise fail("non-zero mix digest", "errInvalidMixDigest")
        if header.uncle_hash != EMPTY_UNCLE_HASH:
            raise fail("non empty uncle hash", "errInvalidUncleHash")
        if header.difficulty not in (DIFF_IN_TURN, DIFF_NO_TURN):
            raise fail(f"invalid difficulty {header.difficulty}", "errInvalidDifficulty")
        if parent.timestamp + self.params.period > header.timestamp:
            raise fail(
                f"invalid timestamp {header.timestamp}: the parent's is {parent.timestamp} and "
                f"the period {self.params.period}",
                "errInvalidTimestamp",
            )
        if checkpoint and checkpoint_signers(header) != tuple(snap.sorted_signers()):
            raise fail(
                "mismatching signer list on checkpoint block", "errMismatchingCheckpointSigners"
            )
        signer = recover_clique_signer(header)
        if signer not in snap.signers:
            raise fail(f"unauthorized signer 0x{signer.hex()}", "errUnauthorizedSigner")
        limit = len(snap.signers) // 2 + 1
        for seen, recent in snap.recents.items():
            if recent == signer and seen > n - limit:
                raise fail(
                    f"signer 0x{signer.hex()} signed recently, at block {seen}", "errRecentlySigned"
                )
        in_turn = snap.in_turn(n, signer)
        want = DIFF_IN_TURN if in_turn else DIFF_NO_TURN
        if header.difficulty != want:
            raise fail(
                f"wrong difficulty {header.difficulty}: the signer is "
                f"{'in' if in_turn else 'out of'} turn, want {want}",
                "errWrongDifficulty",
            )
        snap.apply(header, signer, epoch)
