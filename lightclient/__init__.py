"""lightclient: go-ethereum v1.11.6's checkpoint-oracle light client and server, in Python."""

from __future__ import annotations

import importlib.util
import os

# eth-hash (used by trie, rlp-based libraries, web3 and py-evm) picks pycryptodome before
# pysha3; pysha3 is about 5x faster here. Respect an explicit choice by the user.
if "ETH_HASH_BACKEND" not in os.environ and importlib.util.find_spec("sha3") is not None:
    os.environ["ETH_HASH_BACKEND"] = "pysha3"

__version__ = "0.1.0"
