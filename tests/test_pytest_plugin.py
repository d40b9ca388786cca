"""The pytest plugin shipped for users, used here as a user would (no imports needed)."""

from __future__ import annotations

import aiohttp
import pytest

from lightclient.testing.oracle_kit import OracleKit
from lightclient.testing.pytest_plugin import LesServer


@pytest.mark.oracle_kit(admins=2, threshold=2, section_size=32, confirmations=2)
async def test_register_and_serve(oracle_kit: OracleKit, les_server: LesServer) -> None:
    assert len(oracle_kit.admins) == 2 and oracle_kit.section_size == 32
    outcome = await oracle_kit.mine_and_register(1)
    assert outcome.registered
    assert await les_server.sync() == 2
    verdict = await les_server.verify()
    assert verdict.verified and verdict.section_index == 1
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            les_server.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "les_latestCheckpoint", "params": []},
        ) as response,
    ):
        answer = await response.json()
    assert answer["result"] == (await oracle_kit.checkpoint(1)).latest_rpc_form()


async def test_default_kit(oracle_kit: OracleKit) -> None:
    assert oracle_kit.threshold == 2 and len(oracle_kit.admins) == 3
    assert await oracle_kit.oracle.admins() == [a.address for a in oracle_kit.admins]
