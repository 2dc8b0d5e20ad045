"""Fidelity: the official `openai` SDK, pointed at the emulator, must see a real OpenAI.

If the SDK parses our answers, assembles our streams, raises its own error classes for our errors
and retries our 429s, the emulator's wire is close enough to OpenAI's for every test built on it.
The SDK is a test-only dependency (`tests/requirements-fidelity.txt`), never a runtime one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from modelkit.emulator import Emulator
from tests.helpers.emulator import TOOL_GET_CAPITAL, emulator_thread, sdk_client, user_turn

openai = pytest.importorskip(
    'openai',
    reason='the official openai SDK is not installed: pip install -r tests/requirements-fidelity.txt',
)

pytestmark = pytest.mark.fidelity

__all__ = ('emulator_thread',)  # the shared fixture, used by the tests below


GET_CAPITAL: Any = TOOL_GET_CAPITAL


@pytest.fixture
def client(emulator_thread: Emulator) -> Iterator[Any]:
    """An OpenAI SDK client for the emulator."""
    with sdk_client(openai.OpenAI, emulator_thread, 'openai') as sdk:
        yield sdk


def test_plain_completion(client: Any) -> None:
    completion = client.chat.completions.create(model='gpt-4o', messages=user_turn('Hello there'))
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    [choice] = completion.choices
    assert choice.finish_reason == 'stop'
    assert choice.message.role == 'assistant'
    assert len(choice.message.content.split()) == 6
    assert completion.usage.completion_tokens == 6
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 6


def test_stream_with_include_usage(client: Any) -> None:
    stream = client.chat.completions.create(
        model='gpt-4o', messages=user_turn('Hello there'), stream=True, stream_options={'include_usage': True}
    )
    chunks = list(stream)
    assert all(isinstance(c, openai.types.chat.ChatCompletionChunk) for c in chunks)
    text = ''.join(c.choices[0].delta.content or '' for c in chunks if c.choices)
    plain = client.chat.completions.create(model='gpt-4o', messages=user_turn('Hello there'))
    assert text == plain.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ['stop']
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage.completion_tokens == 6


def test_tool_call(client: Any) -> None:
    completion = client.chat.completions.create(
        model='gpt-4o', messages=user_turn('Use get_capital for France'), tools=[GET_CAPITAL]
    )
    [choice] = completion.choices
    assert choice.finish_reason == 'tool_calls'
    [call] = choice.message.tool_calls
    assert call.function.name == 'get_capital'
    assert set(json.loads(call.function.arguments)) == {'country'}


def test_streamed_tool_call_assembled_by_the_sdk(client: Any) -> None:
    with client.chat.completions.stream(
        model='gpt-4o', messages=user_turn('Use get_capital for France'), tools=[GET_CAPITAL]
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    [call] = final.choices[0].message.tool_calls
    assert call.function.name == 'get_capital'
    # Strict tools: the SDK parses the arguments it assembled from our fragments.
    assert set(call.function.parsed_arguments) == {'country'}


class _City(BaseModel):
    city: str
    country: str
    population: int
    kind: Literal['capital', 'town']


@pytest.mark.parametrize('stream', [False, True])
def test_structured_output(client: Any, stream: bool) -> None:
    if stream:
        with client.chat.completions.stream(
            model='gpt-4o', messages=user_turn('A city please'), response_format=_City
        ) as events:
            for _ in events:
                pass
            completion = events.get_final_completion()
    else:
        completion = client.chat.completions.parse(
            model='gpt-4o', messages=user_turn('A city please'), response_format=_City
        )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, _City)


def test_bad_key_raises_authentication_error(emulator_thread: Emulator) -> None:
    sdk = openai.OpenAI(api_key='sk-wrong-key', base_url=emulator_thread.base_url('openai'), max_retries=0)
    with sdk, pytest.raises(openai.AuthenticationError) as info:
        sdk.chat.completions.create(model='gpt-4o', messages=user_turn('hi'))
    assert info.value.status_code == 401
    assert info.value.code == 'invalid_api_key'


def test_429_is_retried_after_retry_after(emulator_thread: Emulator) -> None:
    model = 'gpt-4o+fault=429+fault-times=1+session=sdk-retry'
    before = len(emulator_thread.requests)
    with sdk_client(openai.OpenAI, emulator_thread, 'openai', max_retries=2) as sdk:
        completion = sdk.chat.completions.create(model=model, messages=user_turn('hi'))
    assert completion.choices[0].message.content
    assert len(emulator_thread.requests) - before == 2  # one 429, then the retry that succeeded


def test_429_without_retries_raises_rate_limit_error(client: Any) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model='gpt-4o+fault=429', messages=user_turn('hi'))
    assert info.value.code == 'rate_limit_exceeded'
    assert info.value.response.headers['retry-after-ms'] == '20'


def test_error_inside_the_stream_raises_api_error(client: Any) -> None:
    stream = client.chat.completions.create(
        model='gpt-4o+fault=stream-error+fault-after=2', messages=user_turn('hi'), stream=True
    )
    received: list[Any] = []
    with pytest.raises(openai.APIError):
        _drain(stream, received)
    assert sum(1 for c in received if c.choices and c.choices[0].delta.content) == 2


def _drain(stream: Any, into: list[Any]) -> None:
    for chunk in stream:
        into.append(chunk)


def test_azure_client(emulator_thread: Emulator) -> None:
    with openai.AzureOpenAI(
        api_key=emulator_thread.api_key,
        azure_endpoint=emulator_thread.url,
        api_version='2024-10-21',
        max_retries=0,
    ) as sdk:
        completion = sdk.chat.completions.create(model='my-deployment', messages=user_turn('hi'))
    assert completion.model == 'my-deployment'
    assert completion.choices[0].message.content


def test_models_list(client: Any, emulator_thread: Emulator) -> None:
    assert [model.id for model in client.models.list()] == list(emulator_thread.config.models)
