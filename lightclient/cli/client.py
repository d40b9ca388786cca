"""``lightclient client``: a light client that starts from a trusted checkpoint."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
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
    client.add_argument("--server", action="append", required=True, metavar="enode://ID@HOST:PORT",
                        help="an LES light server, as its enode URL (repeat for more)")  # fmt: skip
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
        help="where the node key and the verified light chain (lightchain.sqlite) are "
        "kept: a restart resumes from its head (default: none; a new key and a chain in "
        "memory each run)",
    )
    add_node_key_options(client)
    chain = client.add_argument_group("the chain (for the LES Status: default the --network's)")
    chain.add_argument("--genesis", metavar="HASH", help="genesis hash of another chain")
    chain.add_argument("--networkid", type=int, metavar="N", help="its network ID")
    chain.add_argument(
        "--chain-config",
        metavar="GENESIS.json",
        help="geth genesis file giving its forks (default: every fork at 0)",
    )
    client.add_argument("--confirmations", type=int, default=256, metavar="K",
                        help="blocks a server's head must be past a section to serve it, "
                        "when it advertises no checkpoint (default geth's 256)")  # fmt: skip
    client.add_argument("--consensus", choices=("auto", "ethash", "clique", "none"),
                        default="auto",
                        help="how headers past the checkpoint are checked: by the chain's "
                        "engine (auto: the network's or --chain-config's), or 'none': hash "
                        "links only, on the servers' word (default auto; a chain without a "
                        "checkable engine is refused unless 'none' is given)")  # fmt: skip
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


NETWORK_IDS = {"mainnet": 1, "goerli": 5, "rinkeby": 4, "sepolia": 11155111}


@dataclass(frozen=True)
class _Chain:
    genesis: bytes
    network_id: int
    schedule: Any  # ForkSchedule
    fork_filter: Any  # ForkFilter

    def fork_id_at(self, head: int) -> Any:
        from lightclient.les.forkid import fork_id

        return fork_id(self.genesis, self.schedule, head, 0)


def _chain(args: argparse.Namespace) -> _Chain:
    """The chain the client's Status claims: a built-in network, or --genesis/--networkid."""
    from lightclient.core.hexutil import decode_hex
    from lightclient.core.networks import network
    from lightclient.les.chainconfig import chain_config_for
    from lightclient.les.forkid import ForkFilter

    if args.genesis is not None:
        genesis = decode_hex(args.genesis, 32)
        if genesis is None:
            raise InvalidInput(f"--genesis is a 32-byte hash, got {args.genesis!r}")
        if args.networkid is None:
            raise InvalidInput("--genesis needs --networkid")
        config = chain_config_for(None, args.chain_config)
        network_id = args.networkid
    else:
        genesis = network(args.network).genesis_hash
        config = chain_config_for(args.network, args.chain_config)
        network_id = args.networkid if args.networkid is not None else NETWORK_IDS[args.network]
    return _Chain(genesis, network_id, config.schedule, ForkFilter(genesis, config.schedule))


def _consensus(args: argparse.Namespace) -> tuple[Any, Any]:
    """(engine, config) for --consensus; the warning when headers rest on the servers."""
    from lightclient.consensus import (
        ConsensusConfig,
        config_for_network,
        engine_for,
        load_consensus_config,
    )

    config: Any = None
    if args.chain_config:
        config = load_consensus_config(args.chain_config)
    elif args.genesis is None:
        config = config_for_network(args.network)
    engine = engine_for(args.consensus, config)
    if engine is None:
        _warn_consensus()
        return None, None
    if config is None:
        config = ConsensusConfig(args.consensus, source="default parameters")
    sys.stderr.write(f"headers past the checkpoint are checked by {args.consensus} "
                     f"({config.source})\n")  # fmt: skip
    return engine, config


def _warn_consensus() -> None:
    sys.stderr.write(
        "warning: --consensus none: headers past the checkpoint are checked by their hash "
        "links only, not by the chain's consensus engine; a server that forges a whole chain "
        "of headers after the checkpoint is not caught\n"
    )


async def _advertised_checkpoint(args: argparse.Namespace, key: Any, chain: _Chain) -> Any:
    """The checkpoint the first server's Status advertises (to be checked with the oracle)."""
    from lightclient.client.les_connection import LesConnection
    from lightclient.rlpx.keys import private_key_from_bytes

    probe = await LesConnection.dial(
        args.server[0], private_key_from_bytes(key.to_bytes()), genesis_hash=chain.genesis,
        network_id=chain.network_id, fork_filter=chain.fork_filter,
        our_fork_id=chain.fork_id_at(0), section_size=args.section_size,
    )  # fmt: skip
    try:
        if probe.checkpoint is None:
            raise InvalidInput(f"{args.server[0]} advertises no checkpoint")
        return probe.checkpoint
    finally:
        await probe.close()


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
    from lightclient.core.checkpoint import TrustedCheckpoint
    from lightclient.rpc.les_client import light_client_methods

    endpoint = endpoint_from_args(args, None)
    key = _node_key(args)
    chain = _chain(args)
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
                jsontext.load_file(args.checkpoint_file, what="checkpoint file", max_bytes=1 << 20)
            )
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read {args.checkpoint_file}: {exc}") from None
    else:
        if not (args.rpc and args.oracle):
            raise InvalidInput("--checkpoint oracle needs --rpc URL and --oracle ADDR")
        checkpoint = await _advertised_checkpoint(args, key, chain)
        await verify_advertised_checkpoint(checkpoint, args.rpc, args.oracle, args.signers,
                                           args.threshold)  # fmt: skip
        oracle_address = args.oracle
    engine, consensus = _consensus(args)
    client = LightClient(checkpoint, size, list(args.server), key, oracle_address,
                         genesis_hash=chain.genesis, network_id=chain.network_id,
                         fork_filter=chain.fork_filter,
                         fork_id=chain.fork_id_at(checkpoint.head_block(size)),
                         confirmations=args.confirmations, consensus_engine=engine,
                         consensus_config=consensus, datadir=args.datadir)  # fmt: skip
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
            ["les", "eth", "net", "web3", "rpc"],
            host,
            port,
            [follow],
            max_runtime=args.max_runtime,
            endpoint=endpoint,
        )
    finally:
        await client.close()
