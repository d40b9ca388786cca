"""``lightclient serve``: sync from a node, keep following it, serve the les_* methods."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from lightclient.aio import sleep_unless_stopped
from lightclient.cli.common import add_node_key_options, host_port, non_negative
from lightclient.cli.endpoint import add_rpc_options, endpoint_from_args
from lightclient.cli.verify import add_oracle_options, add_sync_options, oracle_address

__all__ = ["add_commands", "default_datadir", "serve_until_stopped"]

log = logging.getLogger(__name__)
KNOWN_MODULES = ("les", "eth", "rpc", "admin")


def default_datadir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lightclient"


def _modules(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in KNOWN_MODULES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown module {unknown[0]!r}; available: {', '.join(KNOWN_MODULES)}"
        )
    return names


def add_commands(commands: Any) -> None:
    serve = commands.add_parser(
        "serve", help="sync from a node and serve the les_* checkpoint methods",
        description="Index a node's chain into the data directory, follow its head, verify "
        "the oracle's checkpoints as they are registered, and serve les_latestCheckpoint, "
        "les_getCheckpoint and les_getCheckpointContractAddress over HTTP and WebSocket.",
    )  # fmt: skip
    serve.add_argument("--rpc", required=True, metavar="URL", help="the node to index")
    serve.add_argument("--http", type=host_port, default=("127.0.0.1", 8545), metavar="HOST:PORT",
                       help="where to serve JSON-RPC (default 127.0.0.1:8545)")  # fmt: skip
    serve.add_argument("--http-api", type=_modules, default=["les", "rpc"], metavar="MODULES",
                       help="modules to serve, as geth's --http.api (default les,rpc)")  # fmt: skip
    serve.add_argument("--poll", type=float, default=4.0, metavar="SECONDS",
                       help="how often to look for new blocks")  # fmt: skip
    serve.add_argument(
        "--max-runtime", type=non_negative, metavar="SECONDS", help=argparse.SUPPRESS
    )  # for tests: stop after this long
    add_oracle_options(serve, required=False)
    add_sync_options(serve)
    add_light_serve_options(serve)
    add_rpc_options(serve, admin=True)
    add_node_key_options(serve)
    serve.set_defaults(handler=lambda args: run_stoppable(lambda: _serve(args)))


def add_light_serve_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "light serving (go-ethereum's LES/4 over devp2p RLPx, shared by the client pool; the "
        "admin les_* methods are then served on --http with the JWT, and on IPC)"
    )
    group.add_argument(
        "--light-serve",
        type=host_port,
        metavar="HOST:PORT",
        help="serve LES light clients over RLPx (TCP) here, e.g. 0.0.0.0:30303",
    )
    group.add_argument(
        "--networkid",
        type=non_negative,
        metavar="N",
        help="network ID in the LES Status (default: the node's net_version)",
    )
    group.add_argument("--chain-config", metavar="GENESIS.json",
                       help="geth genesis file whose config gives the fork ID (default: the "
                       "--network's built-in schedule, else every fork at block 0)")  # fmt: skip
    group.add_argument("--capacity", type=non_negative, default=1_600_000, metavar="N",
                       help="total capacity shared by clients (default 1600000)")  # fmt: skip
    group.add_argument("--min-capacity", type=non_negative, default=16000, metavar="N",
                       help="capacity of a free client (default 16000)")  # fmt: skip
    group.add_argument("--max-peers", type=non_negative, default=100, metavar="N",
                       help="most active light clients (default 100)")  # fmt: skip
    group.add_argument("--price-time", type=float, default=0.0, metavar="X",
                       help="balance units per second of connection (default 0)")  # fmt: skip
    group.add_argument("--price-capacity", type=float, default=1e9, metavar="X",
                       help="per second per 1e6 capacity (default 1e9)")  # fmt: skip
    group.add_argument("--price-request", type=float, default=1e9, metavar="X",
                       help="per 1e9 request cost units (default 1e9)")  # fmt: skip


def pool_config(args: argparse.Namespace) -> Any:
    from lightclient.errors import InvalidInput
    from lightclient.server.service import PoolConfig

    if args.min_capacity <= 0 or args.capacity < args.min_capacity:
        raise InvalidInput("--min-capacity must be positive and at most --capacity")
    for name in ("price_time", "price_capacity", "price_request"):
        if getattr(args, name) < 0:
            raise InvalidInput(f"--{name.replace('_', '-')} must not be negative")
    return PoolConfig(min_cap=args.min_capacity, max_count=args.max_peers,
                      max_capacity=args.capacity)  # fmt: skip


def default_params(args: argparse.Namespace) -> dict[str, float]:
    return {
        "pricing/timeFactor": args.price_time,
        "pricing/capacityFactor": args.price_capacity,
        "pricing/requestCostFactor": args.price_request,
        "pricing/negative/timeFactor": args.price_time,
        "pricing/negative/capacityFactor": args.price_capacity,
        "pricing/negative/requestCostFactor": args.price_request,
    }


class _Stopped(Exception):
    """SIGINT or SIGTERM came before the event loop took the signals over."""


def run_stoppable(main: Any) -> int:
    """``asyncio.run(main())`` for a long-running command: SIGINT or SIGTERM at any point --
    while starting up, indexing or serving -- stops it cleanly (every ``finally`` runs, the
    store is closed after the indexer's thread) and the exit status is 0. Once serving,
    :func:`serve_until_stopped` takes the signals over to stop its tasks in order."""

    def early(signum: int, frame: Any) -> None:
        raise _Stopped

    async def run() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        signalled: list[int] = []

        def on_signal(sig: int) -> None:
            signalled.append(sig)
            task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            result: int = await main()
            return result
        except asyncio.CancelledError:
            if not signalled:
                raise
            sys.stderr.write("stopped\n")
            return 0

    previous = {sig: signal.signal(sig, early) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return asyncio.run(run())
    except _Stopped:
        sys.stderr.write("stopped\n")
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def serve_until_stopped(
    methods: list[Any],
    modules: list[str],
    host: str,
    port: int,
    tasks: list[Any],
    *,
    max_runtime: float | None = None,
    banner: str = "",
    endpoint: Any = None,
) -> int:
    """Serve ``methods`` on HTTP/WebSocket (and IPC, if ``endpoint`` names a socket) and run
    ``tasks`` until SIGINT/SIGTERM (or ``max_runtime``)."""
    from lightclient.cli.endpoint import exposure_warning, raise_nofile
    from lightclient.rpc.http import serve
    from lightclient.rpc.ipc import start_ipc
    from lightclient.rpc.server import RpcServer

    policy = endpoint.policy if endpoint is not None else None
    limits = endpoint.limits if endpoint is not None else None
    raise_nofile()
    admin = any(getattr(m, "admin", False) for m in methods)
    runner, bound = await serve(RpcServer(methods, modules, limits), host, port, policy)
    ipc = None
    if endpoint is not None and endpoint.ipc_path is not None:
        try:
            ipc = await start_ipc(RpcServer(methods, None, limits), endpoint.ipc_path)
        except BaseException:
            await runner.cleanup()
            raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running: list[asyncio.Future[Any]] = []
    try:
        url = f"http://{host}:{bound}"
        lines = [
            exposure_warning(host, modules, admin) or "",
            f"serving JSON-RPC ({', '.join(modules)}) on {url} and ws://{host}:{bound}\n",
        ]
        if ipc is not None:
            lines.append(f"serving every method, admin included, on IPC {ipc.path}\n")
        if admin and endpoint is not None and endpoint.secret_path is not None:
            made = "created" if endpoint.secret_created else "read"
            lines.append(f"admin methods need a JWT made with the secret in "
                         f"{endpoint.secret_path} ({made})\n")  # fmt: skip
        lines.append(banner.replace("{url}", url))
        sys.stderr.write("".join(lines))
        sys.stderr.flush()
        running = [asyncio.ensure_future(t(stop)) for t in tasks]
        if max_runtime is not None:
            try:
                await asyncio.wait_for(stop.wait(), max_runtime)
            except TimeoutError:
                stop.set()
        else:
            await stop.wait()
    finally:
        stop.set()
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        if ipc is not None:
            await ipc.close()
        await runner.cleanup()
    sys.stderr.write("stopped\n")
    return 0


def _node_key(args: argparse.Namespace, datadir: Path) -> Any:
    from lightclient.core.nodeid import format_node_id, node_id_from_pubkey
    from lightclient.keys import load_node_key

    key, where = load_node_key(key_file=args.nodekey, key_hex=args.nodekeyhex, datadir=datadir)
    node_id = node_id_from_pubkey(key.public_key.to_bytes())
    sys.stderr.write(f"node key {where}; node ID {format_node_id(node_id)}\n")
    return key


async def _start_light(
    args: argparse.Namespace,
    source: Any,
    store: Any,
    size: int,
    node_key: Any,
    registered_at: Any = None,
) -> Any:
    """The LES server over RLPx, on the chain the node is on."""
    from lightclient.les.chainconfig import chain_config_for
    from lightclient.rlpx.keys import private_key_from_bytes
    from lightclient.server.fullnode import FullNodeChainData
    from lightclient.server.runtime import start_les_server
    from lightclient.sources.chaindata import JsonRpcChainData

    chain = chain_config_for(args.network, args.chain_config)
    network_id = args.networkid
    if network_id is None:
        network_id = int(str(await source.call("net_version")), 0)
    host, port = args.light_serve
    light = await start_les_server(
        source, store, section_size=size, config=pool_config(args), host=host, port=port,
        node_key=private_key_from_bytes(node_key.to_bytes()), network_id=network_id,
        fork_schedule=chain.schedule, default_params=default_params(args),
        chain_data=FullNodeChainData(JsonRpcChainData(source)),
        registered_checkpoint=registered_at,
    )  # fmt: skip
    sys.stderr.write(f"serving LES light clients on {light.enode}\n  network {network_id}, fork "
                     f"schedule: {chain.source}\n")  # fmt: skip
    return light


def _light_methods(light: Any, listen: tuple[str, int]) -> list[Any]:
    """The pool's admin methods and admin_nodeInfo, for the admin endpoint."""
    from lightclient.rlpx.keys import public_key_of
    from lightclient.rpc.admin import NodeInfo, admin_methods
    from lightclient.rpc.les_admin import les_admin_methods

    async def les_info() -> dict[str, Any]:
        from lightclient.sources.base import checked_headers

        source = light.server.source
        number = await source.head()
        head = checked_headers(await source.headers(number, 1), number, None)[0]
        return {"network": light.network_id, "genesis": "0x" + light.genesis_hash.hex(),
                "head": "0x" + head.hash.hex(), "headNumber": number}  # fmt: skip

    pubkey = public_key_of(light.server.node_key)
    info = NodeInfo(pubkey, listen[0], light.server.port, les_info)
    return les_admin_methods(light.service) + admin_methods(info)


async def _serve(args: argparse.Namespace) -> int:
    from lightclient.oracle.connect import connect_web3
    from lightclient.oracle.contract import OracleContract
    from lightclient.rpc.les import les_checkpoint_methods
    from lightclient.sources.jsonrpc import JsonRpcHeaderSource
    from lightclient.store.sqlite import Store
    from lightclient.sync.syncer import Syncer
    from lightclient.sync.verify import verify_checkpoint

    address = oracle_address(args)
    datadir = Path(args.datadir) if args.datadir else default_datadir()
    store = Store.open(datadir)
    try:
        endpoint = endpoint_from_args(args, datadir)
        node_key = _node_key(args, datadir)
    except BaseException:
        store.close()
        raise
    source = JsonRpcHeaderSource(args.rpc)
    try:
        async with connect_web3(args.rpc) as w3:
            oracle = OracleContract(w3, address) if address else None
            size, confirms = args.section_size, args.confirmations
            if oracle is not None:
                own_size, own_confirms, _ = await oracle.parameters()
                size = size or own_size
                confirms = own_confirms if confirms is None else confirms
            size = size or 32768
            confirms = 256 if confirms is None else confirms
            syncer = Syncer(source, store, section_size=size, confirmations=confirms)

            async def follow(stop: asyncio.Event) -> None:
                await syncer.follow(stop, interval=args.poll)

            # Oracle checkpoints verified against the chain, by section: the LES Status
            # advertises the store's latest checkpoint only with its registration height.
            verified_heights: dict[int, int] = {}

            async def watch_oracle(stop: asyncio.Event) -> None:
                if oracle is None:
                    return
                from lightclient.cli.verify import oracle_config_for

                config = await oracle_config_for(args, oracle)
                seen: int | None = None
                while not stop.is_set():
                    try:
                        verdict = await verify_checkpoint(syncer, oracle, config)
                        index, height = verdict.section_index, verdict.height
                        if verdict.verified and index is not None and height is not None:
                            verified_heights[index] = height
                        if verdict.section_index != seen:
                            seen = verdict.section_index
                            log.warning("oracle checkpoint %s: %s", seen, verdict.reason)
                    except Exception as exc:  # keep serving whatever one check does
                        log.warning("oracle check failed: %s", exc)
                    await sleep_unless_stopped(stop, args.poll * 4)

            methods = les_checkpoint_methods(store, oracle.address if oracle else None)
            light = None
            if args.light_serve:

                def latest_verified() -> tuple[Any, int] | None:
                    for index in sorted(verified_heights, reverse=True):
                        checkpoint = store.checkpoint(index)
                        if checkpoint is not None:
                            return checkpoint, verified_heights[index]
                    return None

                light = await _start_light(args, source, store, size, node_key,
                                           latest_verified)  # fmt: skip
                methods += _light_methods(light, args.light_serve)
            host, port = args.http
            try:
                return await serve_until_stopped(
                    methods, args.http_api, host, port, [follow, watch_oracle],
                    max_runtime=args.max_runtime, endpoint=endpoint,
                )  # fmt: skip
            finally:
                if light is not None:
                    await light.stop()
    finally:
        try:
            await source.close()
        finally:
            store.close()  # every task has returned, and with it the section build's thread
