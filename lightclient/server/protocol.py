"""The light-serving protocol: what a light client and a light server say over WebSocket.

JSON messages (hex strings for bytes), modelled on LES/4's requests and costs:

1. server -> ``{"type": "challenge", "protocol": "lightclient/1", "nonce", "genesis",
   "sectionSize", "head": {"number", "hash"}, "checkpoint": {...} | null}``, or
   ``{"type": "refused", "reason"}`` when the server is at a connection or handshake bound.
2. client -> ``{"type": "hello", "pubkey": "0x<64 bytes>", "signature": "0x<65 bytes>"}``:
   a secp256k1 signature of :func:`auth_digest` (nonce) by the client's node key; the node ID
   is keccak256(pubkey), the enode ID.
3. server -> ``{"type": "welcome", "nodeId", "capacity", "bufLimit", "minRecharge", "costs"}``
   or ``{"type": "refused", "reason"}`` and the socket closes.
4. then requests ``{"id", "method", "params"}`` and answers ``{"id", "result", "bv"}`` /
   ``{"id", "error": {"code", "message"}, "bv"}``; ``bv`` is the client's buffer value.
   The server may send ``{"type": "capacity", "capacity", "bufLimit", "minRecharge"}`` and
   ``{"type": "announce", "head": {...}}`` at any time.
5. Flow control as geth's LES/3+: a request that costs more than the client's buffer holds
   is refused (``ERR_BUFFER``) and freezes the client: the server sends ``{"type": "stop"}``,
   refuses every request while frozen, and after 700 ms plus a random 0-600 ms, once the
   buffer is above 1/8 of its limit (checked every 100 ms), sends
   ``{"type": "resume", "bv"}``. Clients wait for the resume before sending more.
6. Every malformed message (not JSON, a binary frame, a wrong shape, an unknown method) and
   every request for a section the server does not have counts as an error against the node
   ID, across connections; past ``MAX_REQUEST_ERRORS`` the server hangs up and refuses that
   ID until the count has decayed (one per hour).

Methods: ``getHeaders`` {origin: number or hash, amount, skip, reverse}; ``getHelperTrieProofs``
{type: 0 (CHT) or 1 (BloomTrie), trieIdx, keys: [hex], auxReq: 0 or 2} -> {proofs, auxData};
``getHead``; ``getCheckpoint``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lightclient.core.keccak import keccak

__all__ = [
    "BUF_LIMIT_RATIO",
    "COSTS",
    "ERROR_DECAY",
    "ERR_BUFFER",
    "ERR_INACTIVE",
    "ERR_INVALID",
    "ERR_UNAVAILABLE",
    "FREEZE_BASE",
    "FREEZE_CHECK",
    "FREEZE_RANDOM",
    "HELLO_TIMEOUT",
    "MAX_CONNECTIONS",
    "MAX_CONNECTIONS_PER_IP",
    "MAX_HELLO_SIZE",
    "MAX_MESSAGE_SIZE",
    "MAX_OFFENDERS",
    "MAX_PENDING_HANDSHAKES",
    "MAX_PENDING_PER_IP",
    "MAX_REQUEST_ERRORS",
    "PROTOCOL",
    "RESUME_FRACTION",
    "Cost",
    "auth_digest",
]

PROTOCOL = "lightclient/1"
# Freeze timing (geth les/peer.go): fixed and random parts of the freeze, then the period of
# the buffer checks; a frozen client resumes once its buffer is above 1/8 of the limit.
FREEZE_BASE = 700 * 1_000_000  # ns
FREEZE_RANDOM = 600 * 1_000_000  # ns
FREEZE_CHECK = 100 * 1_000_000  # ns
RESUME_FRACTION = 8
BUF_LIMIT_RATIO = 6000  # buffer limit = capacity * 6000 (6 s of recharge), as geth
MAX_REQUEST_ERRORS = 20  # invalid requests before the server hangs up
ERROR_DECAY = 3600 * 10**9  # ns: the count of invalid requests drops by one per hour
MAX_OFFENDERS = 10_000  # node IDs whose error counts are remembered across connections

# Bounds on the light endpoint (over one: refused with a reason, the socket closed).
MAX_CONNECTIONS = 512  # open light sockets, handshaking or admitted (the pool admits fewer)
MAX_CONNECTIONS_PER_IP = 16
MAX_PENDING_HANDSHAKES = 64  # sockets between the challenge and an accepted hello
MAX_PENDING_PER_IP = 4
HELLO_TIMEOUT = 10.0  # seconds a client has to answer the challenge
MAX_MESSAGE_SIZE = 1 << 20  # bytes in any one message (the largest request is ~2 KiB)
MAX_HELLO_SIZE = 4096  # bytes in a hello (an honest one is ~320)

ERR_INVALID = -32602  # malformed request
ERR_UNAVAILABLE = -32001  # the server does not have what was asked
ERR_BUFFER = -32005  # flow-control buffer exceeded: the client is frozen for a while
ERR_INACTIVE = -32006  # the client has no capacity (waiting in the pool)

HT_CANONICAL = 0
HT_BLOOMBITS = 1
AUX_HEADER = 2


@dataclass(frozen=True, slots=True)
class Cost:
    base: int
    per_item: int
    max_count: int

    def max_cost(self, count: int) -> int:
        return self.base + count * self.per_item


# geth's max-cost list with default settings (spec §5.1): headers {300000, 60000},
# helper-trie proofs {0, 2000000}; head and checkpoint queries are small fixed costs.
COSTS = {
    "getHeaders": Cost(300_000, 60_000, 192),
    "getHelperTrieProofs": Cost(0, 2_000_000, 64),
    "getHead": Cost(50_000, 0, 1),
    "getCheckpoint": Cost(50_000, 0, 1),
}


def auth_digest(nonce: bytes) -> bytes:
    """What a client signs to prove its node ID for one connection."""
    return keccak(b"lightclient/1 auth:" + nonce)
