"""Section build benchmark: the fast builder against the naive reference, in one run.

Builds one 32768-block section from raw header RLP (synthetic London headers with real
difficulties and ~30% of blocks with logs) and prints seconds and ratios:

* fast: decode + verify every header (hash, number, parent link), CHT, bloom rotation,
  CompressBytes, BloomTrie; i.e. raw RLP to verified roots;
* naive baseline: the same roots from py-trie ``HexaryTrie`` with one insert per key and
  the rlp package (the way the issue measured ~5 s), rotation and compression excluded;
* whole process: ``lightclient index --file`` in a fresh interpreter, imports included;
* bloom rotation alone: numpy against bit-by-bit Python, on 1024 blocks.

Usage: python benchmarks/bench_sections.py [--size N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import rlp
from trie.hexary import HexaryTrie

import lightclient
from lightclient.core.bloombits import rotate_blooms
from lightclient.core.compress import compress_many
from lightclient.core.keccak import BACKEND
from lightclient.core.sections import SectionIndexer
from lightclient.sources.base import checked_headers
from lightclient.testing.reference import naive_rotate
from lightclient.testing.synthetic import SyntheticChain


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32768)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = args.size

    chain = SyntheticChain(size, seed=1)
    raw = chain.headers()
    print(
        f"lightclient {lightclient.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} cores, keccak backend {BACKEND}"
    )
    print(f"section of {size} synthetic London headers, best of {args.repeat}\n")

    checkpoints = []

    def fast() -> None:
        headers = checked_headers(raw, 0, None)
        checkpoints.append(SectionIndexer(size, {}).process(headers))

    headers = checked_headers(raw, 0, None)
    t_fast = _best(fast, args.repeat)
    t_verify = _best(lambda: checked_headers(raw, 0, None), args.repeat)

    vectors = rotate_blooms([h.bloom for h in headers])
    compressed = compress_many(vectors)

    def naive() -> None:
        cht, bloom = HexaryTrie({}), HexaryTrie({})
        td = 0
        for h in headers:
            td += h.difficulty
            cht[h.number.to_bytes(8, "big")] = rlp.encode([h.hash, td])
        for bit, value in enumerate(compressed):
            if value:
                bloom[bit.to_bytes(2, "big") + (0).to_bytes(8, "big")] = value
        checkpoints.append(
            checkpoints[0].__class__(0, headers[-1].hash, cht.root_hash, bloom.root_hash)
        )

    t_naive = _best(naive, 1)
    assert all(cp == checkpoints[0] for cp in checkpoints), "roots differ between builders"

    sample = [h.bloom for h in headers[:1024]]
    t_rot_fast = _best(lambda: rotate_blooms(sample), args.repeat)
    t_rot_naive = _best(lambda: naive_rotate(sample), 1)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "section.rlp"
        path.write_bytes(chain.rlp_file_bytes())
        cmd = [
            sys.executable,
            "-m",
            "lightclient.cli.main",
            "index",
            "--file",
            str(path),
            "--section-size",
            str(size),
            "--confirmations",
            "0",
            "--json",
        ]
        walls = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import lightclient.cli.main"], check=True)
        t_import = time.perf_counter() - start

    rows = [
        ("naive baseline: HexaryTrie inserts (CHT + BloomTrie)", t_naive, 1.0),
        ("fast: raw RLP -> verified headers -> both roots", t_fast, t_fast / t_naive),
        ("  of which header decode + verify", t_verify, t_verify / t_naive),
        (
            "whole process: `lightclient index --file` (fresh interpreter)",
            min(walls),
            min(walls) / t_naive,
        ),
        ("  of which interpreter start + imports", t_import, t_import / t_naive),
    ]
    width = max(len(r[0]) for r in rows)
    for name, seconds, ratio in rows:
        print(f"{name:<{width}}  {seconds:7.3f} s  {ratio:6.3f}x baseline")
    print(
        f"\nbloom rotation, 1024 blocks: numpy {t_rot_fast * 1000:.2f} ms, "
        f"bit by bit {t_rot_naive * 1000:.0f} ms ({t_rot_naive / t_rot_fast:.0f}x)"
    )
    print(f"speed-up of the section build over the naive baseline: {t_naive / t_fast:.1f}x")
    print(f"(spread of whole-process runs: {statistics.pstdev(walls):.3f} s)")


if __name__ == "__main__":
    main()
