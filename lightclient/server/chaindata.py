"""What the LES server needs of a full node beyond headers: bodies, receipts, state and the
transaction pool (spec les-wire.md §6.2, §6.4). :class:`ChainData` is the interface the
full-node side implements; :class:`NoChainData` answers "unknown" to everything, so an LES
server without a full node still serves headers and helper-trie proofs.

Every method is a coroutine. "Unknown" (``None``) makes the server skip that item and count
it as an invalid request of the client, as geth does for an unknown block, stale state or a
missing account; the reply then holds fewer items than were asked for.
"""

from __future__ import annotations

from typing import Protocol

from lightclient.errors import LightClientError
from lightclient.les.messages import TX_UNKNOWN, TxStatusEntry

__all__ = ["ChainData", "NoChainData", "TxPoolError"]


class TxPoolError(LightClientError):
    """The pool refused a transaction; the message is the pool's error text (sent to the
    client in the TxStatus entry's ``error`` field, with status 0)."""


class ChainData(Protocol):
    async def body_rlp(self, block_hash: bytes) -> bytes | None:
        """The stored body RLP of the block with that hash (canonical or not), as it is:
        ``[transactions, uncles]`` or ``[transactions, uncles, withdrawals]``; None if the
        block is unknown."""
        ...

    async def receipts_rlp(self, block_hash: bytes) -> bytes | None:
        """The RLP *list* of the block's receipts in consensus encoding (typed receipts as
        byte strings); ``c0`` for a known block without receipts; None if unknown."""
        ...

    async def code(self, block_hash: bytes, account_key: bytes) -> bytes | None:
        """The code of the account whose secure-trie key (keccak256 of its address) is
        ``account_key``, in the state of that block; ``b""`` for an account without code.
        None for an unknown block, state no longer kept (a non-archive node: block number
        + 128 <= head) or an absent account."""
        ...

    async def proof_nodes(
        self, block_hash: bytes, account_key: bytes, key: bytes
    ) -> list[bytes] | None:
        """Merkle proof nodes (raw node RLP, root first) of ``key`` in the state of that
        block: in the account trie when ``account_key`` is empty, else in the storage trie
        of that account. A proof of absence is a valid proof. None for an unknown block,
        stale state or (storage proofs) an absent account."""
        ...

    async def send_raw_tx(self, tx: bytes) -> None:
        """Add a transaction (its consensus encoding: a legacy RLP list, or
        ``type || payload`` for a typed one) to the pool as a remote transaction.
        Raises :class:`TxPoolError` with the pool's error text when it is refused."""
        ...

    async def tx_status(self, tx_hash: bytes) -> TxStatusEntry:
        """Pool status first (1 queued, 2 pending), else the chain's tx index (3 with the
        lookup), else 0 unknown; the entry's ``error`` is empty."""
        ...


class NoChainData:
    """No full node behind the server: every block, account and transaction is unknown,
    and transactions are refused."""

    async def body_rlp(self, block_hash: bytes) -> bytes | None:
        return None

    async def receipts_rlp(self, block_hash: bytes) -> bytes | None:
        return None

    async def code(self, block_hash: bytes, account_key: bytes) -> bytes | None:
        return None

    async def proof_nodes(
        self, block_hash: bytes, account_key: bytes, key: bytes
    ) -> list[bytes] | None:
        return None

    async def send_raw_tx(self, tx: bytes) -> None:
        raise TxPoolError("transaction relay is not available on this server")

    async def tx_status(self, tx_hash: bytes) -> TxStatusEntry:
        return TxStatusEntry(TX_UNKNOWN)
