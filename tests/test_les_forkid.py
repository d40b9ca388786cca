"""EIP-2124 fork IDs. Every vector below is copied from go-ethereum v1.11.6
core/forkid/forkid_test.go (TestCreation, TestValidation, TestEncoding; tag v1.11.6 =
ea9e62ca3db5c33aa7438ebf39c189afd53c6bf8), plus the mainnet ones the spec repeats (§4.3)."""

from __future__ import annotations

import zlib

import pytest

from lightclient.core.networks import NETWORKS
from lightclient.errors import LesProtocolError
from lightclient.les.forkid import (
    ERR_LOCAL_INCOMPATIBLE,
    ERR_REMOTE_STALE,
    FORK_SCHEDULES,
    ForkFilter,
    ForkId,
    ForkSchedule,
    fork_id,
)

MAX64 = 2**64 - 1

# TestCreation: (network, head, time, hash, next)
CREATION = [
    ("mainnet", 0, 0, 0xFC64EC04, 1150000),
    ("mainnet", 1149999, 0, 0xFC64EC04, 1150000),
    ("mainnet", 1150000, 0, 0x97C2C34C, 1920000),
    ("mainnet", 1919999, 0, 0x97C2C34C, 1920000),
    ("mainnet", 1920000, 0, 0x91D1F948, 2463000),
    ("mainnet", 2462999, 0, 0x91D1F948, 2463000),
    ("mainnet", 2463000, 0, 0x7A64DA13, 2675000),
    ("mainnet", 2674999, 0, 0x7A64DA13, 2675000),
    ("mainnet", 2675000, 0, 0x3EDD5B10, 4370000),
    ("mainnet", 4369999, 0, 0x3EDD5B10, 4370000),
    ("mainnet", 4370000, 0, 0xA00BC324, 7280000),
    ("mainnet", 7279999, 0, 0xA00BC324, 7280000),
    ("mainnet", 7280000, 0, 0x668DB0AF, 9069000),
    ("mainnet", 9068999, 0, 0x668DB0AF, 9069000),
    ("mainnet", 9069000, 0, 0x879D6E30, 9200000),
    ("mainnet", 9199999, 0, 0x879D6E30, 9200000),
    ("mainnet", 9200000, 0, 0xE029E991, 12244000),
    ("mainnet", 12243999, 0, 0xE029E991, 12244000),
    ("mainnet", 12244000, 0, 0x0EB440F6, 12965000),
    ("mainnet", 12964999, 0, 0x0EB440F6, 12965000),
    ("mainnet", 12965000, 0, 0xB715077D, 13773000),
    ("mainnet", 13772999, 0, 0xB715077D, 13773000),
    ("mainnet", 13773000, 0, 0x20C327FC, 15050000),
    ("mainnet", 15049999, 0, 0x20C327FC, 15050000),
    ("mainnet", 15050000, 0, 0xF0AFD0E3, 1681338455),
    ("mainnet", 20000000, 1681338454, 0xF0AFD0E3, 1681338455),
    ("mainnet", 20000000, 1681338455, 0xDCE96C2D, 0),
    ("mainnet", 30000000, 2000000000, 0xDCE96C2D, 0),
    ("rinkeby", 0, 0, 0x3B8E0691, 1),
    ("rinkeby", 1, 0, 0x60949295, 2),
    ("rinkeby", 2, 0, 0x8BDE40DD, 3),
    ("rinkeby", 3, 0, 0xCB3A64BB, 1035301),
    ("rinkeby", 1035300, 0, 0xCB3A64BB, 1035301),
    ("rinkeby", 1035301, 0, 0x8D748B57, 3660663),
    ("rinkeby", 3660662, 0, 0x8D748B57, 3660663),
    ("rinkeby", 3660663, 0, 0xE49CAB14, 4321234),
    ("rinkeby", 4321233, 0, 0xE49CAB14, 4321234),
    ("rinkeby", 4321234, 0, 0xAFEC6B27, 5435345),
    ("rinkeby", 5435344, 0, 0xAFEC6B27, 5435345),
    ("rinkeby", 5435345, 0, 0xCBDB8838, 8290928),
    ("rinkeby", 8290927, 0, 0xCBDB8838, 8290928),
    ("rinkeby", 8290928, 0, 0x6910C8BD, 8897988),
    ("rinkeby", 8897987, 0, 0x6910C8BD, 8897988),
    ("rinkeby", 8897988, 0, 0x8E29F2F3, 0),
    ("rinkeby", 10000000, 0, 0x8E29F2F3, 0),
    ("goerli", 0, 0, 0xA3F5AB08, 1561651),
    ("goerli", 1561650, 0, 0xA3F5AB08, 1561651),
    ("goerli", 1561651, 0, 0xC25EFA5C, 4460644),
    ("goerli", 4460643, 0, 0xC25EFA5C, 4460644),
    ("goerli", 4460644, 0, 0x757A1C47, 5062605),
    ("goerli", 5000000, 0, 0x757A1C47, 5062605),
    ("goerli", 5062605, 0, 0xB8C6299D, 1678832736),
    ("goerli", 6000000, 1678832735, 0xB8C6299D, 1678832736),
    ("goerli", 6000001, 1678832736, 0xF9843ABF, 0),
    ("goerli", 6500000, 2678832736, 0xF9843ABF, 0),
    ("sepolia", 0, 0, 0xFE3366E7, 1735371),
    ("sepolia", 1735370, 0, 0xFE3366E7, 1735371),
    ("sepolia", 1735371, 0, 0xB96CBD13, 1677557088),
    ("sepolia", 1735372, 1677557087, 0xB96CBD13, 1677557088),
    ("sepolia", 1735372, 1677557088, 0xF7F9BC08, 0),
]


@pytest.mark.parametrize(("network", "head", "time", "checksum", "next_"), CREATION)
def test_creation_vectors(network: str, head: int, time: int, checksum: int, next_: int) -> None:
    genesis = NETWORKS[network].genesis_hash
    got = fork_id(genesis, FORK_SCHEDULES[network], head, time)
    assert got == ForkId(checksum.to_bytes(4, "big"), next_)


def _update(checksum: int, fork: int) -> int:
    return zlib.crc32(fork.to_bytes(8, "big"), checksum)


LEGACY = ForkSchedule(FORK_SCHEDULES["mainnet"].blocks)  # mainnet without Shanghai
MAINNET = FORK_SCHEDULES["mainnet"]
OK = None
# TestValidation: (schedule, head, time, remote hash, remote next, expected error)
VALIDATION = [
    (LEGACY, 15050000, 0, 0xF0AFD0E3, 0, OK),
    (LEGACY, 15050000, 0, 0xF0AFD0E3, MAX64, OK),
    (LEGACY, 7279999, 0, 0xA00BC324, 0, OK),
    (LEGACY, 7279999, 0, 0xA00BC324, 7280000, OK),
    (LEGACY, 7279999, 0, 0xA00BC324, MAX64, OK),
    (LEGACY, 7280000, 0, 0xA00BC324, 7280000, OK),
    (LEGACY, 7987396, 0, 0xA00BC324, 7280000, OK),
    (LEGACY, 7987396, 0, 0x3EDD5B10, 4370000, OK),
    (LEGACY, 7279999, 0, 0x668DB0AF, 0, OK),
    (LEGACY, 4369999, 0, 0xA00BC324, 0, OK),
    (LEGACY, 7987396, 0, 0xA00BC324, 0, ERR_REMOTE_STALE),
    (LEGACY, 7987396, 0, 0x5CDDC0E1, 0, ERR_LOCAL_INCOMPATIBLE),
    (LEGACY, 7279999, 0, 0x5CDDC0E1, 0, ERR_LOCAL_INCOMPATIBLE),
    (LEGACY, 7987396, 0, 0xAFEC6B27, 0, ERR_LOCAL_INCOMPATIBLE),
    (LEGACY, 88888888, 0, 0xF0AFD0E3, 88888888, ERR_LOCAL_INCOMPATIBLE),
    (LEGACY, 7279999, 0, 0xA00BC324, 7279999, ERR_LOCAL_INCOMPATIBLE),
    (MAINNET, 15050000, 0, 0xF0AFD0E3, 0, OK),
    (MAINNET, 15050000, 0, 0xF0AFD0E3, 1681338455, OK),
    (MAINNET, 15050000, 0, 0xF0AFD0E3, MAX64, OK),
    (MAINNET, 20000000, 1681338455, 0xF0AFD0E3, 1681338455, OK),
    (MAINNET, 20123456, 1681338456, 0xF0AFD0E3, 1681338455, OK),
    (MAINNET, 20000000, 1681338455, 0x20C327FC, 15050000, OK),
    (MAINNET, 15050000, 0, 0xDCE96C2D, 0, OK),
    (MAINNET, 13773000, 0, 0xF0AFD0E3, 0, OK),
    (MAINNET, 20000000, 1681338455, 0xF0AFD0E3, 0, ERR_REMOTE_STALE),
    (MAINNET, 15050000, 0, _update(0xF0AFD0E3, MAX64), 0, ERR_LOCAL_INCOMPATIBLE),
    (MAINNET, 15050000, 0, _update(0xDCE96C2D, MAX64), 0, ERR_LOCAL_INCOMPATIBLE),
    (MAINNET, 888888888, 1660000000, 0xF0AFD0E3, 1660000000, ERR_LOCAL_INCOMPATIBLE),
    (MAINNET, 19999999, 1667999999, 0xF0AFD0E3, 1667999999, ERR_LOCAL_INCOMPATIBLE),
    (MAINNET, 20000000, 1681338455, 0xDCE96C2D, 0, OK),
    (MAINNET, 20000000, 1681338455, 0xDCE96C2D, MAX64, OK),
    (MAINNET, 20000000, 1681338455, _update(0xDCE96C2D, MAX64), 0, ERR_LOCAL_INCOMPATIBLE),
    (MAINNET, 20000000, 1681338455, 0x12345678, 0, ERR_LOCAL_INCOMPATIBLE),
    (MAINNET, 88888888, 8888888888, 0xDCE96C2D, 8888888888, ERR_LOCAL_INCOMPATIBLE),
]


@pytest.mark.parametrize(("schedule", "head", "time", "checksum", "next_", "error"), VALIDATION)
def test_validation_vectors(
    schedule: ForkSchedule, head: int, time: int, checksum: int, next_: int, error: str | None
) -> None:
    flt = ForkFilter(NETWORKS["mainnet"].genesis_hash, schedule)
    remote = ForkId(checksum.to_bytes(4, "big"), next_)
    assert flt.error(remote, head, time) == error
    if error is None:
        flt.check(remote, head, time)
    else:
        with pytest.raises(LesProtocolError) as info:
            flt.check(remote, head, time)
        assert info.value.kind == "ErrForkIDRejected" and info.value.disconnect == 0x10


@pytest.mark.parametrize(
    ("checksum", "next_", "raw"),
    [
        (0, 0, "c6840000000080"),
        (0xDEADBEEF, 0xBADDCAFE, "ca84deadbeef84baddcafe"),
        (2**32 - 1, MAX64, "ce84ffffffff88ffffffffffffffff"),
    ],
)
def test_encoding_vectors(checksum: int, next_: int, raw: str) -> None:
    fid = ForkId(checksum.to_bytes(4, "big"), next_)
    assert fid.encode().hex() == raw
    assert ForkId.decode(bytes.fromhex(raw)) == fid


@pytest.mark.parametrize(
    "raw",
    [
        "c58300000080",  # 3-byte hash
        "c785000000000080",  # 5-byte hash
        "c7840000000080" + "80",  # three elements
        "c6840000000000",  # next as a non-canonical 00
        "cf84ffffffff89010000000000000000",  # next past uint64
    ],
)
def test_decoding_rejects_bad_shapes(raw: str) -> None:
    with pytest.raises(LesProtocolError):
        ForkId.decode(bytes.fromhex(raw))


def test_schedule_gathering_sorts_dedups_and_drops_genesis_forks() -> None:
    assert ForkSchedule.of([5, 0, 3, 5], [0, 9, 7]) == ForkSchedule((3, 5), (7, 9))
    # Sepolia: every fork at 0 except MergeNetsplit; Goerli: Istanbul, Berlin, London.
    assert FORK_SCHEDULES["sepolia"].blocks == (1735371,)
    assert FORK_SCHEDULES["goerli"].blocks == (1561651, 4460644, 5062605)


def test_fresh_client_is_accepted_by_synced_server_rule_2() -> None:
    # spec §4.3: a fresh mainnet client's fc64ec04/1150000 passes a synced server's filter.
    flt = ForkFilter(NETWORKS["mainnet"].genesis_hash, MAINNET)
    assert flt.error(ForkId(bytes.fromhex("fc64ec04"), 1150000), 17_000_000, 1_700_000_000) is None
    assert flt.error(ForkId(bytes.fromhex("fc64ec04"), 1150001), 17_000_000, 1_700_000_000) == (
        ERR_REMOTE_STALE
    )
