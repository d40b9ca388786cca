"""The server-side ``les_*`` methods, over a :class:`~lightclient.server.service.PoolService`.

Admin methods: answered only to callers with the admin JWT or on the IPC socket, never on
the light-serving endpoint. ID lists longer than ``MAX_IDS`` and metas that are too long or
not UTF-8 are refused before any item is parsed (``-32602 invalid argument i: ...``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lightclient.core.nodeid import parse_node_id
from lightclient.rpc.params import Param, go_int, go_int64, go_map, go_string, go_string_list
from lightclient.rpc.server import Method
from lightclient.server.service import PoolService, check_id_count, check_meta

__all__ = ["les_admin_methods"]


def _node_id_param(value: object) -> bytes:
    """An enode.ID parameter: 64 hex digits (0x optional) or an enode URL; null is zero."""
    if value is None:
        return b"\x00" * 32
    return parse_node_id(go_string(value))


def _id_list(value: object) -> list[str]:
    """A []string of node IDs, at most MAX_IDS long (checked before the items are)."""
    if isinstance(value, list):
        check_id_count(len(value))
    return go_string_list(value)


def _meta(value: object) -> str:
    meta = go_string(value)
    check_meta(meta)
    return meta


def les_admin_methods(service: PoolService) -> list[Method]:
    async def server_info() -> dict[str, int]:
        return service.server_info()

    async def client_info(ids: list[str]) -> dict[str, Any]:
        return service.client_info(ids)

    async def priority_client_info(start: bytes, stop: bytes, max_count: int) -> dict[str, Any]:
        return service.priority_client_info(start, stop, max_count)

    async def add_balance(node: str, amount: int, meta: str | None) -> list[int]:
        return service.add_balance(node, amount, meta)

    async def set_client_params(ids: list[str], params: dict[str, Any]) -> None:
        service.set_client_params(ids, params)

    async def set_default_params(params: dict[str, Any]) -> None:
        service.set_default_params(params)

    async def set_connected_bias(bias: int) -> None:
        service.set_connected_bias(bias)

    methods = [
        Method("les_serverInfo", server_info),
        Method("les_clientInfo", client_info, (Param(_id_list, optional=True),)),
        Method(
            "les_priorityClientInfo",
            priority_client_info,
            (Param(_node_id_param), Param(_node_id_param), Param(go_int)),
        ),
        Method(
            "les_addBalance",
            add_balance,
            (Param(go_string), Param(go_int64), Param(_meta, optional=True)),
        ),
        Method("les_setClientParams", set_client_params, (Param(_id_list), Param(go_map))),
        Method("les_setDefaultParams", set_default_params, (Param(go_map),)),
        Method("les_setConnectedBias", set_connected_bias, (Param(go_int64),)),
    ]
    # Every one of them reads or changes other clients' balances: authenticated callers only.
    return [replace(m, admin=True) for m in methods]
