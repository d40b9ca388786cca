"""The light client's chain: verified headers in SQLite, with a small LRU in front.

Each stored header has its number, hash, RLP, total difficulty and how it was proved:
``cht`` (a CHT proof against the checkpoint's section ``section``) or ``link`` (its parent
hash links it to the previous stored header). Only canonical headers are stored, so the
``headers`` table is the canonical index (by number; by hash through an index); ``meta``
holds the head and the chain identity (genesis hash, checkpoint, section size) the file is
bound to: another chain's file is refused with a one-line :class:`StoreError`.

Schema changelog (``meta.schema_version``): 1 meta, headers.

The conventions are those of :mod:`lightclient.store.sqlite`: WAL, ``synchronous=FULL``,
a schema version, opening checks that turn a damaged or foreign file into a one-line
StoreError naming it, and nothing deleted to repair a file. A chain is used from one
thread (the client's event loop): its one connection is sqlite3's ``check_same_thread``.

Memory: at most ``cache_size`` headers are held in the LRU, whatever the chain length;
the rest are read from the file when asked for. ``LightChain.memory()`` keeps the same
tables in an in-memory SQLite database (no datadir: gone at exit).
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.header import Header, decode_header
from lightclient.errors import InvalidInput
from lightclient.store.sqlite import StoreError, open_database

__all__ = ["CACHE_SIZE", "CHAIN_DB_NAME", "LightChain", "Stored"]

SCHEMA_VERSION = 1
CHAIN_DB_NAME = "lightchain.sqlite"
CACHE_SIZE = 4096
_REPAIR = "move it away or use another --datadir"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS headers (
    number INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    rlp BLOB NOT NULL,
    td TEXT NOT NULL,
    proof TEXT NOT NULL CHECK (proof IN ('cht', 'link')),
    section INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS headers_by_hash ON headers (hash);
"""


@dataclass(frozen=True)
class Stored:
    """A verified header, its total difficulty and how it was proved."""

    header: Header
    td: int
    proof: str  # "cht" or "link"
    section: int | None = None  # the CHT section, for proof "cht"


class LightChain:
    """``LightChain.open(datadir, ...)`` or ``LightChain.memory()``."""

    def __init__(self, path: str, db: sqlite3.Connection, cache_size: int = CACHE_SIZE) -> None:
        if cache_size < 1:
            raise InvalidInput(f"the header cache holds at least 1 header, got {cache_size}")
        self.path = path
        self._db = db
        self.cache_size = cache_size
        self._cache: OrderedDict[int, Stored] = OrderedDict()
        self._numbers: dict[bytes, int] = {}  # hash -> number, for what is in _cache
        self._closed = False

    @classmethod
    def memory(cls, cache_size: int = CACHE_SIZE) -> LightChain:
        chain = cls(":memory:", sqlite3.connect(":memory:", isolation_level=None), cache_size)
        chain.db.executescript(_SCHEMA)
        chain._set_meta("schema_version", str(SCHEMA_VERSION))
        return chain

    @classmethod
    def open(
        cls,
        datadir: str | Path,
        *,
        genesis_hash: bytes | None,
        checkpoint: TrustedCheckpoint,
        section_size: int,
        cache_size: int = CACHE_SIZE,
    ) -> LightChain:
        """Open (or create) ``<datadir>/lightchain.sqlite``, bound to this chain."""
        path, db = open_database(Path(datadir), CHAIN_DB_NAME, "light chain")
        chain = cls(str(path), db, cache_size)
        try:
            chain._prepare()
            chain._bind(
                genesis=(genesis_hash or b"").hex(),
                checkpoint=f"{checkpoint.section_index}:{checkpoint.hash().hex()}",
                section_size=str(section_size),
            )
        except sqlite3.Error as exc:
            chain.close()
            raise StoreError(f"{path} is not a light chain ({exc}); {_REPAIR}") from None
        except BaseException:
            chain.close()
            raise
        return chain

    @property
    def db(self) -> sqlite3.Connection:
        """The connection; StoreError once closed."""
        if self._closed:
            raise StoreError(f"{self.path} is closed")
        return self._db

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.close()

    # -- opening checks ----------------------------------------------------------------

    def _prepare(self) -> None:
        db = self.db
        tables = {
            str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if tables and not {"meta", "headers"} <= tables:
            raise StoreError(f"{self.path} is an SQLite database but not a light chain; {_REPAIR}")
        version = self._meta("schema_version") if tables else None
        if version not in (None, str(SCHEMA_VERSION)):
            raise StoreError(
                f"{self.path} has schema version {version!r}; this lightclient reads "
                f"{SCHEMA_VERSION}"
            )
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        if version is None:
            self._set_meta("schema_version", str(SCHEMA_VERSION))
        head = self._meta("head")
        if head is not None:
            stored = self.get(int(head)) if head.isascii() and head.isdigit() else None
            if stored is None:
                raise StoreError(
                    f"{self.path} is damaged: its head {head!r} is not a stored header; {_REPAIR}"
                )

    def _bind(self, **identity: str) -> None:
        for key, value in identity.items():
            stored = self._meta(key)
            if stored is None:
                self._set_meta(key, value)
            elif stored != value:
                raise StoreError(
                    f"{self.path} is the light chain of another setup: its {key} is "
                    f"{stored}, not {value}; {_REPAIR}"
                )

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- the cache ---------------------------------------------------------------------

    @property
    def cached(self) -> int:
        """How many headers the LRU holds (never more than ``cache_size``)."""
        return len(self._cache)

    def _remember(self, stored: Stored) -> None:
        number = stored.header.number
        old = self._cache.pop(number, None)
        if old is not None:
            self._numbers.pop(old.header.hash, None)
        self._cache[number] = stored
        self._numbers[stored.header.hash] = number
        while len(self._cache) > self.cache_size:
            _, evicted = self._cache.popitem(last=False)
            self._numbers.pop(evicted.header.hash, None)

    def _forget_above(self, number: int) -> None:
        for n in [n for n in self._cache if n > number]:
            self._numbers.pop(self._cache.pop(n).header.hash, None)

    # -- reads -------------------------------------------------------------------------

    def _row(self, where: str, key: object) -> Stored | None:
        try:
            row = self.db.execute(
                f"SELECT number, hash, rlp, td, proof, section FROM headers WHERE {where} = ?",
                (key,),
            ).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        if row is None:
            return None
        number, block_hash, rlp, td, proof, section = row
        try:
            header = decode_header(bytes(rlp))
            if header.number != number or header.hash != bytes(block_hash):
                raise ValueError("the RLP is not the header of this number and hash")
            stored = Stored(header, int(td), str(proof), section)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"{self.path} is damaged: header {number}: {exc}; {_REPAIR}") from None
        self._remember(stored)
        return stored

    def get(self, number: int) -> Stored | None:
        """The stored header at ``number`` (canonical), or None."""
        stored = self._cache.get(number) if not self._closed else None
        if stored is not None:
            self._cache.move_to_end(number)
            return stored
        if not 0 <= number < 2**63:
            return None
        return self._row("number", number)

    def by_hash(self, block_hash: bytes) -> Stored | None:
        number = self._numbers.get(block_hash)
        if number is not None:
            return self.get(number)
        return self._row("hash", bytes(block_hash))

    def head(self) -> Header | None:
        """The head the last sync reached (None before the first)."""
        number = self._meta("head")
        stored = None if number is None else self.get(int(number))
        return None if stored is None else stored.header

    def numbers(self) -> list[int]:
        return [int(r[0]) for r in self.db.execute("SELECT number FROM headers ORDER BY number")]

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM headers").fetchone()[0])

    # -- writes ------------------------------------------------------------------------

    def _write(self, rows: Iterable[Stored], head: int | None) -> None:
        items = list(rows)
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR REPLACE INTO headers (number, hash, rlp, td, proof, section) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (s.header.number, s.header.hash, s.header.rlp, str(s.td), s.proof, s.section)
                    for s in items
                ],
            )
            if head is not None:
                self._set_meta("head", str(head))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"cannot write to {self.path}: {exc}") from None
        for stored in items:
            self._remember(stored)

    def put_cht(self, header: Header, td: int, section: int, *, head: bool = False) -> None:
        """A header proved by CHT proof against the checkpoint's ``section`` (``head``: it
        is also where the synced chain starts)."""
        self._write([Stored(header, td, "cht", section)], header.number if head else None)

    def extend(self, headers: list[Header]) -> None:
        """Hash-linked headers after the head, in one transaction; the last is the new head."""
        if not headers:
            return
        parent = self.get(headers[0].number - 1)
        if parent is None or headers[0].parent_hash != parent.header.hash:
            raise InvalidInput(f"header {headers[0].number} does not link to the stored chain")
        td, rows = parent.td, []
        for header in headers:
            td += header.difficulty
            rows.append(Stored(header, td, "link"))
        self._write(rows, headers[-1].number)

    def rewind(self, number: int) -> int:
        """Drop the stored headers above ``number`` (a reorg past it), which becomes the
        head; returns how many were dropped."""
        if self.get(number) is None:
            raise InvalidInput(f"cannot rewind to block {number}: it is not stored")
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute("DELETE FROM headers WHERE number > ?", (number,))
            self._set_meta("head", str(number))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"cannot write to {self.path}: {exc}") from None
        self._forget_above(number)
        return int(cursor.rowcount)
