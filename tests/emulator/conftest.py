"""Fixtures for the emulator tests: a running emulator and a raw httpx client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from modelkit.emulator import Emulator, EmulatorConfig

TEST_TIMEOUT_S = 10.0
"""Client-side bound on every request, far under pytest's 60 s: a hang fails fast and says where."""


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A fresh emulator (fault counters start at zero) with short answers."""
    async with Emulator(EmulatorConfig(tokens=8, retry_after_ms=10)) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for the emulator's OpenAI base URL, authenticated."""
    async with httpx.AsyncClient(
        base_url=emulator.base_url('openai'),
        headers={'authorization': f'Bearer {emulator.api_key}'},
        timeout=TEST_TIMEOUT_S,
    ) as http:
        yield http


def chat_body(prompt: str = 'Tell me about rivers', **extra: Any) -> dict[str, Any]:
    """A minimal chat completions request body."""
    return {'model': 'gpt-4o', 'messages': [{'role': 'user', 'content': prompt}], **extra}


def parse_sse(raw: bytes) -> tuple[list[dict[str, Any]], bool]:
    """The JSON payloads of an SSE body's `data:` lines, and whether it ended with `[DONE]`."""
    events: list[dict[str, Any]] = []
    done = False
    for block in raw.split(b'\n\n'):
        if not block.strip():
            continue
        assert not done, 'data after [DONE]'
        lines = [line for line in block.split(b'\n') if line.startswith(b'data: ')]
        assert lines, f'SSE block without data: {block!r}'
        data = b'\n'.join(line[len(b'data: ') :] for line in lines)
        if data == b'[DONE]':
            done = True
        else:
            events.append(orjson.loads(data))
    return events, done


async def read_stream(
    client: httpx.AsyncClient, body: dict[str, Any], **kwargs: Any
) -> tuple[list[dict[str, Any]], bool]:
    """POST a streamed request and parse the whole SSE body."""
    response = await client.post('/chat/completions', json={**body, 'stream': True}, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers['content-type'].startswith('text/event-stream')
    return parse_sse(response.content)


def streamed_text(events: list[dict[str, Any]]) -> str:
    """The content deltas of a stream, joined."""
    return ''.join(
        choice['delta'].get('content') or '' for event in events for choice in event.get('choices', [])
    )


TOOL_GET_CAPITAL = {
    'type': 'function',
    'function': {
        'name': 'get_capital',
        'description': 'The capital of a country',
        'parameters': {
            'type': 'object',
            'properties': {'country': {'type': 'string'}},
            'required': ['country'],
            'additionalProperties': False,
        },
        'strict': True,
    },
}
