"""Assembling a running light server: pool service, LES server over RLPx, periodic tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lightclient.aio import sleep_unless_stopped
from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.errors import InvalidInput
from lightclient.les.forkid import ForkSchedule
from lightclient.pool.clock import SECOND, Clock, SystemClock
from lightclient.server.chaindata import ChainData
from lightclient.server.les_server import LesServer
from lightclient.server.service import PoolConfig, PoolService
from lightclient.sources.base import HeaderSource, checked_headers
from lightclient.store.balances import SqliteBalanceStore
from lightclient.store.sqlite import Store

__all__ = ["RunningLesServer", "start_les_server"]

_log = logging.getLogger(__name__)

CLEANUP_INTERVAL = 3600  # seconds between sweeps of expired negative balances


def _pool_service(
    store: Store, config: PoolConfig, default_params: dict[str, float] | None, clock: Clock
) -> PoolService:
    service = PoolService(clock, SqliteBalanceStore(store), config)
    if default_params:
        service.set_default_params(default_params)
    return service


def _start_jobs(
    stop_event: asyncio.Event,
    service: PoolService,
    config: PoolConfig,
    announce: Callable[[], Awaitable[object]],
    announce_interval: float,
) -> list[asyncio.Task[Any]]:
    """Balances written, expired balances swept and the head announced, periodically."""

    def every(
        seconds: float, job: Callable[[], Awaitable[object]], what: str
    ) -> Callable[[], Awaitable[None]]:
        """A periodic job that outlives its failures (a node or disk hiccup must not end
        persistence or announcements for the rest of the run)."""

        async def loop() -> None:
            while not await sleep_unless_stopped(stop_event, seconds):
                try:
                    await job()
                except Exception as exc:  # logged; tried again next period
                    _log.warning("light server: %s failed: %s", what, exc)

        return loop

    async def persist() -> None:
        service.persist()

    async def cleanup() -> None:
        service.cleanup()

    jobs = [
        every(config.persist_interval / SECOND, persist, "writing balances"),
        every(CLEANUP_INTERVAL, cleanup, "cleaning up expired balances"),
        every(announce_interval, announce, "announcing the head"),
    ]
    return [asyncio.ensure_future(job()) for job in jobs]


@dataclass
class RunningLesServer:
    """An LES server over RLPx with its pool and periodic jobs."""

    server: LesServer
    service: PoolService
    enode: str
    genesis_hash: bytes
    network_id: int
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def stop(self) -> None:
        self.stop_event.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.stop()
        self.service.stop()


async def start_les_server(
    source: HeaderSource,
    store: Store,
    *,
    section_size: int,
    config: PoolConfig,
    host: str,
    port: int,
    node_key: Any,
    network_id: int,
    fork_schedule: ForkSchedule,
    chain_data: ChainData | None = None,
    default_params: dict[str, float] | None = None,
    announce_interval: float = 4.0,
    checkpoint_height: Callable[[TrustedCheckpoint], int | None] | None = None,
    registered_checkpoint: Callable[[], tuple[TrustedCheckpoint, int] | None] | None = None,
) -> RunningLesServer:
    """Serve LES/4 (and les/2-3 where geth would) over RLPx on host:port."""
    genesis = checked_headers(await source.headers(0, 1), 0, None)[0].hash
    store.bind(genesis=genesis.hex())
    clock = SystemClock()
    service = _pool_service(store, config, default_params, clock)
    server = LesServer(source, store, service, clock, node_key=node_key,
                       section_size=section_size, genesis_hash=genesis, network_id=network_id,
                       fork_schedule=fork_schedule, chain_data=chain_data,
                       checkpoint_height=checkpoint_height,
                       registered_checkpoint=registered_checkpoint)  # fmt: skip
    try:
        await server.start(host, port)
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    running = RunningLesServer(server, service, server.enode, genesis, network_id)
    running.tasks = _start_jobs(running.stop_event, service, config, server.announce_head,
                                announce_interval)  # fmt: skip
    return running
