"""Private keys for signing: a geth keystore file with a password file, or a key file.

Signing keys never come from the command line (they would land in shell history and
``ps``). A node key (the secp256k1 identity of a devp2p node, which holds no funds) comes,
as geth's, from ``--nodekey FILE``, ``--nodekeyhex HEX``, or the data directory, where one is
generated on first start and kept (mode 0600) so that the node's enode URL stays the same.
"""

from __future__ import annotations

import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import PrivateKey

from lightclient.core import jsontext
from lightclient.core.hexutil import decode_hex
from lightclient.errors import InvalidInput

__all__ = ["NODE_KEY_NAME", "load_account", "load_node_key"]

NODE_KEY_NAME = "nodekey"  # in the data directory, 64 hex digits as geth's <datadir>/geth/nodekey


MAX_KEY_FILE = 1 << 20  # a key, password or keystore file is a few hundred bytes


def _read(path: str, what: str) -> str:
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_KEY_FILE + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_KEY_FILE:
        raise InvalidInput(f"the {what} {path} is larger than {MAX_KEY_FILE} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"the {what} {path} is not UTF-8 text") from None


def load_account(
    *, keystore: str | None = None, password_file: str | None = None, key_file: str | None = None
) -> LocalAccount:
    """The signing account from ``--keystore``/``--password-file`` or ``--key-file``."""
    if key_file and keystore:
        raise InvalidInput("give either --key-file or --keystore, not both")
    if key_file:
        text = _read(key_file, "key file").strip()
        try:
            account: LocalAccount = Account.from_key(text if text.startswith("0x") else "0x" + text)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"{key_file} does not hold a private key: {exc}") from None
        return account
    if keystore:
        if not password_file:
            raise InvalidInput("--keystore needs --password-file")
        password = _read(password_file, "password file").rstrip("\r\n")
        encrypted = jsontext.load_file(keystore, what="keystore", max_bytes=MAX_KEY_FILE)
        try:
            key = Account.decrypt(encrypted, password)
        except ValueError as exc:
            raise InvalidInput(f"cannot decrypt {keystore}: {exc}") from None
        account = Account.from_key(key)
        return account
    raise InvalidInput(
        "a signing key is needed: --key-file FILE, or --keystore FILE --password-file FILE"
    )


def _node_key_from_hex(text: str, where: str) -> PrivateKey:
    raw = decode_hex(text.strip(), 32)
    if raw is None:
        raise InvalidInput(f"{where} does not hold a node key (64 hex digits)")
    try:
        return PrivateKey(raw)
    except Exception:  # eth-keys refuses 0 and values past the curve order
        raise InvalidInput(f"{where} is not a valid secp256k1 key") from None


def load_node_key(
    *, key_file: str | None = None, key_hex: str | None = None, datadir: Path | None = None
) -> tuple[PrivateKey, str]:
    """The node key and where it came from: ``--nodekey``, ``--nodekeyhex``, the data
    directory's ``nodekey`` (generated there, mode 0600, if missing), or, with none of them,
    a new key for this run only."""
    if key_file is not None and key_hex is not None:
        raise InvalidInput("give either --nodekey or --nodekeyhex, not both")
    if key_file is not None:
        return _node_key_from_hex(_read(key_file, "node key file"), key_file), f"from {key_file}"
    if key_hex is not None:
        return _node_key_from_hex(key_hex, "--nodekeyhex"), "from --nodekeyhex"
    if datadir is None:
        return PrivateKey(os.urandom(32)), "new for this run (no data directory to keep it in)"
    path = datadir / NODE_KEY_NAME
    if path.exists():
        return _node_key_from_hex(_read(str(path), "node key file"), str(path)), f"from {path}"
    key = PrivateKey(os.urandom(32))
    try:
        datadir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made meanwhile by another process: use that one
        return _node_key_from_hex(_read(str(path), "node key file"), str(path)), f"from {path}"
    except OSError as exc:
        raise InvalidInput(f"cannot create the node key {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w") as out:
        out.write(key.to_hex()[2:])
    return key, f"generated and kept in {path}"
