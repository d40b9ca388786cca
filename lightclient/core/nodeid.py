"""Node IDs (keccak256 of the 64-byte secp256k1 public key) and enode URLs (spec §3).

``enode://<128 hex>@host:port[?discport=N]`` as geth's ``enode.ParseV4`` reads it, with its
error texts; the incomplete forms ``enode://<hex>`` and bare ``<hex>`` carry only the key.
Host names are kept as given: resolving them is the dialer's job.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import coincurve

from lightclient.core.hexutil import decode_hex
from lightclient.core.keccak import keccak
from lightclient.errors import InvalidInput

__all__ = [
    "Enode",
    "dialable_host",
    "format_enode",
    "format_node_id",
    "node_id_from_pubkey",
    "parse_enode",
    "parse_node_id",
]

_INCOMPLETE = re.compile(r"(?:enode://)?([0-9a-fA-F]+)")


def node_id_from_pubkey(pubkey: bytes) -> bytes:
    """The node ID of an uncompressed public key (64 bytes, or 65 with the 0x04 prefix)."""
    if len(pubkey) == 65 and pubkey[0] == 4:
        pubkey = pubkey[1:]
    if len(pubkey) != 64:
        raise InvalidInput("a public key is 64 bytes")
    return keccak(pubkey)


def parse_node_id(text: object) -> bytes:
    """A node ID from 64 hex digits (0x optional) or an ``enode://<128 hex>@host:port`` URL."""
    if not isinstance(text, str):
        raise InvalidInput(f"invalid node ID {text!r}: expected a string")
    raw = decode_hex(text, 32)
    if raw is not None:
        return raw
    if text.startswith("enode://"):
        try:
            parts = urlsplit(text)
            pubkey = decode_hex(parts.username or parts.hostname or "", 64)
        except ValueError:  # urlsplit: unbalanced [ ] and the like
            pubkey = None
        if pubkey is None:
            raise InvalidInput(
                f"invalid node ID {text!r}: an enode URL holds the 128-hex-digit public key"
            )
        return node_id_from_pubkey(pubkey)
    raise InvalidInput(
        f"invalid node ID {text!r}: expected 64 hex digits (0x optional) or an enode:// URL"
    )


def format_node_id(node_id: bytes) -> str:
    """geth's JSON form of an ID: 64 lowercase hex digits, no 0x."""
    return node_id.hex()


@dataclass(frozen=True)
class Enode:
    """A parsed enode URL. ``host`` and the ports are None for the incomplete, key-only form."""

    pubkey: bytes
    host: str | None = None
    tcp_port: int | None = None
    udp_port: int | None = None

    @property
    def node_id(self) -> bytes:
        return keccak(self.pubkey)

    @property
    def dialable(self) -> bool:
        return self.host is not None and self.tcp_port is not None

    def url(self) -> str:
        """geth's form of this URL (``?discport`` only when UDP differs from TCP)."""
        if self.host is None or self.tcp_port is None:
            return f"enode://{self.pubkey.hex()}"
        return format_enode(self.pubkey, self.host, self.tcp_port, self.udp_port)


def _pubkey(text: str, url: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise InvalidInput(f"invalid enode URL {url!r}: invalid public key (not hex)") from None
    if len(raw) != 64:
        raise InvalidInput(
            f"invalid enode URL {url!r}: invalid public key (wrong length, want 128 hex chars)"
        )
    try:
        coincurve.PublicKey(b"\x04" + raw)
    except ValueError:
        raise InvalidInput(
            f"invalid enode URL {url!r}: invalid public key (not on the curve)"
        ) from None
    return raw


def _port(text: str, url: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 0xFFFF:
        raise InvalidInput(f"invalid enode URL {url!r}: {what}")
    return int(text)


def parse_enode(text: object) -> Enode:
    """Parse an enode URL as geth's ParseV4 does; InvalidInput with geth's reason if it is bad."""
    if not isinstance(text, str):
        raise InvalidInput(f"invalid enode URL {text!r}: expected a string")
    incomplete = _INCOMPLETE.fullmatch(text)
    if incomplete:
        return Enode(_pubkey(incomplete.group(1), text))
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError as exc:  # unbalanced [ ] and the like
        raise InvalidInput(f"invalid enode URL {text!r}: {exc}") from None
    if parts.scheme != "enode":
        raise InvalidInput(f'invalid enode URL {text!r}: invalid URL scheme, want "enode"')
    if "@" not in parts.netloc:
        raise InvalidInput(f"invalid enode URL {text!r}: does not contain node ID")
    pubkey = _pubkey(parts.netloc.rpartition("@")[0], text)
    if not host:
        raise InvalidInput(f"invalid enode URL {text!r}: missing host")
    tcp = _port(parts.netloc.rpartition("]")[2].rpartition(":")[2], text, "invalid port")
    disc = parse_qs(parts.query).get("discport", [""])[-1]
    udp = _port(disc, text, "invalid discport in query") if disc else tcp
    return Enode(pubkey, host, tcp, udp)


def dialable_host(host: str) -> str:
    """The host to put in an enode URL for a listener on ``host``: an unspecified address
    (all interfaces) becomes 127.0.0.1, as geth prints without NAT."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host


def format_enode(pubkey: bytes, host: str, tcp_port: int, udp_port: int | None = None) -> str:
    """``enode://<hex>@host:port``, IPv6 in brackets, ``?discport=`` only when it differs."""
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    where = f"[{host}]" if is_v6 else host
    url = f"enode://{pubkey.hex()}@{where}:{tcp_port}"
    if udp_port is not None and udp_port != tcp_port:
        url += f"?discport={udp_port}"
    return url
