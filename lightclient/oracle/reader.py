"""Reading the oracle's latest checkpoint without trusting the node, where it can be done.

The oracle keeps ``sectionIndex`` in storage slot 2, ``height`` in slot 3 and ``hash`` in
slot 4. With ``eth_getProof`` those three slots are proved against the state root of a
header whose hash we checked ourselves; a node that lies about them is caught. Nodes
without ``eth_getProof`` (the embedded eth-tester chain, some light nodes) are read with a
plain ``eth_call`` instead, and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import rlp
from trie.exceptions import BadTrieProof
from trie.hexary import HexaryTrie
from web3.exceptions import MethodUnavailable, Web3Exception
from web3.types import RPCEndpoint

from lightclient.core.header import Header
from lightclient.core.keccak import keccak
from lightclient.errors import InvalidProof
from lightclient.oracle.contract import OracleContract, OracleError, RegisteredCheckpoint

__all__ = ["OracleRead", "read_latest", "verify_storage_proof"]

SLOT_SECTION_INDEX = 2
SLOT_HEIGHT = 3
SLOT_HASH = 4


@dataclass(frozen=True, slots=True)
class OracleRead:
    latest: RegisteredCheckpoint
    proved: bool  # True: eth_getProof verified against ``block``'s state root
    block: int
    detail: str


def _slot_key(slot: int) -> str:
    return "0x" + slot.to_bytes(32, "big").hex()


def _b(value: Any) -> bytes:
    """Bytes from a JSON hex string or a bytes-like value."""
    if isinstance(value, str):
        text = value[2:] if value[:2] in ("0x", "0X") else value
        return bytes.fromhex(text if len(text) % 2 == 0 else "0" + text)
    return bytes(value)


def _nodes(proof: Any) -> list[Any]:
    return [rlp.decode(_b(node)) for node in proof]


def _from_proof(root: bytes, key: bytes, nodes: list[Any]) -> bytes:
    value: bytes = HexaryTrie.get_from_proof(root, key, nodes)  # type: ignore[no-untyped-call]
    return value


def verify_storage_proof(state_root: bytes, address: str, response: Any) -> dict[int, int]:
    """Check an ``eth_getProof`` answer; returns {slot: value} for the slots it covers."""
    try:
        account_key = keccak(bytes.fromhex(address[2:]))
        account = _from_proof(state_root, account_key, _nodes(response["accountProof"]))
        if not account:
            raise InvalidProof(f"the state has no account at {address}")
        _nonce, _balance, storage_root, _code = rlp.decode(account)
        if bytes(storage_root) != _b(response["storageHash"]):
            raise InvalidProof("the proof's storageHash is not the proved account's")
        values: dict[int, int] = {}
        for item in response["storageProof"]:
            slot = int.from_bytes(_b(item["key"]), "big")
            leaf = _from_proof(
                bytes(storage_root), keccak(slot.to_bytes(32, "big")), _nodes(item["proof"])
            )
            proved = int.from_bytes(rlp.decode(leaf), "big") if leaf else 0
            claimed = item["value"]
            claimed_int = (
                claimed if isinstance(claimed, int) else int.from_bytes(_b(claimed), "big")
            )
            if proved != claimed_int:
                raise InvalidProof(f"storage slot {slot}: proved {proved}, node says {claimed_int}")
            values[slot] = proved
        return values
    except (BadTrieProof, rlp.exceptions.DecodingError, KeyError, TypeError, ValueError) as exc:
        raise InvalidProof(f"eth_getProof answer does not verify: {exc}") from None


async def read_latest(oracle: OracleContract, head: Header | None) -> OracleRead:
    """The oracle's latest checkpoint at ``head``: proved when possible, else by eth_call."""
    if head is not None:
        try:
            slots = [_slot_key(SLOT_SECTION_INDEX), _slot_key(SLOT_HEIGHT), _slot_key(SLOT_HASH)]
            response = await oracle.w3.manager.coro_request(
                RPCEndpoint("eth_getProof"), [oracle.address, slots, hex(head.number)]
            )
        except (MethodUnavailable, NotImplementedError) as exc:
            reason = f"the node has no eth_getProof ({exc})"
        except (Web3Exception, ValueError, OSError) as exc:
            reason = f"eth_getProof failed ({exc})"
        else:
            try:
                values = verify_storage_proof(head.state_root, oracle.address, response)
            except InvalidProof as exc:
                raise OracleError(f"the node's oracle state does not verify: {exc}") from None
            latest = RegisteredCheckpoint(
                values.get(SLOT_SECTION_INDEX, 0) & (2**64 - 1),
                values.get(SLOT_HASH, 0).to_bytes(32, "big"),
                values.get(SLOT_HEIGHT, 0),
            )
            return OracleRead(
                latest,
                True,
                head.number,
                f"eth_getProof verified against the state root of block {head.number} "
                f"(0x{head.hash.hex()})",
            )
        at: int | str = head.number
    else:
        reason = "no verified header"
        at = "latest"
    latest = await oracle.latest(at)
    return OracleRead(
        latest, False, head.number if head else -1, f"plain eth_call, not proved: {reason}"
    )
