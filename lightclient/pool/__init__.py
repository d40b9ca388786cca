"""The light server's client pool: balances, pricing, expiration, priority and capacity."""
