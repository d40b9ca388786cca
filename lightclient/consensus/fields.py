"""Every field of a header, decoded from its RLP (the consensus checks read all of them)."""

from __future__ import annotations

from dataclasses import dataclass

from lightclient.core.header import Header, decode_header
from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import encode_bytes, encode_list, split_list
from lightclient.errors import ConsensusError, InvalidHeader

__all__ = ["EMPTY_UNCLE_HASH", "HeaderFields", "header_fields"]

EMPTY_UNCLE_HASH = keccak(b"\xc0")


@dataclass(frozen=True, slots=True)
class HeaderFields:
    """A decoded header. ``raw_fields`` are the RLP list's byte strings, in order."""

    hash: bytes
    parent_hash: bytes
    uncle_hash: bytes
    coinbase: bytes
    difficulty: int
    number: int
    gas_limit: int
    gas_used: int
    timestamp: int
    extra: bytes
    mix_hash: bytes
    nonce: bytes
    base_fee: int | None
    raw_fields: tuple[bytes, ...]

    def rlp_without(self, *, seal: bool = False, extra: bytes | None = None) -> bytes:
        """The header's RLP with the ethash seal (mixHash, nonce) left out, or with another
        extra-data: what ethash's and clique's seal hashes cover."""
        fields = list(self.raw_fields)
        if extra is not None:
            fields[12] = extra
        if seal:
            del fields[13:15]
        return encode_list([encode_bytes(f) for f in fields])


def _int(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def header_fields(header: Header | HeaderFields | bytes, expected: int = -1) -> HeaderFields:
    """Decode a header (its RLP, or a :class:`Header`); malformed RLP is a ConsensusError
    naming the block by its number if that can be read, else by ``expected`` (the number
    it should have had)."""
    if isinstance(header, HeaderFields):
        return header
    try:
        decoded = header if isinstance(header, Header) else decode_header(bytes(header))
    except InvalidHeader as exc:
        block = expected if exc.block is None else exc.block
        raise ConsensusError(
            f"malformed header: {exc}", block=block, rule="errInvalidHeader"
        ) from None
    f = split_list(decoded.rlp)
    return HeaderFields(
        hash=decoded.hash,
        parent_hash=f[0],
        uncle_hash=f[1],
        coinbase=f[2],
        difficulty=_int(f[7]),
        number=decoded.number,
        gas_limit=_int(f[9]),
        gas_used=_int(f[10]),
        timestamp=_int(f[11]),
        extra=f[12],
        mix_hash=f[13],
        nonce=f[14],
        base_fee=_int(f[15]) if len(f) > 15 else None,
        raw_fields=tuple(f),
    )
