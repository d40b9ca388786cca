"""Client balances in the SQLite store (the client pool's persistence).

Every write is its own committed transaction (WAL, synchronous=FULL): when
``les_addBalance`` returns, the balance is on disk. Values are geth's ExpiredValue
``{base, exp}``; base is stored as decimal text because it may exceed SQLite's int64.

A write that fails (the disk, the database, or a meta text SQLite cannot hold) raises
:class:`BalanceWriteError` and leaves the stored balance as it was, so that the pool can
keep its memory unchanged too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lightclient.errors import LightClientError
from lightclient.pool.expiration import ExpiredValue
from lightclient.store.sqlite import Store, StoreError

__all__ = ["BalanceWriteError", "SqliteBalanceStore"]


class BalanceWriteError(LightClientError):
    """A balance could not be written; nothing was stored."""


@contextmanager
def _writing(what: Callable[[], str]) -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, UnicodeError, ValueError, OverflowError) as exc:
        raise BalanceWriteError(f"could not store the {what()}: {exc}") from exc


class SqliteBalanceStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def db(self) -> sqlite3.Connection:
        """The store's connection, looked up on each use (it may be per thread)."""
        return self.store.db

    def load_pos(self, node_id: bytes) -> ExpiredValue:
        row = self.db.execute(
            "SELECT base, exp FROM pos_balances WHERE node_id = ?", (node_id,)
        ).fetchone()
        return _value(row[0], row[1]) if row else ExpiredValue()

    def load_meta(self, node_id: bytes) -> str | None:
        row = self.db.execute(
            "SELECT meta FROM pos_balances WHERE node_id = ?", (node_id,)
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def load_neg(self, free_id: str) -> ExpiredValue:
        row = self.db.execute(
            "SELECT base, exp FROM neg_balances WHERE free_id = ?", (free_id,)
        ).fetchone()
        return _value(row[0], row[1]) if row else ExpiredValue()

    def store_pos(self, node_id: bytes, value: ExpiredValue | None, meta: str | None) -> None:
        with _writing(lambda: f"balance of {node_id.hex()}"):
            self._store_pos(node_id, value, meta)

    def _store_pos(
        self,
        node_id: bytes,
        value: ExpiredValue | None,
        meta: str | None,
        db: sqlite3.Connection | None = None,
    ) -> None:
        db = db or self.db
        if value is None:
            db.execute("DELETE FROM pos_balances WHERE node_id = ?", (node_id,))
        else:
            db.execute(
                "INSERT OR REPLACE INTO pos_balances (node_id, base, exp, meta) VALUES (?, ?, ?, "
                "COALESCE(?, (SELECT meta FROM pos_balances WHERE node_id = ?)))",
                (node_id, str(value.base), value.exp, meta, node_id),
            )

    def store_neg(self, free_id: str, value: ExpiredValue | None) -> None:
        with _writing(lambda: "negative balance"):
            self._store_neg(free_id, value)

    def store_both(
        self,
        node_id: bytes,
        pos: ExpiredValue | None,
        meta: str | None,
        free_id: str,
        neg: ExpiredValue | None,
    ) -> None:
        with _writing(lambda: f"balances of {node_id.hex()}"):
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                self._store_pos(node_id, pos, meta, db)
                self._store_neg(free_id, neg, db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _store_neg(
        self, free_id: str, value: ExpiredValue | None, db: sqlite3.Connection | None = None
    ) -> None:
        db = db or self.db
        if value is None:
            db.execute("DELETE FROM neg_balances WHERE free_id = ?", (free_id,))
        else:
            db.execute(
                "INSERT OR REPLACE INTO neg_balances (free_id, base, exp) VALUES (?, ?, ?)",
                (free_id, str(value.base), value.exp),
            )

    def positive_ids(self, start: bytes, stop: bytes | None, limit: int) -> list[bytes]:
        """Node IDs with a stored positive balance in [start, stop) (None: to the end)."""
        if limit <= 0:
            return []
        if stop is None:
            rows = self.db.execute(
                "SELECT node_id FROM pos_balances WHERE node_id >= ? ORDER BY node_id LIMIT ?",
                (start, limit),
            )
        else:
            rows = self.db.execute(
                "SELECT node_id FROM pos_balances WHERE node_id >= ? AND node_id < ? "
                "ORDER BY node_id LIMIT ?",
                (start, stop, limit),
            )
        return [bytes(r[0]) for r in rows]

    def all_negative(self) -> list[tuple[str, ExpiredValue]]:
        rows = self.db.execute("SELECT free_id, base, exp FROM neg_balances")
        return [(str(r[0]), _value(r[1], r[2])) for r in rows]

    def save_offsets(self, pos: int, neg: int) -> None:
        with _writing(lambda: "expiration offsets"):
            self.store.set_meta("expiration_offsets", f"{pos},{neg}")

    def load_offsets(self) -> tuple[int, int]:
        text = self.store.get_meta("expiration_offsets")
        if not text:
            return 0, 0
        try:
            pos, neg = (int(x) for x in text.split(","))
        except ValueError:
            return 0, 0
        return pos, neg


def _value(base: object, exp: object) -> ExpiredValue:
    """A stored balance; a row damaged since the store was opened (and checked) is a
    StoreError naming the problem, not a ValueError deep in the pool."""
    try:
        return ExpiredValue(int(str(base)), int(str(exp)))
    except ValueError:
        raise StoreError(f"a balance row is damaged: base {base!r:.40}, exp {exp!r:.40}") from None
