"""Admin authentication as geth's authenticated RPC (the engine API's JWT rules).

A caller proves it holds the 32-byte secret with ``Authorization: Bearer <JWT>``: a token
signed with HS256 over that secret whose ``iat`` claim is within 60 s of the server's clock
(an ``exp`` claim, if present, must not have passed). The secret lives in a file of 64 hex
digits, ``0x`` optional, as geth's ``--authrpc.jwtsecret``; a missing file is created with
mode 0600. Tokens are checked with PyJWT; only the clock rules are ours, as geth applies
them (``node/jwt_handler.go``), and their messages are geth's.
"""

from __future__ import annotations

import logging
import math
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import jwt

from lightclient.core.hexutil import decode_hex
from lightclient.errors import InvalidInput, LightClientError

__all__ = [
    "TOKEN_DRIFT",
    "AuthError",
    "bearer_header",
    "check_bearer",
    "load_or_create_secret",
    "make_token",
    "read_secret",
]

log = logging.getLogger(__name__)

TOKEN_DRIFT = 60.0  # seconds either side of the server's clock, as geth's jwtExpiryTimeout
SECRET_BYTES = 32
MAX_TOKEN = 4096  # characters: a real token is about 150


class AuthError(LightClientError):
    """A request's admin token is missing or not acceptable (HTTP 401 at the boundary)."""


def read_secret(path: str | Path) -> bytes:
    """The 32-byte secret in ``path`` (64 hex digits, 0x optional, whitespace around)."""
    file = Path(path)
    try:
        with file.open("rb") as handle:  # a secret is 64 hex digits: read no more than 1000
            text = handle.read(1000).decode("ascii", errors="replace").strip()
    except OSError as exc:
        raise InvalidInput(f"cannot read the JWT secret {file}: {exc.strerror or exc}") from None
    secret = decode_hex(text, SECRET_BYTES)
    if secret is None:
        raise InvalidInput(f"invalid JWT secret in {file}: expected 32 bytes as 64 hex digits")
    mode = file.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("JWT secret %s is readable by others (mode %o); chmod 600 it", file,
                    stat.S_IMODE(mode))  # fmt: skip
    return secret


def load_or_create_secret(path: str | Path) -> tuple[bytes, bool]:
    """The secret in ``path``, created (mode 0600) if the file does not exist; returns
    (secret, created)."""
    file = Path(path)
    if file.exists():
        return read_secret(file), False
    secret = os.urandom(SECRET_BYTES)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile: use theirs
        return read_secret(file), False
    except OSError as exc:
        raise InvalidInput(f"cannot create the JWT secret {file}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w") as out:
        out.write(secret.hex() + "\n")
    return secret, True


def make_token(secret: bytes, now: float | None = None) -> str:
    """A token for ``Authorization: Bearer``, issued now."""
    return jwt.encode({"iat": int(time.time() if now is None else now)}, secret, "HS256")


def bearer_header(secret: bytes, now: float | None = None) -> dict[str, str]:
    return {"Authorization": "Bearer " + make_token(secret, now)}


def check_bearer(
    authorization: str | None, secret: bytes, clock: Callable[[], float] = time.time
) -> None:
    """Accept the ``Authorization`` header value or raise AuthError with geth's message."""
    token = ""
    if authorization and authorization.startswith("Bearer "):
        token = authorization[len("Bearer ") :]
    if not token:
        raise AuthError("missing token")
    if len(token) > MAX_TOKEN:
        raise AuthError("token too long")
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                     "verify_aud": False, "verify_iss": False},
        )  # fmt: skip
    except jwt.InvalidTokenError as exc:
        raise AuthError(str(exc) or "invalid token") from None
    now = clock()
    exp, iat = claims.get("exp"), claims.get("iat")
    if exp is not None and (not _is_number(exp) or exp < now):
        raise AuthError("token is expired")
    if iat is None:
        raise AuthError("missing issued-at")
    if not _is_number(iat):
        raise AuthError("invalid issued-at")
    if now - iat > TOKEN_DRIFT:
        raise AuthError("stale token")
    if iat - now > TOKEN_DRIFT:
        raise AuthError("future token")


def _is_number(value: object) -> bool:
    """A JSON number a clock can be compared with: finite, and within float64's exact
    integers (a claim of 10**310 would overflow the comparison)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) <= 2**53
    return isinstance(value, float) and math.isfinite(value) and abs(value) <= 2**53
