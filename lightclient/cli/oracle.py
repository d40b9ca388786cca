"""``lightclient oracle deploy|sign|publish|status``: geth's checkpoint-admin, without Clef."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from lightclient.cli.common import (
    add_key_options,
    hash_arg,
    load_key,
    non_negative,
    print_json,
    section_size,
)
from lightclient.errors import InvalidInput

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    oracle = commands.add_parser(
        "oracle", help="deploy, sign for, publish to and inspect a checkpoint oracle",
        description="Administer a checkpoint oracle (go-ethereum's checkpoint-admin).",
    )  # fmt: skip
    sub = oracle.add_subparsers(dest="oracle_command", metavar="ACTION", required=True)

    deploy = sub.add_parser("deploy", help="deploy a new oracle")
    deploy.add_argument(
        "--rpc", required=True, metavar="URL", help="node to send the transaction to"
    )
    deploy.add_argument("--signers", required=True, metavar="A,B,...", help="admin addresses")
    deploy.add_argument("--threshold", required=True, type=non_negative, metavar="T",
                        help="signatures needed to register a checkpoint")  # fmt: skip
    deploy.add_argument("--section-size", type=section_size, default=32768, metavar="N")
    deploy.add_argument("--confirmations", type=non_negative, default=256, metavar="K",
                        help="blocks after a section before it may be registered")  # fmt: skip
    deploy.add_argument("--json", action="store_true")
    add_key_options(deploy)
    deploy.set_defaults(handler=_run(_deploy))

    sign = sub.add_parser(
        "sign", help="sign a checkpoint (offline, or computed from a node with --rpc)"
    )
    sign.add_argument("--oracle", required=True, metavar="ADDR")
    sign.add_argument("--index", required=True, type=non_negative, metavar="I")
    sign.add_argument("--hash", type=hash_arg, metavar="H", help="checkpoint hash to sign")
    sign.add_argument("--rpc", metavar="URL",
                      help="without --hash: compute checkpoint I from this node's chain and "
                      "check it against the oracle's rules first")  # fmt: skip
    sign.add_argument("--section-size", type=section_size, metavar="N",
                      help="default: the oracle's own")  # fmt: skip
    sign.add_argument("--json", action="store_true")
    add_key_options(sign)
    sign.set_defaults(handler=_run(_sign))

    publish = sub.add_parser("publish", help="register a signed checkpoint")
    publish.add_argument("--rpc", required=True, metavar="URL")
    publish.add_argument("--oracle", required=True, metavar="ADDR")
    publish.add_argument("--index", required=True, type=non_negative, metavar="I")
    publish.add_argument("--hash", required=True, type=hash_arg, metavar="H")
    publish.add_argument("--signatures", required=True, metavar="S1,S2,...")
    publish.add_argument("--sentry-distance", type=non_negative, default=128, metavar="D",
                         help="use block head-D as the recent block (default 128)")  # fmt: skip
    publish.add_argument("--json", action="store_true")
    add_key_options(publish)
    publish.set_defaults(handler=_run(_publish))

    status = sub.add_parser("status", help="the oracle's admins and latest checkpoint")
    status.add_argument("--rpc", required=True, metavar="URL")
    status.add_argument("--oracle", required=True, metavar="ADDR")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_run(_status))


def _run(coroutine: Any) -> Any:
    def handler(args: argparse.Namespace) -> int:
        result: int = asyncio.run(coroutine(args))
        return result

    return handler


async def _deploy(args: argparse.Namespace) -> int:
    from lightclient.oracle.connect import connect_web3
    from lightclient.oracle.contract import deploy_oracle

    account = load_key(args)
    signers = [s for s in args.signers.split(",")]
    async with connect_web3(args.rpc) as w3:
        address, tx = await deploy_oracle(
            w3, account, signers, args.threshold,
            section_size=args.section_size, confirmations=args.confirmations,
        )  # fmt: skip
    if args.json:
        print_json({"address": address, "txHash": tx})
    else:
        print(f"Deployed checkpoint oracle {address} (transaction {tx})")
    return 0


async def _sign(args: argparse.Namespace) -> int:
    from lightclient.core.signing import sign_checkpoint

    account = load_key(args)
    checkpoint_hash: bytes | None = args.hash
    if checkpoint_hash is None:
        if not args.rpc:
            raise InvalidInput(
                "Please specify the checkpoint hash (--hash) to sign in offline mode"
            )
        checkpoint_hash = await _checked_checkpoint(args, account.address)
    signature = sign_checkpoint(account.key, args.oracle, args.index, checkpoint_hash)
    result = {"signer": account.address, "signature": "0x" + signature.hex()}
    if args.json:
        print_json(result)
    else:
        print(f"Oracle     => {args.oracle}\nIndex {args.index:>4} => 0x{checkpoint_hash.hex()}")
        print(f"Signer     => {result['signer']}\nSignature  => {result['signature']}")
    return 0


async def _checked_checkpoint(args: argparse.Namespace, signer: str) -> bytes:
    """Checkpoint ``args.index`` computed from the node's chain, after the oracle's rules."""
    from lightclient.oracle.connect import connect_web3
    from lightclient.oracle.contract import OracleContract
    from lightclient.sources.jsonrpc import JsonRpcHeaderSource
    from lightclient.sync.indexer import index_sections

    async with connect_web3(args.rpc) as w3:
        oracle = OracleContract(w3, args.oracle)
        size, confirms, _threshold = await oracle.parameters()
        size = args.section_size or size
        head = await w3.eth.block_number
        if head < (args.index + 1) * size + confirms:
            raise InvalidInput(
                f"Invalid future checkpoint: section {args.index} may be registered from block "
                f"{(args.index + 1) * size + confirms}, the head is {head}"
            )
        latest = await oracle.latest()
        if args.index < latest.section_index:
            raise InvalidInput("Checkpoint is too old")
        if args.index == latest.section_index and (latest.section_index or latest.height):
            raise InvalidInput(
                f"Stale checkpoint, latest registered {latest.section_index}, given {args.index}"
            )
        if signer.lower() not in {a.lower() for a in await oracle.admins()}:
            raise InvalidInput(f"signer {signer} is not the admin")
    source = JsonRpcHeaderSource(args.rpc)
    try:
        async for checkpoint in index_sections(
            source, section_size=size, confirmations=confirms, db={}, to_section=args.index
        ):
            if checkpoint.section_index == args.index:
                sys.stderr.write(
                    f"computed checkpoint {args.index}: {checkpoint.to_json_with_hash()}\n"
                )
                return checkpoint.hash()
    finally:
        await source.close()
    raise InvalidInput(f"section {args.index} could not be computed")


async def _publish(args: argparse.Namespace) -> int:
    from lightclient.core.signing import checkpoint_digest, parse_signature, sort_by_signer
    from lightclient.oracle.connect import connect_web3
    from lightclient.oracle.contract import OracleContract

    account = load_key(args)
    signatures = []
    for text in args.signatures.split(","):
        try:
            signatures.append(parse_signature(text))
        except InvalidInput:
            raise InvalidInput(f"Invalid signature in --signatures: '{text}'") from None
    async with connect_web3(args.rpc) as w3:
        oracle = OracleContract(w3, args.oracle)
        digest = checkpoint_digest(oracle.address, args.index, args.hash)
        ordered = sort_by_signer(digest, signatures)
        outcome = await oracle.publish(
            account, args.index, args.hash, [sig for _, sig in ordered],
            sentry_distance=args.sentry_distance,
        )  # fmt: skip
    result = {
        "registered": outcome.registered,
        "reason": outcome.reason,
        "txHash": outcome.tx_hash,
        "block": outcome.block,
        "signers": [signer for signer, _ in ordered],
        "sectionIndex": args.index,
        "hash": "0x" + args.hash.hex(),
    }
    if args.json:
        print_json(result)
    else:
        print(f"Publishing {args.index} => 0x{args.hash.hex()}: {outcome.reason} "
              f"(transaction {outcome.tx_hash}, block {outcome.block})")  # fmt: skip
    return 0 if outcome.registered else 1


async def _status(args: argparse.Namespace) -> int:
    from lightclient.oracle.connect import connect_web3
    from lightclient.oracle.contract import OracleContract, OracleError

    async with connect_web3(args.rpc) as w3:
        oracle = OracleContract(w3, args.oracle)
        if not await oracle.has_code():
            raise OracleError(f"there is no contract at {oracle.address}")
        admins = await oracle.admins()
        latest = await oracle.latest()
    result = {
        "address": oracle.address,
        "admins": admins,
        "sectionIndex": latest.section_index,
        "hash": "0x" + latest.hash.hex(),
        "height": latest.height,
    }
    if args.json:
        print_json(result)
    else:
        print(f"Oracle => {oracle.address}\n")
        for i, admin in enumerate(admins, 1):
            print(f"Admin {i} => {admin}")
        print(f"\nCheckpoint (published at #{latest.height}) {latest.section_index} => "
              f"0x{latest.hash.hex()}")  # fmt: skip
    return 0
