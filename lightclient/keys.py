"""Private keys for signing: a geth keystore file with a password file, or a key file.

Keys never come from the command line (they would land in shell history and ``ps``).
"""

from __future__ import annotations

from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from lightclient.core import jsontext
from lightclient.errors import InvalidInput

__all__ = ["load_account"]


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


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
        try:
            encrypted = jsontext.loads(_read(keystore, "keystore"))
            key = Account.decrypt(encrypted, password)
        except ValueError as exc:
            raise InvalidInput(f"cannot decrypt {keystore}: {exc}") from None
        account = Account.from_key(key)
        return account
    raise InvalidInput(
        "a signing key is needed: --key-file FILE, or --keystore FILE --password-file FILE"
    )
