"""The in-memory twin of the balance store (for unit tests and throwaway pools)."""

from __future__ import annotations

from lightclient.pool.expiration import ExpiredValue

__all__ = ["MemoryBalanceStore"]


class MemoryBalanceStore:
    def __init__(self) -> None:
        self.pos: dict[bytes, tuple[ExpiredValue, str | None]] = {}
        self.neg: dict[str, ExpiredValue] = {}
        self.offsets = (0, 0)

    def load_pos(self, node_id: bytes) -> ExpiredValue:
        entry = self.pos.get(node_id)
        return entry[0].copy() if entry else ExpiredValue()

    def load_meta(self, node_id: bytes) -> str | None:
        entry = self.pos.get(node_id)
        return entry[1] if entry else None

    def load_neg(self, free_id: str) -> ExpiredValue:
        value = self.neg.get(free_id)
        return value.copy() if value else ExpiredValue()

    def store_pos(self, node_id: bytes, value: ExpiredValue | None, meta: str | None) -> None:
        if value is None:
            self.pos.pop(node_id, None)
        else:
            self.pos[node_id] = (value.copy(), meta)

    def store_both(
        self,
        node_id: bytes,
        pos: ExpiredValue | None,
        meta: str | None,
        free_id: str,
        neg: ExpiredValue | None,
    ) -> None:
        self.store_pos(node_id, pos, meta)
        self.store_neg(free_id, neg)

    def store_neg(self, free_id: str, value: ExpiredValue | None) -> None:
        if value is None:
            self.neg.pop(free_id, None)
        else:
            self.neg[free_id] = value.copy()
