"""Node identity as geth keeps it: --nodekey FILE, --nodekeyhex HEX, or <datadir>/nodekey
generated once (mode 0600) and reused, so the node ID (and the enode URL) stays the same."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lightclient.cli.main import main
from lightclient.errors import InvalidInput
from lightclient.keys import NODE_KEY_NAME, load_node_key

KEY = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"  # EIP-8's key A


def test_a_generated_key_is_kept_private_and_reused(tmp_path: Path) -> None:
    first, where = load_node_key(datadir=tmp_path / "d")
    path = tmp_path / "d" / NODE_KEY_NAME
    assert where == f"generated and kept in {path}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == first.to_hex()[2:]
    again, where = load_node_key(datadir=tmp_path / "d")
    assert again == first and where == f"from {path}"


def test_a_key_file_or_hex_wins_over_the_datadir(tmp_path: Path) -> None:
    file = tmp_path / "key"
    file.write_text("0x" + KEY + "\n")
    key, where = load_node_key(key_file=str(file), datadir=tmp_path)
    assert key.to_hex()[2:] == KEY and where == f"from {file}"
    assert not (tmp_path / NODE_KEY_NAME).exists()
    key, where = load_node_key(key_hex=KEY)
    assert key.to_hex()[2:] == KEY and where == "from --nodekeyhex"
    fresh, where = load_node_key()
    assert fresh.to_hex()[2:] != KEY and where.startswith("new for this run")


@pytest.mark.parametrize("text", ["", "xyz", "00" * 31, "00" * 32, "ff" * 32])
def test_bad_node_keys_are_clear_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(InvalidInput, match=r"node key|secp256k1"):
        load_node_key(key_hex=text)
    with pytest.raises(InvalidInput, match="either --nodekey or --nodekeyhex"):
        load_node_key(key_file="a", key_hex=KEY)


def test_the_client_command_reads_the_node_key_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No server answers on this port: the command fails after reading its node key.
    enode = "enode://" + "ab" * 64 + "@127.0.0.1:9"
    code = main(["client", "--server", enode, "--nodekeyhex", "zz", "--checkpoint", "network"])
    assert code == 1
    assert "--nodekeyhex does not hold a node key" in capsys.readouterr().err
