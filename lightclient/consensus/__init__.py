"""Consensus checks of the headers after a trusted checkpoint, as geth v1.11.6's engines
make them: ethash (difficulty per fork, the PoW seal) and clique (signers, turns, votes),
with the gas-limit, base-fee and linkage rules they share.

Layer 1: imports only ``lightclient.core``, ``lightclient.errors`` and third-party libraries.
"""

from lightclient.consensus.clique import CliqueEngine, CliqueSnapshot
from lightclient.consensus.config import (
    KNOWN_CONFIGS,
    CliqueParams,
    ConsensusConfig,
    config_from_genesis,
    load_consensus_config,
)
from lightclient.consensus.ethash import EthashEngine
from lightclient.consensus.fields import HeaderFields, header_fields
from lightclient.consensus.verify import (
    CONSENSUS_MODES,
    Engine,
    config_for_network,
    engine_for,
    verify_chain,
)

__all__ = [
    "CONSENSUS_MODES",
    "KNOWN_CONFIGS",
    "CliqueEngine",
    "CliqueParams",
    "CliqueSnapshot",
    "ConsensusConfig",
    "Engine",
    "EthashEngine",
    "HeaderFields",
    "config_for_network",
    "config_from_genesis",
    "engine_for",
    "header_fields",
    "load_consensus_config",
    "verify_chain",
]
