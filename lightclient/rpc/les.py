"""The client-side ``les_*`` methods: checkpoints, as go-ethereum's LightAPI serves them."""

from __future__ import annotations

from typing import Protocol

from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.errors import LightClientError
from lightclient.rpc.params import Param, go_uint64
from lightclient.rpc.server import Method

__all__ = ["CheckpointProvider", "NoCheckpoint", "RegistrarNotActivated", "les_checkpoint_methods"]


class NoCheckpoint(LightClientError):
    """geth's errNoCheckpoint."""

    def __init__(self) -> None:
        super().__init__("no local checkpoint provided")


class RegistrarNotActivated(LightClientError):
    """geth's errNotActivated."""

    def __init__(self) -> None:
        super().__init__("checkpoint registrar is not activated")


class CheckpointProvider(Protocol):
    """Where the checkpoints come from: the store of a syncer, or a light client's state."""

    def latest_checkpoint(self) -> TrustedCheckpoint | None: ...

    def checkpoint(self, index: int) -> TrustedCheckpoint | None: ...


def les_checkpoint_methods(
    provider: CheckpointProvider, oracle_address: str | None
) -> list[Method]:
    """``les_latestCheckpoint``, ``les_getCheckpoint``, ``les_getCheckpointContractAddress``."""

    async def latest_checkpoint() -> list[str]:
        checkpoint = provider.latest_checkpoint()
        if checkpoint is None or checkpoint.is_empty():
            raise NoCheckpoint()
        return checkpoint.latest_rpc_form()

    async def get_checkpoint(index: int) -> list[str]:
        checkpoint = provider.checkpoint(index)
        if checkpoint is None or checkpoint.is_empty():
            raise NoCheckpoint()
        return checkpoint.get_rpc_form()

    async def contract_address() -> str:
        if oracle_address is None:
            raise RegistrarNotActivated()
        return oracle_address

    return [
        Method("les_latestCheckpoint", latest_checkpoint),
        Method("les_getCheckpoint", get_checkpoint, (Param(go_uint64),)),
        Method("les_getCheckpointContractAddress", contract_address),
    ]
