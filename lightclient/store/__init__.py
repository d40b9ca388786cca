"""Persistent state: one SQLite file in the data directory."""
