"""The oracle contract's every rule, on the embedded chain (and the artifact is the source's).

Scenarios follow geth's TestCheckpointRegister (contracts/checkpointoracle/oracle_test.go),
plus the rules read from the contract: unsorted or duplicate signers, extra signatures,
zero hash, non-admin sender, thresholds 1..n, index gaps.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from conftest import require_anvil
from eth_account import Account

from lightclient.core.keccak import keccak
from lightclient.core.signing import sign_checkpoint
from lightclient.oracle.contract import (
    NEW_CHECKPOINT_VOTE_TOPIC,
    OracleError,
    PublishOutcome,
    artifact,
)
from lightclient.testing.anvil import AnvilProcess
from lightclient.testing.oracle_kit import OracleKit

REPO = Path(__file__).resolve().parent.parent
H1 = keccak(b"checkpoint one")
H2 = keccak(b"checkpoint two")


def test_selectors_and_topic_are_geths() -> None:
    abi = artifact()["abi"]
    names = {item.get("name") for item in abi}
    assert {"GetAllAdmin", "GetLatestCheckpoint", "SetCheckpoint", "NewCheckpointVote"} <= names
    assert keccak(b"GetAllAdmin()")[:4].hex() == "45848dfc"
    assert keccak(b"GetLatestCheckpoint()")[:4].hex() == "4d6a304c"
    sig = b"SetCheckpoint(uint256,bytes32,bytes32,uint64,uint8[],bytes32[],bytes32[])"
    assert keccak(sig)[:4].hex() == "d459fc46"
    assert NEW_CHECKPOINT_VOTE_TOPIC.hex() == (
        "ce51ffa16246bcaf0899f6504f473cd0114f430f566cef71ab7e03d3dde42a41"
    )
    set_cp = next(i for i in abi if i.get("name") == "SetCheckpoint")
    assert [i["type"] for i in set_cp["inputs"]] == [
        "uint256", "bytes32", "bytes32", "uint64", "uint8[]", "bytes32[]", "bytes32[]",
    ]  # fmt: skip
    ctor = next(i for i in abi if i["type"] == "constructor")
    assert [i["type"] for i in ctor["inputs"]] == ["address[]", "uint256", "uint256", "uint256"]


def test_committed_artifact_matches_the_source(tmp_path: Path) -> None:
    node = shutil.which("node")
    solc = REPO / "tools" / "node_modules" / "solc"
    if node is None or not solc.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must rebuild the contract: node and tools/node_modules/solc needed")
        pytest.skip("node or solc-js missing (run `make tools`)")
    out = tmp_path / "rebuilt.json"
    subprocess.run([node, str(REPO / "contracts" / "build.js"), str(out)], check=True, timeout=120)
    assert json.loads(out.read_text()) == artifact()


@asynccontextmanager
async def make_kit(chain: str, **options: int) -> AsyncIterator[OracleKit]:
    """A kit on a new embedded chain, or on a new anvil (it starts in ~0.05 s)."""
    if chain == "embedded":
        kit = await OracleKit.create(**options)
        yield kit
        await kit.close()
        return
    require_anvil()
    with AnvilProcess() as node:
        kit = await OracleKit.on_anvil(node, **options)
        yield kit
        await kit.close()


@pytest.fixture(params=["embedded", "anvil"])
async def kit(request: pytest.FixtureRequest) -> AsyncIterator[OracleKit]:
    async with make_kit(
        request.param, admins=3, threshold=2, section_size=16, confirmations=2
    ) as k:
        yield k


async def test_geth_register_scenario(kit: OracleKit) -> None:
    a = kit.admins
    assert await kit.oracle.admins() == [x.address for x in a]
    # 1. Future checkpoint: a successful transaction that changes nothing.
    outcome = await kit.register(0, H1)
    assert not outcome.registered and outcome.reason.startswith("future checkpoint")
    assert (await kit.oracle.latest()).is_empty
    kit.mine_to(1 * 16 + 2)
    # 2. Wrong recent hash: revert.
    with pytest.raises(OracleError, match="revert"):
        await _set_raw(kit, 0, H1, kit.sign(0, H1, a[:2]), recent_hash=b"\xde\xad" * 16)
    # 3. Unauthorised signers and 4. under the threshold: revert.
    outsider = Account.create()
    with pytest.raises(OracleError, match="revert"):
        await kit.register(0, H1, signers=[outsider, Account.create()])
    with pytest.raises(OracleError, match="revert"):
        await kit.register(0, H1, signers=a[:1])
    assert (await kit.oracle.latest()).is_empty
    # 5. Valid: two votes, recovered to admins 0 and 1 in order, state updated.
    outcome = await kit.register(0, H1)
    assert outcome.registered, outcome.reason
    latest = await kit.oracle.latest()
    assert (latest.section_index, latest.hash, latest.height) == (0, H1, outcome.block)
    votes = await kit.oracle.votes(0, H1, outcome.block)
    assert len(votes) == 2
    from lightclient.core.signing import checkpoint_digest, recover_signer

    digest = checkpoint_digest(kit.oracle.address, 0, H1)
    assert [recover_signer(digest, v.signature) for v in votes] == [a[0].address, a[1].address]
    # 6. Gap: index 2 after index 0 is allowed once final.
    kit.mine_to(3 * 16 + 2)
    outcome = await kit.register(2, H2)
    assert outcome.registered
    assert len(await kit.oracle.votes(2, H2, outcome.block)) == 2
    # 7. Old and 8. stale: return false, nothing changes.
    old = await kit.register(1, H1)
    assert not old.registered and "too old" in old.reason
    stale = await kit.register(2, H1)
    assert not stale.registered and "stale" in stale.reason
    assert (await kit.oracle.latest()).hash == H2


async def test_ordering_duplicates_extras_zero_hash_and_sender(kit: OracleKit) -> None:
    a = kit.admins
    kit.mine_to(16 + 2)
    ordered = kit.sign(0, H1, a[:2])
    with pytest.raises(OracleError, match="revert"):
        await _set_raw(kit, 0, H1, list(reversed(ordered)))  # descending signers
    with pytest.raises(OracleError, match="revert"):
        await _set_raw(kit, 0, H1, [ordered[0], ordered[0]])  # duplicate signer
    with pytest.raises(OracleError, match="revert"):
        await kit.register(0, H1, sender=kit.outsider)  # the sender is no admin
    zero = await kit.register(0, b"\x00" * 32)
    assert not zero.registered and zero.reason == "zero checkpoint hash"
    # Extra signatures past the threshold are never looked at, even garbage.
    garbage = b"\x01" * 64 + b"\x05"
    outcome = await _set_raw(kit, 0, H1, [*ordered, garbage])
    assert outcome.registered
    assert len(await kit.oracle.votes(0, H1, outcome.block)) == 2


@pytest.mark.parametrize("threshold", [1, 2, 3])
@pytest.mark.parametrize("chain", ["embedded", "anvil"])
async def test_thresholds(threshold: int, chain: str) -> None:
    async with make_kit(
        chain, admins=3, threshold=threshold, section_size=8, confirmations=1
    ) as kit:
        kit.mine_to(8 + 1)
        if threshold > 1:
            with pytest.raises(OracleError, match="revert"):
                await kit.register(0, H1, signers=kit.admins[: threshold - 1])
        outcome = await kit.register(0, H1, signers=kit.admins[:threshold])
        assert outcome.registered
        assert len(await kit.oracle.votes(0, H1, outcome.block)) == threshold


async def _set_raw(
    kit: OracleKit, index: int, h: bytes, signatures: list[bytes], recent_hash: bytes | None = None
) -> PublishOutcome:
    """Publish signatures in exactly the given order (and optionally a wrong recent hash)."""
    if recent_hash is None:
        return await kit.oracle.publish(kit.admins[0], index, h, signatures, sentry_distance=1)
    fn = kit.oracle.contract.functions.SetCheckpoint(
        await kit.w3.eth.block_number - 1, recent_hash, h, index,
        [s[64] for s in signatures], [s[:32] for s in signatures], [s[32:64] for s in signatures],
    )  # fmt: skip
    from lightclient.oracle.contract import _REVERTS

    try:
        await fn.call({"from": kit.admins[0].address})
    except _REVERTS as exc:
        raise OracleError(f"SetCheckpoint would revert: {exc}") from None
    raise AssertionError("SetCheckpoint with a wrong recent hash did not revert")


def test_signing_vector_from_the_spec() -> None:
    """spec §6.4 derived vector: private keys 1 and 2 over the mainnet checkpoint digest."""
    from lightclient.core.networks import network

    net = network("mainnet")
    assert net.oracle is not None
    s1 = sign_checkpoint((1).to_bytes(32, "big"), net.oracle.address, 506, net.checkpoint.hash())
    assert s1.hex().endswith("1b") and s1.hex().startswith("d00f58b3")
