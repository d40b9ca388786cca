"""The header rules shared by the engines, as geth v1.11.6 has them: the gas limit bound
(consensus/misc/gaslimit.go), the EIP-1559 base fee (consensus/misc/eip1559.go), the DAO
extra-data (consensus/misc/dao.go) and ethash's difficulty per fork (consensus/ethash)."""

from __future__ import annotations

from lightclient.consensus.config import ConsensusConfig
from lightclient.consensus.fields import EMPTY_UNCLE_HASH, HeaderFields
from lightclient.errors import ConsensusError

__all__ = [
    "BASE_FEE_CHANGE_DENOMINATOR",
    "ELASTICITY_MULTIPLIER",
    "GAS_LIMIT_BOUND_DIVISOR",
    "INITIAL_BASE_FEE",
    "MAX_GAS_LIMIT",
    "MINIMUM_DIFFICULTY",
    "MIN_GAS_LIMIT",
    "bomb_delay",
    "calc_base_fee",
    "calc_difficulty",
    "verify_dao_extra",
    "verify_eip1559",
    "verify_gas_limit",
]

GAS_LIMIT_BOUND_DIVISOR = 1024
MIN_GAS_LIMIT = 5000
MAX_GAS_LIMIT = 2**63 - 1
ELASTICITY_MULTIPLIER = 2
BASE_FEE_CHANGE_DENOMINATOR = 8
INITIAL_BASE_FEE = 1_000_000_000
MINIMUM_DIFFICULTY = 131072
DIFFICULTY_BOUND_DIVISOR = 2048
DURATION_LIMIT = 13  # Frontier: a block faster than this raises the difficulty
EXP_DIFF_PERIOD = 100_000
DAO_EXTRA = b"dao-hard-fork"
DAO_EXTRA_RANGE = 10

# The difficulty bomb's delay per fork (EIP-649, 1234, 2384, 3554, 4345, 5133), newest first.
_BOMB_DELAYS = (
    ("gray_glacier", 11_400_000),
    ("arrow_glacier", 10_700_000),
    ("london", 9_700_000),
    ("muir_glacier", 9_000_000),
    ("constantinople", 5_000_000),
    ("byzantium", 3_000_000),
)


def verify_gas_limit(parent_limit: int, limit: int, block: int) -> None:
    """The gas limit moves by less than parent/1024 and stays at or above 5000."""
    bound = parent_limit // GAS_LIMIT_BOUND_DIVISOR
    if abs(limit - parent_limit) >= bound:
        raise ConsensusError(
            f"invalid gas limit: have {limit}, want {parent_limit} +-= {bound - 1}",
            block=block,
            rule="errInvalidGasLimit",
        )
    if limit < MIN_GAS_LIMIT:
        raise ConsensusError(
            f"invalid gas limit below {MIN_GAS_LIMIT}: {limit}",
            block=block,
            rule="errInvalidGasLimit",
        )


def calc_base_fee(config: ConsensusConfig, parent: HeaderFields) -> int:
    """The base fee of the block after ``parent`` (EIP-1559)."""
    if not config.active("london", parent.number):
        return INITIAL_BASE_FEE
    parent_fee = parent.base_fee or 0
    target = parent.gas_limit // ELASTICITY_MULTIPLIER
    if target == 0 or parent.gas_used == target:
        return parent_fee
    if parent.gas_used > target:
        delta = parent_fee * (parent.gas_used - target) // target // BASE_FEE_CHANGE_DENOMINATOR
        return parent_fee + max(delta, 1)
    delta = parent_fee * (target - parent.gas_used) // target // BASE_FEE_CHANGE_DENOMINATOR
    return max(parent_fee - delta, 0)


def verify_eip1559(config: ConsensusConfig, parent: HeaderFields, header: HeaderFields) -> None:
    """A London header: the gas limit (doubled at the fork block) and the base fee."""
    parent_limit = parent.gas_limit
    if not config.active("london", parent.number):
        parent_limit *= ELASTICITY_MULTIPLIER
    verify_gas_limit(parent_limit, header.gas_limit, header.number)
    if header.base_fee is None:
        raise ConsensusError("header is missing baseFee", block=header.number, rule="errBaseFee")
    expected = calc_base_fee(config, parent)
    if header.base_fee != expected:
        raise ConsensusError(
            f"invalid baseFee: have {header.base_fee}, want {expected}, parentBaseFee "
            f"{parent.base_fee}, parentGasUsed {parent.gas_used}",
            block=header.number,
            rule="errBaseFee",
        )


def verify_dao_extra(config: ConsensusConfig, header: HeaderFields) -> None:
    """The ten blocks from the DAO fork carry "dao-hard-fork" on a chain that supports it,
    and do not on a chain that opposed it."""
    fork = config.forks.get("dao_fork")
    if fork is None or not fork <= header.number < fork + DAO_EXTRA_RANGE:
        return
    if config.dao_fork_support and header.extra != DAO_EXTRA:
        raise ConsensusError(
            "bad DAO pro-fork extra-data", block=header.number, rule="ErrBadProDAOExtra"
        )
    if not config.dao_fork_support and header.extra == DAO_EXTRA:
        raise ConsensusError(
            "bad DAO no-fork extra-data", block=header.number, rule="ErrBadNoDAOExtra"
        )


def bomb_delay(config: ConsensusConfig, number: int) -> int | None:
    """The bomb delay in force at block ``number``; None before Byzantium."""
    for fork, delay in _BOMB_DELAYS:
        if config.active(fork, number):
            return delay
    return None


def _bomb(period_count: int) -> int:
    return 2 ** (period_count - 2) if period_count > 1 else 0


def calc_difficulty(config: ConsensusConfig, timestamp: int, parent: HeaderFields) -> int:
    """The difficulty ethash requires of a block at ``timestamp`` after ``parent``."""
    number = parent.number + 1
    pdiff = parent.difficulty
    delay = bomb_delay(config, number)
    if delay is not None:  # Byzantium onwards (EIP-100: uncles count)
        x = (timestamp - parent.timestamp) // 9
        x = (1 if parent.uncle_hash == EMPTY_UNCLE_HASH else 2) - x
        diff = max(pdiff + pdiff // DIFFICULTY_BOUND_DIVISOR * max(x, -99), MINIMUM_DIFFICULTY)
        fake = max(parent.number - (delay - 1), 0)
        return diff + _bomb(fake // EXP_DIFF_PERIOD)
    if config.active("homestead", number):
        x = max(1 - (timestamp - parent.timestamp) // 10, -99)
        diff = max(pdiff + pdiff // DIFFICULTY_BOUND_DIVISOR * x, MINIMUM_DIFFICULTY)
        return diff + _bomb(number // EXP_DIFF_PERIOD)
    adjust = pdiff // DIFFICULTY_BOUND_DIVISOR
    faster = timestamp - parent.timestamp < DURATION_LIMIT
    diff = max(pdiff + adjust if faster else pdiff - adjust, MINIMUM_DIFFICULTY)
    period_count = number // EXP_DIFF_PERIOD
    if period_count > 1:
        diff = max(diff + _bomb(period_count), MINIMUM_DIFFICULTY)
    return diff
