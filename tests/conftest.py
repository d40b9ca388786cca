"""Shared fixtures: vector files, synthetic chains."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"


def load_vectors(name: str) -> Any:
    """A fixtures/ JSON file; fails loudly if it is missing or empty."""
    path = FIXTURES / name
    data = json.loads(path.read_text())
    if not data:
        raise AssertionError(f"suspiciously empty vector file {path}")
    return data


@pytest.fixture(scope="session")
def checkpoint_vectors() -> Any:
    return load_vectors("checkpoint_vectors.json")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_anvil() -> None:
    """Skip when anvil is not installed; in CI (CI=true) that is a failure instead."""
    from lightclient.testing.anvil import find_anvil

    if find_anvil() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("anvil is required in CI: `make tools` installs it from npm")
        pytest.skip("anvil not installed (run `make tools`)")
