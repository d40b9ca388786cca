"""The `lightclient` command, run as a real process: output formats and one-line errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lightclient.core.rlpcodec import encode_bytes, encode_list, split_list
from lightclient.sources.base import checked_headers
from lightclient.testing.reference import NaiveIndexer
from lightclient.testing.synthetic import SyntheticChain


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lightclient.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lightclient: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_checkpoint_json_and_text() -> None:
    result = run("checkpoint", "--network", "mainnet", "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data == {
        "sectionIndex": 506,
        "sectionHead": "0x3d1a139a6fc7764211236ef7c64d9e8c1fe55b358d7414e25277bac1144486cd",
        "chtRoot": "0xef7fc3321a239a54238593bdf68d82933d903cb533b0d03228a8d958cd35ea77",
        "bloomRoot": "0x51d7bfe7c6397b1caa8b1cb046de4aeaf7e7fbd3fb6c726b60bf750de78809e8",
        "hash": "0xddc141a06a2155b6dc5111a88a8cb24df2ead4ffd405d2a2e84661b53f7574be",
    }
    text = run("checkpoint", "--network", "goerli")
    assert "0x0b0b0b0d435e1ef361dd0fd127460d875acea3d845ded4e5baa6d3cfafe0ee6a" in text.stdout
    bad = run("checkpoint", "--network", "ropsten")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_index_file_json_lines_match_reference(tmp_path: Path) -> None:
    size = 32
    chain = SyntheticChain(size * 5 + 3, seed=5)
    path = tmp_path / "chain.rlp"
    path.write_bytes(chain.rlp_file_bytes(as_blocks=True))
    result = run(
        "index", "--file", str(path), "--section-size", str(size), "--confirmations", "4",
        "--from-section", "1", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    # head 162, K = 4: sections 0..3 are complete (section 4 needs head 163); 1..3 printed.
    assert [line["sectionIndex"] for line in lines] == [1, 2, 3]
    headers = checked_headers(chain.headers(), 0, None)
    naive = NaiveIndexer(size)
    expected = [naive.process(headers[s * size : (s + 1) * size]) for s in range(4)]
    assert lines == [cp.to_json_with_hash() for cp in expected[1:]]
    assert set(lines[0]) == {"sectionIndex", "sectionHead", "chtRoot", "bloomRoot", "hash"}


def test_index_to_section_not_complete(tmp_path: Path) -> None:
    path = tmp_path / "chain.rlp"
    path.write_bytes(SyntheticChain(40).rlp_file_bytes())
    result = run("index", "--file", str(path), "--section-size", "16", "--confirmations", "0",
                 "--to-section", "5")  # fmt: skip
    assert_one_line_error(result, "section 5 is not complete", "block 95", "block 39")


def test_index_embedded_default() -> None:
    result = run("index", "--json", "--mine-sections", "2")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["sectionIndex"] for line in lines] == [0, 1]
    assert lines[0]["chtRoot"] != lines[1]["chtRoot"]


def test_bad_inputs_give_one_line_errors(tmp_path: Path) -> None:
    assert_one_line_error(run("index", "--file", str(tmp_path / "nope.rlp")), "cannot read")
    chain = SyntheticChain(20).rlp_file_bytes()
    truncated = tmp_path / "truncated.rlp"
    truncated.write_bytes(chain[:-7])
    assert_one_line_error(run("index", "--file", str(truncated)), "truncated", "item 19")

    # A header changed in the file: its child's parent hash no longer links to it.
    headers = SyntheticChain(40, seed=1).headers()
    fields = split_list(headers[17].rlp)
    fields[9] = b"\x01"
    tampered = encode_list([encode_bytes(f) for f in fields])
    forged = tmp_path / "forged.rlp"
    forged.write_bytes(b"".join(tampered if i == 17 else h.rlp for i, h in enumerate(headers)))
    result = run("index", "--file", str(forged), "--section-size", "8", "--confirmations", "0")
    assert_one_line_error(result, "block 18")

    size = run("index", "--file", str(forged), "--section-size", "12")
    assert size.returncode == 2 and "multiple of 8" in size.stderr

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = run("index", "--rpc", f"http://127.0.0.1:{port}")
    assert_one_line_error(down, f"cannot reach http://127.0.0.1:{port}")
    assert_one_line_error(run("index", "--rpc", "ftp://example"), "not an http")


@pytest.mark.parametrize("args", [["--rpc", "http://x", "--file", "y"], ["--confirmations", "-1"]])
def test_argument_errors(args: list[str]) -> None:
    result = run("index", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_progress_bar_only_on_a_terminal() -> None:
    import io

    from lightclient.cli.index import _ProgressBar
    from lightclient.sync.indexer import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    bar = _ProgressBar(term)
    bar(Progress(section=1, first_section=0, last_section=3, block=255))
    assert "section 1 (2/4), block 255" in term.getvalue()
    assert "[" + "#" * 15 + "." * 15 + "]" in term.getvalue()
    bar.clear()
    assert term.getvalue().endswith("\r\033[K")
    pipe = io.StringIO()
    quiet = _ProgressBar(pipe)
    quiet(Progress(section=1, first_section=0, last_section=3, block=255))
    assert pipe.getvalue() == ""


def test_mid_chain_file_is_explained(tmp_path: Path) -> None:
    from lightclient.core.keccak import keccak

    chain = SyntheticChain(40, first_number=1000, first_parent=keccak(b"x"))
    path = tmp_path / "mid.rlp"
    path.write_bytes(chain.rlp_file_bytes())
    result = run("index", "--file", str(path), "--section-size", "8", "--confirmations", "0")
    assert_one_line_error(result, "starts at block 1000", "cumulative", "block 0")


def test_dev_sets_everything_up() -> None:
    result = run("dev", "--once", "--json", "--sections", "2", "--section-size", "32",
                 "--confirmations", "4")  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    verdict = next(line for line in lines if "verified" in line)
    assert verdict["verified"] and verdict["sectionIndex"] == 1
    assert verdict["registeredHash"] == verdict["localHash"]
    # A light client's verified answers: its head block, a receipt, a balance.
    light = next(line["lightClient"] for line in lines if "lightClient" in line)
    head = light["eth_getBlockByNumber"]
    assert head["number"] == light["eth_blockNumber"] and len(head["hash"]) == 66
    assert int(light["eth_blockNumber"], 16) >= 2 * 32 + 4
    receipt = light["eth_getTransactionReceipt"]
    assert receipt["status"] == "0x1" and receipt["logs"]
    assert int(light["eth_getBalance"]["balance"], 16) > 0
    assert light["eth_getBalance"]["address"] == receipt["from"]
    # The last line: the light server's view, with the two dev light clients connected.
    info = lines[-1]
    server = info["serverInfo"]
    assert server["totalConnectedCapacity"] == 2 * server["minimumCapacity"]
    assert len(info["clientInfo"]) == 2
    assert all(
        c["isConnected"] and c["pricing/negBalance"] > 0 for c in info["clientInfo"].values()
    )
    assert "published in block" in result.stderr and "ready in" in result.stderr
    assert "answers the verified eth_* API" not in result.stderr  # --once serves nothing


def test_dev_serves_a_light_clients_verified_eth_api(tmp_path: Path) -> None:
    from conftest import free_port
    from test_light_cli import rpc, start, stop, wait_for

    http, client_http = free_port(), free_port()
    process = start("dev", "--sections", "2", "--section-size", "32", "--confirmations", "4",
                    "--http", f"127.0.0.1:{http}", "--client-http", f"127.0.0.1:{client_http}",
                    "--datadir", str(tmp_path / "dev"), "--block-time", "0")  # fmt: skip
    try:
        head = wait_for(client_http, "eth_blockNumber", lambda a: "result" in a)["result"]
        block = rpc(client_http, "eth_getBlockByNumber", head, True)["result"]
        assert block["number"] == head and block["hash"].startswith("0x")
        number = int(head, 16)
        while not block["transactions"]:  # the dev chain logs every few blocks
            number -= 1
            block = rpc(client_http, "eth_getBlockByNumber", hex(number), True)["result"]
        tx = block["transactions"][-1]
        assert rpc(client_http, "eth_getTransactionByHash", tx["hash"])["result"] == tx
        receipt = rpc(client_http, "eth_getTransactionReceipt", tx["hash"])["result"]
        assert receipt["blockHash"] == block["hash"] and receipt["status"] == "0x1"
        sender, emitter = tx["from"], tx["to"]
        assert int(rpc(client_http, "eth_getBalance", sender, "latest")["result"], 16) > 0
        nonce = int(rpc(client_http, "eth_getTransactionCount", sender, "latest")["result"], 16)
        assert nonce > int(tx["nonce"], 16)
        assert len(rpc(client_http, "eth_getCode", emitter, "latest")["result"]) > 2
        word = rpc(client_http, "eth_getStorageAt", emitter, "0x0", "latest")["result"]
        assert len(word) == 66
        refused = rpc(client_http, "eth_sendRawTransaction", "0x02c0")
        assert refused["error"]["code"] in (-32000, -32602)
        # The dev server's own endpoint is unchanged: les_* only.
        assert rpc(http, "les_latestCheckpoint")["result"][0] == "0x1"
    finally:
        err = stop(process)
    assert f"answers the verified eth_* API on http://127.0.0.1:{client_http}" in err
    assert "eth_blockNumber" in err
