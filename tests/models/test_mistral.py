"""MistralModel over respx: the exact request it sends (Mistral's dialect, tool-call ids from other
vendors' histories), and how whole answers with list content and cached-token counts are read."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
import pytest
import respx

from modelkit import Agent
from modelkit.exceptions import UserError
from modelkit.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters, infer_model
from modelkit.models.fallback import FallbackModel
from modelkit.models.mistral import MistralModel, MistralModelSettings
from modelkit.models.openai import OpenAIModel
from modelkit.providers.mistral import MistralProvider
from modelkit.providers.openai import OpenAIProvider
from modelkit.tools import ToolDefinition
from modelkit.wire.mistral import MistralChatCompletionRequest
from tests.models import _openai_family
from tests.models._openai_family import sent_json, user

pytestmark = pytest.mark.anyio

router = _openai_family.router  # the shared fixtures
http_client = _openai_family.http_client

BASE_URL = 'https://api.mistral.ai/v1'
URL = f'{BASE_URL}/chat/completions'
TOOL = ToolDefinition('get_weather', 'The weather in a city.', {'type': 'object', 'properties': {}})
MISTRAL_ID = re.compile(r'[A-Za-z0-9]{9}')


def completion(
    content: Any = 'Paris.', usage: dict[str, Any] | None = None, **message: Any
) -> dict[str, Any]:
    """A Mistral chat.completion body."""
    return {
        'id': '74b5a04853d2428f8c69b8b35dc2d30b',
        'object': 'chat.completion',
        'created': 1_782_199_134,
        'model': 'mistral-small-latest',
        'choices': [
            {
                'index': 0,
                'message': {'role': 'assistant', 'content': content, 'tool_calls': None, **message},
                'finish_reason': 'tool_calls' if message.get('tool_calls') else 'stop',
            }
        ],
        'usage': usage
        or {
            'prompt_tokens': 4,
            'completion_tokens': 36,
            'total_tokens': 40,
            'prompt_tokens_details': {'cached_tokens': 0},
        },
    }


def make_model(http_client: httpx.AsyncClient) -> MistralModel:
    return MistralModel(
        'mistral-small-latest', provider=MistralProvider(api_key='m-test', http_client=http_client)
    )


# --------------------------------------------------------------------------------------------
# The request
# --------------------------------------------------------------------------------------------


async def test_dialect_fields(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    route = router.post(URL).respond(json=completion())
    settings: MistralModelSettings = {'max_tokens': 64, 'seed': 42, 'temperature': 0.2, 'top_p': 1.0}
    params = ModelRequestParameters(function_tools=[TOOL], allow_text_result=False)
    await make_model(http_client).request(user('Hi'), settings, params)
    assert route.calls.last.request.headers['authorization'] == 'Bearer m-test'
    body = sent_json(route)
    assert body == {
        'model': 'mistral-small-latest',
        'messages': [{'role': 'user', 'content': 'Hi'}],
        'stream': False,
        'tools': [
            {
                'type': 'function',
                'function': {
                    'name': 'get_weather',
                    'description': 'The weather in a city.',
                    'parameters': {'type': 'object', 'properties': {}},
                },
            }
        ],
        'tool_choice': 'any',
        'max_tokens': 64,
        'random_seed': 42,
        'temperature': 0.2,
        'top_p': 1.0,
    }
    MistralChatCompletionRequest.model_validate(body)  # what we send fits Mistral's request schema


async def test_text_allowed_means_tool_choice_auto(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    route = router.post(URL).respond(json=completion())
    await make_model(http_client).request(user('Hi'), None, ModelRequestParameters([TOOL]))
    assert sent_json(route)['tool_choice'] == 'auto'


async def test_stream_request_has_no_stream_options(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    finish = {
        'id': 'x',
        'object': 'chat.completion.chunk',
        'created': 1,
        'model': 'm',
        'choices': [{'index': 0, 'delta': {'content': 'Hi'}, 'finish_reason': 'stop'}],
    }
    body = b'data: ' + orjson.dumps(finish) + b'\n\ndata: [DONE]\n\n'
    route = router.post(URL).respond(content=body, headers={'content-type': 'text/event-stream'})
    async with make_model(http_client).request_stream(
        user('Hi'), {'seed': 1}, ModelRequestParameters()
    ) as stream:
        async for _ in stream:
            pass
    sent = sent_json(route)
    assert sent['stream'] is True
    assert 'stream_options' not in sent
    assert sent['random_seed'] == 1
    MistralChatCompletionRequest.model_validate(sent)  # which forbids stream_options


def tool_history(call_id: str, other_call_id: str) -> list[ModelMessage]:
    """A history with two tool calls, their returns and a retry, as another vendor wrote the ids."""
    return [
        ModelRequest([UserPromptPart('Weather in Paris and Rome?')]),
        ModelResponse(
            [
                ToolCallPart('get_weather', '{"city": "Paris"}', call_id),
                ToolCallPart('get_weather', '{"city": "Rome"}', other_call_id),
            ]
        ),
        ModelRequest(
            [
                ToolReturnPart('get_weather', 'Sunny', call_id),
                RetryPromptPart(
                    'city must be a capital', tool_name='get_weather', tool_call_id=other_call_id
                ),
            ]
        ),
    ]


def sent_ids(body: dict[str, Any]) -> tuple[list[str], list[str]]:
    calls = [c['id'] for m in body['messages'] for c in m.get('tool_calls') or ()]
    returns = [m['tool_call_id'] for m in body['messages'] if m['role'] == 'tool']
    return calls, returns


@pytest.mark.parametrize(
    ('call_id', 'other_call_id'),
    [
        ('call_Qx8VnCZrM2l5wHhT1kKZ7s3B', 'call_9w2kLmPq0aR7sT5uV3xY1zAb'),  # OpenAI
        ('toolu_01A09q90qw90lq917835lq9', 'toolu_01B7Rn0xQHyq7WcjLMR3cE2d'),  # Anthropic
        ('pyd_ai_445dbde6c4764cafb5782bb928ef6c2c', ''),  # generated here; one missing
    ],
)
async def test_other_vendors_tool_call_ids_become_valid_and_consistent(
    router: respx.MockRouter, http_client: httpx.AsyncClient, call_id: str, other_call_id: str
) -> None:
    route = router.post(URL).respond(json=completion())
    history = tool_history(call_id, other_call_id)
    await make_model(http_client).request(history, None, ModelRequestParameters([TOOL]))
    await make_model(http_client).request(history, None, ModelRequestParameters([TOOL]))
    calls, returns = sent_ids(sent_json(route, 0))
    assert all(MISTRAL_ID.fullmatch(i) for i in calls)
    assert len(set(calls)) == 2
    assert returns == calls  # each return names its own call
    assert sent_ids(sent_json(route, 1)) == (calls, returns)  # the same history maps the same way
    MistralChatCompletionRequest.model_validate(sent_json(route, 0))


async def test_mistral_ids_are_kept(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    route = router.post(URL).respond(json=completion())
    await make_model(http_client).request(
        tool_history('KikbB849t', 'gSIMJiOkT'), None, ModelRequestParameters([TOOL])
    )
    assert sent_ids(sent_json(route)) == (['KikbB849t', 'gSIMJiOkT'], ['KikbB849t', 'gSIMJiOkT'])


OPENAI_URL = 'https://api.openai.com/v1/chat/completions'


async def test_a_conversation_started_on_openai_continues_on_mistral_through_fallback(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    openai_call = {
        'id': 'call_Qx8VnCZrM2l5wHhT1kKZ7s3B',
        'type': 'function',
        'function': {'name': 'get_weather', 'arguments': '{"city": "Paris"}'},
    }
    openai_answer = {
        'id': 'chatcmpl-1',
        'object': 'chat.completion',
        'created': 1,
        'model': 'gpt-4o',
        'choices': [
            {
                'index': 0,
                'message': {'role': 'assistant', 'content': None, 'tool_calls': [openai_call]},
                'finish_reason': 'tool_calls',
            }
        ],
    }
    # OpenAI answers the first request with a tool call, then fails; Mistral takes over.
    router.post(OPENAI_URL).mock(
        side_effect=[
            httpx.Response(200, json=openai_answer),
            httpx.Response(500, json={'error': {'message': 'down'}}),
        ]
    )
    mistral = router.post(URL).respond(json=completion('Sunny in Paris.'))
    openai = OpenAIModel(
        'gpt-4o', provider=OpenAIProvider(api_key='sk-test', http_client=http_client, max_retries=0)
    )
    agent = Agent(FallbackModel(openai, make_model(http_client)))

    @agent.tool_plain
    def get_weather(city: str) -> str:
        return f'Sunny in {city}'

    result = await agent.run('Weather in Paris?')
    assert result.data == 'Sunny in Paris.'
    body = sent_json(mistral)
    calls, returns = sent_ids(body)
    assert len(calls) == 1
    assert MISTRAL_ID.fullmatch(calls[0])
    assert returns == calls
    MistralChatCompletionRequest.model_validate(body)


# --------------------------------------------------------------------------------------------
# Processing a response
# --------------------------------------------------------------------------------------------


async def test_plain_string_content_and_cached_tokens(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    usage = {
        'prompt_tokens': 28,
        'completion_tokens': 4,
        'total_tokens': 32,
        'prompt_tokens_details': {'cached_tokens': 20},
    }
    router.post(URL).respond(json=completion('323', usage=usage))
    response, got = await make_model(http_client).request(user('Q'), None, ModelRequestParameters())
    assert response.parts == [TextPart('323')]
    assert response.vendor_id == '74b5a04853d2428f8c69b8b35dc2d30b'
    assert (got.request_tokens, got.response_tokens, got.total_tokens) == (28, 4, 32)
    assert got.details == {'cached_tokens': 20}


async def test_num_cached_tokens_is_read_too(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    usage = {'prompt_tokens': 77, 'completion_tokens': 12, 'total_tokens': 89, 'num_cached_tokens': 76}
    router.post(URL).respond(json=completion('Hi', usage=usage))
    _, got = await make_model(http_client).request(user('Q'), None, ModelRequestParameters())
    assert got.details == {'cached_tokens': 76}


async def test_list_content_with_thinking_then_text(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    content = [
        {
            'type': 'thinking',
            'thinking': [{'type': 'text', 'text': 'The user asks '}, {'type': 'text', 'text': '2+2.'}],
        },
        {'type': 'reference', 'reference_ids': [1]},
        {'type': 'text', 'text': '2 + 2 '},
        {'type': 'text', 'text': '= 4'},
    ]
    router.post(URL).respond(json=completion(content))
    response, _ = await make_model(http_client).request(user('2+2?'), None, ModelRequestParameters())
    assert response.parts == [ThinkingPart('The user asks 2+2.'), TextPart('2 + 2 = 4')]


async def test_tool_call_without_type(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    call = {
        'id': 'KikbB849t',
        'function': {'name': 'get_weather', 'arguments': '{"city": "Paris"}'},
        'index': 0,
    }
    router.post(URL).respond(json=completion('', tool_calls=[call]))
    response, _ = await make_model(http_client).request(user('Q'), None, ModelRequestParameters([TOOL]))
    assert response.parts == [ToolCallPart('get_weather', '{"city": "Paris"}', 'KikbB849t')]
    assert response.finish_reason == 'tool_call'


async def test_model_string_and_environment(
    router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('MISTRAL_API_KEY', 'm-env')
    model = infer_model('mistral:mistral-large-latest')
    assert isinstance(model, MistralModel)
    assert (model.base_url, model.system) == (BASE_URL, 'mistral')
    route = router.post(URL).respond(json=completion())
    result = await Agent(model).run('What is the capital of France?')
    assert result.data == 'Paris.'
    assert route.calls.last.request.headers['authorization'] == 'Bearer m-env'


def test_a_key_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('MISTRAL_API_KEY', raising=False)
    with pytest.raises(UserError, match='MISTRAL_API_KEY'):
        MistralProvider()
