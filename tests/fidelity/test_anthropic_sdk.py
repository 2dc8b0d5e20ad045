"""Fidelity: the official `anthropic` SDK, pointed at the emulator, must see a real Anthropic API.

If the SDK parses our messages, accumulates our streams (text, thinking with signatures, tool
input from fragments), raises its own error classes for our errors and retries our 529s, the
emulator's Anthropic wire is close enough for every test built on it. Test-only dependency
(`tests/requirements-fidelity.txt`), never a runtime one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelkit.emulator import Emulator
from tests.helpers.emulator import ANTHROPIC_TOOL_GET_CAPITAL, emulator_thread, sdk_client, user_turn

anthropic = pytest.importorskip(
    'anthropic',
    reason='the official anthropic SDK is not installed: pip install -r tests/requirements-fidelity.txt',
)

pytestmark = pytest.mark.fidelity

__all__ = ('emulator_thread',)  # the shared fixture, used by the tests below

MODEL = 'claude-3-5-sonnet-latest'
TOOLS: Any = [ANTHROPIC_TOOL_GET_CAPITAL]


@pytest.fixture
def client(emulator_thread: Emulator) -> Iterator[Any]:
    """An Anthropic SDK client for the emulator, without retries."""
    with sdk_client(anthropic.Anthropic, emulator_thread, 'anthropic') as sdk:
        yield sdk


def test_plain_message(client: Any) -> None:
    message = client.messages.create(model=MODEL, max_tokens=256, messages=user_turn('Hello there'))
    assert isinstance(message, anthropic.types.Message)
    [block] = message.content
    assert block.type == 'text'
    assert len(block.text.split()) == 6
    assert message.stop_reason == 'end_turn'
    assert message.usage.output_tokens == 6
    counted = client.messages.count_tokens(model=MODEL, messages=user_turn('Hello there'))
    assert message.usage.input_tokens == counted.input_tokens > 0


def test_streamed_text_matches_the_plain_answer(client: Any) -> None:
    plain = client.messages.create(model=MODEL, max_tokens=256, messages=user_turn('Tell me a story'))
    with client.messages.stream(model=MODEL, max_tokens=256, messages=user_turn('Tell me a story')) as stream:
        text = ''.join(stream.text_stream)
        final = stream.get_final_message()
    assert text == plain.content[0].text
    assert final.content[0].text == text
    assert (final.stop_reason, final.usage.output_tokens) == ('end_turn', 6)


def test_streamed_thinking_keeps_its_signature(client: Any) -> None:
    thinking = {'type': 'enabled', 'budget_tokens': 1024}
    with client.messages.stream(
        model=MODEL, max_tokens=2048, thinking=thinking, messages=user_turn('Why?')
    ) as stream:
        final = stream.get_final_message()
    first, second = final.content
    assert first.type == 'thinking'
    assert first.thinking
    assert first.signature
    assert second.type == 'text'
    plain = client.messages.create(
        model=MODEL, max_tokens=2048, thinking=thinking, messages=user_turn('Why?')
    )
    assert plain.content[0].signature == first.signature


@pytest.mark.parametrize('stream', [False, True])
def test_tool_use(client: Any, stream: bool) -> None:
    request: Any = {
        'model': MODEL,
        'max_tokens': 256,
        'tools': TOOLS,
        'messages': user_turn('Use get_capital'),
    }
    if stream:
        with client.messages.stream(**request) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**request)
    [call] = message.content
    assert call.type == 'tool_use'
    assert call.name == 'get_capital'
    assert isinstance(call.input['country'], str)
    assert message.stop_reason == 'tool_use'
    follow_up = client.messages.create(
        model=MODEL,
        max_tokens=256,
        tools=TOOLS,
        messages=[
            *request['messages'],
            {'role': 'assistant', 'content': [call.model_dump(include={'type', 'id', 'name', 'input'})]},
            {
                'role': 'user',
                'content': [{'type': 'tool_result', 'tool_use_id': call.id, 'content': 'Paris'}],
            },
        ],
    )
    assert follow_up.content[0].text.startswith('Tool get_capital returned Paris')


def test_errors_are_the_sdk_own_classes(client: Any, emulator_thread: Emulator) -> None:
    with (
        sdk_client(anthropic.Anthropic, emulator_thread, 'anthropic', api_key='sk-ant-wrong') as sdk,
        pytest.raises(anthropic.AuthenticationError),
    ):
        sdk.messages.create(model=MODEL, max_tokens=16, messages=user_turn('hi'))
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model=f'{MODEL}+fault=429', max_tokens=16, messages=user_turn('hi'))
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model=f'{MODEL}+fault=529', max_tokens=16, messages=user_turn('hi'))
    assert info.value.status_code == 529


def test_in_stream_overloaded_error_is_raised(client: Any) -> None:
    model = f'{MODEL}+fault=overloaded+fault-after=0'

    def read() -> None:
        with client.messages.stream(model=model, max_tokens=16, messages=user_turn('hi')) as stream:
            stream.get_final_message()

    with pytest.raises(anthropic.APIStatusError, match='overloaded_error'):
        read()


def test_sdk_retries_529_then_succeeds(emulator_thread: Emulator) -> None:
    with sdk_client(anthropic.Anthropic, emulator_thread, 'anthropic', max_retries=2) as sdk:
        model = f'{MODEL}+fault=529+fault-times=2+retry-after-ms=10+session=sdk-retry'
        message = sdk.messages.create(model=model, max_tokens=16, messages=user_turn('hi'))
    assert message.stop_reason == 'end_turn'
