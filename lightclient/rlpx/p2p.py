"""devp2p's base protocol ("p2p"): Hello, Disconnect, Ping/Pong and capability offsets (spec §2).

Pure data and encoding; :mod:`lightclient.rlpx.session` runs it over a connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from lightclient.core.rlpcodec import Node, encode_bytes, encode_int, encode_list, encode_node
from lightclient.errors import DecodeError, RlpxError
from lightclient.rlpx import snappy
from lightclient.rlpx.rlpvalues import as_bytes, as_list, as_uint, decode_first

__all__ = [
    "BASE_PROTOCOL_LENGTH",
    "BASE_PROTOCOL_VERSION",
    "DISCONNECT",
    "HELLO",
    "MAX_HELLO_SIZE",
    "PING",
    "PONG",
    "Capability",
    "DisconnectReason",
    "Hello",
    "Protocol",
    "ProtocolSlot",
    "decode_disconnect",
    "encode_disconnect",
    "match_protocols",
    "reason_name",
]

HELLO, DISCONNECT, PING, PONG = 0x00, 0x01, 0x02, 0x03
BASE_PROTOCOL_LENGTH = 0x10  # codes 0x00-0x0f belong to "p2p"; sub-protocols start at 0x10
BASE_PROTOCOL_VERSION = 5  # 5 and up: Snappy after Hello (EIP-706)
MAX_HELLO_SIZE = 2048  # geth refuses a larger Hello payload
EMPTY_LIST = b"\xc0"  # the Ping and Pong payload


class DisconnectReason(IntEnum):
    """geth v1.11.6's disconnect reasons (spec §2.3)."""

    REQUESTED = 0x00
    NETWORK_ERROR = 0x01
    PROTOCOL_ERROR = 0x02
    USELESS_PEER = 0x03
    TOO_MANY_PEERS = 0x04
    ALREADY_CONNECTED = 0x05
    INCOMPATIBLE_VERSION = 0x06
    INVALID_IDENTITY = 0x07
    QUITTING = 0x08
    UNEXPECTED_IDENTITY = 0x09
    SELF = 0x0A
    READ_TIMEOUT = 0x0B
    SUBPROTOCOL_ERROR = 0x10


def reason_name(reason: int) -> str:
    """``"TOO_MANY_PEERS (0x04)"``, or the bare number for a reason geth does not define."""
    try:
        return f"{DisconnectReason(reason).name} (0x{reason:02x})"
    except ValueError:
        return f"0x{reason:02x}"


@dataclass(frozen=True)
class Capability:
    """A capability as a Hello lists it: name and version."""

    name: str
    version: int


@dataclass(frozen=True)
class Protocol:
    """A sub-protocol we offer: name, version and how many message codes it takes."""

    name: str
    version: int
    length: int

    @property
    def capability(self) -> Capability:
        return Capability(self.name, self.version)


@dataclass(frozen=True)
class ProtocolSlot:
    """A negotiated sub-protocol and its code range ``offset .. offset + length - 1``."""

    name: str
    version: int
    offset: int
    length: int


@dataclass(frozen=True)
class Hello:
    """The Hello message (code 0x00); ``rest`` holds extra trailing elements, ignored."""

    version: int
    client_id: str
    capabilities: tuple[Capability, ...]
    listen_port: int
    node_pubkey: bytes
    rest: tuple[Node, ...] = ()

    def encode(self) -> bytes:
        caps = sorted(self.capabilities, key=lambda c: (c.name.encode(), c.version))
        cap_items = [_encode_capability(c) for c in caps]
        return encode_list(
            [
                encode_int(self.version),
                encode_bytes(self.client_id.encode()),
                encode_list(cap_items),
                encode_int(self.listen_port),
                encode_bytes(self.node_pubkey),
                *map(encode_node, self.rest),
            ]
        )

    @classmethod
    def decode(cls, payload: bytes) -> Hello:
        """Decode as geth does; the node key's length is checked later (reason 0x07)."""
        if len(payload) > MAX_HELLO_SIZE:
            raise RlpxError(f"Hello too large ({len(payload)} > {MAX_HELLO_SIZE} bytes)")
        items = as_list(decode_first(payload, "Hello"), "Hello", min_items=5)
        caps = tuple(_capability(c) for c in as_list(items[2], "Hello capabilities"))
        return cls(
            version=as_uint(items[0], "Hello version"),
            client_id=as_bytes(items[1], "Hello client id").decode("utf-8", "replace"),
            capabilities=caps,
            listen_port=as_uint(items[3], "Hello listen port"),
            node_pubkey=as_bytes(items[4], "Hello node id"),
            rest=tuple(items[5:]),
        )


def _encode_capability(cap: Capability) -> bytes:
    return encode_list([encode_bytes(cap.name.encode()), encode_int(cap.version)])


def _capability(node: Node) -> Capability:
    items = as_list(node, "capability", min_items=2)
    if len(items) != 2:
        raise RlpxError("capability: expected [name, version]")
    name = as_bytes(items[0], "capability name").decode("utf-8", "replace")
    return Capability(name, as_uint(items[1], "capability version", bits=32))


def match_protocols(ours: Sequence[Protocol], theirs: Sequence[Capability]) -> list[ProtocolSlot]:
    """The shared sub-protocols and their code offsets, as geth's matchProtocols assigns them.

    Shared = same name and version on both sides; walked sorted by name then version; only the
    highest version of each name is kept, a lower one giving its codes back.
    """
    mine = {(p.name, p.version): p for p in ours}
    shared = sorted(
        {(c.name, c.version) for c in theirs if (c.name, c.version) in mine},
        key=lambda nv: (nv[0].encode(), nv[1]),
    )
    slots: dict[str, ProtocolSlot] = {}
    offset = BASE_PROTOCOL_LENGTH
    for name, version in shared:
        if name in slots:
            offset -= slots[name].length
        proto = mine[(name, version)]
        slots[name] = ProtocolSlot(name, version, offset, proto.length)
        offset += proto.length
    return sorted(slots.values(), key=lambda s: s.offset)


def encode_disconnect(reason: int) -> bytes:
    """The Disconnect payload as geth writes it: the one-element list ``[reason]``."""
    return encode_list([encode_int(reason)])


def _reason_from(payload: bytes) -> int | None:
    try:
        node = decode_first(payload, "Disconnect")
        if not isinstance(node, bytes):
            node = as_list(node, "Disconnect", min_items=1)[0]
        return as_uint(node, "Disconnect reason", bits=8)
    except (RlpxError, DecodeError):
        return None


def decode_disconnect(payload: bytes, *, compressed: bool) -> int:
    """The reason of a received Disconnect; tolerant, as a Disconnect is the last word anyway.

    Accepts geth's ``[reason]`` and @ethereumjs/devp2p's bare, never-compressed integer
    (spec §8.1 #3): with Snappy on, the payload is tried compressed first, then as it is. What
    does not decode at all counts as reason 0, as in geth.
    """
    if compressed:
        try:
            reason = _reason_from(snappy.decompress(payload, limit=MAX_HELLO_SIZE))
        except RlpxError:
            reason = None
        if reason is not None:
            return reason
    reason = _reason_from(payload)
    return DisconnectReason.REQUESTED if reason is None else reason
