"""The verdict on a registered checkpoint: is it the chain's own, and did enough signers sign?

A checkpoint is *verified* only when the hash the oracle registered equals the hash of the
checkpoint we rebuilt from the chain's headers, and at least ``threshold`` configured
signers signed it (checked on the registration block's ``NewCheckpointVote`` events from
the oracle's address). The node's word alone never verifies anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from lightclient.core.checkpoint import OracleConfig, TrustedCheckpoint
from lightclient.core.signing import verify_signers
from lightclient.oracle.contract import OracleContract, RegisteredCheckpoint
from lightclient.oracle.reader import read_latest
from lightclient.store.sqlite import Store
from lightclient.sync.syncer import Syncer

__all__ = ["Verdict", "verify_checkpoint"]

VERIFIED = "verified"


@dataclass(frozen=True, slots=True)
class Verdict:
    section_index: int | None
    registered_hash: bytes | None
    local_hash: bytes | None
    signers: tuple[str, ...]
    verified: bool
    reason: str
    height: int | None = None
    oracle_read: str = ""
    signature_failures: tuple[str, ...] = field(default=())
    local: TrustedCheckpoint | None = None

    def to_json(self) -> dict[str, Any]:
        def hx(value: bytes | None) -> str | None:
            return None if value is None else "0x" + value.hex()

        return {
            "sectionIndex": self.section_index,
            "registeredHash": hx(self.registered_hash),
            "localHash": hx(self.local_hash),
            "signers": list(self.signers),
            "verified": self.verified,
            "reason": self.reason,
            "height": self.height,
            "oracleRead": self.oracle_read,
            "signatureFailures": list(self.signature_failures),
            "local": None if self.local is None else self.local.to_json(),
        }


async def _registration(
    oracle: OracleContract, index: int, latest: RegisteredCheckpoint
) -> RegisteredCheckpoint | None:
    """Where section ``index`` was registered: the latest, or an older vote event."""
    if index == latest.section_index and not latest.is_empty:
        return latest
    votes = await oracle.votes_for_index(index, latest.height)
    if not votes:
        return None
    last = votes[-1]
    return RegisteredCheckpoint(index, last.checkpoint_hash, last.block)


async def verify_checkpoint(
    syncer: Syncer,
    oracle: OracleContract,
    config: OracleConfig,
    index: int | None = None,
) -> Verdict:
    """Sync, read the oracle, and judge checkpoint ``index`` (default: the latest registered)."""
    await syncer.sync()
    store: Store = syncer.store
    head = await syncer.verified_head()
    read = await read_latest(oracle, head)
    latest = read.latest
    if index is None:
        if latest.is_empty:
            return Verdict(
                None,
                None,
                None,
                (),
                False,
                "no checkpoint is registered in the oracle",
                oracle_read=read.detail,
            )
        index = latest.section_index
    registration = await _registration(oracle, index, latest)
    local = store.checkpoint(index)
    local_hash = local.hash() if local is not None else None
    if registration is None:
        return Verdict(
            index,
            None,
            local_hash,
            (),
            False,
            f"section {index} was never registered in the oracle",
            oracle_read=read.detail,
            local=local,
        )
    votes = await oracle.votes(index, registration.hash, registration.height)
    result = verify_signers(config, index, registration.hash, [v.signature for v in votes])
    failures = tuple(
        f"vote {c.index}: {c.signer or 'unrecoverable'}: {c.reason}" for c in result.failures
    )
    base = Verdict(
        index,
        registration.hash,
        local_hash,
        result.signers,
        False,
        "",
        height=registration.height,
        oracle_read=read.detail,
        signature_failures=failures,
        local=local,
    )
    if local is None:
        return replace(
            base,
            reason=f"not yet indexed: section {index} is not complete locally "
            f"({store.section_count()} sections indexed)",
        )
    if local_hash != registration.hash:
        return replace(base, reason=_mismatch(store, index, local, registration.hash))
    if not result.ok:
        return replace(
            base,
            reason=f"bad signatures: {len(result.signers)} of the configured signers signed, "
            f"{config.threshold} needed",
        )
    return replace(base, verified=True, reason=VERIFIED)


def _mismatch(store: Store, index: int, local: TrustedCheckpoint, registered: bytes) -> str:
    """Explain a hash mismatch as far as the registered hash allows."""
    for other in range(store.section_count()):
        candidate = store.checkpoint(other)
        if candidate is not None and other != index and candidate.hash() == registered:
            return (
                f"mismatch: the hash registered for section {index} is the checkpoint of "
                f"section {other}"
            )
    return (
        f"mismatch: the registered hash 0x{registered.hex()} is not the checkpoint rebuilt "
        f"from the chain (sectionHead 0x{local.section_head.hex()}, chtRoot "
        f"0x{local.cht_root.hex()}, bloomRoot 0x{local.bloom_root.hex()}); at least one of "
        "the head, CHT root or BloomTrie root the signers used differs from the chain's"
    )
