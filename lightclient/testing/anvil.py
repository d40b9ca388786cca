"""Run a real anvil node for tests, on 127.0.0.1, without touching the user's home.

anvil comes from npm: ``cd tools && npm ci`` (or ``make tools``) installs the pinned
``@foundry-rs/anvil-linux-amd64``. It is started with ``--hardfork london`` unless
``hardfork=`` says otherwise (from Prague on, mining gets slower with every block), and
always with ``--prune-history``: without it anvil writes a state file per block under
``$HOME/.foundry`` and never deletes it. The child's HOME is also a temporary
directory, removed on exit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["ANVIL_NPM_BIN", "AnvilProcess", "find_anvil"]

_REPO = Path(__file__).resolve().parents[2]
ANVIL_NPM_BIN = (
    _REPO / "tools" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
)
_BASE_ARGS = ("--silent",)
# No proxies: the node is on 127.0.0.1 whatever http_proxy says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def find_anvil() -> str | None:
    """The anvil binary: ``$ANVIL_BIN``, then the npm install under tools/, then PATH."""
    env = os.environ.get("ANVIL_BIN")
    if env and os.path.isfile(env) and os.access(env, os.X_OK):
        return env
    if ANVIL_NPM_BIN.is_file() and os.access(ANVIL_NPM_BIN, os.X_OK):
        return str(ANVIL_NPM_BIN)
    return shutil.which("anvil")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class AnvilProcess:
    """``with AnvilProcess() as anvil:`` a running anvil at ``anvil.url`` / ``anvil.ws_url``.

    Extra command-line arguments go in ``extra_args`` (or positionally); ``chain_id``,
    ``block_time`` and ``accounts`` are shortcuts for the usual ones; ``hardfork`` is
    anvil's ``--hardfork`` (``london`` by default; ``shanghai`` adds withdrawals);
    ``states`` keeps that many past states in memory (``--prune-history N``) so that
    ``eth_getProof``/``eth_getCode`` work on older blocks; by default only the latest.
    The process gets SIGTERM on exit (SIGKILL if it has not stopped after 5 s) and is waited for.
    """

    def __init__(
        self,
        *args: str,
        extra_args: Sequence[str] = (),
        chain_id: int | None = None,
        block_time: float | None = None,
        accounts: int | None = None,
        hardfork: str = "london",
        states: int | None = None,
        binary: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        found = binary or find_anvil()
        if found is None:
            raise FileNotFoundError(
                "anvil not found: run `cd tools && npm ci` (or `make tools`) or set ANVIL_BIN"
            )
        self.binary = found
        prune = ["--prune-history"] if states is None else ["--prune-history", str(states)]
        options = ["--hardfork", hardfork, *prune, *args, *extra_args]
        if chain_id is not None:
            options += ["--chain-id", str(chain_id)]
        if block_time is not None:
            options += ["--block-time", f"{block_time:g}"]
        if accounts is not None:
            options += ["--accounts", str(accounts)]
        self.extra_args: tuple[str, ...] = tuple(options)
        self.timeout = timeout
        self.port = 0
        self.url = ""
        self.ws_url = ""
        self.home: Path | None = None
        self._home: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The anvil process id while it runs."""
        return self._process.pid if self._process is not None else None

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        """A synchronous JSON-RPC call (for test set-up); raises RuntimeError on an error."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
        request = urllib.request.Request(
            self.url, body.encode(), {"Content-Type": "application/json"}
        )
        with _OPENER.open(request, timeout=self.timeout) as response:
            answer = json.loads(response.read())
        if answer.get("error") is not None:
            raise RuntimeError(f"anvil {method}: {answer['error']}")
        return answer["result"]

    def __enter__(self) -> AnvilProcess:
        if self._process is not None:
            raise RuntimeError("this AnvilProcess is already running")
        self._home = tempfile.TemporaryDirectory(prefix="anvil-home-")
        self.home = Path(self._home.name)
        try:
            # A free port can be taken by someone else before anvil binds it: try again.
            for attempt in range(3):
                if self._start(last_attempt=attempt == 2):
                    return self
        except BaseException:
            self._stop()
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _start(self, *, last_attempt: bool) -> bool:
        assert self.home is not None
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        args = [
            self.binary,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            *_BASE_ARGS,
            *self.extra_args,
        ]  # fmt: skip
        env = dict(os.environ, HOME=str(self.home), XDG_CACHE_HOME=str(self.home / ".cache"))
        log_path = self.home / "anvil.log"
        with log_path.open("ab") as log:
            self._process = subprocess.Popen(
                args, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.home
            )
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.rpc("eth_blockNumber")
                return True
            except (OSError, ValueError):
                pass
            exited = self._process.poll() is not None
            if exited or time.monotonic() > deadline:
                self._terminate()
                log_text = log_path.read_text(errors="replace").strip()
                if exited and not last_attempt and "in use" in log_text.lower():
                    return False
                reason = "exited" if exited else f"did not answer within {self.timeout:g} s"
                raise RuntimeError(f"anvil {reason} ({' '.join(args)}): {log_text[-2000:]}")
            time.sleep(0.02)

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _stop(self) -> None:
        self._terminate()
        if self._home is not None:
            self._home.cleanup()
            self._home = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()
