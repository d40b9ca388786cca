"""lightclient's pytest plugin (installed with the package, loaded automatically).

Fixtures (asynchronous: use them from ``async def`` tests with pytest-asyncio):

* ``oracle_kit``: a new embedded py-evm chain with a deployed checkpoint oracle and its
  admins (:class:`~lightclient.testing.oracle_kit.OracleKit`). Configure it with
  ``@pytest.mark.oracle_kit(admins=3, threshold=2, section_size=64, confirmations=4)``.
* ``les_server``: a syncer over that chain and a running les JSON-RPC server on 127.0.0.1
  (:class:`LesServer`); ``await les_server.sync()`` indexes what was mined.

Example::

    async def test_registered_checkpoint_verifies(oracle_kit, les_server):
        outcome = await oracle_kit.mine_and_register(1)      # sections 0-1, register 1
        assert outcome.registered
        verdict = await les_server.verify()
        assert verdict.verified
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the plugin then offers no fixtures
    pytest_asyncio = None  # type: ignore[assignment]

from lightclient.rpc.http import serve
from lightclient.rpc.les import les_checkpoint_methods
from lightclient.rpc.server import RpcServer
from lightclient.store.sqlite import Store
from lightclient.sync.syncer import Syncer
from lightclient.sync.verify import Verdict, verify_checkpoint
from lightclient.testing.oracle_kit import OracleKit

__all__ = ["LesServer", "les_server", "oracle_kit"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "oracle_kit(admins=3, threshold=2, section_size=64, confirmations=4): "
        "configure the oracle_kit fixture",
    )


@dataclass
class LesServer:
    """A running les_* JSON-RPC server over a syncer's store."""

    url: str
    store: Store
    syncer: Syncer
    kit: OracleKit

    async def sync(self) -> int:
        """Index every complete section; returns how many sections the store has."""
        await self.syncer.sync()
        return self.store.section_count()

    async def verify(self, index: int | None = None) -> Verdict:
        return await verify_checkpoint(self.syncer, self.kit.oracle, self.kit.config, index)


def _fixture(function: Any) -> Any:
    """An async fixture under pytest-asyncio; without it, nothing (see the ImportError)."""
    return pytest_asyncio.fixture(function) if pytest_asyncio is not None else function


@_fixture
async def oracle_kit(request: pytest.FixtureRequest) -> AsyncIterator[OracleKit]:
    marker = request.node.get_closest_marker("oracle_kit")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    kit = await OracleKit.create(**options)
    yield kit
    await kit.close()


@_fixture
async def les_server(oracle_kit: OracleKit, tmp_path: Path) -> AsyncIterator[LesServer]:
    store = Store.open(tmp_path / "les-server")
    syncer = Syncer(
        oracle_kit.source,
        store,
        section_size=oracle_kit.section_size,
        confirmations=oracle_kit.confirmations,
    )
    server = RpcServer(les_checkpoint_methods(store, oracle_kit.oracle.address), ["les", "rpc"])
    runner, port = await serve(server, "127.0.0.1", 0)
    yield LesServer(f"http://127.0.0.1:{port}", store, syncer, oracle_kit)
    await runner.cleanup()
    store.close()
