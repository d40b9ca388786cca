"""``lightclient verify``: is the oracle's checkpoint the chain's own, signed by enough admins?"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from typing import Any

from lightclient.cli.common import NETWORK_NAMES, non_negative, print_json, section_size
from lightclient.errors import InvalidInput

__all__ = ["add_commands", "oracle_config_for"]


def add_oracle_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    group = parser.add_argument_group("oracle")
    group.add_argument("--oracle", metavar="ADDR", help="checkpoint oracle address")
    group.add_argument("--signers", metavar="A,B,...",
                       help="trusted signers (default: the oracle's own admins)")  # fmt: skip
    group.add_argument("--threshold", type=non_negative, metavar="T",
                       help="signatures needed (default: the oracle's own)")  # fmt: skip
    group.add_argument("--network", choices=NETWORK_NAMES,
                       help="the oracle config go-ethereum hard-coded for a network")  # fmt: skip
    parser.set_defaults(oracle_required=required)


def add_sync_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--section-size", type=section_size, metavar="N",
                        help="blocks per section (default: the oracle's, else 32768)")  # fmt: skip
    parser.add_argument("--confirmations", type=non_negative, metavar="K",
                        help="blocks after a section before it is indexed (default: the "
                        "oracle's processConfirms, else 256)")  # fmt: skip
    parser.add_argument("--datadir", metavar="DIR",
                        help="keep indexed sections here and resume from them")  # fmt: skip


def add_commands(commands: Any) -> None:
    verify = commands.add_parser(
        "verify", help="verify the oracle's registered checkpoint against the chain",
        description="Rebuild the registered section's checkpoint from the chain's headers, "
        "check the admins' votes, and say whether the registered hash is right. Exits 0 only "
        "when it is verified.",
    )  # fmt: skip
    verify.add_argument("--rpc", required=True, metavar="URL")
    verify.add_argument("--index", type=non_negative, metavar="I",
                        help="a section index (default: the latest registered)")  # fmt: skip
    verify.add_argument("--json", action="store_true")
    add_oracle_options(verify, required=True)
    add_sync_options(verify)
    verify.set_defaults(handler=lambda args: asyncio.run(_verify(args)))


async def oracle_config_for(args: argparse.Namespace, oracle: Any) -> Any:
    """The OracleConfig: hard-coded (--network), given (--signers/--threshold), or the
    oracle's own admins and threshold (read from the contract)."""
    from lightclient.core.checkpoint import OracleConfig

    if args.signers:
        signers = tuple(s.strip() for s in args.signers.split(",") if s.strip())
        if args.threshold is None:
            raise InvalidInput("--signers needs --threshold")
        return OracleConfig(oracle.address, signers, args.threshold)
    if args.network:
        from lightclient.core.networks import network

        configured = network(args.network).oracle
        if configured is not None:
            return configured
    admins = await oracle.admins()
    _size, _confirms, threshold = await oracle.parameters()
    if args.threshold is not None:
        threshold = args.threshold
    return OracleConfig(oracle.address, tuple(admins), threshold)


def oracle_address(args: argparse.Namespace) -> str | None:
    if args.oracle:
        return str(args.oracle)
    if args.network:
        from lightclient.core.networks import network

        configured = network(args.network).oracle
        if configured is None:
            raise InvalidInput(f"{args.network} has no checkpoint oracle")
        return configured.address
    return None


async def _verify(args: argparse.Namespace) -> int:
    from lightclient.oracle.connect import connect_web3
    from lightclient.oracle.contract import OracleContract
    from lightclient.sources.jsonrpc import JsonRpcHeaderSource
    from lightclient.store.sqlite import Store
    from lightclient.sync.syncer import Syncer
    from lightclient.sync.verify import verify_checkpoint

    address = oracle_address(args)
    if address is None:
        raise InvalidInput("give the oracle: --oracle ADDR or --network NAME")
    with tempfile.TemporaryDirectory(prefix="lightclient-") as scratch:
        store = Store.open(args.datadir or scratch)
        source = JsonRpcHeaderSource(args.rpc)
        try:
            async with connect_web3(args.rpc) as w3:
                oracle = OracleContract(w3, address)
                config = await oracle_config_for(args, oracle)
                size, confirms, _ = await oracle.parameters()
                syncer = Syncer(
                    source,
                    store,
                    section_size=args.section_size or size or 32768,
                    confirmations=args.confirmations
                    if args.confirmations is not None
                    else confirms,
                )
                verdict = await verify_checkpoint(syncer, oracle, config, args.index)
        finally:
            await source.close()
            store.close()
    if args.json:
        print_json(verdict.to_json())
    else:
        state = "VERIFIED" if verdict.verified else "NOT VERIFIED"
        print(f"section {verdict.section_index}: {state}: {verdict.reason}")
        if verdict.registered_hash is not None:
            print(f"  registered 0x{verdict.registered_hash.hex()} at block {verdict.height}")
        if verdict.local_hash is not None:
            print(f"  local      0x{verdict.local_hash.hex()}")
        print(f"  signers    {', '.join(verdict.signers) or '(none)'}")
        print(f"  oracle     {verdict.oracle_read}")
        for failure in verdict.signature_failures:
            sys.stdout.write(f"  rejected   {failure}\n")
    return 0 if verdict.verified else 1
