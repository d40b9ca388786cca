"""Test kit shipped with lightclient: synthetic chains, a naive reference, a real anvil."""
