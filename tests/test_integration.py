"""One chain, three sources, the same checkpoints: anvil over HTTP and WS and from a file;
the embedded py-evm chain directly, over JSON-RPC on a real socket and from a file; and
every run equal to the naive reference.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_anvil

from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.header import decode_header
from lightclient.sources.base import HeaderSource, checked_headers
from lightclient.sources.embedded import LOG_EMITTER_INIT, EmbeddedChain, EmbeddedHeaderSource
from lightclient.sources.jsonrpc import JsonRpcHeaderSource
from lightclient.sources.rlpfile import RlpFileHeaderSource
from lightclient.sync.indexer import index_sections
from lightclient.testing.anvil import AnvilProcess
from lightclient.testing.ethrpc import serve_embedded_chain
from lightclient.testing.reference import NaiveIndexer

SECTION = 64
CONFIRMATIONS = 8
SECTIONS = 4


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilProcess]:
    require_anvil()
    with AnvilProcess() as node:
        _mine_chain_with_logs(node)
        yield node


def _mine_chain_with_logs(node: AnvilProcess) -> None:
    """Deploy a LOG1 emitter, then mine blocks where about a third hold a log."""
    sender = node.rpc("eth_accounts")[0]
    tx = node.rpc("eth_sendTransaction", [{"from": sender, "data": "0x" + LOG_EMITTER_INIT.hex()}])
    receipt = None
    for _ in range(100):
        receipt = node.rpc("eth_getTransactionReceipt", [tx])
        if receipt is not None:
            break
        node.rpc("anvil_mine", ["0x1"])
    assert receipt is not None, "anvil did not mine the deployment"
    emitter = receipt["contractAddress"]
    rng = random.Random(7)
    target = SECTIONS * SECTION - 1 + CONFIRMATIONS
    while int(node.rpc("eth_blockNumber"), 16) < target:
        if rng.random() < 0.35:
            topic = "0x" + rng.randbytes(32).hex()
            node.rpc("eth_sendTransaction", [{"from": sender, "to": emitter, "data": topic}])
        else:
            node.rpc("anvil_mine", [hex(rng.randrange(1, 4))])


async def _index(source: HeaderSource) -> list[TrustedCheckpoint]:
    out = [
        cp
        async for cp in index_sections(
            source, section_size=SECTION, confirmations=CONFIRMATIONS, db={}
        )
    ]
    await source.close()
    return out


async def _naive(source: HeaderSource, sections: int) -> list[TrustedCheckpoint]:
    headers = checked_headers(await source.headers(0, sections * SECTION), 0, None)
    naive = NaiveIndexer(SECTION)
    return [naive.process(headers[s * SECTION : (s + 1) * SECTION]) for s in range(sections)]


async def _write_file(source: HeaderSource, path: Path, count: int) -> None:
    path.write_bytes(b"".join(h.rlp for h in await source.headers(0, count)))


async def test_anvil_http_ws_and_file_agree(anvil: AnvilProcess, tmp_path: Path) -> None:
    http = await _index(JsonRpcHeaderSource(anvil.url, batch_size=50, concurrency=3))
    assert len(http) == SECTIONS
    ws = await _index(JsonRpcHeaderSource(anvil.ws_url, batch_size=70))
    assert ws == http

    source = JsonRpcHeaderSource(anvil.url)
    head = await source.head()
    await _write_file(source, tmp_path / "anvil.rlp", head + 1)
    assert await _index(RlpFileHeaderSource(tmp_path / "anvil.rlp")) == http
    assert await _naive(source, SECTIONS) == http
    await source.close()

    # The section heads are anvil's own block hashes, and the chain has logs in it.
    for cp in http:
        block = anvil.rpc("eth_getBlockByNumber", [hex(cp.head_block(SECTION)), False])
        assert block["hash"] == "0x" + cp.section_head.hex()
    blooms = [anvil.rpc("eth_getBlockByNumber", [hex(n), False])["logsBloom"] for n in range(1, 40)]
    assert any(int(b, 16) for b in blooms)


async def test_embedded_direct_rpc_and_file_agree(tmp_path: Path) -> None:
    chain = EmbeddedChain(seed=3)
    chain.mine_until(SECTIONS * SECTION - 1 + CONFIRMATIONS, log_every=3)
    direct = await _index(EmbeddedHeaderSource(chain))
    assert len(direct) == SECTIONS
    with serve_embedded_chain(chain) as url:
        over_rpc = await _index(JsonRpcHeaderSource(url, batch_size=40))
    assert over_rpc == direct
    await _write_file(EmbeddedHeaderSource(chain), tmp_path / "embedded.rlp", chain.head() + 1)
    assert await _index(RlpFileHeaderSource(tmp_path / "embedded.rlp")) == direct
    assert await _naive(EmbeddedHeaderSource(chain), SECTIONS) == direct
    # Real proof-of-work difficulties: the TD in the CHT is not trivially zero.
    _, raw = chain.header_rlp(1)
    assert decode_header(raw).difficulty > 0
