"""geth v1.11.6's JSON-RPC shapes of blocks, transactions and receipts, built from
verified consensus bytes (:mod:`lightclient.client.odr`): the inverse of
:mod:`lightclient.core.ethcodec`'s encoders. Every metadata field (sender, hashes, indexes,
gas used, effective gas price, contract address, log positions) is derived locally, as
geth's ``DeriveFields`` does (light-odr.md §1.2); nothing comes from a server unverified.

Transaction types 0 (legacy), 1 (EIP-2930) and 2 (EIP-1559) are decoded, as geth v1.11.6
does; another type raises :class:`~lightclient.errors.DecodeError`.
"""

from __future__ import annotations

from typing import Any

from eth_keys.datatypes import Signature
from eth_keys.exceptions import BadSignature

from lightclient.client.odr import Body
from lightclient.core.header import Header, header_json_from_rlp
from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import Node, decode_node, encode_list, encode_node, split_list
from lightclient.errors import DecodeError
from lightclient.les.codec import read_list

__all__ = [
    "block_json",
    "decode_transaction",
    "receipt_json",
    "receipts_json",
    "transaction_json",
    "uncle_json",
]

_F_BASE_FEE = 15


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _int(item: Node) -> int:
    if not isinstance(item, bytes):
        raise DecodeError("an integer field is a list")
    return int.from_bytes(item, "big")


def _bytes(item: Node) -> bytes:
    if not isinstance(item, bytes):
        raise DecodeError("a byte field is a list")
    return item


def _access_list(item: Node) -> list[dict[str, Any]]:
    if not isinstance(item, list):
        raise DecodeError("an access list is a list")
    out = []
    for entry in item:
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[1], list):
            raise DecodeError("an access list entry is [address, [key...]]")
        out.append(
            {
                "address": _hex(_bytes(entry[0])),
                "storageKeys": [_hex(_bytes(k)) for k in entry[1]],
            }
        )
    return out


def _recover(msg_hash: bytes, parity: int, r: int, s: int) -> bytes:
    try:
        signature = Signature(vrs=(parity, r, s))
        return bytes(signature.recover_public_key_from_msg_hash(msg_hash).to_canonical_address())
    except (BadSignature, ValueError, Exception) as exc:  # eth_keys also raises ValidationError
        raise DecodeError(f"the transaction's signature does not recover: {exc}") from None


def decode_transaction(raw: bytes) -> dict[str, Any]:
    """The block-independent JSON fields of a transaction in consensus encoding, with
    ``from`` recovered from its signature; plus ``_to`` (bytes or None) and ``_sender``."""
    kind = 0 if raw[:1] >= b"\xc0" else raw[0]
    node = decode_node(raw if kind == 0 else raw[1:])
    if not isinstance(node, list):
        raise DecodeError("a transaction is an RLP list")
    out: dict[str, Any] = {"hash": _hex(keccak(raw)), "type": hex(kind)}
    if kind == 0:
        if len(node) != 9:
            raise DecodeError(f"a legacy transaction has 9 fields, not {len(node)}")
        nonce, price, gas, to, value, data, v, r, s = node
        vi = _int(v)
        if vi in (27, 28):
            parity, unsigned = vi - 27, node[:6]
            chain_id = None
        else:
            chain_id = (vi - 35) // 2
            parity = vi - 35 - 2 * chain_id
            unsigned = [*node[:6], chain_id.to_bytes(8, "big").lstrip(b"\0"), b"", b""]
        sender = _recover(keccak(encode_node(unsigned)), parity, _int(r), _int(s))
        out.update(gasPrice=hex(_int(price)))
        if chain_id is not None:
            out["chainId"] = hex(chain_id)
        out["v"] = hex(vi)
    elif kind in (1, 2):
        want = 11 if kind == 1 else 12
        if len(node) != want:
            raise DecodeError(f"a type-{kind} transaction has {want} fields, not {len(node)}")
        if kind == 1:
            chain, nonce, price, gas, to, value, data, access, y, r, s = node
            out.update(gasPrice=hex(_int(price)))
        else:
            chain, nonce, tip, cap, gas, to, value, data, access, y, r, s = node
            out.update(maxPriorityFeePerGas=hex(_int(tip)), maxFeePerGas=hex(_int(cap)))
        parity = _int(y)
        if parity > 1:
            raise DecodeError(f"yParity {parity}")
        sender = _recover(keccak(bytes((kind,)) + encode_node(node[:-3])), parity, _int(r), _int(s))
        out.update(chainId=hex(_int(chain)), accessList=_access_list(access), v=hex(parity))
    else:
        raise DecodeError(f"transaction type {kind} is not supported (geth v1.11.6 knows 0-2)")
    to_bytes = _bytes(to)
    out.update(
        {
            "from": _hex(sender),
            "gas": hex(_int(gas)),
            "input": _hex(_bytes(data)),
            "nonce": hex(_int(nonce)),
            "to": _hex(to_bytes) if to_bytes else None,
            "value": hex(_int(value)),
            "r": hex(_int(r)),
            "s": hex(_int(s)),
            "_sender": sender,
            "_to": to_bytes or None,
        }
    )
    return out


def _base_fee(header: Header) -> int | None:
    fields = split_list(header.rlp)
    return int.from_bytes(fields[_F_BASE_FEE], "big") if len(fields) > _F_BASE_FEE else None


def _effective_price(tx: dict[str, Any], base_fee: int | None) -> int:
    if "maxFeePerGas" not in tx:
        return int(tx["gasPrice"], 16)
    cap, tip = int(tx["maxFeePerGas"], 16), int(tx["maxPriorityFeePerGas"], 16)
    return cap if base_fee is None else min(tip + base_fee, cap)


def _public(tx: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in tx.items() if not k.startswith("_")}


def transaction_json(body: Body, index: int) -> dict[str, Any]:
    """geth's ``RPCTransaction`` of transaction ``index`` of a verified body."""
    header = body.header
    tx = decode_transaction(body.transactions[index])
    out = _public(tx)
    out.update(
        blockHash=_hex(header.hash), blockNumber=hex(header.number), transactionIndex=hex(index)
    )
    if "maxFeePerGas" in tx:  # in a block: the price paid (geth's newRPCTransaction)
        out["gasPrice"] = hex(_effective_price(tx, _base_fee(header)))
    return out


def block_json(body: Body, full: bool, td: int | None) -> dict[str, Any]:
    """geth's block object for a verified header and body (``full``: transaction objects)."""
    header = body.header
    out: dict[str, Any] = dict(header_json_from_rlp(header.rlp))
    parts = read_list(body.rlp, "body")
    if parts[2:] == [b"\xc0"]:  # rlp:"optional": an empty trailing withdrawals list is left out
        parts = parts[:2]
    out["size"] = hex(len(encode_list([header.rlp, *parts])))
    out["totalDifficulty"] = hex(td) if td is not None else None
    if full:
        out["transactions"] = [transaction_json(body, i) for i in range(len(body.transactions))]
    else:
        out["transactions"] = [_hex(keccak(tx)) for tx in body.transactions]
    out["uncles"] = [_hex(keccak(u)) for u in body.uncles]
    if body.withdrawals is not None:
        out["withdrawals"] = [_withdrawal_json(w) for w in body.withdrawals]
    return out


def uncle_json(raw: bytes) -> dict[str, Any]:
    """geth's object for an uncle: a block of the uncle header alone, with no total
    difficulty (geth looks it up by hash and has none for an uncle)."""
    out: dict[str, Any] = dict(header_json_from_rlp(raw))
    out["size"] = hex(len(encode_list([raw, b"\xc0", b"\xc0"])))
    out.update(totalDifficulty=None, transactions=[], uncles=[])
    return out


def _withdrawal_json(raw: bytes) -> dict[str, str]:
    node = decode_node(raw)
    if not isinstance(node, list) or len(node) != 4:
        raise DecodeError("a withdrawal has 4 fields")
    index, validator, address, amount = node
    return {
        "index": hex(_int(index)),
        "validatorIndex": hex(_int(validator)),
        "address": _hex(_bytes(address)),
        "amount": hex(_int(amount)),
    }


def receipts_json(body: Body, receipts: list[bytes]) -> list[dict[str, Any]]:
    """geth's receipt objects for a verified body and its verified receipts."""
    return _receipts(body, receipts, None)


def receipt_json(body: Body, receipts: list[bytes], index: int) -> dict[str, Any]:
    """geth's receipt object of transaction ``index`` (only that sender is recovered)."""
    return _receipts(body, receipts, index)[0]


def _receipts(body: Body, receipts: list[bytes], only: int | None) -> list[dict[str, Any]]:
    if len(receipts) != len(body.transactions):
        raise DecodeError("transaction and receipt count mismatch")
    header = body.header
    base_fee = _base_fee(header)
    out: list[dict[str, Any]] = []
    previous_gas = 0
    log_index = 0
    block_hash, number = _hex(header.hash), hex(header.number)
    for index, (raw_tx, raw) in enumerate(zip(body.transactions, receipts, strict=True)):
        kind = 0 if raw[:1] >= b"\xc0" else raw[0]
        node = decode_node(raw if kind == 0 else raw[1:])
        if not isinstance(node, list) or len(node) != 4 or not isinstance(node[3], list):
            raise DecodeError("a receipt is [statusOrRoot, cumulativeGas, bloom, logs]")
        status, cumulative, bloom, logs = node
        gas = _int(cumulative)
        if only is not None and index != only:  # still counted: gasUsed, logIndex
            previous_gas = gas
            log_index += len(logs)
            continue
        tx = decode_transaction(raw_tx)
        receipt: dict[str, Any] = {
            "blockHash": block_hash,
            "blockNumber": number,
            "transactionHash": tx["hash"],
            "transactionIndex": hex(index),
            "from": tx["from"],
            "to": tx["to"],
            "cumulativeGasUsed": hex(gas),
            "gasUsed": hex(gas - previous_gas),
            "effectiveGasPrice": hex(_effective_price(tx, base_fee)),
            "contractAddress": None,
            "logsBloom": _hex(_bytes(bloom)),
            "type": hex(kind),
        }
        previous_gas = gas
        status_bytes = _bytes(status)
        if len(status_bytes) == 32:
            receipt["root"] = _hex(status_bytes)
        else:
            receipt["status"] = "0x1" if status_bytes == b"\x01" else "0x0"
        if tx["_to"] is None:
            nonce = int(tx["nonce"], 16).to_bytes(8, "big").lstrip(b"\0")
            created = keccak(encode_node([tx["_sender"], nonce]))[12:]
            receipt["contractAddress"] = _hex(created)
        entries = []
        for log in logs:
            if not isinstance(log, list) or len(log) != 3 or not isinstance(log[1], list):
                raise DecodeError("a log is [address, [topic...], data]")
            entries.append(
                {
                    "address": _hex(_bytes(log[0])),
                    "topics": [_hex(_bytes(t)) for t in log[1]],
                    "data": _hex(_bytes(log[2])),
                    "blockNumber": number,
                    "transactionHash": tx["hash"],
                    "transactionIndex": hex(index),
                    "blockHash": block_hash,
                    "logIndex": hex(log_index),
                    "removed": False,
                }
            )
            log_index += 1
        receipt["logs"] = entries
        out.append(receipt)
    return out
