"""Consensus encodings of transactions, receipts and withdrawals from JSON (ethcodec).

Vectors: go-ethereum v1.11.6 core/types/block_test.go and receipt_test.go (block and
receipt RLP), light-odr.md §8 (roots, hashes, the Shanghai withdrawal, rlp(i) keys).
Property tests: the encoders round-trip through the ``rlp`` package, and typed txs equal
eth-account's own encoding byte for byte.
"""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from trie.hexary import HexaryTrie

from lightclient.core.ethcodec import (
    EMPTY_UNCLE_HASH,
    encode_receipt,
    encode_transaction,
    encode_withdrawal,
    list_item,
    uncle_hash,
)
from lightclient.core.keccak import keccak
from lightclient.core.trie import BLANK_ROOT, ordered_trie_root
from lightclient.errors import DecodeError

# TestBlockEncoding ("SimpleTx"): one legacy tx; the header's transactionsRoot is real.
SIMPLE_TX_BLOCK = bytes.fromhex(
    "f90260f901f9a083cafc574e1f51ba9dc0568fc617a08ea2429fb384059c972f13b19fa1c8dd55a01dcc"
    "4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347948888f1f195afa192cfee86"
    "0698584c030f4c9db1a0ef1552a40b7165c3cd773806b9e0c165b75356e0314bf0706f279c729f51e017"
    "a05fe50b260da6308036625b850b5d6ced6d0a9f814c0688bc91ffb7b7a3a54b67a0bc37d79753ad738a"
    "6dac4921e57392f145d8887476de3f783dfa7edae9283e52b90100000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000008302000001832fefd88252"
    "08845506eb0780a0bd4472abb6659ebe3ee06ee4d7b72a00a9f4d001caca51342001075469aff49888a1"
    "3a5a8c8f2bb1c4f861f85f800a82c35094095e7baea6a6c7c4c2dfeb977efac326af552d870a801ba09b"
    "ea4c4daac7c7c52e093e6a4c35dbbcf8856f1af7b059ba20253e70848d094fa08a8fae537ce25ed8cb5a"
    "f9adac3f141af69bd515bd2ba031522df09b97dd72b1c0"
)
LEGACY_TX_JSON = {
    "nonce": "0x0",
    "gasPrice": "0xa",
    "gas": "0xc350",
    "to": "0x095e7baea6a6c7c4c2dfeb977efac326af552d87",
    "value": "0xa",
    "input": "0x",
    "v": "0x1b",
    "r": "0x9bea4c4daac7c7c52e093e6a4c35dbbcf8856f1af7b059ba20253e70848d094f",
    "s": "0x8a8fae537ce25ed8cb5af9adac3f141af69bd515bd2ba031522df09b97dd72b1",
}
# TestEIP1559BlockEncoding's type-2 tx and TestEIP2718BlockEncoding's type-1 tx.
DYNAMIC_FEE_TX_JSON = {
    "type": "0x2",
    "chainId": "0x1",
    "nonce": "0x0",
    "maxPriorityFeePerGas": "0x0",
    "maxFeePerGas": "0x3b9aca00",
    "gas": "0x1e241",
    "to": "0x095e7baea6a6c7c4c2dfeb977efac326af552d87",
    "value": "0x0",
    "input": "0x",
    "accessList": [
        {"address": "0x0000000000000000000000000000000000000001", "storageKeys": ["0x" + "00" * 32]}
    ],
    "v": "0x0",
    "r": "0xfe38ca4e44a30002ac54af7cf922a6ac2ba11b7d22f548e8ecb3f51f41cb31b0",
    "s": "0x6de6a5cbae13c0c856e33acf021b51819636cfc009d39eafb9f606d546e305a8",
}
ACCESS_LIST_TX_JSON = {
    "type": "0x1",
    "chainId": "0x1",
    "nonce": "0x0",
    "gasPrice": "0xa",
    "gas": "0x1e241",
    "to": "0x095e7baea6a6c7c4c2dfeb977efac326af552d87",
    "value": "0x0",
    "input": "0x",
    "accessList": [
        {"address": "0x0000000000000000000000000000000000000001", "storageKeys": ["0x" + "00" * 32]}
    ],
    "yParity": "0x1",
    "r": "0x3dbacc8d0259f2508625e97fdfc57cd85fdd16e5821bc2c10bdd1a52649e8335",
    "s": "0x476e10695b183a87b0aa292a7f4b78ef0c3fbe62aa2c42c84e1d9c3da159ef14",
}


def test_simple_tx_block_body_and_root() -> None:
    block = rlp.decode(SIMPLE_TX_BLOCK)
    header, txs, uncles = block
    raw_tx = rlp.encode(txs[0])
    assert encode_transaction(LEGACY_TX_JSON) == raw_tx
    assert (
        keccak(raw_tx).hex() == "77b19baa4de67e45a7b26e4a220bccdbb6731885aa9927064e239ca232023215"
    )
    root = ordered_trie_root([raw_tx])
    assert root == header[4]
    assert root.hex() == "5fe50b260da6308036625b850b5d6ced6d0a9f814c0688bc91ffb7b7a3a54b67"
    assert uncle_hash([]) == header[1] == EMPTY_UNCLE_HASH
    # The body as LES sends it is the block's list minus the header.
    body = rlp.encode([txs, uncles])
    assert SIMPLE_TX_BLOCK.endswith(body[2:])
    assert list_item(raw_tx) == raw_tx  # a legacy tx stays a list inside the body


def test_typed_tx_vectors() -> None:
    dynamic = encode_transaction(DYNAMIC_FEE_TX_JSON)
    assert dynamic[0] == 2
    assert keccak(dynamic).hex() == (
        "c5a8f6026a3554e9731e6ad1c17a7450b8fe2d048cd755752cc985a89a2e125c"
    )
    legacy = encode_transaction(LEGACY_TX_JSON)
    assert ordered_trie_root([legacy, dynamic]).hex() == (
        "fe559c52b51f01ff216228bbd8a67466fdd84e219b9d322a64a023cfdfd5bcd9"
    )
    access = encode_transaction(ACCESS_LIST_TX_JSON)
    assert keccak(access).hex() == (
        "554af720acf477830f996f1bc5d11e54c38aa40042aeac6f66cb66f9084a959d"
    )
    assert ordered_trie_root([legacy, access]).hex() == (
        "3cb6deb616ff113b756d426828b841be06043f4ea00138e977fc3eb290c01443"
    )
    # Inside a body a typed tx is an RLP byte string holding the envelope.
    assert list_item(dynamic) == b"\xb8\xa3" + dynamic
    assert rlp.decode(list_item(dynamic)) == dynamic


def test_gas_price_of_a_mined_dynamic_fee_tx_is_not_signed() -> None:
    tx = dict(DYNAMIC_FEE_TX_JSON, gasPrice="0x3b9aca01")  # the effective price, as mined
    assert encode_transaction(tx) == encode_transaction(DYNAMIC_FEE_TX_JSON)


RECEIPT_LOGS = [
    {
        "address": "0x" + "00" * 19 + "11",
        "topics": ["0x" + "00" * 30 + "dead", "0x" + "00" * 30 + "beef"],
        "data": "0x0100ff",
    },
    {
        "address": "0x" + "00" * 18 + "0111",
        "topics": ["0x" + "00" * 30 + "dead", "0x" + "00" * 30 + "beef"],
        "data": "0x0100ff",
    },
]
RECEIPT_BLOOM = "0x" + (
    "000000000000100000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000005000000000000000000000000000000000"
    "000140000000000000000000000000000000000000000000000000000000000000000000000000000100"
    "000800000000000000000000040000000000000000000000000000400000000000000000000000000008"
    "000000000000000000000000000000000000000000000000000004000000000000000000000000000000"
    "000000000000000000000000000000100000000000000000000000000000000000000000000000000000"
    "00000000"
)
RECEIPT_WANT = (
    "f901c58001b9010000000000000010000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000500000000000000000"
    "000000000000000000014000000000000000000000000000000000000000000000000000000000000000"
    "000000000000010000080000000000000000000004000000000000000000000000000040000000000000"
    "000000000000000800000000000000000000000000000000000000000000000000000400000000000000"
    "000000000000000000000000000000000000000000000010000000000000000000000000000000000000"
    "000000000000000000000000f8bef85d940000000000000000000000000000000000000011f842a00000"
    "00000000000000000000000000000000000000000000000000000000deada00000000000000000000000"
    "00000000000000000000000000000000000000beef830100fff85d940000000000000000000000000000"
    "000000000111f842a0000000000000000000000000000000000000000000000000000000000000deada0"
    "000000000000000000000000000000000000000000000000000000000000beef830100ff"
)


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_receipt_marshal_binary_vector(kind: int) -> None:
    # TestReceiptMarshalBinary: status failed, cumulative gas 1, two logs.
    receipt = {
        "type": hex(kind),
        "status": "0x0",
        "cumulativeGasUsed": "0x1",
        "logsBloom": RECEIPT_BLOOM,
        "logs": RECEIPT_LOGS,
    }
    want = bytes.fromhex(RECEIPT_WANT)
    assert encode_receipt(receipt) == (want if kind == 0 else bytes((kind,)) + want)


def test_pre_byzantium_receipt_carries_the_state_root() -> None:
    root = "0x" + "ab" * 32
    receipt = {"root": root, "cumulativeGasUsed": "0x5208", "logsBloom": "0x" + "00" * 256}
    receipt["logs"] = []  # type: ignore[assignment]
    fields = rlp.decode(encode_receipt(receipt))
    assert fields[0] == bytes.fromhex("ab" * 32)
    assert fields[1] == (0x5208).to_bytes(2, "big")


def test_withdrawal_vector() -> None:
    # Mainnet block 17,923,026's first withdrawal (light-odr.md §8.2).
    withdrawal = {
        "index": hex(14209232),
        "validatorIndex": hex(78503),
        "address": "0x73358cdc78dd6677b4d988ad604483e4bb253f61",
        "amount": hex(14661056),
    }
    assert encode_withdrawal(withdrawal).hex() == (
        "e183d8d0d0830132a79473358cdc78dd6677b4d988ad604483e4bb253f6183dfb5c0"
    )


def test_empty_roots_and_rlp_index_keys() -> None:
    assert ordered_trie_root([]) == BLANK_ROOT
    assert BLANK_ROOT.hex() == "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
    assert EMPTY_UNCLE_HASH.hex() == (
        "1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
    )
    # The rlp(i) keys of §8.4, by comparing with py-trie fed those exact keys.
    keys = {0: "80", 1: "01", 127: "7f", 128: "8180", 255: "81ff", 256: "820100"}
    values = [bytes([i % 251 + 1]) * (1 + i % 40) for i in range(300)]
    reference = HexaryTrie({})
    for i, value in enumerate(values):
        key = rlp.encode(i)
        if i in keys:
            assert key.hex() == keys[i]
        reference[key] = value
    assert ordered_trie_root(values) == reference.root_hash


def test_malformed_json_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        encode_transaction(dict(LEGACY_TX_JSON, gas="12"))
    with pytest.raises(DecodeError):
        encode_transaction(dict(DYNAMIC_FEE_TX_JSON, type="0x7f"))
    with pytest.raises(DecodeError):
        encode_transaction(dict(DYNAMIC_FEE_TX_JSON, to="0x1234"))
    with pytest.raises(DecodeError):
        encode_transaction({k: v for k, v in DYNAMIC_FEE_TX_JSON.items() if k != "maxFeePerGas"})


# -- properties -----------------------------------------------------------------------------

_uint = st.integers(min_value=0, max_value=2**256 - 1)
_small = st.integers(min_value=0, max_value=2**64 - 1)
_addr = st.binary(min_size=20, max_size=20)
_word = st.binary(min_size=32, max_size=32)
_access_list = st.lists(st.tuples(_addr, st.lists(_word, max_size=3)), max_size=3)


def _h(value: int) -> str:
    return hex(value)


def _access_json(entries: list[tuple[bytes, list[bytes]]]) -> list[dict[str, Any]]:
    return [
        {"address": "0x" + a.hex(), "storageKeys": ["0x" + k.hex() for k in keys]}
        for a, keys in entries
    ]


@st.composite
def _transactions(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from([0, 1, 2, 3]))
    to = draw(st.one_of(st.none(), _addr)) if kind != 3 else draw(_addr)
    tx: dict[str, Any] = {
        "type": _h(kind),
        "nonce": _h(draw(_small)),
        "gas": _h(draw(_small)),
        "to": None if to is None else "0x" + to.hex(),
        "value": _h(draw(_uint)),
        "input": "0x" + draw(st.binary(max_size=80)).hex(),
        "r": _h(draw(_uint)),
        "s": _h(draw(_uint)),
    }
    if kind == 0:
        tx["gasPrice"] = _h(draw(_uint))
        tx["v"] = _h(draw(st.integers(min_value=27, max_value=2**64)))
        return tx
    tx["chainId"] = _h(draw(_small))
    tx["accessList"] = _access_json(draw(_access_list))
    tx["yParity"] = _h(draw(st.integers(0, 1)))
    if kind == 1:
        tx["gasPrice"] = _h(draw(_uint))
    else:
        tx["maxPriorityFeePerGas"] = _h(draw(_uint))
        tx["maxFeePerGas"] = _h(draw(_uint))
    if kind == 3:
        tx["maxFeePerBlobGas"] = _h(draw(_uint))
        tx["blobVersionedHashes"] = ["0x" + h.hex() for h in draw(st.lists(_word, max_size=3))]
    return tx


def _int(item: bytes) -> int:
    assert item[:1] != b"\x00"  # canonical: no leading zeros
    return int.from_bytes(item, "big")


@settings(max_examples=150, deadline=None)
@given(_transactions())
def test_transaction_encoding_round_trips_through_rlp(tx: dict[str, Any]) -> None:
    encoded = encode_transaction(tx)
    kind = int(tx["type"], 16)
    if kind == 0:
        fields = rlp.decode(encoded)
        names = ["nonce", "gasPrice", "gas", "to", "value", "input", "v", "r", "s"]
    else:
        assert encoded[0] == kind
        fields = rlp.decode(encoded[1:])
        names = {
            1: ["chainId", "nonce", "gasPrice", "gas", "to", "value", "input", "accessList"],
            2: ["chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gas", "to",
                "value", "input", "accessList"],
            3: ["chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gas", "to",
                "value", "input", "accessList", "maxFeePerBlobGas", "blobVersionedHashes"],
        }[kind] + ["yParity", "r", "s"]  # fmt: skip
    assert len(fields) == len(names)
    assert rlp.encode(fields) == (encoded if kind == 0 else encoded[1:])
    for name, item in zip(names, fields, strict=True):
        if name == "to":
            assert item == (b"" if tx["to"] is None else bytes.fromhex(tx["to"][2:]))
        elif name == "input":
            assert item == bytes.fromhex(tx["input"][2:])
        elif name == "accessList":
            assert [[a, list(k)] for a, k in item] == [
                [bytes.fromhex(e["address"][2:]), [bytes.fromhex(x[2:]) for x in e["storageKeys"]]]
                for e in tx["accessList"]
            ]
        elif name == "blobVersionedHashes":
            assert list(item) == [bytes.fromhex(h[2:]) for h in tx[name]]
        else:
            assert _int(item) == int(tx[name], 16), name
    assert list_item(encoded) == rlp.encode(encoded if kind else fields)


@settings(max_examples=100, deadline=None)
@given(_transactions().filter(lambda tx: tx["type"] in ("0x1", "0x2")))
def test_typed_transactions_equal_eth_account(tx: dict[str, Any]) -> None:
    assume(int(tx["r"], 16) and int(tx["s"], 16))  # eth-account refuses unsigned txs
    fields: dict[str, Any] = {
        key: int(tx[key], 16) for key in ("type", "chainId", "nonce", "gas", "value", "r", "s")
    }
    fields["v"] = int(tx["yParity"], 16)
    fields["to"] = b"" if tx["to"] is None else to_checksum_address(tx["to"])
    fields["data"] = tx["input"]
    fields["accessList"] = [
        {"address": to_checksum_address(e["address"]), "storageKeys": e["storageKeys"]}
        for e in tx["accessList"]
    ]
    for key in ("gasPrice", "maxPriorityFeePerGas", "maxFeePerGas"):
        if key in tx:
            fields[key] = int(tx[key], 16)
    assert encode_transaction(tx) == TypedTransaction.from_dict(fields).encode()


@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from([0, 1, 2, 3]),
    status=st.one_of(st.integers(0, 1), _word),
    gas=_small,
    bloom=st.binary(min_size=256, max_size=256),
    logs=st.lists(
        st.tuples(_addr, st.lists(_word, max_size=4), st.binary(max_size=64)), max_size=3
    ),
)
def test_receipt_encoding_round_trips_through_rlp(
    kind: int,
    status: int | bytes,
    gas: int,
    bloom: bytes,
    logs: list[tuple[bytes, list[bytes], bytes]],
) -> None:
    receipt: dict[str, Any] = {
        "type": hex(kind),
        "cumulativeGasUsed": hex(gas),
        "logsBloom": "0x" + bloom.hex(),
        "logs": [
            {
                "address": "0x" + a.hex(),
                "topics": ["0x" + t.hex() for t in ts],
                "data": "0x" + d.hex(),
            }
            for a, ts, d in logs
        ],
    }
    if isinstance(status, bytes):
        receipt["root"] = "0x" + status.hex()
    else:
        receipt["status"] = hex(status)
    encoded = encode_receipt(receipt)
    payload = encoded if kind == 0 else encoded[1:]
    if kind:
        assert encoded[0] == kind
    decoded = rlp.decode(payload)
    want_status = status if isinstance(status, bytes) else (b"\x01" if status else b"")
    assert decoded[0] == want_status
    assert decoded[1] == gas.to_bytes((gas.bit_length() + 7) // 8, "big")
    assert decoded[2] == bloom
    assert [[a, list(t), d] for a, t, d in decoded[3]] == [[a, ts, d] for a, ts, d in logs]
    assert rlp.encode(decoded) == payload
