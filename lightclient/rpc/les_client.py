"""What a light client serves on its own JSON-RPC endpoint: its trusted checkpoint through
the les_* methods, and verified headers through eth_blockNumber / eth_getBlockByNumber."""

from __future__ import annotations

from typing import Any

from lightclient.client.client import LightClient
from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.header import header_json_from_rlp
from lightclient.errors import InvalidInput, LightClientError
from lightclient.rpc.les import les_checkpoint_methods
from lightclient.rpc.params import Param
from lightclient.rpc.server import Method

__all__ = ["light_client_methods"]


class _Checkpoints:
    def __init__(self, client: LightClient) -> None:
        self.client = client

    def latest_checkpoint(self) -> TrustedCheckpoint | None:
        return self.client.latest_checkpoint()

    def checkpoint(self, index: int) -> TrustedCheckpoint | None:
        return self.client.get_checkpoint(index)


def _block_tag(value: object) -> object:
    if isinstance(value, str) and value in ("latest", "safe", "finalized"):
        return value
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise InvalidInput(f'invalid block number {value!r}: a 0x quantity or "latest"')


def _bool(value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInput("json: cannot unmarshal value into Go value of type bool")
    return value


def light_client_methods(client: LightClient) -> list[Method]:
    async def block_number() -> str:
        return hex(client.head_number)

    async def get_block(tag: object, full: bool) -> dict[str, Any] | None:
        if full:
            raise LightClientError("a light client serves headers only (full=false)")
        number = client.head_number if isinstance(tag, str) else int(tag)  # type: ignore[call-overload]
        if number > client.head_number:
            return None
        header = await client.header_by_number(number)
        block: dict[str, Any] = header_json_from_rlp(header.rlp)
        block["totalDifficulty"] = hex(client.td[number]) if number in client.td else None
        block["transactions"] = []
        block["uncles"] = []
        return block

    return [
        *les_checkpoint_methods(_Checkpoints(client), client.oracle_address),
        Method("eth_blockNumber", block_number),
        Method("eth_getBlockByNumber", get_block, (Param(_block_tag), Param(_bool, optional=True))),
    ]
