"""Fixtures for the emulator tests: the shared ones from `tests/helpers/emulator.py`."""

from __future__ import annotations

from tests.helpers.emulator import (
    TEST_TIMEOUT_S,
    TOOL_GET_CAPITAL,
    anthropic_client,
    chat_body,
    client,
    emulator,
    parse_sse,
    read_stream,
    streamed_text,
)

__all__ = (
    'TEST_TIMEOUT_S',
    'TOOL_GET_CAPITAL',
    'anthropic_client',
    'chat_body',
    'client',
    'emulator',
    'parse_sse',
    'read_stream',
    'streamed_text',
)
