"""Shared fixtures: vector files, synthetic chains."""

from __future__ import annotations

import json
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
