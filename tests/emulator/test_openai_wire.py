"""The emulator's OpenAI chat completions over real loopback sockets, checked against OpenAI's shapes."""

from __future__ import annotations

from typing import Any, Literal
from unittest.mock import ANY

import httpx
import orjson
import pytest
from pydantic import BaseModel, ConfigDict

from modelkit.emulator import Emulator
from modelkit.emulator.openai import count_prompt_tokens

from .conftest import TEST_TIMEOUT_S, TOOL_GET_CAPITAL, chat_body, read_stream, streamed_text

pytestmark = pytest.mark.anyio


# OpenAI's response shapes, as its API reference documents them (only what clients rely on).
class _Function(BaseModel):
    name: str
    arguments: str


class _ToolCall(BaseModel):
    id: str
    type: Literal['function']
    function: _Function


class _Message(BaseModel):
    role: Literal['assistant']
    content: str | None
    refusal: None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(BaseModel):
    index: int
    message: _Message
    finish_reason: Literal['stop', 'length', 'tool_calls', 'content_filter']
    logprobs: None


class _Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class _Completion(BaseModel):
    model_config = ConfigDict(extra='allow')
    id: str
    object: Literal['chat.completion']
    created: int
    model: str
    choices: list[_Choice]
    usage: _Usage


class _ChunkToolFunction(BaseModel):
    name: str | None = None
    arguments: str | None = None


class _ChunkToolCall(BaseModel):
    index: int
    id: str | None = None
    type: Literal['function'] | None = None
    function: _ChunkToolFunction | None = None


class _Delta(BaseModel):
    role: Literal['assistant'] | None = None
    content: str | None = None
    tool_calls: list[_ChunkToolCall] | None = None


class _ChunkChoice(BaseModel):
    index: int
    delta: _Delta
    finish_reason: Literal['stop', 'length', 'tool_calls', 'content_filter'] | None


class _Chunk(BaseModel):
    id: str
    object: Literal['chat.completion.chunk']
    created: int
    model: str
    choices: list[_ChunkChoice]
    usage: _Usage | None = None


class _Error(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class _ErrorBody(BaseModel):
    error: _Error


async def test_plain_completion_has_openai_shape(client: httpx.AsyncClient) -> None:
    response = await client.post('/chat/completions', json=chat_body())
    assert response.status_code == 200
    assert response.headers['content-type'] == 'application/json'
    completion = _Completion.model_validate_json(response.content)
    assert completion.model == 'gpt-4o'
    [choice] = completion.choices
    assert choice.finish_reason == 'stop'
    assert choice.message.content
    assert choice.message.content.endswith('.')
    assert len(choice.message.content.split()) == 8  # the fixture's `tokens=8`
    assert completion.usage.completion_tokens == 8


async def test_answers_are_deterministic_per_prompt_and_seed(client: httpx.AsyncClient) -> None:
    async def content(body: dict[str, Any]) -> str:
        response = await client.post('/chat/completions', json=body)
        return str(response.json()['choices'][0]['message']['content'])

    first = await content(chat_body('alpha'))
    assert await content(chat_body('alpha')) == first
    assert await content(chat_body('beta')) != first
    assert await content(chat_body('alpha', seed=42)) != first


async def test_streamed_completion_matches_openai_framing(client: httpx.AsyncClient) -> None:
    events, done = await read_stream(client, chat_body(stream_options={'include_usage': True}))
    assert done
    chunks = [_Chunk.model_validate(event) for event in events]
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == 'assistant'
    *body, finish, usage_chunk = chunks
    assert finish.choices[0].finish_reason == 'stop'
    assert finish.choices[0].delta == _Delta()
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    content_deltas = [c.choices[0].delta.content for c in body if c.choices[0].delta.content]
    assert len(content_deltas) == usage_chunk.usage.completion_tokens == 8
    # Until the usage chunk, usage is present and null, as OpenAI sends it with include_usage.
    assert all('usage' in event and event['usage'] is None for event in events[:-1])


async def test_stream_without_include_usage_has_no_usage(client: httpx.AsyncClient) -> None:
    events, done = await read_stream(client, chat_body())
    assert done
    assert all('usage' not in event for event in events)
    assert events[-1]['choices'][0]['finish_reason'] == 'stop'


async def test_streamed_and_plain_text_agree(client: httpx.AsyncClient) -> None:
    plain = (await client.post('/chat/completions', json=chat_body('same prompt'))).json()
    events, _ = await read_stream(client, chat_body('same prompt'))
    assert streamed_text(events) == plain['choices'][0]['message']['content']


async def test_tokens_option_by_header_and_by_model_name(client: httpx.AsyncClient) -> None:
    response = await client.post('/chat/completions', json=chat_body(), headers={'x-emulator-tokens': '3'})
    assert response.json()['usage']['completion_tokens'] == 3
    response = await client.post('/chat/completions', json=chat_body(model='gpt-4o-mini+tokens=5'))
    body = response.json()
    assert body['usage']['completion_tokens'] == 5
    assert body['model'] == 'gpt-4o-mini'  # options are not part of the model's name
    # The model name's options win over headers: they are chosen per call.
    response = await client.post(
        '/chat/completions', json=chat_body(model='gpt-4o+tokens=2'), headers={'x-emulator-tokens': '9'}
    )
    assert response.json()['usage']['completion_tokens'] == 2


async def test_max_tokens_cuts_the_answer_with_length(client: httpx.AsyncClient) -> None:
    response = await client.post('/chat/completions', json=chat_body(max_completion_tokens=3))
    body = response.json()
    assert body['choices'][0]['finish_reason'] == 'length'
    assert body['usage']['completion_tokens'] == 3


async def test_n_choices(client: httpx.AsyncClient) -> None:
    response = await client.post('/chat/completions', json=chat_body(n=2))
    completion = _Completion.model_validate_json(response.content)
    assert [c.index for c in completion.choices] == [0, 1]
    assert completion.choices[0].message.content != completion.choices[1].message.content
    assert completion.usage.completion_tokens == 16


async def test_usage_counts_what_was_sent(client: httpx.AsyncClient) -> None:
    short = chat_body('one two three')
    longer = chat_body('one two three four five, six')
    short_usage = (await client.post('/chat/completions', json=short)).json()['usage']
    long_usage = (await client.post('/chat/completions', json=longer)).json()['usage']
    assert short_usage['prompt_tokens'] == count_prompt_tokens(short)
    # Three more words and a comma: four more tokens.
    assert long_usage['prompt_tokens'] - short_usage['prompt_tokens'] == 4
    for usage in (short_usage, long_usage):
        assert usage['total_tokens'] == usage['prompt_tokens'] + usage['completion_tokens']
    with_tools = chat_body('one two three', tools=[TOOL_GET_CAPITAL])
    tools_usage = (await client.post('/chat/completions', json=with_tools)).json()['usage']
    assert tools_usage['prompt_tokens'] > short_usage['prompt_tokens']


async def test_tool_call_when_prompt_names_the_tool(client: httpx.AsyncClient) -> None:
    body = chat_body('What is the capital of France? Use get_capital.', tools=[TOOL_GET_CAPITAL])
    completion = _Completion.model_validate_json((await client.post('/chat/completions', json=body)).content)
    [choice] = completion.choices
    assert choice.finish_reason == 'tool_calls'
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.function.name == 'get_capital'
    assert call.id.startswith('call_')
    arguments = orjson.loads(call.function.arguments)
    assert set(arguments) == {'country'}
    assert isinstance(arguments['country'], str)


async def test_no_tool_call_unless_asked(client: httpx.AsyncClient) -> None:
    body = chat_body('Tell me a story.', tools=[TOOL_GET_CAPITAL])
    choice = (await client.post('/chat/completions', json=body)).json()['choices'][0]
    assert choice['finish_reason'] == 'stop'
    assert 'tool_calls' not in choice['message']
    # ... and never with tool_choice none, even when the tool is named.
    body = chat_body('Use get_capital', tools=[TOOL_GET_CAPITAL], tool_choice='none')
    assert (await client.post('/chat/completions', json=body)).json()['choices'][0]['finish_reason'] == 'stop'


async def test_asking_to_use_a_tool_calls_the_first(client: httpx.AsyncClient) -> None:
    other = {
        'type': 'function',
        'function': {'name': 'lookup', 'parameters': {'type': 'object', 'properties': {}}},
    }
    body = chat_body('Please use a tool for this.', tools=[other, TOOL_GET_CAPITAL])
    message = (await client.post('/chat/completions', json=body)).json()['choices'][0]['message']
    assert [call['function']['name'] for call in message['tool_calls']] == ['lookup']
    assert message['tool_calls'][0]['function']['arguments'] == '{}'


async def test_parallel_calls_when_several_tools_are_named(client: httpx.AsyncClient) -> None:
    weather = {
        'type': 'function',
        'function': {
            'name': 'get_weather',
            'parameters': {
                'type': 'object',
                'properties': {'city': {'type': 'string'}},
                'required': ['city'],
            },
        },
    }
    body = chat_body('Call get_capital and then get_weather', tools=[TOOL_GET_CAPITAL, weather])
    message = (await client.post('/chat/completions', json=body)).json()['choices'][0]['message']
    assert [c['function']['name'] for c in message['tool_calls']] == ['get_capital', 'get_weather']
    body['parallel_tool_calls'] = False
    message = (await client.post('/chat/completions', json=body)).json()['choices'][0]['message']
    assert [c['function']['name'] for c in message['tool_calls']] == ['get_capital']


async def test_named_tool_choice_finishes_with_stop_as_openai_does(client: httpx.AsyncClient) -> None:
    body = chat_body(
        'Anything',
        tools=[TOOL_GET_CAPITAL],
        tool_choice={'type': 'function', 'function': {'name': 'get_capital'}},
    )
    choice = (await client.post('/chat/completions', json=body)).json()['choices'][0]
    assert choice['message']['tool_calls'][0]['function']['name'] == 'get_capital'
    assert choice['finish_reason'] == 'stop'


async def test_streamed_tool_call_deltas(client: httpx.AsyncClient) -> None:
    body = chat_body(
        'Use get_capital for the UK', tools=[TOOL_GET_CAPITAL], stream_options={'include_usage': True}
    )
    events, done = await read_stream(client, body)
    assert done
    chunks = [_Chunk.model_validate(event) for event in events]
    first_delta = chunks[0].choices[0].delta
    assert first_delta.role == 'assistant'
    assert first_delta.content is None
    [start] = first_delta.tool_calls or []
    assert start.index == 0
    assert start.id is not None
    assert start.id.startswith('call_')
    assert start.function is not None
    assert (start.function.name, start.function.arguments) == ('get_capital', '')
    fragments = [
        call.function.arguments
        for chunk in chunks[1:]
        for choice in chunk.choices
        for call in choice.delta.tool_calls or []
        if call.function is not None and call.function.arguments
    ]
    assert len(fragments) > 1  # arguments arrive in pieces, as OpenAI sends them
    assert set(orjson.loads(''.join(fragments))) == {'country'}
    assert chunks[-2].choices[0].finish_reason == 'tool_calls'
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(fragments)


async def test_tool_result_gets_a_text_answer_mentioning_it(client: httpx.AsyncClient) -> None:
    messages = [
        {'role': 'user', 'content': 'Use get_capital for the UK'},
        {
            'role': 'assistant',
            'content': None,
            'tool_calls': [
                {'id': 'call_1', 'type': 'function', 'function': {'name': 'get_capital', 'arguments': '{}'}}
            ],
        },
        {'role': 'tool', 'tool_call_id': 'call_1', 'content': 'London'},
    ]
    body = {'model': 'gpt-4o', 'messages': messages, 'tools': [TOOL_GET_CAPITAL]}
    choice = (await client.post('/chat/completions', json=body)).json()['choices'][0]
    assert choice['finish_reason'] == 'stop'
    assert 'London' in choice['message']['content']
    assert 'get_capital' in choice['message']['content']


async def test_required_tool_choice_walks_the_agent_loop(client: httpx.AsyncClient) -> None:
    final = {
        'type': 'function',
        'function': {
            'name': 'final_result',
            'parameters': {
                'type': 'object',
                'properties': {'city': {'type': 'string'}, 'country': {'type': 'string'}},
                'required': ['city', 'country'],
            },
        },
    }
    lookup = {'type': 'function', 'function': {'name': 'get_user_country', 'parameters': {'type': 'object'}}}
    messages: list[dict[str, Any]] = [
        {'role': 'user', 'content': 'What is the largest city in the user country?'}
    ]
    body = {'model': 'gpt-4o', 'messages': messages, 'tools': [lookup, final], 'tool_choice': 'required'}
    first = (await client.post('/chat/completions', json=body)).json()['choices'][0]['message']
    [call] = first['tool_calls']
    assert call['function']['name'] == 'get_user_country'
    messages += [first, {'role': 'tool', 'tool_call_id': call['id'], 'content': 'Mexico'}]
    second = (await client.post('/chat/completions', json=body)).json()['choices'][0]
    [result_call] = second['message']['tool_calls']
    assert result_call['function']['name'] == 'final_result'
    assert set(orjson.loads(result_call['function']['arguments'])) == {'city', 'country'}
    assert second['finish_reason'] == 'tool_calls'


class _Address(BaseModel):
    model_config = ConfigDict(extra='forbid')
    street: str
    postcode: str | None
    kind: Literal['home', 'work']


class _Person(BaseModel):
    model_config = ConfigDict(extra='forbid')
    name: str
    age: int
    height_m: float
    tags: list[str]
    addresses: list[_Address]
    nickname: str | None = None


@pytest.mark.parametrize('stream', [False, True])
async def test_structured_output_satisfies_the_json_schema(client: httpx.AsyncClient, stream: bool) -> None:
    schema = _Person.model_json_schema()
    body = chat_body(
        'Describe someone',
        response_format={
            'type': 'json_schema',
            'json_schema': {'name': 'person', 'schema': schema, 'strict': True},
        },
    )
    if stream:
        events, done = await read_stream(client, body)
        assert done
        content = streamed_text(events)
    else:
        content = (await client.post('/chat/completions', json=body)).json()['choices'][0]['message'][
            'content'
        ]
    person = _Person.model_validate_json(content)
    assert person.addresses  # nested $ref'd objects are generated, not left out


async def test_json_object_mode_returns_an_object(client: httpx.AsyncClient) -> None:
    body = chat_body('Answer in JSON', response_format={'type': 'json_object'})
    content = (await client.post('/chat/completions', json=body)).json()['choices'][0]['message']['content']
    value = orjson.loads(content)
    assert isinstance(value, dict)
    assert value


async def test_list_models(client: httpx.AsyncClient, emulator: Emulator) -> None:
    body = (await client.get('/models')).json()
    assert body['object'] == 'list'
    assert [model['id'] for model in body['data']] == list(emulator.config.models)
    assert all(model['object'] == 'model' for model in body['data'])


@pytest.mark.parametrize('prefix', ['/v1', '/openai/v1', '/api/v1', '/inference/v1', ''])
async def test_openai_compatible_prefixes(emulator: Emulator, prefix: str) -> None:
    headers = {'authorization': f'Bearer {emulator.api_key}'}
    async with httpx.AsyncClient(
        base_url=emulator.url + prefix, headers=headers, timeout=TEST_TIMEOUT_S
    ) as http:
        response = await http.post('/chat/completions', json=chat_body())
        assert response.status_code == 200
        _Completion.model_validate_json(response.content)


async def test_azure_deployment_path(emulator: Emulator) -> None:
    url = f'{emulator.url}/openai/deployments/my-gpt/chat/completions'
    body = {'messages': [{'role': 'user', 'content': 'hi'}]}
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT_S) as http:
        ok = await http.post(
            url, params={'api-version': '2024-10-21'}, json=body, headers={'api-key': emulator.api_key}
        )
        assert ok.status_code == 200
        assert _Completion.model_validate_json(ok.content).model == 'my-gpt'  # the deployment names the model
        bad_key = await http.post(
            url, params={'api-version': '2024-10-21'}, json=body, headers={'api-key': 'nope'}
        )
        assert bad_key.status_code == 401
        assert bad_key.json()['error']['code'] == '401'
        assert 'nope' not in bad_key.text
        no_version = await http.post(url, json=body, headers={'api-key': emulator.api_key})
        assert no_version.status_code == 404
        # Options ride in a percent-encoded deployment name too, and errors take Azure's shape.
        faulty = f'{emulator.url}/openai/deployments/my-gpt%2Bfault%3D429/chat/completions'
        throttled = await http.post(
            faulty, params={'api-version': '2024-10-21'}, json=body, headers={'api-key': emulator.api_key}
        )
        assert throttled.status_code == 429
        assert throttled.json() == {'error': {'code': '429', 'message': ANY}}


async def test_missing_key_is_401_in_openai_shape(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.base_url('openai'), timeout=TEST_TIMEOUT_S) as http:
        response = await http.post('/chat/completions', json=chat_body())
    assert response.status_code == 401
    error = _ErrorBody.model_validate_json(response.content).error
    assert (error.type, error.code, error.param) == ('invalid_request_error', 'invalid_api_key', None)


async def test_wrong_key_is_401_and_not_echoed_whole(emulator: Emulator) -> None:
    secret = 'sk-proj-THIS-IS-A-SECRET-KEY-1234'
    headers = {'authorization': f'Bearer {secret}'}
    async with httpx.AsyncClient(
        base_url=emulator.base_url('openai'), headers=headers, timeout=TEST_TIMEOUT_S
    ) as http:
        for response in (await http.post('/chat/completions', json=chat_body()), await http.get('/models')):
            assert response.status_code == 401
            error = _ErrorBody.model_validate_json(response.content).error
            assert error.code == 'invalid_api_key'
            assert secret not in response.text


@pytest.mark.parametrize(
    ('content', 'param'),
    [
        (b'{not json', None),
        (b'[1, 2]', None),
        (orjson.dumps({'messages': [{'role': 'user', 'content': 'hi'}]}), 'model'),
        (orjson.dumps({'model': 'gpt-4o'}), 'messages'),
        (orjson.dumps({'model': 'gpt-4o', 'messages': []}), 'messages'),
        (orjson.dumps({'model': 'gpt-4o', 'messages': ['hi']}), 'messages[0]'),
        (orjson.dumps(chat_body(tools=[{'type': 'function'}])), 'tools[0].function'),
        (orjson.dumps(chat_body(tool_choice={'type': 'function', 'function': {'name': 'x'}})), 'tool_choice'),
        (orjson.dumps(chat_body(response_format={'type': 'xml'})), 'response_format.type'),
        (orjson.dumps(chat_body(n=0)), 'n'),
        (orjson.dumps(chat_body(model='gpt-4o+fault=meltdown')), 'fault'),
        (orjson.dumps(chat_body(model='gpt-4o+tokens=many')), 'tokens'),
        (orjson.dumps(chat_body(model='gpt-4o+colour=red')), 'colour'),
    ],
)
async def test_bad_requests_are_400_in_openai_shape(
    client: httpx.AsyncClient, content: bytes, param: str | None
) -> None:
    response = await client.post(
        '/chat/completions', content=content, headers={'content-type': 'application/json'}
    )
    assert response.status_code == 400
    error = _ErrorBody.model_validate_json(response.content).error
    assert error.type == 'invalid_request_error'
    assert error.param == param
    assert error.message


async def test_bad_control_header_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post('/chat/completions', json=chat_body(), headers={'x-emulator-tps': '-3'})
    assert response.status_code == 400
    assert response.json()['error']['param'] == 'tps'


@pytest.mark.parametrize(('method', 'path'), [('POST', '/v1/nothing'), ('GET', '/v1/chat/completions')])
async def test_unknown_path_is_404(
    client: httpx.AsyncClient, emulator: Emulator, method: str, path: str
) -> None:
    response = await client.request(method, emulator.url + path)
    assert response.status_code == 404
    assert _ErrorBody.model_validate_json(response.content).error.message == f'Invalid URL ({method} {path})'
