"""Our light client against our LES server, in one process over real sockets: the client
dials the server's enode, syncs from a trusted checkpoint with every header proved, the
pool sees it, refuses one client too many, and a server whose chain is not the client's
is refused at Status."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from eth_keys.datatypes import PrivateKey
from lesclient import SCHEDULE, SIZE, Setup, make_setup

from lightclient.client.client import LightClient, NoServer
from lightclient.les.forkid import ForkFilter, fork_id
from lightclient.pool.clock import SystemClock
from lightclient.server.service import PoolConfig

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    one_client = PoolConfig(min_cap=16000, max_count=1, max_capacity=16000)
    s = await make_setup(tmp_path, SystemClock(), pool=one_client)
    yield s
    await s.close()


def client_for(setup: Setup, *, network_id: int | None = None) -> LightClient:
    checkpoint = setup.store.checkpoint(2)
    assert checkpoint is not None
    return LightClient(
        checkpoint, SIZE, [setup.server.enode], PrivateKey(os.urandom(32)),
        genesis_hash=setup.genesis, network_id=network_id or setup.server.network_id,
        fork_filter=ForkFilter(setup.genesis, SCHEDULE),
        fork_id=fork_id(setup.genesis, SCHEDULE, checkpoint.head_block(SIZE), 0),
        confirmations=2,
    )  # fmt: skip


async def test_sync_from_our_server_and_the_pool_sees_it(setup: Setup) -> None:
    client = client_for(setup)
    await client.start()
    try:
        head = await client.sync()
        assert head.number == setup.head
        assert head.hash == setup.headers[setup.head].hash
        old = await client.header_by_number(5)  # proved by CHT against the checkpoint
        assert old.rlp == setup.headers[5].rlp
        info = setup.service.client_info([])
        assert len(info) == 1 and next(iter(info.values()))["isConnected"]
        second = client_for(setup)
        with pytest.raises(NoServer):  # the pool has room for one free client
            await second.start()
            await second.sync()
        await second.close()
    finally:
        await client.close()


async def test_a_client_of_another_network_is_refused(setup: Setup) -> None:
    client = client_for(setup, network_id=setup.server.network_id + 1)
    with pytest.raises(NoServer):
        await client.start()
    assert setup.service.client_info([]) == {}
    await client.close()


async def test_a_hash_linked_chain_without_seals_is_refused_by_the_engine(setup: Setup) -> None:
    """The synthetic chain behind the server links by hash but carries no ethash seal: with
    the engine the client refuses it past the checkpoint (with --consensus none it followed
    it, as the test above shows)."""
    from lightclient.consensus import ConsensusConfig, EthashEngine

    client = client_for(setup)
    client.consensus_engine = EthashEngine()
    client.consensus_config = ConsensusConfig("ethash", source="test")
    await client.start()
    try:
        with pytest.raises(NoServer):
            await client.sync()
        (why,) = client.dropped.values()  # e.g. "... block 96: invalid baseFee before fork"
        first = client.checkpoint_block + 1
        assert why.startswith(f"sent data that does not verify: block {first}: ")
        assert client.head is None or client.head.number <= client.checkpoint_block
    finally:
        await client.close()
