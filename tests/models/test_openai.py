"""OpenAIModel over respx: the exact request each feature sends, and how plain responses are read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import respx

from modelkit.exceptions import ModelHTTPError, UnexpectedModelBehavior, UserError
from modelkit.messages import (
    AudioUrl,
    BinaryContent,
    DocumentUrl,
    ImageUrl,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models.openai import OpenAIModel, OpenAIModelSettings
from modelkit.providers import infer_provider
from modelkit.providers.azure import AzureProvider
from modelkit.providers.openai import OpenAIProvider
from modelkit.tools import ToolDefinition
from modelkit.usage import Usage
from modelkit.wire.openai import ChatCompletionRequest

pytestmark = pytest.mark.anyio

BASE_URL = 'https://api.openai.com/v1'
URL = f'{BASE_URL}/chat/completions'
CREATED = 1_752_720_361


def completion(
    content: str | None = 'Paris.',
    *,
    finish_reason: str | None = 'stop',
    usage: dict[str, Any] | None = None,
    **message: Any,
) -> dict[str, Any]:
    """A chat.completion body as OpenAI sends it."""
    return {
        'id': 'chatcmpl-abc',
        'object': 'chat.completion',
        'created': CREATED,
        'model': 'gpt-4o-2024-08-06',
        'choices': [
            {
                'index': 0,
                'message': {'role': 'assistant', 'content': content, 'refusal': None, **message},
                'logprobs': None,
                'finish_reason': finish_reason,
            }
        ],
        'usage': usage or {'prompt_tokens': 14, 'completion_tokens': 7, 'total_tokens': 21},
        'system_fingerprint': 'fp_1',
    }


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def route(router: respx.MockRouter) -> respx.Route:
    return router.post(URL).mock(return_value=httpx.Response(200, json=completion()))


def make_model(http_client: httpx.AsyncClient, **kwargs: Any) -> OpenAIModel:
    return OpenAIModel(
        'gpt-4o', provider=OpenAIProvider(api_key='sk-test', http_client=http_client), **kwargs
    )


def user(*content: Any) -> list[ModelMessage]:
    prompt = content[0] if len(content) == 1 and isinstance(content[0], str) else list(content)
    return [ModelRequest([UserPromptPart(prompt)])]


def sent_json(route: respx.Route) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(route.calls.last.request.content)
    return body


async def ask(
    model: OpenAIModel,
    messages: list[ModelMessage],
    settings: OpenAIModelSettings | None = None,
    params: ModelRequestParameters | None = None,
) -> tuple[ModelResponse, Usage]:
    return await model.request(messages, settings, params or ModelRequestParameters())


# --------------------------------------------------------------------------------------------
# The request
# --------------------------------------------------------------------------------------------


async def test_minimal_request_body_and_headers(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    await ask(make_model(http_client), user('What is the capital of France?'))
    request = route.calls.last.request
    assert request.method == 'POST'
    assert str(request.url) == URL
    assert request.headers['content-type'] == 'application/json'
    assert request.headers['authorization'] == 'Bearer sk-test'
    assert sent_json(route) == {
        'model': 'gpt-4o',
        'messages': [{'role': 'user', 'content': 'What is the capital of France?'}],
        'stream': False,
    }


@pytest.mark.parametrize('role', [None, 'system', 'developer', 'user'])
async def test_system_prompt_role(route: respx.Route, http_client: httpx.AsyncClient, role: Any) -> None:
    messages: list[ModelMessage] = [ModelRequest([SystemPromptPart('Be brief.'), UserPromptPart('Hi')])]
    await ask(make_model(http_client, system_prompt_role=role), messages)
    assert sent_json(route)['messages'] == [
        {'role': role or 'system', 'content': 'Be brief.'},
        {'role': 'user', 'content': 'Hi'},
    ]


async def test_images_by_url_and_as_bytes(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    png = BinaryContent(b'\x89PNG\r\n', media_type='image/png')
    await ask(
        make_model(http_client),
        user('What is in these?', ImageUrl('https://example.com/cat.jpg'), png),
    )
    assert sent_json(route)['messages'] == [
        {
            'role': 'user',
            'content': [
                {'type': 'text', 'text': 'What is in these?'},
                {'type': 'image_url', 'image_url': {'url': 'https://example.com/cat.jpg'}},
                {'type': 'image_url', 'image_url': {'url': 'data:image/png;base64,iVBORw0K'}},
            ],
        }
    ]


@pytest.mark.parametrize(('media_type', 'wire_format'), [('audio/wav', 'wav'), ('audio/mpeg', 'mp3')])
async def test_audio_bytes(
    route: respx.Route, http_client: httpx.AsyncClient, media_type: str, wire_format: str
) -> None:
    await ask(make_model(http_client), user(BinaryContent(b'RIFF', media_type=media_type)))
    assert sent_json(route)['messages'][0]['content'] == [
        {'type': 'input_audio', 'input_audio': {'data': 'UklGRg==', 'format': wire_format}}
    ]


async def test_document_bytes_go_as_a_file_part(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    pdf = BinaryContent(b'%PDF-1.4', media_type='application/pdf')
    await ask(make_model(http_client), user('Summarise', pdf))
    assert sent_json(route)['messages'][0]['content'] == [
        {'type': 'text', 'text': 'Summarise'},
        {
            'type': 'file',
            'file': {'file_data': 'data:application/pdf;base64,JVBERi0xLjQ=', 'filename': 'document.pdf'},
        },
    ]


@pytest.mark.parametrize(
    ('item', 'words'),
    [
        (AudioUrl('https://example.com/a.mp3'), 'cannot fetch audio from a URL'),
        (DocumentUrl('https://example.com/a.pdf'), 'cannot fetch documents from a URL'),
        (BinaryContent(b'fLaC', media_type='audio/flac'), 'wav or mp3 audio, not audio/flac'),
    ],
)
async def test_unsupported_media_is_a_clear_user_error(
    route: respx.Route, http_client: httpx.AsyncClient, item: Any, words: str
) -> None:
    with pytest.raises(UserError, match=words) as exc_info:
        await ask(make_model(http_client), user(item))
    if not isinstance(item, BinaryContent):
        assert 'BinaryContent' in str(exc_info.value)
    assert not route.called


async def test_history_with_tool_calls_returns_and_retries(
    route: respx.Route, http_client: httpx.AsyncClient
) -> None:
    messages: list[ModelMessage] = [
        ModelRequest([UserPromptPart('Weather in Paris and London?')]),
        ModelResponse(
            [
                TextPart('Let me look.'),
                ToolCallPart('get_weather', '{"city": "Paris"}', 'call_1'),
                ToolCallPart('get_weather', {'city': 'London'}, 'call_2'),
                ToolCallPart('get_time', '', 'call_3'),
            ]
        ),
        ModelRequest(
            [
                ToolReturnPart('get_weather', 'sunny', 'call_1'),
                ToolReturnPart('get_weather', {'sky': 'grey', 'temp': 12}, 'call_2'),
                RetryPromptPart('no such zone', tool_name='get_time', tool_call_id='call_3'),
            ]
        ),
        ModelResponse([TextPart('not json')]),
        ModelRequest([RetryPromptPart('Answer in JSON')]),
    ]
    await ask(make_model(http_client), messages)
    assert sent_json(route)['messages'] == [
        {'role': 'user', 'content': 'Weather in Paris and London?'},
        {
            'role': 'assistant',
            'content': 'Let me look.',
            'tool_calls': [
                {
                    'id': 'call_1',
                    'type': 'function',
                    'function': {'name': 'get_weather', 'arguments': '{"city": "Paris"}'},
                },
                {
                    'id': 'call_2',
                    'type': 'function',
                    'function': {'name': 'get_weather', 'arguments': '{"city":"London"}'},
                },
                {'id': 'call_3', 'type': 'function', 'function': {'name': 'get_time', 'arguments': '{}'}},
            ],
        },
        {'role': 'tool', 'tool_call_id': 'call_1', 'content': 'sunny'},
        {'role': 'tool', 'tool_call_id': 'call_2', 'content': '{"sky":"grey","temp":12}'},
        {
            'role': 'tool',
            'tool_call_id': 'call_3',
            'content': 'no such zone\n\nFix the errors and try again.',
        },
        {'role': 'assistant', 'content': 'not json'},
        {'role': 'user', 'content': 'Answer in JSON\n\nFix the errors and try again.'},
    ]


async def test_thinking_is_dropped_from_history_unless_asked_for(
    route: respx.Route, http_client: httpx.AsyncClient
) -> None:
    messages: list[ModelMessage] = [
        ModelRequest([UserPromptPart('Hi')]),
        ModelResponse([ThinkingPart('greet them'), TextPart('Hello!')]),
        ModelResponse([ThinkingPart('only thoughts')]),
        ModelRequest([UserPromptPart('Again')]),
    ]
    model = make_model(http_client)
    await ask(model, messages)
    assert sent_json(route)['messages'][1:3] == [
        {'role': 'assistant', 'content': 'Hello!'},
        {'role': 'assistant', 'content': ''},
    ]
    await ask(model, messages, {'openai_send_back_thinking': True})
    assert sent_json(route)['messages'][1:3] == [
        {'role': 'assistant', 'content': '<think>\ngreet them\n</think>\n\nHello!'},
        {'role': 'assistant', 'content': '<think>\nonly thoughts\n</think>'},
    ]


WEATHER = ToolDefinition(
    'get_weather',
    'Get the weather.',
    {'type': 'object', 'properties': {'city': {'type': 'string'}}, 'required': ['city']},
)
RESULT = ToolDefinition(
    'final_result',
    'The final response',
    {
        'type': 'object',
        'properties': {'answer': {'type': 'string'}},
        'required': ['answer'],
        'additionalProperties': False,
    },
    strict=True,
)


async def test_tools_strict_and_tool_choice(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    model = make_model(http_client)
    loose = ToolDefinition('lookup', '', {'type': 'object', 'properties': {}}, strict=False)
    params = ModelRequestParameters(
        function_tools=[WEATHER, loose], result_tools=[RESULT], allow_text_result=False
    )
    await ask(model, user('Hi'), {'parallel_tool_calls': False}, params)
    body = sent_json(route)
    assert body['tools'] == [
        {
            'type': 'function',
            'function': {
                'name': 'get_weather',
                'description': 'Get the weather.',
                'parameters': WEATHER.parameters_json_schema,
            },
        },
        {
            'type': 'function',
            'function': {
                'name': 'lookup',
                'description': '',
                'parameters': {'type': 'object', 'properties': {}},
                'strict': False,
            },
        },
        {
            'type': 'function',
            'function': {
                'name': 'final_result',
                'description': 'The final response',
                'parameters': RESULT.parameters_json_schema,
                'strict': True,
            },
        },
    ]
    assert body['tool_choice'] == 'required'
    assert body['parallel_tool_calls'] is False

    await ask(model, user('Hi'), None, ModelRequestParameters(function_tools=[WEATHER]))
    body = sent_json(route)
    assert body['tool_choice'] == 'auto'
    assert 'parallel_tool_calls' not in body


async def test_no_tools_means_no_tool_choice_and_no_parallel_flag(
    route: respx.Route, http_client: httpx.AsyncClient
) -> None:
    await ask(
        make_model(http_client),
        user('Hi'),
        {'parallel_tool_calls': True},
        ModelRequestParameters(allow_text_result=False),
    )
    body = sent_json(route)
    assert not {'tools', 'tool_choice', 'parallel_tool_calls'} & body.keys()


@pytest.mark.parametrize('strict', [None, True, False])
async def test_native_json_schema_output(
    route: respx.Route, http_client: httpx.AsyncClient, strict: bool | None
) -> None:
    schema = {'type': 'object', 'properties': {'city': {'type': 'string'}}, 'required': ['city']}
    params = ModelRequestParameters(
        result_json_schema=schema, result_schema_name='city', result_schema_strict=strict
    )
    await ask(make_model(http_client), user('Where?'), None, params)
    json_schema: dict[str, Any] = {'name': 'city', 'schema': schema}
    if strict is not None:
        json_schema['strict'] = strict
    assert sent_json(route)['response_format'] == {'type': 'json_schema', 'json_schema': json_schema}


async def test_every_setting_reaches_the_wire(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    settings: OpenAIModelSettings = {
        'max_tokens': 100,
        'temperature': 0.5,
        'top_p': 0.9,
        'seed': 42,
        'stop_sequences': ['END'],
        'presence_penalty': 0.1,
        'frequency_penalty': 0.2,
        'logit_bias': {'50256': -100},
        'openai_reasoning_effort': 'low',
        'openai_user': 'user-7',
        'openai_logprobs': True,
        'openai_top_logprobs': 3,
        'openai_service_tier': 'flex',
        'timeout': 12.5,
        'extra_headers': {'x-trace': 'abc'},
        'extra_body': {'metadata': {'run': '1'}, 'seed': 7},
    }
    await ask(make_model(http_client), user('Hi'), settings)
    request = route.calls.last.request
    assert sent_json(route) == {
        'model': 'gpt-4o',
        'messages': [{'role': 'user', 'content': 'Hi'}],
        'stream': False,
        'max_completion_tokens': 100,
        'temperature': 0.5,
        'top_p': 0.9,
        'seed': 7,  # extra_body is merged last, at the top level
        'stop': ['END'],
        'presence_penalty': 0.1,
        'frequency_penalty': 0.2,
        'logit_bias': {'50256': -100},
        'reasoning_effort': 'low',
        'user': 'user-7',
        'logprobs': True,
        'top_logprobs': 3,
        'service_tier': 'flex',
        'metadata': {'run': '1'},
    }
    assert request.headers['x-trace'] == 'abc'
    assert request.headers['authorization'] == 'Bearer sk-test'
    # `timeout` is not a body field: it bounds connect, each read, write and the pool wait.
    assert request.extensions['timeout'] == {'connect': 12.5, 'read': 12.5, 'write': 12.5, 'pool': 12.5}


async def test_max_tokens_field_depends_on_the_base_url_and_can_be_chosen(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    route = router.post('http://localhost:11434/v1/chat/completions').mock(
        return_value=httpx.Response(200, json=completion())
    )
    provider = OpenAIProvider(base_url='http://localhost:11434/v1', api_key='x', http_client=http_client)
    model = OpenAIModel('llama3.2', provider=provider)
    await ask(model, user('Hi'), {'max_tokens': 5})
    assert sent_json(route)['max_tokens'] == 5
    assert 'max_completion_tokens' not in sent_json(route)
    await ask(model, user('Hi'), {'max_tokens': 5, 'openai_max_tokens_field': 'max_completion_tokens'})
    assert sent_json(route)['max_completion_tokens'] == 5
    assert 'max_tokens' not in sent_json(route)


async def test_request_bodies_fit_the_wire_schema(route: respx.Route, http_client: httpx.AsyncClient) -> None:
    messages: list[ModelMessage] = [
        ModelRequest(
            [SystemPromptPart('Be brief.'), UserPromptPart(['Look', BinaryContent(b'x', 'image/png')])]
        ),
        ModelResponse([TextPart('ok'), ToolCallPart('get_weather', '{}', 'c1')]),
        ModelRequest([ToolReturnPart('get_weather', 'sunny', 'c1'), RetryPromptPart('again')]),
    ]
    params = ModelRequestParameters(function_tools=[WEATHER], result_json_schema={'type': 'object'})
    await ask(make_model(http_client), messages, {'max_tokens': 3, 'stop_sequences': ['x']}, params)
    ChatCompletionRequest.model_validate_json(route.calls.last.request.content)


async def test_azure_deployment_path_api_version_and_key(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    route = router.post(
        host='my-res.openai.azure.com', path='/openai/deployments/gpt-4o/chat/completions'
    ).mock(return_value=httpx.Response(200, json=completion()))
    provider = AzureProvider(
        azure_endpoint='https://my-res.openai.azure.com',
        api_version='2024-10-21',
        api_key='az-secret',
        http_client=http_client,
    )
    response, _ = await ask(OpenAIModel('gpt-4o', provider=provider), user('Hi'), {'max_tokens': 10})
    request = route.calls.last.request
    assert str(request.url) == (
        'https://my-res.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21'
    )
    assert request.headers['api-key'] == 'az-secret'
    assert 'authorization' not in request.headers
    assert sent_json(route) == {
        'model': 'gpt-4o',
        'messages': [{'role': 'user', 'content': 'Hi'}],
        'stream': False,
        'max_tokens': 10,
    }
    assert response.parts == [TextPart('Paris.')]


async def test_azure_by_name_from_the_environment(
    router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('AZURE_OPENAI_ENDPOINT', 'https://env-res.openai.azure.com')
    monkeypatch.setenv('OPENAI_API_VERSION', '2024-06-01')
    monkeypatch.setenv('AZURE_OPENAI_API_KEY', 'env-secret')
    route = router.post(host='env-res.openai.azure.com').mock(
        return_value=httpx.Response(200, json=completion())
    )
    async with httpx.AsyncClient() as client:
        model = OpenAIModel('my-deployment', provider='azure', http_client=client)
        await ask(model, user('Hi'))
    request = route.calls.last.request
    assert request.url.path == '/openai/deployments/my-deployment/chat/completions'
    assert request.url.params['api-version'] == '2024-06-01'
    assert request.headers['api-key'] == 'env-secret'


@pytest.mark.parametrize('name', ['deepseek', 'fireworks', 'together', 'openrouter', 'grok', 'perplexity'])
async def test_compatible_providers_get_max_tokens_and_their_own_base_url(
    router: respx.MockRouter, http_client: httpx.AsyncClient, name: str
) -> None:
    provider = infer_provider(name, api_key='k-test', http_client=http_client)
    route = router.post(f'{provider.base_url}/chat/completions').mock(
        return_value=httpx.Response(200, json=completion())
    )
    await ask(OpenAIModel('some-model', provider=provider), user('Hi'), {'max_tokens': 8})
    assert sent_json(route)['max_tokens'] == 8
    assert route.calls.last.request.headers['authorization'] == 'Bearer k-test'


# --------------------------------------------------------------------------------------------
# Constructing the model
# --------------------------------------------------------------------------------------------


def test_shorthand_builds_an_openai_provider() -> None:
    model = OpenAIModel('gpt-4o', api_key='not-valid', base_url='https://proxy.example.com/v1')
    assert isinstance(model.provider, OpenAIProvider)
    assert model.base_url == 'https://proxy.example.com/v1'
    assert model.model_name == 'gpt-4o'
    assert model.system == 'openai'
    assert 'not-valid' not in repr(model) + repr(model.provider)


def test_shorthand_with_a_provider_instance_is_a_user_error() -> None:
    with pytest.raises(UserError, match='api_key'):
        OpenAIModel('gpt-4o', provider=OpenAIProvider(api_key='a'), api_key='b')


async def test_shorthand_key_is_used(router: respx.MockRouter) -> None:
    route = router.post(URL).mock(return_value=httpx.Response(200, json=completion()))
    async with httpx.AsyncClient() as client:
        await ask(OpenAIModel('gpt-4o', api_key='sk-short', http_client=client), user('Hi'))
    assert route.calls.last.request.headers['authorization'] == 'Bearer sk-short'


# --------------------------------------------------------------------------------------------
# Processing a response
# --------------------------------------------------------------------------------------------


async def test_text_response_with_usage_details(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    usage = {
        'prompt_tokens': 100,
        'completion_tokens': 50,
        'total_tokens': 150,
        'prompt_tokens_details': {'cached_tokens': 64, 'audio_tokens': 0},
        'completion_tokens_details': {
            'reasoning_tokens': 30,
            'audio_tokens': 0,
            'accepted_prediction_tokens': 2,
            'rejected_prediction_tokens': 0,
        },
    }
    router.post(URL).mock(return_value=httpx.Response(200, json=completion('Paris.', usage=usage)))
    response, got_usage = await ask(make_model(http_client), user('Capital?'))
    assert response.parts == [TextPart('Paris.')]
    assert response.model_name == 'gpt-4o-2024-08-06'
    assert response.timestamp == datetime.fromtimestamp(CREATED, tz=UTC)
    assert response.vendor_id == 'chatcmpl-abc'
    assert response.finish_reason == 'stop'
    assert response.vendor_finish_reason == 'stop'
    assert got_usage == Usage(
        request_tokens=100,
        response_tokens=50,
        total_tokens=150,
        details={'cached_tokens': 64, 'reasoning_tokens': 30, 'accepted_prediction_tokens': 2},
    )


async def test_audio_token_details(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    usage = {
        'prompt_tokens': 10,
        'completion_tokens': 20,
        'total_tokens': 30,
        'prompt_tokens_details': {'audio_tokens': 4},
        'completion_tokens_details': {'audio_tokens': 9, 'rejected_prediction_tokens': 1},
    }
    router.post(URL).mock(return_value=httpx.Response(200, json=completion('hi', usage=usage)))
    _, got_usage = await ask(make_model(http_client), user('Hi'))
    assert got_usage.details == {
        'input_audio_tokens': 4,
        'output_audio_tokens': 9,
        'rejected_prediction_tokens': 1,
    }


async def test_tool_call_response(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    calls = [
        {
            'id': 'call_a',
            'type': 'function',
            'function': {'name': 'get_weather', 'arguments': '{"city":"Paris"}'},
        },
        {'id': 'call_b', 'type': 'function', 'function': {'name': 'get_time', 'arguments': '{}'}},
    ]
    body = completion(None, finish_reason='tool_calls', tool_calls=calls)
    router.post(URL).mock(return_value=httpx.Response(200, json=body))
    response, _ = await ask(make_model(http_client), user('Hi'))
    assert response.parts == [
        ToolCallPart('get_weather', '{"city":"Paris"}', 'call_a'),
        ToolCallPart('get_time', '{}', 'call_b'),
    ]
    assert response.finish_reason == 'tool_call'


@pytest.mark.parametrize('field', ['reasoning_content', 'reasoning'])
async def test_reasoning_fields_become_thinking(
    router: respx.MockRouter, http_client: httpx.AsyncClient, field: str
) -> None:
    router.post(URL).mock(return_value=httpx.Response(200, json=completion('42', **{field: 'Think hard.'})))
    response, _ = await ask(make_model(http_client), user('Answer?'))
    assert response.parts == [ThinkingPart('Think hard.'), TextPart('42')]


async def test_refusal_is_kept_as_text(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    body = completion(None, refusal="I can't help with that.")
    router.post(URL).mock(return_value=httpx.Response(200, json=body))
    response, _ = await ask(make_model(http_client), user('Hi'))
    assert response.parts == [TextPart("I can't help with that.")]


@pytest.mark.parametrize(
    ('vendor_reason', 'ours'),
    [
        ('stop', 'stop'),
        ('length', 'length'),
        ('tool_calls', 'tool_call'),
        ('function_call', 'tool_call'),
        ('content_filter', 'content_filter'),
        ('something_new', None),
        (None, None),
    ],
)
async def test_finish_reasons(
    router: respx.MockRouter, http_client: httpx.AsyncClient, vendor_reason: str | None, ours: str | None
) -> None:
    router.post(URL).mock(return_value=httpx.Response(200, json=completion('x', finish_reason=vendor_reason)))
    response, _ = await ask(make_model(http_client), user('Hi'))
    assert response.finish_reason == ours
    assert response.vendor_finish_reason == vendor_reason


async def test_unknown_fields_are_ignored(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    body = completion('Paris', annotations=[], audio=None)
    body['x_groq'] = {'id': 'req_1'}
    body['usage']['queue_time'] = 0.1
    router.post(URL).mock(return_value=httpx.Response(200, json=body))
    response, got_usage = await ask(make_model(http_client), user('Hi'))
    assert response.parts == [TextPart('Paris')]
    assert got_usage.total_tokens == 21


@pytest.mark.parametrize(
    ('body', 'words'),
    [
        (b'{"id": "x", "object": "chat.completion"}', 'does not fit the schema: choices: Field required'),
        (b'{"choices": []}', 'no choices'),
        (b'{"choices": [{"message": {"content": 42}}]}', 'choices.0.message.content'),
        (b'<html>Bad gateway</html>', 'does not fit the schema'),
        (
            b'{"error": {"message": "upstream overloaded"}}',
            'error object instead of a chat completion: upstream overloaded',
        ),
    ],
)
async def test_a_body_that_does_not_fit_is_unexpected_model_behavior(
    router: respx.MockRouter, http_client: httpx.AsyncClient, body: bytes, words: str
) -> None:
    router.post(URL).mock(
        return_value=httpx.Response(200, content=body, headers={'content-type': 'application/json'})
    )
    with pytest.raises(UnexpectedModelBehavior) as exc_info:
        await ask(make_model(http_client), user('Hi'))
    assert words in str(exc_info.value)
    assert exc_info.value.body is not None


async def test_a_huge_bad_body_is_trimmed(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    router.post(URL).mock(return_value=httpx.Response(200, content=b'x' * 100_000))
    with pytest.raises(UnexpectedModelBehavior) as exc_info:
        await ask(make_model(http_client), user('Hi'))
    assert len(str(exc_info.value)) < 2_000


@pytest.mark.parametrize('status', [400, 401, 404, 422])
async def test_http_errors(router: respx.MockRouter, http_client: httpx.AsyncClient, status: int) -> None:
    error = {
        'error': {'message': 'Incorrect API key provided', 'type': 'invalid_request_error', 'code': 'bad'}
    }
    router.post(URL).mock(return_value=httpx.Response(status, json=error))
    with pytest.raises(ModelHTTPError) as exc_info:
        await ask(make_model(http_client), user('Hi'))
    assert exc_info.value.status_code == status
    assert exc_info.value.model_name == 'gpt-4o'
    assert 'Incorrect API key provided' in str(exc_info.value)
    assert 'sk-test' not in str(exc_info.value)


async def test_http_error_body_is_trimmed(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    router.post(URL).mock(return_value=httpx.Response(400, content=b'E' * 50_000))
    with pytest.raises(ModelHTTPError) as exc_info:
        await ask(make_model(http_client), user('Hi'))
    assert exc_info.value.status_code == 400
    assert len(str(exc_info.value)) < 2_000
