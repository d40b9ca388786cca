"""A LightClient with a persistent light chain, over real sockets against our LES
server: it syncs into a datadir, restarts from it without re-syncing, keeps its memory
bounded, drops stored headers above a reorg, refuses another chain's file, and without a
datadir keeps nothing, as before."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from eth_keys.datatypes import PrivateKey
from lesclient import SCHEDULE, SIZE, Setup, make_setup
from test_lightchain import open_chain

from lightclient.client.client import LightClient, NoServer
from lightclient.client.les_connection import LesConnection
from lightclient.client.lightchain import CHAIN_DB_NAME, LightChain
from lightclient.core.header import Header, decode_header
from lightclient.les.forkid import ForkFilter, fork_id
from lightclient.pool.clock import SystemClock
from lightclient.store.sqlite import StoreError
from lightclient.testing.synthetic import SyntheticChain

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    s = await make_setup(tmp_path / "server", SystemClock())
    yield s
    await s.close()


def client_for(setup: Setup, datadir: Path | None, **kw: Any) -> LightClient:
    checkpoint = setup.store.checkpoint(2)
    assert checkpoint is not None
    return LightClient(
        checkpoint, SIZE, [setup.server.enode], PrivateKey(os.urandom(32)),
        genesis_hash=setup.genesis, network_id=setup.server.network_id,
        fork_filter=ForkFilter(setup.genesis, SCHEDULE),
        fork_id=fork_id(setup.genesis, SCHEDULE, checkpoint.head_block(SIZE), 0),
        confirmations=2, datadir=datadir, **kw,
    )  # fmt: skip


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    """Every header range and CHT proof the light client asks a server for."""
    seen: list[tuple[str, int, int]] = []
    header_range, cht_proof = LesConnection.header_range, LesConnection.cht_proof

    async def counted_range(self: LesConnection, first: int, amount: int) -> list[bytes]:
        seen.append(("headers", first, amount))
        return await header_range(self, first, amount)

    async def counted_cht(self: LesConnection, idx: int, number: int) -> Any:
        seen.append(("cht", idx, number))
        return await cht_proof(self, idx, number)

    monkeypatch.setattr(LesConnection, "header_range", counted_range)
    monkeypatch.setattr(LesConnection, "cht_proof", counted_cht)
    return seen


async def synced(client: LightClient) -> Header:
    await client.start()
    try:
        return await client.sync()
    finally:
        await client.close()


async def test_a_restart_resumes_from_the_stored_head(
    setup: Setup, tmp_path: Path, requests: list[tuple[str, int, int]]
) -> None:
    datadir = tmp_path / "client"
    first = client_for(setup, datadir)
    assert first.head is None
    head = await synced(first)
    assert head.hash == setup.headers[setup.head].hash
    assert any(kind == "cht" for kind, _, _ in requests)
    fetched = sum(n for kind, _, n in requests if kind == "headers")
    assert fetched == setup.head - first.checkpoint_block
    requests.clear()

    second = client_for(setup, datadir)
    assert second.head is not None and second.head.hash == head.hash  # before any request
    await second.start()
    try:
        assert (await second.sync()).hash == head.hash
        # One header: the stored head's, to check the server's chain still has it.
        assert requests == [("headers", setup.head, 1)]
        requests.clear()
        old = await second.header_by_number(first.checkpoint_block + 3)  # stored, linked
        assert old.rlp == setup.headers[first.checkpoint_block + 3].rlp and requests == []
        assert second.td[setup.head] == setup.td(setup.head)
        assert second.header_by_hash(head.hash) == head
    finally:
        await second.close()


async def test_memory_stays_bounded_and_cht_headers_are_cached(
    setup: Setup, tmp_path: Path, requests: list[tuple[str, int, int]]
) -> None:
    client = client_for(setup, tmp_path / "client", cache_size=5)
    await client.start()
    try:
        await client.sync()
        assert client.chain.cached <= 5
        assert len(client.headers) == setup.head - client.checkpoint_block + 1  # in the file
        requests.clear()
        old = await client.header_by_number(7)  # before the checkpoint: a CHT proof
        assert old.rlp == setup.headers[7].rlp and requests == [("cht", 2, 7)]
        assert (await client.header_by_number(7)) == old and len(requests) == 1  # cached
        stored = client.chain.get(7)
        assert stored is not None and (stored.proof, stored.section) == ("cht", 2)
        for n in range(client.checkpoint_block, setup.head + 1):
            assert (await client.header_by_number(n)).rlp == setup.headers[n].rlp
            assert client.chain.cached <= 5
    finally:
        await client.close()


async def test_a_reorg_past_the_stored_head_drops_the_headers_above_the_ancestor(
    setup: Setup, tmp_path: Path
) -> None:
    datadir = tmp_path / "client"
    await synced(client_for(setup, datadir))
    # The stored chain leaves the server's after block 130 (and is longer than it).
    ancestor = 130
    checkpoint = client_for(setup, None).checkpoint
    chain = LightChain.open(datadir, genesis_hash=setup.genesis, checkpoint=checkpoint,
                            section_size=SIZE)  # fmt: skip
    parent = decode_header(setup.headers[ancestor].rlp).hash
    branch = SyntheticChain(20, seed=99, first_number=ancestor + 1,
                            first_parent=parent).headers()  # fmt: skip
    chain.rewind(ancestor)
    chain.extend([decode_header(h.rlp) for h in branch])
    chain.close()

    client = client_for(setup, datadir)
    assert client.head is not None and client.head.number == ancestor + 20
    head = await synced(client)
    assert head.hash == setup.headers[setup.head].hash
    assert client.dropped == {}  # the server was not blamed for our stale branch
    chain = LightChain.open(datadir, genesis_hash=setup.genesis,
                            checkpoint=client.checkpoint, section_size=SIZE)  # fmt: skip
    try:
        assert chain.head() == head
        assert chain.numbers()[-1] == setup.head
        assert chain.by_hash(branch[0].hash or b"") is None
        for n in range(ancestor, setup.head + 1):
            stored = chain.get(n)
            assert stored is not None and stored.header.hash == setup.headers[n].hash
    finally:
        chain.close()


async def test_the_in_memory_default_keeps_nothing(setup: Setup, tmp_path: Path) -> None:
    head = await synced(client_for(setup, None))
    again = client_for(setup, None)
    assert again.head is None and len(again.headers) == 0
    assert (await synced(again)).hash == head.hash
    assert list(tmp_path.glob(f"**/{CHAIN_DB_NAME}")) == []


async def test_a_client_with_another_chains_datadir_is_refused(
    setup: Setup, tmp_path: Path
) -> None:
    datadir = tmp_path / "client"
    open_chain(datadir).close()  # another genesis, checkpoint and section size
    with pytest.raises(StoreError, match="light chain of another setup: its genesis is"):
        client_for(setup, datadir)


async def test_a_server_behind_the_stored_head_drops_nothing(
    setup: Setup, tmp_path: Path, requests: list[tuple[str, int, int]]
) -> None:
    datadir = tmp_path / "client"
    head = await synced(client_for(setup, datadir))
    setup.source.visible = setup.head - 5 + 1  # the server now says its head is 5 blocks back
    requests.clear()
    client = client_for(setup, datadir)
    assert (await synced(client)).hash == head.hash
    assert requests == [("headers", head.number - 5, 1)] and client.dropped == {}
    with pytest.raises(StoreError, match="is closed"):  # closed with the client
        client.headers[head.number]
    chain = LightChain.open(datadir, genesis_hash=setup.genesis, checkpoint=client.checkpoint,
                            section_size=SIZE)  # fmt: skip
    assert chain.head() == head and len(chain) == head.number - client.checkpoint_block + 1
    chain.close()


async def test_a_live_reorg_is_followed_and_the_old_branch_dropped(
    setup: Setup, tmp_path: Path
) -> None:
    client = client_for(setup, tmp_path / "client")
    await client.start()
    try:
        old = await client.sync()
        ancestor = 130
        parent = decode_header(setup.headers[ancestor].rlp).hash
        branch = SyntheticChain(20, seed=99, first_number=ancestor + 1,
                                first_parent=parent).headers()  # fmt: skip
        reorged = list(setup.headers[: ancestor + 1]) + branch  # heavier: 20 blocks, not 7
        setup.source._headers = setup.source.all = reorged
        setup.source.visible = len(reorged)
        await setup.server.announce_head()
        connection = client.servers[0].connection
        for _ in range(100):
            if await connection.head_number() == len(reorged) - 1:
                break
            await asyncio.sleep(0.05)
        head = await client.sync()
        assert head.hash == branch[-1].hash and client.dropped == {}
        assert client.header_by_hash(old.hash) is None
        for n in range(ancestor, len(reorged)):
            assert (await client.header_by_number(n)).hash == reorged[n].hash
        assert client.td[head.number] == client.td[ancestor] + sum(
            decode_header(h.rlp).difficulty for h in branch
        )
    finally:
        await client.close()


async def test_a_server_whose_next_header_does_not_link_to_its_own_chain_is_dropped(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(setup, tmp_path / "client")
    await client.start()
    try:
        old = await client.sync()
        liar = SyntheticChain(1, seed=7, first_number=old.number + 1,
                              first_parent=b"\x09" * 32).headers()[0]  # fmt: skip
        connection = client.servers[0].connection
        honest = connection.header_range

        async def header_range(first: int, amount: int) -> list[bytes]:
            return [liar.rlp] if first == old.number + 1 else await honest(first, amount)

        async def head_number() -> int:
            return old.number + 1

        monkeypatch.setattr(connection, "header_range", header_range)
        monkeypatch.setattr(connection, "head_number", head_number)
        with pytest.raises(NoServer):
            await client.sync()
        (why,) = client.dropped.values()
        assert why == (
            f"sent data that does not verify: header {old.number + 1} does not link to the "
            "verified head"
        )
        assert client.head == old and client.chain.head() == old  # nothing dropped
    finally:
        await client.close()


def test_lightclient_client_refuses_a_damaged_chain_file_in_one_line(tmp_path: Path) -> None:
    (tmp_path / CHAIN_DB_NAME).write_bytes(b"garbage")
    enode = f"enode://{'ab' * 64}@127.0.0.1:1"
    done = subprocess.run(
        [sys.executable, "-m", "lightclient.cli.main", "client", "--server", enode,
         "--datadir", str(tmp_path), "--consensus", "none", "--http", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"lightclient: error: {tmp_path / CHAIN_DB_NAME} is not a light chain (file is not a "
        "database); move it away or use another --datadir"
    )
