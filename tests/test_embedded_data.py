"""The dev LES server's ChainData over py-evm (``lightclient dev``): each answer verifies
against the block's header, as the light client checks it, and equals py-evm's own."""

from __future__ import annotations

import pytest
from test_chaindata_anvil import INIT

from lightclient.client.odr import decode_account, verify_body, verify_receipts
from lightclient.core.header import decode_header
from lightclient.core.keccak import keccak
from lightclient.core.rlpcodec import decode_node
from lightclient.core.trie import verify_proof
from lightclient.les.codec import read_list
from lightclient.les.messages import TX_INCLUDED, TX_UNKNOWN
from lightclient.server.chaindata import TxPoolError
from lightclient.sources.embedded import EmbeddedChain
from lightclient.testing.embedded_data import EmbeddedChainData


async def test_bodies_receipts_state_and_lookups_verify_and_equal_py_evm() -> None:
    chain = EmbeddedChain()
    tester = chain.tester
    sender = chain.accounts[0]
    deploy = {"from": sender, "gas": 200_000, "data": "0x" + INIT.hex(), "value": 0}
    deployed = tester.send_transaction(deploy)
    store = str(tester.get_transaction_receipt(deployed)["contract_address"])
    chain.mine(4, log_every=2)
    data = EmbeddedChainData(chain)
    txs = 0
    for number in range(chain.head() + 1):
        block_hash, raw = chain.header_rlp(number)
        header = decode_header(raw, block_hash)
        body = verify_body(header, await data.body_rlp(block_hash) or b"")
        block = tester.get_block_by_number(number)
        hashes = [bytes.fromhex(h[2:]) for h in block["transactions"]]
        assert [keccak(tx) for tx in body.transactions] == hashes
        receipts = verify_receipts(header, read_list(await data.receipts_rlp(block_hash) or b"",
                                                     "receipts"))  # fmt: skip
        assert len(receipts) == len(body.transactions)
        txs += len(body.transactions)
        for index, tx_hash in enumerate(block["transactions"]):
            status = await data.tx_status(bytes.fromhex(tx_hash[2:]))
            assert status.status == TX_INCLUDED and status.lookup is not None
            assert (status.lookup.block_hash, status.lookup.block_number) == (block_hash, number)
            assert status.lookup.tx_index == index
    assert txs >= 3
    head_hash, raw = chain.header_rlp(chain.head())
    root = decode_header(raw, head_hash).state_root
    for address in (sender, store, chain.emitter(), "0x" + "cd" * 20):
        key = keccak(bytes.fromhex(address[2:]))
        nodes = await data.proof_nodes(head_hash, b"", key)
        assert nodes is not None
        account = decode_account(verify_proof(root, key, nodes), nodes)
        if address == "0x" + "cd" * 20:
            assert account is None and await data.code(head_hash, key) is None
            continue
        assert account is not None
        assert account.balance == tester.get_balance(address)
        assert account.nonce == tester.get_nonce(address)
        code = await data.code(head_hash, key)
        assert code is not None and "0x" + code.hex() == tester.get_code(address)
    account_key = keccak(bytes.fromhex(store[2:]))
    nodes = await data.proof_nodes(head_hash, b"", account_key)
    assert nodes is not None
    account = decode_account(verify_proof(root, account_key, nodes), nodes)
    assert account is not None
    slot = keccak((1).to_bytes(32, "big"))
    proof = await data.proof_nodes(head_hash, account_key, slot)
    assert proof is not None
    value = verify_proof(account.storage_root, slot, proof)
    assert value is not None and decode_node(value) == b"\x2a"  # INIT stores 42 in slot 1
    unknown = b"\x11" * 32
    assert await data.body_rlp(unknown) is None and await data.receipts_rlp(unknown) is None
    assert await data.proof_nodes(unknown, b"", b"\x00" * 32) is None
    assert (await data.tx_status(unknown)).status == TX_UNKNOWN
    with pytest.raises(TxPoolError, match="does not take transactions"):
        await data.send_raw_tx(b"\x02")
