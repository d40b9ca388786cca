"""Node IDs: 32 bytes, keccak256 of the 64-byte secp256k1 public key (the enode ID)."""

from __future__ import annotations

from urllib.parse import urlsplit

from lightclient.core.hexutil import decode_hex
from lightclient.core.keccak import keccak
from lightclient.errors import InvalidInput

__all__ = ["format_node_id", "node_id_from_pubkey", "parse_node_id"]


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
