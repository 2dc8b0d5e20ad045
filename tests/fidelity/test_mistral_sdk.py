"""Fidelity: the official `mistralai` SDK, pointed at the emulator, must see a real Mistral.

If the SDK parses our answers (list content with thinking chunks, 9-character tool-call ids),
reads our streams, and raises its own errors for ours (a 401, the 422 for `stream_options`), the
emulator's Mistral wire is close enough for every test built on it. Its `server_url` is the
emulator's root plus `/mistral` (the SDK appends `/v1/...`). Test-only dependency
(`tests/requirements-fidelity.txt`), never a runtime one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from modelkit.emulator import Emulator
from tests.helpers.emulator import TOOL_GET_CAPITAL, emulator_thread, user_turn

pytest.importorskip(
    'mistralai',
    reason='the official mistralai SDK is not installed: pip install -r tests/requirements-fidelity.txt',
)
try:  # mistralai 2+ moved the client into `mistralai.client`
    from mistralai.client import Mistral, errors, models
except ImportError:  # pragma: no cover - mistralai 1.x
    from mistralai import Mistral, models  # type: ignore[attr-defined,no-redef]
    from mistralai.models import errors  # type: ignore[no-redef]

pytestmark = pytest.mark.fidelity

__all__ = ('emulator_thread',)  # the shared fixture, used by the tests below

TIMEOUT_MS = 10_000


def server_url(emulator: Emulator) -> str:
    return emulator.base_url('mistral').removesuffix('/v1')


@pytest.fixture
def client(emulator_thread: Emulator) -> Iterator[Any]:
    """A Mistral SDK client for the emulator."""
    with Mistral(
        api_key=emulator_thread.api_key, server_url=server_url(emulator_thread), timeout_ms=TIMEOUT_MS
    ) as sdk:
        yield sdk


def test_plain_completion(client: Any) -> None:
    response = client.chat.complete(model='mistral-small-latest', messages=user_turn('Hello there'))
    assert isinstance(response, models.ChatCompletionResponse)
    [choice] = response.choices
    assert choice.finish_reason == 'stop'
    assert len(choice.message.content.split()) == 6
    assert response.usage.completion_tokens == 6
    assert re.fullmatch(r'[0-9a-f]{32}', response.id)


def test_magistral_content_is_thinking_then_text(client: Any) -> None:
    response = client.chat.complete(model='magistral-small-latest', messages=user_turn('Hello there'))
    thinking, text = response.choices[0].message.content
    assert isinstance(thinking, models.ThinkChunk)
    assert thinking.thinking[0].text.startswith('Thinking about')
    assert isinstance(text, models.TextChunk)
    assert len(text.text.split()) == 6


def test_stream_with_thinking_and_usage(client: Any) -> None:
    events = list(client.chat.stream(model='magistral-small-latest', messages=user_turn('Hello there')))
    chunks = [event.data for event in events]
    assert all(isinstance(c, models.CompletionChunk) for c in chunks)
    contents = [c.choices[0].delta.content for c in chunks]
    assert any(isinstance(c, list) and isinstance(c[0], models.ThinkChunk) for c in contents)
    assert any(isinstance(c, str) and c for c in contents)
    assert chunks[-1].choices[0].finish_reason == 'stop'
    assert chunks[-1].usage.completion_tokens > 6


def test_required_tool_call_has_a_mistral_id(client: Any) -> None:
    response = client.chat.complete(
        model='mistral-small-latest', messages=user_turn('Hello'), tools=[TOOL_GET_CAPITAL], tool_choice='any'
    )
    [call] = response.choices[0].message.tool_calls
    assert re.fullmatch(r'[A-Za-z0-9]{9}', call.id)
    assert call.function.name == 'get_capital'
    assert set(json.loads(call.function.arguments)) == {'country'}
    # ... and the SDK can send it back, which the emulator checks as Mistral does.
    history = [
        *user_turn('Hello'),
        {
            'role': 'assistant',
            'tool_calls': [{'id': call.id, 'function': {'name': 'get_capital', 'arguments': '{}'}}],
        },
        {'role': 'tool', 'tool_call_id': call.id, 'content': 'Paris'},
    ]
    follow_up = client.chat.complete(model='mistral-small-latest', messages=history, tools=[TOOL_GET_CAPITAL])
    assert 'get_capital' in follow_up.choices[0].message.content


def test_bad_key_and_bad_tool_id_raise(emulator_thread: Emulator, client: Any) -> None:
    sdk = Mistral(api_key='wrong', server_url=server_url(emulator_thread), timeout_ms=TIMEOUT_MS)
    with sdk, pytest.raises(errors.SDKError) as info:
        sdk.chat.complete(model='mistral-small-latest', messages=user_turn('hi'))
    assert info.value.status_code == 401
    history = [
        *user_turn('Hello'),
        {
            'role': 'assistant',
            'tool_calls': [{'id': 'call_x', 'function': {'name': 'get_capital', 'arguments': '{}'}}],
        },
        {'role': 'tool', 'tool_call_id': 'call_x', 'content': 'Paris'},
    ]
    with pytest.raises(errors.SDKError) as bad_id:
        client.chat.complete(model='mistral-small-latest', messages=history)
    assert bad_id.value.status_code == 400
    assert 'length of 9' in str(bad_id.value)
