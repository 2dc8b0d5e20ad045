"""Structured results: result tools for models, dataclasses, TypedDicts, scalars, unions; native JSON."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from modelkit import Agent, ModelRetry, UnexpectedModelBehavior, UserError
from modelkit.messages import ModelRequest, RetryPromptPart, ToolReturnPart
from modelkit.models.test import TestModel
from tests.agent._models import ScriptedModel, call, calls, last_request, retry_parts, text

pytestmark = pytest.mark.anyio


class City(BaseModel):
    """A city and its country."""

    city: str
    country: str


@dataclass
class Score:
    points: int


class Pair(TypedDict):
    left: int
    right: int


class Cat(BaseModel):
    meow: bool


class Dog(BaseModel):
    bark: int


async def test_pydantic_model_result_through_the_result_tool() -> None:
    model = ScriptedModel(calls(call('final_result', '{"city": "London", "country": "UK"}')))
    agent = Agent(model, result_type=City)
    result = await agent.run('Where were the 2012 olympics?')
    assert result.data == City(city='London', country='UK')
    params = model.sent[0].params
    assert params.allow_text_result is False
    (tool,) = params.result_tools
    assert tool.name == 'final_result'
    assert tool.description == 'A city and its country.'
    assert tool.outer_typed_dict_key is None
    assert tool.parameters_json_schema == {
        'type': 'object',
        'properties': {
            'city': {'title': 'City', 'type': 'string'},
            'country': {'title': 'Country', 'type': 'string'},
        },
        'required': ['city', 'country'],
    }
    last = last_request(result.all_messages())
    assert last.parts == [
        ToolReturnPart('final_result', 'Final result processed.', 'id_final_result', last.parts[0].timestamp)
    ]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ('result_type', 'args', 'expected'),
    [
        (Score, {'points': 3}, Score(3)),
        (Pair, '{"left": 1, "right": 2}', {'left': 1, 'right': 2}),
        (int, {'response': 42}, 42),
        (bool, '{"response": true}', True),
        (list[str], {'response': ['a', 'b']}, ['a', 'b']),
    ],
)
async def test_dataclass_typeddict_and_scalar_results(
    result_type: object, args: object, expected: object
) -> None:
    model = ScriptedModel(calls(call('final_result', args)))  # type: ignore[arg-type]
    agent = Agent(model, result_type=result_type)  # type: ignore[arg-type]
    result = await agent.run('go')
    assert result.data == expected
    (tool,) = model.sent[0].params.result_tools
    assert tool.description == 'The final response which ends this conversation'
    schema = tool.parameters_json_schema
    assert schema['type'] == 'object'
    if result_type in (int, bool, list[str]):
        assert tool.outer_typed_dict_key == 'response'
        assert schema['required'] == ['response']
        assert 'title' not in schema['properties']['response']


async def test_union_gives_one_result_tool_per_member() -> None:
    model = ScriptedModel(calls(call('final_result_Dog', {'bark': 2})))
    agent = Agent(model, result_type=Cat | Dog, result_tool_description='An animal')  # type: ignore[arg-type]
    result = await agent.run('go')
    assert result.data == Dog(bark=2)
    params = model.sent[0].params
    assert [(t.name, t.description) for t in params.result_tools] == [
        ('final_result_Cat', 'An animal: Cat'),
        ('final_result_Dog', 'An animal: Dog'),
    ]
    assert params.allow_text_result is False


async def test_union_with_str_allows_text() -> None:
    model = ScriptedModel(text('just text'))
    agent = Agent(model, result_type=Cat | str)  # type: ignore[arg-type]
    result = await agent.run('go')
    assert result.data == 'just text'
    params = model.sent[0].params
    assert params.allow_text_result is True
    assert [t.name for t in params.result_tools] == ['final_result']


async def test_union_results_with_test_model() -> None:
    agent = Agent(TestModel(seed=1), result_type=Cat | Dog)  # type: ignore[arg-type]
    result = await agent.run('go')
    assert isinstance(result.data, Dog)


async def test_invalid_result_is_retried_then_accepted() -> None:
    model = ScriptedModel(
        calls(call('final_result', '{"city": "London"}')),
        calls(call('final_result', {'city': 'Paris', 'country': 'FR'})),
    )
    agent = Agent(model, result_type=City)
    result = await agent.run('go')
    assert result.data.city == 'Paris'
    (retry,) = retry_parts(result.all_messages())
    assert retry.tool_name == 'final_result'
    assert isinstance(retry.content, list)
    assert retry.content[0]['type'] == 'missing'
    assert retry.content[0]['loc'] == ('country',)


async def test_result_retries_exhausted() -> None:
    bad = calls(call('final_result', '{"city": 1}'))
    model = ScriptedModel(bad, bad, bad, bad)
    agent = Agent(model, result_type=City, retries=5, result_retries=2)
    with pytest.raises(
        UnexpectedModelBehavior, match=r'Exceeded maximum retries \(2\) for result validation'
    ):
        await agent.run('go')
    assert len(model.sent) == 3


async def test_text_when_text_is_not_allowed_is_retried() -> None:
    model = ScriptedModel(
        text('I think London'), calls(call('final_result', {'city': 'London', 'country': 'UK'}))
    )
    agent = Agent(model, result_type=City)
    result = await agent.run('go')
    assert result.data.country == 'UK'
    (retry,) = retry_parts(result.all_messages())
    assert (
        retry.content == 'Plain text responses are not permitted, please include your response in a tool call'
    )


async def test_result_validator_on_structured_result_retries_through_the_tool() -> None:
    model = ScriptedModel(
        calls(call('final_result', {'response': -1}, 'a')), calls(call('final_result', {'response': 5}, 'b'))
    )
    agent = Agent(model, result_type=int)

    @agent.result_validator
    def positive(data: int) -> int:
        if data < 0:
            raise ModelRetry('must be positive')
        return data

    result = await agent.run('go')
    assert result.data == 5
    (retry,) = retry_parts(result.all_messages())
    assert (retry.content, retry.tool_name, retry.tool_call_id) == ('must be positive', 'final_result', 'a')


async def test_per_run_result_type() -> None:
    model = ScriptedModel(text('plain'), calls(call('final_result', {'response': 7})))
    agent = Agent(model)
    assert (await agent.run('go')).data == 'plain'
    result = await agent.run('go', result_type=int)
    assert result.data == 7


async def test_result_type_cannot_change_per_run_with_validators() -> None:
    agent = Agent(TestModel())

    @agent.result_validator
    def same(data: str) -> str:
        return data

    with pytest.raises(UserError, match='result validators'):
        await agent.run('go', result_type=int)


async def test_custom_result_tool_name_and_conflicts() -> None:
    model = ScriptedModel(calls(call('answer', {'response': 1})))
    agent = Agent(model, result_type=int, result_tool_name='answer')
    assert (await agent.run('go')).data == 1
    with pytest.raises(UserError, match='conflicts with result tool name'):
        agent.tool_plain(name='answer')(lambda: 1)


async def test_native_mode_sets_the_json_schema_and_parses_text() -> None:
    model = ScriptedModel(text('{"city": "Rome", "country": "IT"}'))
    agent = Agent(model, result_type=City, result_mode='native')
    result = await agent.run('go')
    assert result.data == City(city='Rome', country='IT')
    params = model.sent[0].params
    assert params.result_tools == []
    assert params.allow_text_result is True
    assert params.result_schema_name == 'final_result'
    assert params.result_json_schema is not None
    assert params.result_json_schema['required'] == ['city', 'country']


async def test_native_mode_wraps_scalars_and_retries_bad_json() -> None:
    model = ScriptedModel(text('not json'), text('{"response": 3}'))
    agent = Agent(model, result_type=int, result_mode='native')
    result = await agent.run('go')
    assert result.data == 3
    assert model.sent[0].params.result_json_schema == {
        'type': 'object',
        'properties': {'response': {'type': 'integer'}},
        'required': ['response'],
    }
    (retry,) = retry_parts(result.all_messages())
    assert retry.tool_name is None
    assert isinstance(retry.content, list)
    assert retry.content[0]['type'] == 'json_invalid'


async def test_native_mode_per_run_and_with_test_model() -> None:
    agent = Agent(TestModel(), result_type=City)
    result = await agent.run('go', result_mode='native')
    assert isinstance(result.data, City)


def test_native_mode_needs_a_structured_type() -> None:
    with pytest.raises(UserError, match='needs a structured result_type'):
        Agent(TestModel(), result_mode='native')
    with pytest.raises(UserError, match='cannot mix str'):
        Agent(TestModel(), result_type=City | str, result_mode='native')  # type: ignore[arg-type]
    with pytest.raises(UserError, match='result_mode must be'):
        Agent(TestModel(), result_type=City, result_mode='json')  # type: ignore[arg-type]


async def test_failed_result_call_alongside_a_function_tool() -> None:
    # The result fails validation, so the function tool still runs; answers keep the call order.
    model = ScriptedModel(
        calls(call('helper', {}), call('final_result', '{"response": "x"}')),
        calls(call('final_result', {'response': 1})),
    )
    agent = Agent(model, result_type=int)

    @agent.tool_plain
    def helper() -> str:
        return 'help'

    result = await agent.run('go')
    assert result.data == 1
    answers = model.sent[1].messages[-1]
    assert isinstance(answers, ModelRequest)
    assert [(type(p), p.tool_name) for p in answers.parts] == [  # type: ignore[union-attr]
        (ToolReturnPart, 'helper'),
        (RetryPromptPart, 'final_result'),
    ]
