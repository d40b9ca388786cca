"""An embedded chain with a deployed checkpoint oracle and its admins' keys, for tests.

``OracleKit`` is what the pytest plugin hands out; it also backs ``lightclient dev``::

    kit = await OracleKit.create(admins=3, threshold=2, section_size=64, confirmations=4)
    await kit.mine_sections(2)                 # sections 0 and 1 complete and final
    outcome = await kit.register(1)            # computed, signed by 2 admins, published
    assert outcome.registered
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3
from web3.providers.eth_tester import AsyncEthereumTesterProvider

from lightclient.core.checkpoint import OracleConfig, TrustedCheckpoint
from lightclient.core.sections import SectionIndexer
from lightclient.core.signing import checkpoint_digest, sign_checkpoint, sort_by_signer
from lightclient.errors import InvalidInput
from lightclient.oracle.contract import OracleContract, PublishOutcome, deploy_oracle
from lightclient.sources.base import HeaderSource, checked_headers
from lightclient.sources.embedded import EmbeddedChain, EmbeddedHeaderSource
from lightclient.testing.anvil import AnvilProcess

__all__ = ["OracleKit", "async_web3_for", "close_web3"]


async def close_web3(w3: AsyncWeb3[Any]) -> None:
    """Close a web3 provider's connections, whatever kind it is."""
    provider: Any = w3.provider
    with contextlib.suppress(NotImplementedError):
        await provider.disconnect()


def async_web3_for(chain: EmbeddedChain) -> AsyncWeb3[Any]:
    """An AsyncWeb3 bound to the embedded chain's own EthereumTester."""
    provider = AsyncEthereumTesterProvider()
    provider.ethereum_tester = chain.tester
    return AsyncWeb3(provider)


@dataclass
class OracleKit:
    """A chain (embedded, or a dev node such as anvil) with a deployed oracle and its admins."""

    w3: AsyncWeb3[Any]
    source: HeaderSource
    admins: list[LocalAccount]  # ascending by address, as the contract wants signatures
    outsider: LocalAccount  # funded, but no admin
    oracle: OracleContract
    threshold: int
    section_size: int
    confirmations: int
    chain: EmbeddedChain | None = None  # set on the embedded chain
    node: AnvilProcess | None = None  # set on anvil
    nodes: dict[bytes, bytes] = field(default_factory=dict)
    checkpoints: list[TrustedCheckpoint] = field(default_factory=list)
    log_every: int = 3
    _indexer: SectionIndexer | None = None

    @classmethod
    async def create(
        cls,
        *,
        admins: int = 3,
        threshold: int = 2,
        section_size: int = 64,
        confirmations: int = 4,
        seed: int = 0,
    ) -> OracleKit:
        """On a new embedded py-evm chain."""
        chain = EmbeddedChain(seed=seed)
        w3 = async_web3_for(chain)
        keys = chain.backend.account_keys
        if admins > len(keys) - 2:
            raise InvalidInput(f"at most {len(keys) - 2} admins on the embedded chain")
        accounts = [Account.from_key(k.to_bytes()) for k in keys[1 : admins + 1]]
        outsider = Account.from_key(keys[-1].to_bytes())
        kit = await cls._deploy(
            w3,
            EmbeddedHeaderSource(chain),
            accounts,
            outsider,
            threshold,
            section_size,
            confirmations,
        )
        kit.chain = chain
        return kit

    @classmethod
    async def on_anvil(
        cls,
        node: AnvilProcess,
        *,
        admins: int = 3,
        threshold: int = 2,
        section_size: int = 64,
        confirmations: int = 4,
    ) -> OracleKit:
        """On a running anvil: fresh keys, funded with anvil_setBalance."""
        from web3.providers import AsyncHTTPProvider

        from lightclient.sources.jsonrpc import JsonRpcHeaderSource

        w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(node.url))
        accounts = [Account.create() for _ in range(admins + 1)]
        for account in accounts:
            node.rpc("anvil_setBalance", [account.address, hex(10**22)])
        kit = await cls._deploy(
            w3,
            JsonRpcHeaderSource(node.url),
            accounts[:admins],
            accounts[admins],
            threshold,
            section_size,
            confirmations,
        )
        kit.node = node
        return kit

    @classmethod
    async def _deploy(
        cls,
        w3: AsyncWeb3[Any],
        source: HeaderSource,
        accounts: list[LocalAccount],
        outsider: LocalAccount,
        threshold: int,
        section_size: int,
        confirmations: int,
    ) -> OracleKit:
        accounts = sorted(accounts, key=lambda a: int(a.address, 16))
        address, _ = await deploy_oracle(
            w3,
            accounts[0],
            [a.address for a in accounts],
            threshold,
            section_size=section_size,
            confirmations=confirmations,
        )
        return cls(
            w3,
            source,
            accounts,
            outsider,
            OracleContract(w3, address),
            threshold,
            section_size,
            confirmations,
        )

    @property
    def config(self) -> OracleConfig:
        return OracleConfig(
            self.oracle.address, tuple(a.address for a in self.admins), self.threshold
        )

    def mine_to(self, head: int) -> None:
        """Mine until the head is block ``head`` (embedded blocks carry logs now and then)."""
        if self.chain is not None:
            self.chain.mine_until(head, log_every=self.log_every)
        elif self.node is not None:
            missing = head - int(self.node.rpc("eth_blockNumber"), 16)
            if missing > 0:
                self.node.rpc("anvil_mine", [hex(missing)])

    async def mine_sections(self, count: int) -> None:
        """Mine until sections 0 .. count-1 are complete and registrable (final)."""
        self.mine_to(count * self.section_size + self.confirmations)

    async def checkpoint(self, index: int) -> TrustedCheckpoint:
        """The checkpoint of section ``index``, computed from the chain's headers."""
        if self._indexer is None:
            self._indexer = SectionIndexer(self.section_size, self.nodes)
        while len(self.checkpoints) <= index:
            start = len(self.checkpoints) * self.section_size
            raw = await self.source.headers(start, self.section_size)
            headers = checked_headers(raw, start, self._indexer.state.head_hash)
            self.checkpoints.append(self._indexer.process(headers))
        return self.checkpoints[index]

    def sign(
        self, index: int, checkpoint_hash: bytes, signers: Sequence[LocalAccount]
    ) -> list[bytes]:
        """Signatures of ``signers`` over the vote digest, sorted by signer address."""
        sigs = [
            sign_checkpoint(a.key, self.oracle.address, index, checkpoint_hash) for a in signers
        ]
        digest = checkpoint_digest(self.oracle.address, index, checkpoint_hash)
        return [sig for _, sig in sort_by_signer(digest, sigs)]

    async def mine_and_register(
        self, index: int, checkpoint_hash: bytes | None = None
    ) -> PublishOutcome:
        """Mine until section ``index`` may be registered, then register it (see register)."""
        await self.mine_sections(index + 1)
        return await self.register(index, checkpoint_hash)

    async def close(self) -> None:
        await self.source.close()
        await close_web3(self.w3)

    async def register(
        self,
        index: int,
        checkpoint_hash: bytes | None = None,
        *,
        signers: Sequence[LocalAccount] | None = None,
        sender: LocalAccount | None = None,
        sentry_distance: int = 1,
    ) -> PublishOutcome:
        """Compute (unless given), sign by ``threshold`` admins, publish checkpoint ``index``."""
        if checkpoint_hash is None:
            checkpoint_hash = (await self.checkpoint(index)).hash()
        chosen = list(signers) if signers is not None else self.admins[: self.threshold]
        signatures = self.sign(index, checkpoint_hash, chosen)
        return await self.oracle.publish(
            sender or self.admins[0],
            index,
            checkpoint_hash,
            signatures,
            sentry_distance=sentry_distance,
        )
