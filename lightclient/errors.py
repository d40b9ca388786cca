"""Every error lightclient raises on purpose derives from :class:`LightClientError`.

The tree::

    LightClientError
    ├── InvalidInput            (also a ValueError) bad argument, option or parameter
    ├── DecodeError             bytes that do not decode (RLP, hex, JSON shapes)
    │   └── CompressionError    geth's CompressBytes/DecompressBytes failures
    ├── LimitExceeded           an input past a bound (size, count, connections)
    ├── InvalidProof            a Merkle proof that does not prove what it claims
    ├── SectionError            section maths or trie state that cannot go on
    ├── ConsensusError          a header the chain's consensus engine refuses: carries the
    │                           block number and the rule broken (geth's error name)
    ├── LesProtocolError        an LES peer broke the protocol: carries geth's errCode name
    │                           and the devp2p Disconnect reason to send (0x10 by default)
    ├── RlpxError               an RLPx/devp2p peer sent something we must drop it for,
    │   │                       or the connection failed; carries geth's disconnect reason
    │   └── PeerDisconnected    the peer sent a Disconnect (its reason)
    └── HeaderSourceError       a header source failed or told something untrue
        ├── SourceUnavailable   node down, file unreadable, timeouts after retries
        ├── InvalidHeader       a header whose bytes or hash are wrong
        ├── ChainGap            a block missing from the source
        └── ReorgDetected       parent hashes stopped linking: the chain changed

Each class carries ``rpc_code``: the JSON-RPC error code it becomes at the RPC boundary
(geth answers method errors with -32000, bad parameters with -32602).
"""

from __future__ import annotations

__all__ = [
    "ChainGap",
    "CompressionError",
    "ConsensusError",
    "DecodeError",
    "HeaderSourceError",
    "InvalidHeader",
    "InvalidInput",
    "InvalidProof",
    "LesProtocolError",
    "LightClientError",
    "LimitExceeded",
    "PeerDisconnected",
    "ReorgDetected",
    "RlpxError",
    "SectionError",
    "SourceUnavailable",
]


class LightClientError(Exception):
    """Root of every error lightclient raises on purpose."""

    rpc_code: int = -32000


class InvalidInput(LightClientError, ValueError):
    """An argument, option or parameter is not acceptable."""

    rpc_code = -32602


class DecodeError(LightClientError, ValueError):
    """Bytes (RLP, hex, a JSON shape) that do not decode as expected."""


class CompressionError(DecodeError):
    """geth's bitutil decoding failed; the message is geth's own error string."""


class LimitExceeded(LightClientError, ValueError):
    """An input is past one of the bounds that keep the process safe to expose (body size,
    number of values, batch length, connections); the message names the bound."""


class InvalidProof(LightClientError):
    """A Merkle proof is malformed, incomplete, carries useless nodes or proves a wrong value."""


class LesProtocolError(LightClientError):
    """An LES peer sent something go-ethereum v1.11.6 would drop the connection for.

    ``kind`` is geth's LES error code name (``ErrDecode``, ``ErrMissingKey``,
    ``ErrForkIDRejected``, ...); ``disconnect`` is the devp2p Disconnect reason to send:
    0x10 (DiscSubprotocolError) for almost every LES failure, 0x03 (DiscUselessPeer) or
    0x0b (DiscReadTimeout) where geth uses those.
    """

    DISC_SUBPROTOCOL_ERROR = 0x10

    def __init__(
        self, message: str, *, kind: str = "ErrDecode", disconnect: int = DISC_SUBPROTOCOL_ERROR
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.disconnect = disconnect


class SectionError(LightClientError):
    """Section bookkeeping cannot continue (missing trie state, bad section size, ...)."""


class ConsensusError(LightClientError):
    """A header breaks a consensus rule of its chain (linkage, time, gas, base fee,
    difficulty, seal, signer). ``block`` is its number; ``rule`` names the rule as geth's
    error does (``errInvalidMixDigest``, ``errRecentlySigned``, ...)."""

    def __init__(self, message: str, *, block: int, rule: str) -> None:
        super().__init__(message)
        self.block = block
        self.rule = rule

    def __str__(self) -> str:
        text = super().__str__()
        return text if f"block {self.block}" in text else f"block {self.block}: {text}"


class RlpxError(LightClientError):
    """An RLPx or devp2p failure: a bad handshake, MAC, frame, message or a timeout.

    ``reason`` is the devp2p disconnect reason geth would use (an int; see
    :class:`lightclient.rlpx.p2p.DisconnectReason`). 0x01 (network error) means geth would not
    send a Disconnect but just drop the TCP connection; any other reason is sent first.
    """

    def __init__(self, message: str, reason: int = 0x01) -> None:
        super().__init__(message)
        self.reason = reason


class PeerDisconnected(RlpxError):
    """The peer ended the session with a Disconnect message; ``reason`` is the one it gave."""


class HeaderSourceError(LightClientError):
    """A header source failed, or what it returned cannot be trusted."""

    def __init__(self, message: str, *, block: int | None = None) -> None:
        super().__init__(message)
        self.block = block

    def __str__(self) -> str:
        text = super().__str__()
        if self.block is not None and f"block {self.block}" not in text:
            return f"{text} (block {self.block})"
        return text


class SourceUnavailable(HeaderSourceError):
    """The node is unreachable, a file cannot be read, or retries ran out."""


class InvalidHeader(HeaderSourceError):
    """A header's RLP is malformed or its recomputed hash differs from the claimed one."""


class ChainGap(HeaderSourceError):
    """The source does not have a block that should be there."""


class ReorgDetected(HeaderSourceError):
    """A header's parent hash does not match the previous header: the chain was reorganised."""
