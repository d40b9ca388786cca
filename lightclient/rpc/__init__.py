"""JSON-RPC 2.0 over HTTP and WebSocket (aiohttp), with geth's error codes and messages."""
