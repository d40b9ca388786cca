"""``lightclient client``: a light client that starts from a trusted checkpoint."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from lightclient.cli.common import NETWORK_NAMES, add_node_key_options, host_port, section_size
from lightclient.cli.endpoint import add_rpc_options, endpoint_from_args
from lightclient.cli.serve import run_stoppable
from lightclient.core import jsontext
from lightclient.errors import InvalidInput

__all__ = ["add_commands", "verify_advertised_checkpoint"]


def add_commands(commands: Any) -> None:
    client = commands.add_parser(
        "client", help="run a light client from a trusted checkpoint",
        description="Connect to light servers, start from a trusted checkpoint (hard-coded, a "
        "file, or one the oracle's admins signed), verify every header and bloom vector with "
        "CHT/BloomTrie proofs and hash links, and serve les_* plus verified "
        "eth_getBlockByNumber on --http.",
    )  # fmt: skip
    client.add_argument("--server", action="append", required=True, metavar="ws://HOST:PORT",
                        help="a light server (repeat for more)")  # fmt: skip
    client.add_argument("--checkpoint", choices=("network", "oracle", "file"), default="network",
                        help="where the trusted checkpoint comes from")  # fmt: skip
    client.add_argument("--network", choices=NETWORK_NAMES, default="mainnet")
    client.add_argument("--checkpoint-file", metavar="FILE",
                        help="with --checkpoint file: a checkpoint in its JSON form")  # fmt: skip
    client.add_argument("--rpc", metavar="URL",
                        help="with --checkpoint oracle: a node to read it from")  # fmt: skip
    client.add_argument("--oracle", metavar="ADDR")
    client.add_argument("--signers", metavar="A,B,...")
    client.add_argument("--threshold", type=int, metavar="T")
    client.add_argument("--section-size", type=section_size, default=32768, metavar="N")
    client.add_argument(
        "--datadir",
        metavar="DIR",
        help="where the node key is kept (default: none; a new key each run)",
    )
    add_node_key_options(client)
    client.add_argument("--http", type=host_port, default=("127.0.0.1", 8546), metavar="HOST:PORT")
    client.add_argument("--poll", type=float, default=4.0, metavar="SECONDS")
    client.add_argument("--max-runtime", type=float, help=argparse.SUPPRESS)
    add_rpc_options(client, admin=False)
    client.set_defaults(handler=lambda args: run_stoppable(lambda: _client(args)))


def _node_key(args: argparse.Namespace) -> Any:
    from lightclient.keys import load_node_key

    key, where = load_node_key(key_file=args.nodekey, key_hex=args.nodekeyhex,
                               datadir=Path(args.datadir) if args.datadir else None)  # fmt: skip
    sys.stderr.write(f"node key {where}\n")
    return key


async def verify_advertised_checkpoint(
    checkpoint: Any, rpc: str, oracle_address: str, signers: str | None, threshold: int | None
) -> Any:
    """Check that the oracle registered ``checkpoint`` with enough configured signatures."""
    from lightclient.core.checkpoint import OracleConfig
    from lightclient.core.signing import verify_signers
    from lightclient.oracle.connect import connect_web3
    from lightclient.oracle.contract import OracleContract, OracleError

    async with connect_web3(rpc) as w3:
        oracle = OracleContract(w3, oracle_address)
        if signers:
            if threshold is None:
                raise InvalidInput("--signers needs --threshold")
            config = OracleConfig(oracle.address, tuple(signers.split(",")), threshold)
        else:
            _size, _confirms, own = await oracle.parameters()
            config = OracleConfig(oracle.address, tuple(await oracle.admins()), own)
        votes = await oracle.votes_for_index(checkpoint.section_index, await w3.eth.block_number)
        votes = [v for v in votes if v.checkpoint_hash == checkpoint.hash()]
        result = verify_signers(config, checkpoint.section_index, checkpoint.hash(),
                                [v.signature for v in votes])  # fmt: skip
        if not result.ok:
            raise OracleError(
                f"checkpoint {checkpoint.section_index} advertised by the server is not signed "
                f"by {config.threshold} configured signers ({len(result.signers)} found)"
            )
        return config


async def _client(args: argparse.Namespace) -> int:
    from lightclient.client.client import LightClient
    from lightclient.client.connection import ServerConnection
    from lightclient.core.checkpoint import TrustedCheckpoint
    from lightclient.rpc.les_client import light_client_methods

    endpoint = endpoint_from_args(args, None)
    key = _node_key(args)
    oracle_address = None
    size = args.section_size
    if args.checkpoint == "network":
        from lightclient.core.networks import network

        net = network(args.network)
        checkpoint = net.checkpoint
        oracle_address = net.oracle.address if net.oracle else None
    elif args.checkpoint == "file":
        if not args.checkpoint_file:
            raise InvalidInput("--checkpoint file needs --checkpoint-file FILE")
        try:
            checkpoint = TrustedCheckpoint.from_json(
                jsontext.loads(Path(args.checkpoint_file).read_text())
            )
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read {args.checkpoint_file}: {exc}") from None
    else:
        if not (args.rpc and args.oracle):
            raise InvalidInput("--checkpoint oracle needs --rpc URL and --oracle ADDR")
        probe = ServerConnection(args.server[0], key)
        await probe.connect()
        advertised = probe.challenge.get("checkpoint")
        size = int(probe.challenge.get("sectionSize", size))
        await probe.close()
        if not advertised:
            raise InvalidInput(f"{args.server[0]} advertises no checkpoint")
        checkpoint = TrustedCheckpoint.from_json(advertised)
        await verify_advertised_checkpoint(checkpoint, args.rpc, args.oracle, args.signers,
                                           args.threshold)  # fmt: skip
        oracle_address = args.oracle
    client = LightClient(checkpoint, size, list(args.server), key, oracle_address)
    await client.start()
    sys.stderr.write(f"light client {client.servers[0].connection.node_id.hex()} trusts checkpoint "
                     f"{checkpoint.section_index} (0x{checkpoint.hash().hex()})\n")  # fmt: skip
    head = await client.sync()
    sys.stderr.write(f"synced to block {head.number} (0x{head.hash.hex()})\n")

    async def follow(stop: asyncio.Event) -> None:
        from lightclient.aio import sleep_unless_stopped

        while not await sleep_unless_stopped(stop, args.poll):
            try:
                await client.sync()
            except Exception as exc:  # keep serving what was verified
                sys.stderr.write(f"sync failed: {exc}\n")

    from lightclient.cli.serve import serve_until_stopped

    host, port = args.http
    try:
        methods = light_client_methods(client)
        return await serve_until_stopped(
            methods,
            ["les", "eth", "rpc"],
            host,
            port,
            [follow],
            max_runtime=args.max_runtime,
            endpoint=endpoint,
        )
    finally:
        await client.close()
