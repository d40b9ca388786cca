"""The JSON-RPC endpoint options shared by ``serve``, ``dev`` and ``client``: who may call
(virtual hosts, CORS, WebSocket origins, the admin JWT secret, the IPC socket) and how much
(connections, timeouts, body and batch bounds)."""

from __future__ import annotations

import argparse
import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Endpoint", "add_rpc_options", "endpoint_from_args", "exposure_warning", "raise_nofile"]


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _positive_int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1e6 seconds: {text}")
    return value


def add_rpc_options(parser: argparse.ArgumentParser, *, admin: bool) -> None:
    group = parser.add_argument_group(
        "JSON-RPC access (defaults as geth's: only this machine's browser-free callers)"
    )
    group.add_argument("--http-vhosts", type=_names, default=("localhost",), metavar="NAMES",
                       help="Host names accepted in requests, comma-separated, '*' for any "
                       "(IP addresses always pass; default localhost)")  # fmt: skip
    group.add_argument("--http-corsdomain", type=_names, default=(), metavar="ORIGINS",
                       help="browser origins allowed to call over HTTP, comma-separated, '*' "
                       "for any (default: none)")  # fmt: skip
    group.add_argument(
        "--ws-origins",
        type=_names,
        default=(),
        metavar="ORIGINS",
        help="browser origins allowed to open a WebSocket (default: none)",
    )
    if admin:
        group.add_argument("--admin-jwtsecret", metavar="FILE",
                           help="32-byte hex secret for the admin methods' JWT (default: "
                           "<datadir>/jwtsecret, created with mode 0600)")  # fmt: skip
    group.add_argument("--ipcpath", metavar="PATH",
                       help="Unix socket serving every method, admin included, to the local "
                       "user (default: <datadir>/lightclient.ipc)")  # fmt: skip
    group.add_argument("--ipcdisable", action="store_true", help="serve no IPC socket")
    group.add_argument("--http-max-connections", type=_positive_int, default=256, metavar="N",
                       help="open connections at most (default 256)")  # fmt: skip
    group.add_argument("--http-max-connections-per-ip", type=_positive_int, default=64,
                       metavar="N", help="from one address at most (default 64)")  # fmt: skip
    group.add_argument(
        "--http-timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="to send a request's headers, and its body (default 30)",
    )
    group.add_argument("--http-idle-timeout", type=_seconds, default=120.0, metavar="SECONDS",
                       help="a keep-alive connection may wait (default 120)")  # fmt: skip
    group.add_argument("--rpc-batch-limit", type=_positive_int, default=1000, metavar="N",
                       help="requests in one batch (default 1000)")  # fmt: skip
    group.add_argument(
        "--rpc-max-body",
        type=_positive_int,
        default=5 * 1024 * 1024,
        metavar="BYTES",
        help="bytes in one request (default 5 MiB)",
    )


@dataclass(frozen=True)
class Endpoint:
    policy: Any  # lightclient.rpc.http.HttpPolicy
    limits: Any  # lightclient.rpc.server.Limits
    ipc_path: Path | None
    secret_path: Path | None
    secret_created: bool


def endpoint_from_args(args: argparse.Namespace, datadir: Path | None) -> Endpoint:
    """The endpoint the options describe; creates the admin secret if it does not exist."""
    from lightclient.errors import InvalidInput
    from lightclient.rpc.auth import load_or_create_secret
    from lightclient.rpc.http import HttpPolicy
    from lightclient.rpc.ipc import IPC_NAME
    from lightclient.rpc.server import Limits

    secret, secret_path, created = None, None, False
    if hasattr(args, "admin_jwtsecret"):
        if args.admin_jwtsecret:
            secret_path = Path(args.admin_jwtsecret)
        elif datadir is not None:
            secret_path = datadir / "jwtsecret"
        if secret_path is not None:
            secret, created = load_or_create_secret(secret_path)
    ipc_path = None
    if not args.ipcdisable:
        if args.ipcpath:
            ipc_path = Path(args.ipcpath)
        elif datadir is not None:
            ipc_path = datadir / IPC_NAME
    if args.rpc_max_body < 1024:
        raise InvalidInput("--rpc-max-body must be at least 1024 bytes")
    policy = HttpPolicy(
        vhosts=args.http_vhosts, cors_domains=args.http_corsdomain, ws_origins=args.ws_origins,
        jwt_secret=secret, max_connections=args.http_max_connections,
        max_connections_per_ip=args.http_max_connections_per_ip,
        header_timeout=args.http_timeout, body_timeout=args.http_timeout,
        idle_timeout=args.http_idle_timeout,
    )  # fmt: skip
    limits = Limits(max_body=args.rpc_max_body, max_batch=args.rpc_batch_limit)
    return Endpoint(policy, limits, ipc_path, secret_path, created)


def exposure_warning(host: str, modules: list[str], admin: bool) -> str | None:
    """What binding ``host`` exposes, if it is not a loopback address."""
    from lightclient.rpc.http import is_loopback

    if is_loopback(host):
        return None
    admin_note = (
        "the admin les_* methods answer only requests with the JWT, so keep the secret file private"
        if admin
        else "no admin methods are served there"
    )
    return (
        f"WARNING: JSON-RPC on {host} is reachable from other machines: every method of "
        f"{', '.join(modules)} answers anyone who can connect; {admin_note}. Bind 127.0.0.1 "
        "unless that is what you want.\n"
    )


def raise_nofile() -> None:
    """Raise the open-files limit to its hard maximum, so the connection bounds, not the
    descriptor limit, decide who is refused."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = hard if hard != resource.RLIM_INFINITY else 65536
        if soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, 1 << 20), hard))
    except (OSError, ValueError):
        sys.stderr.write("could not raise the open-files limit\n")
