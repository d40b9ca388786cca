"""``admin_nodeInfo``, in geth's shape: who this node is on the devp2p network and what it
serves. An admin method (the JWT or the IPC socket), as geth serves ``admin`` only on IPC
unless told otherwise.

There is no ``enr`` field: this node runs no discovery, so it has no node record to give
(geth prints ``discport=0`` in the enode URL for the same reason).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from lightclient import __version__
from lightclient.core.nodeid import dialable_host, format_enode, node_id_from_pubkey
from lightclient.rpc.server import Method

__all__ = ["NodeInfo", "admin_methods"]


@dataclass(frozen=True, slots=True)
class NodeInfo:
    pubkey: bytes  # 64 bytes
    host: str
    port: int
    les: Callable[[], Awaitable[dict[str, Any]]]  # network, genesis, head...

    @property
    def enode(self) -> str:
        return format_enode(self.pubkey, dialable_host(self.host), self.port)


def admin_methods(info: NodeInfo) -> list[Method]:
    async def node_info() -> dict[str, Any]:
        listen = f"[{info.host}]:{info.port}" if ":" in info.host else f"{info.host}:{info.port}"
        return {
            "id": node_id_from_pubkey(info.pubkey).hex(),
            "name": f"lightclient/v{__version__}",
            "enode": info.enode,
            "ip": info.enode.split("@", 1)[1].rsplit(":", 1)[0].strip("[]"),
            "ports": {"discovery": 0, "listener": info.port},
            "listenAddr": listen,
            "protocols": {"les": await info.les()},
        }

    return [replace(Method("admin_nodeInfo", node_info), admin=True)]
