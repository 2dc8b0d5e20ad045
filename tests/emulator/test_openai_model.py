"""End to end over loopback: the real `OpenAIModel`, provider and transport against the emulator.

Nothing is mocked: every byte crosses a socket, so these tests show the interface, the transport's
retries and its stream loop working together on the faults real vendors produce.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import orjson
import pytest
from pydantic import BaseModel

from modelkit.emulator import Emulator, EmulatorConfig
from modelkit.exceptions import (
    ModelConnectionError,
    ModelHTTPError,
    ModelStreamError,
    StreamInterrupted,
    UnexpectedModelBehavior,
)
from modelkit.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models.openai import OpenAIModel
from modelkit.providers.openai import OpenAIProvider
from modelkit.tools import ToolDefinition

from .conftest import TEST_TIMEOUT_S

pytestmark = pytest.mark.anyio

NO_TOOLS = ModelRequestParameters()
GET_CAPITAL = ToolDefinition(
    name='get_capital',
    description='The capital of a country',
    parameters_json_schema={
        'type': 'object',
        'properties': {'country': {'type': 'string'}},
        'required': ['country'],
        'additionalProperties': False,
    },
)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """An emulator with short answers and a 429 that asks for a short wait."""
    async with Emulator(EmulatorConfig(tokens=7, retry_after_ms=20)) as emu:
        yield emu


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    """The client the provider sends through, closed after the test."""
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT_S) as http:
        yield http


def _model(
    emulator: Emulator, http_client: httpx.AsyncClient, name: str = 'gpt-4o', **kwargs: Any
) -> OpenAIModel:
    provider = OpenAIProvider(
        base_url=emulator.base_url('openai'), api_key=emulator.api_key, http_client=http_client, **kwargs
    )
    return OpenAIModel(name, provider=provider)


def _ask(text: str) -> list[ModelMessage]:
    return [ModelRequest(parts=[UserPromptPart(text)])]


def _text(response: ModelResponse) -> str:
    return ''.join(part.content for part in response.parts if isinstance(part, TextPart))


async def test_plain_request(emulator: Emulator, http_client: httpx.AsyncClient) -> None:
    response, usage = await _model(emulator, http_client).request(_ask('Hello'), None, NO_TOOLS)
    assert len(_text(response).split()) == 7
    assert response.finish_reason == 'stop'
    assert response.vendor_id is not None
    assert response.vendor_id.startswith('chatcmpl-')
    assert usage.response_tokens == 7
    assert usage.request_tokens is not None
    assert usage.total_tokens == usage.request_tokens + 7
    # What went over the wire is what OpenAI expects.
    sent = orjson.loads(emulator.requests[-1].body)
    assert sent['model'] == 'gpt-4o'
    assert sent['messages'] == [{'role': 'user', 'content': 'Hello'}]


async def test_streamed_request(emulator: Emulator, http_client: httpx.AsyncClient) -> None:
    model = _model(emulator, http_client)
    plain, _ = await model.request(_ask('Hello'), None, NO_TOOLS)
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with model.request_stream(_ask('Hello'), None, NO_TOOLS) as stream:
            events = [event async for event in stream]
            response = stream.get()
            usage = stream.usage()
    deltas = [e for e in events if isinstance(e, PartDeltaEvent)]
    assert isinstance(events[0], PartStartEvent)
    assert len(deltas) >= 5  # one event per token after the first
    assert _text(response) == _text(plain)
    assert response.finish_reason == 'stop'
    assert usage.response_tokens == 7
    assert len(stream.timing.event_times) == len(events)


async def test_tool_call_round_trip(emulator: Emulator, http_client: httpx.AsyncClient) -> None:
    model = _model(emulator, http_client)
    params = ModelRequestParameters(function_tools=[GET_CAPITAL])
    messages = _ask('What is the capital of France? Use get_capital.')
    response, _ = await model.request(messages, None, params)
    [call] = [part for part in response.parts if isinstance(part, ToolCallPart)]
    assert call.tool_name == 'get_capital'
    assert set(call.args_as_dict()) == {'country'}
    assert response.finish_reason == 'tool_call'
    messages += [
        response,
        ModelRequest(parts=[ToolReturnPart('get_capital', 'Paris', tool_call_id=call.tool_call_id)]),
    ]
    answer, _ = await model.request(messages, None, params)
    assert 'Paris' in _text(answer)


async def test_streamed_tool_call(emulator: Emulator, http_client: httpx.AsyncClient) -> None:
    params = ModelRequestParameters(function_tools=[GET_CAPITAL])
    async with _model(emulator, http_client).request_stream(_ask('Use get_capital'), None, params) as stream:
        async for _ in stream:
            pass
        response = stream.get()
    [call] = response.parts
    assert isinstance(call, ToolCallPart)
    assert call.tool_name == 'get_capital'
    assert call.tool_call_id.startswith('call_')
    assert set(call.args_as_dict()) == {'country'}


class _City(BaseModel):
    city: str
    population: int
    landmarks: list[str]


@pytest.mark.parametrize('stream', [False, True])
async def test_structured_output_via_result_json_schema(
    emulator: Emulator, http_client: httpx.AsyncClient, stream: bool
) -> None:
    params = ModelRequestParameters(
        allow_text_result=False, result_json_schema=_City.model_json_schema(), result_schema_name='city'
    )
    model = _model(emulator, http_client)
    if stream:
        async with model.request_stream(_ask('A city'), None, params) as streamed:
            async for _ in streamed:
                pass
            response = streamed.get()
    else:
        response, _ = await model.request(_ask('A city'), None, params)
    _City.model_validate_json(_text(response))
    sent = orjson.loads(emulator.requests[-1].body)
    assert sent['response_format']['type'] == 'json_schema'


async def test_result_tool_when_tool_choice_is_required(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    result_tool = ToolDefinition('final_result', 'The answer', _City.model_json_schema())
    params = ModelRequestParameters(allow_text_result=False, result_tools=[result_tool])
    response, _ = await _model(emulator, http_client).request(_ask('A city'), None, params)
    [call] = response.parts
    assert isinstance(call, ToolCallPart)
    assert call.tool_name == 'final_result'
    _City.model_validate(call.args_as_dict())


async def test_429_is_retried_after_retry_after(emulator: Emulator, http_client: httpx.AsyncClient) -> None:
    model = _model(emulator, http_client, 'gpt-4o+fault=429+fault-times=1')
    with anyio.fail_after(TEST_TIMEOUT_S):
        response, _ = await model.request(_ask('Hello'), None, NO_TOOLS)
    assert _text(response)
    assert len(emulator.requests) == 2  # the 429, then the retry that succeeded


async def test_429_every_time_raises_model_http_error(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    model = _model(emulator, http_client, 'gpt-4o+fault=429')
    with anyio.fail_after(TEST_TIMEOUT_S), pytest.raises(ModelHTTPError) as info:
        await model.request(_ask('Hello'), None, NO_TOOLS)
    assert info.value.status_code == 429
    assert info.value.retry_after == pytest.approx(0.02)
    assert emulator.api_key not in str(info.value)


async def test_500_then_success_when_streaming(emulator: Emulator, http_client: httpx.AsyncClient) -> None:
    model = _model(emulator, http_client, 'gpt-4o+fault=500+fault-times=1')
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with model.request_stream(_ask('Hello'), None, NO_TOOLS) as stream:
            async for _ in stream:
                pass
    assert stream.get().finish_reason == 'stop'


async def test_bad_key_is_a_401_model_http_error(emulator: Emulator, http_client: httpx.AsyncClient) -> None:
    provider = OpenAIProvider(
        base_url=emulator.base_url('openai'), api_key='sk-not-the-key', http_client=http_client
    )
    with pytest.raises(ModelHTTPError) as info:
        await OpenAIModel('gpt-4o', provider=provider).request(_ask('Hello'), None, NO_TOOLS)
    assert info.value.status_code == 401
    assert 'sk-not-the-key' not in str(info.value)


async def _stream_failure(model: OpenAIModel) -> UnexpectedModelBehavior:
    with anyio.fail_after(TEST_TIMEOUT_S):
        try:
            async with model.request_stream(_ask('Hello'), None, NO_TOOLS) as stream:
                async for _ in stream:
                    pass
        except UnexpectedModelBehavior as exc:
            return exc
    raise AssertionError('the stream finished without an error')


async def test_dropped_stream_raises_with_the_partial_response(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    error = await _stream_failure(_model(emulator, http_client, 'gpt-4o+fault=drop+fault-after=3'))
    assert isinstance(error, StreamInterrupted)
    assert error.partial_response is not None
    assert len(_text(error.partial_response).split()) == 3


async def test_error_inside_the_stream_raises_model_stream_error(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    error = await _stream_failure(_model(emulator, http_client, 'gpt-4o+fault=stream-error+fault-after=2'))
    assert isinstance(error, ModelStreamError)
    assert error.error_type == 'server_error'
    assert error.partial_response is not None
    assert len(_text(error.partial_response).split()) == 2


async def test_truncated_stream_raises_stream_interrupted(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    error = await _stream_failure(_model(emulator, http_client, 'gpt-4o+fault=truncate+fault-after=4'))
    assert isinstance(error, StreamInterrupted)
    assert error.partial_response is not None
    assert len(_text(error.partial_response).split()) == 4


async def test_dropped_plain_response_is_a_connection_error(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    model = _model(emulator, http_client, 'gpt-4o+fault=drop')
    with anyio.fail_after(TEST_TIMEOUT_S), pytest.raises(ModelConnectionError, match='reading the response'):
        await model.request(_ask('Hello'), None, NO_TOOLS)


async def test_cut_plain_body_is_unexpected_model_behavior(
    emulator: Emulator, http_client: httpx.AsyncClient
) -> None:
    model = _model(emulator, http_client, 'gpt-4o+fault=truncate')
    with anyio.fail_after(TEST_TIMEOUT_S), pytest.raises(UnexpectedModelBehavior, match='Invalid JSON'):
        await model.request(_ask('Hello'), None, NO_TOOLS)
