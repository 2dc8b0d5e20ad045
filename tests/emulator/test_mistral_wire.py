"""The emulator's Mistral module over real loopback sockets: Mistral's shapes and checks, its faults,
and MistralModel on it (including a conversation begun on OpenAI and continued on Mistral)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from modelkit import Agent
from modelkit.emulator import Emulator
from modelkit.exceptions import ModelStreamError
from modelkit.messages import ModelMessage, ModelRequest, TextPart, ThinkingPart, ToolCallPart, UserPromptPart
from modelkit.models import ModelRequestParameters
from modelkit.models.mistral import MistralModel
from modelkit.models.openai import OpenAIModel
from modelkit.providers.mistral import MistralProvider
from modelkit.providers.openai import OpenAIProvider
from modelkit.wire.mistral import MistralChatCompletion, MistralChatCompletionChunk

from .conftest import TEST_TIMEOUT_S, TOOL_GET_CAPITAL, chat_body, parse_sse

pytestmark = pytest.mark.anyio

MISTRAL_ID = re.compile(r'[A-Za-z0-9]{9}')


@pytest.fixture
async def mistral(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client at the emulator's Mistral base URL, with the key set."""
    headers = {'authorization': f'Bearer {emulator.api_key}'}
    base_url = emulator.base_url('mistral')
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=TEST_TIMEOUT_S) as client:
        yield client


def mistral_model(
    emulator: Emulator, http_client: httpx.AsyncClient, name: str = 'mistral-small-latest'
) -> MistralModel:
    provider = MistralProvider(
        api_key=emulator.api_key, base_url=emulator.base_url('mistral'), http_client=http_client
    )
    return MistralModel(name, provider=provider)


async def drain(model: MistralModel, messages: list[ModelMessage]) -> None:
    async with model.request_stream(messages, None, ModelRequestParameters()) as stream:
        async for _ in stream:
            pass


def user(text: str) -> list[ModelMessage]:
    return [ModelRequest([UserPromptPart(text)])]


async def test_base_url_and_environment(emulator: Emulator) -> None:
    assert set(emulator.environment('mistral')) == {MistralProvider.base_url_env, MistralProvider.api_key_env}
    assert emulator.base_url('mistral') == f'{emulator.url}/mistral/v1'
    assert emulator.environment('mistral') == {
        'MISTRAL_BASE_URL': emulator.base_url('mistral'),
        'MISTRAL_API_KEY': emulator.api_key,
    }


async def test_magistral_thinks_in_list_content(mistral: httpx.AsyncClient) -> None:
    whole = await mistral.post('/chat/completions', json=chat_body(model='magistral-small-latest'))
    completion = MistralChatCompletion.model_validate(whole.json())
    assert re.fullmatch(r'[0-9a-f]{32}', completion.id)
    content = whole.json()['choices'][0]['message']['content']
    assert [chunk['type'] for chunk in content] == ['thinking', 'text']

    streamed = await mistral.post(
        '/chat/completions', json=chat_body(model='magistral-small-latest', stream=True)
    )
    events, done = parse_sse(streamed.content)
    assert done
    for event in events:
        MistralChatCompletionChunk.model_validate(event)
    kinds = [
        'list' if isinstance(c := e['choices'][0]['delta'].get('content'), list) else type(c).__name__
        for e in events[1:-1]
    ]
    first_text = kinds.index('str') - 1
    assert events[first_text + 1]['choices'][0]['delta']['content'][0]['type'] == 'text'
    assert set(kinds[:first_text]) == {'list'}  # thinking chunks
    assert set(kinds[first_text + 1 :]) == {'str'}  # then plain strings
    assert events[-1]['usage']['completion_tokens'] > 0


async def test_mistral_checks(mistral: httpx.AsyncClient, emulator: Emulator) -> None:
    refused = await mistral.post(
        '/chat/completions', json=chat_body(stream=True, stream_options={'include_usage': True})
    )
    assert refused.status_code == 422
    assert refused.json()['message']['detail'][0]['loc'] == ['body', 'stream_options']

    history = [
        {'role': 'user', 'content': 'Use get_capital for France'},
        {
            'role': 'assistant',
            'tool_calls': [{'id': 'call_abc', 'function': {'name': 'get_capital', 'arguments': '{}'}}],
        },
        {'role': 'tool', 'tool_call_id': 'call_abc', 'content': 'Paris'},
    ]
    bad_id = await mistral.post(
        '/chat/completions', json={'model': 'mistral-small-latest', 'messages': history}
    )
    assert bad_id.status_code == 400
    assert bad_id.json()['object'] == 'error'
    assert 'with a length of 9' in bad_id.json()['message']

    async with httpx.AsyncClient(timeout=TEST_TIMEOUT_S) as plain:
        unauthorized = await plain.post(emulator.base_url('mistral') + '/chat/completions', json=chat_body())
    assert unauthorized.status_code == 401
    assert unauthorized.json()['message'] == 'No API key found in request'


async def test_any_forces_a_whole_tool_call_with_a_mistral_id(mistral: httpx.AsyncClient) -> None:
    body = chat_body('Hello', tools=[TOOL_GET_CAPITAL], tool_choice='any', random_seed=3, stream=True)
    events, _ = parse_sse((await mistral.post('/chat/completions', json=body)).content)
    [call_chunk] = [e for e in events if e['choices'][0]['delta'].get('tool_calls')]
    [call] = call_chunk['choices'][0]['delta']['tool_calls']
    assert MISTRAL_ID.fullmatch(call['id'])
    assert call['function']['name'] == 'get_capital'
    assert events[-1]['choices'][0]['finish_reason'] == 'tool_calls'


async def test_mistral_model_reads_thinking_the_same_streamed_or_not(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    model = mistral_model(emulator, client, 'magistral-small-latest')
    whole, whole_usage = await model.request(user('Tell me about rivers'), None, ModelRequestParameters())
    async with model.request_stream(user('Tell me about rivers'), None, ModelRequestParameters()) as stream:
        async for _ in stream:
            pass
    assert [type(p) for p in whole.parts] == [ThinkingPart, TextPart]
    assert stream.get().parts == whole.parts
    assert stream.usage() == whole_usage


async def test_an_openai_conversation_continues_on_mistral(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    # OpenAI's ids (`call_` and 24 characters) would be refused by Mistral: MistralModel maps them.
    openai = OpenAIModel(
        'gpt-4o',
        provider=OpenAIProvider(
            api_key=emulator.api_key, base_url=emulator.base_url('openai'), http_client=client
        ),
    )
    agent = Agent(openai)

    @agent.tool_plain
    def get_capital(country: str) -> str:
        return 'Paris'

    first = await agent.run('Use get_capital for France')
    openai_ids = [
        p.tool_call_id for m in first.all_messages() for p in m.parts if isinstance(p, ToolCallPart)
    ]
    assert openai_ids
    assert not any(MISTRAL_ID.fullmatch(i) for i in openai_ids)
    second = await agent.run(
        'And tell me about rivers',
        message_history=first.all_messages(),
        model=mistral_model(emulator, client),
    )
    assert second.data


async def test_mistral_model_agent_tools_and_faults(emulator: Emulator, client: httpx.AsyncClient) -> None:
    agent = Agent(mistral_model(emulator, client))
    countries: list[str] = []

    @agent.tool_plain
    def get_capital(country: str) -> str:
        countries.append(country)
        return 'Paris'

    result = await agent.run('Use get_capital for France')
    assert len(countries) == 1
    assert 'get_capital' in result.data
    with pytest.raises(ModelStreamError) as info:
        await drain(
            mistral_model(emulator, client, 'mistral-small+fault=stream-error+fault-after=2'), user('Hi')
        )
    assert info.value.error_type == 'internal_server_error'
    assert info.value.partial_response is not None
    assert len(info.value.partial_response.parts[0].content.split()) == 2  # type: ignore[union-attr]
