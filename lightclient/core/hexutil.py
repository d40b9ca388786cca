"""Hex text to bytes, the one way every input of ours is parsed."""

from __future__ import annotations

__all__ = ["decode_hex"]


def decode_hex(text: object, size: int | None = None) -> bytes | None:
    """Bytes from hex text with an optional 0x (surrounding spaces ignored), or None when
    the text is not hex or, given ``size``, not exactly ``size`` bytes long."""
    if not isinstance(text, str):
        return None
    body = text.strip()
    if body[:2] in ("0x", "0X"):
        body = body[2:]
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        return None
    if size is not None and len(raw) != size:
        return None
    return raw
