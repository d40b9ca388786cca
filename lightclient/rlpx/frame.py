"""RLPx framing after the handshake: AES-256-CTR frames with keccak MACs (spec §1.7-1.8).

Sans-IO: :class:`FrameCodec` turns ``(code, payload)`` into wire bytes and back, keeping the two
CTR keystreams and MAC states of one session. Reading is two steps, as the wire forces: a 32-byte
header (checked, then decrypted) says how many bytes the body takes. Every failure is an
:class:`RlpxError` with reason 0x01: geth treats it as a read error and drops the connection.
"""

from __future__ import annotations

import hmac
from typing import Any

from Crypto.Cipher import AES

from lightclient.core.keccak import KeccakState
from lightclient.errors import RlpxError
from lightclient.rlpx.handshake import Secrets

__all__ = ["HEADER_SIZE", "MAX_FRAME_SIZE", "FrameCodec", "split_code"]

HEADER_SIZE = 32  # header ciphertext + header MAC
MAC_SIZE = 16
MAX_FRAME_SIZE = 0xFFFFFF
_HEADER_DATA = b"\xc2\x80\x80"  # [capability-id 0, context-id 0]; geth writes it, never reads it


def _xor16(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(16, "big")


def _padded(size: int) -> int:
    return (size + 15) & ~15


def split_code(frame_data: bytes) -> tuple[int, bytes]:
    """The canonical RLP uint message code at the start of ``frame_data``, and the rest."""
    if not frame_data:
        raise RlpxError("invalid message code: empty frame")
    first = frame_data[0]
    if first < 0x80:
        if first == 0:
            raise RlpxError("invalid message code: non-canonical integer 00")
        return first, frame_data[1:]
    n = first - 0x80
    if n > 8:
        raise RlpxError("invalid message code: not a uint64")
    raw = frame_data[1 : 1 + n]
    if len(raw) != n:
        raise RlpxError("invalid message code: truncated")
    if (n and raw[0] == 0) or (n == 1 and raw[0] < 0x80):
        raise RlpxError("invalid message code: non-canonical integer")
    return int.from_bytes(raw, "big"), frame_data[1 + n :]


def _code_bytes(code: int) -> bytes:
    if code < 0 or code >= 1 << 64:
        raise RlpxError(f"message code {code} is not a uint64")
    if 0 < code < 0x80:
        return bytes((code,))
    raw = code.to_bytes((code.bit_length() + 7) // 8, "big")
    return bytes((0x80 + len(raw),)) + raw


class _Mac:
    """One direction's MAC: the running keccak and the AES-256-ECB block cipher."""

    def __init__(self, mac_secret: bytes, state: KeccakState) -> None:
        self._aes = AES.new(mac_secret, AES.MODE_ECB)
        self._state = state

    def _head(self) -> bytes:
        return self._state.digest()[:MAC_SIZE]

    def header(self, header_ciphertext: bytes) -> bytes:
        self._state.update(_xor16(self._aes.encrypt(self._head()), header_ciphertext))
        return self._head()

    def frame(self, frame_ciphertext: bytes) -> bytes:
        self._state.update(frame_ciphertext)
        seed = self._head()
        self._state.update(_xor16(self._aes.encrypt(seed), seed))
        return self._head()


class FrameCodec:
    """Encrypts egress frames and decrypts ingress frames for one session."""

    def __init__(self, secrets: Secrets, *, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        def ctr() -> Any:  # pycryptodome ships no type hints
            return AES.new(secrets.aes_secret, AES.MODE_CTR, nonce=b"", initial_value=bytes(16))

        self._enc, self._dec = ctr(), ctr()
        self._egress = _Mac(secrets.mac_secret, secrets.egress_mac)
        self._ingress = _Mac(secrets.mac_secret, secrets.ingress_mac)
        self.max_frame_size = min(max_frame_size, MAX_FRAME_SIZE)
        self._pending: int | None = None

    def encode(self, code: int, payload: bytes) -> bytes:
        """The wire bytes of one message (``payload`` already compressed if Snappy is on)."""
        data = _code_bytes(code) + payload
        size = len(data)
        if size > MAX_FRAME_SIZE:
            raise RlpxError("message length >= 16MB")
        header = self._enc.encrypt(size.to_bytes(3, "big") + _HEADER_DATA + bytes(10))
        body = self._enc.encrypt(data + bytes(_padded(size) - size))
        return b"".join((header, self._egress.header(header), body, self._egress.frame(body)))

    def decode_header(self, header: bytes) -> int:
        """Check and decrypt a 32-byte frame header; returns how many body bytes to read next."""
        if len(header) != HEADER_SIZE or self._pending is not None:
            raise RlpxError("frame header expected")
        ciphertext, mac = header[:16], header[16:]
        if not hmac.compare_digest(self._ingress.header(ciphertext), mac):
            raise RlpxError("bad header MAC")
        size = int.from_bytes(self._dec.encrypt(ciphertext)[:3], "big")
        if size > self.max_frame_size:
            raise RlpxError(f"frame size {size} above the limit {self.max_frame_size}")
        self._pending = size
        return _padded(size) + MAC_SIZE

    def decode_body(self, body: bytes) -> tuple[int, bytes]:
        """Check and decrypt the body announced by the last header: ``(code, payload)``."""
        size, self._pending = self._pending, None
        if size is None or len(body) != _padded(size) + MAC_SIZE:
            raise RlpxError("frame body of the wrong length")
        ciphertext, mac = body[:-MAC_SIZE], body[-MAC_SIZE:]
        if not hmac.compare_digest(self._ingress.frame(ciphertext), mac):
            raise RlpxError("bad frame MAC")
        return split_code(self._dec.encrypt(ciphertext)[:size])
