"""devp2p's RLPx transport and base protocol, as go-ethereum v1.11.6 speaks them (spec §1-3).

Modules, one concern each: ``keys`` (secp256k1), ``ecies``, ``handshake`` (EIP-8 auth/ack and
secrets), ``frame`` (AES-256-CTR framing and MACs), ``snappy`` (EIP-706 block compression),
``p2p`` (Hello, Disconnect, capability offsets), ``session`` (asyncio connections), and
``rlpvalues`` (strict readers for the RLP values these carry). enode URLs live in
:mod:`lightclient.core.nodeid`; the errors are :class:`lightclient.errors.RlpxError` and
:class:`lightclient.errors.PeerDisconnected`.
"""
