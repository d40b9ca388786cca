"""What an LES server can serve from the embedded py-evm chain (``lightclient dev``): block
bodies, receipts, transaction lookups, and account/storage proofs and code, read from
py-evm's database as consensus bytes and trie nodes (its state tries are stored by node
hash, keyed by keccak(address) and keccak(slot) as LES asks). The light client verifies
each against its header, as from any server. Sent transactions are refused (the dev chain
is mined by the dev command alone)."""

from __future__ import annotations

from typing import Any

import rlp

from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import encode_bytes, encode_list, split_list
from lightclient.core.trie import prove, verify_proof
from lightclient.les.codec import read_list
from lightclient.les.messages import TX_INCLUDED, TX_UNKNOWN, TxLookup, TxStatusEntry
from lightclient.server.chaindata import TxPoolError
from lightclient.sources.embedded import EmbeddedChain

__all__ = ["EmbeddedChainData"]

_EMPTY_CODE_HASH = keccak(b"")


class EmbeddedChainData:
    """A :class:`~lightclient.server.chaindata.ChainData` over an :class:`EmbeddedChain`."""

    def __init__(self, chain: EmbeddedChain) -> None:
        self.chain = chain

    def _block(self, block_hash: bytes) -> Any:
        from eth.exceptions import BlockNotFound, HeaderNotFound

        try:
            return self.chain.chain.get_block_by_hash(block_hash)
        except (BlockNotFound, HeaderNotFound):
            return None

    async def body_rlp(self, block_hash: bytes) -> bytes | None:
        block = self._block(block_hash)
        if block is None:
            return None
        return encode_list(read_list(rlp.encode(block), "block")[1:])  # [header, txs, uncles]

    async def receipts_rlp(self, block_hash: bytes) -> bytes | None:
        block = self._block(block_hash)
        if block is None:
            return None
        items = []
        for receipt in block.get_receipts(self.chain.chain.chaindb):
            encoded = receipt.encode()
            items.append(encoded if encoded[0] >= 0xC0 else encode_bytes(encoded))
        return encode_list(items)

    def _state_root(self, block_hash: bytes) -> bytes | None:
        block = self._block(block_hash)
        return None if block is None else bytes(block.header.state_root)

    def _account(self, block_hash: bytes, account_key: bytes) -> list[bytes] | None:
        """[nonce, balance, storageRoot, codeHash] of the account, None if absent."""
        root = self._state_root(block_hash)
        if root is None:
            return None
        db = self.chain.chain.chaindb.db
        value = verify_proof(root, account_key, prove(db, root, account_key))
        return None if value is None else split_list(value)

    async def code(self, block_hash: bytes, account_key: bytes) -> bytes | None:
        account = self._account(block_hash, account_key)
        if account is None:
            return None
        if account[3] == _EMPTY_CODE_HASH:
            return b""
        return bytes(self.chain.chain.chaindb.db[account[3]])

    async def proof_nodes(
        self, block_hash: bytes, account_key: bytes, key: bytes
    ) -> list[bytes] | None:
        db = self.chain.chain.chaindb.db
        if not account_key:
            root = self._state_root(block_hash)
            return None if root is None else prove(db, root, key)
        account = self._account(block_hash, account_key)
        return None if account is None else prove(db, account[2], key)

    async def send_raw_tx(self, tx: bytes) -> None:
        raise TxPoolError("the dev chain's LES server does not take transactions")

    async def tx_status(self, tx_hash: bytes) -> TxStatusEntry:
        from eth.exceptions import TransactionNotFound

        chain = self.chain.chain
        try:
            number, index = chain.chaindb.get_transaction_index(tx_hash)
        except TransactionNotFound:
            return TxStatusEntry(TX_UNKNOWN)
        header = chain.chaindb.get_canonical_block_header_by_number(number)
        return TxStatusEntry(TX_INCLUDED, TxLookup(bytes(header.hash), number, index))
