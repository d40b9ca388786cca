"""Fork schedules for the Status fork ID: a geth genesis file, a built-in network, or none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightclient.errors import InvalidInput
from lightclient.les.chainconfig import chain_config_for, load_genesis_config
from lightclient.les.forkid import FORK_SCHEDULES, fork_id

MAINNET_GENESIS = bytes.fromhex("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3")


def test_a_genesis_file_gives_geths_schedule(tmp_path: Path) -> None:
    config = {
        "chainId": 1337, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
        "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0,
        "istanbulBlock": 0, "berlinBlock": 5, "londonBlock": 10, "shanghaiTime": 1_700_000_000,
        "terminalTotalDifficulty": 0, "futureBlock": 99, "clique": {"period": 5},
    }  # fmt: skip
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps({"config": config, "alloc": {}, "gasLimit": "0x1"}))
    chain = load_genesis_config(path)
    assert chain.chain_id == 1337
    # Zeros drop out (active at genesis); unknown fields (futureBlock) are ignored, as geth.
    assert chain.schedule.blocks == (5, 10) and chain.schedule.times == (1_700_000_000,)


def test_the_mainnet_file_matches_the_built_in_schedule(tmp_path: Path) -> None:
    """geth's mainnet config as a genesis file gives the same fork IDs as the table."""
    blocks = {"homesteadBlock": 1_150_000, "daoForkBlock": 1_920_000, "eip150Block": 2_463_000,
              "eip155Block": 2_675_000, "eip158Block": 2_675_000, "byzantiumBlock": 4_370_000,
              "constantinopleBlock": 7_280_000, "petersburgBlock": 7_280_000,
              "istanbulBlock": 9_069_000, "muirGlacierBlock": 9_200_000,
              "berlinBlock": 12_244_000, "londonBlock": 12_965_000,
              "arrowGlacierBlock": 13_773_000, "grayGlacierBlock": 15_050_000}  # fmt: skip
    path = tmp_path / "mainnet.json"
    path.write_text(json.dumps({"config": {"chainId": 1, **blocks, "shanghaiTime": 1681338455}}))
    chain = load_genesis_config(path)
    built_in = FORK_SCHEDULES["mainnet"]
    for head, time in ((0, 0), (1_150_000, 0), (15_050_000, 0), (20_000_000, 1681338455)):
        assert fork_id(MAINNET_GENESIS, chain.schedule, head, time) == fork_id(
            MAINNET_GENESIS, built_in, head, time
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "is not JSON"),
        ("[]", 'has no "config" object'),
        ('{"config": {"londonBlock": -1}}', "config.londonBlock must be a uint64"),
        ('{"config": {"londonBlock": "5"}}', "config.londonBlock must be a uint64"),
        ('{"config": {"shanghaiTime": true}}', "config.shanghaiTime must be a uint64"),
    ],
)
def test_bad_genesis_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "g.json"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        load_genesis_config(path)
    with pytest.raises(InvalidInput, match="cannot read the chain config"):
        load_genesis_config(tmp_path / "missing.json")


def test_without_a_config_every_fork_is_at_zero() -> None:
    chain = chain_config_for(None, None)
    assert chain.schedule.forks == ()
    assert fork_id(MAINNET_GENESIS, chain.schedule, 10**7, 0).next == 0
    assert chain_config_for("sepolia", None).schedule == FORK_SCHEDULES["sepolia"]
    with pytest.raises(InvalidInput, match="no built-in fork schedule"):
        chain_config_for("nonet", None)
