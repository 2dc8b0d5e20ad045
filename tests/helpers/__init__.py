"""Shared test helpers: byte-piece streams, cassettes, and the emulator's fixtures."""
