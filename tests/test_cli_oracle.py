"""checkpoint-admin through the CLI against a real anvil: deploy, status, sign (offline and
computed from the chain), publish, verify, serve; and the errors a user can run into."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port, require_anvil
from eth_account import Account

from lightclient.testing.anvil import AnvilProcess

SIZE, CONFIRMS = 16, 2


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lightclient.cli.main", *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def ok_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilProcess]:
    require_anvil()
    with AnvilProcess() as anvil:
        yield anvil


@pytest.fixture(scope="module")
def keys(node: AnvilProcess, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("keys")
    out = []
    for i in range(3):
        account = Account.create()
        node.rpc("anvil_setBalance", [account.address, hex(10**21)])
        path = directory / f"key{i}"
        path.write_text(account.key.hex() + "\n")
        out.append((account.address, path))
    out.sort(key=lambda item: int(item[0], 16))
    return out


def test_admin_flow(node: AnvilProcess, keys: list[tuple[str, Path]], tmp_path: Path) -> None:
    signers = ",".join(address for address, _ in keys)
    key0 = str(keys[0][1])
    deployed = ok_json("oracle", "deploy", "--rpc", node.url, "--signers", signers,
                       "--threshold", "2", "--section-size", str(SIZE), "--confirmations",
                       str(CONFIRMS), "--key-file", key0)  # fmt: skip
    oracle = deployed["address"]
    assert deployed["txHash"].startswith("0x") and len(deployed["txHash"]) == 66
    status = ok_json("oracle", "status", "--rpc", node.url, "--oracle", oracle)
    assert status == {"address": oracle, "admins": [a for a, _ in keys], "sectionIndex": 0,
                      "hash": "0x" + "00" * 32, "height": 0}  # fmt: skip

    future = run("oracle", "sign", "--oracle", oracle, "--index", "1", "--rpc", node.url,
                 "--key-file", key0)  # fmt: skip
    assert future.returncode == 1 and "Invalid future checkpoint" in future.stderr

    node.rpc("anvil_mine", [hex(2 * SIZE + CONFIRMS)])
    computed = [
        ok_json(
            "oracle",
            "sign",
            "--oracle",
            oracle,
            "--index",
            "1",
            "--rpc",
            node.url,
            "--key-file",
            str(path),
        )
        for _, path in keys[:2]
    ]
    assert [c["signer"] for c in computed] == [a for a, _ in keys[:2]]

    # The checkpoint the CLI computed, from `lightclient index` over the same node.
    index = run("index", "--rpc", node.url, "--section-size", str(SIZE), "--confirmations",
                str(CONFIRMS), "--json")  # fmt: skip
    checkpoint_hash = json.loads(index.stdout.splitlines()[1])["hash"]
    offline = ok_json("oracle", "sign", "--oracle", oracle, "--index", "1", "--hash",
                      checkpoint_hash, "--key-file", str(keys[1][1]))  # fmt: skip
    assert offline == computed[1]

    # Published in reverse order: the CLI sorts by signer, as the contract requires.
    sigs = ",".join(c["signature"] for c in reversed(computed))
    published = ok_json("oracle", "publish", "--rpc", node.url, "--oracle", oracle, "--index",
                        "1", "--hash", checkpoint_hash, "--signatures", sigs, "--key-file", key0,
                        "--sentry-distance", "1")  # fmt: skip
    assert published["registered"] and published["reason"] == "registered"
    again = run("oracle", "publish", "--rpc", node.url, "--oracle", oracle, "--index", "1",
                "--hash", checkpoint_hash, "--signatures", sigs, "--key-file", key0,
                "--sentry-distance", "1", "--json")  # fmt: skip
    assert again.returncode == 1 and "stale checkpoint" in json.loads(again.stdout)["reason"]

    verdict = ok_json("verify", "--rpc", node.url, "--oracle", oracle, "--datadir",
                      str(tmp_path / "data"))  # fmt: skip
    assert verdict["verified"] and verdict["sectionIndex"] == 1
    assert verdict["registeredHash"] == verdict["localHash"] == checkpoint_hash
    assert verdict["oracleRead"].startswith("eth_getProof verified")
    strangers = run("verify", "--rpc", node.url, "--oracle", oracle, "--signers", keys[2][0],
                    "--threshold", "1", "--json")  # fmt: skip
    assert strangers.returncode == 1
    assert json.loads(strangers.stdout)["reason"].startswith("bad signatures")

    # serve: indexes and answers les_* on its own port, then stops by itself.
    port, light = free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lightclient.cli.main", "serve", "--rpc", node.url, "--oracle",
         oracle, "--http", f"127.0.0.1:{port}", "--datadir", str(tmp_path / "serve"),
         "--light-serve", f"127.0.0.1:{light}", "--poll", "0.2", "--max-runtime", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    head = int(node.rpc("eth_blockNumber"), 16)
    expected = hex((head + 1 - CONFIRMS) // SIZE - 1)
    try:
        try:
            answer = _poll_latest(port, expected)
        except AssertionError:
            server.terminate()
            raise AssertionError(server.communicate(timeout=20)[1][-2000:]) from None
        assert answer["result"][0] == expected
        address = _rpc(port, "les_getCheckpointContractAddress")
        assert address["result"] == oracle
        # Its LES Status advertises the oracle checkpoint it verified, with its height.
        advertised = asyncio.run(_les_checkpoint(node, tmp_path / "serve", light))
        assert advertised is not None and advertised.section_index == 1
        assert "0x" + advertised.hash().hex() == checkpoint_hash
    finally:
        server.terminate()
        server.communicate(timeout=20)  # also closes the pipes


async def _les_checkpoint(node: Any, datadir: Path, port: int) -> Any:
    """The checkpoint in the Status of the LES server on ``port`` (asked until it has one:
    the oracle is checked a moment after serving starts)."""
    from eth_keys.datatypes import PrivateKey

    from lightclient.client.les_connection import LesConnection
    from lightclient.core.nodeid import format_enode
    from lightclient.rlpx.keys import private_key_from_bytes

    pub = PrivateKey(bytes.fromhex((datadir / "nodekey").read_text())).public_key.to_bytes()
    genesis = bytes.fromhex(node.rpc("eth_getBlockByNumber", ["0x0", False])["hash"][2:])
    deadline = time.monotonic() + 20
    while True:
        connection = await LesConnection.dial(
            format_enode(pub, "127.0.0.1", port), private_key_from_bytes(b"\x55" * 32),
            genesis_hash=genesis, network_id=int(node.rpc("net_version")),
        )  # fmt: skip
        checkpoint = connection.checkpoint
        await connection.close()
        if checkpoint is not None or time.monotonic() > deadline:
            return checkpoint
        await asyncio.sleep(0.3)


def _rpc(port: int, method: str, params: list[Any] | None = None) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(f"http://127.0.0.1:{port}", body.encode(),
                                     {"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _poll_latest(port: int, expected: str) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            answer = _rpc(port, "les_latestCheckpoint")
            if "result" in answer and answer["result"][0] == expected:
                return answer
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not answer les_latestCheckpoint in time")


def test_user_errors(node: AnvilProcess, keys: list[tuple[str, Path]], tmp_path: Path) -> None:
    oracle = "0x" + "12" * 20
    no_key = run("oracle", "sign", "--oracle", oracle, "--index", "0", "--hash", "0x" + "11" * 32)
    assert no_key.returncode == 1 and "a signing key is needed" in no_key.stderr
    offline_no_hash = run("oracle", "sign", "--oracle", oracle, "--index", "0", "--key-file",
                          str(keys[0][1]))  # fmt: skip
    assert "Please specify the checkpoint hash (--hash)" in offline_no_hash.stderr
    keystore = tmp_path / "keystore.json"
    keystore.write_text(json.dumps(Account.encrypt(Account.create().key, "right")))
    (tmp_path / "pw").write_text("wrong\n")
    bad_pw = run("oracle", "sign", "--oracle", oracle, "--index", "0", "--hash", "0x" + "11" * 32,
                 "--keystore", str(keystore), "--password-file", str(tmp_path / "pw"))  # fmt: skip
    assert bad_pw.returncode == 1 and "cannot decrypt" in bad_pw.stderr
    (tmp_path / "pw").write_text("right\n")
    good_pw = run("oracle", "sign", "--oracle", oracle, "--index", "0", "--hash",
                  "0x" + "11" * 32, "--keystore", str(keystore), "--password-file",
                  str(tmp_path / "pw"), "--json")  # fmt: skip
    assert good_pw.returncode == 0 and len(json.loads(good_pw.stdout)["signature"]) == 132
    bad_sig = run("oracle", "publish", "--rpc", node.url, "--oracle", oracle, "--index", "0",
                  "--hash", "0x" + "11" * 32, "--signatures", "0x1234", "--key-file",
                  str(keys[0][1]))  # fmt: skip
    assert (
        bad_sig.returncode == 1 and "Invalid signature in --signatures: '0x1234'" in bad_sig.stderr
    )
    nothing = run("oracle", "status", "--rpc", node.url, "--oracle", oracle)
    assert nothing.returncode == 1 and "there is no contract" in nothing.stderr
    bad_hash = run("oracle", "sign", "--oracle", oracle, "--index", "0", "--hash", "0x12")
    assert bad_hash.returncode == 2 and "not a 32-byte hash" in bad_hash.stderr
    bad_signers = run("oracle", "deploy", "--rpc", node.url, "--signers", "0x12,0x34",
                      "--threshold", "1", "--key-file", str(keys[0][1]))  # fmt: skip
    assert (
        bad_signers.returncode == 1 and "Invalid account in --signers: '0x12'" in bad_signers.stderr
    )
    bad_threshold = run("oracle", "deploy", "--rpc", node.url, "--signers", keys[0][0],
                        "--threshold", "2", "--key-file", str(keys[0][1]))  # fmt: skip
    assert "Invalid signature threshold 2" in bad_threshold.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = run("oracle", "status", "--rpc", f"http://127.0.0.1:{port}", "--oracle", oracle)
    assert down.returncode == 1 and "Cannot connect to host" in down.stderr
    assert "Traceback" not in down.stderr
