"""Pieces shared by the command-line commands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.hexutil import decode_hex

__all__ = [
    "NETWORK_NAMES",
    "add_key_options",
    "add_node_key_options",
    "hash_arg",
    "host_port",
    "non_negative",
    "print_checkpoint",
    "print_json",
    "section_size",
]

# The networks of lightclient.core.networks, named here so that --help needs no import.
NETWORK_NAMES = ("goerli", "mainnet", "rinkeby", "sepolia")


def non_negative(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def section_size(text: str) -> int:
    value = non_negative(text)
    if value == 0 or value % 8:
        raise argparse.ArgumentTypeError(f"section size must be a positive multiple of 8: {text}")
    return value


def hash_arg(text: str) -> bytes:
    raw = decode_hex(text, 32)
    if raw is None:
        raise argparse.ArgumentTypeError(f"not a 32-byte hash (0x + 64 hex digits): {text!r}")
    return raw


def host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {port!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {port!r}")
    return host.strip("[]"), number


def add_key_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("signing key (never on the command line)")
    group.add_argument("--key-file", metavar="FILE", help="file holding a hex private key")
    group.add_argument("--keystore", metavar="FILE", help="geth keystore (JSON) file")
    group.add_argument("--password-file", metavar="FILE", help="password of the keystore")


def add_node_key_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("node identity (as geth's)")
    group.add_argument("--nodekey", "--node-key", dest="nodekey", metavar="FILE",
                       help="file holding the node's secp256k1 key (64 hex digits); default: "
                       "<datadir>/nodekey, generated on first start")  # fmt: skip
    group.add_argument(
        "--nodekeyhex", metavar="HEX", help="the node key itself (visible in ps: prefer --nodekey)"
    )


def load_key(args: argparse.Namespace) -> Any:
    from lightclient.keys import load_account

    return load_account(
        keystore=args.keystore, password_file=args.password_file, key_file=args.key_file
    )


def print_json(data: Any, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    stream.write(json.dumps(data) + "\n")
    stream.flush()


def print_checkpoint(cp: TrustedCheckpoint, as_json: bool, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    data = cp.to_json_with_hash()
    if as_json:
        print_json(data, stream)
        return
    stream.write(
        f"section {cp.section_index}\n"
        f"  sectionHead {data['sectionHead']}\n"
        f"  chtRoot     {data['chtRoot']}\n"
        f"  bloomRoot   {data['bloomRoot']}\n"
        f"  hash        {data['hash']}\n"
    )
    stream.flush()
