"""What the consensus rules need of a chain: fork blocks, the engine and its parameters.

Read from a geth genesis file's ``config`` object (the ``ethash`` / ``clique`` sections, the
``…Block`` forks, ``shanghaiTime``/``cancunTime``, ``terminalTotalDifficulty``) or built in
for the networks geth v1.11.6 knew (params/config.go).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightclient.core import jsontext
from lightclient.errors import InvalidInput

__all__ = [
    "KNOWN_CONFIGS",
    "CliqueParams",
    "ConsensusConfig",
    "config_from_genesis",
    "load_consensus_config",
]

MAX_GENESIS_BYTES = 64 * 1024 * 1024

# The block forks whose rules the header checks depend on (geth's ChainConfig JSON names).
_FORK_KEYS = {
    "homestead": "homesteadBlock",
    "dao_fork": "daoForkBlock",
    "byzantium": "byzantiumBlock",
    "constantinople": "constantinopleBlock",
    "muir_glacier": "muirGlacierBlock",
    "london": "londonBlock",
    "arrow_glacier": "arrowGlacierBlock",
    "gray_glacier": "grayGlacierBlock",
}


@dataclass(frozen=True, slots=True)
class CliqueParams:
    period: int = 15  # seconds between blocks
    epoch: int = 30000  # blocks between checkpoints that list the signers


@dataclass(frozen=True, slots=True)
class ConsensusConfig:
    """A chain's consensus parameters. A fork set to None never activates."""

    engine: str  # "ethash", "clique" or "" (no engine section: a dev or unknown chain)
    chain_id: int | None = None
    clique: CliqueParams | None = None
    forks: Mapping[str, int | None] = field(default_factory=dict)
    dao_fork_support: bool = False
    shanghai_time: int | None = None
    cancun_time: int | None = None
    terminal_total_difficulty: int | None = None
    terminal_total_difficulty_passed: bool = False
    source: str = "a chain config"

    def active(self, fork: str, number: int) -> bool:
        """Whether block fork ``fork`` (a key of ``_FORK_KEYS``) is active at ``number``."""
        if fork not in _FORK_KEYS:
            raise InvalidInput(f"unknown fork {fork!r}")
        at = self.forks.get(fork)
        return at is not None and number >= at

    @property
    def merged(self) -> bool:
        """The chain has passed (or starts at) the Merge: its head has no PoW/PoA engine."""
        return self.terminal_total_difficulty_passed or self.terminal_total_difficulty == 0


def _uint(config: Mapping[str, Any], key: str, where: str, bits: int = 64) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise InvalidInput(f"{where}: config.{key} must be a uint{bits}, got {value!r:.40}")
    return value


def config_from_genesis(genesis: Mapping[str, Any], where: str = "genesis") -> ConsensusConfig:
    """The consensus config of a parsed geth genesis document."""
    config = genesis.get("config")
    if not isinstance(config, Mapping):
        raise InvalidInput(f'{where} has no "config" object (a geth genesis file has one)')
    forks = {name: _uint(config, key, where) for name, key in _FORK_KEYS.items()}
    clique: CliqueParams | None = None
    if "clique" in config and config["clique"] is not None:
        section = config["clique"]
        if not isinstance(section, Mapping):
            raise InvalidInput(f"{where}: config.clique must be an object")
        period = _uint(section, "period", where)
        epoch = _uint(section, "epoch", where)
        clique = CliqueParams(15 if period is None else period, epoch or 30000)
        engine = "clique"
    elif "ethash" in config:
        engine = "ethash"
    else:
        engine = ""
    passed = config.get("terminalTotalDifficultyPassed", False)
    if not isinstance(passed, bool):
        raise InvalidInput(f"{where}: config.terminalTotalDifficultyPassed must be a boolean")
    support = config.get("daoForkSupport", False)
    return ConsensusConfig(
        engine=engine,
        chain_id=_uint(config, "chainId", where, 256),
        clique=clique,
        forks=forks,
        dao_fork_support=support is True,
        shanghai_time=_uint(config, "shanghaiTime", where),
        cancun_time=_uint(config, "cancunTime", where),
        terminal_total_difficulty=_uint(config, "terminalTotalDifficulty", where, 256),
        terminal_total_difficulty_passed=passed,
        source=where,
    )


def load_consensus_config(path: str | Path) -> ConsensusConfig:
    """The consensus config in a geth genesis file; one-line errors for a bad file."""
    file = Path(path)
    genesis = jsontext.load_file(file, what="chain config", max_bytes=MAX_GENESIS_BYTES)
    if not isinstance(genesis, dict):
        raise InvalidInput(f"{file} is not a JSON object")
    return config_from_genesis(genesis, str(file))


def _forks(**blocks: int) -> dict[str, int | None]:
    return {name: blocks.get(name) for name in _FORK_KEYS}


# geth v1.11.6 params/config.go (only the fields the header rules read).
KNOWN_CONFIGS: dict[str, ConsensusConfig] = {
    "mainnet": ConsensusConfig(
        "ethash",
        chain_id=1,
        forks=_forks(
            homestead=1_150_000,
            dao_fork=1_920_000,
            byzantium=4_370_000,
            constantinople=7_280_000,
            muir_glacier=9_200_000,
            london=12_965_000,
            arrow_glacier=13_773_000,
            gray_glacier=15_050_000,
        ),
        dao_fork_support=True,
        shanghai_time=1681338455,
        terminal_total_difficulty=58_750_000_000_000_000_000_000,
        terminal_total_difficulty_passed=True,
        source="the built-in mainnet config",
    ),
    "sepolia": ConsensusConfig(
        "ethash",
        chain_id=11155111,
        forks=_forks(homestead=0, byzantium=0, constantinople=0, muir_glacier=0, london=0),
        shanghai_time=1677557088,
        terminal_total_difficulty=17_000_000_000_000_000,
        terminal_total_difficulty_passed=True,
        source="the built-in sepolia config",
    ),
    "goerli": ConsensusConfig(
        "clique",
        chain_id=5,
        clique=CliqueParams(15, 30000),
        forks=_forks(homestead=0, byzantium=0, constantinople=0, london=5_062_605),
        shanghai_time=1678832736,
        terminal_total_difficulty=10_790_000,
        terminal_total_difficulty_passed=True,
        source="the built-in goerli config",
    ),
    "rinkeby": ConsensusConfig(
        "clique",
        chain_id=4,
        clique=CliqueParams(15, 30000),
        forks=_forks(homestead=1, byzantium=1_035_301, constantinople=3_660_663, london=8_897_988),
        source="the built-in rinkeby config",
    ),
}
