"""The checks Odr applies to bodies, receipts and accounts, and the JSON it renders, on
hand-made data: what the anvil test cannot reach (withdrawals, unprotected legacy txs,
malformed accounts)."""

from __future__ import annotations

import pytest
from eth_account import Account as EthAccount
from eth_utils.address import to_checksum_address

from lightclient.client.odr import (
    EMPTY_CODE_HASH,
    Body,
    consensus_items,
    decode_account,
    verify_body,
    verify_receipts,
)
from lightclient.core.ethcodec import EMPTY_UNCLE_HASH, list_item, ordered_trie_root
from lightclient.core.header import Header, decode_header
from lightclient.core.rlpcodec import encode_bytes, encode_int, encode_list
from lightclient.core.trie import BLANK_ROOT
from lightclient.errors import DecodeError, InvalidProof
from lightclient.rpc.eth_json import (
    block_json,
    decode_transaction,
    receipt_json,
    receipts_json,
    transaction_json,
    uncle_json,
)

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
TO = to_checksum_address("0x" + "ab" * 20)
WITHDRAWAL = encode_list([encode_int(1), encode_int(7), encode_bytes(b"\x11" * 20), encode_int(5)])


def _header(
    txs: list[bytes], receipts: list[bytes], withdrawals: list[bytes] | None, base_fee: int = 7
) -> Header:
    fields = [
        b"\0" * 32, EMPTY_UNCLE_HASH, b"\0" * 20, b"\0" * 32, ordered_trie_root(txs),
        ordered_trie_root(receipts), b"\0" * 256, b"", b"\x05", b"\x01", b"", b"", b"",
        b"\0" * 32, b"\0" * 8, base_fee.to_bytes(1, "big"),
    ]  # fmt: skip
    if withdrawals is not None:
        fields.append(ordered_trie_root(withdrawals))
    return decode_header(encode_list([encode_bytes(f) for f in fields]))


def _body(txs: list[bytes], withdrawals: list[bytes] | None) -> bytes:
    parts = [encode_list([list_item(t) for t in txs]), encode_list([])]
    if withdrawals is not None:
        parts.append(encode_list(withdrawals))
    return encode_list(parts)


def _signed() -> list[bytes]:
    account = EthAccount.from_key(KEY)
    legacy = {"nonce": 0, "gasPrice": 10**9, "gas": 21_000, "to": TO, "value": 3}
    typed = {"type": 2, "nonce": 1, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9,
             "gas": 21_000, "to": TO, "value": 4, "chainId": 1}  # fmt: skip
    return [
        bytes(account.sign_transaction(legacy).raw_transaction),  # unprotected: v is 27/28
        bytes(account.sign_transaction(typed).raw_transaction),
    ]


def test_a_body_with_withdrawals_verifies_and_any_change_does_not() -> None:
    txs = _signed()
    header = _header(txs, [], [WITHDRAWAL])
    body = verify_body(header, _body(txs, [WITHDRAWAL]))
    assert body.transactions == txs and body.withdrawals == [WITHDRAWAL]
    with pytest.raises(InvalidProof, match="withdrawals hash mismatch"):
        verify_body(header, _body(txs, [WITHDRAWAL, WITHDRAWAL]))
    with pytest.raises(InvalidProof, match="no withdrawals"):
        verify_body(header, _body(txs, None))
    with pytest.raises(InvalidProof, match="transaction hash mismatch"):
        verify_body(header, _body(txs[::-1], [WITHDRAWAL]))
    old = _header(txs, [], None)
    with pytest.raises(InvalidProof, match="no withdrawalsRoot"):
        verify_body(old, _body(txs, []))
    with pytest.raises(InvalidProof, match="uncle hash mismatch"):
        verify_body(old, encode_list([encode_list([list_item(t) for t in txs]),
                                      encode_list([header.rlp])]))  # fmt: skip
    uncle = uncle_json(old.rlp)
    assert uncle["hash"] == "0x" + old.hash.hex() and uncle["totalDifficulty"] is None
    assert uncle["transactions"] == uncle["uncles"] == []


def test_receipts_are_checked_against_the_root() -> None:
    receipts = [encode_list([b"\x01", encode_int(21_000), encode_bytes(b"\0" * 256), b"\xc0"])]
    typed = b"\x02" + receipts[0]
    header = _header([], [receipts[0], typed], None)
    items = [receipts[0], encode_bytes(typed)]
    assert verify_receipts(header, items) == [receipts[0], typed]
    assert consensus_items(items) == [receipts[0], typed]
    with pytest.raises(InvalidProof, match="receipt hash mismatch"):
        verify_receipts(header, items[::-1])


def test_accounts_decode_and_malformed_ones_do_not() -> None:
    leaf = encode_list([encode_int(3), encode_int(10**18), encode_bytes(BLANK_ROOT),
                        encode_bytes(EMPTY_CODE_HASH)])  # fmt: skip
    account = decode_account(leaf, [b"node"])
    assert account is not None and (account.nonce, account.balance) == (3, 10**18)
    assert decode_account(None, []) is None
    with pytest.raises(InvalidProof):
        decode_account(encode_list([encode_int(3), encode_int(1)]), [])
    with pytest.raises(InvalidProof, match="leading zero"):
        decode_account(encode_list([encode_bytes(b"\0\1"), encode_int(1), encode_bytes(BLANK_ROOT),
                                    encode_bytes(EMPTY_CODE_HASH)]), [])  # fmt: skip


def test_transactions_render_as_geth_does() -> None:
    txs = _signed()
    sender = EthAccount.from_key(KEY).address.lower()
    legacy = decode_transaction(txs[0])
    assert legacy["from"] == sender and legacy["v"] in ("0x1b", "0x1c") and "chainId" not in legacy
    header = _header(txs, [], [WITHDRAWAL], base_fee=7)
    body = Body(header, txs, [], [WITHDRAWAL], _body(txs, [WITHDRAWAL]))
    typed = transaction_json(body, 1)
    assert typed["from"] == sender and typed["type"] == "0x2" and typed["chainId"] == "0x1"
    assert typed["gasPrice"] == hex(10**9 + 7)  # in a block: tip + base fee, under the cap
    block = block_json(body, False, 5)
    assert block["transactions"] == [legacy["hash"], typed["hash"]]
    assert block["withdrawals"] == [
        {"index": "0x1", "validatorIndex": "0x7", "address": "0x" + "11" * 20, "amount": "0x5"}
    ]
    with pytest.raises(DecodeError, match="type 3"):
        decode_transaction(b"\x03" + encode_list([]))


def test_one_receipt_is_the_same_as_in_the_whole_block() -> None:
    txs = _signed()
    log = encode_list([encode_bytes(b"\x22" * 20), encode_list([encode_bytes(b"\x33" * 32)]),
                       encode_bytes(b"data")])  # fmt: skip
    bloom = encode_bytes(b"\0" * 256)
    receipts = [
        encode_list([b"\x01", encode_int(21_000), bloom, encode_list([log, log])]),
        b"\x02" + encode_list([b"\x80", encode_int(50_000), bloom, encode_list([log])]),
    ]
    header = _header(txs, receipts, None)
    body = Body(header, txs, [], None, _body(txs, None))
    every = receipts_json(body, receipts)
    assert [receipt_json(body, receipts, i) for i in range(2)] == every
    assert every[1]["gasUsed"] == hex(29_000) and every[1]["status"] == "0x0"
    assert [entry["logIndex"] for entry in every[1]["logs"]] == ["0x2"]
    assert every[1]["effectiveGasPrice"] == hex(10**9 + 7)
