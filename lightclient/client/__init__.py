"""The light client: starts from a trusted checkpoint and verifies everything it is told."""
