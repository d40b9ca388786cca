"""The networks go-ethereum v1.11.6 hard-coded: genesis hashes, trusted checkpoints and
checkpoint-oracle configs (params/config.go). Sepolia has a checkpoint but no oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

from lightclient.core.checkpoint import OracleConfig, TrustedCheckpoint
from lightclient.errors import InvalidInput

__all__ = ["NETWORKS", "Network", "network", "network_by_genesis"]

CHECKPOINT_SECTION_SIZE = 32768


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    genesis_hash: bytes
    checkpoint: TrustedCheckpoint
    oracle: OracleConfig | None


def _h(text: str) -> bytes:
    return bytes.fromhex(text)


_PETER = "0x1b2C260efc720BE89101890E4Db589b44E950527"
_MARTIN = "0x78d1aD571A1A09D60D9BBf25894b44e4C8859595"
_ZSOLT = "0x286834935f4A8Cfb4FF4C77D5770C2775aE2b0E7"
_GARY = "0xb86e2B0Ab5A4B1373e40c51A7C712c70Ba2f9f8E"
_GUILLAUME = "0x0DF8fa387C602AE62559cC4aFa4972A7045d6707"

NETWORKS: dict[str, Network] = {
    "mainnet": Network(
        "mainnet",
        _h("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"),
        TrustedCheckpoint(
            506,
            _h("3d1a139a6fc7764211236ef7c64d9e8c1fe55b358d7414e25277bac1144486cd"),
            _h("ef7fc3321a239a54238593bdf68d82933d903cb533b0d03228a8d958cd35ea77"),
            _h("51d7bfe7c6397b1caa8b1cb046de4aeaf7e7fbd3fb6c726b60bf750de78809e8"),
        ),
        OracleConfig(
            "0x9a9070028361F7AAbeB3f2F2Dc07F82C4a98A02a",
            (_PETER, _MARTIN, _ZSOLT, _GARY, _GUILLAUME),
            2,
        ),
    ),
    "sepolia": Network(
        "sepolia",
        _h("25a5cc106eea7138acab33231d7160d69cb777ee0c2c553fcddf5138993e6dd9"),
        TrustedCheckpoint(
            55,
            _h("b70ea113ab4db9d6e015c5b55d486713f60c40bda666121914a71ce3aec53a75"),
            _h("206456d8847b66aaf427ed551f55e24cff90241bdb0a02583c761bf8164f78e4"),
            _h("4369228d59a8fe285fee874c636531091e659b3b1294bb978eb159860a1cede2"),
        ),
        None,
    ),
    "rinkeby": Network(
        "rinkeby",
        _h("6341fd3daf94b748c72ced5a5b26028f2474f5f00d824504e4fa37a75767e177"),
        TrustedCheckpoint(
            373,
            _h("09f6d8f0d08d61025ccf4578dc214220b78013841470d445ed86faab4a5a885a"),
            _h("ef72902b944a111e9fdfee5fb69a5e46f68bf11a1f0bd430321f92d6b66987df"),
            _h("d0120268729c51dd6fa2714f7f88527adfecbdb08592c671233ad2e0ad7cd835"),
        ),
        OracleConfig(
            "0xebe8eFA441B9302A0d7eaECc277c09d20D684540",
            ("0xd9c9cd5f6779558b6e0ed4e6acf6b1947e7fa1f3", _MARTIN, _ZSOLT, _GARY),
            2,
        ),
    ),
    "goerli": Network(
        "goerli",
        _h("bf7e331f7f7c1dd2e05159666b3bf8bc7a8a3a9eb1d518969eab529dd9b88c1a"),
        TrustedCheckpoint(
            229,
            _h("c5a7b57cb4af7b3d4cc251ac5f29acaac94e7464365358e7ad26129083b7729a"),
            _h("54c0d5c756d9c48eda26ea13c2a49c2e31f1cb7dfb01514ddc49f3d24272c77e"),
            _h("d681970a496f6187d089f8c8665a3587b5a78212d79b6ceef97c0dabd0188e56"),
        ),
        OracleConfig(
            "0x18CA0E045F0D772a851BC7e48357Bcaab0a0795D",
            ("0x4769bcaD07e3b938B7f43EB7D278Bc7Cb9efFb38", _MARTIN, _ZSOLT, _GARY, _GUILLAUME),
            2,
        ),
    ),
}


def network(name: str) -> Network:
    """The hard-coded network of that name (mainnet, sepolia, rinkeby, goerli)."""
    try:
        return NETWORKS[name.lower()]
    except KeyError:
        known = ", ".join(NETWORKS)
        raise InvalidInput(f"unknown network {name!r}; known networks: {known}") from None


def network_by_genesis(genesis_hash: bytes) -> Network | None:
    """The hard-coded network with that genesis hash, if any."""
    for net in NETWORKS.values():
        if net.genesis_hash == genesis_hash:
            return net
    return None
