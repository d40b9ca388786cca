"""The embedded chain: an in-process py-evm chain (through eth-tester) that we mine.

It runs a London (proof-of-work era) VM with py-evm's no-proof consensus, so blocks carry
real, growing difficulties and total difficulty means what it means on mainnet before the
merge. :class:`EmbeddedChain` deploys a tiny contract that emits a LOG1 whose topic is the
call data, so blocks can be given logs (and blooms) on demand.
"""

from __future__ import annotations

import random
from typing import Any

import rlp

from lightclient.errors import ChainGap
from lightclient.sources.base import RawHeader

__all__ = ["LOG_EMITTER_INIT", "EmbeddedChain", "EmbeddedHeaderSource"]

# Runtime: LOG1(offset 0, size 0, topic = calldata[0:32]); STOP.
#   PUSH1 0 CALLDATALOAD PUSH1 0 PUSH1 0 LOG1 STOP
_LOG_EMITTER_RUNTIME = bytes.fromhex("60003560006000a100")
# Init: CODECOPY the 9-byte runtime from offset 12 to memory 0 and RETURN it.
LOG_EMITTER_INIT = bytes.fromhex("6009600c60003960096000f3") + _LOG_EMITTER_RUNTIME

_GENESIS_DIFFICULTY = 131072


class EmbeddedChain:
    """An in-process py-evm chain with funded accounts and a log-emitting contract."""

    def __init__(self, *, seed: int = 0) -> None:
        from eth.vm.forks.london import LondonVM
        from eth_tester import EthereumTester, PyEVMBackend

        params = PyEVMBackend.generate_genesis_params({"difficulty": _GENESIS_DIFFICULTY})
        self.backend = PyEVMBackend(vm_configuration=((0, LondonVM),), genesis_parameters=params)
        self.tester = EthereumTester(self.backend)
        self.accounts: list[str] = list(self.tester.get_accounts())
        self._random = random.Random(seed)
        self._emitter: str | None = None

    @property
    def chain(self) -> Any:
        return self.backend.chain

    def head(self) -> int:
        return int(self.chain.get_canonical_head().block_number)

    def header_rlp(self, number: int) -> tuple[bytes, bytes]:
        """(hash, RLP) of the canonical header at ``number``."""
        from eth.exceptions import HeaderNotFound

        try:
            header = self.chain.chaindb.get_canonical_block_header_by_number(number)
        except HeaderNotFound:
            raise ChainGap(f"the embedded chain has no block {number}", block=number) from None
        return bytes(header.hash), rlp.encode(header)

    def emitter(self) -> str:
        """The log-emitting contract's address (deployed on first use)."""
        if self._emitter is None:
            tx = self.tester.send_transaction(
                {
                    "from": self.accounts[0],
                    "gas": 100_000,
                    "data": "0x" + LOG_EMITTER_INIT.hex(),
                    "value": 0,
                }
            )
            self._emitter = str(self.tester.get_transaction_receipt(tx)["contract_address"])
        return self._emitter

    def emit_log(self, topic: bytes) -> None:
        """Mine one block holding a transaction that logs ``topic`` (32 bytes)."""
        self.tester.send_transaction(
            {
                "from": self.accounts[0],
                "to": self.emitter(),
                "gas": 50_000,
                "data": "0x" + topic.rjust(32, b"\x00").hex(),
                "value": 0,
            }
        )

    def mine(self, count: int, *, log_every: int = 0) -> None:
        """Mine ``count`` blocks; every ``log_every``-th one holds a log with a random topic."""
        for i in range(count):
            if log_every and i % log_every == 0:
                self.emit_log(self._random.randbytes(32))
            else:
                self.tester.mine_blocks(1)

    def mine_until(self, head: int, *, log_every: int = 0) -> None:
        """Mine until the head is block ``head``."""
        missing = head - self.head()
        if missing > 0:
            self.mine(missing, log_every=log_every)


class EmbeddedHeaderSource:
    """A :class:`~lightclient.sources.base.HeaderSource` reading an :class:`EmbeddedChain`."""

    def __init__(self, chain: EmbeddedChain) -> None:
        self.chain = chain

    @property
    def description(self) -> str:
        return "embedded py-evm chain"

    async def head(self) -> int:
        return self.chain.head()

    async def headers(self, start: int, count: int) -> list[RawHeader]:
        out = []
        for number in range(start, start + count):
            block_hash, raw = self.chain.header_rlp(number)
            out.append(RawHeader(number, block_hash, raw))
        return out

    async def number_of(self, block_hash: bytes) -> int | None:
        """The number of the canonical block with that hash, if any."""
        from eth.exceptions import HeaderNotFound

        try:
            header = self.chain.chain.chaindb.get_block_header_by_hash(block_hash)
        except HeaderNotFound:
            return None
        number = int(header.block_number)
        return number if self.chain.header_rlp(number)[0] == block_hash else None

    async def close(self) -> None:
        return None
