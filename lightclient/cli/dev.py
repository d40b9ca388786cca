"""``lightclient dev``: the whole flow on an in-process py-evm chain, in a few seconds.

Deploys an oracle with three dev admins (threshold 2), mines sections with logs, signs
and publishes each section's checkpoint as soon as the contract accepts it, lets the syncer
index the chain and verify every registered checkpoint, and serves the les_* methods on
127.0.0.1, and the first light client's verified eth_* methods on --client-http. Then it
keeps mining and registering until stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lightclient.aio import sleep_unless_stopped
from lightclient.cli.common import host_port, non_negative, print_json, section_size
from lightclient.cli.endpoint import add_rpc_options, endpoint_from_args
from lightclient.cli.serve import run_stoppable

__all__ = ["add_commands"]

CURL = (  # {url}, {ipc} and {secret} are filled in (by replace: the JSON has braces)
    "try:\n"
    "  curl -s -H 'Content-Type: application/json' "
    '-d \'{"jsonrpc":"2.0","id":1,"method":"les_latestCheckpoint","params":[]}\' '
    "{url}\n"
    "  lightclient admin les_clientInfo '[]' --ipcpath {ipc}\n"
    "  lightclient admin les_serverInfo --http {url} --jwtsecret {secret}\n"
)
CLIENT_CURL = (  # {client} is filled in
    "light client {client}... answers the verified eth_* API on {url}:\n"
    "  curl -s -H 'Content-Type: application/json' "
    '-d \'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}\' {url}\n'
    "  curl -s -H 'Content-Type: application/json' "
    '-d \'{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["latest",true]}\' '
    "{url}\n"
    "  blocks, transactions, receipts and state (eth_getBalance, eth_getCode, "
    "eth_getStorageAt,\n"
    "  eth_getProof, eth_getTransactionCount) come from the dev LES server, verified;\n"
    "  eth_sendRawTransaction is refused (the dev chain mines its own transactions)\n"
)
CLIENT_MODULES = ["les", "eth", "net", "web3", "rpc"]


def add_commands(commands: Any) -> None:
    dev = commands.add_parser(
        "dev", help="run oracle, syncer and RPC server on an embedded py-evm chain",
        description=__doc__,
    )  # fmt: skip
    dev.add_argument("--http", type=host_port, default=("127.0.0.1", 8545), metavar="HOST:PORT")
    dev.add_argument("--section-size", type=section_size, default=128, metavar="N")
    dev.add_argument("--confirmations", type=non_negative, default=8, metavar="K")
    dev.add_argument("--sections", type=non_negative, default=4, metavar="M",
                     help="sections to mine before serving (default 4)")  # fmt: skip
    dev.add_argument("--block-time", type=float, default=0.25, metavar="SECONDS",
                     help="then mine a block this often (0: stop mining)")  # fmt: skip
    dev.add_argument("--datadir", metavar="DIR", help="default: a temporary directory")
    dev.add_argument("--once", action="store_true",
                     help="exit after the first sections are registered and verified")  # fmt: skip
    dev.add_argument("--json", action="store_true", help="print each verdict as JSON")
    dev.add_argument("--light-serve", type=host_port, default=("127.0.0.1", 0), metavar="HOST:PORT",
                     help="where light clients connect (default: a free port)")  # fmt: skip
    dev.add_argument("--light-clients", type=non_negative, default=2, metavar="N",
                     help="in-process light clients to run (default 2)")  # fmt: skip
    dev.add_argument("--client-http", type=host_port, default=("127.0.0.1", 8546),
                     metavar="HOST:PORT",
                     help="where the first light client serves its verified eth_* API "
                          "(default 127.0.0.1:8546)")  # fmt: skip
    add_rpc_options(dev, admin=True)
    dev.set_defaults(handler=lambda args: run_stoppable(lambda: _dev(args)))


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


async def _dev(args: argparse.Namespace) -> int:
    from lightclient.rpc.les import les_checkpoint_methods
    from lightclient.store.sqlite import Store
    from lightclient.sync.syncer import Syncer
    from lightclient.sync.verify import verify_checkpoint
    from lightclient.testing.oracle_kit import OracleKit

    started = time.monotonic()
    size, confirms = args.section_size, args.confirmations
    kit = await OracleKit.create(admins=3, threshold=2, section_size=size, confirmations=confirms)
    _say(f"embedded py-evm chain up; oracle {kit.oracle.address} deployed, admins "
         f"{', '.join(a.address for a in kit.admins)}, threshold 2")  # fmt: skip
    scratch = tempfile.TemporaryDirectory(prefix="lightclient-dev-")
    datadir = Path(args.datadir or scratch.name)
    store = Store.open(datadir)
    endpoint = endpoint_from_args(args, datadir)
    syncer = Syncer(kit.source, store, section_size=size, confirmations=confirms)
    registered = -1
    heights: dict[int, int] = {}  # section -> block of its oracle registration

    async def register_ready() -> None:
        """Register every section the contract accepts now, then sync and verify."""
        nonlocal registered
        head = await kit.w3.eth.block_number
        ready = (head - confirms) // size - 1  # the newest section the contract accepts
        while registered < ready:
            registered += 1
            outcome = await kit.register(registered)
            if outcome.registered and outcome.block is not None:
                heights[registered] = outcome.block
            _say(f"section {registered}: checkpoint signed by 2 admins and published in block "
                 f"{outcome.block}: {outcome.reason}")  # fmt: skip
        if registered >= 0:
            verdict = await verify_checkpoint(syncer, kit.oracle, kit.config)
            if args.json:
                print_json(verdict.to_json())
            _say(f"syncer: section {verdict.section_index} "
                 f"{'VERIFIED' if verdict.verified else 'NOT VERIFIED'} ({verdict.reason}); "
                 f"{store.section_count()} sections indexed")  # fmt: skip

    _say(f"mining {args.sections} sections of {size} blocks with logs...")
    await kit.mine_sections(args.sections)
    await register_ready()
    light, clients = await _light_side(args, kit, store, heights)
    _say(f"ready in {time.monotonic() - started:.1f} s")
    host, port = args.http

    async def keep_mining(stop: asyncio.Event) -> None:
        if args.block_time <= 0:
            return
        while not stop.is_set():
            kit.mine_to(await kit.w3.eth.block_number + 1)
            if (await kit.w3.eth.block_number - confirms) // size - 1 > registered:
                await register_ready()
            await sleep_unless_stopped(stop, args.block_time)

    client_runner: Any = None

    async def clients_follow(stop: asyncio.Event) -> None:
        while not await sleep_unless_stopped(stop, 2.0):
            for client in clients:
                try:
                    await client.sync()
                except Exception as exc:  # a demo keeps going
                    _say(f"light client sync failed: {exc}")

    try:
        if args.once:
            if args.json:
                if clients:
                    print_json({"lightClient": await _verified_answers(clients[0])})
                print_json({"serverInfo": light.service.server_info(),
                            "clientInfo": light.service.client_info([])})  # fmt: skip
            return 0
        from lightclient.cli.serve import _light_methods, serve_until_stopped
        from lightclient.rpc.http import serve
        from lightclient.rpc.les_client import light_client_methods
        from lightclient.rpc.server import RpcServer

        extra = ""
        if clients:
            client_rpc = RpcServer(light_client_methods(clients[0]), CLIENT_MODULES,
                                   endpoint.limits)  # fmt: skip
            chost, cport = args.client_http
            client_runner, cbound = await serve(client_rpc, chost, cport, endpoint.policy)
            node_id = clients[0].servers[0].connection.node_id.hex()[:16]
            extra = CLIENT_CURL.replace("{url}", f"http://{chost}:{cbound}")
            extra = extra.replace("{client}", node_id)

        methods = les_checkpoint_methods(store, kit.oracle.address) + _light_methods(
            light, args.light_serve
        )
        banner = CURL.replace("{ipc}", str(endpoint.ipc_path))
        banner = banner.replace("{secret}", str(endpoint.secret_path))
        banner += extra
        return await serve_until_stopped(
            methods, ["les", "rpc"], host, port, [keep_mining, clients_follow], banner=banner,
            endpoint=endpoint,
        )  # fmt: skip
    finally:
        if client_runner is not None:
            await client_runner.cleanup()
        for client in clients:
            await client.close()
        await light.stop()
        await kit.close()
        store.close()
        scratch.cleanup()


async def _verified_answers(client: Any) -> dict[str, Any]:
    """What the light client answers on its eth_* API (the same dispatch as --client-http):
    its head, and in the newest block with a transaction that transaction's receipt and
    its sender's balance, each verified."""
    import json

    from lightclient.rpc.les_client import light_client_methods
    from lightclient.rpc.server import RpcServer

    rpc = RpcServer(light_client_methods(client), CLIENT_MODULES)

    async def ask(method: str, *params: Any) -> Any:
        request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer = await rpc.handle_payload(json.dumps(request))
        return answer.get("result", answer.get("error"))

    head = int(await ask("eth_blockNumber"), 16)
    answers: dict[str, Any] = {"eth_blockNumber": hex(head),
                               "eth_getBlockByNumber": await ask("eth_getBlockByNumber",
                                                                 "latest", False)}  # fmt: skip
    for number in range(head, max(head - 64, -1), -1):
        block = await ask("eth_getBlockByNumber", hex(number), False)
        if isinstance(block, dict) and block.get("transactions"):
            tx_hash = block["transactions"][-1]
            receipt = await ask("eth_getTransactionReceipt", tx_hash)
            answers["eth_getTransactionReceipt"] = receipt
            if isinstance(receipt, dict):
                answers["eth_getBalance"] = {
                    "address": receipt["from"],
                    "balance": await ask("eth_getBalance", receipt["from"], "latest"),
                }
            break
    return answers


async def _light_side(
    args: argparse.Namespace, kit: Any, store: Any, heights: dict[int, int]
) -> tuple[Any, list[Any]]:
    """An LES server over RLPx on the dev chain, and light clients that dial its enode and
    sync from its checkpoint."""
    import os

    from eth_keys.datatypes import PrivateKey

    from lightclient.client.client import LightClient
    from lightclient.les.forkid import ForkFilter, ForkSchedule, fork_id
    from lightclient.rlpx.keys import private_key_from_bytes
    from lightclient.server.runtime import start_les_server
    from lightclient.server.service import PoolConfig

    host, port = args.light_serve
    config = PoolConfig(min_cap=16000, max_count=10, max_capacity=160000)
    schedule = ForkSchedule.of([])  # py-evm's dev chain has every fork at genesis
    network_id = await kit.w3.eth.chain_id
    from lightclient.testing.embedded_data import EmbeddedChainData

    light = await start_les_server(
        kit.source, store, section_size=kit.section_size, config=config, host=host, port=port,
        node_key=private_key_from_bytes(os.urandom(32)), network_id=network_id,
        fork_schedule=schedule,
        chain_data=EmbeddedChainData(kit.chain) if kit.chain is not None else None,
        checkpoint_height=lambda cp: heights.get(cp.section_index),
    )  # fmt: skip
    _say(f"LES server on {light.enode} (10 clients of capacity 16000 at most)")
    _say(
        "light clients follow the chain past the checkpoint by hash links only, on the "
        "server's word (--consensus none): py-evm's dev chain has no engine to check"
    )
    checkpoint = store.latest_checkpoint()
    clients = []
    for _ in range(args.light_clients):
        genesis = light.genesis_hash
        client = LightClient(
            checkpoint, kit.section_size, [light.enode], PrivateKey(os.urandom(32)),
            kit.oracle.address, genesis_hash=genesis, network_id=network_id,
            fork_filter=ForkFilter(genesis, schedule),
            fork_id=fork_id(genesis, schedule, checkpoint.head_block(kit.section_size), 0),
        )  # fmt: skip
        await client.start()
        head = await client.sync()
        clients.append(client)
        _say(f"light client {client.servers[0].connection.node_id.hex()[:16]}... synced from "
             f"checkpoint {checkpoint.section_index} to block {head.number}")  # fmt: skip
    return light, clients
