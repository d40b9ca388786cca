"""``lightclient index`` and ``lightclient checkpoint``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, TextIO

from lightclient.cli.common import NETWORK_NAMES, non_negative, print_checkpoint, section_size
from lightclient.core.sections import DEFAULT_CONFIRMATIONS, DEFAULT_SECTION_SIZE
from lightclient.errors import LightClientError
from lightclient.sync.indexer import Progress, index_sections

__all__ = ["add_commands"]

EMBEDDED_SECTION_SIZE = 128
EMBEDDED_CONFIRMATIONS = 1
EMBEDDED_SECTIONS = 4


def add_commands(commands: Any) -> None:
    index = commands.add_parser(
        "index",
        help="compute the checkpoints of a chain's complete sections",
        description=(
            "Compute the CHT and BloomTrie roots and the checkpoint of every complete section "
            "of a chain. With neither --rpc nor --file, mine a small chain on an embedded "
            f"py-evm node ({EMBEDDED_SECTIONS} sections of {EMBEDDED_SECTION_SIZE} blocks) "
            "and index that."
        ),
    )
    source = index.add_mutually_exclusive_group()
    source.add_argument("--rpc", metavar="URL", help="Ethereum JSON-RPC endpoint (http/ws)")
    source.add_argument(
        "--file", metavar="PATH", help="RLP headers, or blocks as `geth export` writes them"
    )
    index.add_argument(
        "--section-size",
        type=section_size,
        metavar="N",
        help=f"blocks per section, a multiple of 8 (default {DEFAULT_SECTION_SIZE}; "
        f"{EMBEDDED_SECTION_SIZE} on the embedded chain)",
    )
    index.add_argument(
        "--confirmations",
        type=non_negative,
        metavar="K",
        help=f"blocks after a section before it counts (default {DEFAULT_CONFIRMATIONS}; "
        f"{EMBEDDED_CONFIRMATIONS} on the embedded chain)",
    )
    index.add_argument(
        "--from-section",
        type=non_negative,
        default=0,
        metavar="A",
        help="first section to print (earlier ones are still computed)",
    )
    index.add_argument(
        "--to-section", type=non_negative, metavar="B", help="last section to compute and print"
    )
    index.add_argument("--json", action="store_true", help="one JSON object per line")
    index.add_argument(
        "--mine-sections",
        type=non_negative,
        default=EMBEDDED_SECTIONS,
        metavar="M",
        help=f"embedded chain only: how many sections to mine (default {EMBEDDED_SECTIONS})",
    )
    index.set_defaults(handler=_cmd_index)

    checkpoint = commands.add_parser(
        "checkpoint",
        help="print a network's hard-coded checkpoint",
        description="Print the checkpoint go-ethereum v1.11.6 hard-coded for a network.",
    )
    checkpoint.add_argument("--network", required=True, choices=NETWORK_NAMES)
    checkpoint.add_argument("--json", action="store_true", help="print JSON")
    checkpoint.set_defaults(handler=_cmd_checkpoint)


class _ProgressBar:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.shown = False

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        total = progress.last_section - progress.first_section + 1
        done = progress.section - progress.first_section + 1
        width = 30
        filled = width * done // max(total, 1)
        self.stream.write(
            f"\rindexing [{'#' * filled}{'.' * (width - filled)}] section {progress.section} "
            f"({done}/{total}), block {progress.block}"
        )
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False


async def _run_index(args: argparse.Namespace) -> int:
    from lightclient.sources.base import HeaderSource

    section_size: int | None = args.section_size
    confirmations: int | None = args.confirmations
    source: HeaderSource
    if args.rpc:
        from lightclient.sources.jsonrpc import JsonRpcHeaderSource

        source = JsonRpcHeaderSource(args.rpc)
    elif args.file:
        from lightclient.sources.rlpfile import RlpFileHeaderSource

        source = RlpFileHeaderSource(args.file)
    else:
        from lightclient.sources.embedded import EmbeddedChain, EmbeddedHeaderSource

        section_size = section_size or EMBEDDED_SECTION_SIZE
        confirmations = EMBEDDED_CONFIRMATIONS if confirmations is None else confirmations
        chain = EmbeddedChain()
        sys.stderr.write(
            f"mining {args.mine_sections} sections of {section_size} blocks on the embedded "
            "py-evm chain...\n"
        )
        chain.mine_until(args.mine_sections * section_size - 1 + confirmations, log_every=3)
        source = EmbeddedHeaderSource(chain)
    section_size = section_size or DEFAULT_SECTION_SIZE
    confirmations = DEFAULT_CONFIRMATIONS if confirmations is None else confirmations

    bar = _ProgressBar(sys.stderr)
    count = 0
    try:
        async for cp in index_sections(
            source,
            section_size=section_size,
            confirmations=confirmations,
            db={},
            from_section=args.from_section,
            to_section=args.to_section,
            on_progress=bar,
        ):
            bar.clear()
            print_checkpoint(cp, args.json)
            count += 1
    finally:
        bar.clear()
        await source.close()
    if count == 0:
        head = await _safe_head(source)
        sys.stderr.write(
            f"no complete section to print (head block {head}, section size {section_size}, "
            f"confirmations {confirmations})\n"
        )
    return 0


async def _safe_head(source: object) -> str:
    try:
        return str(await source.head())  # type: ignore[attr-defined]
    except LightClientError:
        return "unknown"


def _cmd_index(args: argparse.Namespace) -> int:
    return asyncio.run(_run_index(args))


def _cmd_checkpoint(args: argparse.Namespace) -> int:
    from lightclient.core.networks import network

    print_checkpoint(network(args.network).checkpoint, args.json)
    return 0
