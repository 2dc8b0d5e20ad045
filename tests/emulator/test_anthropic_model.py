"""End to end over loopback: the real `AnthropicModel`, provider and transport against the emulator.

Nothing is mocked: every byte crosses a socket, so these tests show the interface, the transport's
retries (HTTP and in-stream before content) and the kit's stream loop working together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import orjson
import pytest
from pydantic import BaseModel

from modelkit import Agent
from modelkit.emulator import Emulator, EmulatorConfig
from modelkit.exceptions import ModelHTTPError, ModelStreamError
from modelkit.messages import (
    ModelRequest,
    PartStartEvent,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models.anthropic import AnthropicModel, AnthropicModelSettings
from modelkit.providers.anthropic import AnthropicProvider

from .conftest import TEST_TIMEOUT_S

pytestmark = pytest.mark.anyio

THINKING: AnthropicModelSettings = {'anthropic_thinking': {'type': 'enabled', 'budget_tokens': 1024}}


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(tokens=7, retry_after_ms=20)) as emu:
        yield emu


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT_S) as http:
        yield http


def _model(
    emulator: Emulator, http_client: httpx.AsyncClient, name: str = 'claude-3-5-sonnet-latest', **kwargs: Any
) -> AnthropicModel:
    provider = AnthropicProvider(
        base_url=emulator.base_url('anthropic'), api_key=emulator.api_key, http_client=http_client, **kwargs
    )
    provider._transport.initial_backoff = 0.01  # keep retry waits short
    return AnthropicModel(name, provider=provider)


def _agent(model: AnthropicModel, **kwargs: Any) -> Agent[None, Any]:
    agent: Agent[None, Any] = Agent(model, **kwargs)

    @agent.tool_plain
    def get_capital(country: str) -> str:
        """The capital of a country."""
        return 'Paris'

    return agent


async def _drain(model: AnthropicModel) -> None:
    async with model.request_stream(
        [ModelRequest([UserPromptPart('Hi')])], None, ModelRequestParameters()
    ) as s:
        async for _ in s:
            pass


async def test_agent_with_a_tool(emulator: Emulator, http_client: httpx.AsyncClient) -> None:
    with anyio.fail_after(TEST_TIMEOUT_S):
        result = await _agent(_model(emulator, http_client)).run(
            'What is the capital of France? Use get_capital.'
        )
    assert 'Paris' in result.data
    call, answer = result.all_messages()[1], result.all_messages()[-1]
    assert isinstance(call.parts[0], ToolCallPart)
    assert call.parts[0].tool_name == 'get_capital'
    assert answer.finish_reason == 'stop'
    usage = result.usage()
    assert usage.requests == 2
    assert usage.total_tokens == (usage.request_tokens or 0) + (usage.response_tokens or 0) > 0
    # The second request sent the call and its result back as Anthropic expects.
    turns = orjson.loads(emulator.requests[-1].body)['messages']
    assert [t['role'] for t in turns] == ['user', 'assistant', 'user']
    assert turns[1]['content'][-1]['type'] == 'tool_use'
    assert turns[2]['content'][0] == {
        'type': 'tool_result',
        'tool_use_id': turns[1]['content'][-1]['id'],
        'content': 'Paris',
    }


async def test_agent_streams_a_tool_call_then_text(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    agent = _agent(_model(emulator, http_client))
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with agent.run_stream('What is the capital of France? Use get_capital.') as result:
            texts = [text async for text in result.stream_text(debounce_by=None)]
    assert 'Paris' in texts[-1]
    assert len(texts) > 1  # the answer arrived in pieces
    assert result.usage().requests == 2


async def test_stream_timing_and_usage(emulator: Emulator, http_client: httpx.AsyncClient) -> None:
    model = _model(emulator, http_client)
    plain, plain_usage = await model.request(
        [ModelRequest([UserPromptPart('Hello')])], None, ModelRequestParameters()
    )
    async with model.request_stream(
        [ModelRequest([UserPromptPart('Hello')])], None, ModelRequestParameters()
    ) as s:
        events = [event async for event in s]
        response, usage = s.get(), s.usage()
    assert isinstance(events[0], PartStartEvent)
    assert response.parts == plain.parts
    assert usage == plain_usage  # streamed cumulative counts equal the plain response's, no double counting
    assert usage.response_tokens == 7
    assert len(s.timing.event_times) == len(events)
    assert s.timing.time_to_first_token is not None


async def test_thinking_plain_and_streamed_and_sent_back(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    model = _model(emulator, http_client, 'claude-3-7-sonnet-latest')
    agent = Agent(model, model_settings=THINKING)
    first = await agent.run('Think about rivers.')
    thinking = first.all_messages()[-1].parts[0]
    assert isinstance(thinking, ThinkingPart)
    assert thinking.content
    assert thinking.signature
    again = await agent.run('And lakes?', message_history=first.all_messages())
    turns = orjson.loads(emulator.requests[-1].body)['messages']
    assert turns[1]['content'][0] == {
        'type': 'thinking',
        'thinking': thinking.content,
        'signature': thinking.signature,
    }
    assert again.data
    async with agent.run_stream('Think about rivers.') as streamed:
        await streamed.get_data()
    streamed_thinking = streamed.all_messages()[-1].parts[0]
    assert streamed_thinking == thinking  # the same plan, whether streamed or not


async def test_overloaded_before_content_is_retried(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    name = 'claude-3-5-haiku-latest+fault=overloaded+fault-after=0+fault-times=1'
    model = _model(emulator, http_client, name)
    async with model.request_stream(
        [ModelRequest([UserPromptPart('Hi')])], None, ModelRequestParameters()
    ) as s:
        events = [event async for event in s]
    assert len(emulator.requests) == 2
    assert len(s.get().parts[0].content.split()) == 7  # type: ignore[union-attr]
    assert len(s.timing.event_times) == len(events)


async def test_overloaded_before_content_every_time_spends_max_retries(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    model = _model(
        emulator, http_client, 'claude-3-5-haiku-latest+fault=overloaded+fault-after=0', max_retries=1
    )
    with pytest.raises(ModelStreamError) as caught:
        await _drain(model)
    assert len(emulator.requests) == 2
    assert caught.value.error_type == 'overloaded_error'
    assert caught.value.partial_response is not None
    assert caught.value.partial_response.parts == []


async def test_overloaded_after_content_carries_what_arrived(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    model = _model(emulator, http_client, 'claude-3-5-haiku-latest+fault=overloaded+fault-after=3')
    with pytest.raises(ModelStreamError) as caught:
        await _drain(model)
    assert len(emulator.requests) == 1  # the caller had seen content: never retried
    assert caught.value.error_type == 'overloaded_error'
    partial = caught.value.partial_response
    assert partial is not None
    assert isinstance(partial.parts[0], TextPart)
    assert len(partial.parts[0].content.split()) == 3


async def test_529_is_retried(emulator: Emulator, http_client: httpx.AsyncClient) -> None:
    model = _model(emulator, http_client, 'claude-3-5-haiku-latest+fault=529+fault-times=1')
    response, _ = await model.request([ModelRequest([UserPromptPart('Hi')])], None, ModelRequestParameters())
    assert response.parts
    assert len(emulator.requests) == 2


async def test_a_bad_key_is_a_401_with_anthropics_error(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    provider = AnthropicProvider(
        base_url=emulator.base_url('anthropic'), api_key='wrong', http_client=http_client
    )
    with pytest.raises(ModelHTTPError) as caught:
        await AnthropicModel('claude-3-5-haiku-latest', provider=provider).request(
            [ModelRequest([UserPromptPart('Hi')])], None, ModelRequestParameters()
        )
    assert caught.value.status_code == 401
    assert isinstance(caught.value.body, dict)
    assert caught.value.body['error']['type'] == 'authentication_error'
    assert 'wrong' not in str(caught.value)


async def test_structured_output_through_the_result_tool(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    class City(BaseModel):
        city: str
        country: str

    result = await Agent(_model(emulator, http_client), result_type=City).run(
        'Where were the olympics held in 2012?'
    )
    assert isinstance(result.data, City)
    sent = orjson.loads(emulator.requests[-1].body)
    assert sent['tool_choice'] == {'type': 'tool', 'name': 'final_result'}
