"""GeminiModel over respx: the exact request each feature sends, and how plain responses are read."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import respx

from modelkit.exceptions import ModelHTTPError, ModelStreamError, UnexpectedModelBehavior, UserError
from modelkit.messages import (
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
from modelkit.models import ModelRequestParameters, infer_model
from modelkit.models.gemini import GeminiModel, GeminiModelSettings, GeminiPromptBlocked
from modelkit.providers.google_gla import GoogleGLAProvider
from modelkit.tools import ToolDefinition
from modelkit.usage import Usage
from modelkit.wire.gemini import GenerateContentRequest

pytestmark = pytest.mark.anyio

ROOT = 'https://generativelanguage.googleapis.com'
URL = f'{ROOT}/v1beta/models/gemini-2.0-flash:generateContent'
KEY = 'test-gemini-key-0123456789'


def answer(*parts: dict[str, Any], finish: str | None = 'STOP', **extra: Any) -> dict[str, Any]:
    """A GenerateContentResponse as Gemini sends it."""
    candidate: dict[str, Any] = {'content': {'parts': list(parts) or [{'text': 'Paris.'}], 'role': 'model'}}
    if finish is not None:
        candidate['finishReason'] = finish
    return {
        'candidates': [candidate],
        'usageMetadata': {'promptTokenCount': 9, 'candidatesTokenCount': 3, 'totalTokenCount': 12},
        'modelVersion': 'gemini-2.0-flash-001',
        'responseId': 'resp-1',
        **extra,
    }


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
async def model() -> AsyncIterator[GeminiModel]:
    async with httpx.AsyncClient() as client:
        yield GeminiModel('gemini-2.0-flash', provider=GoogleGLAProvider(api_key=KEY, http_client=client))


def user(text: str = 'What is the capital of France?') -> list[ModelMessage]:
    return [ModelRequest([UserPromptPart(text)])]


async def sent(
    router: respx.MockRouter,
    model: GeminiModel,
    messages: list[ModelMessage],
    settings: GeminiModelSettings | None = None,
    params: ModelRequestParameters | None = None,
    reply: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], httpx.Request, ModelResponse, Usage]:
    """Run one request; return the JSON body sent, the request, and what came back."""
    route = router.post(URL).mock(return_value=httpx.Response(200, json=reply or answer()))
    response, usage = await model.request(messages, settings, params or ModelRequestParameters())
    request = route.calls.last.request
    body = orjson.loads(request.content)
    GenerateContentRequest.model_validate(body)  # what we send fits the API's request schema
    return body, request, response, usage


# --------------------------------------------------------------------------------------------
# Where requests go, and the API surface
# --------------------------------------------------------------------------------------------


async def test_a_plain_prompt_goes_to_generate_content_with_the_key_in_a_header(
    router: respx.MockRouter, model: GeminiModel
) -> None:
    body, request, response, usage = await sent(router, model, user())
    assert str(request.url) == URL  # no `?key=`: it would leak through a logged URL
    assert request.headers['x-goog-api-key'] == KEY
    assert request.headers['content-type'] == 'application/json'
    assert body == {'contents': [{'role': 'user', 'parts': [{'text': 'What is the capital of France?'}]}]}
    assert response.parts == [TextPart('Paris.')]
    assert response.model_name == 'gemini-2.0-flash-001'
    assert response.vendor_id == 'resp-1'
    assert (response.finish_reason, response.vendor_finish_reason) == ('stop', 'STOP')
    assert usage == Usage(request_tokens=9, response_tokens=3, total_tokens=12)


def test_model_strings_and_default_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('GEMINI_API_KEY', KEY)
    for name in ('google-gla:gemini-2.0-flash', 'gemini:gemini-2.0-flash', 'gemini-2.0-flash'):
        model = infer_model(name)
        assert isinstance(model, GeminiModel)
        assert (model.model_name, model.system, model.base_url) == ('gemini-2.0-flash', 'google-gla', ROOT)
    direct = GeminiModel('models/gemini-2.0-flash')
    assert direct.model_name == 'gemini-2.0-flash'
    assert isinstance(direct.provider, GoogleGLAProvider)


def test_the_gla_provider_routes_only_the_interfaces_paths() -> None:
    provider = GoogleGLAProvider(api_key=KEY)
    assert provider.route('/models/m:generateContent', 'm') == '/v1beta/models/m:generateContent'
    assert provider.route('/v1beta/models/m:generateContent', 'm') == '/v1beta/models/m:generateContent'
    assert 'test-gemini-key' not in repr(provider)


async def test_a_stream_asks_for_sse(router: respx.MockRouter, model: GeminiModel) -> None:
    sse = b'data: ' + orjson.dumps(answer()) + b'\r\n\r\n'
    route = router.post(f'{ROOT}/v1beta/models/gemini-2.0-flash:streamGenerateContent').mock(
        return_value=httpx.Response(200, content=sse, headers={'content-type': 'text/event-stream'})
    )
    async with model.request_stream(user(), None, ModelRequestParameters()) as stream:
        async for _ in stream:
            pass
    request = route.calls.last.request
    assert request.url.params['alt'] == 'sse'
    assert stream.get().parts == [TextPart('Paris.')]


# --------------------------------------------------------------------------------------------
# Request mapping
# --------------------------------------------------------------------------------------------


async def test_system_prompts_go_in_system_instruction(router: respx.MockRouter, model: GeminiModel) -> None:
    messages: list[ModelMessage] = [
        ModelRequest([SystemPromptPart('Be brief.'), SystemPromptPart('Be kind.'), UserPromptPart('Hi')])
    ]
    body, *_ = await sent(router, model, messages)
    assert body['systemInstruction'] == {'parts': [{'text': 'Be brief.'}, {'text': 'Be kind.'}]}
    assert body['contents'] == [{'role': 'user', 'parts': [{'text': 'Hi'}]}]


async def test_media_parts(router: respx.MockRouter, model: GeminiModel) -> None:
    content = [
        'Describe these',
        BinaryContent(b'\x89PNG', media_type='image/png'),
        ImageUrl('https://example.com/cat.jpg'),
        DocumentUrl('gs://bucket/report.pdf'),
    ]
    body, *_ = await sent(router, model, [ModelRequest([UserPromptPart(content)])])
    assert body['contents'][0]['parts'] == [
        {'text': 'Describe these'},
        {'inlineData': {'mimeType': 'image/png', 'data': base64.b64encode(b'\x89PNG').decode()}},
        {'fileData': {'fileUri': 'https://example.com/cat.jpg', 'mimeType': 'image/jpeg'}},
        {'fileData': {'fileUri': 'gs://bucket/report.pdf', 'mimeType': 'application/pdf'}},
    ]


async def test_tool_history_with_thoughts_and_signatures_goes_back_as_it_came(
    router: respx.MockRouter, model: GeminiModel
) -> None:
    messages: list[ModelMessage] = [
        ModelRequest([UserPromptPart('Weather in Paris and Rome?')]),
        ModelResponse(
            [
                ThinkingPart('Two cities.', signature='sig-on-thought'),
                ThinkingPart('', signature='sig-on-call'),
                ToolCallPart('weather', {'city': 'Paris'}, 'c1'),
                ToolCallPart('weather', '{"city": "Rome"}', 'c2'),
                ToolCallPart('clock', '', 'c3'),
            ]
        ),
        ModelRequest(
            [
                ToolReturnPart('weather', {'temp': 21}, 'c1'),
                ToolReturnPart('weather', 'sunny', 'c2'),
                RetryPromptPart('no clock here', tool_name='clock', tool_call_id='c3'),
            ]
        ),
        ModelResponse([TextPart('Nice.'), ThinkingPart('', signature='sig-at-the-end')]),
        ModelRequest([RetryPromptPart('Answer in French')]),
    ]
    body, *_ = await sent(router, model, messages)
    assert body['contents'] == [
        {'role': 'user', 'parts': [{'text': 'Weather in Paris and Rome?'}]},
        {
            'role': 'model',
            'parts': [
                {'text': 'Two cities.', 'thought': True, 'thoughtSignature': 'sig-on-thought'},
                {
                    'functionCall': {'name': 'weather', 'args': {'city': 'Paris'}, 'id': 'c1'},
                    'thoughtSignature': 'sig-on-call',
                },
                {'functionCall': {'name': 'weather', 'args': {'city': 'Rome'}, 'id': 'c2'}},
                {'functionCall': {'name': 'clock', 'args': {}, 'id': 'c3'}},
            ],
        },
        {
            'role': 'user',
            'parts': [
                {'functionResponse': {'name': 'weather', 'response': {'temp': 21}, 'id': 'c1'}},
                {'functionResponse': {'name': 'weather', 'response': {'return_value': 'sunny'}, 'id': 'c2'}},
                {
                    'functionResponse': {
                        'name': 'clock',
                        'response': {'error': 'no clock here\n\nFix the errors and try again.'},
                        'id': 'c3',
                    }
                },
            ],
        },
        {'role': 'model', 'parts': [{'text': 'Nice.'}, {'text': '', 'thoughtSignature': 'sig-at-the-end'}]},
        {'role': 'user', 'parts': [{'text': 'Answer in French\n\nFix the errors and try again.'}]},
    ]


async def test_broken_tool_arguments_in_the_history_are_a_user_error(
    router: respx.MockRouter, model: GeminiModel
) -> None:
    messages: list[ModelMessage] = [*user(), ModelResponse([ToolCallPart('f', '[1, 2]', 'c1')])]
    with pytest.raises(UserError, match="Tool call 'f' in the history"):
        await sent(router, model, messages)


WEATHER = ToolDefinition(
    'weather',
    'The weather in a city.',
    {
        'type': 'object',
        'properties': {'city': {'type': 'string', 'description': 'The city'}},
        'required': ['city'],
        'additionalProperties': False,
    },
)


async def test_tools_and_tool_config(router: respx.MockRouter, model: GeminiModel) -> None:
    no_args = ToolDefinition('now', 'The time.', {'type': 'object', 'properties': {}})
    params = ModelRequestParameters(function_tools=[WEATHER, no_args])
    body, *_ = await sent(router, model, user(), params=params)
    assert body['tools'] == [
        {
            'functionDeclarations': [
                {
                    'name': 'weather',
                    'description': 'The weather in a city.',
                    'parameters': {
                        'type': 'object',
                        'properties': {'city': {'type': 'string', 'description': 'The city'}},
                        'required': ['city'],
                    },
                },
                {'name': 'now', 'description': 'The time.'},
            ]
        }
    ]
    assert 'toolConfig' not in body  # AUTO is the default

    result = ToolDefinition('final_result', 'The answer.', WEATHER.parameters_json_schema)
    params = ModelRequestParameters(function_tools=[WEATHER], result_tools=[result], allow_text_result=False)
    body, *_ = await sent(router, model, user(), params=params)
    assert [d['name'] for d in body['tools'][0]['functionDeclarations']] == ['weather', 'final_result']
    assert body['toolConfig'] == {'functionCallingConfig': {'mode': 'ANY'}}

    settings: GeminiModelSettings = {
        'gemini_function_calling': 'ANY',
        'gemini_allowed_function_names': ['weather'],
    }
    body, *_ = await sent(router, model, user(), settings, ModelRequestParameters(function_tools=[WEATHER]))
    assert body['toolConfig'] == {
        'functionCallingConfig': {'mode': 'ANY', 'allowedFunctionNames': ['weather']}
    }

    body, *_ = await sent(
        router,
        model,
        user(),
        {'gemini_function_calling': 'NONE'},
        ModelRequestParameters(function_tools=[WEATHER]),
    )
    assert body['toolConfig'] == {'functionCallingConfig': {'mode': 'NONE'}}


async def test_generation_config_safety_and_extras(router: respx.MockRouter, model: GeminiModel) -> None:
    settings: GeminiModelSettings = {
        'max_tokens': 100,
        'temperature': 0.5,
        'top_p': 0.9,
        'gemini_top_k': 40,
        'stop_sequences': ['END'],
        'seed': 7,
        'presence_penalty': 0.1,
        'frequency_penalty': 0.2,
        'gemini_thinking_config': {'include_thoughts': True, 'thinking_budget': 1024},
        'gemini_safety_settings': [{'category': 'HARM_CATEGORY_HARASSMENT', 'threshold': 'BLOCK_ONLY_HIGH'}],
        'gemini_cached_content': 'cachedContents/abc',
        'gemini_labels': {'team': 'search'},
        'extra_headers': {'x-trace': '1'},
        'extra_body': {'toolConfig': {'retrievalConfig': {}}},
    }
    body, request, *_ = await sent(router, model, user(), settings)
    assert body['generationConfig'] == {
        'maxOutputTokens': 100,
        'temperature': 0.5,
        'topP': 0.9,
        'topK': 40,
        'stopSequences': ['END'],
        'seed': 7,
        'presencePenalty': 0.1,
        'frequencyPenalty': 0.2,
        'thinkingConfig': {'includeThoughts': True, 'thinkingBudget': 1024},
    }
    assert body['safetySettings'] == [
        {'category': 'HARM_CATEGORY_HARASSMENT', 'threshold': 'BLOCK_ONLY_HIGH'}
    ]
    assert body['cachedContent'] == 'cachedContents/abc'
    assert body['labels'] == {'team': 'search'}
    assert body['toolConfig'] == {'retrievalConfig': {}}
    assert request.headers['x-trace'] == '1'


async def test_native_structured_output(router: respx.MockRouter, model: GeminiModel) -> None:
    schema = {
        '$defs': {'City': {'type': 'object', 'properties': {'name': {'type': 'string'}}, 'title': 'City'}},
        'type': 'object',
        'properties': {
            'city': {'$ref': '#/$defs/City'},
            'rank': {'anyOf': [{'type': 'integer'}, {'type': 'null'}]},
        },
        'required': ['city'],
    }
    params = ModelRequestParameters(result_json_schema=schema)
    body, *_ = await sent(
        router, model, user(), params=params, reply=answer({'text': '{"city": {"name": "Paris"}}'})
    )
    assert body['generationConfig'] == {
        'responseMimeType': 'application/json',
        'responseSchema': {
            'type': 'object',
            'properties': {
                'city': {'type': 'object', 'properties': {'name': {'type': 'string'}}, 'title': 'City'},
                'rank': {'type': 'integer', 'nullable': True},
            },
            'required': ['city'],
        },
    }


# --------------------------------------------------------------------------------------------
# Processing a response
# --------------------------------------------------------------------------------------------


async def test_thoughts_signatures_and_calls_become_our_parts(
    router: respx.MockRouter, model: GeminiModel
) -> None:
    reply = answer(
        {'text': 'Thinking about it.', 'thought': True},
        {'functionCall': {'name': 'weather', 'args': {'city': 'Paris'}}, 'thoughtSignature': 'sig1'},
        {'functionCall': {'name': 'weather', 'args': {'city': 'Rome'}, 'id': 'given'}},
        {'functionCall': {'name': 'now'}},
        {'executableCode': {'language': 'PYTHON', 'code': 'print(1)'}},
        {'codeExecutionResult': {'outcome': 'OUTCOME_OK', 'output': '1'}},
        {'text': 'Done.'},
        createTime='2025-06-27T08:48:21.154666Z',
        usageMetadata={
            'promptTokenCount': 10,
            'candidatesTokenCount': 5,
            'thoughtsTokenCount': 7,
            'cachedContentTokenCount': 4,
            'toolUsePromptTokenCount': 3,
            'totalTokenCount': 25,
        },
    )
    _, _, response, usage = await sent(router, model, user(), reply=reply)
    thought, carrier, paris, rome, now, text = response.parts
    assert thought == ThinkingPart('Thinking about it.')
    assert carrier == ThinkingPart('', signature='sig1')
    assert isinstance(paris, ToolCallPart)
    assert isinstance(rome, ToolCallPart)
    assert isinstance(now, ToolCallPart)
    assert (paris.args, rome.args, now.args) == ({'city': 'Paris'}, {'city': 'Rome'}, {})
    assert rome.tool_call_id == 'given'
    assert len({paris.tool_call_id, rome.tool_call_id, now.tool_call_id}) == 3
    assert text == TextPart('Done.')
    assert response.timestamp == datetime(2025, 6, 27, 8, 48, 21, 154666, tzinfo=UTC)
    assert usage == Usage(
        request_tokens=13,
        response_tokens=12,
        total_tokens=25,
        details={'cached_tokens': 4, 'reasoning_tokens': 7, 'tool_use_prompt_tokens': 3},
    )


@pytest.mark.parametrize(
    ('wire', 'ours'),
    [
        ('STOP', 'stop'),
        ('MAX_TOKENS', 'length'),
        ('SAFETY', 'content_filter'),
        ('RECITATION', 'content_filter'),
        ('MODEL_ARMOR', 'content_filter'),
        ('MALFORMED_FUNCTION_CALL', 'error'),
        ('UNEXPECTED_TOOL_CALL', 'error'),
        ('OTHER', None),
        ('SOMETHING_NEW', None),
    ],
)
async def test_finish_reasons(
    router: respx.MockRouter, model: GeminiModel, wire: str, ours: str | None
) -> None:
    _, _, response, _ = await sent(router, model, user(), reply=answer(finish=wire))
    assert (response.finish_reason, response.vendor_finish_reason) == (ours, wire)


async def test_a_blocked_prompt_is_a_typed_error_with_its_reason(
    router: respx.MockRouter, model: GeminiModel
) -> None:
    reply = {'promptFeedback': {'blockReason': 'SAFETY'}, 'usageMetadata': {'promptTokenCount': 5}}
    with pytest.raises(GeminiPromptBlocked, match=r'blocked the prompt \(SAFETY\)') as info:
        await sent(router, model, user(), reply=reply)
    assert info.value.block_reason == 'SAFETY'
    with pytest.raises(UnexpectedModelBehavior, match='no candidates'):
        await sent(router, model, user(), reply={'usageMetadata': {}})


@pytest.mark.parametrize(
    ('body', 'match'),
    [
        (b'{"candidates": "nope"}', 'does not fit the schema: candidates'),
        (b'not json', 'not JSON'),
        (b'{"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}', 'INTERNAL.*boom'),
        (
            b'{"candidates": [{"content": {"parts": [{"functionCall": {"args": {}}}]}}]}',
            'functionCall.name: Field required',
        ),
    ],
)
async def test_bodies_that_make_no_sense(
    router: respx.MockRouter, model: GeminiModel, body: bytes, match: str
) -> None:
    router.post(URL).mock(return_value=httpx.Response(200, content=body))
    with pytest.raises(UnexpectedModelBehavior, match=match) as info:
        await model.request(user(), None, ModelRequestParameters())
    if b'INTERNAL' in body:
        assert isinstance(info.value, ModelStreamError)


async def test_google_error_bodies_name_status_and_message(
    router: respx.MockRouter, model: GeminiModel
) -> None:
    error = {
        'error': {
            'code': 404,
            'message': 'models/x is not found for API version v1beta',
            'status': 'NOT_FOUND',
        }
    }
    router.post(URL).mock(return_value=httpx.Response(404, json=error))
    with pytest.raises(ModelHTTPError) as info:
        await model.request(user(), None, ModelRequestParameters())
    assert info.value.status_code == 404
    assert 'NOT_FOUND' in str(info.value)
    assert 'is not found for API version' in str(info.value)
    assert info.value.body == error
    assert KEY not in str(info.value)


async def test_resource_exhausted_is_retried_after_the_delay_google_gives(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    error = {
        'error': {
            'code': 429,
            'message': 'Resource has been exhausted (e.g. check quota).',
            'status': 'RESOURCE_EXHAUSTED',
            'details': [{'@type': 'type.googleapis.com/google.rpc.RetryInfo', 'retryDelay': '0.05s'}],
        }
    }
    route = router.post(URL).mock(
        side_effect=[httpx.Response(429, json=error), httpx.Response(200, json=answer())]
    )
    async with httpx.AsyncClient() as client:
        provider = GoogleGLAProvider(api_key=KEY, http_client=client)
        model = GeminiModel('gemini-2.0-flash', provider=provider)
        with caplog.at_level(logging.DEBUG, logger='modelkit.transport'):
            response, _ = await model.request(user(), None, ModelRequestParameters())
    assert route.call_count == 2
    assert 'in 0.050 s after 429' in caplog.text  # the body's RetryInfo, not a random backoff
    assert response.parts == [TextPart('Paris.')]

    long = {
        'error': {
            **error['error'],
            'details': [{'@type': 'type.googleapis.com/google.rpc.RetryInfo', 'retryDelay': '3600s'}],
        }
    }
    router.post(URL).mock(return_value=httpx.Response(429, json=long))
    async with httpx.AsyncClient() as client:
        model = GeminiModel('gemini-2.0-flash', provider=GoogleGLAProvider(api_key=KEY, http_client=client))
        with pytest.raises(ModelHTTPError) as info:
            await model.request(user(), None, ModelRequestParameters())
    assert info.value.retry_after == 3600.0


# --------------------------------------------------------------------------------------------
# The Models page's mock answers Gemini's URLs (GLA and Vertex), for the page's examples
# --------------------------------------------------------------------------------------------


class _VertexPaths(GoogleGLAProvider):
    """Vertex's path layout with an API key: enough to show the mock answers Vertex URLs too."""

    def route(self, path: str, model_name: str | None) -> str:
        return '/v1/projects/p/locations/us-central1/publishers/google' + path


@pytest.mark.parametrize(
    ('provider_class', 'base_url'),
    [(GoogleGLAProvider, ROOT), (_VertexPaths, 'https://us-central1-aiplatform.googleapis.com')],
)
def test_the_page_mock_answers_text_and_structured_results(
    provider_class: type[GoogleGLAProvider], base_url: str
) -> None:
    from pydantic import BaseModel

    from modelkit import Agent
    from tests.docs.page_mocks import gemini as page_mock

    class City(BaseModel):
        city: str
        country: str

    with respx.mock(assert_all_called=True) as router:
        page_mock.install(router)
        model = GeminiModel('gemini-2.0-flash', provider=provider_class(api_key=KEY, base_url=base_url))
        assert Agent(model).run_sync('What is the capital of France?').data == 'Paris'
        result = Agent(model, result_type=City).run_sync('Where were the olympics held in 2012?')
        assert result.data == City(city='London', country='United Kingdom')
        assert result.usage().total_tokens == 65


def test_importing_the_interface_and_provider_loads_no_google_auth_and_no_parser() -> None:
    import subprocess
    import sys

    code = (
        'import sys\n'
        'import modelkit.models.gemini, modelkit.providers.google_gla\n'
        "lazy = ('google.auth', 'modelkit.wire.gemini', 'modelkit.parsers.jsonarray')\n"
        'print(sorted(m for m in lazy if m in sys.modules))\n'
    )
    completed = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, check=True, timeout=60
    )
    assert completed.stdout.strip() == '[]'
