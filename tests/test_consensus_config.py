"""Choosing the engine (``--consensus auto|ethash|clique|none``) from a known network or a
geth genesis file, and the rules the engines share: gas limit bound and EIP-1559 base fee."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lightclient.consensus import (
    CliqueEngine,
    ConsensusConfig,
    EthashEngine,
    HeaderFields,
    config_for_network,
    engine_for,
    load_consensus_config,
    verify_chain,
)
from lightclient.consensus.fields import EMPTY_UNCLE_HASH
from lightclient.consensus.rules import (
    INITIAL_BASE_FEE,
    bomb_delay,
    calc_base_fee,
    verify_gas_limit,
)
from lightclient.errors import ConsensusError, InvalidInput


def write(tmp_path: Path, config: dict[str, Any], name: str = "genesis.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"config": config, "difficulty": "0x1", "alloc": {}}))
    return path


ETHASH_GENESIS = {
    "chainId": 1337, "homesteadBlock": 0, "eip150Block": 0, "byzantiumBlock": 0,
    "constantinopleBlock": 0, "petersburgBlock": 0, "istanbulBlock": 0,
    "muirGlacierBlock": 0, "berlinBlock": 0, "londonBlock": 10, "ethash": {},
}  # fmt: skip


def test_auto_reads_the_engine_from_a_genesis_file(tmp_path: Path) -> None:
    config = load_consensus_config(write(tmp_path, ETHASH_GENESIS))
    assert config.engine == "ethash" and config.chain_id == 1337
    assert config.active("london", 10) and not config.active("london", 9)
    assert bomb_delay(config, 5) == 9_000_000  # Muir Glacier
    assert isinstance(engine_for("auto", config), EthashEngine)
    clique = {**ETHASH_GENESIS, "clique": {"period": 0, "epoch": 100}}
    del clique["ethash"]
    config = load_consensus_config(write(tmp_path, clique))
    engine = engine_for("auto", config)
    assert isinstance(engine, CliqueEngine)
    assert (engine.params.period, engine.params.epoch) == (0, 100)


def test_a_dev_chain_or_a_merged_chain_needs_consensus_none(tmp_path: Path) -> None:
    dev = load_consensus_config(write(tmp_path, {"chainId": 31337, "londonBlock": 0}))
    with pytest.raises(InvalidInput, match="--consensus none"):
        engine_for("auto", dev)
    merged = {**ETHASH_GENESIS, "terminalTotalDifficulty": 0}
    with pytest.raises(InvalidInput, match="past the Merge"):
        engine_for("auto", load_consensus_config(write(tmp_path, merged)))
    passed = {**ETHASH_GENESIS, "terminalTotalDifficulty": 5, "terminalTotalDifficultyPassed": True}
    with pytest.raises(InvalidInput, match="past the Merge"):
        engine_for("auto", load_consensus_config(write(tmp_path, passed)))
    with pytest.raises(InvalidInput, match="--consensus none"):
        engine_for("auto", None)
    assert engine_for("none", dev) is None
    assert engine_for("none", None) is None


def test_known_networks() -> None:
    for merged in ("mainnet", "sepolia", "goerli"):
        with pytest.raises(InvalidInput, match="past the Merge"):
            engine_for("auto", config_for_network(merged))
    assert isinstance(engine_for("auto", config_for_network("rinkeby")), CliqueEngine)
    # forcing an engine is allowed: mainnet's pre-Merge headers are ethash headers
    assert isinstance(engine_for("ethash", config_for_network("mainnet")), EthashEngine)
    with pytest.raises(InvalidInput, match="known: goerli, mainnet, rinkeby, sepolia"):
        config_for_network("holesky")
    with pytest.raises(InvalidInput, match="--consensus must be one of"):
        engine_for("pow", None)
    forced = engine_for("clique", None, clique_signers=[b"\x01" * 20])
    assert isinstance(forced, CliqueEngine) and forced.params.epoch == 30000


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[1]", "not a JSON object"),
        ("{", "is not JSON"),
        ('{"alloc": {}}', 'has no "config" object'),
        ('{"config": {"londonBlock": -1}}', "londonBlock must be a uint64"),
        ('{"config": {"clique": 5}}', "clique must be an object"),
        ('{"config": {"terminalTotalDifficultyPassed": 1}}', "must be a boolean"),
    ],
)
def test_bad_genesis_files_are_one_line_errors(tmp_path: Path, config: str, message: str) -> None:
    path = tmp_path / "g.json"
    path.write_text(config)
    with pytest.raises(InvalidInput, match=message):
        load_consensus_config(path)
    with pytest.raises(InvalidInput, match="cannot read"):
        load_consensus_config(tmp_path / "missing.json")


def _header(number: int, gas_limit: int, gas_used: int, base_fee: int | None) -> HeaderFields:
    return HeaderFields(
        bytes(32), bytes(32), EMPTY_UNCLE_HASH, bytes(20), 1, number, gas_limit, gas_used,
        0, b"", bytes(32), bytes(8), base_fee, (),
    )  # fmt: skip


LONDON = ConsensusConfig("ethash", forks={"london": 100})


def test_base_fee_follows_eip_1559() -> None:
    assert calc_base_fee(LONDON, _header(98, 30_000_000, 0, None)) == INITIAL_BASE_FEE
    at_target = _header(100, 30_000_000, 15_000_000, 10**9)
    assert calc_base_fee(LONDON, at_target) == 10**9
    full = _header(100, 30_000_000, 30_000_000, 10**9)
    assert calc_base_fee(LONDON, full) == 10**9 * 9 // 8
    empty = _header(100, 30_000_000, 0, 10**9)
    assert calc_base_fee(LONDON, empty) == 10**9 * 7 // 8
    # the increase is at least 1 wei, a decrease can reach 0
    assert calc_base_fee(LONDON, _header(100, 30_000_000, 15_000_001, 7)) == 8
    assert calc_base_fee(LONDON, _header(100, 30_000_000, 0, 0)) == 0


def test_gas_limit_bound() -> None:
    verify_gas_limit(1024 * 1000, 1024 * 1000 + 999, 5)
    with pytest.raises(ConsensusError) as info:
        verify_gas_limit(1024 * 1000, 1024 * 1000 + 1000, 5)
    assert (info.value.block, info.value.rule) == (5, "errInvalidGasLimit")
    with pytest.raises(ConsensusError):
        verify_gas_limit(1024 * 1000, 1024 * 1000 - 1000, 5)
    with pytest.raises(ConsensusError, match="below 5000"):
        verify_gas_limit(5000, 4999, 5)


def test_headers_past_shanghai_are_refused() -> None:
    from test_consensus_ethash import BLOCK1, GENESIS, MAINNET

    config = replace(MAINNET, shanghai_time=1438269988)  # block 1's timestamp
    with pytest.raises(ConsensusError) as info:
        verify_chain(GENESIS, [BLOCK1], EthashEngine(), config)
    assert (info.value.block, info.value.rule) == (1, "errUnsupportedFork")


def test_the_consensus_package_imports_only_core_and_errors() -> None:
    import ast

    package = Path(__file__).resolve().parent.parent / "lightclient" / "consensus"
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lightclient"):
                part = (node.module or "").split(".")[1]
                assert part in ("core", "errors", "consensus"), f"{path.name}: {node.module}"


def test_dao_extra_data_in_the_ten_fork_blocks() -> None:
    from lightclient.consensus.rules import verify_dao_extra

    pro = ConsensusConfig("ethash", forks={"dao_fork": 100}, dao_fork_support=True)
    against = replace(pro, dao_fork_support=False)

    def header(number: int, extra: bytes) -> HeaderFields:
        return replace(_header(number, 5000, 0, None), extra=extra)

    for number in (99, 110):
        verify_dao_extra(pro, header(number, b""))
    verify_dao_extra(pro, header(109, b"dao-hard-fork"))
    verify_dao_extra(against, header(100, b""))
    with pytest.raises(ConsensusError) as info:
        verify_dao_extra(pro, header(105, b""))
    assert (info.value.block, info.value.rule) == (105, "ErrBadProDAOExtra")
    with pytest.raises(ConsensusError) as info:
        verify_dao_extra(against, header(100, b"dao-hard-fork"))
    assert info.value.rule == "ErrBadNoDAOExtra"


def test_built_in_fork_blocks_agree_with_the_fork_id_schedules() -> None:
    """The consensus configs were written separately from les/forkid.py's schedules, which
    geth v1.11.6's forkid_test.go vectors check; every fork block named here must be one of
    those schedules' fork blocks (or 0: active at genesis)."""
    from lightclient.consensus.config import KNOWN_CONFIGS
    from lightclient.les.forkid import FORK_SCHEDULES

    for name, config in KNOWN_CONFIGS.items():
        schedule = FORK_SCHEDULES[name]
        for fork, block in config.forks.items():
            if block:
                assert block in schedule.blocks, f"{name}: {fork} at {block} not in geth's forks"
        if config.shanghai_time is not None:
            assert config.shanghai_time in schedule.times, f"{name}: shanghai"


def test_the_client_refuses_a_chain_it_cannot_check_unless_told(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Mainnet's checkpoint is past the Merge: --consensus auto refuses with a one-line error
    naming the way out, before dialing anyone."""
    from lightclient.cli.main import main

    enode = "enode://" + "ab" * 64 + "@127.0.0.1:9"
    assert main(["client", "--server", enode, "--checkpoint", "network"]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("lightclient: error: the built-in mainnet config: ")
    assert "past the Merge" in last and "pass --consensus none" in last
