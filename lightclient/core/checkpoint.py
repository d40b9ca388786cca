"""``TrustedCheckpoint`` and ``OracleConfig``: geth's params.TrustedCheckpoint and
params.CheckpointOracleConfig, with their hash, emptiness, RLP, JSON and RPC forms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightclient.core.hexutil import decode_hex
from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import encode_bytes, encode_int, encode_list
from lightclient.errors import InvalidInput

__all__ = ["ZERO_HASH", "OracleConfig", "TrustedCheckpoint", "parse_hash"]

ZERO_HASH = b"\x00" * 32
_MAX_UINT64 = 2**64 - 1


def parse_hash(value: object, what: str = "hash") -> bytes:
    """A 32-byte hash from ``0x`` + 64 hex digits (either case) or from 32 raw bytes."""
    if isinstance(value, bytes | bytearray) and len(value) == 32:
        return bytes(value)
    raw = decode_hex(value, 32)
    if raw is not None:
        return raw
    raise InvalidInput(f"invalid {what}: expected 0x followed by 64 hex digits, got {value!r}")


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


@dataclass(frozen=True, slots=True)
class TrustedCheckpoint:
    """A section's head and the CHT and BloomTrie roots after that section was added."""

    section_index: int
    section_head: bytes
    cht_root: bytes
    bloom_root: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.section_index <= _MAX_UINT64:
            raise InvalidInput(f"section index {self.section_index} is not a uint64")
        for name in ("section_head", "cht_root", "bloom_root"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != 32:
                raise InvalidInput(f"{name} must be 32 bytes")

    def hash(self) -> bytes:
        """keccak(BE8(index) ‖ head ‖ cht ‖ bloom): what the oracle stores and admins sign."""
        return keccak(
            self.section_index.to_bytes(8, "big")
            + self.section_head
            + self.cht_root
            + self.bloom_root
        )

    def is_empty(self) -> bool:
        """True when any of the three hashes is zero (the index is not looked at), as geth."""
        return ZERO_HASH in (self.section_head, self.cht_root, self.bloom_root)

    def hash_equal(self, other: bytes) -> bool:
        """geth's HashEqual: an empty checkpoint equals only the zero hash."""
        if self.is_empty():
            return other == ZERO_HASH
        return self.hash() == other

    def head_block(self, section_size: int = 32768) -> int:
        """The number of the block whose hash is ``section_head``."""
        return (self.section_index + 1) * section_size - 1

    def rlp(self) -> bytes:
        """RLP [index, head, cht, bloom], as in the LES handshake's ``checkpoint/value``."""
        return encode_list(
            [
                encode_int(self.section_index),
                encode_bytes(self.section_head),
                encode_bytes(self.cht_root),
                encode_bytes(self.bloom_root),
            ]
        )

    def to_json(self) -> dict[str, Any]:
        """geth's JSON form (admin_nodeInfo): the index is a JSON number."""
        return {
            "sectionIndex": self.section_index,
            "sectionHead": _hex(self.section_head),
            "chtRoot": _hex(self.cht_root),
            "bloomRoot": _hex(self.bloom_root),
        }

    def to_json_with_hash(self) -> dict[str, Any]:
        """The JSON form plus ``hash``: what ``lightclient index --json`` prints."""
        out = self.to_json()
        out["hash"] = _hex(self.hash())
        return out

    def latest_rpc_form(self) -> list[str]:
        """``les_latestCheckpoint``'s result: [hex index, head, cht, bloom]."""
        return [
            hex(self.section_index),
            _hex(self.section_head),
            _hex(self.cht_root),
            _hex(self.bloom_root),
        ]

    def get_rpc_form(self) -> list[str]:
        """``les_getCheckpoint``'s result: [head, cht, bloom] (the index is not echoed)."""
        return [_hex(self.section_head), _hex(self.cht_root), _hex(self.bloom_root)]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrustedCheckpoint:
        """Parse the JSON form; ``sectionIndex`` may be a number or a 0x string."""
        try:
            raw_index = data["sectionIndex"]
            head, cht, bloom = data["sectionHead"], data["chtRoot"], data["bloomRoot"]
        except (KeyError, TypeError):
            raise InvalidInput(
                "a checkpoint needs sectionIndex, sectionHead, chtRoot and bloomRoot"
            ) from None
        index = _parse_index(raw_index)
        return cls(
            index,
            parse_hash(head, "sectionHead"),
            parse_hash(cht, "chtRoot"),
            parse_hash(bloom, "bloomRoot"),
        )

    @classmethod
    def from_latest_rpc_form(cls, values: Sequence[Any]) -> TrustedCheckpoint:
        """Parse ``les_latestCheckpoint``'s 4-string array."""
        if not isinstance(values, Sequence) or isinstance(values, str) or len(values) != 4:
            raise InvalidInput("les_latestCheckpoint returns an array of 4 strings")
        return cls(
            _parse_index(values[0]),
            parse_hash(values[1], "sectionHead"),
            parse_hash(values[2], "chtRoot"),
            parse_hash(values[3], "bloomRoot"),
        )

    @classmethod
    def from_get_rpc_form(cls, index: int, values: Sequence[Any]) -> TrustedCheckpoint:
        """Parse ``les_getCheckpoint``'s 3-string array, for the index that was asked."""
        if not isinstance(values, Sequence) or isinstance(values, str) or len(values) != 3:
            raise InvalidInput("les_getCheckpoint returns an array of 3 strings")
        return cls(
            index,
            parse_hash(values[0], "sectionHead"),
            parse_hash(values[1], "chtRoot"),
            parse_hash(values[2], "bloomRoot"),
        )


def _parse_index(value: object) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"invalid section index {value!r}")
    if isinstance(value, int):
        index = value
    elif isinstance(value, str):
        try:
            index = int(value, 0)
        except ValueError:
            raise InvalidInput(f"invalid section index {value!r}") from None
    else:
        raise InvalidInput(f"invalid section index {value!r}")
    if not 0 <= index <= _MAX_UINT64:
        raise InvalidInput(f"section index {index} is not a uint64")
    return index


@dataclass(frozen=True, slots=True)
class OracleConfig:
    """Where the oracle lives and whose signatures count (geth's CheckpointOracleConfig)."""

    address: str
    signers: tuple[str, ...]
    threshold: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", _checksum(self.address, "oracle address"))
        object.__setattr__(
            self, "signers", tuple(_checksum(s, "signer address") for s in self.signers)
        )
        if not 0 <= self.threshold <= _MAX_UINT64:
            raise InvalidInput(f"threshold {self.threshold} is not a uint64")

    def is_valid(self) -> bool:
        """geth's setupOracle rule: a non-zero address and no more required than configured."""
        return int(self.address, 16) != 0 and len(self.signers) >= self.threshold

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "signers": list(self.signers), "threshold": self.threshold}


def _checksum(value: str, what: str) -> str:
    raw = decode_hex(value, 20)
    if raw is None:
        raise InvalidInput(f"invalid {what}: {value!r}")
    # Imported here: eth_utils pulls in pydantic (~0.17 s), too much for every CLI start.
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(raw))
