"""The emulator's Groq module over real loopback sockets: Groq's shapes, its faults, and GroqModel on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from modelkit import Agent
from modelkit.emulator import Emulator
from modelkit.exceptions import ModelStreamError
from modelkit.messages import ModelMessage, ModelRequest, TextPart, UserPromptPart
from modelkit.models import ModelRequestParameters
from modelkit.models.groq import GroqModel, GroqToolUseFailedError
from modelkit.providers.groq import GroqProvider
from modelkit.wire.groq import GroqChatCompletion, GroqStreamPayload

from .conftest import TEST_TIMEOUT_S, chat_body, parse_sse

pytestmark = pytest.mark.anyio


@pytest.fixture
async def groq(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client at the emulator's Groq base URL, with the key set."""
    headers = {'authorization': f'Bearer {emulator.api_key}'}
    async with httpx.AsyncClient(
        base_url=emulator.base_url('groq'), headers=headers, timeout=TEST_TIMEOUT_S
    ) as c:
        yield c


def groq_model(
    emulator: Emulator, http_client: httpx.AsyncClient, name: str = 'llama-3.3-70b-versatile'
) -> GroqModel:
    return GroqModel(
        name,
        provider=GroqProvider(
            api_key=emulator.api_key, base_url=emulator.base_url('groq'), http_client=http_client
        ),
    )


async def drain(model: GroqModel, messages: list[ModelMessage]) -> None:
    async with model.request_stream(messages, None, ModelRequestParameters()) as stream:
        async for _ in stream:
            pass


async def test_base_url_and_environment(emulator: Emulator) -> None:
    assert set(emulator.environment('groq')) == {GroqProvider.base_url_env, GroqProvider.api_key_env}
    assert emulator.base_url('groq') == f'{emulator.url}/openai/v1'
    assert emulator.environment('groq') == {
        'GROQ_BASE_URL': emulator.base_url('groq'),
        'GROQ_API_KEY': emulator.api_key,
    }
    assert 'groq' in emulator.prefixes


async def test_whole_completion_has_x_groq_and_timings(groq: httpx.AsyncClient) -> None:
    response = await groq.post('/chat/completions', json=chat_body(model='llama-3.3-70b-versatile'))
    assert response.status_code == 200
    body = response.json()
    completion = GroqChatCompletion.model_validate(body)
    assert completion.id.startswith('chatcmpl-')
    assert completion.x_groq is not None
    assert (completion.x_groq.id or '').startswith('req_')
    assert completion.usage is not None
    assert (completion.usage.total_time or 0) > 0


async def test_stream_reports_usage_under_x_groq_on_the_finish_chunk(groq: httpx.AsyncClient) -> None:
    response = await groq.post(
        '/chat/completions', json=chat_body(model='llama-3.3-70b-versatile', stream=True)
    )
    events, done = parse_sse(response.content)
    assert done
    for event in events:
        GroqStreamPayload.model_validate(event)
    assert events[0]['x_groq'] == {'id': events[0]['x_groq']['id']}
    last = events[-1]
    assert last['choices'][0]['finish_reason'] == 'stop'
    assert last['x_groq']['usage'] == last['usage']
    assert last['usage']['completion_tokens'] == sum(
        1 for e in events if e['choices'][0]['delta'].get('content')
    )
    assert all('usage' not in e for e in events[:-1])


async def test_bad_key_is_groqs_401(emulator: Emulator) -> None:
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT_S) as plain:
        response = await plain.post(
            emulator.base_url('groq') + '/chat/completions',
            json=chat_body(),
            headers={'authorization': 'Bearer nope'},
        )
    assert response.status_code == 401
    assert response.json() == {
        'error': {'message': 'Invalid API Key', 'type': 'invalid_request_error', 'code': 'invalid_api_key'}
    }


async def test_tool_use_failed_fault(groq: httpx.AsyncClient) -> None:
    response = await groq.post('/chat/completions', json=chat_body(model='llama+fault=tool-use-failed'))
    assert response.status_code == 400
    error = response.json()['error']
    assert (error['code'], error['type']) == ('tool_use_failed', 'invalid_request_error')
    assert error['failed_generation'] == '{"name": "no_such_tool", "arguments": {}}'

    streamed = await groq.post(
        '/chat/completions', json=chat_body(model='llama+fault=tool-use-failed+fault-after=2', stream=True)
    )
    assert streamed.status_code == 200
    last = streamed.content.strip().split(b'\n\n')[-1]
    assert last.startswith(b'event: error\ndata: ')
    payload = orjson.loads(last.split(b'data: ', 1)[1])
    assert payload['error']['code'] == 'tool_use_failed'
    assert payload['error']['status_code'] == 400
    assert b'[DONE]' not in streamed.content


async def test_groq_model_streams_text_with_usage(emulator: Emulator, client: httpx.AsyncClient) -> None:
    model = groq_model(emulator, client)
    messages = [ModelRequest([UserPromptPart('Tell me about rivers')])]
    async with model.request_stream(messages, None, ModelRequestParameters()) as stream:
        async for _ in stream:
            pass
    response, usage = stream.get(), stream.usage()
    whole, whole_usage = await model.request(messages, None, ModelRequestParameters())
    assert response.parts == whole.parts
    assert isinstance(response.parts[0], TextPart)
    assert usage.response_tokens == whole_usage.response_tokens == 8
    assert usage.request_tokens == whole_usage.request_tokens


async def test_groq_model_runs_tools_through_an_agent(emulator: Emulator, client: httpx.AsyncClient) -> None:
    agent = Agent(groq_model(emulator, client))
    calls: list[str] = []

    @agent.tool_plain
    def get_capital(country: str) -> str:
        calls.append(country)
        return 'Paris'

    result = await agent.run('Use get_capital for France')
    assert len(calls) == 1
    assert 'get_capital' in result.data


async def test_groq_model_errors(emulator: Emulator, client: httpx.AsyncClient) -> None:
    messages = [ModelRequest([UserPromptPart('Hi')])]
    with pytest.raises(GroqToolUseFailedError) as info:
        await groq_model(emulator, client, 'llama+fault=tool-use-failed').request(
            messages, None, ModelRequestParameters()
        )
    assert info.value.failed_generation == '{"name": "no_such_tool", "arguments": {}}'
    for fault in ('tool-use-failed', 'stream-error'):
        model = groq_model(emulator, client, f'llama+fault={fault}+fault-after=3')
        with pytest.raises(ModelStreamError) as stream_info:
            await drain(model, messages)
        partial = stream_info.value.partial_response
        assert partial is not None
        assert isinstance(partial.parts[0], TextPart)
        assert len(partial.parts[0].content.split()) == 3


async def test_unknown_paths_get_the_404_of_the_vendor_they_are_under(emulator: Emulator) -> None:
    headers = {'authorization': f'Bearer {emulator.api_key}'}
    async with httpx.AsyncClient(headers=headers, timeout=TEST_TIMEOUT_S) as plain:
        groq_404 = await plain.get(emulator.url + '/openai/v1/nothing')
        mistral_404 = await plain.get(emulator.url + '/mistral/v1/nothing')
        openai_404 = await plain.get(emulator.url + '/v1/nothing')
    assert groq_404.json()['error']['code'] == 'unknown_url'
    assert mistral_404.json()['object'] == 'error'
    assert openai_404.json()['error']['message'] == 'Invalid URL (GET /v1/nothing)'
