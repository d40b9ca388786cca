"""The checkpoint oracle contract through web3: deploy, read, publish, and its vote events.

Everything is asynchronous (``AsyncWeb3``), so the same code drives an HTTP or WebSocket
node and the embedded chain (``AsyncEthereumTesterProvider``). Transactions are signed
locally with an eth-account key and sent raw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils.exceptions import ValidationError
from web3 import AsyncWeb3
from web3.exceptions import ContractLogicError, Web3Exception

from lightclient.core.checkpoint import ZERO_HASH
from lightclient.core.keccak import keccak
from lightclient.errors import InvalidInput, LightClientError

__all__ = [
    "NEW_CHECKPOINT_VOTE_TOPIC",
    "OracleContract",
    "OracleError",
    "PublishOutcome",
    "RegisteredCheckpoint",
    "Vote",
    "artifact",
    "decode_vote",
    "deploy_oracle",
]

try:  # the embedded chain's provider raises its own exception for a revert
    from eth_tester.exceptions import TransactionFailed as _TesterRevert
except ImportError:  # pragma: no cover - eth-tester is a dependency

    class _TesterRevert(Exception):  # type: ignore[no-redef]
        pass


_REVERTS = (ContractLogicError, _TesterRevert)
# py-evm (the embedded chain) refuses some calls before running them, e.g. an unfunded sender.
_NODE_ERRORS = (Web3Exception, ValidationError, ValueError, OSError)

NEW_CHECKPOINT_VOTE_TOPIC = keccak(b"NewCheckpointVote(uint64,bytes32,uint8,bytes32,bytes32)")


class OracleError(LightClientError):
    """The oracle could not be read or written (node error, revert, not a contract...)."""


@cache
def artifact() -> dict[str, Any]:
    """The compiled contract: ``abi``, ``bytecode``, ``deployedBytecode``, ``compiler``."""
    text = resources.files("lightclient.oracle").joinpath("CheckpointOracle.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True, slots=True)
class RegisteredCheckpoint:
    """What ``GetLatestCheckpoint`` says: (section index, checkpoint hash, height)."""

    section_index: int
    hash: bytes
    height: int

    @property
    def is_empty(self) -> bool:
        return self.section_index == 0 and self.hash == ZERO_HASH


@dataclass(frozen=True, slots=True)
class Vote:
    """One ``NewCheckpointVote`` event."""

    index: int
    checkpoint_hash: bytes
    v: int
    r: bytes
    s: bytes
    address: str  # the log's emitter
    block: int

    @property
    def signature(self) -> bytes:
        return self.r + self.s + bytes((self.v,))


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    registered: bool
    tx_hash: str
    block: int
    reason: str  # "registered", or which rule refused it
    latest: RegisteredCheckpoint


def _hexbytes(value: Any) -> bytes:
    return bytes(value)


class OracleContract:
    """A deployed checkpoint oracle at ``address`` on the chain behind ``w3``."""

    def __init__(self, w3: AsyncWeb3[Any], address: str) -> None:
        if not AsyncWeb3.is_address(address):
            raise InvalidInput(f"invalid oracle address {address!r}")
        self.w3 = w3
        self.address = AsyncWeb3.to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=artifact()["abi"])

    async def _call(self, name: str, block: int | str = "latest") -> Any:
        try:
            return await getattr(self.contract.functions, name)().call(block_identifier=block)
        except (*_REVERTS, *_NODE_ERRORS) as exc:
            raise OracleError(f"oracle {self.address}: {name}() failed: {exc}") from None

    async def has_code(self) -> bool:
        try:
            return bool(await self.w3.eth.get_code(self.address))
        except (Web3Exception, OSError) as exc:
            raise OracleError(f"cannot read the code at {self.address}: {exc}") from None

    async def parameters(self) -> tuple[int, int, int]:
        """(sectionSize, processConfirms, threshold), from storage slots 5, 6 and 7."""
        values = []
        for slot in (5, 6, 7):
            try:
                word = await self.w3.eth.get_storage_at(self.address, slot)
            except _NODE_ERRORS as exc:
                raise OracleError(f"cannot read the oracle's storage: {exc}") from None
            values.append(int.from_bytes(bytes(word), "big"))
        return values[0], values[1], values[2]

    async def admins(self, block: int | str = "latest") -> list[str]:
        return [AsyncWeb3.to_checksum_address(a) for a in await self._call("GetAllAdmin", block)]

    async def latest(self, block: int | str = "latest") -> RegisteredCheckpoint:
        index, checkpoint_hash, height = await self._call("GetLatestCheckpoint", block)
        return RegisteredCheckpoint(int(index), _hexbytes(checkpoint_hash), int(height))

    async def _vote_logs(self, index: int, from_block: int, to_block: int) -> list[Any]:
        """This oracle's NewCheckpointVote logs for ``index`` in a block range."""
        try:
            logs = await self.w3.eth.get_logs(
                {
                    "fromBlock": from_block,
                    "toBlock": to_block,
                    "address": self.address,
                    "topics": [
                        "0x" + NEW_CHECKPOINT_VOTE_TOPIC.hex(),
                        "0x" + index.to_bytes(32, "big").hex(),
                    ],
                }
            )
        except _NODE_ERRORS as exc:
            raise OracleError(f"cannot read the oracle's vote events: {exc}") from None
        return list(logs)

    async def votes(self, index: int, checkpoint_hash: bytes, height: int) -> list[Vote]:
        """The votes for (index, hash) emitted by this oracle in block ``height``.

        Logs from other addresses are dropped (geth's client did not check the emitter).
        Logs that do not decode as a vote are skipped, as geth's strict ABI decoder does.
        """
        logs = await self._vote_logs(index, height, height)
        votes: list[Vote] = []
        for log in logs:
            vote = decode_vote(log)
            if vote is None or vote.address.lower() != self.address.lower():
                continue
            if vote.index == index and vote.checkpoint_hash == checkpoint_hash:
                votes.append(vote)
        return votes

    async def votes_for_index(self, index: int, to_block: int) -> list[Vote]:
        """Every vote this oracle emitted for section ``index``, oldest first."""
        logs = await self._vote_logs(index, 0, to_block)
        votes = [decode_vote(log) for log in logs]
        return [
            v
            for v in votes
            if v is not None and v.index == index and v.address.lower() == self.address.lower()
        ]

    async def publish(
        self,
        account: LocalAccount,
        index: int,
        checkpoint_hash: bytes,
        signatures: list[bytes],
        *,
        sentry_distance: int = 128,
    ) -> PublishOutcome:
        """Send SetCheckpoint with the given (already ordered) signatures; report the outcome."""
        head = await self.w3.eth.block_number
        sentry_number = max(head - sentry_distance, 0)
        sentry = await self.w3.eth.get_block(sentry_number)
        before = await self.latest()
        call = self.contract.functions.SetCheckpoint(
            sentry_number,
            bytes(sentry["hash"]),
            checkpoint_hash,
            index,
            [s[64] for s in signatures],
            [s[:32] for s in signatures],
            [s[32:64] for s in signatures],
        )
        try:
            would_register = await call.call({"from": account.address})
            gas = await call.estimate_gas({"from": account.address})
            tx = await call.build_transaction(
                {
                    "from": account.address,
                    "nonce": await self.w3.eth.get_transaction_count(account.address),
                    "gas": _with_margin(gas),
                }
            )
        except _REVERTS as exc:
            raise OracleError(f"SetCheckpoint would revert: {_revert_reason(exc)}") from None
        except _NODE_ERRORS as exc:
            raise OracleError(f"cannot prepare SetCheckpoint: {exc}") from None
        receipt = await _send(self.w3, account, tx)
        latest = await self.latest()
        registered = (
            latest.section_index == index
            and latest.hash == checkpoint_hash
            and (latest.height == receipt["blockNumber"])
        )
        if registered:
            reason = "registered"
        else:
            reason = _refusal(
                before, index, checkpoint_hash, receipt["blockNumber"], would_register
            )
        return PublishOutcome(
            registered,
            "0x" + bytes(receipt["transactionHash"]).hex(),
            receipt["blockNumber"],
            reason,
            latest,
        )


def _with_margin(estimate: int) -> int:
    """Gas limit for an estimate: some nodes (eth-tester) estimate the gas used after
    refunds, which is less than the execution needs when storage is overwritten."""
    return estimate * 5 // 4 + 20_000


def decode_vote(log: Any) -> Vote | None:
    """A NewCheckpointVote from a log object (web3 or JSON-RPC shape), or None."""
    try:
        topics = [
            bytes(t) if not isinstance(t, str) else bytes.fromhex(t[2:]) for t in log["topics"]
        ]
        data = log["data"]
        data = bytes(data) if not isinstance(data, str) else bytes.fromhex(data[2:])
        if len(topics) != 2 or topics[0] != NEW_CHECKPOINT_VOTE_TOPIC:
            return None
        index_word = topics[1]
        if len(index_word) != 32 or int.from_bytes(index_word[:24], "big"):
            return None
        checkpoint_hash, v, r, s = abi_decode(
            ["bytes32", "uint8", "bytes32", "bytes32"], data, strict=True
        )
        block = log["blockNumber"]
        return Vote(
            int.from_bytes(index_word, "big"),
            bytes(checkpoint_hash),
            int(v),
            bytes(r),
            bytes(s),
            AsyncWeb3.to_checksum_address(log["address"]),
            int(block, 16) if isinstance(block, str) else int(block),
        )
    except (KeyError, TypeError, ValueError, Exception):
        return None


def _refusal(
    before: RegisteredCheckpoint, index: int, checkpoint_hash: bytes, block: int, result: bool
) -> str:
    if checkpoint_hash == ZERO_HASH:
        return "zero checkpoint hash"
    if index < before.section_index:
        return f"checkpoint is too old: latest registered is {before.section_index}"
    if index == before.section_index and (index != 0 or before.height != 0):
        return f"stale checkpoint: latest registered {before.section_index}, given {index}"
    if not result:
        return f"future checkpoint: section {index} is not final at block {block}"
    return "not registered (the contract returned without storing it)"


def _revert_reason(exc: Exception) -> str:
    return (
        f"{exc}; the contract reverts when the sender is not an admin, the sentry block hash "
        "is wrong, a signer is not an admin, signers are not in ascending order (or repeat), "
        "or there are fewer signatures than the threshold"
    )


async def _send(w3: AsyncWeb3[Any], account: LocalAccount, tx: Any) -> Any:
    try:
        signed = account.sign_transaction(tx)
        tx_hash = await w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    except (*_REVERTS, *_NODE_ERRORS) as exc:
        raise OracleError(f"transaction failed: {exc}") from None
    if receipt["status"] != 1:
        raise OracleError(f"transaction 0x{bytes(receipt['transactionHash']).hex()} reverted")
    return receipt


async def deploy_oracle(
    w3: AsyncWeb3[Any],
    account: LocalAccount,
    signers: list[str],
    threshold: int,
    *,
    section_size: int = 32768,
    confirmations: int = 256,
) -> tuple[str, str]:
    """Deploy a checkpoint oracle; returns (address, transaction hash)."""
    if not 1 <= threshold <= len(signers):
        raise InvalidInput(f"Invalid signature threshold {threshold}")
    admins = []
    for signer in signers:
        if not AsyncWeb3.is_address(signer.strip()):
            raise InvalidInput(f"Invalid account in --signers: '{signer}'")
        admins.append(AsyncWeb3.to_checksum_address(signer.strip()))
    factory = w3.eth.contract(abi=artifact()["abi"], bytecode=artifact()["bytecode"])
    try:
        tx = await factory.constructor(
            admins, section_size, confirmations, threshold
        ).build_transaction(
            {"from": account.address, "nonce": await w3.eth.get_transaction_count(account.address)}
        )
    except (Web3Exception, ValueError, OSError) as exc:
        raise OracleError(f"Failed to deploy checkpoint oracle: {exc}") from None
    receipt = await _send(w3, account, tx)
    return str(receipt["contractAddress"]), "0x" + bytes(receipt["transactionHash"]).hex()
