"""lightclient.les.codec / keyvalue / codes: the strict RLP rules geth enforces (spec §0)
and the Status/Announce key lists (§4.3). Vectors marked "spec" are from
/work/shared/spec/les-wire.md; the rest follow from the RLP rules it states."""

from __future__ import annotations

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from lightclient.errors import LesProtocolError, LightClientError
from lightclient.les import codec
from lightclient.les.codes import (
    PROTOCOL_LENGTHS,
    REQUEST_CODES,
    MsgCode,
    client_accepts,
    server_accepts,
)
from lightclient.les.keyvalue import (
    decode_entries,
    encode_entries,
    entries_size,
    get_value,
    to_map,
)


def test_error_carries_kind_and_disconnect_reason() -> None:
    err = LesProtocolError("x")
    assert isinstance(err, LightClientError)
    assert (err.kind, err.disconnect) == ("ErrDecode", 0x10)
    assert LesProtocolError("y", kind="ErrUselessPeer", disconnect=0x03).disconnect == 0x03


@pytest.mark.parametrize(
    ("raw", "value"),
    [("80", 0), ("01", 1), ("7f", 127), ("8180", 128), ("88ffffffffffffffff", 2**64 - 1)],
)
def test_uint_canonical_values(raw: str, value: int) -> None:
    assert codec.read_uint(bytes.fromhex(raw), "v") == value
    assert codec.encode_int(value).hex() == raw


@pytest.mark.parametrize(
    "raw",
    [
        "00",  # the single byte 00 is a non-canonical zero
        "8100",  # a leading zero
        "820001",  # a leading zero
        "8101",  # a byte < 0x80 with a length prefix
        "89010000000000000000",  # 2**64: past uint64
        "c0",  # a list
        "b800",  # long form for a short string
        "82ff",  # truncated
        "8080",  # trailing bytes inside one value
    ],
)
def test_uint_rejects_what_geth_rejects(raw: str) -> None:
    with pytest.raises(LesProtocolError) as info:
        codec.read_uint(bytes.fromhex(raw), "v")
    assert info.value.kind == "ErrDecode"


def test_big_integers_have_no_size_limit_but_must_be_minimal() -> None:
    raw = codec.encode_int(2**200)
    assert codec.read_big(raw, "td") == 2**200
    with pytest.raises(LesProtocolError):
        codec.read_big(bytes.fromhex("8200ff"), "td")


@pytest.mark.parametrize(("raw", "value"), [("80", False), ("01", True)])
def test_bool(raw: str, value: bool) -> None:
    assert codec.read_bool(bytes.fromhex(raw), "b") is value
    assert codec.encode_bool(value).hex() == raw


@pytest.mark.parametrize("raw", ["00", "02", "8101", "c0", "8180"])
def test_bool_rejects_everything_else(raw: str) -> None:
    with pytest.raises(LesProtocolError):
        codec.read_bool(bytes.fromhex(raw), "b")


def test_fixed_size_arrays_need_exact_length() -> None:
    h = codec.encode_bytes(bytes(range(32)))
    assert codec.read_fixed(h, 32, "hash") == bytes(range(32))
    for size in (31, 33):
        with pytest.raises(LesProtocolError, match="too"):
            codec.read_fixed(codec.encode_bytes(bytes(size)), 32, "hash")


def test_struct_counts_fields_exactly() -> None:
    raw = rlp.encode([1, 2, 3])
    assert len(codec.read_struct(raw, 3, "s")) == 3
    with pytest.raises(LesProtocolError, match="too many"):
        codec.read_struct(raw, 2, "s")
    with pytest.raises(LesProtocolError, match="too few"):
        codec.read_struct(raw, 4, "s")


def test_first_item_ignores_trailing_bytes_as_msg_decode_does() -> None:
    assert codec.first_item(bytes.fromhex("c180ffff")) == bytes.fromhex("c180")
    with pytest.raises(LesProtocolError):
        codec.first_item(bytes.fromhex("c280"))  # the item itself is truncated


def test_read_list_splits_raw_elements() -> None:
    raw = rlp.encode([b"a", [b"b", b""], b"\x00" * 60])
    items = codec.read_list(raw, "l")
    assert [rlp.decode(i) for i in items] == [b"a", [b"b", b""], b"\x00" * 60]


# ---------------------------------------------------------------- key/value lists


def test_key_value_entry_vector_from_spec() -> None:
    # spec §4.3: ["networkId", 01] is cb 89 6e6574776f726b4964 01
    assert encode_entries([("networkId", b"\x01")]).hex() == "cc" + "cb896e6574776f726b496401"
    # spec §4.8: the entry ["serveHeaders", <empty>]
    entry = encode_entries([("serveHeaders", b"\x80")])
    assert entry.hex() == "cf" + "ce8c73657276654865616465727380"


def test_key_values_keep_order_and_last_duplicate_wins() -> None:
    entries = (("a", b"\x01"), ("b", b"\xc0"), ("a", b"\x02"))
    decoded = decode_entries(encode_entries(entries))
    assert decoded == entries
    assert to_map(decoded) == {"a": b"\x02", "b": b"\xc0"}
    assert entries_size(decoded) == 3 * (1 + 1 + 8)


@pytest.mark.parametrize(
    "entry",
    [
        [b"k"],  # one element
        [b"k", b"", b""],  # three elements
        [[b"k"], b""],  # a list as key
    ],
)
def test_key_value_entries_are_exactly_key_and_value(entry: list[object]) -> None:
    with pytest.raises(LesProtocolError):
        decode_entries(rlp.encode([entry]))


def test_missing_key_is_err_missing_key() -> None:
    with pytest.raises(LesProtocolError) as info:
        get_value({}, "networkId", codec.read_uint)
    assert info.value.kind == "ErrMissingKey"


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz/", max_size=20),
            st.one_of(
                st.integers(0, 2**64 - 1).map(codec.encode_int),
                st.binary(max_size=70).map(codec.encode_bytes),
            ),
        ),
        max_size=8,
    )
)
def test_key_value_round_trip(entries: list[tuple[str, bytes]]) -> None:
    assert decode_entries(encode_entries(entries)) == tuple(entries)


# ---------------------------------------------------------------- codes


def test_message_codes_match_spec_table() -> None:
    # spec §4.2
    assert (int(MsgCode.GET_PROOFS_V2), int(MsgCode.RESUME)) == (0x0F, 0x17)
    assert PROTOCOL_LENGTHS == {2: 22, 3: 24, 4: 24}
    assert sorted(REQUEST_CODES) == [0x02, 0x04, 0x06, 0x0A, 0x0F, 0x11, 0x13, 0x14]


def test_who_accepts_which_code() -> None:
    assert server_accepts(0x02) and not server_accepts(0x03) and not server_accepts(0x08)
    assert client_accepts(0x01, 4) and client_accepts(0x15, 2) and not client_accepts(0x02, 4)
    assert client_accepts(0x16, 3) and not client_accepts(0x16, 2)
    assert not client_accepts(0x00, 4)  # a second Status
