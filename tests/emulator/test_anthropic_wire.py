"""The emulator's Anthropic Messages API over loopback: shapes, event sequences, auth, faults."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from modelkit.emulator import Emulator
from modelkit.emulator.anthropic import count_input_tokens
from tests.helpers.emulator import (
    ANTHROPIC_HEADERS,
    ANTHROPIC_TOOL_GET_CAPITAL,
    TEST_TIMEOUT_S,
    messages_body,
    parse_named_sse,
)

pytestmark = pytest.mark.anyio

TEXT_STREAM = [
    'message_start',
    'content_block_start',
    'ping',
    *['content_block_delta'] * 8,
    'content_block_stop',
    'message_delta',
    'message_stop',
]
"""The events of an 8-token text answer, in order (the fixture's emulator answers 8 tokens)."""


async def _stream(client: httpx.AsyncClient, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    response = await client.post('/v1/messages', json={**body, 'stream': True})
    assert response.status_code == 200, response.text
    assert response.headers['content-type'].startswith('text/event-stream')
    return parse_named_sse(response.content)


def _names(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in events]


def _deltas(events: list[tuple[str, dict[str, Any]]], kind: str, field: str) -> str:
    return ''.join(
        data['delta'][field]
        for name, data in events
        if name == 'content_block_delta' and data['delta']['type'] == kind
    )


async def test_plain_message_has_anthropic_shape(anthropic_client: httpx.AsyncClient) -> None:
    body = messages_body(system='Be brief.')
    response = await anthropic_client.post('/v1/messages', json=body)
    assert response.status_code == 200
    assert response.headers['request-id'].startswith('req_')
    message = response.json()
    assert set(message) == {'id', 'type', 'role', 'model', 'content', 'stop_reason', 'stop_sequence', 'usage'}
    assert (message['type'], message['role'], message['model']) == ('message', 'assistant', body['model'])
    assert message['id'].startswith('msg_')
    [block] = message['content']
    assert block['type'] == 'text'
    assert len(block['text'].split()) == 8
    assert (message['stop_reason'], message['stop_sequence']) == ('end_turn', None)
    usage = message['usage']
    assert usage['input_tokens'] == count_input_tokens(body)
    assert (
        usage['output_tokens'],
        usage['cache_read_input_tokens'],
        usage['cache_creation_input_tokens'],
    ) == (8, 0, 0)


async def test_input_tokens_grow_with_the_request(anthropic_client: httpx.AsyncClient) -> None:
    short = (await anthropic_client.post('/v1/messages', json=messages_body('hi'))).json()['usage']
    long_body = messages_body('hi ' * 50, tools=[ANTHROPIC_TOOL_GET_CAPITAL])
    long = (await anthropic_client.post('/v1/messages', json=long_body)).json()['usage']
    assert long['input_tokens'] > short['input_tokens'] + 50
    counted = await anthropic_client.post('/v1/messages/count_tokens', json=long_body)
    assert counted.json() == {'input_tokens': long['input_tokens']}


async def test_stream_has_the_exact_event_sequence(anthropic_client: httpx.AsyncClient) -> None:
    events = await _stream(anthropic_client, messages_body())
    assert _names(events) == TEXT_STREAM
    start = events[0][1]['message']
    assert (start['content'], start['stop_reason'], start['usage']['output_tokens']) == ([], None, 1)
    assert events[1][1] == {
        'type': 'content_block_start',
        'index': 0,
        'content_block': {'type': 'text', 'text': ''},
    }
    assert {data['index'] for name, data in events if name.startswith('content_block')} == {0}
    final = events[-2][1]
    assert final['delta'] == {'stop_reason': 'end_turn', 'stop_sequence': None}
    # Cumulative: the whole answer's output tokens, not an increment on message_start's 1.
    assert final['usage']['output_tokens'] == 8
    assert final['usage']['input_tokens'] == start['usage']['input_tokens']
    plain = (await anthropic_client.post('/v1/messages', json=messages_body())).json()
    assert _deltas(events, 'text_delta', 'text') == plain['content'][0]['text']


async def test_thinking_comes_first_with_its_signature(anthropic_client: httpx.AsyncClient) -> None:
    body = messages_body(max_tokens=4096, thinking={'type': 'enabled', 'budget_tokens': 1024})
    events = await _stream(anthropic_client, body)
    names = _names(events)
    assert names[:3] == ['message_start', 'content_block_start', 'ping']
    assert events[1][1]['content_block'] == {'type': 'thinking', 'thinking': '', 'signature': ''}
    kinds = [data['delta']['type'] for name, data in events if name == 'content_block_delta']
    first_text = kinds.index('text_delta')
    assert set(kinds[: first_text - 1]) == {'thinking_delta'}
    assert kinds[first_text - 1] == 'signature_delta'
    stop_at = names.index('content_block_stop')
    assert events[stop_at - 1][1]['delta']['type'] == 'signature_delta'
    assert events[stop_at + 1][1]['content_block'] == {'type': 'text', 'text': ''}
    plain = (await anthropic_client.post('/v1/messages', json=body)).json()
    thinking, text = plain['content']
    assert thinking == {
        'type': 'thinking',
        'thinking': _deltas(events, 'thinking_delta', 'thinking'),
        'signature': _deltas(events, 'signature_delta', 'signature'),
    }
    assert text['text'] == _deltas(events, 'text_delta', 'text')
    assert plain['usage']['output_tokens'] == events[-2][1]['usage']['output_tokens'] == len(kinds) - 1


async def test_tool_use_streams_argument_fragments(anthropic_client: httpx.AsyncClient) -> None:
    body = messages_body('Use get_capital for France', tools=[ANTHROPIC_TOOL_GET_CAPITAL])
    events = await _stream(anthropic_client, body)
    start = events[1][1]['content_block']
    assert start['type'] == 'tool_use'
    assert start['id'].startswith('toolu_')
    assert (start['name'], start['input']) == ('get_capital', {})
    fragments = [data['delta']['partial_json'] for name, data in events if name == 'content_block_delta']
    assert fragments[0] == ''  # Anthropic opens every tool input with an empty fragment
    assert len(fragments) > 2
    arguments = orjson.loads(''.join(fragments))
    assert isinstance(arguments['country'], str)
    assert events[-2][1]['delta']['stop_reason'] == 'tool_use'
    plain = (await anthropic_client.post('/v1/messages', json=body)).json()
    [block] = plain['content']
    assert (block['type'], block['id'], block['input']) == ('tool_use', start['id'], arguments)
    assert plain['stop_reason'] == 'tool_use'


async def test_tool_without_arguments_completes_from_one_empty_fragment(
    anthropic_client: httpx.AsyncClient,
) -> None:
    tool = {'name': 'get_time', 'input_schema': {'type': 'object', 'properties': {}}}
    body = messages_body('Use get_time', tools=[tool])
    events = await _stream(anthropic_client, body)
    fragments = [data['delta']['partial_json'] for name, data in events if name == 'content_block_delta']
    assert fragments == ['']
    assert events[-2][1]['usage']['output_tokens'] == 1
    plain = (await anthropic_client.post('/v1/messages', json=body)).json()
    assert plain['content'][0]['input'] == {}


async def test_tool_choice_and_parallel_calls(anthropic_client: httpx.AsyncClient) -> None:
    other = {**ANTHROPIC_TOOL_GET_CAPITAL, 'name': 'get_population'}
    tools = [ANTHROPIC_TOOL_GET_CAPITAL, other]
    both = messages_body('Call get_capital and get_population', tools=tools)
    assert len((await anthropic_client.post('/v1/messages', json=both)).json()['content']) == 2
    one = {**both, 'tool_choice': {'type': 'auto', 'disable_parallel_tool_use': True}}
    assert len((await anthropic_client.post('/v1/messages', json=one)).json()['content']) == 1
    forced = messages_body('hello', tools=tools, tool_choice={'type': 'tool', 'name': 'get_population'})
    [block] = (await anthropic_client.post('/v1/messages', json=forced)).json()['content']
    assert block['name'] == 'get_population'
    none = messages_body('Use get_capital', tools=tools, tool_choice={'type': 'none'})
    assert (await anthropic_client.post('/v1/messages', json=none)).json()['content'][0]['type'] == 'text'


async def test_tool_result_gets_a_text_answer(anthropic_client: httpx.AsyncClient) -> None:
    history = [
        {'role': 'user', 'content': 'Use get_capital for France'},
        {
            'role': 'assistant',
            'content': [
                {'type': 'tool_use', 'id': 'toolu_1', 'name': 'get_capital', 'input': {'country': 'France'}}
            ],
        },
        {'role': 'user', 'content': [{'type': 'tool_result', 'tool_use_id': 'toolu_1', 'content': 'Paris'}]},
    ]
    body = {**messages_body(), 'messages': history, 'tools': [ANTHROPIC_TOOL_GET_CAPITAL]}
    message = (await anthropic_client.post('/v1/messages', json=body)).json()
    assert message['content'][0]['text'].startswith('Tool get_capital returned Paris')
    assert message['stop_reason'] == 'end_turn'


async def test_max_tokens_and_stop_sequences(anthropic_client: httpx.AsyncClient) -> None:
    cut = (await anthropic_client.post('/v1/messages', json=messages_body(max_tokens=3))).json()
    assert (len(cut['content'][0]['text'].split()), cut['stop_reason']) == (3, 'max_tokens')
    full = (await anthropic_client.post('/v1/messages', json=messages_body())).json()['content'][0]['text']
    stop = full.split()[4]
    body = messages_body(stop_sequences=[stop])
    stopped = (await anthropic_client.post('/v1/messages', json=body)).json()
    assert (stopped['stop_reason'], stopped['stop_sequence']) == ('stop_sequence', stop)
    assert stopped['content'][0]['text'] == full.split(stop)[0]
    events = await _stream(anthropic_client, body)
    assert events[-2][1]['delta'] == {'stop_reason': 'stop_sequence', 'stop_sequence': stop}


# -- auth and validation, in Anthropic's error shape --------------------------------------------


def _error(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {'type', 'error', 'request_id'}
    assert body['type'] == 'error'
    assert body['error']['type'] == error_type
    assert response.headers['request-id'] == body['request_id']
    message: str = body['error']['message']
    return message


async def test_missing_and_wrong_keys_are_401(emulator: Emulator) -> None:
    url = emulator.base_url('anthropic') + '/v1/messages'
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT_S) as http:
        missing = await http.post(url, json=messages_body(), headers=ANTHROPIC_HEADERS)
        assert _error(missing, 401, 'authentication_error') == 'x-api-key header is required'
        wrong_key = 'sk-ant-not-the-emulator-key'
        wrong = await http.post(
            url, json=messages_body(), headers={**ANTHROPIC_HEADERS, 'x-api-key': wrong_key}
        )
        assert _error(wrong, 401, 'authentication_error') == 'invalid x-api-key'
        assert wrong_key not in wrong.text
        # The 2.x SDKs send the key as a bearer token; a wrong one is refused the same way.
        bearer = {**ANTHROPIC_HEADERS, 'authorization': f'Bearer {emulator.api_key}'}
        assert (await http.post(url, json=messages_body(), headers=bearer)).status_code == 200
        bearer['authorization'] = f'Bearer {wrong_key}'
        assert _error(await http.post(url, json=messages_body(), headers=bearer), 401, 'authentication_error')


@pytest.mark.parametrize(
    ('version', 'message'),
    [(None, 'header is required'), ('2099-01-01', 'invalid version'), ('latest', 'invalid version')],
)
async def test_anthropic_version_is_required(emulator: Emulator, version: str | None, message: str) -> None:
    headers = {'x-api-key': emulator.api_key, **({'anthropic-version': version} if version else {})}
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT_S) as http:
        response = await http.post(
            emulator.base_url('anthropic') + '/v1/messages', json=messages_body(), headers=headers
        )
    assert message in _error(response, 400, 'invalid_request_error')


@pytest.mark.parametrize(
    ('change', 'message'),
    [
        ({'max_tokens': None}, 'max_tokens: Field required'),
        ({'messages': None}, 'messages: Field required'),
        ({'messages': [{'role': 'system', 'content': 'x'}]}, 'messages.0.role'),
        ({'thinking': {'type': 'enabled', 'budget_tokens': 100}}, 'budget_tokens'),
        ({'thinking': {'type': 'enabled', 'budget_tokens': 2048}}, 'greater than `thinking.budget_tokens`'),
        ({'tools': [ANTHROPIC_TOOL_GET_CAPITAL], 'tool_choice': {'type': 'tool', 'name': 'nope'}}, "'nope'"),
        (
            {
                'tools': [{'name': 'x', 'input_schema': {'$ref': '#/$defs/Nowhere'}}],
                'tool_choice': {'type': 'any'},
            },
            'points at nothing',
        ),
        ({'model': 'claude+fault=explode'}, 'unknown fault'),
    ],
)
async def test_bad_requests_are_400(
    anthropic_client: httpx.AsyncClient, change: dict[str, Any], message: str
) -> None:
    body = {key: value for key, value in {**messages_body(), **change}.items() if value is not None}
    response = await anthropic_client.post('/v1/messages', json=body)
    assert message in _error(response, 400, 'invalid_request_error')


async def test_unknown_path_gets_the_shape_of_the_vendor_it_was_meant_for(
    anthropic_client: httpx.AsyncClient, emulator: Emulator
) -> None:
    response = await anthropic_client.post('/v1/mesages', json=messages_body())
    assert _error(response, 404, 'not_found_error') == 'Not Found: POST /v1/mesages'
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT_S) as http:
        plain = await http.post(emulator.url + '/v1/mesages')
    assert set(plain.json()['error']) == {'message', 'type', 'param', 'code'}  # OpenAI's, by default


# -- faults -----------------------------------------------------------------------------------


async def test_429_in_anthropic_shape_then_success(anthropic_client: httpx.AsyncClient) -> None:
    body = messages_body(model='claude+fault=429+fault-times=1+retry-after-ms=20')
    first = await anthropic_client.post('/v1/messages', json=body)
    _error(first, 429, 'rate_limit_error')
    assert (first.headers['retry-after'], first.headers['retry-after-ms']) == ('1', '20')
    assert first.headers['anthropic-ratelimit-requests-remaining'] == '0'
    assert first.headers['anthropic-ratelimit-requests-reset'].endswith('Z')
    assert (await anthropic_client.post('/v1/messages', json=body)).status_code == 200


@pytest.mark.parametrize(
    ('fault', 'status', 'error_type'), [('529', 529, 'overloaded_error'), ('500', 500, 'api_error')]
)
async def test_http_faults(
    anthropic_client: httpx.AsyncClient, fault: str, status: int, error_type: str
) -> None:
    response = await anthropic_client.post(
        '/v1/messages', json=messages_body(), headers={'x-emulator-fault': fault}
    )
    _error(response, status, error_type)


async def test_overloaded_right_after_message_start(anthropic_client: httpx.AsyncClient) -> None:
    events = await _stream(anthropic_client, messages_body(model='claude+fault=overloaded+fault-after=0'))
    assert _names(events) == ['message_start', 'error']
    assert events[1][1] == {'type': 'error', 'error': {'type': 'overloaded_error', 'message': 'Overloaded'}}


async def test_stream_error_after_some_tokens(anthropic_client: httpx.AsyncClient) -> None:
    events = await _stream(anthropic_client, messages_body(model='claude+fault=stream-error+fault-after=2'))
    assert _names(events) == [*TEXT_STREAM[:5], 'error']
    assert events[-1][1]['error']['type'] == 'api_error'


async def test_overloaded_when_not_streaming_is_529(anthropic_client: httpx.AsyncClient) -> None:
    response = await anthropic_client.post(
        '/v1/messages', json=messages_body(model='claude+fault=overloaded')
    )
    _error(response, 529, 'overloaded_error')


async def test_truncate_ends_before_message_stop(anthropic_client: httpx.AsyncClient) -> None:
    events = await _stream(
        anthropic_client, messages_body(model='claude+tokens=2+fault=truncate+fault-after=50')
    )
    # All tokens out, then the body ends cleanly before the block closes.
    assert _names(events) == TEXT_STREAM[:3] + ['content_block_delta'] * 2


async def test_drop_closes_the_connection_mid_stream(anthropic_client: httpx.AsyncClient) -> None:
    body = messages_body(model='claude+fault=drop+fault-after=3', stream=True)
    received = bytearray()

    async def read() -> None:
        async with anthropic_client.stream('POST', '/v1/messages', json=body) as response:
            async for chunk in response.aiter_bytes():
                received.extend(chunk)

    with pytest.raises(httpx.RemoteProtocolError):
        await read()
    assert _names(parse_named_sse(bytes(received))) == TEXT_STREAM[:6]
