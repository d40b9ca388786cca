"""The client side of the light-serving handshake, for tests that speak it by hand."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from eth_keys.datatypes import PrivateKey

from lightclient.server.protocol import auth_digest


async def hello(
    ws: aiohttp.ClientWebSocketResponse, k: PrivateKey, challenge: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Answer the challenge (read here unless given) with a good hello; the reply."""
    if challenge is None:
        challenge = json.loads((await ws.receive(timeout=5)).data)
    assert challenge is not None
    signature = k.sign_msg_hash(auth_digest(bytes.fromhex(challenge["nonce"][2:])))
    v, r, s = signature.vrs
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v + 27])
    await ws.send_str(json.dumps({"type": "hello", "signature": "0x" + raw.hex(),
                                  "pubkey": "0x" + k.public_key.to_bytes().hex()}))  # fmt: skip
    welcome: dict[str, Any] = json.loads((await ws.receive(timeout=5)).data)
    return welcome


async def answer(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next answer to a request (skipping capacity and announce messages)."""
    while True:
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        data: dict[str, Any] = json.loads(message.data)
        if "type" not in data:
            return data
