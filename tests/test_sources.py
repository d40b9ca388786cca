"""Header sources (file, embedded, memory) and the checks every source's output goes through."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightclient.core.header import _FAST_LAYOUT, _decode_fast, _decode_strict, decode_header
from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import encode_bytes, encode_list, split_list
from lightclient.errors import ChainGap, InvalidHeader, ReorgDetected, SourceUnavailable
from lightclient.sources.base import RawHeader, checked_headers
from lightclient.sources.embedded import EmbeddedChain, EmbeddedHeaderSource
from lightclient.sources.rlpfile import RlpFileHeaderSource
from lightclient.testing.synthetic import FORK_FIELD_COUNTS, MemoryHeaderSource, SyntheticChain


def _tamper(raw: bytes, field: int, value: bytes) -> bytes:
    fields = split_list(raw)
    fields[field] = value
    return encode_list([encode_bytes(f) for f in fields])


@pytest.mark.parametrize("fork", sorted(FORK_FIELD_COUNTS))
def test_every_fork_shape_decodes(fork: str) -> None:
    chain = SyntheticChain(3, fork=fork)
    headers = checked_headers(chain.headers(), 0, None)
    assert [h.number for h in headers] == [0, 1, 2]
    assert len(split_list(headers[0].rlp)) == FORK_FIELD_COUNTS[fork]


def test_py_evm_header_classes_decode() -> None:
    """Real py-evm headers of each fork (their .hash is py-evm's own) decode and hash the same."""
    import rlp
    from eth.rlp.headers import BlockHeader
    from eth.vm.forks.cancun.blocks import CancunBlockHeader
    from eth.vm.forks.london.blocks import LondonBlockHeader
    from eth.vm.forks.prague.blocks import PragueBlockHeader
    from eth.vm.forks.shanghai.blocks import ShanghaiBlockHeader

    common = {"difficulty": 131072, "block_number": 7, "gas_limit": 30_000_000, "timestamp": 5}
    for cls, extra in [
        (BlockHeader, {}),
        (LondonBlockHeader, {"base_fee_per_gas": 7}),
        (ShanghaiBlockHeader, {"base_fee_per_gas": 7}),
        (CancunBlockHeader, {"base_fee_per_gas": 7, "blob_gas_used": 131072}),
        (PragueBlockHeader, {"base_fee_per_gas": 7, "excess_blob_gas": 3}),
    ]:
        header = cls(**common, **extra)
        decoded = decode_header(rlp.encode(header), header.hash)
        assert decoded.number == 7
        assert decoded.difficulty == 131072


def test_hash_mismatch_names_the_block() -> None:
    chain = SyntheticChain(4).headers()
    bad = RawHeader(2, chain[2].hash, _tamper(chain[2].rlp, 9, b"\x01"))
    with pytest.raises(InvalidHeader, match="block 2") as info:
        checked_headers([chain[0], chain[1], bad, chain[3]], 0, None)
    assert info.value.block == 2


def test_gap_reorg_and_wrong_number_are_reported() -> None:
    chain = SyntheticChain(5).headers()
    with pytest.raises(ChainGap, match="block 2"):
        checked_headers([chain[0], chain[1], chain[3]], 0, None)
    other = SyntheticChain(5, seed=99).headers()
    with pytest.raises(ReorgDetected, match="block 2"):
        checked_headers([chain[0], chain[1], other[2]], 0, None)
    with pytest.raises(ReorgDetected, match="block 3"):
        checked_headers(chain[3:], 3, other[2].hash)
    relabelled = RawHeader(1, None, chain[2].rlp)
    with pytest.raises(InvalidHeader, match="carries number 2"):
        checked_headers([chain[0], relabelled], 0, None)


def test_malformed_header_rlp() -> None:
    with pytest.raises(InvalidHeader, match="malformed"):
        decode_header(b"\xc5\x83abc")
    with pytest.raises(InvalidHeader, match="15 to 21 fields"):
        decode_header(encode_list([encode_bytes(b"x")] * 3))
    raw = SyntheticChain(1).headers()[0].rlp
    with pytest.raises(InvalidHeader, match="logsBloom"):
        decode_header(_tamper(raw, 6, b"\x00" * 255))
    with pytest.raises(InvalidHeader, match="leading zero"):
        decode_header(_tamper(raw, 7, b"\x00\x01"))


async def test_file_source_headers_blocks_and_gzip(tmp_path: Path) -> None:
    chain = SyntheticChain(40, seed=2)
    plain = tmp_path / "headers.rlp"
    plain.write_bytes(chain.rlp_file_bytes())
    blocks = tmp_path / "blocks.rlp.gz"
    blocks.write_bytes(gzip.compress(chain.rlp_file_bytes(as_blocks=True)))
    for path in (plain, blocks):
        source = RlpFileHeaderSource(path)
        assert await source.head() == 39
        got = checked_headers(await source.headers(5, 10), 5, chain.headers()[4].hash)
        assert [h.hash for h in got] == [h.hash for h in chain.headers()[5:15]]
        with pytest.raises(ChainGap, match="ends at block 39"):
            await source.headers(35, 10)
        await source.close()


async def test_file_source_mid_chain_start(tmp_path: Path) -> None:
    chain = SyntheticChain(20, first_number=1000, first_parent=keccak(b"p"))
    path = tmp_path / "mid.rlp"
    path.write_bytes(chain.rlp_file_bytes())
    source = RlpFileHeaderSource(path)
    assert source.first_block == 1000
    assert await source.head() == 1019
    with pytest.raises(ChainGap, match="starts at block 1000"):
        await source.headers(0, 1)


def test_file_source_bad_files(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="cannot read"):
        RlpFileHeaderSource(tmp_path / "missing.rlp")
    truncated = tmp_path / "truncated.rlp"
    truncated.write_bytes(SyntheticChain(3).rlp_file_bytes()[:-10])
    with pytest.raises(InvalidHeader, match="truncated or malformed RLP in item 2"):
        RlpFileHeaderSource(truncated)
    empty = tmp_path / "empty.rlp"
    empty.write_bytes(b"")
    with pytest.raises(SourceUnavailable, match="no headers"):
        RlpFileHeaderSource(empty)
    junk = tmp_path / "junk.rlp"
    junk.write_bytes(b"hello world")
    with pytest.raises(InvalidHeader, match="not an RLP list"):
        RlpFileHeaderSource(junk)
    bad_gz = tmp_path / "bad.rlp.gz"
    bad_gz.write_bytes(b"not gzip at all")
    with pytest.raises(SourceUnavailable, match="cannot read"):
        RlpFileHeaderSource(bad_gz)


async def test_memory_source() -> None:
    chain = SyntheticChain(10).headers()
    source = MemoryHeaderSource(chain)
    assert await source.head() == 9
    assert await source.headers(2, 3) == chain[2:5]
    with pytest.raises(ChainGap):
        await source.headers(8, 5)


async def test_embedded_chain_source() -> None:
    chain = EmbeddedChain()
    chain.mine(12, log_every=4)
    source = EmbeddedHeaderSource(chain)
    head = await source.head()
    assert head >= 12
    headers = checked_headers(await source.headers(0, head + 1), 0, None)
    assert headers[1].difficulty > 0  # London-era proof of work: real difficulties
    assert any(h.bloom != b"\x00" * 256 for h in headers)  # the log-emitter's logs
    with pytest.raises(ChainGap):
        await source.headers(head + 1, 1)


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=16),
    seed=st.integers(0, 1000),
    fork=st.sampled_from(sorted(FORK_FIELD_COUNTS)),
)
def test_fast_and_strict_header_paths_agree(data: bytes, seed: int, fork: str) -> None:
    """decode_header's regex path accepts exactly what the strict splitter accepts."""
    raw = bytearray(SyntheticChain(1, seed=seed, fork=fork).headers()[0].rlp)
    for i in range(0, len(data) - 1, 2):  # overwrite a few bytes, mostly near the end
        raw[len(raw) - 1 - (data[i] % 120)] = data[i + 1]
    candidate = bytes(raw)
    fast = _decode_fast(candidate)
    try:
        strict: tuple[int, bytes, int, bytes] | None = _decode_strict(candidate)
    except InvalidHeader:
        strict = None
    if fast is not None:
        assert fast == strict
    elif strict is not None:
        # A valid but unusual layout (e.g. an integer field of 1 byte at 0x81 0x80..):
        # it must really be outside the fast layouts, i.e. the regex refused it.
        assert _FAST_LAYOUT.fullmatch(candidate, 3) is None


def test_fast_path_covers_every_fork() -> None:
    for fork in FORK_FIELD_COUNTS:
        raw = SyntheticChain(1, fork=fork).headers()[0].rlp
        assert _decode_fast(raw) == _decode_strict(raw)
