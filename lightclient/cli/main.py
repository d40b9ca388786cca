"""The ``lightclient`` command line: the parser, and the one place errors become messages."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from lightclient import __version__
from lightclient.errors import LightClientError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from lightclient.cli import admin, client, dev, index, oracle, serve, verify

    parser = argparse.ArgumentParser(
        prog="lightclient",
        description="go-ethereum's checkpoint-oracle light client protocol: checkpoints, "
        "the oracle, a verifying syncer and the les_* JSON-RPC API.",
    )
    parser.add_argument("--version", action="version", version=f"lightclient {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    index.add_commands(commands)
    oracle.add_commands(commands)
    verify.add_commands(commands)
    serve.add_commands(commands)
    client.add_commands(commands)
    dev.add_commands(commands)
    admin.add_commands(commands)
    return parser


def _network_error(exc: BaseException) -> str | None:
    """A one-line description of a transport error from web3/aiohttp, if it is one."""
    import aiohttp
    from web3.exceptions import Web3Exception

    if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
        return f"cannot reach the node: {str(exc) or type(exc).__name__}"
    if isinstance(exc, Web3Exception):
        return f"the node refused the request: {exc}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code: int = args.handler(args)
    except LightClientError as exc:
        sys.stderr.write(f"lightclient: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("lightclient: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        message = _network_error(exc)
        if message is None:
            raise
        sys.stderr.write(f"lightclient: error: {message.splitlines()[0]}\n")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
