"""Checkpoint votes: the digest admins sign, signing, and checking signatures.

``D = keccak(0x19 ‖ 0x00 ‖ oracle(20) ‖ BE8(index) ‖ checkpointHash)`` (EIP-191 version 0,
"data with intended validator", 62 bytes of input), signed directly; a signature is
``r ‖ s ‖ v`` with v = 27 or 28.

:func:`verify_signers` accepts what geth's ``VerifySigners`` accepts (threshold distinct
configured signers, any order, high-s allowed) without its defects: inputs are never
modified, and one malformed signature does not hide the valid ones; the result says which
signatures failed and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError

from lightclient.core.checkpoint import OracleConfig
from lightclient.core.hexutil import decode_hex
from lightclient.core.keccak import keccak
from lightclient.errors import InvalidInput

__all__ = [
    "SignatureCheck",
    "VerifyResult",
    "checkpoint_digest",
    "parse_signature",
    "recover_signer",
    "sign_checkpoint",
    "sort_by_signer",
    "verify_signers",
]


def _address_bytes(address: str) -> bytes:
    raw = decode_hex(address, 20)
    if raw is None:
        raise InvalidInput(f"invalid address {address!r}")
    return raw


def checkpoint_digest(oracle: str, index: int, checkpoint_hash: bytes) -> bytes:
    """The 32-byte digest the oracle's admins sign for checkpoint ``index``."""
    if len(checkpoint_hash) != 32:
        raise InvalidInput("a checkpoint hash is 32 bytes")
    if not 0 <= index < 2**64:
        raise InvalidInput(f"section index {index} is not a uint64")
    return keccak(b"\x19\x00" + _address_bytes(oracle) + index.to_bytes(8, "big") + checkpoint_hash)


def sign_checkpoint(private_key: bytes, oracle: str, index: int, checkpoint_hash: bytes) -> bytes:
    """A 65-byte vote ``r ‖ s ‖ v`` (v = 27/28), deterministic (RFC 6979) like geth's."""
    key = PrivateKey(private_key)
    signature = key.sign_msg_hash(checkpoint_digest(oracle, index, checkpoint_hash))
    r: int = signature.r
    s: int = signature.s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((signature.v + 27,))


def parse_signature(text: str) -> bytes:
    """A signature from ``0x`` + 130 hex digits (the 0x is optional; spaces are trimmed)."""
    raw = decode_hex(text, 65)
    if raw is None:
        raise InvalidInput(f"invalid signature {text!r}: expected 65 bytes as 130 hex digits")
    return raw


def recover_signer(digest: bytes, signature: bytes) -> str:
    """The checksummed address that made ``signature`` over ``digest``.

    Raises :class:`InvalidInput` with the reason when it cannot be recovered.
    """
    if len(signature) != 65:
        raise InvalidInput(f"signature has {len(signature)} bytes, not 65")
    v = signature[64]
    if v not in (27, 28):
        raise InvalidInput(f"signature v is {v}, not 27 or 28")
    try:
        sig = Signature(
            vrs=(
                v - 27,
                int.from_bytes(signature[:32], "big"),
                int.from_bytes(signature[32:64], "big"),
            )
        )
        public = sig.recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError, ValueError) as exc:
        raise InvalidInput(f"signature does not recover: {exc}") from None
    return str(public.to_checksum_address())


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """What became of one signature."""

    index: int  # position in the list given
    signer: str | None  # recovered address, if any
    counted: bool
    reason: str  # "counted", or why not


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    signers: tuple[str, ...]  # distinct configured signers that signed, in the order found
    checks: tuple[SignatureCheck, ...] = field(default=())
    threshold: int = 0

    @property
    def failures(self) -> tuple[SignatureCheck, ...]:
        return tuple(c for c in self.checks if not c.counted)


def verify_signers(
    config: OracleConfig, index: int, checkpoint_hash: bytes, signatures: Iterable[bytes]
) -> VerifyResult:
    """Check votes for checkpoint ``index`` with hash ``checkpoint_hash`` against ``config``.

    ``ok`` when at least ``config.threshold`` distinct configured signers signed the digest
    bound to ``config.address``. Every signature is looked at; none is modified.
    """
    digest = checkpoint_digest(config.address, index, checkpoint_hash)
    allowed = {s.lower() for s in config.signers}
    found: list[str] = []
    checks: list[SignatureCheck] = []
    for position, signature in enumerate(list(signatures)):
        try:
            signer = recover_signer(digest, bytes(signature))
        except InvalidInput as exc:
            checks.append(SignatureCheck(position, None, False, str(exc)))
            continue
        if signer.lower() not in allowed:
            checks.append(SignatureCheck(position, signer, False, "not a configured signer"))
        elif signer in found:
            checks.append(SignatureCheck(position, signer, False, "duplicate signer"))
        else:
            found.append(signer)
            checks.append(SignatureCheck(position, signer, True, "counted"))
    ok = len(found) >= config.threshold
    return VerifyResult(ok, tuple(found), tuple(checks), config.threshold)


def sort_by_signer(digest: bytes, signatures: Sequence[bytes]) -> list[tuple[str, bytes]]:
    """(signer, signature) pairs in ascending signer order, as the contract requires."""
    pairs = [(recover_signer(digest, s), s) for s in signatures]
    return sorted(pairs, key=lambda pair: int(pair[0], 16))
