"""LES Announce (code 0x01): head announcements, signed announcements and flow-control
parameter updates (spec §5, §7.6; geth v1.11.6 ``les/protocol.go``, ``les/peer.go``).

Layout: ``[headHash, headNumber, headTd, reorgDepth, [[key, value], ...]]``.
A signed announce carries ``["sign", sig]`` where ``sig`` (65 bytes R‖S‖V, V in {0,1})
signs ``keccak256(rlp([headHash, headNumber, headTd]))`` with the server's node key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Self

from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError

from lightclient.core.keccak import keccak
from lightclient.errors import InvalidInput, LesProtocolError
from lightclient.les.codec import (
    MAX_UINT64,
    encode_bytes,
    encode_int,
    encode_list,
    first_item,
    read_big,
    read_bytes,
    read_fixed,
    read_struct,
    read_uint,
)
from lightclient.les.codes import ANNOUNCE_NONE, ANNOUNCE_SIGNED, MsgCode
from lightclient.les.costs import CostTable
from lightclient.les.flowcontrol import Now
from lightclient.les.keyvalue import (
    Entries,
    decode_entries,
    encode_entries,
    entries_size,
    get_value,
    to_map,
)

__all__ = [
    "MAX_TD_BITS",
    "MAX_UPDATE_BYTES",
    "Announce",
    "UpdateAllowance",
    "block_info_digest",
    "block_info_rlp",
    "capacity_update",
    "check_head_announce",
    "cost_update",
    "flow_params",
    "sign_announce",
    "verify_announce",
]

MAX_TD_BITS = 100  # a geth client refuses an announced TD longer than this
MAX_UPDATE_BYTES = 100_000  # the client's allowance for update lists
UPDATE_RATE = 10_000_000  # ns per byte of allowance recharged
BUF_LIMIT_RATIO = 6000
ZERO_HASH = bytes(32)


@dataclass(frozen=True, slots=True)
class Announce:
    """A head announcement, or (zero head hash) a parameter update."""

    CODE: ClassVar[MsgCode] = MsgCode.ANNOUNCE
    head_hash: bytes
    head_number: int
    head_td: int
    reorg_depth: int = 0
    update: Entries = ()

    def __post_init__(self) -> None:
        if len(self.head_hash) != 32:
            raise InvalidInput("head hash must be 32 bytes")
        for name in ("head_number", "reorg_depth"):
            if not 0 <= getattr(self, name) <= MAX_UINT64:
                raise InvalidInput(f"{name} is not a uint64")
        if self.head_td < 0:
            raise InvalidInput("TD is non-negative")

    @property
    def is_head(self) -> bool:
        """False for a pure parameter update (zero head hash)."""
        return self.head_hash != ZERO_HASH

    def encode(self) -> bytes:
        return encode_list(
            [
                encode_bytes(self.head_hash),
                encode_int(self.head_number),
                encode_int(self.head_td),
                encode_int(self.reorg_depth),
                encode_entries(self.update),
            ]
        )

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        fields = read_struct(first_item(payload, "Announce"), 5, "Announce")
        return cls(
            read_fixed(fields[0], 32, "Announce.headHash"),
            read_uint(fields[1], "Announce.headNumber"),
            read_big(fields[2], "Announce.headTd"),
            read_uint(fields[3], "Announce.reorgDepth"),
            decode_entries(fields[4], "Announce update"),
        )

    def sanity_check(self) -> None:
        """A geth client's first check: the TD fits in 100 bits."""
        if self.head_td.bit_length() > MAX_TD_BITS:
            raise LesProtocolError(
                f"too large block TD: bitlen {self.head_td.bit_length()}", kind="ErrDecode"
            )

    def update_size(self) -> int:
        """Bytes counted against the client's 100 000-byte update allowance."""
        return entries_size(self.update)


def block_info_rlp(head_hash: bytes, number: int, td: int) -> bytes:
    """``rlp([hash, number, td])``: what a signed announce commits to."""
    return encode_list([encode_bytes(head_hash), encode_int(number), encode_int(td)])


def block_info_digest(head_hash: bytes, number: int, td: int) -> bytes:
    return keccak(block_info_rlp(head_hash, number, td))


def sign_announce(announce: Announce, private_key: bytes) -> Announce:
    """The announce with ``["sign", sig]`` appended to its update list (RFC 6979)."""
    digest = block_info_digest(announce.head_hash, announce.head_number, announce.head_td)
    signature = PrivateKey(private_key).sign_msg_hash(digest).to_bytes()
    return replace(announce, update=(*announce.update, ("sign", encode_bytes(signature))))


def verify_announce(announce: Announce, node_id: bytes) -> None:
    """Check a signed announce came from the peer with ``node_id`` (keccak of its pubkey).

    Raises :class:`LesProtocolError`: ErrMissingKey without a signature, ErrDecode for a
    malformed one, ``wrong signature`` when it recovers to another key.
    """
    signature = get_value(to_map(announce.update), "sign", read_bytes)
    digest = block_info_digest(announce.head_hash, announce.head_number, announce.head_td)
    try:
        public = Signature(signature).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError, ValueError) as exc:
        raise LesProtocolError(f"invalid announce signature: {exc}", kind="ErrDecode") from None
    if keccak(public.to_bytes()) != node_id:
        raise LesProtocolError("wrong signature", kind="ErrDecode")


def capacity_update(capacity: int) -> Announce:
    """The update a server sends when a client's capacity changes: MRR, then BL = cap x 6000."""
    update = (
        ("flowControl/MRR", encode_int(capacity)),
        ("flowControl/BL", encode_int(capacity * BUF_LIMIT_RATIO)),
    )
    return Announce(ZERO_HASH, 0, 0, 0, update)


def flow_params(update: Entries) -> tuple[int, int] | None:
    """(BL, MRR) from an update list, or None unless *both* are present and decode
    (geth then leaves the parameters alone; it is not an error)."""
    values = to_map(update)
    try:
        return (
            get_value(values, "flowControl/BL", read_uint),
            get_value(values, "flowControl/MRR", read_uint),
        )
    except LesProtocolError:
        return None


def cost_update(update: Entries, protocol_length: int) -> CostTable | None:
    """The ``flowControl/MRC`` entries to merge into the server's costs, if present and
    decodable (entries past ``protocol_length`` dropped)."""
    raw = to_map(update).get("flowControl/MRC")
    if raw is None:
        return None
    try:
        return CostTable.decode(raw, protocol_length)
    except LesProtocolError:
        return None


def check_head_announce(announce: Announce, announce_type: int, node_id: bytes) -> None:
    """A geth client's checks of a head announcement (non-zero hash) from ``node_id``,
    after :meth:`Announce.sanity_check`: the client must have asked for announcements
    (ErrUnexpectedResponse otherwise) and, when it asked for signed ones, the signature
    must be the server's."""
    if not announce.is_head:
        return
    if announce_type == ANNOUNCE_NONE:
        raise LesProtocolError("announcement not requested", kind="ErrUnexpectedResponse")
    if announce_type == ANNOUNCE_SIGNED:
        verify_announce(announce, node_id)


class UpdateAllowance:
    """The client's budget for Announce update lists: 100 000 bytes, recharging one byte
    per 10 ms (geth ``serverPeer.rejectUpdate``); time in ns from an injected clock."""

    def __init__(self, clock: Now) -> None:
        self._clock = clock
        self._count = 0
        self._time = 0

    def reject(self, size: int) -> bool:
        """Count ``size`` bytes; True means ErrRequestRejected (Disconnect 0x10)."""
        now = self._clock.now()
        if self._count:
            self._count = max(self._count - max(now - self._time, 0) // UPDATE_RATE, 0)
        self._time = now
        self._count += size
        return self._count > MAX_UPDATE_BYTES
