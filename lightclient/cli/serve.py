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
from lightclient.cli.common import host_port, non_negative
from lightclient.cli.verify import add_oracle_options, add_sync_options, oracle_address

__all__ = ["add_commands", "default_datadir", "serve_until_stopped"]

log = logging.getLogger(__name__)
KNOWN_MODULES = ("les", "rpc")


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
    serve.set_defaults(handler=lambda args: asyncio.run(_serve(args)))


async def serve_until_stopped(
    methods: list[Any],
    modules: list[str],
    host: str,
    port: int,
    tasks: list[Any],
    *,
    max_runtime: float | None = None,
    banner: str = "",
) -> int:
    """Serve ``methods`` and run ``tasks`` until SIGINT/SIGTERM (or ``max_runtime``)."""
    from lightclient.rpc.server import RpcServer, serve

    runner, bound = await serve(RpcServer(methods, modules), host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    url = f"http://{host}:{bound}"
    sys.stderr.write(f"serving JSON-RPC ({', '.join(modules)}) on {url} and ws://{host}:{bound}\n")
    if banner:
        sys.stderr.write(banner.format(url=url))
    sys.stderr.flush()
    running = [asyncio.ensure_future(t(stop)) for t in tasks]
    try:
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
        await runner.cleanup()
    sys.stderr.write("stopped\n")
    return 0


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
    source = JsonRpcHeaderSource(args.rpc)
    store = Store.open(datadir)
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

            async def watch_oracle(stop: asyncio.Event) -> None:
                if oracle is None:
                    return
                from lightclient.cli.verify import oracle_config_for

                config = await oracle_config_for(args, oracle)
                seen: int | None = None
                while not stop.is_set():
                    try:
                        verdict = await verify_checkpoint(syncer, oracle, config)
                        if verdict.section_index != seen:
                            seen = verdict.section_index
                            log.warning("oracle checkpoint %s: %s", seen, verdict.reason)
                    except Exception as exc:  # keep serving whatever one check does
                        log.warning("oracle check failed: %s", exc)
                    await sleep_unless_stopped(stop, args.poll * 4)

            methods = les_checkpoint_methods(store, oracle.address if oracle else None)
            host, port = args.http
            return await serve_until_stopped(
                methods, args.http_api, host, port, [follow, watch_oracle],
                max_runtime=args.max_runtime,
            )  # fmt: skip
    finally:
        await source.close()
        store.close()
