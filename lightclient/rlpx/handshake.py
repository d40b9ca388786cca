"""The RLPx handshake: EIP-8 auth and ack packets, both sides, the secrets (spec §1.3-1.6).

Sans-IO: :class:`Initiator` and :class:`Recipient` turn packets into packets and finally into
:class:`Secrets`; :mod:`lightclient.rlpx.session` moves the bytes.

Only the EIP-8 form is read and written. geth v1.11.6 does the same (it always reads a 2-byte
size prefix), so a pre-EIP-8 peer could not talk to geth either; accepting it would add a second
parser for no peer we need. The pre-EIP-8 vectors are still decrypted in the tests through
:func:`lightclient.rlpx.ecies.decrypt`.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

import coincurve

from lightclient.core.keccak import KeccakState, keccak, keccak_state
from lightclient.core.rlpcodec import Node, encode_bytes, encode_int, encode_list, encode_node
from lightclient.errors import RlpxError
from lightclient.rlpx import ecies
from lightclient.rlpx.keys import (
    PUBKEY_SIZE,
    SIGNATURE_SIZE,
    ecdh,
    generate_private_key,
    load_public_key,
    public_key_of,
    recover,
    sign,
)
from lightclient.rlpx.rlpvalues import as_bytes, as_list, as_uint, decode_first

__all__ = [
    "HANDSHAKE_VERSION",
    "AckMessage",
    "AuthMessage",
    "Initiator",
    "Recipient",
    "Secrets",
    "decode_ack",
    "decode_auth",
    "derive_secrets",
    "open_packet",
    "seal_packet",
]

HANDSHAKE_VERSION = 4
NONCE_SIZE = 32
PREFIX_SIZE = 2
MAX_PACKET = 0xFFFF + PREFIX_SIZE


@dataclass(frozen=True)
class AuthMessage:
    """The initiator's EIP-8 auth body; ``rest`` holds ignored trailing elements."""

    signature: bytes
    pubkey: bytes
    nonce: bytes
    version: int = HANDSHAKE_VERSION
    rest: tuple[Node, ...] = ()

    def encode(self) -> bytes:
        items = [encode_bytes(self.signature), encode_bytes(self.pubkey), encode_bytes(self.nonce)]
        return encode_list([*items, encode_int(self.version), *map(encode_node, self.rest)])


@dataclass(frozen=True)
class AckMessage:
    """The recipient's EIP-8 ack body; ``rest`` holds ignored trailing elements."""

    ephemeral_pubkey: bytes
    nonce: bytes
    version: int = HANDSHAKE_VERSION
    rest: tuple[Node, ...] = ()

    def encode(self) -> bytes:
        items = [encode_bytes(self.ephemeral_pubkey), encode_bytes(self.nonce)]
        return encode_list([*items, encode_int(self.version), *map(encode_node, self.rest)])


@dataclass
class Secrets:
    """What the handshake yields: frame keys, both MAC states, and who the peer is."""

    aes_secret: bytes
    mac_secret: bytes
    egress_mac: KeccakState = field(repr=False)
    ingress_mac: KeccakState = field(repr=False)
    remote_pubkey: bytes


def decode_auth(plaintext: bytes) -> AuthMessage:
    """The auth body at the start of a decrypted auth packet (padding and extras ignored)."""
    items = as_list(decode_first(plaintext, "auth"), "auth", min_items=4)
    return AuthMessage(
        signature=as_bytes(items[0], "auth signature", SIGNATURE_SIZE),
        pubkey=as_bytes(items[1], "auth public key", PUBKEY_SIZE),
        nonce=as_bytes(items[2], "auth nonce", NONCE_SIZE),
        version=as_uint(items[3], "auth version", bits=64),
        rest=tuple(items[4:]),
    )


def decode_ack(plaintext: bytes) -> AckMessage:
    """The ack body at the start of a decrypted ack packet (padding and extras ignored)."""
    items = as_list(decode_first(plaintext, "ack"), "ack", min_items=3)
    return AckMessage(
        ephemeral_pubkey=as_bytes(items[0], "ack ephemeral key", PUBKEY_SIZE),
        nonce=as_bytes(items[1], "ack nonce", NONCE_SIZE),
        version=as_uint(items[2], "ack version", bits=64),
        rest=tuple(items[3:]),
    )


def seal_packet(
    body: bytes,
    pubkey: bytes,
    *,
    padding: int | None = None,
    ephemeral: coincurve.PrivateKey | None = None,
    iv: bytes | None = None,
) -> bytes:
    """``size || ECIES(pubkey, body || zeros)``; zero padding of 100-199 bytes as geth pads."""
    if padding is None:
        padding = 100 + random.randrange(100)
    plaintext = body + bytes(padding)
    size = len(plaintext) + ecies.OVERHEAD
    if size > 0xFFFF:
        raise RlpxError("handshake packet too large")
    prefix = size.to_bytes(PREFIX_SIZE, "big")
    return prefix + ecies.encrypt(pubkey, plaintext, prefix, ephemeral=ephemeral, iv=iv)


def open_packet(key: coincurve.PrivateKey, packet: bytes) -> bytes:
    """The plaintext of a whole EIP-8 packet (prefix included); RlpxError if it is not one."""
    if len(packet) < PREFIX_SIZE:
        raise RlpxError("handshake packet too short")
    prefix, sealed = packet[:PREFIX_SIZE], packet[PREFIX_SIZE:]
    if int.from_bytes(prefix, "big") != len(sealed):
        raise RlpxError("handshake packet size prefix does not match its length")
    return ecies.decrypt(key, sealed, prefix)


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def derive_secrets(
    *,
    initiator: bool,
    ephemeral: coincurve.PrivateKey,
    remote_ephemeral: bytes,
    initiator_nonce: bytes,
    recipient_nonce: bytes,
    auth_packet: bytes,
    ack_packet: bytes,
    remote_pubkey: bytes,
) -> Secrets:
    """The secrets and MAC states of spec §1.5-1.6, for the initiator or the recipient."""
    shared_ephemeral = ecdh(ephemeral, remote_ephemeral)
    shared = keccak(shared_ephemeral + keccak(recipient_nonce + initiator_nonce))
    aes_secret = keccak(shared_ephemeral + shared)
    mac_secret = keccak(shared_ephemeral + aes_secret)
    for_recipient = keccak_state(_xor(mac_secret, recipient_nonce) + auth_packet)
    for_initiator = keccak_state(_xor(mac_secret, initiator_nonce) + ack_packet)
    egress, ingress = (
        (for_recipient, for_initiator) if initiator else (for_initiator, for_recipient)
    )
    return Secrets(aes_secret, mac_secret, egress, ingress, remote_pubkey)


class Initiator:
    """The dialing side: knows the recipient's static public key (from its enode URL)."""

    def __init__(
        self,
        key: coincurve.PrivateKey,
        remote_pubkey: bytes,
        *,
        ephemeral: coincurve.PrivateKey | None = None,
        nonce: bytes | None = None,
    ) -> None:
        load_public_key(remote_pubkey)
        self.key = key
        self.remote_pubkey = remote_pubkey
        self.ephemeral = ephemeral or generate_private_key()
        self.nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
        self._auth: bytes | None = None

    def auth_message(self) -> AuthMessage:
        token = ecdh(self.key, self.remote_pubkey)
        signature = sign(self.ephemeral, _xor(token, self.nonce))
        return AuthMessage(signature, public_key_of(self.key), self.nonce)

    def auth_packet(self, *, padding: int | None = None) -> bytes:
        """The packet to send first (kept for the MAC initialisation)."""
        self._auth = seal_packet(self.auth_message().encode(), self.remote_pubkey, padding=padding)
        return self._auth

    def complete(self, ack_packet: bytes) -> Secrets:
        """The secrets, from the whole ack packet the recipient sent (prefix included)."""
        if self._auth is None:
            raise RlpxError("auth packet not made yet")
        ack = decode_ack(open_packet(self.key, ack_packet))
        load_public_key(ack.ephemeral_pubkey)
        return derive_secrets(
            initiator=True,
            ephemeral=self.ephemeral,
            remote_ephemeral=ack.ephemeral_pubkey,
            initiator_nonce=self.nonce,
            recipient_nonce=ack.nonce,
            auth_packet=self._auth,
            ack_packet=ack_packet,
            remote_pubkey=self.remote_pubkey,
        )


class Recipient:
    """The listening side: learns the initiator's identity from the auth packet."""

    def __init__(
        self,
        key: coincurve.PrivateKey,
        *,
        ephemeral: coincurve.PrivateKey | None = None,
        nonce: bytes | None = None,
    ) -> None:
        self.key = key
        self.ephemeral = ephemeral or generate_private_key()
        self.nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
        self._auth_packet = b""
        self._auth: AuthMessage | None = None
        self._remote_ephemeral = b""
        self._ack: bytes | None = None

    def handle_auth(self, auth_packet: bytes) -> AuthMessage:
        """Read the whole auth packet (prefix included); returns its body."""
        auth = decode_auth(open_packet(self.key, auth_packet))
        token = ecdh(self.key, auth.pubkey)  # also checks the key is on the curve
        self._remote_ephemeral = recover(auth.signature, _xor(token, auth.nonce))
        self._auth_packet, self._auth = auth_packet, auth
        return auth

    def ack_packet(self, *, padding: int | None = None) -> bytes:
        """The packet to answer with (kept for the MAC initialisation)."""
        if self._auth is None:
            raise RlpxError("auth packet not read yet")
        body = AckMessage(public_key_of(self.ephemeral), self.nonce).encode()
        self._ack = seal_packet(body, self._auth.pubkey, padding=padding)
        return self._ack

    def secrets(self) -> Secrets:
        """The secrets, once the ack packet has been made."""
        if self._auth is None or self._ack is None:
            raise RlpxError("handshake not complete")
        return derive_secrets(
            initiator=False,
            ephemeral=self.ephemeral,
            remote_ephemeral=self._remote_ephemeral,
            initiator_nonce=self._auth.nonce,
            recipient_nonce=self.nonce,
            auth_packet=self._auth_packet,
            ack_packet=self._ack,
            remote_pubkey=self._auth.pubkey,
        )
