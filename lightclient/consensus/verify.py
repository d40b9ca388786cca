"""Checking a run of headers after a trusted parent, and choosing the engine
(``--consensus auto|ethash|clique|none``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from lightclient.consensus.clique import CliqueEngine
from lightclient.consensus.config import KNOWN_CONFIGS, CliqueParams, ConsensusConfig
from lightclient.consensus.ethash import EthashEngine
from lightclient.consensus.fields import HeaderFields, header_fields
from lightclient.consensus.rules import MAX_GAS_LIMIT, verify_dao_extra, verify_eip1559
from lightclient.consensus.rules import verify_gas_limit as _verify_gas_limit
from lightclient.core.header import Header
from lightclient.errors import ConsensusError, InvalidInput

__all__ = ["CONSENSUS_MODES", "Engine", "config_for_network", "engine_for", "verify_chain"]

CONSENSUS_MODES = ("auto", "ethash", "clique", "none")


class Engine(Protocol):
    """A consensus engine: ``begin`` at the trusted parent, ``verify`` each header in order
    (raising :class:`ConsensusError`), ``commit`` once all of them passed."""

    name: str

    def begin(self, parent: HeaderFields, config: ConsensusConfig) -> Engine: ...

    def verify(
        self,
        header: HeaderFields,
        parent: HeaderFields,
        config: ConsensusConfig,
        now: int | None = None,
    ) -> None: ...

    def commit(self) -> None: ...


def _verify_common(header: HeaderFields, parent: HeaderFields, config: ConsensusConfig) -> None:
    n = header.number
    if header.number != parent.number + 1:
        raise ConsensusError(
            f"number {n} does not follow the parent's {parent.number}",
            block=n,
            rule="errInvalidNumber",
        )
    if header.parent_hash != parent.hash:
        raise ConsensusError(
            f"parent hash 0x{header.parent_hash.hex()} is not block {parent.number}'s "
            f"0x{parent.hash.hex()}",
            block=n,
            rule="ErrUnknownAncestor",
        )
    if header.gas_limit > MAX_GAS_LIMIT:
        raise ConsensusError(
            f"invalid gasLimit: have {header.gas_limit}, max {MAX_GAS_LIMIT}",
            block=n,
            rule="errInvalidGasLimit",
        )
    if header.gas_used > header.gas_limit:
        raise ConsensusError(
            f"invalid gasUsed: have {header.gas_used}, gasLimit {header.gas_limit}",
            block=n,
            rule="errInvalidGasUsed",
        )
    if config.active("london", n):
        verify_eip1559(config, parent, header)
    else:
        if header.base_fee is not None:
            raise ConsensusError(
                f"invalid baseFee before fork: have {header.base_fee}, expected 'nil'",
                block=n,
                rule="errBaseFee",
            )
        _verify_gas_limit(parent.gas_limit, header.gas_limit, n)
    for fork, at in (("shanghai", config.shanghai_time), ("cancun", config.cancun_time)):
        if at is not None and header.timestamp >= at:
            raise ConsensusError(
                f"the {fork} fork is past the Merge: no proof-of-work or proof-of-authority "
                "engine verifies it",
                block=n,
                rule="errUnsupportedFork",
            )
    if len(header.raw_fields) > 16:
        raise ConsensusError(
            "a proof-of-work or proof-of-authority header has no withdrawals root or later "
            "fields (Shanghai is past the Merge)",
            block=n,
            rule="errUnsupportedFork",
        )
    verify_dao_extra(config, header)


def verify_chain(
    parent: Header | HeaderFields | bytes,
    headers: Sequence[bytes | Header | HeaderFields],
    engine: Engine,
    config: ConsensusConfig,
    *,
    now: int | None = None,
) -> None:
    """Check each header against the one before it, the first against the trusted
    ``parent``: the hash and number link, gas limit and used, base fee, DAO extra-data, and
    the engine's rules (timestamp, difficulty, seal or signer). ``now`` (Unix seconds), if
    given, also refuses blocks from the future. Raises :class:`ConsensusError` naming the
    first block that fails; an engine keeps state (clique's signers) only if all pass."""
    previous = header_fields(parent)
    session = engine.begin(previous, config)
    for raw in headers:
        header = header_fields(raw, previous.number + 1)
        _verify_common(header, previous, config)
        session.verify(header, previous, config, now)
        previous = header
    session.commit()


def config_for_network(network: str) -> ConsensusConfig:
    """A known network's built-in consensus config."""
    config = KNOWN_CONFIGS.get(network)
    if config is None:
        known = ", ".join(sorted(KNOWN_CONFIGS))
        raise InvalidInput(f"no built-in consensus config for {network!r}; known: {known}")
    return config


def engine_for(
    mode: str,
    config: ConsensusConfig | None,
    *,
    clique_signers: list[bytes] | None = None,
) -> Engine | None:
    """The engine ``--consensus MODE`` asks for; None for ``none`` (headers past the
    checkpoint then rest on the server's word).

    ``auto`` takes it from the config (a known network's or a genesis file's). A chain past
    the Merge, or one with no ``ethash``/``clique`` section (a dev chain), has no engine a
    light client can check: an :class:`InvalidInput` saying to pass ``--consensus none``.
    ``ethash`` or ``clique`` force that engine (clique still needs the config's period and
    epoch, or the defaults 15 s and 30000).
    """
    if mode not in CONSENSUS_MODES:
        raise InvalidInput(f"--consensus must be one of {', '.join(CONSENSUS_MODES)}, not {mode!r}")
    if mode == "none":
        return None
    if mode == "ethash":
        return EthashEngine()
    if mode == "clique":
        params = config.clique if config is not None else None
        return CliqueEngine(params or CliqueParams(), clique_signers)
    if config is None:
        raise InvalidInput(
            "--consensus auto needs a known network or --chain-config genesis.json; "
            "pass --consensus none to follow the chain on the server's word"
        )
    if config.merged:
        raise InvalidInput(
            f"{config.source}: the chain is past the Merge, whose headers no light client "
            "engine can check; pass --consensus none to follow it on the server's word"
        )
    if config.engine == "ethash":
        return EthashEngine()
    if config.engine == "clique" and config.clique is not None:
        return CliqueEngine(config.clique, clique_signers)
    raise InvalidInput(
        f"{config.source} names no ethash or clique engine (a dev chain?); pass "
        "--consensus none to follow it on the server's word"
    )
