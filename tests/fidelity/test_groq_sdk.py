"""Fidelity: the official `groq` SDK, pointed at the emulator, must see a real Groq.

If the SDK parses our answers (with `x_groq`), assembles our streams, and raises its own error
classes for our errors (the 400 `tool_use_failed` with `failed_generation`, a 401, an error inside
a stream), the emulator's Groq wire is close enough for every test built on it. The SDK is a
test-only dependency (`tests/requirements-fidelity.txt`), never a runtime one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from modelkit.emulator import Emulator
from tests.helpers.emulator import TOOL_GET_CAPITAL, emulator_thread, sdk_client, user_turn

groq = pytest.importorskip(
    'groq', reason='the official groq SDK is not installed: pip install -r tests/requirements-fidelity.txt'
)

pytestmark = pytest.mark.fidelity

__all__ = ('emulator_thread',)  # the shared fixture, used by the tests below


@pytest.fixture
def client(emulator_thread: Emulator) -> Iterator[Any]:
    """A Groq SDK client for the emulator: the SDK appends `/openai/v1/...` to the root itself."""
    with sdk_client(groq.Groq, emulator_thread, 'groq', base_url=emulator_thread.url) as sdk:
        yield sdk


def test_plain_completion_with_x_groq(client: Any) -> None:
    completion = client.chat.completions.create(
        model='llama-3.3-70b-versatile', messages=user_turn('Hello there')
    )
    assert isinstance(completion, groq.types.chat.ChatCompletion)
    [choice] = completion.choices
    assert choice.finish_reason == 'stop'
    assert len(choice.message.content.split()) == 6
    assert completion.usage.completion_tokens == 6
    assert completion.x_groq.id.startswith('req_')


def test_stream_with_usage_in_x_groq(client: Any) -> None:
    chunks = list(
        client.chat.completions.create(
            model='llama-3.3-70b-versatile', messages=user_turn('Hello there'), stream=True
        )
    )
    assert all(isinstance(c, groq.types.chat.ChatCompletionChunk) for c in chunks)
    text = ''.join(c.choices[0].delta.content or '' for c in chunks)
    assert len(text.split()) == 6
    assert chunks[0].x_groq.id.startswith('req_')
    assert chunks[-1].x_groq.usage.completion_tokens == 6
    assert chunks[-1].choices[0].finish_reason == 'stop'


def test_tool_call(client: Any) -> None:
    completion = client.chat.completions.create(
        model='llama-3.3-70b-versatile',
        messages=user_turn('Use get_capital for France'),
        tools=[TOOL_GET_CAPITAL],
    )
    [call] = completion.choices[0].message.tool_calls
    assert call.function.name == 'get_capital'
    assert set(json.loads(call.function.arguments)) == {'country'}


def test_tool_use_failed_is_a_bad_request_with_the_failed_generation(client: Any) -> None:
    with pytest.raises(groq.BadRequestError) as info:
        client.chat.completions.create(model='llama+fault=tool-use-failed', messages=user_turn('Hi'))
    assert info.value.status_code == 400
    error = info.value.body['error']
    assert error['code'] == 'tool_use_failed'
    assert json.loads(error['failed_generation'])['name'] == 'no_such_tool'


def test_error_event_inside_a_stream_raises(client: Any) -> None:
    stream = client.chat.completions.create(
        model='llama+fault=stream-error+fault-after=2', messages=user_turn('Hi'), stream=True
    )
    with pytest.raises(groq.APIError, match='emulated'):
        list(stream)


def test_bad_key_raises_authentication_error(emulator_thread: Emulator) -> None:
    sdk = groq.Groq(api_key='gsk-wrong', base_url=emulator_thread.url, max_retries=0)
    with sdk, pytest.raises(groq.AuthenticationError) as info:
        sdk.chat.completions.create(model='llama-3.3-70b-versatile', messages=user_turn('hi'))
    assert info.value.status_code == 401


def test_429_is_retried_by_the_sdk(emulator_thread: Emulator) -> None:
    with sdk_client(groq.Groq, emulator_thread, 'groq', base_url=emulator_thread.url, max_retries=2) as sdk:
        completion = sdk.chat.completions.create(
            model='llama+fault=429+fault-times=1+session=groq-retry', messages=user_turn('Hello there')
        )
    assert completion.choices[0].finish_reason == 'stop'
