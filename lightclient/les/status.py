"""The LES Status handshake (spec §4.3, §4.4; geth v1.11.6 ``les/peer.go``).

:class:`Status` is the message itself: an ordered key/value list with raw values.
:func:`client_status` and :func:`server_status` build what a geth client or server sends,
keys in geth's order. :func:`check_common`, :func:`judge_server` and :func:`judge_client`
apply geth's checks to a received Status, in geth's order, raising
:class:`LesProtocolError` with geth's error code (every failure is Disconnect 0x10).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.errors import InvalidInput, LesProtocolError
from lightclient.les.codec import (
    encode_int,
    first_item,
    read_big,
    read_fixed,
    read_struct,
    read_uint,
)
from lightclient.les.codes import (
    ANNOUNCE_NONE,
    ANNOUNCE_SIGNED,
    ANNOUNCE_SIMPLE,
    PROTOCOL_LENGTHS,
    MsgCode,
)
from lightclient.les.costs import CostTable
from lightclient.les.forkid import ForkFilter, ForkId
from lightclient.les.keyvalue import (
    Entries,
    decode_entries,
    encode_entries,
    entries_size,
    get_value,
    to_map,
)

__all__ = [
    "ANNOUNCE_NONE",
    "ANNOUNCE_SIGNED",
    "ANNOUNCE_SIMPLE",
    "MAX_STATUS_SIZE",
    "TX_INDEX_DISABLED",
    "TX_INDEX_UNLIMITED",
    "ChainHead",
    "ClientView",
    "ServerOffer",
    "Status",
    "check_common",
    "client_status",
    "judge_client",
    "judge_server",
    "recent_tx_lookup",
    "server_refuses_version",
    "server_status",
]

MAX_STATUS_SIZE = 100_000  # sum of len(key) + len(value) + 8 over the entries
TX_INDEX_UNLIMITED, TX_INDEX_DISABLED = 0, 1
EMPTY = b"\x80"  # the value of flag keys (serveHeaders, txRelay)


@dataclass(frozen=True, slots=True)
class Status:
    """The Status message: ``[[key, value], ...]``, values raw RLP items, order kept."""

    CODE: ClassVar[MsgCode] = MsgCode.STATUS
    entries: Entries

    def encode(self) -> bytes:
        return encode_entries(self.entries)

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        return cls(decode_entries(first_item(payload, "Status"), "Status"))

    def values(self) -> dict[str, bytes]:
        """Key to raw value; a repeated key keeps its last value, as geth's map does."""
        return to_map(self.entries)

    def size(self) -> int:
        return entries_size(self.entries)


@dataclass(frozen=True, slots=True)
class ChainHead:
    """What both sides send first: version, network, head (dummy from clients), genesis."""

    protocol_version: int
    network_id: int
    genesis_hash: bytes
    head_td: int = 0
    head_hash: bytes = bytes(32)
    head_num: int = 0
    fork_id: ForkId | None = None  # sent and required on les/4 only

    def entries(self) -> list[tuple[str, bytes]]:
        out = [
            ("protocolVersion", encode_int(self.protocol_version)),
            ("networkId", encode_int(self.network_id)),
            ("headTd", encode_int(self.head_td)),
            ("headHash", _b32(self.head_hash)),
            ("headNum", encode_int(self.head_num)),
            ("genesisHash", _b32(self.genesis_hash)),
        ]
        if self.protocol_version >= 4:
            if self.fork_id is None:
                raise InvalidInput("les/4 Status needs a fork ID")
            out.append(("forkID", self.fork_id.encode()))
        return out


def _b32(value: bytes) -> bytes:
    if len(value) != 32:
        raise InvalidInput("a hash is 32 bytes")
    return b"\xa0" + value


def recent_tx_lookup(tx_lookup_limit: int, only_announce: bool = False) -> int:
    """The ``recentTxLookup`` a geth server announces for its ``--txlookuplimit``."""
    if only_announce:
        return TX_INDEX_DISABLED
    if tx_lookup_limit == 0:
        return TX_INDEX_UNLIMITED
    if tx_lookup_limit < 4:
        return TX_INDEX_DISABLED
    return tx_lookup_limit - 3  # minus the safety margin 4, plus the offset 1


@dataclass(frozen=True, slots=True)
class ServerOffer:
    """What a server adds to its Status: serving ranges, flow control, checkpoint."""

    buf_limit: int
    min_recharge: int
    costs: CostTable
    serve_headers: bool = True
    serve_chain_since: int | None = 0
    serve_recent_chain: int | None = None  # geth never sends it
    serve_state_since: int | None = 0
    serve_recent_state: int | None = 124  # 0 on an archive node
    tx_relay: bool = True
    recent_tx_lookup: int = TX_INDEX_UNLIMITED  # sent on les/4 only
    checkpoint: TrustedCheckpoint | None = None
    register_height: int | None = None

    @property
    def only_announce(self) -> bool:
        """geth's view: a missing serveChainSince, serveStateSince or txRelay."""
        return None in (self.serve_chain_since, self.serve_state_since) or not self.tx_relay

    def entries(self, version: int) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        if self.serve_headers:
            out.append(("serveHeaders", EMPTY))
        for key, value in (
            ("serveChainSince", self.serve_chain_since),
            ("serveRecentChain", self.serve_recent_chain),
            ("serveStateSince", self.serve_state_since),
            ("serveRecentState", self.serve_recent_state),
        ):
            if value is not None:
                out.append((key, encode_int(value)))
        if self.tx_relay:
            out.append(("txRelay", EMPTY))
        if version >= 4:
            out.append(("recentTxLookup", encode_int(self.recent_tx_lookup)))
        out += [
            ("flowControl/BL", encode_int(self.buf_limit)),
            ("flowControl/MRR", encode_int(self.min_recharge)),
            ("flowControl/MRC", self.costs.encode()),
        ]
        if self.checkpoint is not None:
            out.append(("checkpoint/value", self.checkpoint.rlp()))
            out.append(("checkpoint/registerHeight", encode_int(self.register_height or 0)))
        return out


def server_refuses_version(version: int, recent_tx: int) -> bool:
    """A geth server refuses les/2 and les/3 (no Status sent, Disconnect 0x10) unless its
    tx index is unlimited; a default server therefore serves les/4 only."""
    return version < 4 and recent_tx != TX_INDEX_UNLIMITED


def client_status(head: ChainHead, announce_type: int = ANNOUNCE_SIMPLE) -> Status:
    """A geth client's Status: dummy head (TD 0, zero hash, 0), then ``announceType``."""
    return Status((*head.entries(), ("announceType", encode_int(announce_type))))


def server_status(head: ChainHead, offer: ServerOffer) -> Status:
    """A geth server's Status, keys in geth's order."""
    return Status((*head.entries(), *offer.entries(head.protocol_version)))


# ---------------------------------------------------------------- receiving


def check_common(
    status: Status,
    *,
    version: int,
    network_id: int,
    genesis_hash: bytes,
    fork_filter: ForkFilter | None = None,
    head: int = 0,
    time: int = 0,
) -> dict[str, bytes]:
    """geth's checks for both sides, in its order; returns the key map for the rest.

    ``fork_filter`` with the local ``head`` number and ``time`` judges the remote fork ID
    (required on les/4).
    """
    if status.size() > MAX_STATUS_SIZE:
        raise LesProtocolError("Status list too large", kind="ErrRequestRejected")
    values = status.values()
    r_version = get_value(values, "protocolVersion", read_uint)
    r_network = get_value(values, "networkId", read_uint)
    r_genesis = get_value(values, "genesisHash", _read_b32)
    if r_genesis != genesis_hash:
        raise LesProtocolError(
            f"genesis {r_genesis[:8].hex()} (!= {genesis_hash[:8].hex()})",
            kind="ErrGenesisBlockMismatch",
        )
    if r_network != network_id:
        raise LesProtocolError(
            f"network {r_network} (!= {network_id})", kind="ErrNetworkIdMismatch"
        )
    if r_version != version:
        raise LesProtocolError(
            f"version {r_version} (!= {version})", kind="ErrProtocolVersionMismatch"
        )
    if version >= 4:
        remote = get_value(values, "forkID", ForkId.decode)
        if fork_filter is not None:
            fork_filter.check(remote, head, time)
    return values


def _read_b32(raw: bytes, what: str) -> bytes:
    return read_fixed(raw, 32, what)


def _optional_uint(values: dict[str, bytes], key: str) -> int | None:
    """A uint that geth reads with "absent or undecodable means absent"."""
    try:
        return get_value(values, key, read_uint)
    except LesProtocolError:
        return None


def _read_checkpoint(raw: bytes, what: str) -> TrustedCheckpoint:
    index, head, cht, bloom = read_struct(raw, 4, what)
    return TrustedCheckpoint(
        read_uint(index, what), _read_b32(head, what), _read_b32(cht, what), _read_b32(bloom, what)
    )


def _optional_checkpoint(values: dict[str, bytes]) -> TrustedCheckpoint | None:
    try:
        return get_value(values, "checkpoint/value", _read_checkpoint)
    except LesProtocolError:
        return None


def judge_server(
    values: dict[str, bytes], *, version: int, trusted: bool = False
) -> tuple[ChainHead, ServerOffer]:
    """A geth client's checks of a server's Status, after :func:`check_common`.

    Returns the server's head (``ChainHead``; version, network and genesis already
    checked) and what it offers. An announce-only server is refused unless ``trusted``
    (a ULC server); so is one whose cost list lacks any of the eight request codes.
    """
    head = ChainHead(
        version,
        get_value(values, "networkId", read_uint),
        get_value(values, "genesisHash", _read_b32),
        get_value(values, "headTd", read_big),
        get_value(values, "headHash", _read_b32),
        get_value(values, "headNum", read_uint),
        get_value(values, "forkID", ForkId.decode) if version >= 4 else None,
    )
    chain_since = _optional_uint(values, "serveChainSince")
    state_since = _optional_uint(values, "serveStateSince")
    tx_relay = "txRelay" in values  # presence only; the value is never decoded
    if version >= 4:
        recent_tx = get_value(values, "recentTxLookup", read_uint)
    else:
        recent_tx = TX_INDEX_UNLIMITED
    only_announce = chain_since is None or state_since is None or not tx_relay
    if only_announce and not trusted:
        raise LesProtocolError("peer cannot serve requests", kind="ErrUselessPeer")
    buf_limit = get_value(values, "flowControl/BL", read_uint)
    min_recharge = get_value(values, "flowControl/MRR", read_uint)
    length = PROTOCOL_LENGTHS[version]
    costs = get_value(values, "flowControl/MRC", lambda raw, w: CostTable.decode(raw, length, w))
    checkpoint = _optional_checkpoint(values)
    register_height = _optional_uint(values, "checkpoint/registerHeight")
    if not only_announce and not costs.covers_all_requests():
        raise LesProtocolError("peer does not price every request", kind="ErrUselessPeer")
    offer = ServerOffer(
        buf_limit,
        min_recharge,
        costs,
        serve_headers="serveHeaders" in values,
        serve_chain_since=chain_since,
        serve_recent_chain=_optional_uint(values, "serveRecentChain"),
        serve_state_since=state_since,
        serve_recent_state=_optional_uint(values, "serveRecentState"),
        tx_relay=tx_relay,
        recent_tx_lookup=recent_tx,
        checkpoint=checkpoint,
        register_height=register_height,
    )
    return head, offer


@dataclass(frozen=True, slots=True)
class ClientView:
    """What a geth server makes of a client's Status."""

    is_server: bool  # flowControl/MRR present: another server; geth serves it nothing
    announce_type: int


def judge_client(values: dict[str, bytes]) -> ClientView:
    """A geth server's reading of a client's Status, after :func:`check_common`."""
    if "flowControl/MRR" in values:
        return ClientView(True, ANNOUNCE_NONE)
    announce = _optional_uint(values, "announceType")
    return ClientView(False, ANNOUNCE_SIMPLE if announce is None else announce)
