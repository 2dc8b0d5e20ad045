"""Fixtures for the emulator tests: the shared ones from `tests/helpers/emulator.py`."""

from __future__ import annotations

from tests.helpers.emulator import *  # noqa: F403  (fixtures and helpers, by its __all__)
