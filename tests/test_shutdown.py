"""`lightclient serve` stopped by SIGTERM or SIGINT at random points of indexing: it exits 0
every time, without a traceback or a crash, and leaves a store of whole sections.

The section build reads the store from a worker thread; stopping used to close the shared
connection under it (a SIGSEGV about one run in five). Here the runs are seeded so that a
failure can be replayed.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, require_anvil

from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.trie import BLANK_ROOT
from lightclient.sources.jsonrpc import JsonRpcHeaderSource
from lightclient.store.sqlite import Store
from lightclient.sync.syncer import Syncer
from lightclient.testing.anvil import AnvilProcess

SIZE = 512
BLOCKS = 16 * 1024  # 31 complete sections: a couple of seconds of indexing
CONFIRMATIONS = 2
RUNS = 10
SEED = 20260601


async def reference_checkpoints(url: str, datadir: Path) -> list[TrustedCheckpoint]:
    """Every section of the chain, indexed in-process without interruption."""
    source = JsonRpcHeaderSource(url)
    store = Store.open(datadir)
    try:
        syncer = Syncer(source, store, section_size=SIZE, confirmations=CONFIRMATIONS)
        return await syncer.sync()
    finally:
        await source.close()
        store.close()


def start_serve(url: str, datadir: Path) -> subprocess.Popen[str]:
    args = [
        "serve", "--rpc", url, "--http", f"127.0.0.1:{free_port()}",
        "--light-serve", f"127.0.0.1:{free_port()}", "--datadir", str(datadir),
        "--section-size", str(SIZE), "--confirmations", str(CONFIRMATIONS), "--poll", "0.2",
    ]  # fmt: skip
    command = [sys.executable, "-m", "lightclient.cli.main", *args]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for_banner(process: subprocess.Popen[str]) -> str:
    """stderr up to the serving banner (indexing starts right after it)."""
    assert process.stderr is not None
    seen = ""
    for line in process.stderr:
        seen += line
        if line.startswith("serving JSON-RPC"):
            return seen
    raise AssertionError(f"serve exited before serving: {seen}")


def stop_at(process: subprocess.Popen[str], sig: signal.Signals, delay: float) -> str:
    """Send ``sig`` ``delay`` seconds after the banner; returns all of stderr."""
    head = wait_for_banner(process)
    time.sleep(delay)
    process.send_signal(sig)
    _, rest = process.communicate(timeout=30)
    return head + rest


def check_store(datadir: Path, reference: list[TrustedCheckpoint]) -> int:
    """The store opens (its checks pass), its sections are a prefix of the reference, and
    the trie nodes of its last section are there. Returns the number of sections."""
    store = Store.open(datadir)
    try:
        count = store.section_count()
        stored = [store.checkpoint(i) for i in range(count)]
        assert stored == reference[:count]
        if count:
            last = reference[count - 1]
            for root in (last.cht_root, last.bloom_root):
                assert root == BLANK_ROOT or store.nodes[root]  # KeyError if it is missing
        return count
    finally:
        store.close()


def run_and_stop(
    url: str, datadir: Path, sig: signal.Signals, delay: float, reference: list[TrustedCheckpoint]
) -> int:
    process = start_serve(url, datadir)
    try:
        err = stop_at(process, sig, delay)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    context = f"{sig.name} after {delay:.3f} s: exit {process.returncode}, stderr:\n{err}"
    assert process.returncode == 0, context
    assert "Traceback" not in err and "Fatal Python error" not in err, context
    assert err.rstrip().endswith("stopped"), context
    return check_store(datadir, reference)


@pytest.fixture(scope="module")
def chain(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, list[TrustedCheckpoint]]]:
    require_anvil()
    with AnvilProcess() as node:
        node.rpc("anvil_mine", [hex(BLOCKS)])
        reference = asyncio.run(
            reference_checkpoints(node.url, tmp_path_factory.mktemp("reference"))
        )
        assert len(reference) == (BLOCKS - CONFIRMATIONS) // SIZE
        yield node.url, reference


@pytest.mark.slow
def test_sigterm_at_random_points_exits_0_with_whole_sections(
    chain: tuple[str, list[TrustedCheckpoint]], tmp_path: Path
) -> None:
    url, reference = chain
    rng = random.Random(SEED)
    counts = []
    for run in range(RUNS):
        datadir = tmp_path / f"run{run - run % 2}"  # every other run resumes a stopped one
        counts.append(run_and_stop(url, datadir, signal.SIGTERM, rng.uniform(0, 1.5), reference))
    # The delays did land in the middle of indexing, not only before or after it.
    assert any(0 < c < len(reference) for c in counts), counts


@pytest.mark.slow
def test_sigint_while_indexing_exits_0_and_resumes(
    chain: tuple[str, list[TrustedCheckpoint]], tmp_path: Path
) -> None:
    url, reference = chain
    first = run_and_stop(url, tmp_path, signal.SIGINT, 0.3, reference)
    assert first < len(reference)
    second = run_and_stop(url, tmp_path, signal.SIGINT, 4.0, reference)
    assert second == len(reference)


@pytest.mark.slow
def test_sigterm_or_sigint_while_starting_exits_0(
    chain: tuple[str, list[TrustedCheckpoint]], tmp_path: Path
) -> None:
    """Before the banner (imports, reading the node, starting the light server): the default
    handlers used to kill the process (-15) or print a KeyboardInterrupt (130). Only the
    interpreter's own start, about 0.2 s here, is left before lightclient can take the
    signals; the delays start after it."""
    url, reference = chain
    rng = random.Random(SEED + 1)
    for run in range(6):
        sig = signal.SIGTERM if run % 2 else signal.SIGINT
        delay = rng.uniform(0.3, 1.3)
        process = start_serve(url, tmp_path / f"start{run}")
        time.sleep(delay)
        process.send_signal(sig)
        _, err = process.communicate(timeout=30)
        context = f"{sig.name} {delay:.3f} s after start: exit {process.returncode}:\n{err}"
        assert process.returncode == 0, context
        assert "Traceback" not in err and err.rstrip().endswith("stopped"), context
        check_store(tmp_path / f"start{run}", reference)
