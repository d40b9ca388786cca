"""LES/4 serving benchmark: requests and reply bytes per second that one client gets from
the LES server over RLPx on 127.0.0.1, each as a ratio to the same request answered with
the same reply bytes by a bare RLPx echo peer measured in the same run (the transport and
codec cost with no serving work).

Requests: GetBlockHeaders x192, GetHelperTrieProofs with 16 CHT keys and their headers, and
GetReceipts for 16 blocks of 100 receipts (from a fixed in-memory ChainData: the node's cost
is not what is measured).

Usage: python benchmarks/bench_les.py [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from pathlib import Path

from lightclient.les.codes import MsgCode
from lightclient.les.forkid import ForkSchedule, fork_id
from lightclient.les.messages import (
    AUX_HEADER,
    HELPER_TRIE_CHT,
    GetBlockHeaders,
    GetHelperTrieProofs,
    GetReceipts,
    HelperTrieReq,
)
from lightclient.les.status import ChainHead, client_status
from lightclient.pool.clock import SystemClock
from lightclient.rlpx.keys import private_key_from_bytes, public_key_of
from lightclient.rlpx.p2p import Protocol
from lightclient.rlpx.session import Session, SessionConfig, connect, listen
from lightclient.server.chaindata import NoChainData
from lightclient.server.les_server import LesServer
from lightclient.server.service import PoolConfig, PoolService
from lightclient.sources.embedded import EmbeddedChain, EmbeddedHeaderSource
from lightclient.store.balances import SqliteBalanceStore
from lightclient.store.sqlite import Store
from lightclient.sync.syncer import Syncer

LES4 = SessionConfig(protocols=(Protocol("les", 4, 24),))
SIZE = 256
RECEIPT = bytes.fromhex("f9010801825208b90100" + "00" * 256 + "c0")  # a legacy receipt
RECEIPTS = bytes([0xF9]) + (len(RECEIPT) * 100).to_bytes(2, "big") + RECEIPT * 100


class FixedReceipts(NoChainData):
    """Every block has the same 100 receipts; nothing else is known."""

    async def receipts_rlp(self, block_hash: bytes) -> bytes | None:
        return RECEIPTS


async def measure(
    session: Session, code: int, payload: bytes, seconds: float
) -> tuple[float, float, bytes]:
    """(requests/s, reply bytes/s, one reply) for one request sent again and again."""
    count, size, start = 0, 0, time.perf_counter()
    reply = b""
    while time.perf_counter() - start < seconds:
        await session.send(code, payload)
        reply = (await session.receive()).payload
        count += 1
        size += len(reply)
    elapsed = time.perf_counter() - start
    return count / elapsed, size / elapsed, reply


async def run(seconds: float) -> list[tuple[str, float, float, float, float]]:
    chain = EmbeddedChain(seed=2)
    chain.mine_until(4 * SIZE + 4, log_every=3)
    source = EmbeddedHeaderSource(chain)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp))
        await Syncer(source, store, section_size=SIZE, confirmations=2).sync()
        genesis = chain.header_rlp(0)[0]
        pool = PoolConfig(min_cap=10**9, max_count=4, max_capacity=10**10)
        service = PoolService(SystemClock(), SqliteBalanceStore(store), pool)
        server_key = private_key_from_bytes(os.urandom(32))
        schedule = ForkSchedule.of([])
        server = LesServer(source, store, service, SystemClock(), node_key=server_key,
                           section_size=SIZE, genesis_hash=genesis, network_id=1337,
                           fork_schedule=schedule, chain_data=FixedReceipts())  # fmt: skip
        await server.start("127.0.0.1", 0)
        key = private_key_from_bytes(os.urandom(32))
        les = await connect("127.0.0.1", server.port, key, public_key_of(server_key), LES4)
        head = ChainHead(4, 1337, genesis, fork_id=fork_id(genesis, schedule, 0, 0))
        await les.send(MsgCode.STATUS, client_status(head).encode())
        await les.receive()  # the server's Status
        hashes = tuple(chain.header_rlp(n)[0] for n in range(16))
        requests = {
            "GetBlockHeaders x192": (MsgCode.GET_BLOCK_HEADERS,
                                     GetBlockHeaders(1, 100, 192).encode()),
            "CHT proofs x16 + headers": (MsgCode.GET_HELPER_TRIE_PROOFS, GetHelperTrieProofs(
                2, tuple(HelperTrieReq(HELPER_TRIE_CHT, 3, (77 + i).to_bytes(8, "big"), 0,
                                       AUX_HEADER) for i in range(16))).encode()),
            "GetReceipts x16 (100 each)": (MsgCode.GET_RECEIPTS, GetReceipts(3, hashes).encode()),
        }  # fmt: skip
        served: dict[str, tuple[float, float, bytes]] = {}
        for name, (code, payload) in requests.items():
            served[name] = await measure(les, code, payload, seconds)
        replies: dict[int, bytes] = {int(c): served[n][2] for n, (c, _) in requests.items()}

        async def echo(session: Session) -> None:
            while True:
                message = await session.receive()
                await session.send(message.code + 1, replies[message.code])

        echo_key = private_key_from_bytes(os.urandom(32))
        echo_server = await listen("127.0.0.1", 0, echo_key, echo, LES4)
        port = echo_server.sockets[0].getsockname()[1]
        bare = await connect("127.0.0.1", port, key, public_key_of(echo_key), LES4)
        out = []
        for name, (code, payload) in requests.items():
            rate, rate_bytes, _ = await measure(bare, code, payload, seconds)
            out.append((name, served[name][0], served[name][1], rate, rate_bytes))
        await bare.close()
        echo_server.close()
        await les.close()
        await server.stop()
        service.stop()
        store.close()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores")
    print("one LES/4 client over RLPx on 127.0.0.1; ratio to a bare RLPx echo of the same "
          "reply bytes\n")  # fmt: skip
    for name, rate, rate_bytes, echo_rate, _ in asyncio.run(run(args.seconds)):
        print(f"  {name:<28} {rate:8,.0f} req/s  {rate_bytes / 1e6:7.2f} MB/s   "
              f"{rate / echo_rate:5.2f}x echo ({echo_rate:,.0f} req/s)")  # fmt: skip


if __name__ == "__main__":
    main()
