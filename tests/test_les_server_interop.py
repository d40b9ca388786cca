"""The LES server against an independent client: @ethereumjs/devp2p 6.1.3
(tools/devp2p_peer.js) dials our server's enode, exchanges Status, and asks for headers and
a CHT proof; the replies are checked as a light client would (proof against the CHT root,
header against the proved hash)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lesclient import SIZE, Setup, make_setup
from test_devp2p_interop import CHAIN_ID, ethereumjs

from lightclient.core.proofs import verify_cht_proof
from lightclient.core.sections import cht_key
from lightclient.les.codes import MsgCode
from lightclient.les.costs import DEFAULT_COSTS
from lightclient.les.messages import (
    BlockHeaders,
    GetBlockHeaders,
    GetHelperTrieProofs,
    HelperTrieProofs,
    HelperTrieReq,
)
from lightclient.pool.clock import SystemClock
from lightclient.rlpx.p2p import DisconnectReason

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    s = await make_setup(tmp_path, SystemClock())
    assert s.server.network_id == CHAIN_ID
    yield s
    await s.close()


async def test_ethereumjs_dials_our_les_server(setup: Setup) -> None:
    fork = setup.fork()
    async with ethereumjs("dial", "--enode", setup.server.enode) as peer:
        hello = await peer.event("hello")
        assert hello["hello"]["caps"] == [["les", 2], ["les", 3], ["les", 4]]  # as geth
        assert hello["hello"]["clientId"] == "lightclient/v0.1.0"
        await peer.command(status={
            "headTd": 0, "headHash": "0x" + "00" * 32, "headNum": 0,
            "genesisHash": "0x" + setup.genesis.hex(), "forkID": ["0x" + fork.hash.hex(), 0],
        })  # fmt: skip
        ours = (await peer.event("status"))["status"]
        head = setup.head
        assert int(ours["headNum"], 16) == head
        assert ours["headHash"] == (setup.headers[head].hash or b"").hex()
        assert int(ours["headTd"], 16) == setup.td(head)
        assert ours["genesisHash"] == setup.genesis.hex()
        assert ours["forkID"] == [fork.hash.hex(), ""]
        assert int(ours["flowControl/BL"], 16) == 96_000_000
        assert len(ours["flowControl/MRC"]) == len(DEFAULT_COSTS)

        asked = GetBlockHeaders(77, head - 4, 3, 1, False)
        await peer.command(send=MsgCode.GET_BLOCK_HEADERS, payload=asked.encode().hex())
        reply = await peer.event("message")
        assert reply["code"] == MsgCode.BLOCK_HEADERS
        headers = BlockHeaders.decode(bytes.fromhex(reply["payload"]))
        assert headers.req_id == 77 and 0 < headers.bv <= 96_000_000
        assert headers.headers == tuple(setup.headers[n].rlp for n in (head - 4, head - 2, head))

        checkpoint = setup.store.checkpoint(1)
        assert checkpoint is not None
        number = 2 * SIZE - 5
        proof_req = GetHelperTrieProofs(78, (HelperTrieReq(0, 1, cht_key(number), 0, 2),))
        await peer.command(send=MsgCode.GET_HELPER_TRIE_PROOFS, payload=proof_req.encode().hex())
        reply = await peer.event("message")
        assert reply["code"] == MsgCode.HELPER_TRIE_PROOFS
        proofs = HelperTrieProofs.decode(bytes.fromhex(reply["payload"]))
        assert proofs.req_id == 78 and len(proofs.aux_data) == 1
        proved = verify_cht_proof(checkpoint.cht_root, number, proofs.nodes, proofs.aux_data[0])
        assert proved.header.rlp == setup.headers[number].rlp
        assert proved.td == setup.td(number)

        await peer.command(disconnect=int(DisconnectReason.REQUESTED))
        removed = await peer.event("removed")
        assert removed["byUs"] is True
