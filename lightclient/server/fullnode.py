"""The LES server's :class:`~lightclient.server.chaindata.ChainData` from a full node over
JSON-RPC: :class:`~lightclient.sources.chaindata.JsonRpcChainData` (which checks every body,
receipt list, code and proof against the block's header before it is served), adapted to
the server's calling conventions (hashed LES keys, TxPoolError for a refused transaction)."""

from __future__ import annotations

from lightclient.les.messages import TxLookup, TxStatusEntry
from lightclient.server.chaindata import TxPoolError
from lightclient.sources.chaindata import JsonRpcChainData, TxStatus

__all__ = ["FullNodeChainData"]


def _entry(status: TxStatus) -> TxStatusEntry:
    lookup = status.lookup
    return TxStatusEntry(
        status.status,
        None if lookup is None else TxLookup(lookup.block_hash, lookup.block_number, lookup.index),
        status.error,
    )


class FullNodeChainData:
    def __init__(self, data: JsonRpcChainData) -> None:
        self.data = data

    async def body_rlp(self, block_hash: bytes) -> bytes | None:
        return await self.data.body_rlp(block_hash)

    async def receipts_rlp(self, block_hash: bytes) -> bytes | None:
        return await self.data.receipts_rlp(block_hash)

    async def code(self, block_hash: bytes, account_key: bytes) -> bytes | None:
        return await self.data.code(block_hash, account_key)

    async def proof_nodes(
        self, block_hash: bytes, account_key: bytes, key: bytes
    ) -> list[bytes] | None:
        if not account_key:  # the account trie: key is keccak(address)
            return await self.data.proof_nodes(block_hash, key)
        return await self.data.proof_nodes(block_hash, account_key, key, storage_key_hashed=True)

    async def send_raw_tx(self, tx: bytes) -> None:
        status = await self.data.send_raw_tx(tx)
        if status.error:
            raise TxPoolError(status.error)

    async def tx_status(self, tx_hash: bytes) -> TxStatusEntry:
        return _entry(await self.data.tx_status(tx_hash))
