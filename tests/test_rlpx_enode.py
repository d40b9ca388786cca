"""enode URLs and node IDs (spec §3; cases from geth p2p/enode/urlv4_test.go)."""

from __future__ import annotations

import pytest
import rlpx_vectors as v

from lightclient.core.nodeid import Enode, format_enode, parse_enode, parse_node_id
from lightclient.errors import InvalidInput

# spec §3: the public key of geth's urlv4_test.go, and its node ID (derived in the spec)
PUB = bytes.fromhex(
    "1dd9d65c4552b5eb43d5ad55a2ee3f56c6cbc1c64a5c8d659f51fcd51bace243"
    "51232b8d7821617d2b29b54b81cdefb9b3e9c37d7fd5f63270bcc9e1a6f6a439"
)
NODE_ID = bytes.fromhex("3431c3939e1ee2a6345e976a8234f9870152d64879f30bc272a074f6859e75e8")
URL = "enode://" + PUB.hex()


@pytest.mark.parametrize(
    ("text", "host", "tcp", "udp"),
    [
        (URL + "@127.0.0.1:52150", "127.0.0.1", 52150, 52150),
        (URL + "@127.0.0.1:52150?discport=22334", "127.0.0.1", 52150, 22334),
        (URL + "@[::]:52150", "::", 52150, 52150),
        (URL + "@[2001:db8:3c4d:15::abcd:ef12]:52150", "2001:db8:3c4d:15::abcd:ef12", 52150, 52150),
        (URL.upper().replace("ENODE", "enode") + "@example.org:30303", "example.org", 30303, 30303),
    ],
)
def test_valid_urls(text: str, host: str, tcp: int, udp: int) -> None:
    node = parse_enode(text)
    assert node == Enode(PUB, host, tcp, udp)
    assert node.node_id == NODE_ID and node.dialable
    assert parse_enode(node.url()) == node  # formatting round-trips


def test_incomplete_forms_carry_only_the_key() -> None:
    for text in (URL, PUB.hex()):
        node = parse_enode(text)
        assert node == Enode(PUB) and not node.dialable
    assert parse_enode(URL).url() == URL


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (URL + "@127.0.0.1:foo", "invalid port"),
        (URL + "@127.0.0.1", "invalid port"),
        (URL + "@127.0.0.1:65536", "invalid port"),
        (URL + "@127.0.0.1:52150?discport=foo", "invalid discport in query"),
        ("enode://01010101@123.124.125.126:3", r"wrong length, want 128 hex chars"),
        ("http://foobar", 'invalid URL scheme, want "enode"'),
        ("enode://foobar", "does not contain node ID"),
        ("enode://" + "00" * 64 + "@1.2.3.4:3", "not on the curve"),
        (URL + "@[::1:52150", "invalid enode URL"),
        (7, "expected a string"),
    ],
)
def test_invalid_urls(text: object, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse_enode(text)


def test_format_adds_discport_only_when_it_differs() -> None:
    assert format_enode(v.PUB_A, "10.0.0.1", 30303, 30303) == (
        f"enode://{v.PUB_A.hex()}@10.0.0.1:30303"
    )
    assert format_enode(v.PUB_A, "::1", 1, 2) == f"enode://{v.PUB_A.hex()}@[::1]:1?discport=2"


def test_node_id_of_an_enode_url_is_its_keys_hash() -> None:
    # spec §1.10.1: nodeID(A) = keccak256(pubA)
    assert parse_node_id(f"enode://{v.PUB_A.hex()}@127.0.0.1:30303") == v.NODE_ID_A
