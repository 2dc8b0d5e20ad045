"""End to end over loopback: the real `CohereModel`, provider and transport, and the agent on them,
against the emulator's Cohere API. Nothing is mocked: every byte crosses a socket."""

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
from modelkit.exceptions import ModelHTTPError, ModelStreamError, StreamInterrupted, UnexpectedModelBehavior
from modelkit.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models.cohere import TOOL_PLAN_ID, CohereModel
from modelkit.providers.cohere import CohereProvider
from modelkit.tools import ToolDefinition
from tests.helpers.emulator import TEST_TIMEOUT_S

pytestmark = pytest.mark.anyio

NO_TOOLS = ModelRequestParameters()
GET_CAPITAL = ToolDefinition(
    'get_capital',
    'The capital of a country',
    {'type': 'object', 'properties': {'country': {'type': 'string'}}, 'required': ['country']},
)


class City(BaseModel):
    city: str
    country: str


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(tokens=7, retry_after_ms=20)) as emu:
        yield emu


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT_S) as http:
        yield http


def model_at(
    emulator: Emulator, http_client: httpx.AsyncClient, name: str = 'command-r-plus', **kwargs: Any
) -> CohereModel:
    provider = CohereProvider(
        api_key=emulator.api_key, base_url=emulator.base_url('cohere'), http_client=http_client, **kwargs
    )
    return CohereModel(name, provider=provider)


def ask(prompt: str) -> list[ModelMessage]:
    return [ModelRequest([UserPromptPart(prompt)])]


async def drain(model: CohereModel) -> None:
    async with model.request_stream(ask('Hello'), None, NO_TOOLS) as stream:
        async for _ in stream:
            pass


def text_of(response: ModelResponse) -> str:
    return ''.join(part.content for part in response.parts if isinstance(part, TextPart))


async def test_plain_request(emulator: Emulator, http_client: httpx.AsyncClient) -> None:
    response, usage = await model_at(emulator, http_client).request(ask('Hello'), None, NO_TOOLS)
    assert len(text_of(response).split()) == 7
    assert (response.finish_reason, response.vendor_finish_reason) == ('stop', 'COMPLETE')
    assert usage.details is not None
    assert (usage.response_tokens, usage.details['billed_output_tokens']) == (9, 7)
    sent = orjson.loads(emulator.requests[-1].body)
    assert sent == {
        'model': 'command-r-plus',
        'messages': [{'role': 'user', 'content': 'Hello'}],
        'stream': False,
    }


async def test_streamed_request_matches_the_plain_one(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    model = model_at(emulator, http_client)
    plain, plain_usage = await model.request(ask('Hello'), None, NO_TOOLS)
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with model.request_stream(ask('Hello'), None, NO_TOOLS) as stream:
            events = [event async for event in stream]
            response, usage = stream.get(), stream.usage()
    assert isinstance(events[0], PartStartEvent)
    assert all(isinstance(event, PartDeltaEvent) for event in events[1:])
    assert len(events) == 7
    assert text_of(response) == text_of(plain)
    assert usage == plain_usage
    assert len(stream.timing.event_times) == len(events)


@pytest.mark.parametrize('streamed', [False, True])
async def test_tool_plan_call_and_result_round_trip(
    emulator: Emulator, http_client: httpx.AsyncClient, streamed: bool
) -> None:
    model = model_at(emulator, http_client)
    params = ModelRequestParameters(function_tools=[GET_CAPITAL])
    messages = ask('What is the capital of France? Use get_capital.')
    if streamed:
        async with model.request_stream(messages, None, params) as stream:
            async for _ in stream:
                pass
            response = stream.get()
    else:
        response, _ = await model.request(messages, None, params)
    plan, call = response.parts
    assert plan == ThinkingPart('I will use get_capital to answer this.', id=TOOL_PLAN_ID)
    assert isinstance(call, ToolCallPart)
    assert call.tool_name == 'get_capital'
    assert set(call.args_as_dict()) == {'country'}
    assert response.finish_reason == 'tool_call'
    messages += [response, ModelRequest([ToolReturnPart('get_capital', 'Paris', call.tool_call_id)])]
    answer, _ = await model.request(messages, None, params)
    assert text_of(answer).startswith('Tool get_capital returned Paris')
    # The plan went back beside the call, as Cohere's own SDK history would carry it.
    assistant = orjson.loads(emulator.requests[-1].body)['messages'][1]
    assert assistant['tool_plan'] == plan.content
    assert assistant['tool_calls'][0]['id'] == call.tool_call_id


async def test_streamed_thinking(emulator: Emulator, http_client: httpx.AsyncClient) -> None:
    model = model_at(emulator, http_client, 'command-a-reasoning-08-2025')
    settings: Any = {'cohere_thinking': {'type': 'enabled', 'token_budget': 64}}
    async with model.request_stream(ask('Why?'), settings, NO_TOOLS) as stream:
        async for _ in stream:
            pass
    thinking, text = stream.get().parts
    assert isinstance(thinking, ThinkingPart)
    assert thinking.content.startswith('Thinking about')
    assert isinstance(text, TextPart)


async def test_agent_runs_tools_and_a_structured_result(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    agent = Agent(model_at(emulator, http_client), system_prompt='Use the tool.')
    calls: list[str] = []

    @agent.tool_plain
    def get_capital(country: str) -> str:
        """The capital of a country."""
        calls.append(country)
        return 'Paris'

    result = await agent.run('Capital of France? Use get_capital.')
    assert calls
    assert result.data.startswith('Tool get_capital returned Paris')
    returns = [p for m in result.all_messages() if isinstance(m, ModelRequest) for p in m.parts]
    assert any(isinstance(p, ToolReturnPart) for p in returns)

    city = await Agent(model_at(emulator, http_client), result_type=City).run(
        'Where were the olympics in 2012?'
    )
    assert isinstance(city.data, City)


async def test_agent_stream_is_not_ended_by_the_tool_plan(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    agent = Agent(model_at(emulator, http_client))

    @agent.tool_plain
    def get_capital(country: str) -> str:
        """The capital of a country."""
        return 'Paris'

    async with agent.run_stream('Use get_capital for France.') as result:
        text = await result.get_data()
    # The plan is thinking, not the answer: the run goes on to the tool and the text after it.
    assert text.startswith('Tool get_capital returned Paris')


async def test_429_is_retried_then_succeeds(emulator: Emulator, http_client: httpx.AsyncClient) -> None:
    response, _ = await model_at(emulator, http_client, 'command+fault=429+fault-times=1').request(
        ask('Hello'), None, NO_TOOLS
    )
    assert text_of(response)


async def test_bad_key_is_a_401_with_cohere_message(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    provider = CohereProvider(
        api_key='co-wrong', base_url=emulator.base_url('cohere'), http_client=http_client
    )
    with pytest.raises(ModelHTTPError) as info:
        await CohereModel('command', provider=provider).request(ask('Hello'), None, NO_TOOLS)
    assert info.value.status_code == 401
    assert 'invalid api token' in str(info.value)
    assert 'co-wrong' not in str(info.value)


async def test_stream_error_is_a_model_stream_error_with_what_arrived(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    model = model_at(emulator, http_client, 'command+fault=stream-error+fault-after=2')
    with pytest.raises(ModelStreamError) as info:
        await drain(model)
    assert info.value.error_type == 'ERROR'
    assert 'internal server error' in str(info.value)
    assert info.value.partial_response is not None
    assert len(text_of(info.value.partial_response).split()) == 2


@pytest.mark.parametrize('fault', ['truncate', 'drop'])
async def test_a_broken_stream_is_interrupted_with_what_arrived(
    emulator: Emulator, http_client: httpx.AsyncClient, fault: str
) -> None:
    model = model_at(emulator, http_client, f'command+fault={fault}+fault-after=3')
    with anyio.fail_after(TEST_TIMEOUT_S), pytest.raises(StreamInterrupted) as info:
        await drain(model)
    assert info.value.partial_response is not None
    assert len(text_of(info.value.partial_response).split()) == 3


async def test_a_cut_plain_body_is_unexpected_model_behavior(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    with anyio.fail_after(TEST_TIMEOUT_S), pytest.raises(UnexpectedModelBehavior):
        await model_at(emulator, http_client, 'command+fault=truncate').request(ask('Hello'), None, NO_TOOLS)
