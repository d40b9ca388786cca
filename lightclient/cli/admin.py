"""``lightclient admin``: call a JSON-RPC method of a running server, admin ones included,
through its IPC socket (no token needed: the socket is the local user's) or over HTTP with a
JWT made from the admin secret.

    lightclient admin les_addBalance 0x<node id> 1000000 "invoice 7" --datadir ./data
    lightclient admin les_clientInfo '[]' --http http://127.0.0.1:8545 --jwtsecret ./data/jwtsecret

Each parameter is read as JSON when it parses (numbers, lists, objects, true/false/null),
else taken as a string. The result is printed as JSON; an error answer is one line on
stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from lightclient.errors import LightClientError

__all__ = ["add_commands", "call_ipc"]

TIMEOUT = 30.0
MAX_ANSWER = 64 * 1024 * 1024


class RemoteError(LightClientError):
    """The server answered the call with a JSON-RPC error."""


def add_commands(commands: Any) -> None:
    admin = commands.add_parser(
        "admin", help="call a running server's JSON-RPC methods (admin ones included)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    admin.add_argument("method", help="e.g. les_serverInfo, les_addBalance")
    admin.add_argument("params", nargs="*", help="positional parameters (JSON, or strings)")
    where = admin.add_mutually_exclusive_group()
    where.add_argument("--datadir", metavar="DIR",
                       help="the server's data directory: use its lightclient.ipc")  # fmt: skip
    where.add_argument("--ipcpath", metavar="PATH", help="the server's IPC socket")
    where.add_argument("--http", metavar="URL", help="the server's HTTP endpoint (needs "
                       "--jwtsecret for admin methods)")  # fmt: skip
    admin.add_argument("--jwtsecret", metavar="FILE", help="with --http: the admin secret file")
    admin.set_defaults(handler=lambda args: asyncio.run(_admin(args)))


def _param(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


async def call_ipc(path: str | Path, method: str, params: list[Any]) -> Any:
    """One call on a server's IPC socket; returns the whole JSON-RPC answer."""
    from lightclient.core import jsontext

    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    try:
        opening = asyncio.open_unix_connection(str(path), limit=MAX_ANSWER)
        reader, writer = await asyncio.wait_for(opening, TIMEOUT)
    except (OSError, TimeoutError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or "timeout"
        raise LightClientError(f"cannot reach the server's IPC socket {path}: {why}") from None
    try:
        writer.write(request.encode())
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise LightClientError(f"the IPC call failed: {exc or 'timeout'}") from None
    finally:
        writer.close()
    try:
        return jsontext.loads(line)
    except ValueError:
        raise LightClientError("the server's answer is not JSON") from None


async def _call_http(url: str, secret_file: str | None, method: str, params: list[Any]) -> Any:
    import aiohttp

    from lightclient.core import jsontext
    from lightclient.rpc.auth import bearer_header, read_secret

    headers = {"Content-Type": "application/json"}
    if secret_file:
        headers.update(bearer_header(read_secret(secret_file)))
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > MAX_ANSWER:
                raise LightClientError(f"the server's answer is larger than {MAX_ANSWER} bytes")
            chunks.append(chunk)
        text = b"".join(chunks).decode("utf-8", errors="replace")
        if response.status != 200:
            raise LightClientError(f"HTTP {response.status}: {text.strip()[:200]}")
    try:
        return jsontext.loads(text)
    except ValueError:
        raise LightClientError("the server's answer is not JSON") from None


async def _admin(args: argparse.Namespace) -> int:
    from lightclient.cli.serve import default_datadir
    from lightclient.rpc.ipc import IPC_NAME

    params = [_param(p) for p in args.params]
    if args.http:
        answer = await _call_http(args.http, args.jwtsecret, args.method, params)
    else:
        if args.jwtsecret:
            raise LightClientError("--jwtsecret goes with --http (IPC needs no token)")
        path = args.ipcpath or Path(args.datadir or default_datadir()) / IPC_NAME
        answer = await call_ipc(path, args.method, params)
    if not isinstance(answer, dict):
        raise LightClientError("the server's answer is not a JSON-RPC response")
    if "error" in answer:
        error = answer["error"] if isinstance(answer["error"], dict) else {}
        raise RemoteError(f"{error.get('message', 'error')} (code {error.get('code')})")
    sys.stdout.write(json.dumps(answer.get("result"), indent=2) + "\n")
    return 0
