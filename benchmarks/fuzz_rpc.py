"""The long fuzz run of the JSON-RPC endpoint (not part of CI): the generators of
tests/test_rpc_fuzz.py for --requests requests (default 100,000) against the real guarded
aiohttp server on 127.0.0.1, with the checkpoint methods over SQLite and the pool's admin
methods over a PoolService (manual clock, real SQLite).

Every answer must be strict JSON-RPC with a documented code (never -32603 or a 500), and the
pool's invariants must hold after every request. Prints the figures: requests, time, rate,
answers by code, failures (with the first few requests that caused them), peak memory.

Usage: python benchmarks/fuzz_rpc.py [--requests N] [--seed S]
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from rpcenv import auth, rpc_env, strict_json
from test_rpc_fuzz import Client

from lightclient.testing.rpcfuzz import (
    METHODS,
    check_answer,
    check_pool,
    headers_strategy,
    request_strategy,
)

CHUNK = 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    codes: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    count = [0]
    with tempfile.TemporaryDirectory() as tmp, rpc_env(Path(tmp)) as env:
        for index in (1, 2, 3):
            env.connect(index)
        client = Client(env.port)

        def record(kind: str, status: int, raw: bytes) -> Any:
            count[0] += 1
            if status != 200:
                codes[f"http {status}"] += 1
                return None
            answer = strict_json(raw) if raw else None
            items = answer if isinstance(answer, list) else [answer]
            for item in items:
                if isinstance(item, dict) and "error" in item:
                    codes[str(item["error"].get("code"))] += 1
                else:
                    codes["result" if item is not None else "no answer"] += 1
            return answer

        def fail(what: str, exc: BaseException) -> None:
            if len(failures) < 20:
                failures.append(f"{what}: {exc!s:.300}")
            elif len(failures) == 20:
                failures.append("...")

        @settings(max_examples=CHUNK, database=None, deadline=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(pick=st.integers(0, 9), data=st.data())
        def one(pick: int, data: st.DataObject) -> None:
            try:
                if pick < 8:
                    method = data.draw(st.sampled_from([*METHODS, None]))
                    request = data.draw(request_strategy(method))
                    token = data.draw(st.sampled_from([True, True, True, False]))
                    headers = {"Content-Type": "application/json", **(auth() if token else {})}
                    status, raw = client.send(json.dumps(request).encode(), headers)
                    assert status == 200, (status, raw[:200])
                    check_answer(request, record("request", status, raw), authenticated=token)
                    env.on_loop(lambda: check_pool(env.service))
                elif pick == 8:
                    body = data.draw(st.binary(max_size=300))
                    status, raw = client.send(body, {"Content-Type": "application/json"})
                    assert status == 200
                    record("body", status, raw)
                else:
                    headers = data.draw(headers_strategy())
                    body = b'{"jsonrpc":"2.0","id":1,"method":"les_serverInfo","params":[]}'
                    status, raw = client.send(body, headers)
                    assert status in (200, 401, 403, 415), status
                    record("headers", status, raw)
            except Exception as exc:  # recorded: the run goes on and reports them all
                fail(f"request {count[0]}", exc)

        started = time.monotonic()
        rss = []
        for chunk in range(-(-args.requests // CHUNK)):
            # Chunks with seeds of their own: hypothesis remembers every example of a run,
            # so one run of 100,000 would measure hypothesis's memory, not the server's.
            seed(args.seed * 1_000_003 + chunk)(one)()
            rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        elapsed = time.monotonic() - started
        client.close()
        try:
            env.on_loop(lambda: check_pool(env.service))
        except AssertionError as exc:
            fail("final pool check", exc)
    peak_mib = rss[-1]
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}")  # fmt: skip
    print(f"requests: {count[0]} in {elapsed:.1f} s ({count[0] / elapsed:,.0f} per second, "
          "client and server in one process, one keep-alive connection)")  # fmt: skip
    print("answers: " + ", ".join(f"{code} x{n}" for code, n in codes.most_common()))
    print(f"peak memory of the process: {rss[0]:.0f} MiB after {CHUNK} requests, "
          f"{peak_mib:.0f} MiB at the end")  # fmt: skip
    print(f"failures: {len(failures)}")
    for line in failures:
        print("  " + line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
