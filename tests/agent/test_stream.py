"""Agent.run_stream: streaming text and structured partials, tool calls before the final response."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel

from modelkit import Agent, ModelRetry, RunContext, UnexpectedModelBehavior, Usage, UsageLimits, UserError
from modelkit.exceptions import UsageLimitExceeded
from modelkit.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from modelkit.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from modelkit.models.test import TestModel
from tests.agent._models import ScriptedModel, call, calls, last_request, text

pytestmark = pytest.mark.anyio


class Person(BaseModel):
    name: str
    age: int


async def test_stream_text_cumulative() -> None:
    agent = Agent(ScriptedModel(text('Hello world!'), chunk_size=4))
    async with agent.run_stream('hi') as result:
        assert not result.is_complete
        chunks = [c async for c in result.stream_text(debounce_by=None)]
        assert result.is_complete
    assert chunks == ['Hell', 'Hello wo', 'Hello world!']
    assert await result.get_data() == 'Hello world!'
    assert result.usage() == Usage(requests=1, request_tokens=10, response_tokens=5, total_tokens=15)
    messages = result.all_messages()
    assert isinstance(messages[-1], ModelResponse)
    assert messages[-1].parts == [TextPart('Hello world!')]


async def test_stream_text_delta() -> None:
    agent = Agent(ScriptedModel(text('Hello world!'), chunk_size=4))
    async with agent.run_stream('hi') as result:
        deltas = [c async for c in result.stream_text(delta=True, debounce_by=None)]
    assert deltas == ['Hell', 'o wo', 'rld!']


async def test_stream_text_debounce_coalesces_and_keeps_everything() -> None:
    agent = Agent(ScriptedModel(text('abcdefghij'), chunk_size=1))
    async with agent.run_stream('hi') as result:
        deltas = [c async for c in result.stream_text(delta=True, debounce_by=60)]
    # The first chunk arrives before streaming starts; everything after is held for the window,
    # then flushed at the end: nothing is lost.
    assert deltas == ['a', 'bcdefghij']


async def test_stream_after_tool_calls_and_messages() -> None:
    model = ScriptedModel(calls(call('get_name', {})), text('The name is Ann'))
    agent = Agent(model, deps_type=str)

    @agent.tool
    def get_name(ctx: RunContext[str]) -> str:
        return ctx.deps

    async with agent.run_stream('who?', deps='Ann') as result:
        assert [m.kind for m in result.all_messages()] == ['request', 'response', 'request']
        assert result.usage().requests == 2
        text_out = [t async for t in result.stream_text()]
    assert text_out[-1] == 'The name is Ann'
    assert result.usage() == Usage(requests=2, request_tokens=20, response_tokens=10, total_tokens=30)
    assert [m.kind for m in result.new_messages()] == ['request', 'response', 'request', 'response']
    returns = last_request(result.all_messages()[:-1]).parts
    assert [(p.tool_name, p.content) for p in returns] == [('get_name', 'Ann')]  # type: ignore[union-attr]


async def test_stream_structured_partials() -> None:
    args = '{"age": 42, "name": "Annabel"}'
    model = ScriptedModel(calls(call('final_result', args)), chunk_size=5)
    agent = Agent(model, result_type=Person)
    async with agent.run_stream('go') as result:
        with pytest.raises(UserError, match='stream_text'):
            async for _ in result.stream_text():
                pass
        partials = [p async for p in result.stream(debounce_by=None)]
    # Partials validate only once both required fields have (at least partly) arrived.
    assert partials == [
        Person(name='Anna', age=42),
        Person(name='Annabel', age=42),
        Person(name='Annabel', age=42),
    ]
    assert await result.get_data() == Person(name='Annabel', age=42)
    last = last_request(result.all_messages())
    assert [(p.tool_name, p.content) for p in last.parts] == [('final_result', 'Final result processed.')]  # type: ignore[union-attr]


async def test_stream_partial_strings_are_kept() -> None:
    class Story(BaseModel):
        text: str

    agent = Agent(
        ScriptedModel(calls(call('final_result', '{"text": "once upon a time"}')), chunk_size=6),
        result_type=Story,
    )
    async with agent.run_stream('go') as result:
        partials = [p.text async for p in result.stream(debounce_by=None)]
    assert partials[0] == 'on'
    assert partials[-1] == 'once upon a time'
    assert partials == sorted(partials, key=len)


async def test_stream_structured_responses() -> None:
    agent = Agent(
        ScriptedModel(calls(call('final_result', '{"response": [1, 2, 3]}')), chunk_size=4),
        result_type=list[int],
    )
    async with agent.run_stream('go') as result:
        items = [(m, last) async for m, last in result.stream_structured(debounce_by=None)]
        assert items[-1][1] is True
        assert all(not last for _, last in items[:-1])
        final_message = items[-1][0]
        assert await result.validate_structured_result(final_message) == [1, 2, 3]
        with pytest.raises(UnexpectedModelBehavior, match='Field required'):
            await result.validate_structured_result(items[1][0], allow_partial=True)
    assert await result.get_data() == [1, 2, 3]


async def test_get_data_without_iterating() -> None:
    agent = Agent(ScriptedModel(text('whole')))
    async with agent.run_stream('go') as result:
        assert await result.get_data() == 'whole'
        assert result.is_complete
        with pytest.raises(UserError, match='already been consumed'):
            async for _ in result.stream_text():
                pass


async def test_stream_of_text_result_type_yields_text() -> None:
    agent = Agent(ScriptedModel(text('one two'), chunk_size=4))

    @agent.result_validator
    def upper(data: str) -> str:
        return data.upper()

    async with agent.run_stream('go') as result:
        items = [t async for t in result.stream()]
    # Validators run only on the final result.
    assert items == ['one ', 'one two', 'ONE TWO']


async def test_invalid_streamed_result_cannot_be_retried() -> None:
    agent = Agent(ScriptedModel(calls(call('final_result', '{"name": "x"}'))), result_type=Person)
    async with agent.run_stream('go') as result:
        with pytest.raises(UnexpectedModelBehavior, match='Invalid streamed result') as info:
            await result.get_data()
        with pytest.raises(UnexpectedModelBehavior, match='Invalid streamed result'):
            await result.get_data()
    assert info.value.partial_response is not None
    assert [m.kind for m in result.all_messages()] == ['request', 'response']


async def test_streamed_validator_retry_is_unexpected() -> None:
    agent = Agent(ScriptedModel(text('no')))

    @agent.result_validator
    def never(data: str) -> str:
        raise ModelRetry('again')

    async with agent.run_stream('go') as result:
        with pytest.raises(UnexpectedModelBehavior, match='again'):
            await result.get_data()


async def test_stream_with_test_model() -> None:
    agent = Agent(TestModel(custom_result_text='a b c'))
    async with agent.run_stream('go') as result:
        deltas = [d async for d in result.stream_text(delta=True)]
    assert ''.join(deltas) == 'a b c'
    assert result.timing.started_at is not None
    assert len(result.timing.event_times) == 3


async def test_stream_with_function_model_tool_then_text() -> None:
    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
        if len(messages) == 1:
            yield {0: DeltaToolCall(name='add', tool_call_id='c1')}
            yield {0: DeltaToolCall(json_args='{"a": 1, ')}
            yield {0: DeltaToolCall(json_args='"b": 2}')}
        else:
            yield 'sum is '
            ret = messages[-1].parts[0]  # type: ignore[union-attr]
            assert isinstance(ret, ToolReturnPart)
            yield str(ret.content)

    agent = Agent(FunctionModel(stream_function=stream))

    @agent.tool_plain
    def add(a: int, b: int) -> int:
        return a + b

    async with agent.run_stream('go') as result:
        out = [t async for t in result.stream_text()]
    assert out == ['sum is ', 'sum is 3']


async def test_stream_end_strategy_early_answers_other_calls() -> None:
    model = ScriptedModel(calls(call('final_result', {'response': 1}), call('side', {})))
    agent = Agent(model, result_type=int)
    ran: list[str] = []

    @agent.tool_plain
    def side() -> None:
        ran.append('side')

    async with agent.run_stream('go') as result:
        assert await result.get_data() == 1
    assert ran == []
    last = last_request(result.all_messages())
    assert [(p.tool_name, p.content) for p in last.parts] == [  # type: ignore[union-attr]
        ('final_result', 'Final result processed.'),
        ('side', 'Tool not executed - a final result was already processed.'),
    ]


async def test_stream_text_then_tool_call_exhaustive_runs_the_tool() -> None:
    model = ScriptedModel(calls(TextPart('Done, and logging it.'), call('log', {'line': 'x'})))
    agent = Agent(model, end_strategy='exhaustive')
    logged: list[str] = []

    @agent.tool_plain
    def log(line: str) -> None:
        logged.append(line)

    async with agent.run_stream('go') as result:
        assert await result.get_data() == 'Done, and logging it.'
    assert logged == ['x']


async def test_stream_respects_usage_limits() -> None:
    model = ScriptedModel(calls(call('t', {})), text('never'))
    agent = Agent(model)

    @agent.tool_plain
    def t() -> int:
        return 1

    with pytest.raises(UsageLimitExceeded, match='request_limit of 1'):
        async with agent.run_stream('go', usage_limits=UsageLimits(request_limit=1)):
            pass


async def test_stream_union_result_tool() -> None:
    class Cat(BaseModel):
        meow: bool

    model = ScriptedModel(calls(call('final_result_Person', '{"name": "A", "age": 1}')))
    agent = Agent(model, result_type=Cat | Person)  # type: ignore[arg-type]
    async with agent.run_stream('go') as result:
        assert await result.get_data() == Person(name='A', age=1)


async def test_stream_native_mode_partials() -> None:
    agent = Agent(
        ScriptedModel(text('{"name": "Bo", "age": 30}'), chunk_size=6),
        result_type=Person,
        result_mode='native',
    )
    async with agent.run_stream('go') as result:
        partials = [p async for p in result.stream(debounce_by=None)]
    # '{"name": "Bo", "age": 30' already validates; then the closing brace; then the final data.
    assert partials == [Person(name='Bo', age=30)] * 3


async def test_streamed_tool_call_args_assemble_in_history() -> None:
    agent = Agent(
        ScriptedModel(calls(call('final_result', '{"response": ["abc"]}')), chunk_size=2),
        result_type=list[str],
    )
    async with agent.run_stream('go') as result:
        assert await result.get_data() == ['abc']
    response = result.all_messages()[-2]
    assert isinstance(response, ModelResponse)
    (part,) = response.parts
    assert isinstance(part, ToolCallPart)
    assert part.args == '{"response": ["abc"]}'
    assert isinstance(result.all_messages()[-1], ModelRequest)


async def test_result_tool_name_streamed_in_pieces_is_still_found() -> None:
    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
        yield {0: DeltaToolCall(name='final_', tool_call_id='c1')}
        yield {0: DeltaToolCall(name='result', json_args='{"response": ')}
        yield {0: DeltaToolCall(json_args='5}')}

    agent = Agent(FunctionModel(stream_function=stream), result_type=int)
    async with agent.run_stream('go') as result:
        items = [x async for x in result.stream()]
    assert items[-1] == 5
    last = last_request(result.all_messages())
    assert [(p.tool_name, p.content) for p in last.parts] == [('final_result', 'Final result processed.')]  # type: ignore[union-attr]
