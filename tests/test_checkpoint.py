"""TrustedCheckpoint, OracleConfig and the hard-coded networks against the spec vectors."""

from __future__ import annotations

from typing import Any

import pytest

from lightclient.core.checkpoint import ZERO_HASH, OracleConfig, TrustedCheckpoint, parse_hash
from lightclient.core.keccak import keccak
from lightclient.core.networks import NETWORKS, network, network_by_genesis
from lightclient.core.sections import cht_key, cht_value
from lightclient.errors import InvalidInput


def _cp(v: dict[str, Any]) -> TrustedCheckpoint:
    return TrustedCheckpoint.from_json(v)


@pytest.mark.parametrize("name", ["mainnet", "sepolia", "rinkeby", "goerli"])
def test_hard_coded_checkpoints(name: str, checkpoint_vectors: Any) -> None:
    v = checkpoint_vectors["checkpoints"][name]
    net = NETWORKS[name]
    assert net.genesis_hash.hex() == v["genesis"][2:]
    assert net.checkpoint == _cp(v)
    assert "0x" + net.checkpoint.hash().hex() == v["hash"]
    assert net.checkpoint.head_block() == v["headBlock"]
    assert network_by_genesis(net.genesis_hash) is net


def test_mainnet_preimage_rlp_and_rpc_forms(checkpoint_vectors: Any) -> None:
    v = checkpoint_vectors["checkpoints"]["mainnet"]
    cp = network("mainnet").checkpoint
    preimage = bytes.fromhex(v["preimage"][2:])
    assert len(preimage) == 104
    assert keccak(preimage) == cp.hash()
    assert "0x" + cp.rlp().hex() == v["rlp"]
    assert cp.latest_rpc_form() == v["latestCheckpoint"]
    assert cp.get_rpc_form() == v["latestCheckpoint"][1:]
    assert TrustedCheckpoint.from_latest_rpc_form(v["latestCheckpoint"]) == cp
    assert TrustedCheckpoint.from_get_rpc_form(506, v["latestCheckpoint"][1:]) == cp
    assert cp.to_json()["sectionIndex"] == 506  # a JSON number, not a hex string
    assert cp.to_json_with_hash()["hash"] == v["hash"]


def test_oracle_test_fixture_hashes(checkpoint_vectors: Any) -> None:
    cases = checkpoint_vectors["oracleTestCheckpoints"]["cases"]
    assert len(cases) == 3
    for case in cases:
        assert "0x" + _cp(case).hash().hex() == case["hash"]


def test_index_formatting() -> None:
    cp = TrustedCheckpoint(0, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)
    assert cp.latest_rpc_form()[0] == "0x0"
    assert (
        TrustedCheckpoint(506, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32).latest_rpc_form()[0]
        == "0x1fa"
    )


def test_emptiness_and_hash_equal() -> None:
    full = TrustedCheckpoint(0, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)
    assert not full.is_empty()  # index 0 with real roots is not empty
    assert full.hash_equal(full.hash())
    assert not full.hash_equal(ZERO_HASH)
    for i in range(3):
        parts = [b"\x01" * 32, b"\x02" * 32, b"\x03" * 32]
        parts[i] = ZERO_HASH
        empty = TrustedCheckpoint(7, *parts)
        assert empty.is_empty()
        assert empty.hash_equal(ZERO_HASH)
        assert not empty.hash_equal(empty.hash())


def test_bad_checkpoint_input() -> None:
    with pytest.raises(InvalidInput):
        TrustedCheckpoint(-1, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)
    with pytest.raises(InvalidInput):
        TrustedCheckpoint(2**64, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)
    with pytest.raises(InvalidInput):
        TrustedCheckpoint(1, b"\x01" * 31, b"\x02" * 32, b"\x03" * 32)
    with pytest.raises(InvalidInput, match="sectionHead"):
        TrustedCheckpoint.from_json(
            {
                "sectionIndex": 1,
                "sectionHead": "0x12",
                "chtRoot": "0x" + "00" * 32,
                "bloomRoot": "0x" + "00" * 32,
            }
        )
    with pytest.raises(InvalidInput):
        TrustedCheckpoint.from_json({"sectionIndex": 1})
    with pytest.raises(InvalidInput):
        TrustedCheckpoint.from_latest_rpc_form(["0x1", "0x" + "00" * 32])
    with pytest.raises(InvalidInput):
        parse_hash("0x" + "zz" * 32)


@pytest.mark.parametrize("name", ["mainnet", "rinkeby", "goerli"])
def test_oracle_configs(name: str, checkpoint_vectors: Any) -> None:
    v = checkpoint_vectors["oracles"][name]
    oracle = network(name).oracle
    assert oracle is not None
    assert oracle.address == v["address"]
    assert oracle.threshold == v["threshold"]
    assert sorted(oracle.signers, key=lambda a: int(a, 16)) == v["signersAscending"]
    assert oracle.is_valid()


def test_sepolia_has_no_oracle() -> None:
    assert network("sepolia").oracle is None


def test_oracle_config_validation() -> None:
    zero = OracleConfig("0x" + "00" * 20, ("0x" + "11" * 20,), 1)
    assert not zero.is_valid()
    too_few = OracleConfig("0x" + "22" * 20, ("0x" + "11" * 20,), 2)
    assert not too_few.is_valid()
    assert OracleConfig("0x" + "22" * 20, (), 0).is_valid()  # geth does not reject threshold 0
    with pytest.raises(InvalidInput):
        OracleConfig("0x1234", (), 0)
    with pytest.raises(InvalidInput, match="unknown network"):
        network("ropsten")


def test_mainnet_genesis_cht_leaf(checkpoint_vectors: Any) -> None:
    leaf = checkpoint_vectors["chtLeaf"]
    assert "0x" + cht_key(leaf["number"]).hex() == leaf["key"]
    value = cht_value(bytes.fromhex(leaf["hash"][2:]), leaf["td"])
    assert "0x" + value.hex() == leaf["value"]
