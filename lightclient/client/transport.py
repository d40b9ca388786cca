"""What :class:`~lightclient.client.client.LightClient` needs from a connection to one light
server (:class:`~lightclient.client.les_connection.LesConnection`, LES/4 over RLPx), so
that the client's verification is written against this surface and tested through it.

Nothing here is trusted: the client verifies every proof and header it gets. A transport
raises :class:`~lightclient.errors.SourceUnavailable` when the server cannot answer (down,
timeout, frozen too long), :class:`~lightclient.errors.LesProtocolError` when the server
broke the protocol, and ``ValueError``/``TypeError``/``KeyError`` for a malformed answer.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["LightTransport"]


class LightTransport(Protocol):
    @property
    def node_id(self) -> bytes:
        """Our node ID (keccak of our public key) as this server sees it."""
        ...

    @property
    def connected(self) -> bool: ...

    @property
    def usable(self) -> bool:
        """Whether the server currently gives us capacity to send requests."""
        ...

    @property
    def sections(self) -> int:
        """How many sections the server has said it can prove (asking past them is held
        against us by the JSON server, and unanswered by an LES one)."""
        ...

    async def refresh_sections(self) -> int:
        """Ask again (where the protocol can); the new count."""
        ...

    async def head_number(self) -> int:
        """The server's head block number (its claim: the client checks the links)."""
        ...

    async def cht_proof(self, trie_idx: int, number: int) -> tuple[list[bytes], list[bytes]]:
        """(proof nodes, aux data) for block ``number`` in CHT ``trie_idx``, header asked."""
        ...

    async def bloom_proof(self, trie_idx: int, key: bytes) -> list[bytes]:
        """Proof nodes for BloomTrie key ``key`` in BloomTrie ``trie_idx``."""
        ...

    async def header_range(self, first: int, amount: int) -> list[bytes]:
        """Up to ``amount`` header RLPs from block ``first`` upwards."""
        ...

    async def close(self) -> None: ...
