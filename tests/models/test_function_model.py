"""FunctionModel: sync and async functions, stream functions, and tool-call delta assembly."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel

from modelkit import Agent
from modelkit.exceptions import UserError
from modelkit.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ToolCallPart,
    ToolCallPartDelta,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from modelkit.tools import ToolDefinition
from modelkit.usage import Usage

WEATHER = ToolDefinition('get_weather', 'Weather for a city', {'type': 'object', 'properties': {}})
RESULT = ToolDefinition('final_result', 'The answer', {'type': 'object', 'properties': {}})
PARAMS = ModelRequestParameters(function_tools=[WEATHER], allow_text_result=False, result_tools=[RESULT])


def conversation(text: str = 'What is the weather in Paris?') -> list[ModelMessage]:
    return [ModelRequest([UserPromptPart(text)])]


# -- request ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_sync_function_gets_messages_and_agent_info_and_runs_off_the_event_loop() -> None:
    seen: list[tuple[list[ModelMessage], AgentInfo]] = []
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append((messages, info))
        threads.append(threading.get_ident())
        return ModelResponse([TextPart('Sunny and warm')])

    model = FunctionModel(answer)
    messages = conversation()
    response, usage = await model.request(messages, {'temperature': 0.0}, PARAMS)

    assert response.parts == [TextPart('Sunny and warm')]
    assert response.model_name == 'function:answer:'
    assert seen == [(messages, AgentInfo([WEATHER], False, [RESULT], {'temperature': 0.0}))]
    assert threads != [loop_thread]
    # 50 + 6 prompt words in, 3 words out.
    assert usage == Usage(requests=1, request_tokens=56, response_tokens=3, total_tokens=59)


@pytest.mark.anyio
async def test_async_function_and_its_own_model_name_is_kept() -> None:
    async def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse([ToolCallPart('get_weather', {'city': 'Paris'}, 'c1')], model_name='gpt-4o')

    response, _ = await FunctionModel(answer).request(conversation(), None, PARAMS)
    assert response.parts == [ToolCallPart('get_weather', {'city': 'Paris'}, 'c1')]
    assert response.model_name == 'gpt-4o'


@pytest.mark.anyio
async def test_a_function_returning_something_else_is_a_user_error() -> None:
    def wrong(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return 'hello'  # type: ignore[return-value]

    with pytest.raises(UserError, match='must return a ModelResponse, not str'):
        await FunctionModel(wrong).request(conversation(), None, PARAMS)


def test_construction_needs_a_function_and_names_the_model_after_them() -> None:
    with pytest.raises(UserError, match='needs `function`, `stream_function`, or both'):
        FunctionModel()
    with pytest.raises(UserError, match='must be callable'):
        FunctionModel('nope')  # type: ignore[arg-type]

    def f(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise AssertionError

    async def s(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        yield 'x'

    both = FunctionModel(f, stream_function=s)
    assert (both.model_name, both.system) == ('function:f:s', 'function')
    assert FunctionModel(stream_function=s).model_name == 'function::s'
    assert repr(both) == "FunctionModel(model_name='function:f:s')"


@pytest.mark.anyio
async def test_each_missing_function_gives_a_clear_error() -> None:
    async def s(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        yield 'x'

    def f(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise AssertionError

    with pytest.raises(UserError, match='has no `function`, so it only streams'):
        await FunctionModel(stream_function=s).request(conversation(), None, PARAMS)
    with pytest.raises(UserError, match='has no `stream_function`, so it cannot stream'):
        async with FunctionModel(f).request_stream(conversation(), None, PARAMS):
            pass


# -- streaming --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_streamed_text() -> None:
    infos: list[AgentInfo] = []

    async def words(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        infos.append(info)
        for word in ('Sunny ', 'and ', 'warm'):
            yield word

    model = FunctionModel(stream_function=words)
    async with model.request_stream(conversation(), None, PARAMS) as stream:
        assert stream.usage() == Usage(requests=1, request_tokens=56, response_tokens=0, total_tokens=56)
        events = [event async for event in stream]

    assert infos == [AgentInfo([WEATHER], False, [RESULT], None)]
    assert events == [
        PartStartEvent(0, TextPart('Sunny ')),
        PartDeltaEvent(0, TextPartDelta('and ')),
        PartDeltaEvent(0, TextPartDelta('warm')),
    ]
    response = stream.get()
    assert response.parts == [TextPart('Sunny and warm')]
    assert response.model_name == 'function::words'
    assert stream.usage() == Usage(requests=1, request_tokens=56, response_tokens=3, total_tokens=59)


@pytest.mark.anyio
async def test_tool_call_arguments_split_over_deltas_and_two_parallel_calls() -> None:
    async def calls(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[DeltaToolCalls]:
        yield {0: DeltaToolCall(name='get_weather', tool_call_id='call_a')}
        yield {
            0: DeltaToolCall(json_args='{"city": "Pa'),
            1: DeltaToolCall(name='get_', tool_call_id='call_b'),
        }
        yield {1: DeltaToolCall(name='weather', json_args='{"city": ')}
        yield {0: DeltaToolCall(json_args='ris"}'), 1: DeltaToolCall(json_args='"Rome"}')}

    async with FunctionModel(stream_function=calls).request_stream(conversation(), None, PARAMS) as stream:
        events = [event async for event in stream]

    assert events == [
        PartStartEvent(0, ToolCallPart('get_weather', '', 'call_a')),
        PartDeltaEvent(0, ToolCallPartDelta(args_delta='{"city": "Pa')),
        PartStartEvent(1, ToolCallPart('get_', '', 'call_b')),
        PartDeltaEvent(1, ToolCallPartDelta('weather', '{"city": ')),
        PartDeltaEvent(0, ToolCallPartDelta(args_delta='ris"}')),
        PartDeltaEvent(1, ToolCallPartDelta(args_delta='"Rome"}')),
    ]
    parts = stream.get().parts
    assert parts == [
        ToolCallPart('get_weather', '{"city": "Paris"}', 'call_a'),
        ToolCallPart('get_weather', '{"city": "Rome"}', 'call_b'),
    ]
    assert [part.args_as_dict() for part in parts if isinstance(part, ToolCallPart)] == [
        {'city': 'Paris'},
        {'city': 'Rome'},
    ]
    assert stream.usage().response_tokens is not None
    assert stream.usage().response_tokens > 2


@pytest.mark.anyio
async def test_arguments_before_the_name_wait_for_it() -> None:
    async def late_name(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[DeltaToolCalls]:
        yield {0: DeltaToolCall(json_args='{"x": 1}')}
        yield {0: DeltaToolCall(name='final_result', tool_call_id='c')}

    async with FunctionModel(stream_function=late_name).request_stream(
        conversation(), None, PARAMS
    ) as stream:
        events = [event async for event in stream]
    assert events == [PartStartEvent(0, ToolCallPart('final_result', '{"x": 1}', 'c'))]


@pytest.mark.anyio
async def test_text_then_a_tool_call_in_one_stream() -> None:
    async def mixed(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
        yield 'Let me check. '
        yield {0: DeltaToolCall('get_weather', '{}', 'c1')}

    async with FunctionModel(stream_function=mixed).request_stream(conversation(), None, PARAMS) as stream:
        _ = [event async for event in stream]
    assert stream.get().parts == [TextPart('Let me check. '), ToolCallPart('get_weather', '{}', 'c1')]


@pytest.mark.anyio
async def test_stream_function_errors_surface_at_open_and_its_generator_is_closed() -> None:
    closed: list[bool] = []

    async def empty(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        return
        yield

    async def fails(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        raise RuntimeError('boom at start')
        yield

    async def endless(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        try:
            while True:
                yield 'more '
        finally:
            closed.append(True)

    with pytest.raises(UserError, match='yielded nothing'):
        async with FunctionModel(stream_function=empty).request_stream(conversation(), None, PARAMS):
            raise AssertionError('not reached')
    with pytest.raises(RuntimeError, match='boom at start'):
        async with FunctionModel(stream_function=fails).request_stream(conversation(), None, PARAMS):
            raise AssertionError('not reached')

    async with FunctionModel(stream_function=endless).request_stream(conversation(), None, PARAMS) as stream:
        async for _event in stream:
            break
    assert closed == [True]
    assert stream.get().parts == [TextPart('more ')]


@pytest.mark.anyio
async def test_yielding_the_wrong_type_is_a_user_error() -> None:
    async def wrong(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[object]:
        yield 42

    async def wrong_delta(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[object]:
        yield {0: {'name': 'x'}}

    for fn, message in (
        (wrong, 'yield str or DeltaToolCalls, not int'),
        (wrong_delta, 'must be DeltaToolCall'),
    ):
        model = FunctionModel(stream_function=fn)  # type: ignore[arg-type]
        with pytest.raises(UserError, match=message):
            async with model.request_stream(conversation(), None, PARAMS) as stream:
                _ = [event async for event in stream]


# -- through the Agent ------------------------------------------------------------------------


class Forecast(BaseModel):
    city: str
    temperature_c: float


@pytest.mark.anyio
async def test_agent_with_a_function_that_calls_a_tool_then_answers() -> None:
    def script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            assert [t.name for t in info.function_tools] == ['get_weather']
            assert info.allow_text_result is True
            return ModelResponse([ToolCallPart('get_weather', {'city': 'Paris'}, 'w1')])
        tool_return = messages[-1].parts[0]  # type: ignore[union-attr]
        return ModelResponse([TextPart(f'It is {tool_return.content} in Paris')])  # type: ignore[union-attr]

    agent = Agent(FunctionModel(script))

    @agent.tool_plain
    def get_weather(city: str) -> str:
        return 'sunny'

    result = await agent.run('Weather?')
    assert result.data == 'It is sunny in Paris'
    assert result.all_messages()[-1].model_name == 'function:script:'  # type: ignore[union-attr]
    assert result.usage().requests == 2


@pytest.mark.anyio
async def test_agent_override_with_a_stream_function_streams_a_structured_result() -> None:
    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[DeltaToolCalls]:
        assert [t.name for t in info.result_tools] == ['final_result']
        yield {0: DeltaToolCall('final_result', '{"city": "Par', 'r1')}
        yield {0: DeltaToolCall(json_args='is", "temperature_c"')}
        yield {0: DeltaToolCall(json_args=': 21.5}')}

    agent: Agent[None, Forecast] = Agent('test', result_type=Forecast)
    with agent.override(model=FunctionModel(stream_function=stream)):
        async with agent.run_stream('Forecast?') as result:
            responses = [response async for response, _ in result.stream_structured(debounce_by=None)]
            data = await result.get_data()
    assert data == Forecast(city='Paris', temperature_c=21.5)
    args = [r.parts[0].args for r in responses]  # type: ignore[union-attr]
    # The agent read the first delta to recognise the result tool; the rest arrive one by one.
    assert args == [
        '{"city": "Par',
        '{"city": "Paris", "temperature_c"',
        '{"city": "Paris", "temperature_c": 21.5}',
        '{"city": "Paris", "temperature_c": 21.5}',
    ]
    assert responses[-1].model_name == 'function::stream'
    assert result.usage().requests == 1


@pytest.mark.anyio
async def test_agent_stream_of_partial_results_from_tool_call_deltas() -> None:
    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[DeltaToolCalls]:
        yield {0: DeltaToolCall('final_result', '{"city": "Par', 'r1')}
        yield {0: DeltaToolCall(json_args='is", "temperature_c": 2')}
        yield {0: DeltaToolCall(json_args='1.5}')}

    agent: Agent[None, Forecast] = Agent(FunctionModel(stream_function=stream), result_type=Forecast)
    async with agent.run_stream('Forecast?') as result:
        partials = [data async for data in result.stream(debounce_by=None)]
    # Partial data that does not validate yet (temperature_c missing) is skipped.
    assert partials == [
        Forecast(city='Paris', temperature_c=2),
        Forecast(city='Paris', temperature_c=21.5),
        Forecast(city='Paris', temperature_c=21.5),
    ]
