"""RLPx keys, ECIES and the EIP-8 handshake against the vectors of spec §1.10.1-1.10.3."""

from __future__ import annotations

import coincurve
import pytest
import rlpx_vectors as v
from hypothesis import given, settings
from hypothesis import strategies as st

from lightclient.core.keccak import keccak
from lightclient.errors import RlpxError
from lightclient.rlpx import ecies
from lightclient.rlpx.handshake import (
    AckMessage,
    Initiator,
    Recipient,
    decode_ack,
    decode_auth,
    derive_secrets,
    open_packet,
    seal_packet,
)
from lightclient.rlpx.keys import ecdh, load_public_key, public_key_of, recover

KEY_A = coincurve.PrivateKey(v.KEY_A)
KEY_B = coincurve.PrivateKey(v.KEY_B)
EPH_A = coincurve.PrivateKey(v.EPH_A)
EPH_B = coincurve.PrivateKey(v.EPH_B)


def test_keys_and_node_ids() -> None:
    # spec §1.10.1 (EIP-8 keys; public keys and IDs derived in the spec)
    assert public_key_of(KEY_A) == v.PUB_A
    assert public_key_of(KEY_B) == v.PUB_B
    assert public_key_of(EPH_A) == v.EPH_PUB_A
    assert public_key_of(EPH_B) == v.EPH_PUB_B
    assert keccak(v.PUB_A) == v.NODE_ID_A
    assert keccak(v.PUB_B) == v.NODE_ID_B


def test_static_shared_secret_and_auth_signature() -> None:
    # spec §1.10.1: agree(A, B) == agree(B, A); the rlpx_test.go signature recovers ephPubA
    assert ecdh(KEY_A, v.PUB_B) == v.STATIC_SHARED == ecdh(KEY_B, v.PUB_A)
    assert bytes(a ^ b for a, b in zip(v.STATIC_SHARED, v.NONCE_A, strict=True)) == v.SIGNED_VALUE
    assert recover(v.AUTH_SIGNATURE, v.SIGNED_VALUE) == v.EPH_PUB_A


def test_our_auth_signs_static_xor_nonce_with_the_ephemeral_key() -> None:
    # spec §1.10.1/§1.4 step 3. The published signature used another ECDSA nonce than RFC 6979,
    # so the bytes differ; what must hold is that it recovers ephPubA over the same value.
    auth = Initiator(KEY_A, v.PUB_B, ephemeral=EPH_A, nonce=v.NONCE_A).auth_message()
    assert recover(auth.signature, v.SIGNED_VALUE) == v.EPH_PUB_A
    assert auth.signature[64] in (0, 1)
    assert auth.pubkey == v.PUB_A and auth.nonce == v.NONCE_A and auth.version == 4


@pytest.mark.parametrize(
    ("packet", "version", "rest"),
    [(v.AUTH2, 4, ()), (v.AUTH3, 56, (b"\x01", b"\x02", [b"\x04", b"\x05"]))],
    ids=["auth2", "auth3"],
)
def test_eip8_auth_vectors_decode(packet: bytes, version: int, rest: tuple[object, ...]) -> None:
    # spec §1.10.2, verbatim from EIP-8; expectations of geth's TestHandshakeForwardCompatibility
    auth = decode_auth(open_packet(KEY_B, packet))
    assert auth.signature == v.AUTH_SIGNATURE
    assert auth.pubkey == v.PUB_A
    assert auth.nonce == v.NONCE_A
    assert (auth.version, auth.rest) == (version, rest)
    recipient = Recipient(KEY_B, ephemeral=EPH_B, nonce=v.NONCE_B)
    assert recipient.handle_auth(packet) == auth


@pytest.mark.parametrize(
    ("packet", "version", "rest"),
    [(v.ACK2, 4, ()), (v.ACK3, 57, (b"\x06", [b"\x07", b"\x08"], b"\xfa"))],
    ids=["ack2", "ack3"],
)
def test_eip8_ack_vectors_decode(packet: bytes, version: int, rest: tuple[object, ...]) -> None:
    # spec §1.10.2, verbatim from EIP-8 (Ack2 carries 275 padding bytes, more than geth sends)
    ack = decode_ack(open_packet(KEY_A, packet))
    assert ack.ephemeral_pubkey == v.EPH_PUB_B
    assert ack.nonce == v.NONCE_B
    assert (ack.version, ack.rest) == (version, rest)


def test_pre_eip8_vectors_decrypt_but_are_not_a_handshake() -> None:
    # spec §1.10.2 Auth1/Ack1 (EIP-8): plain ECIES with empty s2; we, like geth, read EIP-8 only
    plain = ecies.decrypt(KEY_B, v.AUTH1_PRE_EIP8)
    assert len(plain) == 194
    assert plain[:65] == v.AUTH_SIGNATURE
    assert plain[65:97] == v.AUTH1_EPH_HASH == keccak(v.EPH_PUB_A)
    assert plain[97:161] == v.PUB_A and plain[161:193] == v.NONCE_A and plain[193] == 0
    assert ecies.decrypt(KEY_A, v.ACK1_PRE_EIP8) == v.EPH_PUB_B + v.NONCE_B + b"\x00"
    with pytest.raises(RlpxError):
        Recipient(KEY_B).handle_auth(v.AUTH1_PRE_EIP8)


def test_secrets_for_auth2_ack2_at_b() -> None:
    # spec §1.10.3: aes/mac/ingress("foo") from EIP-8 and rlpx_test.go, intermediates from the spec
    assert ecdh(EPH_B, v.EPH_PUB_A) == v.EPHEMERAL_SHARED
    assert keccak(v.EPHEMERAL_SHARED + keccak(v.NONCE_B + v.NONCE_A)) == v.SHARED_SECRET
    recipient = Recipient(KEY_B, ephemeral=EPH_B, nonce=v.NONCE_B)
    recipient.handle_auth(v.AUTH2)
    secrets = derive_secrets(
        initiator=False,
        ephemeral=EPH_B,
        remote_ephemeral=v.EPH_PUB_A,
        initiator_nonce=v.NONCE_A,
        recipient_nonce=v.NONCE_B,
        auth_packet=v.AUTH2,
        ack_packet=v.ACK2,
        remote_pubkey=v.PUB_A,
    )
    assert secrets.aes_secret == v.AES_SECRET
    assert secrets.mac_secret == v.MAC_SECRET
    assert secrets.ingress_mac.digest() == v.B_INGRESS_INIT
    assert secrets.egress_mac.digest() == v.B_EGRESS_INIT
    secrets.ingress_mac.update(b"foo")
    assert secrets.ingress_mac.digest() == v.INGRESS_FOO


def test_initiator_side_of_the_vectors_mirrors_b() -> None:
    # spec §1.6: A's egress is B's ingress and vice versa, for the same (Auth2, Ack2)
    a = derive_secrets(
        initiator=True,
        ephemeral=EPH_A,
        remote_ephemeral=v.EPH_PUB_B,
        initiator_nonce=v.NONCE_A,
        recipient_nonce=v.NONCE_B,
        auth_packet=v.AUTH2,
        ack_packet=v.ACK2,
        remote_pubkey=v.PUB_B,
    )
    assert (a.aes_secret, a.mac_secret) == (v.AES_SECRET, v.MAC_SECRET)
    assert a.egress_mac.digest() == v.B_INGRESS_INIT
    assert a.ingress_mac.digest() == v.B_EGRESS_INIT


def test_full_handshake_in_memory_agrees() -> None:
    initiator = Initiator(KEY_A, v.PUB_B)
    recipient = Recipient(KEY_B)
    auth = initiator.auth_packet()
    assert 384 <= len(auth) <= 483  # spec §1.3: geth's sizes
    assert recipient.handle_auth(auth).pubkey == v.PUB_A
    ack = recipient.ack_packet()
    assert 317 <= len(ack) <= 416
    a, b = initiator.complete(ack), recipient.secrets()
    assert (a.aes_secret, a.mac_secret) == (b.aes_secret, b.mac_secret)
    assert a.egress_mac.digest() == b.ingress_mac.digest()
    assert a.ingress_mac.digest() == b.egress_mac.digest()
    assert (a.remote_pubkey, b.remote_pubkey) == (v.PUB_B, v.PUB_A)


def test_bad_packets_are_rlpx_errors() -> None:
    bad = bytearray(v.AUTH2)
    bad[100] ^= 1
    with pytest.raises(RlpxError, match="MAC"):
        open_packet(KEY_B, bytes(bad))
    with pytest.raises(RlpxError, match="prefix"):
        open_packet(KEY_B, v.AUTH2[:-1])
    with pytest.raises(RlpxError, match="MAC"):
        open_packet(KEY_A, v.AUTH2)  # sealed for B
    with pytest.raises(RlpxError, match="too short"):
        ecies.decrypt(KEY_B, b"\x04" + bytes(50))


def test_ack_with_a_short_nonce_is_refused() -> None:
    body = AckMessage(v.EPH_PUB_B, v.NONCE_B[:31]).encode()
    with pytest.raises(RlpxError, match="nonce"):
        decode_ack(open_packet(KEY_A, seal_packet(body, v.PUB_A)))


def test_ack_version_must_be_canonical() -> None:
    body = bytes.fromhex("f8") + bytes([0x64]) + AckMessage(v.EPH_PUB_B, v.NONCE_B).encode()[2:-1]
    with pytest.raises(RlpxError, match="non-canonical"):
        decode_ack(body + b"\x00")  # version 0x00 is not a canonical integer


def test_off_curve_public_key_is_refused() -> None:
    with pytest.raises(RlpxError, match="secp256k1"):
        load_public_key(bytes(64))
    with pytest.raises(RlpxError, match="length"):
        Initiator(KEY_A, v.PUB_B[:63])


@settings(max_examples=30, derandomize=True, deadline=None)
@given(message=st.binary(max_size=600), mac_data=st.binary(max_size=4))
def test_ecies_round_trip(message: bytes, mac_data: bytes) -> None:
    sealed = ecies.encrypt(v.PUB_B, message, mac_data)
    assert len(sealed) == len(message) + ecies.OVERHEAD
    assert ecies.decrypt(KEY_B, sealed, mac_data) == message
    if message:
        assert sealed[81 : 81 + len(message)] != message or len(message) < 4
    with pytest.raises(RlpxError):
        ecies.decrypt(KEY_B, sealed, mac_data + b"x")
