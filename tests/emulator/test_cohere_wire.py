"""The emulator's Cohere v2 chat API over loopback: shapes, typed event sequences, auth, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from modelkit.emulator import Emulator
from modelkit.emulator.cohere import PROMPT_TEMPLATE_TOKENS, count_input_tokens
from modelkit.wire.cohere import ChatResponse, StreamedChatEvent
from tests.helpers.emulator import TEST_TIMEOUT_S, TOOL_GET_CAPITAL, parse_named_sse

pytestmark = pytest.mark.anyio

# Cohere's tool declaration is OpenAI's function shape, without `strict`.
TOOL = {
    'type': 'function',
    'function': {k: v for k, v in TOOL_GET_CAPITAL['function'].items() if k != 'strict'},
}
NO_ARGS_TOOL = {
    'type': 'function',
    'function': {'name': 'now', 'parameters': {'type': 'object', 'properties': {}}},
}


def chat_body(prompt: str = 'Tell me about rivers', **extra: Any) -> dict[str, Any]:
    return {'model': 'command-r-plus', 'messages': [{'role': 'user', 'content': prompt}], **extra}


@pytest.fixture
async def cohere_client(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client at the emulator's Cohere base URL with the key."""
    async with httpx.AsyncClient(
        base_url=emulator.base_url('cohere'),
        headers={'authorization': f'Bearer {emulator.api_key}'},
        timeout=TEST_TIMEOUT_S,
    ) as http:
        yield http


async def stream(client: httpx.AsyncClient, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    response = await client.post('/v2/chat', json={**body, 'stream': True})
    assert response.status_code == 200, response.text
    assert response.headers['content-type'].startswith('text/event-stream')
    blocks = response.content.split(b'\n\n')
    assert blocks[-2:] == [b'data: [DONE]', b''], 'a complete stream ends with data: [DONE]'
    events = parse_named_sse(b'\n\n'.join(blocks[:-2]))
    for _, payload in events:
        StreamedChatEvent.model_validate(payload)  # every event fits the wire schema
    return events


def names(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in events]


def joined(events: list[tuple[str, dict[str, Any]]], name: str, *path: str) -> str:
    out = []
    for event_name, payload in events:
        if event_name == name:
            value: Any = payload['delta']['message']
            for key in path:
                value = value.get(key, '')
            out.append(value)
    return ''.join(out)


async def test_served_at_the_root_with_cohere_environment(emulator: Emulator) -> None:
    assert 'cohere' in emulator.prefixes
    assert emulator.base_url('cohere') == emulator.url  # the SDK and provider append /v2/chat
    assert emulator.environment('cohere') == {'CO_API_URL': emulator.url, 'CO_API_KEY': emulator.api_key}
    # What `modelkit emulate` prints: the base URL, and the line to paste into a shell.
    lines = emulator.startup_lines()
    assert ['cohere', emulator.url] in [line.split() for line in lines]
    assert f'export CO_API_URL={emulator.url} CO_API_KEY={emulator.api_key}' in lines


async def test_plain_answer_has_cohere_shape(cohere_client: httpx.AsyncClient) -> None:
    response = await cohere_client.post('/v2/chat', json=chat_body())
    assert response.status_code == 200
    assert response.headers['x-debug-trace-id']
    payload = response.json()
    ChatResponse.model_validate(payload)
    assert set(payload) == {'id', 'message', 'finish_reason', 'usage'}
    [item] = payload['message']['content']
    assert item['type'] == 'text'
    assert len(item['text'].split()) == 8
    assert payload['finish_reason'] == 'COMPLETE'
    billed = payload['usage']['billed_units']
    assert billed == {'input_tokens': count_input_tokens(chat_body()), 'output_tokens': 8}
    assert payload['usage']['tokens']['input_tokens'] == billed['input_tokens'] + PROMPT_TEMPLATE_TOKENS


async def test_stream_has_the_typed_event_sequence(cohere_client: httpx.AsyncClient) -> None:
    events = await stream(cohere_client, chat_body())
    assert names(events) == [
        'message-start',
        'content-start',
        *['content-delta'] * 8,
        'content-end',
        'message-end',
    ]
    plain = (await cohere_client.post('/v2/chat', json=chat_body())).json()
    assert joined(events, 'content-delta', 'content', 'text') == plain['message']['content'][0]['text']
    finish = events[-1][1]['delta']
    assert finish['finish_reason'] == 'COMPLETE'
    assert finish['usage'] == plain['usage']


async def test_thinking_comes_first_when_enabled(cohere_client: httpx.AsyncClient) -> None:
    body = chat_body(thinking={'type': 'enabled', 'token_budget': 500})
    events = await stream(cohere_client, body)
    starts = [
        payload['delta']['message']['content']['type'] for name, payload in events if name == 'content-start'
    ]
    assert starts == ['thinking', 'text']
    assert joined(events, 'content-delta', 'content', 'thinking').startswith('Thinking about')
    plain = (await cohere_client.post('/v2/chat', json=body)).json()
    assert [item['type'] for item in plain['message']['content']] == ['thinking', 'text']


async def test_tool_calls_stream_a_plan_then_argument_fragments(cohere_client: httpx.AsyncClient) -> None:
    events = await stream(cohere_client, chat_body('Use get_capital', tools=[TOOL]))
    kinds = names(events)
    assert kinds[0] == 'message-start'
    assert kinds[1 : kinds.index('tool-call-start')] == ['tool-plan-delta'] * (
        kinds.index('tool-call-start') - 1
    )
    assert kinds[-2:] == ['tool-call-end', 'message-end']
    assert joined(events, 'tool-plan-delta', 'tool_plan') == 'I will use get_capital to answer this.'
    opening = next(payload for name, payload in events if name == 'tool-call-start')
    call = opening['delta']['message']['tool_calls']
    assert call['id'].startswith('get_capital_')
    assert call['function'] == {'name': 'get_capital', 'arguments': ''}
    arguments = orjson.loads(joined(events, 'tool-call-delta', 'tool_calls', 'function', 'arguments'))
    assert isinstance(arguments['country'], str)
    assert events[-1][1]['delta']['finish_reason'] == 'TOOL_CALL'

    plain = (await cohere_client.post('/v2/chat', json=chat_body('Use get_capital', tools=[TOOL]))).json()
    assert 'content' not in plain['message']
    assert plain['message']['tool_plan'] == 'I will use get_capital to answer this.'
    assert plain['message']['tool_calls'][0]['id'] == call['id']


async def test_a_call_without_arguments_is_only_its_start(cohere_client: httpx.AsyncClient) -> None:
    events = await stream(cohere_client, chat_body('Use now', tools=[NO_ARGS_TOOL], tool_choice='REQUIRED'))
    tail = names(events)[-3:]
    assert tail == ['tool-call-start', 'tool-call-end', 'message-end']


async def test_tool_result_gets_a_cited_text_answer(cohere_client: httpx.AsyncClient) -> None:
    messages = [
        {'role': 'user', 'content': 'Use get_capital'},
        {
            'role': 'assistant',
            'tool_plan': 'I will use get_capital.',
            'tool_calls': [
                {
                    'id': 'get_capital_x1',
                    'type': 'function',
                    'function': {'name': 'get_capital', 'arguments': '{}'},
                }
            ],
        },
        {'role': 'tool', 'tool_call_id': 'get_capital_x1', 'content': [{'type': 'text', 'text': 'Paris'}]},
    ]
    body = {'model': 'command-r', 'messages': messages, 'tools': [TOOL]}
    plain = (await cohere_client.post('/v2/chat', json=body)).json()
    text = plain['message']['content'][0]['text']
    assert text.startswith('Tool get_capital returned Paris')
    [citation] = plain['message']['citations']
    assert text[citation['start'] : citation['end']] == citation['text'] == 'Paris'
    assert citation['sources'][0]['id'] == 'get_capital_x1:0'
    events = await stream(cohere_client, body)
    assert names(events)[-3:] == ['citation-start', 'citation-end', 'message-end']


async def test_json_schema_output(cohere_client: httpx.AsyncClient) -> None:
    schema = {'type': 'object', 'properties': {'city': {'type': 'string'}}, 'required': ['city']}
    payload = (
        await cohere_client.post(
            '/v2/chat', json=chat_body(response_format={'type': 'json_object', 'json_schema': schema})
        )
    ).json()
    assert isinstance(orjson.loads(payload['message']['content'][0]['text'])['city'], str)


async def test_max_tokens_and_stop_sequences(cohere_client: httpx.AsyncClient) -> None:
    short = (await cohere_client.post('/v2/chat', json=chat_body(max_tokens=3))).json()
    assert short['finish_reason'] == 'MAX_TOKENS'
    assert short['usage']['billed_units']['output_tokens'] == 3
    full = (await cohere_client.post('/v2/chat', json=chat_body())).json()['message']['content'][0]['text']
    stop = full.split()[2]
    stopped = (await cohere_client.post('/v2/chat', json=chat_body(stop_sequences=[stop]))).json()
    assert stopped['finish_reason'] == 'STOP_SEQUENCE'
    assert stop not in stopped['message']['content'][0]['text']


async def test_missing_and_wrong_keys_are_401(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.base_url('cohere'), timeout=TEST_TIMEOUT_S) as http:
        missing = await http.post('/v2/chat', json=chat_body())
        wrong = await http.post('/v2/chat', json=chat_body(), headers={'authorization': 'Bearer co-wrong'})
    assert (missing.status_code, missing.json()['message']) == (401, 'no api key supplied')
    assert (wrong.status_code, wrong.json()['message']) == (401, 'invalid api token')
    assert set(wrong.json()) == {'id', 'message'}
    assert 'co-wrong' not in wrong.text


@pytest.mark.parametrize(
    ('body', 'message'),
    [
        ({'messages': [{'role': 'user', 'content': 'hi'}]}, 'model must be a non-empty string'),
        ({'model': 'command', 'messages': []}, 'messages must contain at least one message'),
        ({'model': 'command', 'messages': [{'role': 'bot', 'content': 'hi'}]}, 'messages[0].role'),
        ({'model': 'command', 'messages': [{'role': 'tool', 'content': 'x'}]}, 'tool_call_id is required'),
        (chat_body(tool_choice='AUTO', tools=[TOOL]), "tool_choice must be 'REQUIRED' or 'NONE'"),
        (chat_body(tool_choice='REQUIRED'), "tool_choice 'REQUIRED' needs tools"),
        (chat_body(tools=[{'name': 'x'}]), "tools[0] must be {'type': 'function'"),
        (chat_body(response_format={'type': 'xml'}), 'response_format.type'),
        (chat_body(thinking={'type': 'on'}), 'thinking.type'),
        (chat_body(max_tokens=-1), 'max_tokens must be a non-negative integer'),
        (chat_body(stop_sequences='\n'), 'stop_sequences must be a list of strings'),
    ],
)
async def test_bad_requests_are_400_invalid_request(
    cohere_client: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    response = await cohere_client.post('/v2/chat', json=body)
    assert response.status_code == 400
    assert response.json()['message'].startswith('invalid request: ')
    assert message in response.json()['message']


async def test_unknown_path_under_v2_gets_cohere_shape(cohere_client: httpx.AsyncClient) -> None:
    response = await cohere_client.post('/v2/rerank', json={})
    assert response.status_code == 404
    assert set(response.json()) == {'id', 'message'}
    assert response.json()['message'] == 'path /v2/rerank not found'


async def test_429_says_how_long_to_wait_then_succeeds(cohere_client: httpx.AsyncClient) -> None:
    body = chat_body(model='command+fault=429+fault-times=1')
    first = await cohere_client.post('/v2/chat', json=body)
    assert first.status_code == 429
    assert first.headers['retry-after-ms'] == '10'
    assert 'Trial key' in first.json()['message']
    assert (await cohere_client.post('/v2/chat', json=body)).status_code == 200


@pytest.mark.parametrize(('fault', 'status'), [('500', 500), ('503', 503)])
async def test_http_faults(cohere_client: httpx.AsyncClient, fault: str, status: int) -> None:
    response = await cohere_client.post('/v2/chat', json=chat_body(model=f'command+fault={fault}'))
    assert response.status_code == status
    assert set(response.json()) == {'id', 'message'}


async def test_stream_error_is_message_end_with_finish_reason_error(cohere_client: httpx.AsyncClient) -> None:
    response = await cohere_client.post(
        '/v2/chat', json=chat_body(model='command+fault=stream-error+fault-after=2', stream=True)
    )
    events = parse_named_sse(response.content)
    assert names(events) == [
        'message-start',
        'content-start',
        'content-delta',
        'content-delta',
        'message-end',
    ]
    delta = events[-1][1]['delta']
    assert delta['finish_reason'] == 'ERROR'
    assert 'internal server error' in delta['error']
    assert b'[DONE]' not in response.content


async def test_truncate_ends_before_message_end(cohere_client: httpx.AsyncClient) -> None:
    response = await cohere_client.post(
        '/v2/chat', json=chat_body(model='command+fault=truncate+fault-after=3', stream=True)
    )
    events = parse_named_sse(response.content)
    assert names(events) == ['message-start', 'content-start', *['content-delta'] * 3]


async def test_drop_closes_the_connection_mid_stream(cohere_client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        await cohere_client.post('/v2/chat', json=chat_body(model='command+fault=drop', stream=True))
