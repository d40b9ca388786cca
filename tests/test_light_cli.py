"""The light server and client as processes against anvil: a paid balance survives SIGKILL,
and `lightclient client` serves verified headers and its checkpoint."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from conftest import free_port, require_anvil
from eth_keys.datatypes import PrivateKey

from lightclient.client.lightchain import LightChain
from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.nodeid import format_enode
from lightclient.rpc.auth import bearer_header, read_secret
from lightclient.testing.anvil import AnvilProcess

SIZE = 16


def rpc(port: int, method: str, *params: Any, secret: Path | None = None) -> Any:
    """One call; with ``secret`` (a jwtsecret file), authenticated for the admin methods."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers.update(bearer_header(read_secret(secret)))
    request = urllib.request.Request(f"http://127.0.0.1:{port}", body.encode(), headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_for(
    port: int, method: str, check: Any, timeout: float = 40, secret: Path | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = rpc(port, method, secret=secret)
            if check(last):
                return last
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{method} never answered as expected; last answer {last}")


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "lightclient.cli.main", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.terminate()
    _, err = process.communicate(timeout=30)
    return err


def test_server_kill_restart_and_client(tmp_path: Path) -> None:
    require_anvil()
    with AnvilProcess() as node:
        node.rpc("anvil_mine", [hex(3 * SIZE + 5)])
        admin, light = free_port(), free_port()
        data = str(tmp_path / "data")
        serve_args = [
            "serve", "--rpc", node.url, "--http", f"127.0.0.1:{admin}",
            "--light-serve", f"127.0.0.1:{light}", "--datadir", data,
            "--section-size", str(SIZE), "--confirmations", "2", "--poll", "0.2",
        ]  # fmt: skip
        secret = Path(data) / "jwtsecret"
        server = start(*serve_args)
        try:
            wait_for(admin, "les_latestCheckpoint", lambda a: "result" in a)
            assert secret.stat().st_mode & 0o777 == 0o600
            paid = "0x" + "5a" * 32
            # Without the token: refused, and nothing credited.
            refused = rpc(admin, "les_addBalance", paid, 10**12, "invoice 7")
            assert refused["error"]["code"] == -32001
            assert "unauthorized" in refused["error"]["message"]
            added = rpc(admin, "les_addBalance", paid, 10**12, "invoice 7", secret=secret)
            assert added["result"] == [0, 10**12]
        finally:
            server.send_signal(signal.SIGKILL)
            server.communicate(timeout=30)
        assert server.returncode == -signal.SIGKILL
        server = start(*serve_args)
        client = None
        try:
            wait_for(admin, "les_serverInfo", lambda a: "result" in a, secret=secret)
            # The admin command reaches the same methods through the IPC socket, no token.
            via_ipc = subprocess.run(
                [sys.executable, "-m", "lightclient.cli.main", "admin", "les_clientInfo",
                 json.dumps([paid]), "--datadir", data],
                capture_output=True, text=True, timeout=60, check=True,
            )  # fmt: skip
            info = json.loads(via_ipc.stdout)["5a" * 32]
            assert info["pricing/balance"] == 10**12 and info["pricing/balanceMeta"] == "invoice 7"
            info = rpc(admin, "les_clientInfo", [paid], secret=secret)["result"]["5a" * 32]
            assert info["pricing/balance"] == 10**12 and info["pricing/balanceMeta"] == "invoice 7"
            checkpoint = rpc(admin, "les_latestCheckpoint")["result"]
            cp_file = tmp_path / "checkpoint.json"
            cp_file.write_text(json.dumps({"sectionIndex": int(checkpoint[0], 16),
                                           "sectionHead": checkpoint[1], "chtRoot": checkpoint[2],
                                           "bloomRoot": checkpoint[3]}))  # fmt: skip
            client_port = free_port()
            # The server's enode: its node key is kept in the data directory.
            node_key = PrivateKey(bytes.fromhex((Path(data) / "nodekey").read_text()))
            enode = format_enode(node_key.public_key.to_bytes(), "127.0.0.1", light)
            genesis = node.rpc("eth_getBlockByNumber", ["0x0", False])["hash"]
            network_id = node.rpc("net_version")
            client = start("client", "--server", enode, "--checkpoint", "file",
                           "--checkpoint-file", str(cp_file), "--section-size", str(SIZE),
                           "--genesis", genesis, "--networkid", str(network_id),
                           "--confirmations", "2", "--consensus", "none",
                           "--http", f"127.0.0.1:{client_port}", "--poll", "0.5",
                           "--datadir", str(tmp_path / "client"))  # fmt: skip
            head = int(node.rpc("eth_blockNumber"), 16)
            answer = wait_for(client_port, "eth_blockNumber",
                              lambda a: a.get("result") == hex(head))  # fmt: skip
            assert answer["result"] == hex(head)
            old = rpc(client_port, "eth_getBlockByNumber", "0x3", False)["result"]
            assert old["hash"] == node.rpc("eth_getBlockByNumber", ["0x3", False])["hash"]
            # eth_* over the client's HTTP endpoint, from bodies verified against the headers.
            latest = rpc(client_port, "eth_getBlockByNumber", hex(head), True)["result"]
            assert latest == node.rpc("eth_getBlockByNumber", [hex(head), True])
            assert rpc(client_port, "net_version")["result"] == network_id
            assert rpc(client_port, "eth_chainId")["result"] == node.rpc("eth_chainId")
            assert rpc(client_port, "les_latestCheckpoint")["result"] == checkpoint
            connected = rpc(admin, "les_clientInfo", [], secret=secret)["result"]
            assert len(connected) == 1 and next(iter(connected.values()))["isConnected"]
            stop(client)
            client = None
            # The verified chain is in the client's --datadir, beside its node key.
            chain = LightChain.open(tmp_path / "client", genesis_hash=bytes.fromhex(genesis[2:]),
                                    checkpoint=TrustedCheckpoint.from_json(
                                        json.loads(cp_file.read_text())),
                                    section_size=SIZE)  # fmt: skip
            try:
                stored = chain.head()
                assert stored is not None and stored.number >= head
                assert (
                    stored.hash.hex()
                    == node.rpc("eth_getBlockByNumber", [hex(stored.number), False])["hash"][2:]
                )
            finally:
                chain.close()
            assert (tmp_path / "client" / "nodekey").exists()
        finally:
            if client is not None:
                stop(client)
            stop(server)
