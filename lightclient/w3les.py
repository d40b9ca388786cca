"""A web3.py module for the ``les`` checkpoint methods, sync and async.

    from web3 import Web3
    from lightclient.w3les import Les
    w3 = Web3(Web3.HTTPProvider(url), external_modules={"les": Les})
    w3.les.latest_checkpoint()            # TrustedCheckpoint
    w3.les.get_checkpoint(506)            # TrustedCheckpoint (index 506)
    w3.les.get_checkpoint_contract_address()

``AsyncLes`` is the same for ``AsyncWeb3`` (``await w3.les.latest_checkpoint()``).
Errors from the node (e.g. "no local checkpoint provided") raise web3's ``Web3RPCError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from web3.method import Method, default_root_munger
from web3.module import Module
from web3.types import RPCEndpoint

from lightclient.core.checkpoint import TrustedCheckpoint

__all__ = ["ASYNC_LES_MODULES", "LES_MODULES", "AsyncLes", "Les"]


def _identity(_method: RPCEndpoint, _module: Module) -> Callable[[Any], Any]:
    """web3 calls result formatters as factories of (method, module); ours are no-ops."""
    return lambda result: result


def _no_request_formatting(_method: RPCEndpoint) -> Callable[[Any], Any]:
    return lambda params: params


def _method(name: str) -> Method[Callable[..., Any]]:
    return Method(
        RPCEndpoint(name),
        mungers=[default_root_munger],
        request_formatters=_no_request_formatting,
        result_formatters=_identity,
    )


def _index(index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 2**64:
        raise ValueError(f"a checkpoint index is a uint64, got {index!r}")
    return index


class Les(Module):
    """``w3.les`` for a synchronous Web3."""

    _latest: Method[Callable[[], list[str]]] = _method("les_latestCheckpoint")
    _get: Method[Callable[[int], list[str]]] = _method("les_getCheckpoint")
    _address: Method[Callable[[], str]] = _method("les_getCheckpointContractAddress")

    def latest_checkpoint(self) -> TrustedCheckpoint:
        return TrustedCheckpoint.from_latest_rpc_form(self._latest())

    def get_checkpoint(self, index: int) -> TrustedCheckpoint:
        return TrustedCheckpoint.from_get_rpc_form(index, self._get(_index(index)))

    def get_checkpoint_contract_address(self) -> str:
        return str(self._address())


class AsyncLes(Module):
    """``w3.les`` for an AsyncWeb3."""

    is_async = True
    _latest: Method[Callable[[], Any]] = _method("les_latestCheckpoint")
    _get: Method[Callable[[int], Any]] = _method("les_getCheckpoint")
    _address: Method[Callable[[], Any]] = _method("les_getCheckpointContractAddress")

    async def latest_checkpoint(self) -> TrustedCheckpoint:
        return TrustedCheckpoint.from_latest_rpc_form(await self._latest())

    async def get_checkpoint(self, index: int) -> TrustedCheckpoint:
        return TrustedCheckpoint.from_get_rpc_form(index, await self._get(_index(index)))

    async def get_checkpoint_contract_address(self) -> str:
        return str(await self._address())


LES_MODULES: dict[str, Any] = {"les": Les}
ASYNC_LES_MODULES: dict[str, Any] = {"les": AsyncLes}
