"""One SQLite connection per thread, a close that waits for running calls, and a cancelled
index run that does not leave its build thread behind."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path

import pytest

from lightclient.store.sqlite import Store, StoreError
from lightclient.sync.indexer import index_sections
from lightclient.testing.synthetic import MemoryHeaderSource, SyntheticChain


def in_thread(function: object) -> object:
    """``function()`` in a new thread; its result, or the exception it raised."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(function())  # type: ignore[operator]
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    return out[0]


def test_each_thread_has_its_own_connection(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        main = store.db
        other = in_thread(lambda: store.db)
        assert isinstance(other, sqlite3.Connection) and other is not main
        assert store.db is main  # the same thread keeps its connection
        store.set_meta("written", "on main")
        assert in_thread(lambda: store.get_meta("written")) == "on main"
    finally:
        store.close()


def test_closed_store_refuses_every_thread(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    opened = in_thread(lambda: store.db)  # a worker connection, then the store closes
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        opened.execute("SELECT 1")  # type: ignore[attr-defined]  # closed with the store
    assert isinstance(in_thread(lambda: store.nodes[b"\x01" * 32]), StoreError)
    assert isinstance(in_thread(lambda: store.db), StoreError)
    with pytest.raises(StoreError, match="closed"):
        store.section_count()
    store.close()  # a second close is harmless


def test_close_waits_for_a_running_call(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    inside, release = threading.Event(), threading.Event()
    finished: list[float] = []

    def long_call() -> None:
        with store.using() as db:
            inside.set()
            release.wait(10)
            db.execute("SELECT COUNT(*) FROM nodes").fetchone()  # still open
            finished.append(time.monotonic())

    worker = threading.Thread(target=long_call)
    worker.start()
    assert inside.wait(10)
    closer = threading.Thread(target=store.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # close() is waiting for the worker
    release.set()
    closer.join(10)
    worker.join(10)
    assert not closer.is_alive() and finished


class SlowNodes(MutableMapping[bytes, bytes]):
    """A node store that is slow and notes when it is used."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.last_use = 0.0
        self.uses = 0

    def _use(self) -> None:
        time.sleep(0.001)
        self.uses += 1
        self.last_use = time.monotonic()

    def __getitem__(self, key: bytes) -> bytes:
        self._use()
        return self.data[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._use()
        self.data[key] = value

    def __delitem__(self, key: bytes) -> None:
        del self.data[key]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def test_cancelled_run_abandons_the_build_and_waits_for_its_thread() -> None:
    size = 256
    source = MemoryHeaderSource(SyntheticChain(2 * size).headers())
    nodes = SlowNodes()

    async def run() -> float:
        async def index() -> None:
            async for _ in index_sections(source, section_size=size, confirmations=0, db=nodes):
                pass

        task = asyncio.ensure_future(index())
        while nodes.uses < 20:  # the first build is under way in its thread
            await asyncio.sleep(0.001)
        task.cancel()
        task.cancel()  # a second cancellation does not cut the wait short
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic()

    ended = asyncio.run(run())
    uses = nodes.uses
    time.sleep(0.05)
    assert nodes.uses == uses  # nothing touched the nodes after the run ended
    assert nodes.last_use <= ended
    assert uses < 200  # abandoned: a whole section writes far more nodes than that
