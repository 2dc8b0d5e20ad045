"""TestModel: schema-valid tool arguments, the call-then-answer flow, usage, and streaming."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field, TypeAdapter

from modelkit import Agent, ModelRetry, RunContext
from modelkit.exceptions import UserError
from modelkit.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    RetryPromptPart,
    TextPart,
    TextPartDelta,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters, infer_model
from modelkit.models.function import AgentInfo, FunctionModel
from modelkit.models.test import TestModel, generate_from_schema
from modelkit.tools import ToolDefinition
from modelkit.usage import Usage

# -- schemas ----------------------------------------------------------------------------------


class Colour(enum.StrEnum):
    RED = 'red'
    GREEN = 'green'


class Address(BaseModel):
    street: str
    postcode: str = Field(min_length=5, max_length=8)


class Person(BaseModel):
    name: str
    age: int = Field(ge=18, le=120)
    height_m: float = Field(gt=0, lt=3)
    colour: Colour
    kind: Literal['customer'] = 'customer'
    address: Address
    previous: list[Address]
    nickname: str | None
    born: dt.date
    tags: dict[str, int]
    active: bool


class Node(BaseModel):
    name: str
    children: list[Node] = []


def tool(name: str, schema: dict[str, Any], outer_key: str | None = None) -> ToolDefinition:
    return ToolDefinition(name, f'the {name} tool', schema, outer_typed_dict_key=outer_key)


def params(
    function_tools: list[ToolDefinition] | None = None,
    *,
    allow_text_result: bool = True,
    result_tools: list[ToolDefinition] | None = None,
    result_json_schema: dict[str, Any] | None = None,
) -> ModelRequestParameters:
    return ModelRequestParameters(
        function_tools=function_tools or [],
        allow_text_result=allow_text_result,
        result_tools=result_tools or [],
        result_json_schema=result_json_schema,
    )


def user(text: str) -> ModelRequest:
    return ModelRequest([UserPromptPart(text)])


WEATHER = tool(
    'get_weather',
    {
        'type': 'object',
        'properties': {'city': {'type': 'string'}, 'days': {'type': 'integer', 'minimum': 1, 'maximum': 7}},
        'required': ['city', 'days'],
    },
)
TIME = tool('get_time', {'type': 'object', 'properties': {}})


# -- the schema generator ---------------------------------------------------------------------


def test_nested_schema_with_defs_enums_and_formats_gives_the_documented_values() -> None:
    assert generate_from_schema(Person.model_json_schema()) == {
        'name': 'a',
        'age': 18,
        'height_m': 1.0,
        'colour': 'red',
        'kind': 'customer',
        'address': {'street': 'a', 'postcode': 'aaaaa'},
        'previous': [{'street': 'a', 'postcode': 'aaaaa'}],
        'nickname': 'a',
        'born': '2024-01-01',
        'tags': {'additionalProperty': 0},
        'active': False,
    }


def test_seed_changes_the_values_and_they_still_validate() -> None:
    values = [generate_from_schema(Person.model_json_schema(), seed=seed) for seed in range(4)]
    people = [Person.model_validate(value) for value in values]
    assert [p.colour for p in people] == [Colour.RED, Colour.GREEN, Colour.RED, Colour.GREEN]
    assert [p.name for p in people] == ['a', 'b', 'c', 'd']
    assert [p.nickname for p in people] == ['a', None, 'c', None]  # anyOf option picked by seed
    assert [p.active for p in people] == [False, True, False, True]
    assert [p.born for p in people] == [dt.date(2024, 1, d) for d in (1, 2, 3, 4)]
    assert generate_from_schema(Person.model_json_schema(), seed=3) == values[3]  # deterministic


@pytest.mark.parametrize(
    'annotation',
    [
        int,
        list[int],
        tuple[int, str, bool],
        dict[str, list[float]],
        Literal['x', 'y', 'z'],
        dt.datetime,
        dt.time,
        dt.timedelta,
        list[Node],
        Person | Address,
        Annotated[float, Field(ge=-3.5, lt=-1)],
        Annotated[float, Field(gt=0, lt=0.5)],
        Annotated[int, Field(gt=-5, lt=3, multiple_of=2)],
        Annotated[int, Field(le=-10)],
        Annotated[str, Field(min_length=2, max_length=4)],
        Annotated[list[int], Field(min_length=2)],
    ],
    ids=lambda a: repr(a).replace('typing.', '')[:50],
)
@pytest.mark.parametrize('seed', [0, 1, 7, 30])
def test_generated_values_validate_against_the_type_that_made_the_schema(annotation: Any, seed: int) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    value = generate_from_schema(adapter.json_schema(), seed=seed)
    adapter.validate_python(value, strict=False)


def test_recursive_schema_ends() -> None:
    value = generate_from_schema(Node.model_json_schema())
    Node.model_validate(value)
    depth = 0
    while value.get('children'):
        value = value['children'][0]
        depth += 1
    assert 1 <= depth < 10


def test_const_with_a_falsy_value_is_kept() -> None:
    assert generate_from_schema({'const': 0}) == 0
    assert generate_from_schema({'type': 'object', 'properties': {'x': {'const': False}}}) == {'x': False}


def test_array_limits_and_unique_items() -> None:
    schema = {'type': 'array', 'items': {'enum': ['a', 'b', 'c']}, 'minItems': 3, 'uniqueItems': True}
    assert generate_from_schema(schema) == ['a', 'b', 'c']
    assert generate_from_schema({'type': 'array', 'items': {'type': 'integer'}, 'maxItems': 0}) == []


def test_schemas_we_cannot_satisfy_raise_user_error() -> None:
    with pytest.raises(UserError, match='points at nothing'):
        generate_from_schema({'$ref': '#/$defs/Missing'})
    with pytest.raises(UserError, match='only local'):
        generate_from_schema({'$ref': 'https://example.com/schema.json'})
    with pytest.raises(UserError, match="type 'tuple'"):
        generate_from_schema({'type': 'tuple'})
    with pytest.raises(UserError, match='no number'):
        generate_from_schema({'type': 'integer', 'minimum': 3, 'maximum': 2})
    forever = {
        '$defs': {'A': {'type': 'object', 'properties': {'a': {'$ref': '#/$defs/A'}}, 'required': ['a']}}
    }
    with pytest.raises(UserError, match='without end'):
        generate_from_schema({**forever, '$ref': '#/$defs/A'})


# -- the request flow -------------------------------------------------------------------------


def tool_returns(response: ModelResponse, contents: dict[str, Any]) -> ModelRequest:
    return ModelRequest(
        [
            ToolReturnPart(part.tool_name, contents[part.tool_name], part.tool_call_id)
            for part in response.parts
            if isinstance(part, ToolCallPart)
        ]
    )


@pytest.mark.anyio
async def test_first_request_calls_every_tool_then_summarises_their_returns() -> None:
    model = TestModel()
    p = params([WEATHER, TIME])
    messages: list[ModelMessage] = [user('What is the weather?')]
    first, _ = await model.request(messages, None, p)
    assert first.parts == [
        ToolCallPart('get_weather', {'city': 'a', 'days': 1}, 'call_test_0_0'),
        ToolCallPart('get_time', {}, 'call_test_0_1'),
    ]
    assert first.model_name == 'test'
    assert first.finish_reason == 'tool_call'
    assert model.last_model_request_parameters is p

    messages += [first, tool_returns(first, {'get_weather': {'temp': 21}, 'get_time': '12:00'})]
    second, usage = await model.request(messages, None, p)
    assert second.parts == [TextPart('{"get_weather":{"temp":21},"get_time":"12:00"}')]
    assert second.finish_reason == 'stop'
    assert usage.requests == 1


@pytest.mark.anyio
async def test_without_tools_the_answer_says_so() -> None:
    response, _ = await TestModel().request([user('hi')], None, params())
    assert response.parts == [TextPart('success (no tool calls)')]


@pytest.mark.anyio
async def test_call_tools_selects_which_tools_are_called() -> None:
    response, _ = await TestModel(call_tools=['get_time']).request(
        [user('hi')], None, params([WEATHER, TIME])
    )
    assert [p.tool_name for p in response.parts if isinstance(p, ToolCallPart)] == ['get_time']
    response, _ = await TestModel(call_tools=[]).request([user('hi')], None, params([WEATHER, TIME]))
    assert response.parts == [TextPart('success (no tool calls)')]
    with pytest.raises(UserError, match=r"unknown tools \['nope'\]; the agent offers: get_time, get_weather"):
        await TestModel(call_tools=['nope']).request([user('hi')], None, params([WEATHER, TIME]))


def test_constructor_rejects_contradictions() -> None:
    with pytest.raises(UserError, match='not both'):
        TestModel(custom_result_text='x', custom_result_args={'a': 1})
    with pytest.raises(UserError, match='call_tools'):
        TestModel(call_tools='get_time')  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_custom_result_text() -> None:
    response, _ = await TestModel(custom_result_text='Paris').request([user('capital?')], None, params())
    assert response.parts == [TextPart('Paris')]
    result_tool = tool('final_result', Address.model_json_schema())
    with pytest.raises(UserError, match='does not accept a text result'):
        await TestModel(custom_result_text='Paris').request(
            [user('capital?')], None, params(allow_text_result=False, result_tools=[result_tool])
        )


@pytest.mark.anyio
async def test_structured_result_calls_the_result_tool() -> None:
    result_tool = tool('final_result', Address.model_json_schema())
    p = params(allow_text_result=False, result_tools=[result_tool])
    response, _ = await TestModel().request([user('where?')], None, p)
    assert response.parts == [
        ToolCallPart('final_result', {'street': 'a', 'postcode': 'aaaaa'}, 'call_test_0_0')
    ]

    custom = TestModel(custom_result_args={'street': 'High St', 'postcode': 'AB123'})
    response, _ = await custom.request([user('where?')], None, p)
    assert response.parts == [
        ToolCallPart('final_result', {'street': 'High St', 'postcode': 'AB123'}, 'call_test_0_0')
    ]


@pytest.mark.anyio
async def test_union_result_uses_the_first_result_tool_and_wrapped_types_get_their_key() -> None:
    person = tool('final_result_Person', Person.model_json_schema())
    wrapped = tool(
        'final_result_list',
        {'type': 'object', 'properties': {'response': {'type': 'array', 'items': {'type': 'integer'}}}},
        outer_key='response',
    )
    p = params(allow_text_result=False, result_tools=[wrapped, person])
    response, _ = await TestModel().request([user('q')], None, p)
    assert response.parts == [ToolCallPart('final_result_list', {'response': [0]}, 'call_test_0_0')]
    response, _ = await TestModel(custom_result_args=[1, 2]).request([user('q')], None, p)
    assert response.parts == [ToolCallPart('final_result_list', {'response': [1, 2]}, 'call_test_0_0')]
    response, _ = await TestModel(seed=1).request([user('q')], None, p)
    assert isinstance(response.parts[0], ToolCallPart)
    assert response.parts[0].tool_name == 'final_result_Person'


@pytest.mark.anyio
async def test_text_allowed_alongside_result_tools_answers_in_text() -> None:
    # `result_type=str | Address`: as in PydanticAI, plain text wins unless custom_result_args is set.
    result_tool = tool('final_result', Address.model_json_schema())
    p = params(allow_text_result=True, result_tools=[result_tool])
    response, _ = await TestModel().request([user('q')], None, p)
    assert response.parts == [TextPart('success (no tool calls)')]
    response, _ = await TestModel(custom_result_args={'street': 's', 'postcode': '12345'}).request(
        [user('q')], None, p
    )
    assert isinstance(response.parts[0], ToolCallPart)


@pytest.mark.anyio
async def test_native_json_result_is_text_matching_the_schema() -> None:
    p = params(result_json_schema=Address.model_json_schema())
    response, _ = await TestModel().request([user('q')], None, p)
    assert response.parts == [TextPart('{"street":"a","postcode":"aaaaa"}')]
    Address.model_validate_json(response.parts[0].content)  # type: ignore[union-attr]
    response, _ = await TestModel(custom_result_args={'street': 'x', 'postcode': 'yyyyy'}).request(
        [user('q')], None, p
    )
    assert response.parts == [TextPart('{"street":"x","postcode":"yyyyy"}')]
    with pytest.raises(UserError, match='no structured result type'):
        await TestModel(custom_result_args={'a': 1}).request([user('q')], None, params())


@pytest.mark.anyio
async def test_retry_prompt_makes_it_call_that_tool_again() -> None:
    model = TestModel()
    p = params([WEATHER, TIME])
    first, _ = await model.request([user('q')], None, p)
    retry = ModelRequest(
        [
            RetryPromptPart('days must be at least 2', tool_name='get_weather', tool_call_id='call_test_0_0'),
            ToolReturnPart('get_time', '12:00', 'call_test_0_1'),
        ]
    )
    again, _ = await model.request([user('q'), first, retry], None, p)
    assert again.parts == [ToolCallPart('get_weather', {'city': 'a', 'days': 1}, 'call_test_1_0')]


@pytest.mark.anyio
async def test_retry_of_the_result_tool_calls_it_again_and_unnamed_retries_answer_again() -> None:
    result_tool = tool('final_result', Address.model_json_schema())
    p = params(allow_text_result=False, result_tools=[result_tool])
    model = TestModel()
    first, _ = await model.request([user('q')], None, p)
    retry = ModelRequest(
        [RetryPromptPart('bad postcode', tool_name='final_result', tool_call_id='call_test_0_0')]
    )
    again, _ = await model.request([user('q'), first, retry], None, p)
    assert [type(part) for part in again.parts] == [ToolCallPart]
    assert again.parts[0].tool_call_id == 'call_test_1_0'  # type: ignore[union-attr]

    text_retry = ModelRequest([RetryPromptPart('try harder')])
    reply, _ = await TestModel(custom_result_text='ok').request(
        [user('q'), ModelResponse([TextPart('no')]), text_retry], None, params()
    )
    assert reply.parts == [TextPart('ok')]


# -- usage ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_usage_is_estimated_from_word_counts() -> None:
    model = TestModel(custom_result_text='The capital is Paris.')
    response, usage = await model.request([user('What is the capital of France?')], None, params())
    assert response.parts == [TextPart('The capital is Paris.')]
    # 50 for the request itself + 6 prompt words; 4 answer words.
    assert usage == Usage(requests=1, request_tokens=56, response_tokens=4, total_tokens=60)

    _, usage = await TestModel().request([user('weather')], None, params([WEATHER]))
    # The call counts 1, plus the pieces of '{"city":"a","days":1}' between `"`, `:` and `,`:
    # `{`, `city`, `a`, `days`, `1}`.
    assert usage.response_tokens == 1 + 5


# -- streaming --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_stream_of_text_comes_word_by_word_and_matches_the_unstreamed_answer() -> None:
    model = TestModel(custom_result_text='The capital is Paris.')
    messages: list[ModelMessage] = [user('What is the capital of France?')]
    expected, expected_usage = await model.request(messages, None, params())
    async with model.request_stream(messages, None, params()) as stream:
        assert stream.usage() == Usage(requests=1, request_tokens=56, response_tokens=0, total_tokens=56)
        events = [event async for event in stream]
    assert events == [
        PartStartEvent(0, TextPart('The ')),
        PartDeltaEvent(0, TextPartDelta('capital ')),
        PartDeltaEvent(0, TextPartDelta('is ')),
        PartDeltaEvent(0, TextPartDelta('Paris.')),
    ]
    response = stream.get()
    assert response.parts == expected.parts
    assert response.model_name == 'test'
    assert response.finish_reason == 'stop'
    assert stream.usage() == expected_usage
    assert len(stream.timing.event_times) == 4
    assert stream.timing.time_to_first_token is not None


@pytest.mark.anyio
async def test_stream_of_tool_calls_yields_one_part_per_call() -> None:
    model = TestModel()
    messages: list[ModelMessage] = [user('q')]
    expected, expected_usage = await model.request(messages, None, params([WEATHER, TIME]))
    async with model.request_stream(messages, None, params([WEATHER, TIME])) as stream:
        events = [event async for event in stream]
    assert events == [PartStartEvent(0, expected.parts[0]), PartStartEvent(1, expected.parts[1])]
    assert stream.get().parts == expected.parts
    assert stream.get().finish_reason == 'tool_call'
    assert stream.usage() == expected_usage


def test_model_string_and_names() -> None:
    model = infer_model('test')
    assert isinstance(model, TestModel)
    assert (model.model_name, model.system) == ('test', 'test')
    assert repr(TestModel(seed=2)) == (
        "TestModel(call_tools='all', custom_result_text=None, custom_result_args=None, seed=2)"
    )


# -- through the Agent ------------------------------------------------------------------------


class City(BaseModel):
    name: str
    country: str
    population: int = Field(ge=0)


@pytest.mark.anyio
async def test_agent_runs_every_tool_once_then_returns_the_summary() -> None:
    agent = Agent('test', deps_type=int)
    received: list[tuple[str, Any]] = []

    @agent.tool
    async def scale(ctx: RunContext[int], value: int, unit: Literal['m', 'km']) -> int:
        received.append(('scale', (value, unit)))
        return value * ctx.deps

    @agent.tool_plain
    def greet(name: str, loud: bool = False) -> str:
        received.append(('greet', (name, loud)))
        return f'hello {name}'

    result = await agent.run('go', deps=10)
    assert sorted(received) == [('greet', ('a', False)), ('scale', (0, 'm'))]
    assert result.data == '{"scale":0,"greet":"hello a"}'
    assert result.usage().requests == 2
    responses = [m for m in result.all_messages() if isinstance(m, ModelResponse)]
    assert [r.model_name for r in responses] == ['test', 'test']


@pytest.mark.anyio
async def test_agent_with_a_structured_result_and_override() -> None:
    def never(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise AssertionError('the override should have replaced this model')

    agent: Agent[None, City] = Agent(
        FunctionModel(never), result_type=City, system_prompt='Answer with a city.'
    )
    model = TestModel()
    with agent.override(model=model):
        result = await agent.run('Where were the 2012 olympics?')
    assert result.data == City(name='a', country='a', population=0)
    assert model.last_model_request_parameters is not None
    assert [t.name for t in model.last_model_request_parameters.result_tools] == ['final_result']
    assert model.last_model_request_parameters.allow_text_result is False

    with agent.override(
        model=TestModel(custom_result_args={'name': 'London', 'country': 'UK', 'population': 9})
    ):
        result = await agent.run('Where were the 2012 olympics?')
    assert result.data == City(name='London', country='UK', population=9)


@pytest.mark.anyio
async def test_agent_retry_makes_test_model_call_the_tool_again() -> None:
    agent = Agent(TestModel(), retries=2)
    attempts: list[str] = []

    @agent.tool_plain
    def lookup(key: str) -> str:
        attempts.append(key)
        if len(attempts) == 1:
            raise ModelRetry('try again')
        return 'found'

    result = await agent.run('go')
    assert attempts == ['a', 'a']
    assert result.data == '{"lookup":"found"}'
    assert result.usage().requests == 3


@pytest.mark.anyio
async def test_agent_native_result_mode_gets_json_text() -> None:
    agent = Agent(TestModel(seed=1), result_type=City, result_mode='native')
    result = await agent.run('q')
    assert result.data == City(name='b', country='b', population=1)


@pytest.mark.anyio
async def test_agent_run_stream_with_test_model() -> None:
    agent = Agent(TestModel(custom_result_text='The capital is Paris.'))

    @agent.tool_plain
    def capital(country: str) -> str:
        return 'Paris'

    async with agent.run_stream('What is the capital?') as result:
        chunks = [chunk async for chunk in result.stream_text(delta=True, debounce_by=None)]
    assert chunks == ['The ', 'capital ', 'is ', 'Paris.']
    assert await result.get_data() == 'The capital is Paris.'
    assert result.usage().requests == 2

    structured = Agent(TestModel(), result_type=City)
    async with structured.run_stream('q') as streamed:
        data = await streamed.get_data()
    assert data == City(name='a', country='a', population=0)
