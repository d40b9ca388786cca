"""LesConnection against an independent LES/4 implementation: @ethereumjs/devp2p 6.1.3
(tools/devp2p_peer.js) plays the server. We dial it; the Status exchange runs both ways and
each side checks the other's; one GetBlockHeaders is answered by the script with known
headers and reaches our caller byte for byte."""

from __future__ import annotations

import asyncio

from test_devp2p_interop import CHAIN_ID, GENESIS, HEADERS, OUR_KEY, THEIR_KEY, ethereumjs

from lightclient.client.les_connection import LesConnection, LesTimeouts
from lightclient.core.keccak import keccak
from lightclient.core.nodeid import format_enode
from lightclient.les.codes import REQUEST_CODES, MsgCode
from lightclient.les.forkid import ForkId
from lightclient.les.messages import BlockHeaders, GetBlockHeaders
from lightclient.rlpx.keys import private_key_from_bytes, public_key_of

FORK = ForkId(bytes.fromhex("fc64ec04"), 1150000)
HEAD_HASH = "22" * 32
# A server's Status as the script sends it: the keys judge_server needs.
SERVER_STATUS = {
    "headTd": 9,
    "headHash": "0x" + HEAD_HASH,
    "headNum": 4,
    "genesisHash": "0x" + GENESIS.hex(),
    "forkID": ["0x" + FORK.hash.hex(), FORK.next],
    "serveHeaders": "0x",
    "serveChainSince": 0,
    "serveStateSince": 0,
    "txRelay": "0x",
    "recentTxLookup": 0,
    "flowControl/BL": 300_000_000,
    "flowControl/MRR": 50_000,
    "flowControl/MRC": [[int(code), 0, 1000] for code in sorted(REQUEST_CODES)],
}


async def test_les_connection_dials_ethereumjs_and_gets_headers() -> None:
    key = private_key_from_bytes(OUR_KEY)
    async with ethereumjs("listen", "--port", "0") as peer:
        listening = await peer.event("listening")
        their_pub = bytes.fromhex(listening["id"])
        assert their_pub == public_key_of(private_key_from_bytes(THEIR_KEY))
        enode = format_enode(their_pub, "127.0.0.1", listening["port"])
        dialing = asyncio.create_task(
            LesConnection.dial(enode, key, genesis_hash=GENESIS, network_id=CHAIN_ID,
                               our_fork_id=FORK, timeouts=LesTimeouts(request=10.0))
        )  # fmt: skip
        hello = await peer.event("hello")
        assert hello["hello"]["id"] == public_key_of(key).hex()
        await peer.command(status=SERVER_STATUS)
        conn = await asyncio.wait_for(dialing, 15)
        try:
            # What ethereumjs made of our Status.
            ours = (await peer.event("status"))["status"]
            assert ours["announceType"] == "01" and ours["headNum"] == ""
            assert ours["genesisHash"] == GENESIS.hex() and ours["networkId"] == "0539"
            assert ours["forkID"] == [FORK.hash.hex(), "118c30"]
            # What we made of theirs.
            assert conn.head.number == 4 and conn.head.hash.hex() == HEAD_HASH
            assert conn.head.td == 9 and conn.checkpoint is None
            assert conn.remote_node_id == keccak(their_pub)
            assert conn.offer.buf_limit == 300_000_000 and conn.offer.min_recharge == 50_000
            assert conn.usable
            asking = asyncio.create_task(conn.get_headers(1, 3))
            request = await peer.event("message")
            assert request["code"] == MsgCode.GET_BLOCK_HEADERS
            asked = GetBlockHeaders.decode(bytes.fromhex(request["payload"]))
            assert (asked.origin, asked.amount, asked.skip, asked.reverse) == (1, 3, 0, False)
            reply = BlockHeaders(asked.req_id, 299_000_000, tuple(HEADERS[1:4]))
            await peer.command(send=MsgCode.BLOCK_HEADERS, payload=reply.encode().hex())
            assert await asyncio.wait_for(asking, 10) == HEADERS[1:4]
            assert conn.invalid_responses == 0
        finally:
            await conn.close()
        removed = await peer.event("removed")
        assert removed["reason"] == 0x00 and removed["byUs"] is False
