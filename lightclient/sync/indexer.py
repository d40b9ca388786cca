"""Driving a :class:`SectionIndexer` from a header source: fetch, verify, index, repeat.

Headers are fetched in chunks and checked (hash, number, parent link) before they reach the
tries; the next section is fetched while the current one is being built.

A section is built in a worker thread. Cancelling a run (SIGTERM/SIGINT stop ``serve``)
abandons the build in progress: its next trie read or write raises, and the run waits for
the worker thread to return before the cancellation goes on. So when a cancelled run has
ended, no thread is still reading the store, and the store can be closed; the abandoned
section was never committed (its pending trie nodes are discarded by the caller).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from dataclasses import dataclass

from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.header import Header
from lightclient.core.sections import (
    ChainState,
    SectionIndexer,
    complete_sections,
    validate_section_size,
)
from lightclient.core.trie import NodeDB
from lightclient.errors import ChainGap, InvalidInput, LightClientError
from lightclient.sources.base import HeaderSource, checked_headers

__all__ = ["IndexPlan", "Progress", "fetch_verified", "index_sections", "plan_sections"]

DEFAULT_FETCH_CHUNK = 2048


class BuildAbandoned(LightClientError):
    """Raised inside a section build that its run no longer wants (the run was cancelled)."""


class _AbandonableNodes(MutableMapping[bytes, bytes]):
    """``db`` for one build thread: every access raises once ``abandon`` is set."""

    def __init__(self, db: NodeDB, abandon: threading.Event) -> None:
        self.db = db
        self.abandon = abandon

    def _check(self) -> None:
        if self.abandon.is_set():
            raise BuildAbandoned("the section build was abandoned")

    def __getitem__(self, key: bytes) -> bytes:
        self._check()
        return self.db[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._check()
        self.db[key] = value

    def __delitem__(self, key: bytes) -> None:
        self._check()
        del self.db[key]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.db)

    def __len__(self) -> int:
        return len(self.db)


async def _build(
    indexer: SectionIndexer, headers: list[Header], abandon: threading.Event
) -> TrustedCheckpoint:
    """``indexer.process(headers)`` in a worker thread. If cancelled, the build is abandoned
    and the thread waited for (through further cancellations) before CancelledError goes on."""
    work = asyncio.ensure_future(asyncio.to_thread(indexer.process, headers))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        abandon.set()
        while not work.done():
            try:
                await asyncio.wait({work})
            except asyncio.CancelledError:
                continue  # still waiting: the thread must not outlive the run
        if not work.cancelled():
            work.exception()  # retrieved: BuildAbandoned, or the build's own error
        raise


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a run is: sections done of the sections planned, and the current block."""

    section: int
    first_section: int
    last_section: int
    block: int


@dataclass(frozen=True, slots=True)
class IndexPlan:
    head: int
    complete: int  # number of complete sections at head
    first: int  # first section to compute (sections are cumulative: from the state's count)
    last: int  # last section to compute, inclusive (first - 1 when there is nothing to do)


def plan_sections(
    head: int,
    *,
    section_size: int,
    confirmations: int,
    done: int,
    to_section: int | None,
) -> IndexPlan:
    """Which sections a run computes, given the head and the sections already done."""
    complete = complete_sections(head, section_size, confirmations)
    last = complete - 1
    if to_section is not None:
        if to_section < 0:
            raise InvalidInput(f"--to-section must not be negative, got {to_section}")
        if to_section > last:
            needed = (to_section + 1) * section_size - 1 + confirmations
            raise InvalidInput(
                f"section {to_section} is not complete: it needs the head at block {needed} or "
                f"later, and the source's head is block {head}"
            )
        last = to_section
    return IndexPlan(head, complete, done, last)


async def fetch_verified(
    source: HeaderSource,
    start: int,
    count: int,
    parent_hash: bytes | None,
    chunk: int = DEFAULT_FETCH_CHUNK,
) -> list[Header]:
    """Headers ``start .. start+count-1`` from ``source``, each verified and linked."""
    out: list[Header] = []
    previous = parent_hash
    position = start
    while position < start + count:
        n = min(chunk, start + count - position)
        raw = await source.headers(position, n)
        if len(raw) != n:
            raise ChainGap(
                f"{source.description} returned {len(raw)} headers where {n} were asked",
                block=position + len(raw),
            )
        batch = checked_headers(raw, position, previous)
        out.extend(batch)
        previous = batch[-1].hash
        position += n
    return out


async def index_sections(
    source: HeaderSource,
    *,
    section_size: int,
    confirmations: int,
    db: NodeDB,
    state: ChainState | None = None,
    from_section: int = 0,
    to_section: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_section: Callable[[TrustedCheckpoint, ChainState], None] | None = None,
    fetch_chunk: int = DEFAULT_FETCH_CHUNK,
) -> AsyncIterator[TrustedCheckpoint]:
    """Index every complete section of ``source`` and yield the checkpoints from
    ``from_section`` on (earlier sections are still built: the tries are cumulative).

    ``on_section`` is called with each new section and the state after it (to persist it)
    before the checkpoint is yielded.
    """
    validate_section_size(section_size)
    if from_section < 0:
        raise InvalidInput(f"--from-section must not be negative, got {from_section}")
    if to_section is not None and to_section < from_section:
        raise InvalidInput(f"--to-section ({to_section}) is before --from-section ({from_section})")
    abandon = threading.Event()
    indexer = SectionIndexer(section_size, _AbandonableNodes(db, abandon), state)
    plan = plan_sections(
        await source.head(),
        section_size=section_size,
        confirmations=confirmations,
        done=indexer.state.sections,
        to_section=to_section,
    )

    def fetch(section: int) -> asyncio.Task[list[Header]]:
        parent = indexer.state.head_hash if section == indexer.state.sections else None
        return asyncio.ensure_future(
            fetch_verified(source, section * section_size, section_size, parent, fetch_chunk)
        )

    pending = fetch(plan.first) if plan.first <= plan.last else None
    for section in range(plan.first, plan.last + 1):
        assert pending is not None
        headers = await pending
        pending = fetch(section + 1) if section < plan.last else None
        try:
            checkpoint = await _build(indexer, headers, abandon)
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        if on_section is not None:
            on_section(checkpoint, indexer.state)
        if on_progress is not None:
            on_progress(Progress(section, plan.first, plan.last, headers[-1].number))
        if section >= from_section:
            yield checkpoint
