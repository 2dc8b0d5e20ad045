"""Fidelity: the official `cohere` SDK (`ClientV2`), pointed at the emulator, must see Cohere's API.

If the SDK parses our answers into its typed responses and stream events (text, thinking, the tool
plan, tool calls, citations, the finish reason and usage), raises its own error classes for our
errors and retries our 429s, the emulator's Cohere wire is close enough for every test built on
it. Test-only dependency (`tests/requirements-fidelity.txt`), never a runtime one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import pytest

from modelkit.emulator import Emulator
from tests.helpers.emulator import SDK_TIMEOUT_S, TOOL_GET_CAPITAL, emulator_thread, user_turn

cohere = pytest.importorskip(
    'cohere',
    reason='the official cohere SDK is not installed: pip install -r tests/requirements-fidelity.txt',
)

pytestmark = pytest.mark.fidelity

__all__ = ('emulator_thread',)  # the shared fixture, used by the tests below

MODEL = 'command-r-plus'
TOOLS: Any = [
    {'type': 'function', 'function': {k: v for k, v in TOOL_GET_CAPITAL['function'].items() if k != 'strict'}}
]


@contextmanager
def sdk(emulator: Emulator, **kwargs: Any) -> Iterator[Any]:
    """A `cohere.ClientV2` at the emulator, without retries unless `kwargs` say otherwise; its
    connections are closed on exit (the SDK's client has no close of its own)."""
    with httpx.Client(timeout=SDK_TIMEOUT_S) as http:
        options = {'api_key': emulator.api_key, 'base_url': emulator.base_url('cohere'), 'httpx_client': http}
        yield cohere.ClientV2(**{**options, 'max_retries': 0, **kwargs})


@pytest.fixture
def client(emulator_thread: Emulator) -> Iterator[Any]:
    with sdk(emulator_thread) as client:
        yield client


def test_plain_chat(client: Any) -> None:
    response = client.chat(model=MODEL, messages=user_turn('Hello there'))
    assert isinstance(response, cohere.V2ChatResponse)
    [item] = response.message.content
    assert item.type == 'text'
    assert len(item.text.split()) == 6
    assert response.finish_reason == 'COMPLETE'
    assert response.usage.billed_units.output_tokens == 6
    assert response.usage.tokens.input_tokens > response.usage.billed_units.input_tokens > 0


def test_streamed_text_matches_the_plain_answer(client: Any) -> None:
    plain = client.chat(model=MODEL, messages=user_turn('Tell me a story'))
    events = list(client.chat_stream(model=MODEL, messages=user_turn('Tell me a story')))
    assert [type(e).__name__ for e in events[:2]] == [
        'MessageStartV2ChatStreamResponse',
        'ContentStartV2ChatStreamResponse',
    ]
    text = ''.join(e.delta.message.content.text for e in events if e.type == 'content-delta')
    assert text == plain.message.content[0].text
    end = events[-1]
    assert isinstance(end, cohere.MessageEndV2ChatStreamResponse)
    assert end.delta.finish_reason == 'COMPLETE'
    assert end.delta.usage.billed_units.output_tokens == 6


def test_thinking_comes_first(client: Any) -> None:
    thinking: Any = {'type': 'enabled', 'token_budget': 256}
    response = client.chat(model='command-a-reasoning-08-2025', messages=user_turn('Why?'), thinking=thinking)
    assert [item.type for item in response.message.content] == ['thinking', 'text']
    assert response.message.content[0].thinking
    events = list(
        client.chat_stream(model='command-a-reasoning-08-2025', messages=user_turn('Why?'), thinking=thinking)
    )
    streamed = ''.join(
        e.delta.message.content.thinking or '' for e in events if e.type == 'content-delta' and e.index == 0
    )
    assert streamed == response.message.content[0].thinking


@pytest.mark.parametrize('stream', [False, True])
def test_tool_plan_call_and_cited_answer(client: Any, stream: bool) -> None:
    messages: Any = user_turn('Use get_capital')
    if stream:
        events = list(client.chat_stream(model=MODEL, messages=messages, tools=TOOLS))
        plan = ''.join(e.delta.message.tool_plan for e in events if e.type == 'tool-plan-delta')
        start = next(e for e in events if e.type == 'tool-call-start')
        call_id, name = start.delta.message.tool_calls.id, start.delta.message.tool_calls.function.name
        arguments = ''.join(
            e.delta.message.tool_calls.function.arguments for e in events if e.type == 'tool-call-delta'
        )
        assert events[-1].delta.finish_reason == 'TOOL_CALL'
    else:
        response = client.chat(model=MODEL, messages=messages, tools=TOOLS)
        plan = response.message.tool_plan
        [call] = response.message.tool_calls
        call_id, name, arguments = call.id, call.function.name, call.function.arguments
        assert response.finish_reason == 'TOOL_CALL'
    assert plan == 'I will use get_capital to answer this.'
    assert name == 'get_capital'
    assert isinstance(orjson.loads(arguments)['country'], str)
    follow_up = client.chat(
        model=MODEL,
        tools=TOOLS,
        messages=[
            *messages,
            {
                'role': 'assistant',
                'tool_plan': plan,
                'tool_calls': [
                    {'id': call_id, 'type': 'function', 'function': {'name': name, 'arguments': arguments}}
                ],
            },
            {
                'role': 'tool',
                'tool_call_id': call_id,
                'content': [{'type': 'document', 'document': {'data': 'Paris'}}],
            },
        ],
    )
    assert follow_up.message.content[0].text.startswith('Tool get_capital returned Paris')
    [citation] = follow_up.message.citations
    assert citation.text == 'Paris'
    assert citation.sources[0].id == f'{call_id}:0'


def test_errors_are_the_sdk_own_classes(client: Any, emulator_thread: Emulator) -> None:
    with (
        sdk(emulator_thread, api_key='co-wrong') as wrong,
        pytest.raises(cohere.UnauthorizedError) as unauthorized,
    ):
        wrong.chat(model=MODEL, messages=user_turn('hi'))
    assert unauthorized.value.body['message'] == 'invalid api token'
    with pytest.raises(cohere.TooManyRequestsError):
        client.chat(model=f'{MODEL}+fault=429', messages=user_turn('hi'))
    with pytest.raises(cohere.InternalServerError):
        client.chat(model=f'{MODEL}+fault=500', messages=user_turn('hi'))
    with pytest.raises(cohere.BadRequestError) as bad:
        client.chat(model=MODEL, messages=[{'role': 'user', 'content': 'hi'}], tool_choice='REQUIRED')
    assert bad.value.body['message'].startswith('invalid request: ')


def test_the_sdk_retries_a_429_then_succeeds(emulator_thread: Emulator) -> None:
    with sdk(emulator_thread, max_retries=2) as retrying:
        response = retrying.chat(
            model=f'{MODEL}+fault=429+fault-times=1+session=sdk-retry', messages=user_turn('hi')
        )
    assert response.finish_reason == 'COMPLETE'


def test_a_stream_error_reaches_the_sdk_as_finish_reason_error(client: Any) -> None:
    events = list(
        client.chat_stream(model=f'{MODEL}+fault=stream-error+fault-after=2', messages=user_turn('hi'))
    )
    assert sum(e.type == 'content-delta' for e in events) == 2
    end = events[-1]
    assert end.type == 'message-end'
    assert end.delta.finish_reason == 'ERROR'
    assert 'internal server error' in end.delta.error
