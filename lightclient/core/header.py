"""Block headers: the few fields the checkpoint system reads, from raw RLP or node JSON.

A header is kept as its raw RLP (what its hash commits to) plus the fields we use.
Every fork's shape decodes: frontier to London (15/16 fields), Shanghai (17),
Cancun (20) and Prague (21). All header fields are byte strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import encode_bytes, encode_list, int_to_min_bytes, split_list
from lightclient.errors import DecodeError, InvalidHeader

__all__ = ["HEADER_FIELDS", "Header", "decode_header", "header_rlp_from_json"]

# Field order of the header RLP list, with the JSON-RPC names and kinds.
HEADER_FIELDS: tuple[tuple[str, str], ...] = (
    ("parentHash", "hash"),
    ("sha3Uncles", "hash"),
    ("miner", "address"),
    ("stateRoot", "hash"),
    ("transactionsRoot", "hash"),
    ("receiptsRoot", "hash"),
    ("logsBloom", "bloom"),
    ("difficulty", "int"),
    ("number", "int"),
    ("gasLimit", "int"),
    ("gasUsed", "int"),
    ("timestamp", "int"),
    ("extraData", "bytes"),
    ("mixHash", "hash"),
    ("nonce", "nonce"),
    ("baseFeePerGas", "int"),  # London
    ("withdrawalsRoot", "hash"),  # Shanghai
    ("blobGasUsed", "int"),  # Cancun
    ("excessBlobGas", "int"),  # Cancun
    ("parentBeaconBlockRoot", "hash"),  # Cancun
    ("requestsHash", "hash"),  # Prague
)
_MIN_FIELDS = 15
_FIXED_SIZES = {"hash": 32, "address": 20, "bloom": 256, "nonce": 8}


@dataclass(frozen=True, slots=True)
class Header:
    """A block header: its raw RLP, its hash and the fields the CHT and BloomTrie need."""

    number: int
    hash: bytes
    parent_hash: bytes
    difficulty: int
    bloom: bytes
    rlp: bytes


def _uint(field: bytes, name: str, number: int | None) -> int:
    if field[:1] == b"\x00":
        raise InvalidHeader(f"header field {name} has a leading zero byte", block=number)
    return int.from_bytes(field, "big")


def decode_header(raw: bytes, expected_hash: bytes | None = None) -> Header:
    """Decode a header from its RLP; check the hash when the source claimed one.

    Raises :class:`InvalidHeader` for malformed RLP, a wrong shape, or a hash mismatch.
    """
    try:
        fields = split_list(raw)
    except DecodeError as exc:
        raise InvalidHeader(f"malformed header RLP: {exc}") from None
    if not _MIN_FIELDS <= len(fields) <= len(HEADER_FIELDS):
        raise InvalidHeader(f"a header has 15 to 21 fields, this one has {len(fields)}")
    number_field = fields[8]
    number = int.from_bytes(number_field, "big") if len(number_field) <= 8 else None
    for field, (name, kind) in zip(fields, HEADER_FIELDS, strict=False):
        size = _FIXED_SIZES.get(kind)
        if size is not None and len(field) != size:
            raise InvalidHeader(
                f"header field {name} has {len(field)} bytes, expected {size}", block=number
            )
    if number is None:
        raise InvalidHeader("header number does not fit in 64 bits")
    _uint(number_field, "number", number)
    difficulty = _uint(fields[7], "difficulty", number)
    block_hash = keccak(raw)
    if expected_hash is not None and block_hash != expected_hash:
        raise InvalidHeader(
            f"header hash mismatch at block {number}: source claims 0x{expected_hash.hex()}, "
            f"its RLP hashes to 0x{block_hash.hex()}",
            block=number,
        )
    return Header(number, block_hash, fields[0], difficulty, fields[6], bytes(raw))


def _json_field(value: Any, name: str, kind: str) -> bytes:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise DecodeError(f"header JSON field {name} is not a 0x-prefixed hex string: {value!r}")
    text = value[2:]
    if kind == "int":
        try:
            return int_to_min_bytes(int(text, 16)) if text else b""
        except ValueError:
            raise DecodeError(f"header JSON field {name} is not hex: {value!r}") from None
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise DecodeError(f"header JSON field {name} is not hex: {value!r}") from None
    size = _FIXED_SIZES.get(kind)
    if size is not None and len(data) != size:
        raise DecodeError(f"header JSON field {name} has {len(data)} bytes, expected {size}")
    return data


def header_rlp_from_json(block: Mapping[str, Any]) -> bytes:
    """Rebuild a header's RLP from an ``eth_getBlockByNumber`` JSON object.

    The fields present decide the fork shape; optional fields must be contiguous (a Cancun
    field without the Shanghai one is refused, as no real header has that shape).
    """
    items: list[bytes] = []
    for index, (name, kind) in enumerate(HEADER_FIELDS):
        value = block.get(name)
        if value is None:
            if index < _MIN_FIELDS:
                raise DecodeError(f"header JSON lacks the field {name}")
            later = [n for n, _ in HEADER_FIELDS[index + 1 :] if block.get(n) is not None]
            if later:
                raise DecodeError(f"header JSON has {later[0]} but lacks {name}")
            break
        items.append(encode_bytes(_json_field(value, name, kind)))
    return encode_list(items)


def header_json_from_rlp(raw: bytes) -> dict[str, str]:
    """The header fields of an ``eth_getBlockByNumber`` JSON object, from the header's RLP.

    Includes ``hash``; integers are minimal 0x-hex quantities, the rest 0x-hex data. The
    inverse of :func:`header_rlp_from_json` for the fields the RLP holds.
    """
    try:
        fields = split_list(raw)
    except DecodeError as exc:
        raise InvalidHeader(f"malformed header RLP: {exc}") from None
    if not _MIN_FIELDS <= len(fields) <= len(HEADER_FIELDS):
        raise InvalidHeader(f"a header has 15 to 21 fields, this one has {len(fields)}")
    out: dict[str, str] = {}
    for field, (name, kind) in zip(fields, HEADER_FIELDS, strict=False):
        out[name] = hex(int.from_bytes(field, "big")) if kind == "int" else "0x" + field.hex()
    out["hash"] = "0x" + keccak(raw).hex()
    return out
