"""Small asyncio helpers shared by the long-running commands."""

from __future__ import annotations

import asyncio

__all__ = ["sleep_unless_stopped"]


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile; returns whether it is set."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
