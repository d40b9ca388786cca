"""lightclient.les.status: the Status handshake (spec §4.3, §4.4, §4.8). Vectors marked
"spec" are from /work/shared/spec/les-wire.md; the order of keys and the checks follow
geth v1.11.6 les/peer.go (read for this test: peerCommons.handshake, serverPeer/clientPeer
Handshake)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import rlp

from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.networks import NETWORKS
from lightclient.errors import LesProtocolError
from lightclient.les.codec import encode_int
from lightclient.les.costs import DEFAULT_COSTS, CostTable, RequestCost
from lightclient.les.forkid import FORK_SCHEDULES, ForkFilter, ForkId, fork_id
from lightclient.les.status import (
    ANNOUNCE_SIGNED,
    ChainHead,
    ServerOffer,
    Status,
    check_common,
    client_status,
    judge_client,
    judge_server,
    recent_tx_lookup,
    server_refuses_version,
    server_status,
)

GENESIS = NETWORKS["mainnet"].genesis_hash
FILTER = ForkFilter(GENESIS, FORK_SCHEDULES["mainnet"])
FRESH = fork_id(GENESIS, FORK_SCHEDULES["mainnet"], 0, 0)
SYNCED = (17_000_000, 1_700_000_000)  # a server's head number and time
HEAD = ChainHead(4, 1, GENESIS, 10**20, b"\x11" * 32, 16_999_999, FRESH)
OFFER = ServerOffer(96_000_000, 16_000, DEFAULT_COSTS, recent_tx_lookup=2_349_997)

CLIENT_STATUS_VECTOR = (  # spec §4.8
    "f8abd18f70726f746f636f6c56657273696f6e04cb896e6574776f726b496401c88668656164546480"
    "ea886865616448617368a00000000000000000000000000000000000000000000000000000000000000000"
    "c987686561644e756d80ed8b67656e6573697348617368a0d4e56740f876aef8c010b86a40d5f56745a1"
    "18d0906a34e69aec8c0db1cb8fa3d186666f726b4944c984fc64ec0483118c30ce8c616e6e6f756e6365"
    "5479706501"
)


def test_client_status_vector_from_spec() -> None:
    status = client_status(ChainHead(4, 1, GENESIS, fork_id=FRESH))
    assert status.encode().hex() == CLIENT_STATUS_VECTOR
    assert Status.decode(bytes.fromhex(CLIENT_STATUS_VECTOR)) == status


def test_server_status_key_order_and_values() -> None:
    checkpoint = NETWORKS["mainnet"].checkpoint
    status = server_status(HEAD, replace(OFFER, checkpoint=checkpoint, register_height=9))
    keys = [k for k, _ in status.entries]
    assert keys == [  # spec §4.3, "exact order of the server's keys"
        "protocolVersion", "networkId", "headTd", "headHash", "headNum", "genesisHash",
        "forkID", "serveHeaders", "serveChainSince", "serveStateSince", "serveRecentState",
        "txRelay", "recentTxLookup", "flowControl/BL", "flowControl/MRR", "flowControl/MRC",
        "checkpoint/value", "checkpoint/registerHeight",
    ]  # fmt: skip
    values = status.values()
    assert values["flowControl/BL"].hex() == "8405b8d800"  # spec §4.8
    assert values["flowControl/MRR"].hex() == "823e80"  # spec §4.8
    assert values["serveHeaders"] == values["txRelay"] == b"\x80"
    assert values["serveRecentState"] == encode_int(124)
    assert values["checkpoint/value"] == checkpoint.rlp()


def test_les3_status_has_no_fork_id_nor_recent_tx_lookup() -> None:
    status = server_status(replace(HEAD, protocol_version=3, fork_id=None), OFFER)
    keys = {k for k, _ in status.entries}
    assert "forkID" not in keys and "recentTxLookup" not in keys


@pytest.mark.parametrize(
    ("limit", "only_announce", "value"),
    [(2_350_000, False, 2_349_997), (0, False, 0), (3, False, 1), (4, False, 1), (0, True, 1)],
)
def test_recent_tx_lookup(limit: int, only_announce: bool, value: int) -> None:
    assert recent_tx_lookup(limit, only_announce) == value  # spec §4.3


def _common(status: Status, version: int = 4) -> dict[str, bytes]:
    return check_common(
        status, version=version, network_id=1, genesis_hash=GENESIS, fork_filter=FILTER,
        head=SYNCED[0], time=SYNCED[1],
    )  # fmt: skip


def _without(status: Status, key: str) -> Status:
    return Status(tuple(e for e in status.entries if e[0] != key))


def _with(status: Status, key: str, value: bytes) -> Status:
    return Status((*status.entries, (key, value)))


CLIENT = client_status(ChainHead(4, 1, GENESIS, fork_id=FRESH))


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (_with(CLIENT, "x" * 50, b"\x80"), None),
        (_without(CLIENT, "protocolVersion"), "ErrMissingKey"),
        (_without(CLIENT, "networkId"), "ErrMissingKey"),
        (_without(CLIENT, "genesisHash"), "ErrMissingKey"),
        (_with(CLIENT, "genesisHash", b"\xa0" + bytes(32)), "ErrGenesisBlockMismatch"),
        (_with(CLIENT, "networkId", b"\x05"), "ErrNetworkIdMismatch"),
        (_with(CLIENT, "protocolVersion", b"\x03"), "ErrProtocolVersionMismatch"),
        (_without(CLIENT, "forkID"), "ErrMissingKey"),
        (_with(CLIENT, "forkID", ForkId(b"\x12\x34\x56\x78", 0).encode()), "ErrForkIDRejected"),
        (_with(CLIENT, "networkId", b"\x00"), "ErrDecode"),  # non-canonical value
    ],
)
def test_common_checks(status: Status, kind: str | None) -> None:
    if kind is None:
        assert _common(status)["networkId"] == b"\x01"
        return
    with pytest.raises(LesProtocolError) as info:
        _common(status)
    assert info.value.kind == kind and info.value.disconnect == 0x10


def test_common_check_order_genesis_before_network_before_version() -> None:
    bad = _with(_with(_with(CLIENT, "protocolVersion", b"\x03"), "networkId", b"\x05"),
                "genesisHash", b"\xa0" + bytes(32))  # fmt: skip
    with pytest.raises(LesProtocolError, match="genesis"):
        _common(bad)


def test_status_size_cap() -> None:
    # sum(len(key) + len(value) + 8) must be <= 100 000 (spec §4.3).
    base = CLIENT.size()
    room = 100_000 - base - 8 - len("pad") - 4  # a value of n bytes is n + 4 long here
    ok = _with(CLIENT, "pad", rlp.encode(bytes(room)))
    assert ok.size() == 100_000
    _common(ok)
    with pytest.raises(LesProtocolError) as info:
        _common(_with(CLIENT, "pad", rlp.encode(bytes(room + 1))))
    assert info.value.kind == "ErrRequestRejected"


def test_unknown_keys_ignored_and_last_duplicate_wins() -> None:
    status = _with(_with(CLIENT, "someFutureKey", b"\xc0"), "networkId", b"\x01")
    decoded = Status.decode(status.encode())
    assert _common(decoded)["someFutureKey"] == b"\xc0"


def test_les3_needs_no_fork_id() -> None:
    status = client_status(ChainHead(3, 1, GENESIS))
    assert "forkID" not in _common(status, version=3)


# ---------------------------------------------------------------- client judging a server

SERVER = server_status(HEAD, OFFER)


def test_judge_server_reads_head_and_offer() -> None:
    head, offer = judge_server(_common(SERVER), version=4)
    assert head == HEAD
    assert offer == OFFER


def test_judge_server_reads_checkpoint() -> None:
    cp = TrustedCheckpoint(1, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)
    status = server_status(HEAD, replace(OFFER, checkpoint=cp, register_height=77))
    _, offer = judge_server(_common(status), version=4)
    assert (offer.checkpoint, offer.register_height) == (cp, 77)


REQUIRED_BY_CLIENT = ["headTd", "headHash", "headNum", "recentTxLookup",
                      "flowControl/BL", "flowControl/MRR", "flowControl/MRC"]  # fmt: skip


@pytest.mark.parametrize("key", REQUIRED_BY_CLIENT)
def test_judge_server_required_keys(key: str) -> None:
    with pytest.raises(LesProtocolError) as info:
        judge_server(_common(_without(SERVER, key)), version=4)
    assert info.value.kind == "ErrMissingKey"


@pytest.mark.parametrize("key", ["serveChainSince", "serveStateSince", "txRelay"])
def test_announce_only_server_is_useless_unless_trusted(key: str) -> None:
    values = _common(_without(SERVER, key))
    with pytest.raises(LesProtocolError) as info:
        judge_server(values, version=4)
    assert info.value.kind == "ErrUselessPeer"
    _, offer = judge_server(values, version=4, trusted=True)
    assert offer.only_announce


def test_undecodable_serve_value_counts_as_absent() -> None:
    values = _common(_with(SERVER, "serveChainSince", b"\xc0"))
    with pytest.raises(LesProtocolError, match="cannot serve"):
        judge_server(values, version=4)


def test_server_missing_a_request_cost_is_useless() -> None:
    partial = CostTable({c: DEFAULT_COSTS[c] for c in DEFAULT_COSTS if c != 0x14})
    status = server_status(HEAD, replace(OFFER, costs=partial))
    with pytest.raises(LesProtocolError) as info:
        judge_server(_common(status), version=4)
    assert info.value.kind == "ErrUselessPeer"


def test_les3_server_has_unlimited_tx_lookup_by_default() -> None:
    head3 = replace(HEAD, protocol_version=3, fork_id=None)
    _, offer = judge_server(_common(server_status(head3, OFFER), version=3), version=3)
    assert offer.recent_tx_lookup == 0


def test_mrc_codes_past_protocol_length_are_dropped() -> None:
    costs = CostTable({**dict(DEFAULT_COSTS), 0x30: RequestCost(1, 1)})
    _, offer = judge_server(_common(server_status(HEAD, replace(OFFER, costs=costs))), version=4)
    assert 0x30 not in offer.costs and offer.costs == DEFAULT_COSTS


# ---------------------------------------------------------------- server judging a client


def test_judge_client() -> None:
    assert judge_client(_common(CLIENT)).announce_type == 1
    signed = client_status(ChainHead(4, 1, GENESIS, fork_id=FRESH), ANNOUNCE_SIGNED)
    assert judge_client(_common(signed)).announce_type == 2
    assert judge_client(_common(_without(CLIENT, "announceType"))).announce_type == 1
    assert judge_client(_common(_with(CLIENT, "announceType", b"\xc0"))).announce_type == 1
    view = judge_client(_common(SERVER))  # a server's Status carries flowControl/MRR
    assert view.is_server and view.announce_type == 0


def test_default_server_refuses_les2_and_les3() -> None:
    # spec §4.4: any tx index limit (the default included) refuses les/2 and les/3.
    assert server_refuses_version(3, recent_tx_lookup(2_350_000))
    assert server_refuses_version(2, 1)
    assert not server_refuses_version(3, recent_tx_lookup(0))
    assert not server_refuses_version(4, recent_tx_lookup(2_350_000))
