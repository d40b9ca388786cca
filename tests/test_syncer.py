"""The syncer (store, resume, reorgs) and the verdict on registered checkpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from conftest import require_anvil
from web3.types import RPCEndpoint

from lightclient.core.checkpoint import OracleConfig, TrustedCheckpoint
from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import encode_bytes, encode_list, split_list
from lightclient.errors import InvalidHeader, InvalidProof, SourceUnavailable
from lightclient.oracle.reader import read_latest, verify_storage_proof
from lightclient.sources.base import RawHeader
from lightclient.store.sqlite import Store, StoreError
from lightclient.sync.indexer import index_sections
from lightclient.sync.syncer import Syncer
from lightclient.sync.verify import verify_checkpoint
from lightclient.testing.anvil import AnvilProcess
from lightclient.testing.oracle_kit import OracleKit
from lightclient.testing.synthetic import MemoryHeaderSource, SyntheticChain

SIZE = 16


async def _reference(chain: SyntheticChain, sections: int) -> list[TrustedCheckpoint]:
    source = MemoryHeaderSource(chain.headers())
    return [cp async for cp in index_sections(source, section_size=SIZE, confirmations=0, db={})][
        :sections
    ]


class FailingSource(MemoryHeaderSource):
    """Serves headers until block ``fail_at``, then fails like a node going down."""

    def __init__(self, headers: list[RawHeader], fail_at: int) -> None:
        super().__init__(headers)
        self.fail_at = fail_at

    async def headers(self, start: int, count: int) -> list[RawHeader]:
        if start + count > self.fail_at:
            raise SourceUnavailable("cannot reach the node: connection refused")
        return await super().headers(start, count)


async def test_resume_after_a_crash_mid_section(tmp_path: Path) -> None:
    chain = SyntheticChain(SIZE * 5, seed=4)
    store = Store.open(tmp_path)
    syncer = Syncer(FailingSource(chain.headers(), fail_at=SIZE * 3 + 5), store,
                    section_size=SIZE, confirmations=0, fetch_chunk=4)  # fmt: skip
    with pytest.raises(SourceUnavailable):
        await syncer.sync()
    assert store.section_count() == 3  # whole sections only
    store.close()
    reopened = Store.open(tmp_path)
    again = Syncer(MemoryHeaderSource(chain.headers()), reopened, section_size=SIZE,
                   confirmations=0)  # fmt: skip
    added = await again.sync()
    assert [cp.section_index for cp in added] == [3, 4]
    expected = await _reference(chain, 5)
    assert [reopened.checkpoint(i) for i in range(5)] == expected
    with pytest.raises(StoreError, match="section_size is 16, not 32"):
        Syncer(MemoryHeaderSource(chain.headers()), reopened, section_size=32, confirmations=0)


async def test_reorg_below_an_indexed_section_rolls_back(tmp_path: Path) -> None:
    first = SyntheticChain(SIZE * 4, seed=1)
    store = Store.open(tmp_path)
    await Syncer(MemoryHeaderSource(first.headers()), store, section_size=SIZE,
                 confirmations=0).sync()  # fmt: skip
    assert store.section_count() == 4
    # A fork from block 2*SIZE + 3: sections 2 and 3 change, 0 and 1 stay.
    fork_point = 2 * SIZE + 3
    tail = SyntheticChain(SIZE * 4 - fork_point, seed=99, first_number=fork_point,
                          first_parent=keccak(first.headers()[fork_point - 1].rlp))  # fmt: skip
    forked = first.headers()[:fork_point] + tail.headers()
    syncer = Syncer(MemoryHeaderSource(forked), store, section_size=SIZE, confirmations=0)
    kept = [store.checkpoint(0), store.checkpoint(1)]
    assert await syncer.check_reorg() == 2
    assert store.section_count() == 2
    added = await syncer.sync()
    assert [cp.section_index for cp in added] == [2, 3]
    assert [store.checkpoint(0), store.checkpoint(1)] == kept
    assert store.checkpoint(3) != (await _reference(first, 4))[3]


async def test_tampered_header_stops_the_sync(tmp_path: Path) -> None:
    headers = list(SyntheticChain(SIZE * 2, seed=8).headers())
    victim = headers[20]
    fields = split_list(victim.rlp)
    fields[11] = b"\x01"  # timestamp changed, the claimed hash kept
    headers[20] = RawHeader(20, victim.hash, encode_list([encode_bytes(f) for f in fields]))
    store = Store.open(tmp_path)
    with pytest.raises(InvalidHeader, match="block 20"):
        await Syncer(MemoryHeaderSource(headers), store, section_size=SIZE, confirmations=0).sync()
    assert store.section_count() == 1


@asynccontextmanager
async def kit_on(chain: str, **options: int) -> AsyncIterator[OracleKit]:
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


@pytest.mark.parametrize("chain", ["embedded", "anvil"])
async def test_verdicts(chain: str, tmp_path: Path) -> None:
    async with kit_on(chain, admins=3, threshold=2, section_size=SIZE, confirmations=2) as kit:
        store = Store.open(tmp_path)
        syncer = Syncer(kit.source, store, section_size=SIZE, confirmations=2)
        await kit.mine_sections(3)
        # Nothing registered yet.
        verdict = await verify_checkpoint(syncer, kit.oracle, kit.config)
        assert not verdict.verified and "no checkpoint is registered" in verdict.reason
        # The hash of section 0 registered as section 1: a mismatch that names section 0.
        wrong = await kit.register(1, (await kit.checkpoint(0)).hash())
        assert wrong.registered
        verdict = await verify_checkpoint(syncer, kit.oracle, kit.config)
        assert not verdict.verified
        assert verdict.reason == (
            "mismatch: the hash registered for section 1 is the checkpoint of section 0"
        )
        # The right one, later: verified, by the two signers.
        good = await kit.register(2)
        assert good.registered
        verdict = await verify_checkpoint(syncer, kit.oracle, kit.config)
        assert verdict.verified, verdict.reason
        assert verdict.section_index == 2
        assert set(verdict.signers) == {a.address for a in kit.admins[:2]}
        assert verdict.local_hash == verdict.registered_hash == (await kit.checkpoint(2)).hash()
        assert verdict.oracle_read.startswith(
            "eth_getProof verified" if chain == "anvil" else "plain eth_call, not proved"
        )
        # An older registration is found through its vote events.
        old = await verify_checkpoint(syncer, kit.oracle, kit.config, index=1)
        assert not old.verified and "section 0" in old.reason
        # Configured signers that did not sign: bad signatures.
        strangers = OracleConfig(kit.oracle.address, (kit.admins[2].address,), 1)
        bad = await verify_checkpoint(syncer, kit.oracle, strangers)
        assert not bad.verified and bad.reason.startswith("bad signatures: 0 of")
        assert len(bad.signature_failures) == 2
        # A syncer that needs more confirmations than the contract: not yet indexed.
        slow = Syncer(kit.source, Store.open(tmp_path / "slow"), section_size=SIZE,
                      confirmations=40)  # fmt: skip
        pending = await verify_checkpoint(slow, kit.oracle, kit.config)
        assert not pending.verified and pending.reason.startswith("not yet indexed")
        never = await verify_checkpoint(syncer, kit.oracle, kit.config, index=0)
        assert "never registered" in never.reason


async def test_lying_oracle_state_is_caught(tmp_path: Path) -> None:
    """A tampered eth_getProof answer (anvil's, with a changed slot value) does not verify."""
    async with kit_on("anvil", admins=2, threshold=1, section_size=SIZE, confirmations=1) as kit:
        await kit.mine_sections(1)
        assert (await kit.register(0)).registered
        head_number = await kit.w3.eth.block_number
        block = await kit.w3.eth.get_block(head_number)
        slots = ["0x" + s.to_bytes(32, "big").hex() for s in (2, 3, 4)]
        proof = await kit.w3.manager.coro_request(
            RPCEndpoint("eth_getProof"), [kit.oracle.address, slots, hex(head_number)]
        )
        values = verify_storage_proof(bytes(block["stateRoot"]), kit.oracle.address, proof)
        assert values[4] == int.from_bytes((await kit.checkpoint(0)).hash(), "big")
        proof = dict(proof)
        proof["storageProof"] = [dict(p) for p in proof["storageProof"]]
        proof["storageProof"][2]["value"] = hex(int.from_bytes(keccak(b"forged"), "big"))
        with pytest.raises(InvalidProof, match="storage slot 4"):
            verify_storage_proof(bytes(block["stateRoot"]), kit.oracle.address, proof)
        with pytest.raises(InvalidProof):
            verify_storage_proof(keccak(b"other root"), kit.oracle.address, proof)
        syncer = Syncer(kit.source, Store.open(tmp_path), section_size=SIZE, confirmations=1)
        read = await read_latest(kit.oracle, await syncer.verified_head())
        assert read.proved and read.latest.section_index == 0


async def test_reorg_on_anvil(tmp_path: Path) -> None:
    """A real node reorganises below an indexed section (evm_revert, then another branch)."""
    async with kit_on("anvil", admins=1, threshold=1, section_size=SIZE, confirmations=1) as kit:
        assert kit.node is not None
        store = Store.open(tmp_path)
        syncer = Syncer(kit.source, store, section_size=SIZE, confirmations=1)
        snapshot = kit.node.rpc("evm_snapshot")
        kit.mine_to(4 * SIZE - 1)  # head 63: sections 0-2 are complete (K = 1)
        await syncer.sync()
        assert store.section_count() == 3
        before = [store.checkpoint(i) for i in range(3)]
        assert kit.node.rpc("evm_revert", [snapshot]) is True
        # The new branch differs from block `snapshot + 1` on: a transaction, later timestamps.
        kit.node.rpc("anvil_setNextBlockTimestamp", [hex(2_000_000_000)])
        unlocked = kit.node.rpc("eth_accounts")[0]
        kit.node.rpc("eth_sendTransaction", [{"from": unlocked, "to": kit.outsider.address,
                                              "value": "0x1"}])  # fmt: skip
        kit.mine_to(4 * SIZE + 5)
        assert await syncer.check_reorg() == 3  # the fork is below section 0's head
        await syncer.sync()
        assert store.section_count() == 4
        after = [store.checkpoint(i) for i in range(3)]
        assert all(a != b for a, b in zip(before, after, strict=True))
        head = kit.node.rpc("eth_getBlockByNumber", [hex(2 * SIZE + SIZE - 1), False])
        assert after[2] is not None and "0x" + after[2].section_head.hex() == head["hash"]
