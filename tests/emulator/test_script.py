"""The emulator's scripted behaviour without sockets: JSON-schema values, fragments, options, replies."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Any, Literal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, TypeAdapter

from modelkit._schema_values import WORDS, generate_from_schema
from modelkit.emulator import EmulatorConfig
from modelkit.emulator._script import (
    ControlError,
    Controls,
    Conversation,
    FaultCounter,
    ToolSpec,
    count_tokens,
    fragments,
    parse_controls,
    plan_reply,
    seeded_rng,
)
from modelkit.exceptions import UserError


class _Node(BaseModel):
    label: str
    children: list[_Node] = []


class _Base(BaseModel):
    kind: Literal['a', 'b']


class _Derived(_Base):
    weight: Annotated[float, Field(gt=0, lt=1)]


_TYPES: list[Any] = [
    int,
    Annotated[int, Field(ge=5, le=7)],
    Annotated[int, Field(gt=-10, lt=-8)],
    Annotated[int, Field(multiple_of=5, ge=1)],
    Annotated[float, Field(gt=2.5, le=2.75)],
    Annotated[float, Field(le=-3)],
    Annotated[str, Field(min_length=30)],
    Annotated[str, Field(max_length=3)],
    Literal['red', 'green'],
    bool,
    None,
    int | None,
    list[int],
    Annotated[list[str], Field(min_length=3, max_length=4)],
    tuple[int, str, bool],
    dict[str, float],
    set[int],
    datetime.datetime,
    datetime.date,
    uuid.UUID,
    _Node,
    _Derived,
    list[_Derived | _Node],
]


@pytest.mark.parametrize('annotation', _TYPES, ids=repr)
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_schema_values_validate(annotation: Any, seed: int) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    value = generate_from_schema(adapter.json_schema(), rng=seeded_rng(seed))
    adapter.validate_json(orjson.dumps(value))


def test_schema_value_handles_refs_consts_and_all_of() -> None:
    schema = {
        '$defs': {'Point': {'type': 'object', 'properties': {'x': {'type': 'integer'}}, 'required': ['x']}},
        'type': 'object',
        'properties': {
            'p': {'$ref': '#/$defs/Point'},
            'c': {'const': 'fixed'},
            'merged': {'allOf': [{'$ref': '#/$defs/Point'}, {'properties': {'y': {'type': 'boolean'}}}]},
            'any': True,
            'word': {'type': 'string'},
        },
    }
    value = generate_from_schema(schema, rng=seeded_rng(1))
    assert isinstance(value['p']['x'], int)
    assert value['c'] == 'fixed'
    assert set(value['merged']) == {'x', 'y'}
    assert 'any' in value
    assert all(word in WORDS for word in value['word'].split())  # random mode: readable words
    assert generate_from_schema(schema, rng=seeded_rng(1)) == value  # same generator state, same value


def test_unsatisfiable_schemas_raise_in_random_mode_too() -> None:
    loop = {
        '$defs': {
            'Loop': {'type': 'object', 'properties': {'next': {'$ref': '#/$defs/Loop'}}, 'required': ['next']}
        },
        '$ref': '#/$defs/Loop',
    }
    with pytest.raises(UserError, match='without end'):
        generate_from_schema(loop, rng=seeded_rng(0))
    with pytest.raises(UserError, match='points at nothing'):
        generate_from_schema({'$ref': '#/$defs/Nowhere'}, rng=seeded_rng(0))


def test_plan_reply_with_thinking_and_stop_sequences() -> None:
    plain = plan_reply(Conversation(prompt='hi'), tokens=6, seed=0)
    thinking = plan_reply(Conversation(prompt='hi', thinking_budget=1024), tokens=6, seed=0)
    assert thinking.text == plain.text  # thinking leaves the answer as it was
    assert thinking.thinking
    assert thinking.signature
    assert thinking.deltas == len(thinking.thinking) + 6
    stop = plain.text[2].strip()
    cut = plan_reply(Conversation(prompt='hi', stop_sequences=(stop,)), tokens=6, seed=0)
    assert (cut.finish, cut.stop_sequence) == ('stop_sequence', stop)
    assert ''.join(cut.text) == ''.join(plain.text).split(stop)[0]


@given(st.text())
def test_fragments_join_back(text: str) -> None:
    assert ''.join(fragments(text)) == text


def test_fragments_split_json_like_openai() -> None:
    assert fragments('{"country":"UK"}') == ['{"', 'country', '":"', 'UK', '"}']


@pytest.mark.parametrize(('text', 'tokens'), [('', 0), ('hello', 1), ('Hello, world!', 4), ('  a  b ', 2)])
def test_count_tokens(text: str, tokens: int) -> None:
    assert count_tokens(text) == tokens


def test_controls_from_config_headers_and_model() -> None:
    config = EmulatorConfig(tokens=7, tokens_per_second=3, ttft=0.5)
    model, controls = parse_controls('gpt-4o', {}, config)
    assert model == 'gpt-4o'
    assert (controls.tokens, controls.tps, controls.ttft, controls.fault) == (7, 3, 0.5, None)
    headers = {
        'x-emulator-tokens': '9',
        'x-emulator-ttft-ms': '250',
        'x-emulator-fault': 'DROP',
        'other': 'x',
    }
    model, controls = parse_controls('m+tokens=2+fault-times=1', headers, config)
    assert model == 'm'
    assert (controls.tokens, controls.ttft, controls.fault, controls.fault_times) == (2, 0.25, 'drop', 1)


@pytest.mark.parametrize(
    ('model', 'option'),
    [
        ('m+tokens', 'model'),
        ('m+=3', 'model'),
        ('m+speed=3', 'speed'),
        ('m+tokens=-1', 'tokens'),
        ('m+tokens=99999999', 'tokens'),
        ('m+tps=fast', 'tps'),
        ('m+tps=inf', 'tps'),
        ('m+fault=explode', 'fault'),
    ],
)
def test_bad_controls_name_the_option(model: str, option: str) -> None:
    with pytest.raises(ControlError) as info:
        parse_controls(model, {}, EmulatorConfig())
    assert info.value.option == option


def test_fault_counter_per_client_and_spec() -> None:
    counter = FaultCounter()
    twice = Controls(tokens=1, tps=0, ttft=0, fault='429', fault_times=2)
    always = Controls(tokens=1, tps=0, ttft=0, fault='500')
    assert [counter.strike('key-a', twice) for _ in range(3)] == ['429', '429', None]
    assert counter.strike('key-b', twice) == '429'
    assert [counter.strike('key-a', always) for _ in range(3)] == ['500'] * 3
    assert counter.strike('key-a', Controls(tokens=1, tps=0, ttft=0)) is None


def test_plan_reply_text_and_max_tokens() -> None:
    reply = plan_reply(Conversation(prompt='hi'), tokens=5, seed=0)
    assert len(reply.text) == 5
    assert reply.finish == 'stop'
    assert reply.deltas == 5
    cut = plan_reply(Conversation(prompt='hi', max_tokens=2), tokens=5, seed=0)
    assert (cut.text, cut.finish) == (reply.text[:2], 'length')


def test_plan_reply_tool_names_match_whole_words_only() -> None:
    tools = [ToolSpec('get', {'type': 'object'})]
    assert plan_reply(Conversation(prompt='target practice', tools=tools), tokens=3, seed=0).tool_calls == []
    assert plan_reply(Conversation(prompt='please get it', tools=tools), tokens=3, seed=0).tool_calls
