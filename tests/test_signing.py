"""Checkpoint vote digests and signature checks (spec §2.6, §3.3, §6.4)."""

from __future__ import annotations

import pytest

from lightclient.core.checkpoint import OracleConfig
from lightclient.core.keccak import keccak
from lightclient.core.networks import network
from lightclient.core.signing import (
    checkpoint_digest,
    parse_signature,
    recover_signer,
    sign_checkpoint,
    sort_by_signer,
    verify_signers,
)
from lightclient.errors import InvalidInput

KEY1 = (1).to_bytes(32, "big")
KEY2 = (2).to_bytes(32, "big")
KEY3 = (3).to_bytes(32, "big")
ADDR1 = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
ADDR2 = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"
ORACLE = "0x" + "ab" * 20
H = keccak(b"a checkpoint")


def test_mainnet_digest_and_signatures_from_the_spec() -> None:
    """spec §6.4 (computed there with libsecp256k1 + RFC 6979, like geth's crypto.Sign)."""
    net = network("mainnet")
    assert net.oracle is not None
    digest = checkpoint_digest(net.oracle.address, 506, net.checkpoint.hash())
    assert digest.hex() == "81639e57c66e9334149699ab20957be5ebb9a99248287a0ab5bf3e2230cf8901"
    s1 = sign_checkpoint(KEY1, net.oracle.address, 506, net.checkpoint.hash())
    s2 = sign_checkpoint(KEY2, net.oracle.address, 506, net.checkpoint.hash())
    assert s1.hex() == (
        "d00f58b3063874f7ad873f36b5e8e926f53b0e854f2da94ff53fa9d9808418a4"
        "481f556d22f144e893fbf7faac4f7031bddb946ce4ccb6b18158d6b81583f18d1b"
    )
    assert s2.hex() == (
        "65c170f94c071d60508fb819494f4b54960d0f8a511a96d7969f29775cf992ea"
        "1ee84b9b15be85925d15a6192a41fb271a024e3979f8c776a6ae88fff8afab431c"
    )
    assert [a for a, _ in sort_by_signer(digest, [s1, s2])] == [ADDR2, ADDR1]


def test_other_networks_digests() -> None:
    for name, expected in [
        ("rinkeby", "e1d5d7d1e68707737c2a6d274830cc54bea5a96905da37c02d318f5736cf4ee3"),
        ("goerli", "5fbe63801a8882eb056ecf2b37a4e76b09f7a58b350cee9157fb6f6cf20d3c1f"),
    ]:
        net = network(name)
        assert net.oracle is not None
        digest = checkpoint_digest(
            net.oracle.address, net.checkpoint.section_index, net.checkpoint.hash()
        )
        assert digest.hex() == expected


def _config(threshold: int = 2) -> OracleConfig:
    return OracleConfig(ORACLE, (ADDR1, ADDR2), threshold)


def test_verify_accepts_any_order_and_counts_distinct() -> None:
    s1, s2 = (sign_checkpoint(k, ORACLE, 7, H) for k in (KEY1, KEY2))
    for sigs in ([s1, s2], [s2, s1]):
        result = verify_signers(_config(), 7, H, sigs)
        assert result.ok and set(result.signers) == {ADDR1, ADDR2}
    dup = verify_signers(_config(), 7, H, [s1, s1])
    assert not dup.ok and dup.failures[0].reason == "duplicate signer"


def test_one_bad_signature_does_not_hide_the_good_ones() -> None:
    """geth returned (false, nil) at the first unrecoverable signature; we keep looking."""
    s1, s2 = (sign_checkpoint(k, ORACLE, 7, H) for k in (KEY1, KEY2))
    bad_v = s1[:64] + b"\x00"
    garbage = b"\x00" * 65
    short = s2[:40]
    inputs = [bad_v, garbage, short, s1, s2]
    before = [bytes(s) for s in inputs]
    result = verify_signers(_config(), 7, H, inputs)
    assert result.ok
    assert inputs == before  # nothing was modified (geth subtracted 27 in place)
    reasons = [c.reason for c in result.failures]
    assert "signature v is 0, not 27 or 28" in reasons[0]
    assert len(result.failures) == 3


def test_forged_and_wrong_binding_signatures() -> None:
    outsider = sign_checkpoint(KEY3, ORACLE, 7, H)
    s1 = sign_checkpoint(KEY1, ORACLE, 7, H)
    result = verify_signers(_config(), 7, H, [s1, outsider])
    assert not result.ok and result.signers == (ADDR1,)
    assert result.failures[0].reason == "not a configured signer"
    # Signed for another index, another hash or another oracle: recovers to someone else.
    for sig in (
        sign_checkpoint(KEY2, ORACLE, 8, H),
        sign_checkpoint(KEY2, ORACLE, 7, keccak(b"other")),
        sign_checkpoint(KEY2, "0x" + "cd" * 20, 7, H),
    ):
        assert not verify_signers(_config(), 7, H, [s1, sig]).ok
    assert verify_signers(_config(threshold=1), 7, H, [s1]).ok
    assert verify_signers(_config(threshold=0), 7, H, []).ok  # geth accepts threshold 0


def test_parse_and_recover_errors() -> None:
    sig = sign_checkpoint(KEY1, ORACLE, 1, H)
    assert parse_signature(" 0x" + sig.hex() + " ") == sig
    assert parse_signature(sig.hex()) == sig
    with pytest.raises(InvalidInput, match="130 hex digits"):
        parse_signature("0x1234")
    with pytest.raises(InvalidInput):
        recover_signer(H, sig[:64] + b"\x1d")
    with pytest.raises(InvalidInput):
        checkpoint_digest("0x1234", 1, H)
    with pytest.raises(InvalidInput):
        checkpoint_digest(ORACLE, 2**64, H)
