"""Keccak-256, from the fastest backend installed.

We use ``sha3.keccak_256`` from safe-pysha3 (a C extension, ~0.7 µs for 100 bytes here),
falling back to pycryptodome (~4-6 µs). eth-hash, which the ``trie`` and ``rlp``
ecosystem call, would pick pycryptodome first; ``lightclient/__init__.py`` asks it for
pysha3 too unless ``ETH_HASH_BACKEND`` is already set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["BACKEND", "KeccakState", "keccak", "keccak_state"]


class KeccakState(Protocol):
    """A running Keccak-256: absorb with ``update``; ``digest`` reads without finalising."""

    def update(self, data: bytes, /) -> object: ...

    def digest(self) -> bytes: ...


keccak: Callable[[bytes], bytes]
keccak_state: Callable[[bytes], KeccakState]

try:
    import sha3 as _sha3

    def keccak(data: bytes) -> bytes:
        """Keccak-256 of ``data`` (Ethereum's hash, not SHA3-256)."""
        digest: bytes = _sha3.keccak_256(data).digest()
        return digest

    def keccak_state(data: bytes = b"") -> KeccakState:
        """A running Keccak-256 that has absorbed ``data`` (RLPx's MAC states)."""
        state: KeccakState = _sha3.keccak_256(data)
        return state

    BACKEND = "pysha3"
except ImportError:  # pragma: no cover - safe-pysha3 is a dependency
    from Crypto.Hash import keccak as _cryptodome

    def keccak(data: bytes) -> bytes:
        """Keccak-256 of ``data`` (Ethereum's hash, not SHA3-256)."""
        digest: bytes = _cryptodome.new(digest_bits=256, data=data).digest()
        return digest

    def keccak_state(data: bytes = b"") -> KeccakState:
        """A running Keccak-256 that has absorbed ``data`` (RLPx's MAC states)."""
        state: KeccakState = _cryptodome.new(digest_bits=256, data=data, update_after_digest=True)
        return state

    BACKEND = "pycryptodome"
