"""The emulator's Gemini API over loopback, GLA and Vertex paths: shapes, streams, auth, faults,
and `GeminiModel` driving it end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from modelkit.emulator import Emulator
from modelkit.emulator.gemini import prompt_tokens
from modelkit.exceptions import ModelHTTPError, ModelStreamError, StreamInterrupted
from modelkit.messages import (
    ModelRequest,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models.gemini import GeminiModel
from modelkit.parsers.jsonarray import JSONArrayDecoder
from modelkit.providers import Provider
from modelkit.providers.google_gla import GoogleGLAProvider
from modelkit.tools import ToolDefinition
from tests.helpers.emulator import TEST_TIMEOUT_S

pytestmark = pytest.mark.anyio

GLA_PATH = '/v1beta/models/gemini-2.0-flash'
VERTEX_PATH = '/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.0-flash'
CAPITAL = {
    'name': 'get_capital',
    'description': 'The capital of a country',
    'parameters': {'type': 'OBJECT', 'properties': {'country': {'type': 'STRING'}}, 'required': ['country']},
}


def body(prompt: str = 'Tell me about rivers', **extra: Any) -> dict[str, Any]:
    return {'contents': [{'role': 'user', 'parts': [{'text': prompt}]}], **extra}


@pytest.fixture
async def gla(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=emulator.base_url('google-gla'),
        headers={'x-goog-api-key': emulator.api_key},
        timeout=TEST_TIMEOUT_S,
    ) as client:
        yield client


@pytest.fixture
async def vertex(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=emulator.base_url('google-vertex'),
        headers={'authorization': f'Bearer {emulator.api_key}'},
        timeout=TEST_TIMEOUT_S,
    ) as client:
        yield client


def sse_chunks(raw: bytes) -> list[dict[str, Any]]:
    assert raw.endswith(b'\r\n\r\n')
    blocks = raw.split(b'\r\n\r\n')[:-1]
    assert all(block.startswith(b'data: ') and b'\n' not in block for block in blocks)
    return [orjson.loads(block[6:]) for block in blocks]


def text_of(chunks: list[dict[str, Any]], *, thought: bool = False) -> str:
    return ''.join(
        part.get('text', '')
        for chunk in chunks
        for part in chunk['candidates'][0]['content']['parts']
        if part.get('thought', False) is thought
    )


async def test_generate_content_has_gemini_shape(gla: httpx.AsyncClient) -> None:
    response = await gla.post(
        f'{GLA_PATH}:generateContent', json=body(systemInstruction={'parts': [{'text': 'Hi'}]})
    )
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {'candidates', 'usageMetadata', 'modelVersion', 'responseId'}
    (candidate,) = answer['candidates']
    assert candidate['finishReason'] == 'STOP'
    assert candidate['content']['role'] == 'model'
    assert len(candidate['content']['parts'][0]['text'].split()) == 8
    usage = answer['usageMetadata']
    assert usage['candidatesTokenCount'] == 8
    assert usage['promptTokenCount'] == prompt_tokens(body(systemInstruction={'parts': [{'text': 'Hi'}]}))
    assert usage['totalTokenCount'] == usage['promptTokenCount'] + 8


async def test_sse_stream_is_crlf_events_with_growing_usage_and_a_last_finish(gla: httpx.AsyncClient) -> None:
    response = await gla.post(f'{GLA_PATH}:streamGenerateContent', params={'alt': 'sse'}, json=body())
    assert response.headers['content-type'].startswith('text/event-stream')
    chunks = sse_chunks(response.content)
    assert len(chunks) == 9  # 8 tokens, then the finish chunk
    counts = [chunk['usageMetadata']['candidatesTokenCount'] for chunk in chunks]
    assert counts == [1, 2, 3, 4, 5, 6, 7, 8, 8]
    assert [c['candidates'][0].get('finishReason') for c in chunks] == [None] * 8 + ['STOP']
    assert len({chunk['responseId'] for chunk in chunks}) == 1


async def test_without_alt_sse_the_stream_is_one_json_array_in_googles_layout(gla: httpx.AsyncClient) -> None:
    response = await gla.post(f'{GLA_PATH}:streamGenerateContent', json=body())
    assert response.headers['content-type'].startswith('application/json')
    raw = response.content
    assert raw.startswith(b'[{\n  "candidates"')
    assert raw.endswith(b'\n]')
    assert raw.count(b'\n,\r\n{') == 8
    decoder = JSONArrayDecoder()
    chunks = decoder.feed(raw) + decoder.close()
    assert chunks == orjson.loads(raw)
    assert len(chunks) == 9


async def test_thoughts_come_first_and_the_next_part_carries_the_signature(gla: httpx.AsyncClient) -> None:
    config = {'thinkingConfig': {'includeThoughts': True, 'thinkingBudget': 5}}
    response = await gla.post(f'{GLA_PATH}:streamGenerateContent?alt=sse', json=body(generationConfig=config))
    chunks = sse_chunks(response.content)
    parts = [chunk['candidates'][0]['content']['parts'][0] for chunk in chunks]
    assert [p.get('thought', False) for p in parts[:5]] == [True] * 5
    assert 'thoughtSignature' in parts[5]
    assert not parts[5].get('thought')
    assert chunks[-1]['usageMetadata']['thoughtsTokenCount'] == 5

    whole = (await gla.post(f'{GLA_PATH}:generateContent', json=body(generationConfig=config))).json()
    thought, answer = whole['candidates'][0]['content']['parts']
    assert thought['thought'] is True
    assert answer['thoughtSignature'] == parts[5]['thoughtSignature']


async def test_function_calls_arrive_whole_and_without_empty_args(gla: httpx.AsyncClient) -> None:
    now = {'name': 'now', 'description': 'The time', 'parameters': {'type': 'OBJECT', 'properties': {}}}
    request = body('Use get_capital and now', tools=[{'functionDeclarations': [CAPITAL, now]}])
    chunks = sse_chunks((await gla.post(f'{GLA_PATH}:streamGenerateContent?alt=sse', json=request)).content)
    calls = [
        p['functionCall']
        for c in chunks
        for p in c['candidates'][0]['content']['parts']
        if 'functionCall' in p
    ]
    assert [call['name'] for call in calls] == ['get_capital', 'now']
    assert isinstance(calls[0]['args']['country'], str)
    assert 'args' not in calls[1]


async def test_snake_case_proto_names_and_a_forced_function(gla: httpx.AsyncClient) -> None:
    request = {
        'contents': [
            {'role': 'user', 'parts': [{'text': 'Capital of France?'}]},
            {
                'role': 'model',
                'parts': [{'function_call': {'name': 'get_capital', 'args': {'country': 'France'}}}],
            },
            {
                'role': 'user',
                'parts': [{'function_response': {'name': 'get_capital', 'response': {'capital': 'Paris'}}}],
            },
        ],
        'tools': [{'function_declarations': [CAPITAL]}],
        'tool_config': {'function_calling_config': {'mode': 'NONE'}},
        'generation_config': {'max_output_tokens': 50},
    }
    answer = (await gla.post(f'{GLA_PATH}:generateContent', json=request)).json()
    text = answer['candidates'][0]['content']['parts'][0]['text']
    assert 'get_capital' in text
    assert 'Paris' in text

    forced = body('Hello', tools=[{'functionDeclarations': [CAPITAL]}])
    forced['toolConfig'] = {'functionCallingConfig': {'mode': 'ANY', 'allowedFunctionNames': ['get_capital']}}
    parts = (await gla.post(f'{GLA_PATH}:generateContent', json=forced)).json()['candidates'][0]['content'][
        'parts'
    ]
    assert parts[0]['functionCall']['name'] == 'get_capital'


async def test_max_output_tokens_cuts_the_answer(gla: httpx.AsyncClient) -> None:
    answer = (
        await gla.post(f'{GLA_PATH}:generateContent', json=body(generationConfig={'maxOutputTokens': 3}))
    ).json()
    assert answer['candidates'][0]['finishReason'] == 'MAX_TOKENS'
    assert answer['usageMetadata']['candidatesTokenCount'] == 3


@pytest.mark.parametrize(
    ('headers', 'status', 'google_status'),
    [
        ({}, 403, 'PERMISSION_DENIED'),
        ({'x-goog-api-key': 'wrong'}, 400, 'INVALID_ARGUMENT'),
    ],
)
async def test_gla_auth(emulator: Emulator, headers: dict[str, str], status: int, google_status: str) -> None:
    async with httpx.AsyncClient(base_url=emulator.base_url('google-gla'), timeout=TEST_TIMEOUT_S) as client:
        response = await client.post(f'{GLA_PATH}:generateContent', json=body(), headers=headers)
        assert response.status_code == status
        assert response.json()['error']['status'] == google_status
        ok = await client.post(f'{GLA_PATH}:generateContent', json=body(), params={'key': emulator.api_key})
        assert ok.status_code == 200


async def test_vertex_paths_take_a_bearer_token(emulator: Emulator, vertex: httpx.AsyncClient) -> None:
    answer = (await vertex.post(f'{VERTEX_PATH}:generateContent', json=body())).json()
    assert 'createTime' in answer
    chunks = sse_chunks(
        (await vertex.post(f'{VERTEX_PATH}:streamGenerateContent?alt=sse', json=body())).content
    )
    assert chunks[-1]['candidates'][0]['finishReason'] == 'STOP'
    for headers in ({'authorization': 'Bearer wrong'}, {'x-goog-api-key': emulator.api_key}):
        async with httpx.AsyncClient(
            base_url=emulator.base_url('google-vertex'), timeout=TEST_TIMEOUT_S
        ) as client:
            refused = await client.post(f'{VERTEX_PATH}:generateContent', json=body(), headers=headers)
        assert refused.status_code == 401
        assert refused.json()['error']['status'] == 'UNAUTHENTICATED'


@pytest.mark.parametrize(
    ('request_body', 'message'),
    [
        ({}, 'contents is not specified'),
        ({'contents': [{'role': 'assistant', 'parts': [{'text': 'x'}]}]}, 'valid role'),
        ({'contents': [{'role': 'user', 'parts': []}]}, 'must not be empty'),
    ],
)
async def test_bad_requests_get_googles_400(
    gla: httpx.AsyncClient, request_body: dict[str, Any], message: str
) -> None:
    response = await gla.post(f'{GLA_PATH}:generateContent', json=request_body)
    assert response.status_code == 400
    assert response.json()['error']['status'] == 'INVALID_ARGUMENT'
    assert message in response.json()['error']['message']


async def test_a_429_says_how_long_to_wait_in_retry_info(gla: httpx.AsyncClient) -> None:
    response = await gla.post(
        '/v1beta/models/gemini-2.0-flash+fault=429+retry-after-ms=250:generateContent', json=body()
    )
    assert response.status_code == 429
    error = response.json()['error']
    assert error['status'] == 'RESOURCE_EXHAUSTED'
    assert error['details'] == [{'@type': 'type.googleapis.com/google.rpc.RetryInfo', 'retryDelay': '0.250s'}]
    assert 'retry-after' not in response.headers


@pytest.mark.parametrize('alt', ['sse', None])
async def test_stream_error_fault_is_googles_error_object_in_the_stream(
    gla: httpx.AsyncClient, alt: str | None
) -> None:
    params = {'alt': alt} if alt else {}
    response = await gla.post(
        '/v1beta/models/gemini-2.0-flash+fault=stream-error+fault-after=2:streamGenerateContent',
        params=params,
        json=body(),
    )
    raw = response.content
    last = sse_chunks(raw)[-1] if alt else orjson.loads(raw + b'\n]')[-1]
    assert last == {'error': {'code': 500, 'message': last['error']['message'], 'status': 'INTERNAL'}}


# --------------------------------------------------------------------------------------------
# GeminiModel against the emulator
# --------------------------------------------------------------------------------------------


def vertex_provider(emulator: Emulator, client: httpx.AsyncClient) -> Provider:
    """Vertex's paths with the emulator's key as the bearer token (a stand-in for GoogleVertexProvider)."""

    class Routed(Provider):
        def route(self, path: str, model_name: str | None) -> str:
            return '/v1/projects/my-project/locations/us-central1/publishers/google' + path

    return Routed(
        name='google-vertex',
        base_url=emulator.base_url('google-vertex'),
        signer=None,
        http_client=client,
        default_headers={'authorization': f'Bearer {emulator.api_key}'},
    )


@pytest.fixture(params=['gla', 'vertex'])
async def model(request: pytest.FixtureRequest, emulator: Emulator) -> AsyncIterator[GeminiModel]:
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT_S) as client:
        if request.param == 'gla':
            provider: Provider = GoogleGLAProvider(
                api_key=emulator.api_key, base_url=emulator.base_url('google-gla'), http_client=client
            )
        else:
            provider = vertex_provider(emulator, client)
        yield GeminiModel('gemini-2.0-flash', provider=provider)


WEATHER = ToolDefinition(
    'get_capital',
    'The capital of a country',
    {'type': 'object', 'properties': {'country': {'type': 'string'}}, 'required': ['country']},
)


async def test_the_model_streams_thoughts_and_calls_from_the_emulator(model: GeminiModel) -> None:
    messages = [ModelRequest([UserPromptPart('Use get_capital please')])]
    settings = {'gemini_thinking_config': {'include_thoughts': True, 'thinking_budget': 4}}
    async with model.request_stream(
        messages, settings, ModelRequestParameters(function_tools=[WEATHER])
    ) as stream:  # type: ignore[arg-type]
        async for _ in stream:
            pass
    thought, carrier, call = stream.get().parts
    assert isinstance(thought, ThinkingPart)
    assert thought.content
    assert isinstance(carrier, ThinkingPart)
    assert carrier.signature
    assert isinstance(call, ToolCallPart)
    assert call.tool_name == 'get_capital'
    assert stream.usage().details == {'reasoning_tokens': 4}

    # The history goes back with the signature on the call, and the emulator answers the result.
    history = [
        *messages,
        stream.get(),
        ModelRequest([ToolReturnPart('get_capital', 'Paris', call.tool_call_id)]),
    ]
    response, usage = await model.request(history, None, ModelRequestParameters(function_tools=[WEATHER]))
    assert isinstance(response.parts[0], TextPart)
    assert 'Paris' in response.parts[0].content
    assert usage.total_tokens


async def drain(model: GeminiModel) -> None:
    async with model.request_stream(
        [ModelRequest([UserPromptPart('Hi')])], None, ModelRequestParameters()
    ) as stream:
        async for _ in stream:
            pass


@pytest.mark.parametrize(
    ('fault', 'error'),
    [('stream-error', ModelStreamError), ('truncate', StreamInterrupted), ('drop', StreamInterrupted)],
)
async def test_the_model_sees_faults(model: GeminiModel, fault: str, error: type[Exception]) -> None:
    faulty = GeminiModel(f'gemini-2.0-flash+fault={fault}+fault-after=2', provider=model.provider)
    with pytest.raises(error) as info:
        await drain(faulty)
    assert isinstance(info.value, StreamInterrupted | ModelStreamError)
    assert info.value.partial_response is not None
    assert len(info.value.partial_response.parts) == 1  # the two tokens that arrived


async def test_an_in_stream_error_before_any_content_is_retried(
    model: GeminiModel, emulator: Emulator
) -> None:
    # The emulator's stream-error is Google's INTERNAL (a 500's status) as the stream's first chunk.
    model.provider._transport.initial_backoff = 0.001  # type: ignore[attr-defined]  # short waits
    name = 'gemini-2.0-flash+fault=stream-error+fault-after=0+fault-times=1'
    faulty = GeminiModel(name, provider=model.provider)
    before = len(emulator.requests)
    async with faulty.request_stream(
        [ModelRequest([UserPromptPart('Hi')])], None, ModelRequestParameters()
    ) as stream:
        events = [event async for event in stream]
    assert len(emulator.requests) - before == 2
    assert events
    assert len(stream.timing.event_times) == len(events)
    text = stream.get().parts[0]
    assert isinstance(text, TextPart)
    assert text.content
    assert stream.get().finish_reason == 'stop'


async def test_rate_limits_are_retried_after_google_s_delay(emulator: Emulator) -> None:
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT_S) as client:
        provider = GoogleGLAProvider(
            api_key=emulator.api_key, base_url=emulator.base_url('google-gla'), http_client=client
        )
        model = GeminiModel('gemini-2.0-flash+fault=429+fault-times=1+retry-after-ms=20', provider=provider)
        response, _ = await model.request(
            [ModelRequest([UserPromptPart('Hi')])], None, ModelRequestParameters()
        )
        assert isinstance(response.parts[0], TextPart)
        model = GeminiModel(
            'gemini-2.0-flash+fault=500+fault-times=5',
            provider=GoogleGLAProvider(
                api_key=emulator.api_key,
                base_url=emulator.base_url('google-gla'),
                http_client=client,
                max_retries=0,
            ),
        )
        with pytest.raises(ModelHTTPError, match='INTERNAL'):
            await model.request([ModelRequest([UserPromptPart('Hi')])], None, ModelRequestParameters())
