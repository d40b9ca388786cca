"""Block headers: the few fields the checkpoint system reads, from raw RLP or node JSON.

A header is kept as its raw RLP (what its hash commits to) plus the fields we use.
Every fork's shape decodes: frontier to London (15/16 fields), Shanghai (17),
Cancun (20) and Prague (21). All header fields are byte strings.
"""

from __future__ import annotations

import re
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
# Field counts of real fork layouts: frontier, London, Shanghai, Cancun, Prague.
_KNOWN_SHAPES = frozenset({15, 16, 17, 20, 21})


@dataclass(frozen=True, slots=True)
class Header:
    """A block header: its raw RLP, its hash and the fields the CHT and BloomTrie need."""

    number: int
    hash: bytes
    parent_hash: bytes
    difficulty: int
    bloom: bytes
    rlp: bytes

    @property
    def state_root(self) -> bytes:
        """The stateRoot field (read from the RLP on demand)."""
        return split_list(self.rlp)[3]


def _int_item(max_len: int) -> bytes:
    """Regex for the canonical RLP of an unsigned integer of at most ``max_len`` bytes."""
    parts = [rb"\x80", rb"[\x01-\x7f]", rb"\x81[\x80-\xff]"]
    for n in range(2, max_len + 1):
        parts.append(re.escape(bytes((0x80 + n,))) + rb"[\x01-\xff][\x00-\xff]{%d}" % (n - 1))
    return rb"(?:" + rb"|".join(parts) + rb")"


def _bytes_item(max_len: int) -> bytes:
    """Regex for the canonical RLP of a byte string of at most ``max_len`` (< 56) bytes."""
    parts = [rb"[\x00-\x7f]", rb"\x80", rb"\x81[\x80-\xff]"]
    for n in range(2, max_len + 1):
        parts.append(re.escape(bytes((0x80 + n,))) + rb"[\x00-\xff]{%d}" % n)
    return rb"(?:" + rb"|".join(parts) + rb")"


# The usual header layouts (frontier/London 15/16 fields, Shanghai 17, Cancun 20, Prague
# 21, integers up to 32 bytes, extraData up to 55 bytes) as one regex over the list
# payload. It runs in C (~1 µs a header against ~9 µs for splitting field by field) and
# matches exactly the canonical encodings; anything else goes to the strict splitter.
_HASH = rb"\xa0[\x00-\xff]{32}"
_INT = _int_item(32)
_FAST_LAYOUT = re.compile(
    rb"\xa0([\x00-\xff]{32})"  # parentHash
    + _HASH * 1  # sha3Uncles
    + rb"\x94[\x00-\xff]{20}"  # miner
    + _HASH * 3  # stateRoot, transactionsRoot, receiptsRoot
    + rb"\xb9\x01\x00([\x00-\xff]{256})"  # logsBloom
    + rb"("
    + _INT
    + rb")"  # difficulty
    + rb"("
    + _int_item(8)
    + rb")"  # number
    + _INT * 3  # gasLimit, gasUsed, timestamp
    + _bytes_item(55)  # extraData
    + _HASH  # mixHash
    + rb"\x88[\x00-\xff]{8}"  # nonce
    + rb"(?:"
    + _INT  # baseFeePerGas
    + rb"(?:"
    + _HASH  # withdrawalsRoot
    + rb"(?:"
    + _INT
    + _INT
    + _HASH  # blobGasUsed, excessBlobGas, parentBeaconBlockRoot
    + rb"(?:"
    + _HASH
    + rb")?)?)?)?"  # requestsHash
)


def _int_value(item: bytes) -> int:
    """The integer in a canonical RLP integer item."""
    return item[0] if item[0] < 0x80 else int.from_bytes(item[1:], "big")


def _fields(raw: bytes) -> list[bytes]:
    try:
        return split_list(raw)
    except DecodeError as exc:
        raise InvalidHeader(f"malformed header RLP: {exc}") from None


def _decode_strict(raw: bytes) -> tuple[int, bytes, int, bytes]:
    """(number, parent hash, difficulty, bloom), checking every field of any layout."""
    fields = _fields(raw)
    count = len(fields)
    if not _MIN_FIELDS <= count <= len(HEADER_FIELDS):
        raise InvalidHeader(f"a header has 15 to 21 fields, this one has {count}")
    number_field = fields[8]
    number = int.from_bytes(number_field, "big") if len(number_field) <= 8 else None
    # Past the 15 frontier fields, only the known fork shapes say which field is which.
    known = fields if count in _KNOWN_SHAPES else fields[:_MIN_FIELDS]
    for field, (name, kind) in zip(known, HEADER_FIELDS, strict=False):
        if kind == "int":
            if field[:1] == b"\x00":
                raise InvalidHeader(f"header field {name} has a leading zero byte", block=number)
        elif kind in _FIXED_SIZES and len(field) != _FIXED_SIZES[kind]:
            raise InvalidHeader(
                f"header field {name} has {len(field)} bytes, expected {_FIXED_SIZES[kind]}",
                block=number,
            )
    if number is None:
        raise InvalidHeader("header number does not fit in 64 bits")
    return number, fields[0], int.from_bytes(fields[7], "big"), fields[6]


def _decode_fast(raw: bytes) -> tuple[int, bytes, int, bytes] | None:
    """The same as :func:`_decode_strict` for the usual layouts; None for anything else."""
    n = len(raw)
    if n < 3 or not 0xF8 <= raw[0] <= 0xFB or raw[1] == 0:
        return None
    p = 1 + raw[0] - 0xF7
    if int.from_bytes(raw[1:p], "big") != n - p:
        return None
    m = _FAST_LAYOUT.fullmatch(raw, p)
    if m is None:
        return None
    parent, bloom, difficulty, number = m.groups()
    return _int_value(number), parent, _int_value(difficulty), bloom


def decode_header(raw: bytes, expected_hash: bytes | None = None) -> Header:
    """Decode a header from its RLP; check the hash when the source claimed one.

    Raises :class:`InvalidHeader` for malformed RLP, a wrong shape, or a hash mismatch.
    """
    if type(raw) is not bytes:
        raw = bytes(raw)
    decoded = _decode_fast(raw) or _decode_strict(raw)
    number, parent, difficulty, bloom = decoded
    block_hash = keccak(raw)
    if expected_hash is not None and block_hash != expected_hash:
        raise InvalidHeader(
            f"header hash mismatch at block {number}: source claims 0x{expected_hash.hex()}, "
            f"its RLP hashes to 0x{block_hash.hex()}",
            block=number,
        )
    return Header(number, block_hash, parent, difficulty, bloom, raw)


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

    The first 15 fields are required; the later (fork) fields are encoded in order when
    present. They are usually contiguous, but not always: anvil's London genesis carries
    ``blobGasUsed`` and ``excessBlobGas`` without ``withdrawalsRoot`` (18 fields), and its
    hash commits to exactly that list. The caller compares the result's hash with the
    node's.
    """
    items: list[bytes] = []
    for index, (name, kind) in enumerate(HEADER_FIELDS):
        value = block.get(name)
        if value is None:
            if index < _MIN_FIELDS:
                raise DecodeError(f"header JSON lacks the field {name}")
            continue
        items.append(encode_bytes(_json_field(value, name, kind)))
    return encode_list(items)


def header_json_from_rlp(raw: bytes) -> dict[str, str]:
    """The header fields of an ``eth_getBlockByNumber`` JSON object, from the header's RLP.

    Includes ``hash``; integers are minimal 0x-hex quantities, the rest 0x-hex data. The
    inverse of :func:`header_rlp_from_json` for the fields the RLP holds.
    """
    fields = _fields(raw)
    if not _MIN_FIELDS <= len(fields) <= len(HEADER_FIELDS):
        raise InvalidHeader(f"a header has 15 to 21 fields, this one has {len(fields)}")
    out: dict[str, str] = {}
    for field, (name, kind) in zip(fields, HEADER_FIELDS, strict=False):
        out[name] = hex(int.from_bytes(field, "big")) if kind == "int" else "0x" + field.hex()
    out["hash"] = "0x" + keccak(raw).hex()
    return out
