"""Run a real anvil node for tests, on 127.0.0.1, without touching the user's home.

anvil comes from npm (``tools/package.json``, installed by ``make tools``). It is always
started with ``--hardfork london --prune-history``: later hardforks make mining quadratic in
chain length and, without pruning, anvil writes a state file per block under $HOME.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["AnvilProcess", "find_anvil"]

_REPO = Path(__file__).resolve().parents[2]
_NPM_BIN = _REPO / "tools" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"


def find_anvil() -> str | None:
    """The anvil binary: $ANVIL_BIN, then the npm install under tools/, then PATH."""
    env = os.environ.get("ANVIL_BIN")
    if env and os.access(env, os.X_OK):
        return env
    if os.access(_NPM_BIN, os.X_OK):
        return str(_NPM_BIN)
    return shutil.which("anvil")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class AnvilProcess:
    """``with AnvilProcess() as anvil:`` a running anvil at ``anvil.url`` / ``anvil.ws_url``."""

    def __init__(self, *extra_args: str, binary: str | None = None, timeout: float = 10.0) -> None:
        found = binary or find_anvil()
        if found is None:
            raise FileNotFoundError("anvil not found: run `make tools` (npm) or set ANVIL_BIN")
        self.binary = found
        self.extra_args = extra_args
        self.timeout = timeout
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self._home = tempfile.TemporaryDirectory(prefix="anvil-home-")
        self._process: subprocess.Popen[bytes] | None = None

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        """A synchronous JSON-RPC call (for test set-up)."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
        request = urllib.request.Request(
            self.url, body.encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            answer = json.loads(response.read())
        if "error" in answer:
            raise RuntimeError(f"anvil {method}: {answer['error']}")
        return answer["result"]

    def __enter__(self) -> AnvilProcess:
        args = [
            self.binary,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--hardfork", "london",
            "--prune-history",
            "--silent",
            *self.extra_args,
        ]  # fmt: skip
        env = dict(os.environ, HOME=self._home.name)
        self._process = subprocess.Popen(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.rpc("eth_blockNumber")
                return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    error = self._process.stderr.read().decode() if self._process.stderr else ""
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"anvil did not start: {error.strip()}") from None
                time.sleep(0.02)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stderr:
                self._process.stderr.close()
            self._process = None
        self._home.cleanup()
