"""EIP-2124 fork identifiers, computed and checked as go-ethereum v1.11.6 does
(``core/forkid/forkid.go``; spec §4.3).

``hash`` is CRC32-IEEE of the genesis hash, updated with BE64 of every passed fork block
and then every passed fork timestamp; ``next`` is the first unpassed fork (0 if none).
The fork lists are geth's: every ``...Block`` and ``...Time`` field of the chain config,
sorted, de-duplicated, with forks at 0 left out (they are the genesis rules).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from lightclient.errors import InvalidInput, LesProtocolError
from lightclient.les.codec import (
    MAX_UINT64,
    encode_bytes,
    encode_int,
    encode_list,
    read_fixed,
    read_struct,
    read_uint,
)

__all__ = [
    "ERR_LOCAL_INCOMPATIBLE",
    "ERR_REMOTE_STALE",
    "FORK_SCHEDULES",
    "TIMESTAMP_THRESHOLD",
    "ForkFilter",
    "ForkId",
    "ForkSchedule",
    "fork_id",
]

# geth's error texts for the two ways the filter rejects.
ERR_REMOTE_STALE = "remote needs update"
ERR_LOCAL_INCOMPATIBLE = "local incompatible or needs update"
# Mainnet's genesis timestamp: a ``next`` above it is read as a time, not a block (geth).
TIMESTAMP_THRESHOLD = 1438269973


@dataclass(frozen=True, slots=True)
class ForkId:
    """``[hash: 4 bytes, next: uint64]`` as sent under the Status key ``forkID``."""

    hash: bytes
    next: int

    def __post_init__(self) -> None:
        if len(self.hash) != 4:
            raise InvalidInput("a fork hash is 4 bytes")
        if not 0 <= self.next <= MAX_UINT64:
            raise InvalidInput(f"fork next {self.next} is not a uint64")

    def encode(self) -> bytes:
        return encode_list([encode_bytes(self.hash), encode_int(self.next)])

    @classmethod
    def decode(cls, raw: bytes, what: str = "forkID") -> ForkId:
        hash_raw, next_raw = read_struct(raw, 2, what)
        return cls(read_fixed(hash_raw, 4, f"{what}.hash"), read_uint(next_raw, f"{what}.next"))


def _gather(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(v for v in sorted(set(values)) if v != 0)


@dataclass(frozen=True, slots=True)
class ForkSchedule:
    """A chain's fork activations: block numbers, then timestamps (geth's gatherForks)."""

    blocks: tuple[int, ...]
    times: tuple[int, ...] = ()

    @classmethod
    def of(cls, blocks: Iterable[int], times: Iterable[int] = ()) -> ForkSchedule:
        """From config values as written (any order, duplicates and zeros allowed)."""
        return cls(_gather(blocks), _gather(times))

    @property
    def forks(self) -> tuple[int, ...]:
        return self.blocks + self.times


def _update(checksum: int, fork: int) -> int:
    return zlib.crc32(fork.to_bytes(8, "big"), checksum)


def _sum_bytes(checksum: int) -> bytes:
    return checksum.to_bytes(4, "big")


def fork_id(genesis_hash: bytes, schedule: ForkSchedule, head: int, time: int) -> ForkId:
    """The fork ID of a node whose head block has number ``head`` and timestamp ``time``."""
    checksum = zlib.crc32(genesis_hash)
    for fork in schedule.blocks:
        if fork > head:
            return ForkId(_sum_bytes(checksum), fork)
        checksum = _update(checksum, fork)
    for fork in schedule.times:
        if fork > time:
            return ForkId(_sum_bytes(checksum), fork)
        checksum = _update(checksum, fork)
    return ForkId(_sum_bytes(checksum), 0)


class ForkFilter:
    """geth's fork-ID filter for one chain: which remote IDs a node at (head, time) accepts."""

    def __init__(self, genesis_hash: bytes, schedule: ForkSchedule) -> None:
        self._forks = (*schedule.forks, MAX_UINT64)  # a sentry fork that never passes
        # Without time forks the sentry counts as a block fork (geth does the same).
        self._block_forks = len(schedule.blocks) + (0 if schedule.times else 1)
        checksum = zlib.crc32(genesis_hash)
        sums = [_sum_bytes(checksum)]
        for fork in schedule.forks:
            checksum = _update(checksum, fork)
            sums.append(_sum_bytes(checksum))
        self._sums = tuple(sums)

    def error(self, remote: ForkId, head: int, time: int) -> str | None:
        """None if ``remote`` is acceptable, else geth's error text (EIP-2124 rules)."""
        for i, fork in enumerate(self._forks):
            local = head if i < self._block_forks else time
            if local >= fork:
                continue
            return self._judge(i, local, remote, time)
        return None  # unreachable: the sentry is never passed (geth accepts here too)

    def _judge(self, i: int, local: int, remote: ForkId, time: int) -> str | None:
        if self._sums[i] == remote.hash:  # rule 1: same fork state
            passed = local >= remote.next or (
                remote.next > TIMESTAMP_THRESHOLD and time >= remote.next
            )
            return ERR_LOCAL_INCOMPATIBLE if remote.next > 0 and passed else None
        for j in range(i):  # rule 2: the remote is behind us
            if self._sums[j] == remote.hash:
                return None if self._forks[j] == remote.next else ERR_REMOTE_STALE
        if remote.hash in self._sums[i + 1 :]:  # rule 3: we are behind the remote
            return None
        return ERR_LOCAL_INCOMPATIBLE

    def check(self, remote: ForkId, head: int, time: int) -> None:
        """Raise ErrForkIDRejected (Disconnect 0x10) if the filter refuses ``remote``."""
        problem = self.error(remote, head, time)
        if problem is not None:
            raise LesProtocolError(f"fork ID rejected: {problem}", kind="ErrForkIDRejected")


# Fork activations of geth v1.11.6's built-in chain configs (params/config.go):
# every *Block and *Time field that is set, including DAOForkBlock and MergeNetsplitBlock.
FORK_SCHEDULES: dict[str, ForkSchedule] = {
    "mainnet": ForkSchedule.of(
        [
            1_150_000,  # Homestead
            1_920_000,  # DAO
            2_463_000,  # EIP150
            2_675_000,  # EIP155, EIP158
            4_370_000,  # Byzantium
            7_280_000,  # Constantinople, Petersburg
            9_069_000,  # Istanbul
            9_200_000,  # Muir Glacier
            12_244_000,  # Berlin
            12_965_000,  # London
            13_773_000,  # Arrow Glacier
            15_050_000,  # Gray Glacier
        ],
        [1681338455],  # Shanghai
    ),
    "sepolia": ForkSchedule.of([1735371], [1677557088]),  # MergeNetsplit; Shanghai
    "goerli": ForkSchedule.of([1_561_651, 4_460_644, 5_062_605], [1678832736]),
    "rinkeby": ForkSchedule.of(
        [1, 2, 3, 1_035_301, 3_660_663, 4_321_234, 5_435_345, 8_290_928, 8_897_988]
    ),
}
