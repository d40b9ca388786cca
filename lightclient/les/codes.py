"""LES message codes, versions, protocol lengths and the §6.1 serving limits (spec §4.1,
§4.2, §6.1; geth v1.11.6 ``les/protocol.go``, ``params/network_params.go``).

Codes are relative to the LES offset in the devp2p message-ID space (0x10 when LES is the
only shared capability).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "ANNOUNCE_NONE",
    "ANNOUNCE_SIGNED",
    "ANNOUNCE_SIMPLE",
    "CLIENT_ACCEPTS",
    "DISC_QUITTING",
    "DISC_READ_TIMEOUT",
    "DISC_REQUESTED",
    "DISC_SUBPROTOCOL_ERROR",
    "DISC_USELESS_PEER",
    "HANDSHAKE_TIMEOUT",
    "MAX_COUNT",
    "PROTOCOL_LENGTHS",
    "PROTOCOL_MAX_MSG_SIZE",
    "REPLY_CODES",
    "REPLY_FOR",
    "REQUEST_CODES",
    "SUPPORTED_VERSIONS",
    "MsgCode",
    "client_accepts",
    "server_accepts",
]


class MsgCode(IntEnum):
    STATUS = 0x00
    ANNOUNCE = 0x01
    GET_BLOCK_HEADERS = 0x02
    BLOCK_HEADERS = 0x03
    GET_BLOCK_BODIES = 0x04
    BLOCK_BODIES = 0x05
    GET_RECEIPTS = 0x06
    RECEIPTS = 0x07
    GET_CODE = 0x0A
    CODE = 0x0B
    GET_PROOFS_V2 = 0x0F
    PROOFS_V2 = 0x10
    GET_HELPER_TRIE_PROOFS = 0x11
    HELPER_TRIE_PROOFS = 0x12
    SEND_TX_V2 = 0x13
    GET_TX_STATUS = 0x14
    TX_STATUS = 0x15
    STOP = 0x16
    RESUME = 0x17


SUPPORTED_VERSIONS = (2, 3, 4)  # geth offers all three, as server and as client
# Number of message codes each version reserves (les/2 ends at TxStatus).
PROTOCOL_LENGTHS = {2: 22, 3: 24, 4: 24}
PROTOCOL_MAX_MSG_SIZE = 10 * 1024 * 1024  # any LES message, decompressed
HANDSHAKE_TIMEOUT = 5_000_000_000  # ns for the whole Status exchange

# The eight codes a geth server serves, and the reply each one gets.
REQUEST_CODES = frozenset(
    {
        MsgCode.GET_BLOCK_HEADERS,
        MsgCode.GET_BLOCK_BODIES,
        MsgCode.GET_RECEIPTS,
        MsgCode.GET_CODE,
        MsgCode.GET_PROOFS_V2,
        MsgCode.GET_HELPER_TRIE_PROOFS,
        MsgCode.SEND_TX_V2,
        MsgCode.GET_TX_STATUS,
    }
)
REPLY_FOR = {
    MsgCode.GET_BLOCK_HEADERS: MsgCode.BLOCK_HEADERS,
    MsgCode.GET_BLOCK_BODIES: MsgCode.BLOCK_BODIES,
    MsgCode.GET_RECEIPTS: MsgCode.RECEIPTS,
    MsgCode.GET_CODE: MsgCode.CODE,
    MsgCode.GET_PROOFS_V2: MsgCode.PROOFS_V2,
    MsgCode.GET_HELPER_TRIE_PROOFS: MsgCode.HELPER_TRIE_PROOFS,
    MsgCode.SEND_TX_V2: MsgCode.TX_STATUS,
    MsgCode.GET_TX_STATUS: MsgCode.TX_STATUS,
}
REPLY_CODES = frozenset(REPLY_FOR.values())
CLIENT_ACCEPTS = REPLY_CODES | {MsgCode.ANNOUNCE}

# §6.1: the largest item count each request may carry (headers: ``amount``; others: the
# list length). A count of 0 or above this is dropped without a reply.
MAX_COUNT = {
    MsgCode.GET_BLOCK_HEADERS: 192,  # MaxHeaderFetch
    MsgCode.GET_BLOCK_BODIES: 32,  # MaxBodyFetch
    MsgCode.GET_RECEIPTS: 128,  # MaxReceiptFetch
    MsgCode.GET_CODE: 64,  # MaxCodeFetch
    MsgCode.GET_PROOFS_V2: 64,  # MaxProofsFetch
    MsgCode.GET_HELPER_TRIE_PROOFS: 64,  # MaxHelperTrieProofsFetch
    MsgCode.SEND_TX_V2: 64,  # MaxTxSend
    MsgCode.GET_TX_STATUS: 256,  # MaxTxStatus
}

# announceType values a client puts in its Status (spec §5.2).
ANNOUNCE_NONE, ANNOUNCE_SIMPLE, ANNOUNCE_SIGNED = 0, 1, 2

# devp2p Disconnect reasons LES uses (spec §2.3).
DISC_REQUESTED = 0x00
DISC_USELESS_PEER = 0x03
DISC_QUITTING = 0x08
DISC_READ_TIMEOUT = 0x0B
DISC_SUBPROTOCOL_ERROR = 0x10


def server_accepts(code: int) -> bool:
    """Whether a geth server handles ``code`` after the handshake (else ErrInvalidMsgCode)."""
    return code in REQUEST_CODES


def client_accepts(code: int, version: int) -> bool:
    """Whether a geth client handles ``code`` from a server speaking les/``version``."""
    if code in (MsgCode.STOP, MsgCode.RESUME):
        return version >= 3
    return code in CLIENT_ACCEPTS
