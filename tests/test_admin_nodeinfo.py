"""admin_nodeInfo in geth's shape, for admins only."""

from __future__ import annotations

import json
from typing import Any

from lightclient.core.nodeid import parse_enode
from lightclient.rpc.admin import NodeInfo, admin_methods
from lightclient.rpc.server import RpcServer

# EIP-8's key B's public key.
PUB = bytes.fromhex(
    "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f"
)


async def test_node_info_shape_and_admin_only() -> None:
    async def les() -> dict[str, Any]:
        return {"network": 1337, "genesis": "0x" + "00" * 32, "head": "0x" + "11" * 32}

    server = RpcServer(admin_methods(NodeInfo(PUB, "0.0.0.0", 30303, les)))
    body = '{"jsonrpc":"2.0","id":1,"method":"admin_nodeInfo","params":[]}'
    refused = await server.handle_payload(body)
    assert refused["error"]["code"] == -32001
    info = (await server.handle_payload(body, admin=True))["result"]
    assert set(info) == {"id", "name", "enode", "ip", "ports", "listenAddr", "protocols"}
    enode = parse_enode(info["enode"])
    assert enode.pubkey == PUB and (enode.host, enode.tcp_port) == ("127.0.0.1", 30303)
    assert info["id"] == enode.node_id.hex()
    assert info["ports"] == {"discovery": 0, "listener": 30303}
    assert info["listenAddr"] == "0.0.0.0:30303" and info["ip"] == "127.0.0.1"
    assert info["protocols"]["les"]["network"] == 1337
    json.dumps(info, allow_nan=False)
