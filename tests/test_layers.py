"""Imports flow one way: core <- sources/oracle/store/pool <- sync <- server/client <- rpc
<- cli (README, "How it is built"). A module may import its own layer and lower ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lightclient"
# Top-level modules and packages by layer; shared leaves (errors, aio, keys) are layer 0.
LAYERS = {
    "errors": 0, "aio": 0, "keys": 0, "core": 0,
    "sources": 1, "oracle": 1, "store": 1, "pool": 1, "les": 1, "rlpx": 1,
    "consensus": 1,
    "sync": 2,
    "server": 3, "client": 3,
    "rpc": 4,
    "cli": 5, "w3les": 5, "testing": 5,
}  # fmt: skip


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "lightclient" and len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def _files() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE
    )


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path: Path) -> None:
    rel = path.relative_to(PACKAGE)
    own = rel.parts[0].removesuffix(".py")
    assert own in LAYERS, f"{rel}: give its package a layer in this test"
    for line, module in _imports(path):
        target = _part(module)
        if target is None:
            continue
        assert target in LAYERS, f"{rel}:{line} imports unknown part {module}"
        assert LAYERS[target] <= LAYERS[own], (
            f"{rel}:{line} imports {module}: layer {target} is above {own}"
        )


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "mod.py"
    bad.write_text("from lightclient.cli.main import main\n")
    assert _imports(bad) == [(1, "lightclient.cli.main")]
    assert LAYERS[_part("lightclient.cli.main") or ""] > LAYERS["core"]
