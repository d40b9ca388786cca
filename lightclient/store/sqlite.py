"""The SQLite store: indexed sections, trie nodes and chain identity, in one WAL file.

Schema changelog (``meta.schema_version``):
  1  meta, sections, nodes.
  2  pos_balances, neg_balances (the light server's client pool); 1 upgrades in place.

A section and the trie nodes it added are written in one transaction, so a crash leaves
either the whole section or none of it, and indexing resumes after the last whole section.

Threads: every thread gets its own connection (``Store.db`` is a per-thread connection,
opened on first use with the same pragmas); no connection is ever shared between threads.
The section build reads trie nodes in a worker thread while the event loop thread writes
sections and balances. ``close()`` refuses new work, waits until no thread is inside a
store call, and only then closes every connection, so a worker still running at shutdown
gets a :class:`StoreError` instead of reading a closed connection. (One executor for all
store access would serialise node reads behind balance writes; per-thread connections keep
WAL's concurrent readers.)

Opening checks the data directory and refuses a damaged one with a one-line
:class:`StoreError` naming the file: a 0-byte file (we never create one: a new store is
made only where no file exists), a file that is not SQLite, an SQLite file that is not a
store, an unreadable or unknown schema version, sections not contiguous from 0, and rows of
the small tables (sections, balances) whose values do not parse. The nodes table is too
big to scan at every start; a damaged page there surfaces as a StoreError when read.
Nothing is ever deleted or reset to repair a store: that is the user's decision.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path

from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.sections import ChainState
from lightclient.errors import InvalidInput, LightClientError

__all__ = ["SCHEMA_VERSION", "Store", "StoreError", "open_database"]

SCHEMA_VERSION = 2
DB_NAME = "lightclient.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sections (
    idx INTEGER PRIMARY KEY,
    head BLOB NOT NULL,
    cht_root BLOB NOT NULL,
    bloom_root BLOB NOT NULL,
    td TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (hash BLOB PRIMARY KEY, rlp BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pos_balances (
    node_id BLOB PRIMARY KEY,
    base TEXT NOT NULL,
    exp INTEGER NOT NULL,
    meta TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS neg_balances (
    free_id TEXT PRIMARY KEY,
    base TEXT NOT NULL,
    exp INTEGER NOT NULL
) WITHOUT ROWID;
"""

_INTEGER = re.compile(r"-?[0-9]+")
_REPAIR = "move it away or use another --datadir"


class StoreError(LightClientError):
    """The data directory cannot be used (unreadable, damaged, another chain or schema)."""


def _connect(path: Path, *, wal: bool = True) -> sqlite3.Connection:
    """A connection with the store's pragmas (``wal=False``: all but the journal mode, which
    writes to the file, for a file not yet known to be a store). ``check_same_thread=False``
    only lets ``close()`` close it from the closing thread once its own thread is done."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    try:
        db.execute("PRAGMA synchronous=FULL")
        if wal:
            db.execute("PRAGMA journal_mode=WAL")
    except BaseException:
        db.close()
        raise
    return db


def open_database(directory: Path, name: str, what: str) -> tuple[Path, sqlite3.Connection]:
    """``directory/name`` opened with the store's pragmas, not yet in WAL mode (that writes to
    the file, which must first be known to be ``what``). A 0-byte file (we never make one) or
    a file SQLite cannot open is a one-line StoreError; nothing is repaired or deleted."""
    path = directory / name
    existed = False
    try:
        directory.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        if existed and path.is_file() and path.stat().st_size == 0:
            raise StoreError(f"{path} is empty (0 bytes), not a {what}; {_REPAIR}")
        return path, _connect(path, wal=False)
    except OSError as exc:
        raise StoreError(f"cannot open the data directory {directory}: {exc}") from None
    except sqlite3.Error as exc:
        if existed:
            raise StoreError(f"{path} is not a {what} ({exc}); {_REPAIR}") from None
        raise StoreError(f"cannot open the data directory {directory}: {exc}") from None


def _describe(value: object) -> str:
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    return f"{type(value).__name__} {value!r}"


class _NodeView(MutableMapping[bytes, bytes]):
    """Trie nodes: reads see pending writes first, then the database (this thread's
    connection: the section build reads here from its worker thread)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: dict[bytes, bytes] = {}

    def __getitem__(self, key: bytes) -> bytes:
        value = self.pending.get(key)
        if value is not None:
            return value
        store = self.store  # store.using() inlined: this is the section build's hot path
        db = store.enter()
        try:
            row = db.execute("SELECT rlp FROM nodes WHERE hash = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{store.path}: {exc}") from None
        finally:
            store.leave()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        raise NotImplementedError("trie nodes are never deleted one by one")

    def __iter__(self) -> Iterator[bytes]:
        raise NotImplementedError("the node store is not enumerable")

    def __len__(self) -> int:
        with self.store.using() as db:
            row = db.execute("SELECT COUNT(*) FROM nodes").fetchone()
        return int(row[0]) + len(self.pending)


class Store:
    """``Store.open(datadir)``: sections and trie nodes of one chain and section size."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        """``db`` becomes the calling thread's connection; other threads open their own."""
        self.path = path
        self.nodes = _NodeView(self)
        self._local = threading.local()
        self._local.db = db
        self._connections = [db]
        self._guard = threading.Condition(threading.Lock())
        self._busy = 0
        self._closed = False

    @classmethod
    def open(cls, datadir: str | Path) -> Store:
        path, db = open_database(Path(datadir), DB_NAME, "lightclient store")
        store = cls(path, db)
        try:
            store._prepare()
        except BaseException:
            store.close()
            raise
        return store

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use; StoreError once closed."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None and not self._closed:
            return db
        with self._guard:
            if self._closed:
                raise StoreError(f"{self.path} is closed")
            try:
                db = _connect(self.path)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open {self.path}: {exc}") from None
            self._connections.append(db)
        self._local.db = db
        return db

    def enter(self) -> sqlite3.Connection:
        """Start a store call on this thread's connection (``leave()`` ends it)."""
        with self._guard:
            if self._closed:
                raise StoreError(f"{self.path} is closed")
            self._busy += 1
        try:
            return self.db
        except BaseException:
            self.leave()
            raise

    def leave(self) -> None:
        with self._guard:
            self._busy -= 1
            if self._closed:
                self._guard.notify_all()

    @contextmanager
    def using(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection for one store call: ``close()`` waits for the call to
        end, and SQLite errors become StoreError."""
        db = self.enter()
        try:
            yield db
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        finally:
            self.leave()

    def close(self) -> None:
        """Refuse new calls, wait for the running ones, then close every connection."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            self._guard.wait_for(lambda: self._busy == 0)
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()

    # -- opening checks ----------------------------------------------------------------

    def _prepare(self) -> None:
        """Create or upgrade the schema, then check what the server relies on."""
        with self.using() as db:
            tables = self._tables(db)
            if tables and "meta" not in tables:
                raise StoreError(
                    f"{self.path} is an SQLite database but not a lightclient store; {_REPAIR}"
                )
            version = self._schema_version() if tables else None
            if version not in (None, 1, SCHEMA_VERSION):
                raise StoreError(
                    f"{self.path} has schema version {version}; this lightclient reads "
                    f"{SCHEMA_VERSION}"
                )
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            if version != SCHEMA_VERSION:  # new, or version 1: version 2 only added tables
                self.set_meta("schema_version", str(SCHEMA_VERSION))
            self._check_sections(db)
            self._check_balances(db)

    def _tables(self, db: sqlite3.Connection) -> set[str]:
        try:
            rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a lightclient store ({exc}); {_REPAIR}") from None
        return {str(row[0]) for row in rows}

    def _schema_version(self) -> int | None:
        text = self.get_meta("schema_version")
        if text is None:
            return None
        if not _INTEGER.fullmatch(text):
            raise StoreError(
                f"{self.path} has schema version {text!r}, not a number: the store is "
                f"damaged; {_REPAIR}"
            )
        return int(text)

    def _check_sections(self, db: sqlite3.Connection) -> None:
        """Sections are contiguous from 0, with 32-byte hashes and a decimal td."""
        rows = db.execute("SELECT idx, head, cht_root, bloom_root, td FROM sections ORDER BY idx")
        for expected, (idx, head, cht, bloom, td) in enumerate(rows):
            if idx != expected:
                raise StoreError(
                    f"{self.path} is damaged: section {expected} is missing (the next stored "
                    f"section is {idx}; sections must be contiguous from 0); {_REPAIR}"
                )
            for name, value in (("head", head), ("CHT root", cht), ("bloom root", bloom)):
                if not isinstance(value, bytes) or len(value) != 32:
                    raise StoreError(
                        f"{self.path} is damaged: section {idx} has a {name} of "
                        f"{_describe(value)}, not 32 bytes; {_REPAIR}"
                    )
            if not isinstance(td, str) or not td.isascii() or not td.isdigit():
                raise StoreError(
                    f"{self.path} is damaged: section {idx} has total difficulty {td!r}, "
                    f"not a number; {_REPAIR}"
                )

    def _check_balances(self, db: sqlite3.Connection) -> None:
        """Every balance row has a decimal base and an integer exponent."""
        for table, key in (("pos_balances", "node_id"), ("neg_balances", "free_id")):
            for ident, base, exp in db.execute(f"SELECT {key}, base, exp FROM {table}"):
                name = ident.hex() if isinstance(ident, bytes) else repr(ident)
                if not isinstance(base, str) or not _INTEGER.fullmatch(base):
                    raise StoreError(
                        f"{self.path} is damaged: {table} row {name} has base {base!r}, "
                        f"not a number; {_REPAIR}"
                    )
                if not isinstance(exp, int):
                    raise StoreError(
                        f"{self.path} is damaged: {table} row {name} has exp {exp!r}, "
                        f"not an integer; {_REPAIR}"
                    )

    # -- meta --------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self.using() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.using() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def bind(self, **identity: str) -> None:
        """Record the chain identity (genesis hash, section size...) or check it matches."""
        for key, value in identity.items():
            stored = self.get_meta(key)
            if stored is None:
                self.set_meta(key, value)
            elif stored != value:
                raise StoreError(
                    f"{self.path} belongs to another setup: its {key} is {stored}, not {value} "
                    "(use another --datadir)"
                )

    # -- sections ----------------------------------------------------------------------

    def state(self) -> ChainState:
        """Where indexing stands: the last stored section, or the empty state."""
        with self.using() as db:
            row = db.execute(
                "SELECT idx, head, cht_root, bloom_root, td FROM sections ORDER BY idx DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return ChainState()
        idx, head, cht, bloom, td = row
        return ChainState(idx + 1, bytes(cht), bytes(bloom), int(td), bytes(head))

    def section_count(self) -> int:
        with self.using() as db:
            row = db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM sections").fetchone()
        return int(row[0])

    def checkpoint(self, index: int) -> TrustedCheckpoint | None:
        if index < 0:
            raise InvalidInput(f"section index must not be negative, got {index}")
        if index >= 2**63:
            return None
        with self.using() as db:
            row = db.execute(
                "SELECT head, cht_root, bloom_root FROM sections WHERE idx = ?", (index,)
            ).fetchone()
        if row is None:
            return None
        return TrustedCheckpoint(index, bytes(row[0]), bytes(row[1]), bytes(row[2]))

    def latest_checkpoint(self) -> TrustedCheckpoint | None:
        count = self.section_count()
        return self.checkpoint(count - 1) if count else None

    def commit_section(self, checkpoint: TrustedCheckpoint, state: ChainState) -> None:
        """Store a section and the trie nodes written since the last commit, atomically."""
        if checkpoint.section_index != self.section_count():
            raise StoreError(
                f"section {checkpoint.section_index} does not follow the stored "
                f"{self.section_count()} sections"
            )
        pending = self.nodes.pending
        with self.using() as db:
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    "INSERT OR IGNORE INTO nodes (hash, rlp) VALUES (?, ?)", pending.items()
                )
                db.execute(
                    "INSERT INTO sections (idx, head, cht_root, bloom_root, td) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        checkpoint.section_index,
                        checkpoint.section_head,
                        checkpoint.cht_root,
                        checkpoint.bloom_root,
                        str(state.td),
                    ),
                )
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise StoreError(
                    f"cannot write section {checkpoint.section_index}: {exc}"
                ) from None
        pending.clear()

    def discard_pending(self) -> None:
        self.nodes.pending.clear()

    def rollback_to(self, sections: int) -> int:
        """Forget sections ``sections`` and later (a reorg); returns how many were dropped.

        Their trie nodes stay: they are content-addressed and harmless.
        """
        with self.using() as db:
            cursor = db.execute("DELETE FROM sections WHERE idx >= ?", (sections,))
        self.discard_pending()
        return cursor.rowcount
