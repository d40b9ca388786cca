"""A damaged data directory is refused at open with one line naming the file and the
problem: never a traceback, never a silent reset, nothing deleted."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lightclient.cli.main import main
from lightclient.store.sqlite import DB_NAME, SCHEMA_VERSION, Store, StoreError
from lightclient.sync.syncer import Syncer
from lightclient.testing.synthetic import MemoryHeaderSource, SyntheticChain

SIZE = 16
SECTIONS = 3


def make_store(datadir: Path) -> Path:
    """A store with SECTIONS indexed sections and one balance of each kind."""
    store = Store.open(datadir)
    try:
        source = MemoryHeaderSource(SyntheticChain(SECTIONS * SIZE).headers())
        syncer = Syncer(source, store, section_size=SIZE, confirmations=0)
        assert len(asyncio.run(syncer.sync())) == SECTIONS
        store.db.execute("INSERT INTO pos_balances VALUES (?, '1000', 0, 'paid')", (b"\x5a" * 32,))
        store.db.execute("INSERT INTO neg_balances VALUES ('10.0.0.1', '20', 3)")
    finally:
        store.close()
    return datadir / DB_NAME


def damage(path: Path, *statements: str) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            db.execute(statement)
    finally:
        db.close()


DAMAGE: dict[str, tuple[tuple[str, ...], str]] = {
    "schema version abc": (
        ("UPDATE meta SET value = 'abc' WHERE key = 'schema_version'",),
        "schema version 'abc', not a number",
    ),
    "schema version 99": (
        ("UPDATE meta SET value = '99' WHERE key = 'schema_version'",),
        f"schema version 99; this lightclient reads {SCHEMA_VERSION}",
    ),
    "td not a number": (
        ("UPDATE sections SET td = '12x' WHERE idx = 1",),
        "section 1 has total difficulty '12x', not a number",
    ),
    "positive base not a number": (
        ("UPDATE pos_balances SET base = 'xyz'",),
        f"pos_balances row {'5a' * 32} has base 'xyz', not a number",
    ),
    "negative base not a number": (
        ("UPDATE neg_balances SET base = '1e5'",),
        "neg_balances row '10.0.0.1' has base '1e5', not a number",
    ),
    "exp not an integer": (
        ("UPDATE neg_balances SET exp = 'soon'",),
        "neg_balances row '10.0.0.1' has exp 'soon', not an integer",
    ),
    "middle section deleted": (
        ("DELETE FROM sections WHERE idx = 1",),
        "section 1 is missing (the next stored section is 2",
    ),
    "first section deleted": (
        ("DELETE FROM sections WHERE idx = 0",),
        "section 0 is missing",
    ),
    "short section head": (
        ("UPDATE sections SET head = x'0102' WHERE idx = 2",),
        "section 2 has a head of 2 bytes, not 32 bytes",
    ),
    "cht root as text": (
        ("UPDATE sections SET cht_root = 'root' WHERE idx = 0",),
        "section 0 has a CHT root of str 'root', not 32 bytes",
    ),
}


def open_error(datadir: Path) -> str:
    with pytest.raises(StoreError) as caught:
        Store.open(datadir)
    message = str(caught.value)
    assert "\n" not in message
    assert str(datadir / DB_NAME) in message  # names the file
    return message


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_store_is_refused_and_left_alone(case: str, tmp_path: Path) -> None:
    path = make_store(tmp_path)
    statements, expected = DAMAGE[case]
    damage(path, *statements)
    before = path.read_bytes()
    assert expected in open_error(tmp_path)
    assert path.read_bytes() == before  # nothing repaired, reset or deleted
    assert expected in open_error(tmp_path)  # and it stays refused


def test_intact_store_opens_with_its_sections(tmp_path: Path) -> None:
    make_store(tmp_path)
    store = Store.open(tmp_path)
    try:
        assert store.section_count() == SECTIONS
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
    finally:
        store.close()


def test_version_1_store_upgrades_in_place(tmp_path: Path) -> None:
    path = make_store(tmp_path)
    damage(path, "UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    store = Store.open(tmp_path)
    try:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert store.section_count() == SECTIONS
    finally:
        store.close()


def test_unknown_version_adds_no_tables(tmp_path: Path) -> None:
    path = make_store(tmp_path)
    damage(path, "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
           "DROP TABLE neg_balances")  # fmt: skip
    open_error(tmp_path)
    db = sqlite3.connect(path)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        db.close()
    assert "neg_balances" not in tables  # a newer schema is not touched


def write_file(content: bytes) -> Callable[[Path], None]:
    def make(datadir: Path) -> None:
        datadir.mkdir(parents=True, exist_ok=True)
        (datadir / DB_NAME).write_bytes(content)

    return make


def foreign_sqlite(datadir: Path) -> None:
    datadir.mkdir(parents=True, exist_ok=True)
    damage(datadir / DB_NAME, "CREATE TABLE photos (id INTEGER PRIMARY KEY, jpeg BLOB)")


FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "0-byte file": (write_file(b""), "is empty (0 bytes), not a lightclient store"),
    "garbage file": (write_file(b"not a database at all\n" * 300), "is not a lightclient store"),
    "another sqlite database": (foreign_sqlite, "an SQLite database but not a lightclient store"),
}


@pytest.mark.parametrize("case", FILES)
def test_unusable_file_is_refused_and_left_alone(case: str, tmp_path: Path) -> None:
    make, expected = FILES[case]
    make(tmp_path)
    path = tmp_path / DB_NAME
    before = path.read_bytes()
    assert expected in open_error(tmp_path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [
        DB_NAME
    ]


def serve_args(datadir: Path) -> list[str]:
    # The store is opened before the node is contacted: no node is needed to see the error.
    return ["serve", "--rpc", "http://127.0.0.1:9", "--datadir", str(datadir)]


def test_cli_reports_a_zero_byte_store_in_one_line(tmp_path: Path) -> None:
    write_file(b"")(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "lightclient.cli.main", *serve_args(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"lightclient: error: {tmp_path / DB_NAME} is empty (0 bytes), not a lightclient "
        "store; move it away or use another --datadir"
    ]


def test_cli_reports_a_missing_section_in_one_line(tmp_path: Path) -> None:
    path = make_store(tmp_path)
    damage(path, "DELETE FROM sections WHERE idx = 1")
    result = subprocess.run(
        [sys.executable, "-m", "lightclient.cli.main", *serve_args(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"lightclient: error: {path} is damaged: section 1 is missing")


@pytest.mark.parametrize("case", ["schema version abc", "positive base not a number"])
def test_main_reports_damage_in_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damage(make_store(tmp_path), *DAMAGE[case][0])
    assert main(serve_args(tmp_path)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lightclient: error: ")
    assert DAMAGE[case][1] in err


def test_a_balance_damaged_after_open_is_a_store_error(tmp_path: Path) -> None:
    from lightclient.store.balances import SqliteBalanceStore
    from lightclient.store.sqlite import Store, StoreError

    store = Store.open(tmp_path)
    try:
        balances = SqliteBalanceStore(store)
        store.db.execute("INSERT INTO pos_balances (node_id, base, exp, meta) VALUES (?, ?, ?, ?)",
                         (b"\x01" * 32, "xyz", 0, None))  # fmt: skip
        with pytest.raises(StoreError, match="a balance row is damaged: base 'xyz'"):
            balances.load_pos(b"\x01" * 32)
    finally:
        store.close()
