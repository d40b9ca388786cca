"""A chain's fork schedule for the LES Status fork ID: built in for the known networks, read
from a geth genesis file (``--chain-config genesis.json``), or, for a chain we know nothing
about, every fork at block 0 (an empty schedule: the fork ID is the genesis hash's CRC32).

geth v1.11.6 gathers the forks from its ``ChainConfig`` by field name: every ``…Block``
field that is set is a block fork and every ``…Time`` field a timestamp fork; zeros (forks
active at genesis) and duplicates drop out. The genesis file's ``config`` object names those
fields in camel case; keys geth v1.11.6 does not know are ignored, as its JSON decoder does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightclient.core import jsontext
from lightclient.errors import InvalidInput
from lightclient.les.forkid import FORK_SCHEDULES, ForkSchedule

__all__ = ["BLOCK_FORKS", "TIME_FORKS", "ChainConfig", "chain_config_for", "load_genesis_config"]

# geth v1.11.6 params.ChainConfig's fork fields, in its order.
BLOCK_FORKS = (
    "homesteadBlock", "daoForkBlock", "eip150Block", "eip155Block", "eip158Block",
    "byzantiumBlock", "constantinopleBlock", "petersburgBlock", "istanbulBlock",
    "muirGlacierBlock", "berlinBlock", "londonBlock", "arrowGlacierBlock", "grayGlacierBlock",
    "mergeNetsplitBlock",
)  # fmt: skip
TIME_FORKS = ("shanghaiTime", "cancunTime", "pragueTime")
MAX_GENESIS_BYTES = 64 * 1024 * 1024  # a genesis with a large alloc is still a few MB


@dataclass(frozen=True, slots=True)
class ChainConfig:
    """What the LES handshake needs of a chain besides its genesis hash."""

    chain_id: int | None
    schedule: ForkSchedule
    source: str  # where it came from, for messages


def _fork_value(config: dict[str, Any], key: str, path: Path) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise InvalidInput(f"{path}: config.{key} must be a uint64, got {value!r:.40}")
    return value


def load_genesis_config(path: str | Path) -> ChainConfig:
    """The fork schedule in a geth genesis file; one-line errors for a bad file."""
    file = Path(path)
    genesis = jsontext.load_file(file, what="chain config", max_bytes=MAX_GENESIS_BYTES)
    config = genesis.get("config") if isinstance(genesis, dict) else None
    if not isinstance(config, dict):
        raise InvalidInput(f'{file} has no "config" object (a geth genesis file has one)')
    blocks = [v for k in BLOCK_FORKS if (v := _fork_value(config, k, file)) is not None]
    times = [v for k in TIME_FORKS if (v := _fork_value(config, k, file)) is not None]
    chain_id = _fork_value(config, "chainId", file)
    return ChainConfig(chain_id, ForkSchedule.of(blocks, times), str(file))


def chain_config_for(network: str | None, genesis_file: str | None) -> ChainConfig:
    """``--chain-config`` if given, else a known network's schedule, else all forks at 0."""
    if genesis_file is not None:
        return load_genesis_config(genesis_file)
    if network is not None:
        schedule = FORK_SCHEDULES.get(network)
        if schedule is None:
            known = ", ".join(sorted(FORK_SCHEDULES))
            raise InvalidInput(f"no built-in fork schedule for {network!r}; known: {known}")
        return ChainConfig(None, schedule, f"the built-in {network} schedule")
    return ChainConfig(None, ForkSchedule.of([]), "every fork at block 0 (no chain config)")
