"""JSON-RPC over HTTP and WebSocket on aiohttp, guarded as geth's HTTP server is, and more.

Every request passes, in order:

1. the connection guard: at most ``max_connections`` open connections, and
   ``max_connections_per_ip`` from one address (more are closed at once); a connection
   that sends half a request is closed after ``header_timeout``, an idle one after
   ``idle_timeout``, a body that does not arrive within ``body_timeout`` ends its request;
2. virtual hosts (geth's ``--http.vhosts``): a ``Host`` that is a name must be listed (an IP
   literal always passes), else 403 "invalid host specified" -- this stops DNS rebinding;
3. origins: a request from a browser page (it carries ``Origin``) is served only if its
   origin is in ``cors_domains`` (``ws_origins`` for WebSocket); else 403. Preflights are
   answered for the listed origins only, as geth's CORS handler;
4. geth's request checks: a GET without body is a health check (200, empty); POST only;
   ``Content-Length`` at most the body bound (413); ``Content-Type`` one of geth's three
   JSON types (415) -- a ``text/plain`` form post from a page cannot get through;
5. the admin token: ``Authorization: Bearer <JWT>`` (see :mod:`lightclient.rpc.auth`); a bad
   token is 401 with geth's message, a missing one leaves the request unauthenticated, so
   only the public methods answer it.

Nothing here answers 500: a failure inside becomes a JSON-RPC -32603.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_runner import BaseSite

from lightclient.errors import InvalidInput
from lightclient.rpc.auth import AuthError, check_bearer
from lightclient.rpc.server import RpcServer, encode

__all__ = [
    "ACCEPTED_CONTENT_TYPES",
    "GUARD",
    "ConnectionGuard",
    "HttpPolicy",
    "build_app",
    "is_loopback",
    "serve",
]

log = logging.getLogger(__name__)

ACCEPTED_CONTENT_TYPES = ("application/json", "application/json-rpc", "application/jsonrequest")
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """Who may talk to the endpoint and how much; defaults as geth's where geth has one."""

    vhosts: tuple[str, ...] = ("localhost",)
    cors_domains: tuple[str, ...] = ()
    ws_origins: tuple[str, ...] = ()
    jwt_secret: bytes | None = None  # None: no caller is authenticated over HTTP
    max_connections: int = 256
    max_connections_per_ip: int = 64
    header_timeout: float = 30.0  # seconds to send a request's headers (geth: 30 s)
    body_timeout: float = 30.0  # seconds to send its body (geth's ReadTimeout: 30 s)
    idle_timeout: float = 120.0  # seconds a keep-alive connection may wait (geth: 120 s)
    ws_idle_timeout: float = 600.0  # seconds a WebSocket may stay silent
    clock: Callable[[], float] = field(default=time.time)  # wall clock, for JWT iat


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_allowed(policy: HttpPolicy, host_header: str | None) -> bool:
    """geth's virtualHostHandler: an absent Host, an IP literal or a listed name pass."""
    if not host_header:
        return True
    host = host_header
    if host.startswith("["):  # [v6]:port
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    names = {v.lower() for v in policy.vhosts}
    return "*" in names or host.lower() in names


def _origin_allowed(allowed: tuple[str, ...], origin: str) -> bool:
    names = {o.lower().rstrip("/") for o in allowed}
    return "*" in names or origin.lower().rstrip("/") in names


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers=headers)


# -- connections ---------------------------------------------------------------------------


@dataclass(eq=False)
class _Conn:
    ip: str
    transport: asyncio.BaseTransport
    last: float  # loop time of the last request's end, or the connection's start
    busy: int = 0  # requests (or a WebSocket) in progress
    partial_since: float | None = None  # bytes of a next request seen since then


class ConnectionGuard:
    """Counts connections per endpoint and per IP, and closes slow or idle ones."""

    def __init__(self, policy: HttpPolicy) -> None:
        self.policy = policy
        self.conns: dict[asyncio.BaseTransport, _Conn] = {}
        self.per_ip: collections.Counter[str] = collections.Counter()
        self.refused = 0
        self._sweeper: asyncio.Task[None] | None = None

    def admit(self, transport: asyncio.BaseTransport) -> _Conn | None:
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else "unix"
        if (
            len(self.conns) >= self.policy.max_connections
            or self.per_ip[ip] >= self.policy.max_connections_per_ip
        ):
            self.refused += 1
            if self.refused in (1, 10, 100) or self.refused % 1000 == 0:
                log.warning("JSON-RPC: connection from %s refused: %d open (%d from it); "
                            "%d refused so far", ip, len(self.conns), self.per_ip[ip],
                            self.refused)  # fmt: skip
            return None
        conn = _Conn(ip, transport, asyncio.get_running_loop().time())
        self.conns[transport] = conn
        self.per_ip[ip] += 1
        return conn

    def release(self, conn: _Conn) -> None:
        if self.conns.pop(conn.transport, None) is not None:
            self.per_ip[conn.ip] -= 1
            if self.per_ip[conn.ip] <= 0:
                del self.per_ip[conn.ip]

    def begin(self, transport: Any) -> _Conn | None:
        conn = self.conns.get(transport)
        if conn is not None:
            conn.busy += 1
            conn.partial_since = None
        return conn

    def end(self, conn: _Conn | None) -> None:
        if conn is not None:
            conn.busy -= 1
            conn.last = asyncio.get_running_loop().time()

    def sweep(self) -> None:
        now = asyncio.get_running_loop().time()
        for conn in list(self.conns.values()):
            if conn.busy:
                continue
            if conn.partial_since is not None:
                late = now - conn.partial_since > self.policy.header_timeout
            else:
                late = now - conn.last > self.policy.idle_timeout
            if late:
                conn.transport.abort()  # type: ignore[attr-defined]

    async def run_sweeper(self) -> None:
        period = max(0.05, min(self.policy.header_timeout, self.policy.idle_timeout) / 4)
        while True:
            await asyncio.sleep(period)
            self.sweep()

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self.run_sweeper())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None


GUARD = web.AppKey("connection_guard", ConnectionGuard)


class _GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the guard's admission and timers."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.conn: _Conn | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.conn = self.guard.admit(transport)
        if self.conn is None:
            transport.abort()  # type: ignore[attr-defined]
            return
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is None:
            return
        if not conn.busy and conn.partial_since is None:
            conn.partial_since = asyncio.get_running_loop().time()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.conn is not None else None

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is None:
            return
        self.guard.release(self.conn)
        self.inner.connection_lost(exc)


class GuardedSockSite(BaseSite):
    """aiohttp's SockSite, with every connection passing the guard."""

    def __init__(self, runner: web.AppRunner, sock: Any, guard: ConnectionGuard) -> None:
        super().__init__(runner)
        self._sock = sock
        self.guard = guard
        host, port = sock.getsockname()[:2]
        self._name = f"http://{host}:{port}"

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self.guard.start()
        self._server = await loop.create_server(
            lambda: _GuardedProtocol(self.guard, server()), sock=self._sock, backlog=128
        )

    async def stop(self) -> None:
        await self.guard.stop()
        await super().stop()


class _ClientFaults(logging.Filter):
    """aiohttp logs a traceback at ERROR for every malformed HTTP request it refuses with
    400 (a bad Content-Length, a header past 8 KiB...): the sender's fault, not ours. Such a
    record becomes one INFO line; anything else passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = " ".join(f"{record.getMessage()}: {exc.code} {exc.message}".split())
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


wire_log = logging.getLogger("lightclient.rpc.http.wire")
wire_log.addFilter(_ClientFaults())


# -- requests ------------------------------------------------------------------------------


class _Endpoint:
    def __init__(self, rpc: RpcServer, policy: HttpPolicy, guard: ConnectionGuard | None):
        self.rpc = rpc
        self.policy = policy
        self.guard = guard

    def _cors(self, request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin and _origin_allowed(self.policy.cors_domains, origin):
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {}

    def _authenticated(self, request: web.Request) -> bool:
        """Whether a valid admin token came with the request; AuthError if a bad one did."""
        header = request.headers.get("Authorization")
        if header is None:
            return False
        if self.policy.jwt_secret is None:
            raise AuthError("this endpoint has no admin secret: use the IPC socket")
        check_bearer(header, self.policy.jwt_secret, self.policy.clock)
        return True

    async def handle(self, request: web.Request) -> web.StreamResponse:
        conn = self.guard.begin(request.transport) if self.guard else None
        try:
            return await self._checked(request)
        except web.HTTPException:  # aiohttp's own answer to a bad request (400 and such)
            raise
        except Exception:  # the boundary: a bug answers -32603, never a 500
            log.exception("JSON-RPC transport failure")
            return web.Response(status=200, content_type=_JSON,
                                text=encode({"jsonrpc": "2.0", "id": None, "error": {
                                    "code": -32603, "message": "internal error"}}))  # fmt: skip
        finally:
            if self.guard:
                self.guard.end(conn)

    async def _checked(self, request: web.Request) -> web.StreamResponse:
        if not _host_allowed(self.policy, request.headers.get("Host")):
            return _plain(403, "invalid host specified")
        origin = request.headers.get("Origin")
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        if websocket and request.method == "GET":
            if origin is not None and not _origin_allowed(self.policy.ws_origins, origin):
                log.info("JSON-RPC: WebSocket from origin %.100r refused", origin)
                return _plain(403, "origin not allowed")
            return await self._websocket(request)
        if origin is not None and not _origin_allowed(self.policy.cors_domains, origin):
            return _plain(403, "origin not allowed")
        if request.method == "OPTIONS":
            return self._preflight(request)
        if request.method == "GET" and not request.body_exists and not request.query_string:
            return web.Response(status=200, headers=self._cors(request))  # a health check
        if request.method != "POST":
            return _plain(405, "method not allowed")
        length = request.content_length
        limit = self.rpc.limits.max_body
        if length is not None and length > limit:
            return _plain(413, f"content length too large ({length}>{limit})")
        mime = (request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if mime not in ACCEPTED_CONTENT_TYPES:
            return _plain(415, f"invalid content type, only {_JSON} is supported")
        try:
            admin = self._authenticated(request)
        except AuthError as exc:
            return _plain(401, str(exc), self._cors(request))
        try:
            body = await asyncio.wait_for(request.read(), self.policy.body_timeout)
        except TimeoutError:
            late = _plain(408, "request body timed out")
            late.force_close()  # the rest of the body may still come: end the connection
            return late
        except web.HTTPRequestEntityTooLarge:
            big = _plain(413, f"content length too large (>{limit})")
            big.force_close()
            return big
        answer = await self.rpc.handle_payload(body, admin=admin)
        headers = self._cors(request)
        if answer is None:
            return web.Response(status=200, headers=headers)
        return web.Response(status=200, text=encode(answer), content_type=_JSON,
                            headers=headers)  # fmt: skip

    def _preflight(self, request: web.Request) -> web.Response:
        origin = request.headers.get("Origin")
        if not origin:
            return web.Response(status=204)
        return web.Response(status=204, headers={
            "Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Allow-Methods": "POST, GET",
            "Access-Control-Allow-Headers": request.headers.get(
                "Access-Control-Request-Headers", "Content-Type"),
            "Access-Control-Max-Age": "600",
        })  # fmt: skip

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        try:
            admin = self._authenticated(request)
        except AuthError as exc:
            return _plain(401, str(exc))
        ws = web.WebSocketResponse(max_msg_size=self.rpc.limits.max_body, heartbeat=30)
        await ws.prepare(request)
        while not ws.closed:
            try:
                message = await ws.receive(timeout=self.policy.ws_idle_timeout)
            except TimeoutError:
                await ws.close(message=b"idle")
                break
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                answer = await self.rpc.handle_payload(message.data, admin=admin)
                if answer is not None:
                    await ws.send_str(encode(answer))
            elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                break
            elif message.type == WSMsgType.ERROR:  # e.g. a frame past max_msg_size
                log.info("JSON-RPC: WebSocket closed: %s", ws.exception())
                break
        return ws


def build_app(
    rpc: RpcServer, policy: HttpPolicy, guard: ConnectionGuard | None = None
) -> web.Application:
    """The aiohttp application: every path and method goes through the checks above."""
    app = web.Application(client_max_size=rpc.limits.max_body)
    endpoint = _Endpoint(rpc, policy, guard)
    app.router.add_route("*", "/{tail:.*}", endpoint.handle)
    if guard is not None:
        app[GUARD] = guard
    return app


_accept_warned = 0.0


def _quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Out of file descriptors, asyncio logs a traceback per failed accept (every second
    per listener); make that one warning a minute."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        global _accept_warned
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            now = time.monotonic()
            if now - _accept_warned > 60:
                _accept_warned = now
                log.warning("cannot accept connections: %s (raise the open-files limit)",
                            context.get("exception"))  # fmt: skip
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


async def serve(
    rpc: RpcServer, host: str, port: int, policy: HttpPolicy | None = None
) -> tuple[web.AppRunner, int]:
    """Start ``rpc`` on host:port (port 0 picks a free one); returns (runner, port)."""
    import socket

    policy = policy or HttpPolicy()
    try:
        sock = socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    _quiet_accept_errors(asyncio.get_running_loop())
    guard = ConnectionGuard(policy)
    runner = web.AppRunner(build_app(rpc, policy, guard), access_log=None, shutdown_timeout=2.0,
                           logger=wire_log)  # fmt: skip
    await runner.setup()
    await GuardedSockSite(runner, sock, guard).start()
    return runner, int(sock.getsockname()[1])
