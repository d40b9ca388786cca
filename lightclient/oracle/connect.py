"""An AsyncWeb3 for a node URL (HTTP or WebSocket)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from web3 import AsyncWeb3
from web3.exceptions import Web3Exception
from web3.providers import AsyncHTTPProvider, WebSocketProvider

from lightclient.errors import InvalidInput, SourceUnavailable

__all__ = ["connect_web3"]


@asynccontextmanager
async def connect_web3(url: str) -> AsyncIterator[AsyncWeb3[Any]]:
    """``async with connect_web3(url) as w3``: connected, and closed afterwards."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(url))
        try:
            yield w3
        finally:
            await w3.provider.disconnect()
    elif scheme in ("ws", "wss"):
        try:
            w3 = await AsyncWeb3(WebSocketProvider(url))
        except (Web3Exception, OSError) as exc:
            raise SourceUnavailable(f"cannot reach {url}: {exc}") from None
        try:
            yield w3
        finally:
            await w3.provider.disconnect()
    else:
        raise InvalidInput(f"not an http(s):// or ws(s):// URL: {url!r}")
