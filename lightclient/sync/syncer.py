"""The syncer: keeps a store's sections in step with a chain, across restarts and reorgs.

* ``sync()`` indexes every complete section the store does not have yet, committing each
  one (with its trie nodes) atomically, so a crash loses at most the section in progress.
* Before that, ``check_reorg()`` compares the stored section heads with the chain and rolls
  back every section whose head is no longer canonical (newest first, like geth's indexer).
* ``follow()`` repeats this as the head moves.
* ``verified_head()`` returns the current head header after checking that the chain links
  from the last indexed section to it: the header whose state root the oracle reader
  trusts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lightclient.aio import sleep_unless_stopped
from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.header import Header
from lightclient.core.sections import complete_sections, validate_section_size
from lightclient.errors import LightClientError
from lightclient.sources.base import HeaderSource, checked_headers
from lightclient.store.sqlite import Store
from lightclient.sync.indexer import DEFAULT_FETCH_CHUNK, fetch_verified, index_sections

__all__ = ["Syncer"]

log = logging.getLogger(__name__)


class Syncer:
    def __init__(
        self,
        source: HeaderSource,
        store: Store,
        *,
        section_size: int,
        confirmations: int,
        fetch_chunk: int = DEFAULT_FETCH_CHUNK,
        on_section: Callable[[TrustedCheckpoint], None] | None = None,
    ) -> None:
        self.source = source
        self.store = store
        self.section_size = validate_section_size(section_size)
        self.confirmations = confirmations
        self.fetch_chunk = fetch_chunk
        self.on_section = on_section
        self._lock = asyncio.Lock()
        store.bind(section_size=str(section_size))

    async def _hash_at(self, number: int) -> bytes:
        raw = (await self.source.headers(number, 1))[0]
        return checked_headers([raw], number, None)[0].hash

    async def check_reorg(self) -> int:
        """Roll back stored sections whose head is no longer the chain's; returns how many."""
        count = self.store.section_count()
        keep = count
        while keep > 0:
            stored = self.store.checkpoint(keep - 1)
            assert stored is not None
            number = stored.head_block(self.section_size)
            try:
                if await self._hash_at(number) == stored.section_head:
                    break
            except LightClientError as exc:
                log.warning("cannot read block %d to check section %d: %s", number, keep - 1, exc)
                if keep == count:
                    raise
            keep -= 1
        if keep < count:
            dropped = self.store.rollback_to(keep)
            log.warning("reorg: rolled back %d section(s), from section %d on", dropped, keep)
            return dropped
        return 0

    async def sync(self) -> list[TrustedCheckpoint]:
        """Check for reorgs, then index and store every new complete section."""
        async with self._lock:
            await self.check_reorg()
            added: list[TrustedCheckpoint] = []

            try:
                async for checkpoint in index_sections(
                    self.source,
                    section_size=self.section_size,
                    confirmations=self.confirmations,
                    db=self.store.nodes,
                    state=self.store.state(),
                    on_section=self.store.commit_section,
                    fetch_chunk=self.fetch_chunk,
                ):
                    added.append(checkpoint)
                    if self.on_section is not None:
                        self.on_section(checkpoint)
            finally:
                self.store.discard_pending()
            return added

    async def pending_sections(self) -> int:
        """Complete sections on the chain that the store does not have yet."""
        head = await self.source.head()
        return complete_sections(head, self.section_size, self.confirmations) - (
            self.store.section_count()
        )

    async def follow(self, stop: asyncio.Event, interval: float = 2.0) -> None:
        """Sync, then keep syncing as the chain grows, until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.sync()
            except LightClientError as exc:
                log.warning("sync failed, will retry: %s", exc)
            await sleep_unless_stopped(stop, interval)

    async def verified_head(self) -> Header:
        """The head header, with every link from the last indexed section to it checked."""
        head = await self.source.head()
        state = self.store.state()
        start = state.sections * self.section_size
        if start > head:
            start = head  # nothing indexed up to the head: check the head itself
            parent = None
        else:
            parent = state.head_hash
        headers = await fetch_verified(
            self.source, start, head - start + 1, parent, self.fetch_chunk
        )
        return headers[-1]
