"""The emulator's test fixtures and wire helpers, for every vendor's tests.

Fixtures (import them into a `conftest.py`: `from tests.helpers.emulator import emulator, client`):
- `emulator`: a fresh emulator per test (fault counters at zero), short answers, quick 429s;
- `client`: an httpx client at the emulator's OpenAI base URL with the key set;
- `anthropic_client`: the same at Anthropic's base URL, with `x-api-key` and `anthropic-version`;
- `emulator_thread`: one emulator per test module in a background thread, for sync SDK clients.

Helpers: request bodies (`chat_body`, `messages_body`), SSE parsing for unnamed (`parse_sse`) and
named events (`parse_named_sse`), and a few tool definitions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import pytest

from modelkit.emulator import Emulator, EmulatorConfig

__all__ = (
    'ANTHROPIC_HEADERS',
    'ANTHROPIC_TOOL_GET_CAPITAL',
    'TEST_TIMEOUT_S',
    'TOOL_GET_CAPITAL',
    'anthropic_client',
    'chat_body',
    'client',
    'emulator',
    'emulator_thread',
    'messages_body',
    'parse_named_sse',
    'parse_sse',
    'read_stream',
    'sdk_client',
    'streamed_text',
    'user_turn',
)

TEST_TIMEOUT_S = 10.0
"""Client-side bound on every request, far under pytest's 60 s: a hang fails fast and says where."""
SDK_TIMEOUT_S = 10.0
"""The same bound for an official SDK's client."""

ANTHROPIC_HEADERS = {'anthropic-version': '2023-06-01'}
"""What every Anthropic request carries besides its key."""


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A fresh emulator (fault counters start at zero) with short answers."""
    async with Emulator(EmulatorConfig(tokens=8, retry_after_ms=10)) as emu:
        yield emu


@pytest.fixture(scope='module')
def emulator_thread() -> Iterator[Emulator]:
    """One emulator in a background thread for the module (the fidelity tests' SDK clients are sync)."""
    with Emulator(EmulatorConfig(tokens=6, retry_after_ms=20)) as emu:
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


@pytest.fixture
async def anthropic_client(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for the emulator's Anthropic base URL, with key and version headers."""
    async with httpx.AsyncClient(
        base_url=emulator.base_url('anthropic'),
        headers={'x-api-key': emulator.api_key, **ANTHROPIC_HEADERS},
        timeout=TEST_TIMEOUT_S,
    ) as http:
        yield http


@contextmanager
def sdk_client(sdk_class: Any, emulator: Emulator, prefix: str, **kwargs: Any) -> Iterator[Any]:
    """An official SDK's client (`openai.OpenAI`, `anthropic.Anthropic`, ...) at the emulator's base
    URL for `prefix`, with its key and no retries unless `kwargs` say otherwise."""
    options = {'api_key': emulator.api_key, 'base_url': emulator.base_url(prefix), 'timeout': SDK_TIMEOUT_S}
    with sdk_class(**{**options, 'max_retries': 0, **kwargs}) as sdk:
        yield sdk


def user_turn(text: str) -> list[dict[str, Any]]:
    """One user message, as the OpenAI and Anthropic SDKs both take it."""
    return [{'role': 'user', 'content': text}]


def chat_body(prompt: str = 'Tell me about rivers', **extra: Any) -> dict[str, Any]:
    """A minimal chat completions request body."""
    return {'model': 'gpt-4o', 'messages': [{'role': 'user', 'content': prompt}], **extra}


def messages_body(prompt: str = 'Tell me about rivers', **extra: Any) -> dict[str, Any]:
    """A minimal Anthropic Messages request body."""
    body = {
        'model': 'claude-3-5-sonnet-latest',
        'max_tokens': 1024,
        'messages': [{'role': 'user', 'content': prompt}],
    }
    return {**body, **extra}


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


def parse_named_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """`(event name, JSON payload)` for each event of a named-event SSE body (Anthropic's)."""
    events: list[tuple[str, dict[str, Any]]] = []
    for block in raw.split(b'\n\n'):
        if not block.strip():
            continue
        fields = dict(line.split(b': ', 1) for line in block.split(b'\n'))
        assert set(fields) == {b'event', b'data'}, f'expected one event and one data line: {block!r}'
        payload = orjson.loads(fields[b'data'])
        name = fields[b'event'].decode()
        assert payload['type'] == name, f'event {name!r} carries type {payload["type"]!r}'
        events.append((name, payload))
    return events


async def read_stream(
    client: httpx.AsyncClient, body: dict[str, Any], **kwargs: Any
) -> tuple[list[dict[str, Any]], bool]:
    """POST a streamed chat completions request and parse the whole SSE body."""
    response = await client.post('/chat/completions', json={**body, 'stream': True}, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers['content-type'].startswith('text/event-stream')
    return parse_sse(response.content)


def streamed_text(events: list[dict[str, Any]]) -> str:
    """The content deltas of a chat completions stream, joined."""
    return ''.join(
        choice['delta'].get('content') or '' for event in events for choice in event.get('choices', [])
    )


_CAPITAL_SCHEMA = {
    'type': 'object',
    'properties': {'country': {'type': 'string'}},
    'required': ['country'],
    'additionalProperties': False,
}

TOOL_GET_CAPITAL = {
    'type': 'function',
    'function': {
        'name': 'get_capital',
        'description': 'The capital of a country',
        'parameters': _CAPITAL_SCHEMA,
        'strict': True,
    },
}
"""An OpenAI function tool with one required string argument."""

ANTHROPIC_TOOL_GET_CAPITAL = {
    'name': 'get_capital',
    'description': 'The capital of a country',
    'input_schema': _CAPITAL_SCHEMA,
}
"""The same tool as Anthropic declares it."""
