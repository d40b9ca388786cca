"""Consensus check benchmark: per-header cost of the ethash seal, a whole ethash header
(rules + seal) and a clique header (rules + signer recovery), in one run.

* ethash epoch context: the first seal check of an epoch builds its light cache (once per
  30000 blocks; the C library keeps the last epoch's);
* ethash seal: the PoW check of mainnet block 1 (epoch 0), with the cache built;
* ethash header: ``verify_chain`` over mainnet block 1 (difficulty, gas, seal);
* clique header: ``verify_chain`` over a signed chain of in-turn blocks.

Usage: python benchmarks/bench_consensus.py [--repeat R]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import ethash

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_consensus_clique import CONFIG, chain, genesis
from test_consensus_ethash import BLOCK1, GENESIS, MAINNET

from lightclient.consensus import (
    CliqueEngine,
    CliqueParams,
    EthashEngine,
    header_fields,
    verify_chain,
)
from lightclient.consensus.ethash import verify_seal


def per_call(fn: object, repeat: int) -> float:
    assert callable(fn)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    header = header_fields(BLOCK1)
    start = time.perf_counter()
    ethash.hash(0, bytes(32), 0)  # epoch 0's context
    print(f"ethash epoch 0 context (light cache): {time.perf_counter() - start:.2f} s, once")
    seal = per_call(lambda: verify_seal(header), args.repeat)
    print(f"ethash seal check, mainnet block 1:   {seal * 1e3:.2f} ms a header")
    engine = EthashEngine()
    whole = per_call(lambda: verify_chain(GENESIS, [BLOCK1], engine, MAINNET), args.repeat)
    print(f"ethash header (rules + seal):         {whole * 1e3:.2f} ms a header")
    g = genesis()
    blocks = chain(g, 64)
    params = CONFIG.clique or CliqueParams()
    batch = per_call(lambda: verify_chain(g, blocks, CliqueEngine(params), CONFIG), 10)
    print(f"clique header (rules + ecrecover):    {batch / len(blocks) * 1e3:.2f} ms a header")


if __name__ == "__main__":
    main()
