"""The persistent light chain store (LightChain) alone: headers, TD, proofs and head
across a reopen, the bounded LRU, rewinds, and damaged or foreign files refused in one
line."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lightclient.client.lightchain import CHAIN_DB_NAME, LightChain
from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.header import Header, decode_header
from lightclient.store.sqlite import StoreError
from lightclient.testing.synthetic import SyntheticChain

CP = TrustedCheckpoint(0, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)
GENESIS = b"\x04" * 32


def chain_headers(length: int, seed: int = 5) -> list[Header]:
    return [decode_header(h.rlp) for h in SyntheticChain(length, seed=seed).headers()]


def open_chain(datadir: Path, **kw: Any) -> LightChain:
    args: dict[str, Any] = {"genesis_hash": GENESIS, "checkpoint": CP, "section_size": 32}
    args.update(kw)
    return LightChain.open(datadir, **args)


# -- the store alone ---------------------------------------------------------------------


def test_headers_td_proofs_and_head_survive_a_reopen(tmp_path: Path) -> None:
    headers = chain_headers(10)
    chain = open_chain(tmp_path)
    chain.put_cht(headers[3], 100, 0, head=True)
    chain.extend(headers[4:10])
    assert chain.head() == headers[9]
    chain.close()
    chain = open_chain(tmp_path)
    assert chain.cached == 1  # only the head, read by the opening checks
    assert chain.head() == headers[9]
    stored = chain.get(3)
    assert stored is not None and (stored.proof, stored.section, stored.td) == ("cht", 0, 100)
    seven = chain.get(7)
    assert seven is not None and seven.proof == "link" and seven.section is None
    assert seven.td == 100 + sum(h.difficulty for h in headers[4:8])
    by_hash = chain.by_hash(headers[5].hash)
    assert by_hash is not None and by_hash.header == headers[5]
    assert chain.get(2) is None and chain.by_hash(b"\x00" * 32) is None
    assert chain.numbers() == list(range(3, 10)) and len(chain) == 7
    chain.close()


def test_extend_refuses_a_header_that_does_not_link() -> None:
    headers = chain_headers(6)
    chain = LightChain.memory()
    chain.put_cht(headers[1], 1, 0, head=True)
    with pytest.raises(ValueError, match="does not link"):
        chain.extend(headers[3:5])
    assert chain.head() == headers[1] and len(chain) == 1


def test_the_lru_is_bounded_and_reads_fall_through_to_the_file(tmp_path: Path) -> None:
    headers = chain_headers(50)
    chain = open_chain(tmp_path, cache_size=8)
    chain.put_cht(headers[0], 1, 0, head=True)
    chain.extend(headers[1:50])
    assert chain.cached == 8
    for n in range(50):
        stored = chain.get(n)
        assert stored is not None and stored.header == headers[n]
        assert chain.cached <= 8
    assert chain.by_hash(headers[2].hash) is not None and chain.cached == 8
    chain.close()


def test_rewind_drops_the_headers_above(tmp_path: Path) -> None:
    headers = chain_headers(20)
    chain = open_chain(tmp_path)
    chain.put_cht(headers[0], 1, 0, head=True)
    chain.extend(headers[1:20])
    assert chain.rewind(12) == 7
    assert chain.head() == headers[12]
    assert chain.get(13) is None and chain.by_hash(headers[15].hash) is None
    chain.close()
    chain = open_chain(tmp_path)
    assert chain.head() == headers[12] and len(chain) == 13
    chain.close()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", r"is empty \(0 bytes\), not a light chain"),
        (b"not sqlite at all" * 100, "is not a light chain"),
    ],
)
def test_a_damaged_file_is_one_line(tmp_path: Path, content: bytes, why: str) -> None:
    (tmp_path / CHAIN_DB_NAME).write_bytes(content)
    with pytest.raises(StoreError, match=why) as info:
        open_chain(tmp_path)
    assert "\n" not in str(info.value) and CHAIN_DB_NAME in str(info.value)
    assert (tmp_path / CHAIN_DB_NAME).read_bytes() == content  # nothing repaired


def test_another_sqlite_file_and_a_damaged_head_are_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / CHAIN_DB_NAME)
    db.execute("CREATE TABLE other (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="SQLite database but not a light chain"):
        open_chain(tmp_path)
    other = tmp_path / "b"
    open_chain(other).close()
    db = sqlite3.connect(other / CHAIN_DB_NAME)
    db.execute("INSERT INTO meta VALUES ('head', '77')")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="damaged: its head '77' is not a stored header") as info:
        open_chain(other)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"genesis_hash": b"\x05" * 32}, "genesis"),
        (
            {"checkpoint": TrustedCheckpoint(1, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)},
            "checkpoint",
        ),
        ({"section_size": 64}, "section_size"),
    ],
)
def test_another_chains_file_is_refused(tmp_path: Path, change: dict[str, Any], key: str) -> None:
    open_chain(tmp_path).close()
    with pytest.raises(StoreError, match=f"light chain of another setup: its {key} is") as info:
        open_chain(tmp_path, **change)
    assert "\n" not in str(info.value)
    open_chain(tmp_path).close()  # still good for its own chain


def test_a_closed_chain_says_so(tmp_path: Path) -> None:
    headers = chain_headers(3)
    chain = open_chain(tmp_path)
    chain.put_cht(headers[0], 1, 0, head=True)
    chain.close()
    for call in (lambda: chain.get(0), chain.head, lambda: chain.extend(headers[1:])):
        with pytest.raises(StoreError, match="is closed"):
            call()
