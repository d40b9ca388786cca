"""Consensus encodings of block contents, rebuilt from Ethereum JSON-RPC objects.

geth v1.11.6 (``core/types``) hashes and sends block contents in these forms:

* a **transaction** in its consensus encoding: a legacy tx is the RLP list
  ``[nonce, gasPrice, gas, to, value, data, v, r, s]``; a typed tx is the envelope
  ``type || rlp(payload)`` (EIP-2718). Types 1 (EIP-2930), 2 (EIP-1559), 3 (EIP-4844,
  without the blob sidecar) and 4 (EIP-7702) are encoded here from their JSON fields;
  v1.11.6 itself only knows types 0-2.
* a **receipt** in its consensus encoding ``[statusOrRoot, cumulativeGasUsed, bloom,
  logs]``, typed receipts as ``type || rlp(list)``. This is what receiptsRoot hashes and
  what LES Receipts carries; geth's *storage* form (``ReceiptForStorage``, no bloom) never
  leaves the database.
* a **withdrawal** ``[index, validatorIndex, address, amount]`` (Shanghai).

Inside an RLP list (a block body, an LES message) a typed item is wrapped as an RLP byte
string: :func:`list_item`. In a trie leaf the value is the envelope itself.

The encoders are the project's own, on :mod:`lightclient.core.rlpcodec`: eth-account's
typed-transaction classes validate and re-checksum their input, have no public signed
legacy encoder and no receipt or withdrawal encoder; the tests check these encoders
against eth-account's signed raw transactions and against geth's test vectors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import Node, encode_bytes, encode_int, encode_list, encode_node
from lightclient.core.trie import ordered_trie_root
from lightclient.errors import DecodeError

__all__ = [
    "EMPTY_UNCLE_HASH",
    "KNOWN_TX_TYPES",
    "encode_log",
    "encode_receipt",
    "encode_transaction",
    "encode_withdrawal",
    "list_item",
    "ordered_trie_root",
    "receipt_fields",
    "transaction_fields",
    "uncle_hash",
]

EMPTY_UNCLE_HASH = keccak(b"\xc0")
KNOWN_TX_TYPES = frozenset({0, 1, 2, 3, 4})


# -- JSON field readers -------------------------------------------------------------------


def _get(obj: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in obj and obj[name] is not None:
            return obj[name]
    raise DecodeError(f"JSON object lacks the field {names[0]}")


def _hex(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise DecodeError(f"JSON field {name} is not a 0x-prefixed hex string: {value!r}")
    return value[2:]


def quantity(value: Any, name: str = "quantity") -> int:
    """A JSON-RPC hex quantity as an int."""
    text = _hex(value, name)
    if not text:
        return 0
    try:
        return int(text, 16)
    except ValueError:
        raise DecodeError(f"JSON field {name} is not hex: {value!r}") from None


def data(value: Any, name: str = "data", size: int | None = None) -> bytes:
    """JSON-RPC hex data as bytes, of exactly ``size`` bytes when given."""
    text = _hex(value, name)
    try:
        out = bytes.fromhex(text)
    except ValueError:
        raise DecodeError(f"JSON field {name} is not even-length hex: {value!r}") from None
    if size is not None and len(out) != size:
        raise DecodeError(f"JSON field {name} has {len(out)} bytes, expected {size}")
    return out


def _q(obj: Mapping[str, Any], *names: str) -> bytes:
    value = quantity(_get(obj, *names), names[0])
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _d(obj: Mapping[str, Any], name: str, size: int | None = None) -> bytes:
    return data(_get(obj, name), name, size)


def _to(obj: Mapping[str, Any], *, required: bool) -> bytes:
    value = obj.get("to")
    if value is None:
        if required:
            raise DecodeError("this transaction type needs a 'to' address")
        return b""  # contract creation: the empty string
    return data(value, "to", 20)


def _access_list(obj: Mapping[str, Any]) -> list[Node]:
    entries = _get(obj, "accessList")
    if not isinstance(entries, list):
        raise DecodeError("JSON field accessList is not a list")
    out: list[Node] = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("storageKeys"), list):
            raise DecodeError(f"malformed access list entry: {entry!r}")
        keys: list[Node] = [data(k, "storageKeys", 32) for k in entry["storageKeys"]]
        out.append([_d(entry, "address", 20), keys])
    return out


def _y_parity(obj: Mapping[str, Any]) -> bytes:
    value = quantity(_get(obj, "yParity", "v"), "yParity")
    if value > 1:
        raise DecodeError(f"a typed transaction's yParity must be 0 or 1, not {value}")
    return b"\x01" if value else b""


def _authorizations(obj: Mapping[str, Any]) -> list[Node]:
    entries = _get(obj, "authorizationList")
    if not isinstance(entries, list):
        raise DecodeError("JSON field authorizationList is not a list")
    out: list[Node] = []
    for auth in entries:
        if not isinstance(auth, Mapping):
            raise DecodeError(f"malformed authorization: {auth!r}")
        out.append(
            [
                _q(auth, "chainId"),
                _d(auth, "address", 20),
                _q(auth, "nonce"),
                _y_parity(auth),
                _q(auth, "r"),
                _q(auth, "s"),
            ]
        )
    return out


def tx_type(tx: Mapping[str, Any]) -> int:
    """The transaction's EIP-2718 type (0 for legacy, also when JSON has no ``type``)."""
    value = tx.get("type")
    return 0 if value is None else quantity(value, "type")


def transaction_fields(tx: Mapping[str, Any]) -> tuple[int, list[Node]]:
    """(type, the RLP payload list) of a transaction JSON object (§7.3 of light-odr.md).

    For types 2 and above the signed fee fields are ``maxPriorityFeePerGas`` and
    ``maxFeePerGas``; ``gasPrice`` in a mined tx's JSON is the effective price and is not
    used. A legacy tx's JSON ``chainId`` is not an RLP field (it is inside ``v``).
    """
    kind = tx_type(tx)
    common = [_q(tx, "nonce")]
    if kind == 0:
        return 0, [
            *common,
            _q(tx, "gasPrice"),
            _q(tx, "gas"),
            _to(tx, required=False),
            _q(tx, "value"),
            _d(tx, "input") if "input" in tx else _d(tx, "data"),
            _q(tx, "v"),
            _q(tx, "r"),
            _q(tx, "s"),
        ]
    payload_data = _d(tx, "input") if "input" in tx else _d(tx, "data")
    chain = [_q(tx, "chainId"), *common]
    signature = [_y_parity(tx), _q(tx, "r"), _q(tx, "s")]
    if kind == 1:
        body: list[Node] = [
            _q(tx, "gasPrice"),
            _q(tx, "gas"),
            _to(tx, required=False),
            _q(tx, "value"),
            payload_data,
            _access_list(tx),
        ]
        return 1, [*chain, *body, *signature]
    fees: list[Node] = [_q(tx, "maxPriorityFeePerGas"), _q(tx, "maxFeePerGas"), _q(tx, "gas")]
    if kind == 2:
        rest: list[Node] = [_to(tx, required=False), _q(tx, "value"), payload_data]
        return 2, [*chain, *fees, *rest, _access_list(tx), *signature]
    if kind == 3:
        hashes = _get(tx, "blobVersionedHashes")
        if not isinstance(hashes, list):
            raise DecodeError("JSON field blobVersionedHashes is not a list")
        blob: list[Node] = [
            _access_list(tx),
            _q(tx, "maxFeePerBlobGas"),
            [data(h, "blobVersionedHashes", 32) for h in hashes],
        ]
        rest = [_to(tx, required=True), _q(tx, "value"), payload_data]
        return 3, [*chain, *fees, *rest, *blob, *signature]
    if kind == 4:
        rest = [_to(tx, required=True), _q(tx, "value"), payload_data]
        auth: list[Node] = [_access_list(tx), _authorizations(tx)]
        return 4, [*chain, *fees, *rest, *auth, *signature]
    raise DecodeError(f"unknown transaction type {kind}")


def encode_transaction(tx: Mapping[str, Any]) -> bytes:
    """The consensus encoding of a transaction JSON object: what its hash and the tx trie
    commit to (a legacy RLP list, or a typed envelope ``type || rlp(payload)``)."""
    kind, payload = transaction_fields(tx)
    encoded = encode_node(payload)
    return encoded if kind == 0 else bytes((kind,)) + encoded


def list_item(encoded: bytes) -> bytes:
    """How a consensus-encoded tx or receipt sits inside an RLP list: a legacy item (an RLP
    list) as it is, a typed envelope wrapped as an RLP byte string."""
    return encoded if encoded[:1] >= b"\xc0" else encode_bytes(encoded)


# -- receipts, logs, withdrawals ------------------------------------------------------------


def encode_log(log: Mapping[str, Any]) -> Node:
    """A log as its RLP node ``[address, [topic...], data]``."""
    topics = _get(log, "topics")
    if not isinstance(topics, list):
        raise DecodeError("JSON field topics is not a list")
    return [_d(log, "address", 20), [data(t, "topics", 32) for t in topics], _d(log, "data")]


def receipt_fields(receipt: Mapping[str, Any]) -> tuple[int, list[Node]]:
    """(type, ``[statusOrRoot, cumulativeGasUsed, bloom, logs]``) of a receipt JSON object.

    A pre-Byzantium receipt carries the 32-byte post-state ``root``; later ones ``status``:
    ``0x01`` for success, the empty string for failure.
    """
    kind = tx_type(receipt)
    root = receipt.get("root")
    if root is not None and receipt.get("status") is None:
        status: bytes = data(root, "root", 32)
    else:
        value = quantity(_get(receipt, "status"), "status")
        if value > 1:
            raise DecodeError(f"a receipt status must be 0 or 1, not {value}")
        status = b"\x01" if value else b""
    logs = _get(receipt, "logs")
    if not isinstance(logs, list):
        raise DecodeError("JSON field logs is not a list")
    fields: list[Node] = [
        status,
        _q(receipt, "cumulativeGasUsed"),
        _d(receipt, "logsBloom", 256),
        [encode_log(log) for log in logs],
    ]
    return kind, fields


def encode_receipt(receipt: Mapping[str, Any]) -> bytes:
    """A receipt's consensus encoding (the receipts-trie value; geth ``Receipts.EncodeIndex``)."""
    kind, fields = receipt_fields(receipt)
    encoded = encode_node(fields)
    return encoded if kind == 0 else bytes((kind,)) + encoded


def encode_withdrawal(withdrawal: Mapping[str, Any]) -> bytes:
    """A withdrawal's RLP ``[index, validatorIndex, address, amount (Gwei)]``."""
    return encode_list(
        [
            encode_int(quantity(_get(withdrawal, "index"), "index")),
            encode_int(quantity(_get(withdrawal, "validatorIndex"), "validatorIndex")),
            encode_bytes(_d(withdrawal, "address", 20)),
            encode_int(quantity(_get(withdrawal, "amount"), "amount")),
        ]
    )


def uncle_hash(uncle_headers: Sequence[bytes]) -> bytes:
    """sha3Uncles: keccak of the RLP list of the uncle headers' RLP."""
    return keccak(encode_list(list(uncle_headers)))
