"""The checkpoint oracle: the contract artifact, reading it, and administering it."""
