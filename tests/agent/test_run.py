"""Agent.run: the request loop, tools, retries, prompts, history, usage limits, override."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from modelkit import Agent, ModelRetry, RunContext, UnexpectedModelBehavior, Usage, UsageLimits, UserError
from modelkit.exceptions import UsageLimitExceeded
from modelkit.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    ToolReturnPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models.function import AgentInfo, FunctionModel
from modelkit.models.test import TestModel
from modelkit.tools import Tool, ToolDefinition
from tests.agent._models import ScriptedModel, call, calls, last_request, retry_parts, text

pytestmark = pytest.mark.anyio


async def test_text_run_records_messages_and_usage() -> None:
    model = ScriptedModel(text('Paris'))
    agent = Agent(model, system_prompt='Be brief.')
    result = await agent.run('Capital of France?')
    assert result.data == 'Paris'
    assert result.usage() == Usage(requests=1, request_tokens=10, response_tokens=5, total_tokens=15)
    messages = result.all_messages()
    assert len(messages) == 2
    request = messages[0]
    assert isinstance(request, ModelRequest)
    assert [type(p) for p in request.parts] == [SystemPromptPart, UserPromptPart]
    assert isinstance(messages[1], ModelResponse)
    assert messages[1].parts == [TextPart('Paris')]
    params = model.sent[0].params
    assert params.allow_text_result is True
    assert params.result_tools == []
    assert params.function_tools == []


async def test_tools_get_deps_and_context() -> None:
    seen: dict[str, Any] = {}
    model = ScriptedModel(calls(call('lookup', '{"key": "a"}'), call('shout', {'word': 'hi'})), text('done'))
    agent = Agent(model, deps_type=dict)

    @agent.tool
    async def lookup(ctx: RunContext[dict[str, int]], key: str) -> int:
        """Look a key up.

        Args:
            key: Which key.
        """
        seen['ctx'] = ctx
        seen['at_call'] = (ctx.usage.requests, [m.kind for m in ctx.messages])
        return ctx.deps[key]

    @agent.tool_plain(name='shout')
    def loud(word: str) -> str:
        return word.upper()

    result = await agent.run('go', deps={'a': 7})
    assert result.data == 'done'
    ctx = seen['ctx']
    assert ctx.deps == {'a': 7}
    assert ctx.tool_name == 'lookup'
    assert ctx.tool_call_id == 'id_lookup'
    assert ctx.retry == 0
    assert ctx.prompt == 'go'
    assert ctx.model is model
    assert ctx.run_step == 1
    assert seen['at_call'] == (1, ['request', 'response'])  # usage and messages are live views
    tool_defs = {t.name: t for t in model.sent[0].params.function_tools}
    assert tool_defs['lookup'].description == 'Look a key up.'
    assert tool_defs['lookup'].parameters_json_schema['properties']['key']['description'] == 'Which key.'
    assert 'shout' in tool_defs
    returns = last_request(model.sent[1].messages).parts
    assert returns == [
        ToolReturnPart('lookup', 7, 'id_lookup', returns[0].timestamp),  # type: ignore[union-attr]
        ToolReturnPart('shout', 'HI', 'id_shout', returns[1].timestamp),  # type: ignore[union-attr]
    ]


async def test_sync_tools_run_in_a_worker_thread() -> None:
    loop_thread = threading.get_ident()
    tool_threads: list[int] = []
    agent = Agent(ScriptedModel(calls(call('where')), text('ok')))

    @agent.tool_plain
    def where() -> str:
        tool_threads.append(threading.get_ident())
        return 'here'

    await agent.run('go')
    assert len(tool_threads) == 1
    assert tool_threads[0] != loop_thread


async def test_tool_calls_of_one_response_run_concurrently() -> None:
    # Each tool waits for the other to start: run one after the other, they would never finish.
    started = {'a': anyio.Event(), 'b': anyio.Event()}
    agent = Agent(
        ScriptedModel(
            calls(
                call('wait_for', {'me': 'a', 'other': 'b'}, 'c1'),
                call('wait_for', {'me': 'b', 'other': 'a'}, 'c2'),
            ),
            text('ok'),
        )
    )

    @agent.tool_plain
    async def wait_for(me: str, other: str) -> str:
        started[me].set()
        await started[other].wait()
        return me

    with anyio.fail_after(5):
        result = await agent.run('go')
    returns = [
        p
        for m in result.all_messages()
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart)
    ]
    assert [(p.tool_call_id, p.content) for p in returns] == [('c1', 'a'), ('c2', 'b')]


async def test_error_in_one_of_several_tools_propagates_unwrapped() -> None:
    agent = Agent(ScriptedModel(calls(call('boom', {}, 'c1'), call('slow', {}, 'c2'))))

    @agent.tool_plain
    async def boom() -> str:
        raise KeyError('nope')

    @agent.tool_plain
    async def slow() -> str:
        await anyio.sleep(10)
        return 'late'

    with anyio.fail_after(5), pytest.raises(KeyError, match='nope'):
        await agent.run('go')


async def test_invalid_tool_arguments_go_back_as_retry_prompt() -> None:
    model = ScriptedModel(calls(call('double', '{"n": "x"}')), calls(call('double', '{"n": 2}')), text('4'))
    agent = Agent(model)
    retries: list[int] = []

    @agent.tool
    def double(ctx: RunContext[None], n: int) -> int:
        retries.append(ctx.retry)
        return n * 2

    result = await agent.run('go')
    assert result.data == '4'
    (retry,) = retry_parts(result.all_messages())
    assert retry.tool_name == 'double'
    assert retry.tool_call_id == 'id_double'
    assert isinstance(retry.content, list)
    assert retry.content[0]['loc'] == ('n',)
    assert retry.content[0]['type'] == 'int_parsing'
    assert retries == [1]


async def test_model_retry_from_a_tool_then_retries_exhausted() -> None:
    model = ScriptedModel(*[calls(call('flaky', {})) for _ in range(3)])
    agent = Agent(model)

    @agent.tool_plain(retries=2)
    def flaky() -> str:
        raise ModelRetry('try harder')

    with pytest.raises(UnexpectedModelBehavior, match="Tool 'flaky' exceeded max retries count of 2"):
        await agent.run('go')
    assert len(model.sent) == 3
    prompts = retry_parts(model.sent[-1].messages)
    assert [p.content for p in prompts] == ['try harder', 'try harder']
    assert prompts[0].model_response() == 'try harder\n\nFix the errors and try again.'


async def test_tool_retries_default_to_agent_retries() -> None:
    agent = Agent(ScriptedModel(calls(call('bad', {})), calls(call('bad', {}))), retries=0)

    @agent.tool_plain
    def bad() -> str:
        raise ModelRetry('no')

    with pytest.raises(UnexpectedModelBehavior, match='max retries count of 0'):
        await agent.run('go')


async def test_unknown_tool_gets_a_retry_listing_the_tools() -> None:
    model = ScriptedModel(calls(call('nope', {})), text('ok'))
    agent = Agent(model)

    @agent.tool_plain
    def real() -> int:
        return 1

    result = await agent.run('go')
    (retry,) = retry_parts(result.all_messages())
    assert retry.content == "Unknown tool name: 'nope'. Available tools: real"
    assert retry.tool_name == 'nope'


async def test_unknown_tool_without_tools() -> None:
    agent = Agent(ScriptedModel(calls(call('nope', {})), calls(call('nope', {}))))
    with pytest.raises(UnexpectedModelBehavior, match=r'Exceeded maximum retries \(1\)'):
        await agent.run('go')


async def test_tools_passed_to_the_constructor() -> None:
    def plain(a: int) -> int:
        return a + 1

    def with_ctx(ctx: RunContext[int], a: int) -> int:
        return a + ctx.deps

    model = ScriptedModel(calls(call('plain', {'a': 1}), call('add_deps', {'a': 1})), text('ok'))
    agent = Agent(model, deps_type=int, tools=[plain, Tool(with_ctx, name='add_deps')])
    result = await agent.run('go', deps=10)
    returns = last_request(result.all_messages()[:-1]).parts
    assert [p.content for p in returns] == [2, 11]  # type: ignore[union-attr]


async def test_duplicate_tool_names_are_refused() -> None:
    agent = Agent(TestModel())

    @agent.tool_plain
    def twice() -> None:
        return None

    with pytest.raises(UserError, match='conflicts with existing tool'):
        agent.tool_plain(name='twice')(lambda: None)


async def test_prepare_can_change_or_hide_a_tool() -> None:
    model = ScriptedModel(text('ok'))
    agent = Agent(model, deps_type=bool)

    async def only_when_enabled(ctx: RunContext[bool], tool_def: ToolDefinition) -> ToolDefinition | None:
        if not ctx.deps:
            return None
        tool_def.description = 'Enabled.'
        return tool_def

    @agent.tool_plain(prepare=only_when_enabled)
    def secret() -> str:
        return 's'

    await agent.run('go', deps=False)
    assert model.sent[0].params.function_tools == []
    model.steps.append(text('ok'))
    await agent.run('go', deps=True)
    assert [t.description for t in model.sent[1].params.function_tools] == ['Enabled.']


async def test_system_prompts_static_and_dynamic() -> None:
    model = ScriptedModel(text('ok'))
    agent = Agent(model, system_prompt=['one', 'two'], deps_type=str)

    @agent.system_prompt
    def with_ctx(ctx: RunContext[str]) -> str:
        return f'user is {ctx.deps}'

    @agent.system_prompt
    async def without_ctx() -> str:
        return 'async prompt'

    await agent.run('hi', deps='ann')
    parts = model.sent[0].messages[0].parts  # type: ignore[union-attr]
    assert [p.content for p in parts] == ['one', 'two', 'user is ann', 'async prompt', 'hi']  # type: ignore[union-attr]


async def test_message_history_continues_without_repeating_system_prompts() -> None:
    model = ScriptedModel(text('first'), text('second'))
    agent = Agent(model, system_prompt='sys')
    first = await agent.run('one')
    second = await agent.run('two', message_history=first.all_messages())
    assert second.data == 'second'
    sent = model.sent[1].messages
    assert len(sent) == 3
    system_parts = [
        p for m in sent if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, SystemPromptPart)
    ]
    assert len(system_parts) == 1
    assert len(second.all_messages()) == 4
    new = second.new_messages()
    assert len(new) == 2
    assert isinstance(new[0], ModelRequest)
    assert [type(p) for p in new[0].parts] == [UserPromptPart]


async def test_dynamic_system_prompt_is_recomputed_for_a_history() -> None:
    model = ScriptedModel(text('a'), text('b'))
    agent = Agent(model, deps_type=int)

    @agent.system_prompt(dynamic=True)
    def counter(ctx: RunContext[int]) -> str:
        return f'count={ctx.deps}'

    first = await agent.run('x', deps=1)
    history = first.all_messages()
    await agent.run('y', deps=2, message_history=history)
    sent_prompt = model.sent[1].messages[0].parts[0]  # type: ignore[union-attr]
    assert isinstance(sent_prompt, SystemPromptPart)
    assert sent_prompt.content == 'count=2'
    assert sent_prompt.dynamic_ref is not None
    original = history[0].parts[0]  # type: ignore[union-attr]
    assert original.content == 'count=1'  # type: ignore[union-attr]  # the caller's history is not mutated


async def test_history_json_round_trip_continues_the_conversation() -> None:
    model = ScriptedModel(calls(call('get', {})), text('one'), text('two'))
    agent = Agent(model, system_prompt='sys')

    @agent.tool_plain
    def get() -> dict[str, int]:
        return {'n': 1}

    first = await agent.run('q1')
    restored = ModelMessagesTypeAdapter.validate_json(first.all_messages_json())
    assert restored == first.all_messages()
    new_restored = ModelMessagesTypeAdapter.validate_json(first.new_messages_json())
    assert new_restored == first.new_messages()
    second = await agent.run('q2', message_history=restored)
    assert second.data == 'two'
    assert model.sent[2].messages[:-1] == first.all_messages()


async def test_usage_accumulates_and_can_be_continued() -> None:
    agent = Agent(ScriptedModel(calls(call('t', {})), text('ok')))

    @agent.tool_plain
    def t() -> int:
        return 1

    running = Usage(requests=3, request_tokens=1, response_tokens=1, total_tokens=2)
    result = await agent.run('go', usage=running)
    assert result.usage() is running
    assert running == Usage(requests=5, request_tokens=21, response_tokens=11, total_tokens=32)


async def test_request_limit_stops_before_the_request() -> None:
    model = ScriptedModel(calls(call('t', {})), calls(call('t', {})), text('ok'))
    agent = Agent(model)

    @agent.tool_plain
    def t() -> int:
        return 1

    with pytest.raises(UsageLimitExceeded, match='request_limit of 2'):
        await agent.run('go', usage_limits=UsageLimits(request_limit=2))
    assert len(model.sent) == 2


async def test_token_limit_checked_after_each_response() -> None:
    model = ScriptedModel(calls(call('t', {})), text('ok'))
    agent = Agent(model)

    @agent.tool_plain
    def t() -> int:
        return 1

    with pytest.raises(UsageLimitExceeded, match='total_tokens_limit of 20'):
        await agent.run('go', usage_limits=UsageLimits(total_tokens_limit=20))
    assert len(model.sent) == 2


async def test_settings_merge_agent_then_run() -> None:
    model = ScriptedModel(text('ok'))
    agent = Agent(model, model_settings={'temperature': 0.1, 'max_tokens': 10})
    await agent.run('go', model_settings={'temperature': 0.9})
    assert model.sent[0].settings == {'temperature': 0.9, 'max_tokens': 10}


async def test_model_given_per_run_and_missing_model() -> None:
    agent = Agent()
    with pytest.raises(UserError, match='`model` must be set'):
        await agent.run('go')
    result = await agent.run('go', model=ScriptedModel(text('ok')))
    assert result.data == 'ok'


async def test_model_strings_resolve_now_or_at_first_run() -> None:
    agent = Agent('test')
    assert isinstance(agent.model, TestModel)
    with pytest.raises(UserError, match='Unknown model'):
        Agent('no-such-vendor:x')
    deferred = Agent('no-such-vendor:x', defer_model_check=True)
    assert deferred.model == 'no-such-vendor:x'
    with pytest.raises(UserError, match='Unknown model'):
        await deferred.run('go')
    lazy = Agent('test', defer_model_check=True)
    assert lazy.model == 'test'
    assert (await lazy.run('go')).data == 'success (no tool calls)'
    assert isinstance(lazy.model, TestModel)


async def test_override_replaces_model_and_deps() -> None:
    agent = Agent(ScriptedModel(), deps_type=str)

    @agent.system_prompt
    def who(ctx: RunContext[str]) -> str:
        return ctx.deps

    replacement = ScriptedModel(text('overridden'))
    with agent.override(model=replacement, deps='test-deps'):
        result = await agent.run('go', deps='real', model=ScriptedModel())
    assert result.data == 'overridden'
    assert replacement.sent[0].messages[0].parts[0].content == 'test-deps'  # type: ignore[union-attr]
    with pytest.raises(AssertionError, match='ran out'):
        await agent.run('go', deps='real')  # the override is gone: the original model is used again


async def test_result_validator_can_fix_or_retry() -> None:
    model = ScriptedModel(text('bad'), text('good'))
    agent = Agent(model)
    contexts: list[RunContext[None]] = []

    @agent.result_validator
    def check(ctx: RunContext[None], data: str) -> str:
        contexts.append(ctx)
        if data == 'bad':
            raise ModelRetry('say good')
        return data.upper()

    result = await agent.run('go')
    assert result.data == 'GOOD'
    assert [c.retry for c in contexts] == [0, 1]
    (retry,) = retry_parts(result.all_messages())
    assert retry.content == 'say good'
    assert retry.tool_name is None


async def test_async_result_validator_without_context() -> None:
    agent = Agent(ScriptedModel(text('x')))

    @agent.result_validator
    async def shout(data: str) -> str:
        return data + '!'

    assert (await agent.run('go')).data == 'x!'


async def test_empty_response_is_unexpected() -> None:
    agent = Agent(ScriptedModel(ModelResponse([])))
    with pytest.raises(UnexpectedModelBehavior, match='empty model response') as info:
        await agent.run('go')
    assert info.value.partial_response == ModelResponse(
        [], model_name=None, timestamp=info.value.partial_response.timestamp
    )  # type: ignore[union-attr]


async def test_with_test_model_calls_every_tool() -> None:
    agent = Agent(TestModel(), deps_type=int)

    @agent.tool
    def add(ctx: RunContext[int], a: int) -> int:
        return a + ctx.deps

    @agent.tool_plain
    async def name(first: str) -> str:
        return first * 2

    result = await agent.run('go', deps=5)
    assert result.data == '{"add":5,"name":"aa"}'


async def test_with_function_model_sees_tools_and_history() -> None:
    seen: list[AgentInfo] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(info)
        if len(messages) == 1:
            return ModelResponse([call('echo', {'s': 'ping'})])
        last = messages[-1]
        assert isinstance(last, ModelRequest)
        part = last.parts[0]
        assert isinstance(part, ToolReturnPart)
        return ModelResponse([TextPart(f'tool said {part.content}')])

    agent = Agent(FunctionModel(respond))

    @agent.tool_plain
    def echo(s: str) -> str:
        return s

    result = await agent.run('go')
    assert result.data == 'tool said ping'
    assert [t.name for t in seen[0].function_tools] == ['echo']
    assert result.usage().requests == 2


async def test_end_strategy_early_skips_other_tools() -> None:
    class Out(BaseModel):
        v: int

    ran: list[str] = []
    model = ScriptedModel(
        calls(call('final_result', {'v': 1}), call('side', {}), call('final_result', {'v': 2}, 'second'))
    )
    agent = Agent(model, result_type=Out)

    @agent.tool_plain
    def side() -> str:
        ran.append('side')
        return 'x'

    result = await agent.run('go')
    assert result.data == Out(v=1)
    assert ran == []
    last = last_request(result.all_messages())
    assert [(p.tool_name, p.content) for p in last.parts] == [  # type: ignore[union-attr]
        ('final_result', 'Final result processed.'),
        ('side', 'Tool not executed - a final result was already processed.'),
        ('final_result', 'Result tool not used - a final result was already processed.'),
    ]


async def test_end_strategy_exhaustive_runs_other_tools() -> None:
    ran: list[str] = []
    model = ScriptedModel(calls(call('side', {}), call('final_result', {'response': 3})))
    agent = Agent(model, result_type=int, end_strategy='exhaustive')

    @agent.tool_plain
    def side() -> str:
        ran.append('side')
        return 'x'

    result = await agent.run('go')
    assert result.data == 3
    assert ran == ['side']
    last = last_request(result.all_messages())
    assert [(p.tool_name, p.content) for p in last.parts] == [
        ('side', 'x'),
        ('final_result', 'Final result processed.'),
    ]  # type: ignore[union-attr]
    replaced = result.all_messages(result_tool_return_content='All done.')
    assert last_request(replaced).parts[1].content == 'All done.'  # type: ignore[union-attr]
    assert last_request(result.all_messages()).parts[1].content == 'Final result processed.'  # type: ignore[union-attr]


async def test_customize_request_parameters_is_applied() -> None:
    class Strict(ScriptedModel):
        def customize_request_parameters(self, params: ModelRequestParameters) -> ModelRequestParameters:
            for tool in params.function_tools:
                tool.strict = True
            return params

    model = Strict(text('ok'))
    agent = Agent(model)

    @agent.tool_plain
    def t() -> int:
        return 1

    await agent.run('go')
    assert [t.strict for t in model.sent[0].params.function_tools] == [True]


async def test_models_changing_schemas_in_place_do_not_leak_into_later_requests() -> None:
    already_mutated: list[bool] = []

    class Mutating(ScriptedModel):
        def customize_request_parameters(self, params: ModelRequestParameters) -> ModelRequestParameters:
            for tool in [*params.function_tools, *params.result_tools]:
                already_mutated.append('mutated' in tool.parameters_json_schema)
                tool.parameters_json_schema['mutated'] = True
            return params

    model = Mutating(calls(call('t', {})), calls(call('final_result', {'response': 1})), text('x'))
    agent = Agent(model, result_type=int)

    @agent.tool_plain
    def t() -> int:
        return 1

    await agent.run('go')
    await agent.run('again', result_type=str)
    assert already_mutated == [False] * 5
