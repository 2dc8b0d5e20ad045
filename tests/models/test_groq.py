"""GroqModel over respx: the exact request it sends, and how Groq's whole answers and errors are read."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
import respx

from modelkit import Agent
from modelkit.exceptions import ModelHTTPError
from modelkit.messages import TextPart, ThinkingPart, ToolCallPart
from modelkit.models import ModelRequestParameters, infer_model
from modelkit.models.groq import GroqModel, GroqModelSettings, GroqToolUseFailedError
from modelkit.providers.groq import GroqProvider
from modelkit.tools import ToolDefinition
from modelkit.wire.groq import GroqChatCompletionRequest
from tests.models import _openai_family
from tests.models._openai_family import sent_json, user

pytestmark = pytest.mark.anyio

router = _openai_family.router  # the shared fixtures
http_client = _openai_family.http_client

BASE_URL = 'https://api.groq.com/openai/v1'
URL = f'{BASE_URL}/chat/completions'
TOOL = ToolDefinition('get_weather', 'The weather in a city.', {'type': 'object', 'properties': {}})


def completion(content: str | None = 'Paris.', **message: Any) -> dict[str, Any]:
    """A Groq chat.completion body, with its usage timings and `x_groq`."""
    return {
        'id': 'chatcmpl-7586b6a9',
        'object': 'chat.completion',
        'created': 1_744_043_573,
        'model': 'llama-3.3-70b-versatile',
        'choices': [
            {
                'index': 0,
                'message': {'role': 'assistant', 'content': content, **message},
                'finish_reason': 'stop',
            }
        ],
        'usage': {
            'queue_time': 0.1,
            'prompt_tokens': 48,
            'prompt_time': 0.002,
            'completion_tokens': 8,
            'completion_time': 0.03,
            'total_tokens': 56,
            'total_time': 0.032,
        },
        'usage_breakdown': None,
        'system_fingerprint': 'fp_72a5dc99ee',
        'x_groq': {'id': 'req_01jr8hj0hzeq9b86xqb5dn7wqs'},
    }


def make_model(http_client: httpx.AsyncClient) -> GroqModel:
    return GroqModel(
        'llama-3.3-70b-versatile', provider=GroqProvider(api_key='gsk-test', http_client=http_client)
    )


async def test_request_goes_to_groq_with_the_key_and_groq_settings(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    route = router.post(URL).respond(json=completion())
    settings: GroqModelSettings = {
        'groq_reasoning_format': 'parsed',
        'groq_include_reasoning': True,
        'max_tokens': 100,
        'seed': 7,
        'temperature': 0.5,
    }
    params = ModelRequestParameters(function_tools=[TOOL], allow_text_result=False)
    await make_model(http_client).request(user('Hi'), settings, params)
    request = route.calls.last.request
    assert request.headers['authorization'] == 'Bearer gsk-test'
    body = sent_json(route)
    assert body == {
        'model': 'llama-3.3-70b-versatile',
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
        'tool_choice': 'required',
        'max_tokens': 100,
        'seed': 7,
        'temperature': 0.5,
        'reasoning_format': 'parsed',
        'include_reasoning': True,
    }
    GroqChatCompletionRequest.model_validate(body)  # what we send fits Groq's request schema


async def test_stream_request_sends_no_stream_options(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    finish = {
        'id': 'c',
        'object': 'chat.completion.chunk',
        'created': 1,
        'model': 'm',
        'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}],
    }
    body = b'data: ' + orjson.dumps(finish) + b'\n\ndata: [DONE]\n\n'
    route = router.post(URL).respond(content=body, headers={'content-type': 'text/event-stream'})
    async with make_model(http_client).request_stream(user('Hi'), None, ModelRequestParameters()) as stream:
        async for _ in stream:
            pass
    assert 'stream_options' not in sent_json(route)
    assert sent_json(route)['stream'] is True


async def test_text_answer_with_usage(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    router.post(URL).respond(json=completion('The capital of France is Paris.'))
    response, usage = await make_model(http_client).request(user('Capital?'), None, ModelRequestParameters())
    assert response.parts == [TextPart('The capital of France is Paris.')]
    assert response.vendor_id == 'chatcmpl-7586b6a9'
    assert (usage.request_tokens, usage.response_tokens, usage.total_tokens) == (48, 8, 56)


async def test_reasoning_field_is_thinking(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    call = {'id': 'fc_1', 'type': 'function', 'function': {'name': 'get_weather', 'arguments': '{}'}}
    router.post(URL).respond(json=completion(None, reasoning='Call the tool.', tool_calls=[call]))
    response, _ = await make_model(http_client).request(
        user('Weather?'), None, ModelRequestParameters([TOOL])
    )
    assert response.parts == [ThinkingPart('Call the tool.'), ToolCallPart('get_weather', '{}', 'fc_1')]


@pytest.mark.parametrize(
    ('content', 'parts'),
    [
        (
            '<think>\nFrance: Paris.\n</think>\n\nParis.',
            [ThinkingPart('\nFrance: Paris.\n'), TextPart('\n\nParis.')],
        ),
        ('<think>only thinking</think>', [ThinkingPart('only thinking')]),
        ('Before <think>mid</think> after', [TextPart('Before '), ThinkingPart('mid'), TextPart(' after')]),
        ('a < b, and <thinking> is not the tag', [TextPart('a < b, and <thinking> is not the tag')]),
        ('<think>never closed', [ThinkingPart('never closed')]),
    ],
)
async def test_inline_think_tags_split_a_whole_answer(
    router: respx.MockRouter, http_client: httpx.AsyncClient, content: str, parts: list[Any]
) -> None:
    router.post(URL).respond(json=completion(content))
    response, _ = await make_model(http_client).request(
        user('Q'), {'groq_reasoning_format': 'raw'}, ModelRequestParameters()
    )
    assert response.parts == parts
    assert sent_json(router.routes[0])['reasoning_format'] == 'raw'


TOOL_USE_FAILED = {
    'error': {
        'message': 'Failed to call a function. Please adjust your prompt.',
        'type': 'invalid_request_error',
        'code': 'tool_use_failed',
        'failed_generation': '{"name": "get_weather", "arguments": {"foo": "bar"}}',
    }
}


async def test_tool_use_failed_carries_the_failed_generation(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    router.post(URL).respond(400, json=TOOL_USE_FAILED)
    with pytest.raises(GroqToolUseFailedError) as info:
        await make_model(http_client).request(user('Weather?'), None, ModelRequestParameters([TOOL]))
    error = info.value
    assert isinstance(error, ModelHTTPError)
    assert error.status_code == 400
    assert error.failed_generation == '{"name": "get_weather", "arguments": {"foo": "bar"}}'
    assert error.vendor == 'groq'
    assert 'tool_use_failed' in str(error)
    assert repr(error) == "GroqToolUseFailedError(status_code=400, model_name='llama-3.3-70b-versatile')"


async def test_tool_use_failed_on_a_stream_request_too(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    router.post(URL).respond(400, json=TOOL_USE_FAILED)
    with pytest.raises(GroqToolUseFailedError) as info:
        async with make_model(http_client).request_stream(user('Q'), None, ModelRequestParameters([TOOL])):
            pass
    assert info.value.failed_generation.startswith('{"name"')


@pytest.mark.parametrize(
    'body',
    [
        {'error': {'message': 'bad', 'type': 'invalid_request_error', 'code': 'invalid_value'}},
        {'error': {'message': 'bad', 'code': 'tool_use_failed'}},  # no failed_generation: still typed
    ],
)
async def test_other_400s_stay_plain_http_errors(
    router: respx.MockRouter, http_client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    router.post(URL).respond(400, json=body)
    with pytest.raises(ModelHTTPError) as info:
        await make_model(http_client).request(user('Q'), None, ModelRequestParameters())
    is_tool_use_failed = body['error']['code'] == 'tool_use_failed'
    assert isinstance(info.value, GroqToolUseFailedError) is is_tool_use_failed
    if is_tool_use_failed:
        assert info.value.failed_generation == ''  # type: ignore[attr-defined]


async def test_model_string_and_environment(
    router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('GROQ_API_KEY', 'gsk-env')
    model = infer_model('groq:llama-3.3-70b-versatile')
    assert isinstance(model, GroqModel)
    assert model.base_url == BASE_URL
    assert model.system == 'groq'
    route = router.post(URL).respond(json=completion())
    result = await Agent(model).run('What is the capital of France?')
    assert result.data == 'Paris.'
    assert route.calls.last.request.headers['authorization'] == 'Bearer gsk-env'


def test_a_key_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkit.exceptions import UserError

    monkeypatch.delenv('GROQ_API_KEY', raising=False)
    with pytest.raises(UserError, match='GROQ_API_KEY'):
        GroqProvider()
