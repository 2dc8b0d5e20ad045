"""OpenAIModel.request_stream over respx: hand-written SSE bodies in, our part events and response out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import respx

from modelkit.exceptions import (
    ModelHTTPError,
    ModelStreamError,
    StreamInterrupted,
    UnexpectedModelBehavior,
)
from modelkit.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponseStreamEvent,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ThinkingPart,
    ToolCallPart,
    ToolCallPartDelta,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters, StreamedResponse
from modelkit.models.openai import OpenAIModel, OpenAIModelSettings
from modelkit.profiles import OPENAI_API_PROFILE
from modelkit.providers import infer_provider
from modelkit.providers.azure import AzureProvider
from modelkit.providers.openai import OpenAIProvider
from modelkit.usage import Usage
from tests.helpers.streams import Pieces, bytewise

pytestmark = pytest.mark.anyio

URL = 'https://api.openai.com/v1/chat/completions'
CREATED = 1_759_436_803
SSE_HEADERS = {'content-type': 'text/event-stream; charset=utf-8'}


def chunk(
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    *,
    choices: list[Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One chat.completion.chunk as OpenAI sends it (with its padding field)."""
    if choices is None:
        choices = [{'index': 0, 'delta': delta or {}, 'logprobs': None, 'finish_reason': finish_reason}]
    return {
        'id': 'chatcmpl-stream',
        'object': 'chat.completion.chunk',
        'created': CREATED,
        'model': 'gpt-4o-2024-08-06',
        'system_fingerprint': 'fp_1',
        'choices': choices,
        'usage': None,
        'obfuscation': 'pAd',
        **extra,
    }


USAGE = {
    'prompt_tokens': 53,
    'completion_tokens': 15,
    'total_tokens': 68,
    'prompt_tokens_details': {'cached_tokens': 0, 'audio_tokens': 0},
    'completion_tokens_details': {'reasoning_tokens': 0, 'audio_tokens': 0},
}


def sse(*items: dict[str, Any] | str | bytes, done: bool = True) -> bytes:
    """An SSE body: dicts become `data:` events, str is raw data, bytes are copied verbatim."""
    out = bytearray()
    for item in items:
        if isinstance(item, bytes):
            out += item
        else:
            data = orjson.dumps(item) if isinstance(item, dict) else item.encode()
            out += b'data: ' + data + b'\n\n'
    if done:
        out += b'data: [DONE]\n\n'
    return bytes(out)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def make_model(
    http_client: httpx.AsyncClient, provider_cls: type[OpenAIProvider] = OpenAIProvider
) -> OpenAIModel:
    return OpenAIModel('gpt-4o', provider=provider_cls(api_key='sk-test', http_client=http_client))


def mock_stream(router: respx.MockRouter, body: bytes | list[bytes]) -> respx.Route:
    pieces = body if isinstance(body, list) else [body]
    return router.post(URL).mock(return_value=httpx.Response(200, headers=SSE_HEADERS, stream=Pieces(pieces)))


MESSAGES: list[ModelMessage] = [ModelRequest([UserPromptPart('Hi')])]


async def stream_all(
    model: OpenAIModel,
    settings: OpenAIModelSettings | None = None,
    params: ModelRequestParameters | None = None,
) -> tuple[list[ModelResponseStreamEvent], ModelResponse, Usage, StreamedResponse]:
    async with model.request_stream(MESSAGES, settings, params or ModelRequestParameters()) as response:
        events = [event async for event in response]
    return events, response.get(), response.usage(), response


async def stream_until_error(
    model: OpenAIModel,
) -> tuple[list[ModelResponseStreamEvent], UnexpectedModelBehavior]:
    events: list[ModelResponseStreamEvent] = []

    async def consume() -> None:
        async with model.request_stream(MESSAGES, None, ModelRequestParameters()) as response:
            async for event in response:
                events.append(event)

    with pytest.raises(UnexpectedModelBehavior) as exc_info:
        await consume()
    return events, exc_info.value


# --------------------------------------------------------------------------------------------
# The request
# --------------------------------------------------------------------------------------------


async def test_stream_request_asks_for_usage(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    route = mock_stream(router, sse(chunk({'content': 'x'}, 'stop')))
    await stream_all(make_model(http_client))
    assert orjson.loads(route.calls.last.request.content) == {
        'model': 'gpt-4o',
        'messages': [{'role': 'user', 'content': 'Hi'}],
        'stream': True,
        'stream_options': {'include_usage': True},
    }


class NoUsageProvider(OpenAIProvider):
    openai_chat_profile = replace(OPENAI_API_PROFILE, stream_include_usage=False)


async def test_include_usage_follows_the_provider_and_the_setting(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    route = mock_stream(router, sse(chunk({'content': 'x'}, 'stop')))
    await stream_all(make_model(http_client, NoUsageProvider))
    body = orjson.loads(route.calls.last.request.content)
    assert body['stream'] is True
    assert 'stream_options' not in body

    mock_stream(router, sse(chunk({'content': 'x'}, 'stop')))
    await stream_all(make_model(http_client, NoUsageProvider), {'openai_stream_include_usage': True})
    assert orjson.loads(route.calls.last.request.content)['stream_options'] == {'include_usage': True}

    mock_stream(router, sse(chunk({'content': 'x'}, 'stop')))
    await stream_all(make_model(http_client), {'openai_stream_include_usage': False})
    assert 'stream_options' not in orjson.loads(route.calls.last.request.content)


@pytest.mark.parametrize(
    ('name', 'include_usage'),
    [('openai', True), ('deepseek', True), ('openrouter', True), ('fireworks', False), ('perplexity', False)],
)
async def test_include_usage_per_provider(
    router: respx.MockRouter, http_client: httpx.AsyncClient, name: str, include_usage: bool
) -> None:
    provider = infer_provider(name, api_key='k-test', http_client=http_client)
    route = router.post(f'{provider.base_url}/chat/completions').mock(
        return_value=httpx.Response(200, headers=SSE_HEADERS, content=sse(chunk({'content': 'x'}, 'stop')))
    )
    await stream_all(OpenAIModel('m', provider=provider))
    body = orjson.loads(route.calls.last.request.content)
    assert body['stream'] is True
    assert body.get('stream_options') == ({'include_usage': True} if include_usage else None)


async def test_azure_stream_request(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    provider = AzureProvider(
        azure_endpoint='https://my-res.openai.azure.com',
        api_version='2024-10-21',
        api_key='az',
        http_client=http_client,
    )
    route = router.post(host='my-res.openai.azure.com').mock(
        return_value=httpx.Response(200, headers=SSE_HEADERS, content=sse(chunk({'content': 'hi'}, 'stop')))
    )
    _, response, _, _ = await stream_all(OpenAIModel('gpt-4o', provider=provider))
    request = route.calls.last.request
    assert request.url.path == '/openai/deployments/gpt-4o/chat/completions'
    assert request.url.params['api-version'] == '2024-10-21'
    assert request.headers['api-key'] == 'az'
    assert orjson.loads(request.content)['stream_options'] == {'include_usage': True}
    assert response.parts == [TextPart('hi')]


# --------------------------------------------------------------------------------------------
# Content
# --------------------------------------------------------------------------------------------


async def test_text_stream(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    body = sse(
        chunk({'role': 'assistant', 'content': '', 'refusal': None}),
        chunk({'content': 'The'}),
        chunk({'content': ' capital'}),
        chunk({'content': ' is Paris.'}),
        chunk({}, 'stop'),
        chunk(choices=[], usage=USAGE),
    )
    mock_stream(router, body)
    events, response, usage, streamed = await stream_all(make_model(http_client))
    assert events == [
        PartStartEvent(0, TextPart('The')),
        PartDeltaEvent(0, TextPartDelta(' capital')),
        PartDeltaEvent(0, TextPartDelta(' is Paris.')),
    ]
    assert response.parts == [TextPart('The capital is Paris.')]
    assert response.model_name == 'gpt-4o-2024-08-06'
    assert response.timestamp == datetime.fromtimestamp(CREATED, tz=UTC)
    assert response.vendor_id == 'chatcmpl-stream'
    assert response.finish_reason == 'stop'
    assert response.vendor_finish_reason == 'stop'
    assert usage == Usage(request_tokens=53, response_tokens=15, total_tokens=68)
    timing = streamed.timing
    assert timing.started_at is not None
    assert timing.headers_at is not None
    assert timing.started_at <= timing.headers_at
    assert len(timing.event_times) == 3
    assert timing.first_event_at == timing.event_times[0]


@pytest.mark.parametrize('field', ['reasoning_content', 'reasoning'])
async def test_reasoning_stream(router: respx.MockRouter, http_client: httpx.AsyncClient, field: str) -> None:
    body = sse(
        chunk({'role': 'assistant', 'content': None, field: 'Let me'}),
        chunk({'content': None, field: ' think.'}),
        chunk({'content': '42', field: None}),
        chunk({}, 'stop', usage={**USAGE, 'completion_tokens_details': {'reasoning_tokens': 12}}),
    )
    mock_stream(router, body)
    events, response, usage, _ = await stream_all(make_model(http_client))
    assert [type(event) for event in events] == [PartStartEvent, PartDeltaEvent, PartStartEvent]
    assert response.parts == [ThinkingPart('Let me think.'), TextPart('42')]
    assert usage.details == {'reasoning_tokens': 12}


def tool_delta(
    index: int, *, id: str | None = None, name: str | None = None, args: str | None = None
) -> dict[str, Any]:
    call: dict[str, Any] = {'index': index}
    if id is not None:
        call['id'] = id
        call['type'] = 'function'
    function = {key: value for key, value in (('name', name), ('arguments', args)) if value is not None}
    if function:
        call['function'] = function
    return {'tool_calls': [call]}


async def test_parallel_tool_calls_stay_apart(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    body = sse(
        chunk(
            {'role': 'assistant', 'content': None, **tool_delta(0, id='call_w', name='get_weather', args='')}
        ),
        chunk(tool_delta(0, args='{"ci')),
        chunk(
            {
                'tool_calls': [
                    {
                        'index': 1,
                        'id': 'call_p',
                        'type': 'function',
                        'function': {'name': 'get_product', 'arguments': ''},
                    }
                ]
            }
        ),
        chunk(tool_delta(0, args='ty": "Paris"}')),
        chunk(tool_delta(1, args='{}')),
        chunk({}, 'tool_calls'),
        chunk(choices=[], usage=USAGE),
    )
    mock_stream(router, body)
    events, response, _, _ = await stream_all(make_model(http_client))
    assert response.parts == [
        ToolCallPart('get_weather', '{"city": "Paris"}', 'call_w'),
        ToolCallPart('get_product', '{}', 'call_p'),
    ]
    assert response.finish_reason == 'tool_call'
    assert response.vendor_finish_reason == 'tool_calls'
    assert events[0] == PartStartEvent(0, ToolCallPart('get_weather', '', 'call_w'))
    assert events[1] == PartDeltaEvent(0, ToolCallPartDelta(args_delta='{"ci'))
    assert events[2] == PartStartEvent(1, ToolCallPart('get_product', '', 'call_p'))


async def test_reused_index_with_a_new_id_is_a_new_call(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    body = sse(
        chunk(tool_delta(0, id='call_1', name='first', args='{"a":1}')),
        chunk(tool_delta(0, id='call_2', name='second', args='{"b":')),
        chunk(tool_delta(0, args='2}')),
        chunk({}, 'tool_calls'),
    )
    mock_stream(router, body)
    _, response, _, _ = await stream_all(make_model(http_client))
    assert response.parts == [
        ToolCallPart('first', '{"a":1}', 'call_1'),
        ToolCallPart('second', '{"b":2}', 'call_2'),
    ]


async def test_call_without_arguments_completes_with_empty_args(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    body = sse(
        chunk({'content': 'Checking.'}),
        chunk(tool_delta(0, id='call_t', name='get_time')),
        chunk({}, 'tool_calls'),
    )
    mock_stream(router, body)
    _, response, _, _ = await stream_all(make_model(http_client))
    assert response.parts == [TextPart('Checking.'), ToolCallPart('get_time', '', 'call_t')]
    assert response.parts[1].args_as_dict() == {}  # type: ignore[union-attr]


async def test_refusal_delta_is_text(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    mock_stream(router, sse(chunk({'refusal': "I can't"}), chunk({'refusal': ' help.'}), chunk({}, 'stop')))
    _, response, _, _ = await stream_all(make_model(http_client))
    assert response.parts == [TextPart("I can't help.")]


async def test_unknown_chunks_events_and_fields_are_skipped(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    body = sse(
        b': keep-alive comment\n\n',
        chunk({'content': 'Hi', 'channel': 'final'}, extra_field={'x': 1}),
        b'event: ping\ndata: {"type": "ping"}\n\n',
        {'type': 'keepalive'},  # a chunk that is not a completion chunk at all
        chunk({}, 'stop'),
        chunk(choices=[], usage=USAGE),
        chunk(choices=[], moderation={'input': {'flagged': False}}),
    )
    mock_stream(router, body)
    events, response, usage, _ = await stream_all(make_model(http_client))
    assert events == [PartStartEvent(0, TextPart('Hi'))]
    assert response.parts == [TextPart('Hi')]
    assert usage.total_tokens == 68


async def test_usage_on_the_finish_chunk_and_under_x_groq(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    groq_usage = {'queue_time': 0.04, 'prompt_tokens': 210, 'completion_tokens': 15, 'total_tokens': 225}
    mock_stream(
        router, sse(chunk({'content': 'x'}), chunk({}, 'stop', x_groq={'id': 'req_1', 'usage': groq_usage}))
    )
    _, _, usage, _ = await stream_all(make_model(http_client))
    assert usage == Usage(request_tokens=210, response_tokens=15, total_tokens=225)


async def test_events_after_done_are_ignored_and_the_body_is_read_to_the_end(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    pieces = [sse(chunk({'content': 'one'}), chunk({}, 'stop')), sse(chunk({'content': 'two'}), done=False)]
    stream = Pieces(pieces)
    router.post(URL).mock(return_value=httpx.Response(200, headers=SSE_HEADERS, stream=stream))
    _, response, _, _ = await stream_all(make_model(http_client))
    assert response.parts == [TextPart('one')]
    assert stream.exhausted


async def test_finish_reason_without_done_is_a_complete_stream(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    mock_stream(router, sse(chunk({'content': 'ok'}), chunk({}, 'length'), done=False))
    _, response, _, _ = await stream_all(make_model(http_client))
    assert response.parts == [TextPart('ok')]
    assert response.finish_reason == 'length'


async def test_stream_body_split_byte_by_byte(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    body = sse(chunk({'content': 'Olá, '}), chunk({'content': 'café ☕'}), chunk({}, 'stop'))
    mock_stream(router, bytewise(body))
    _, response, _, _ = await stream_all(make_model(http_client))
    assert response.parts == [TextPart('Olá, café ☕')]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


async def test_error_event_is_a_stream_error_carrying_the_partial_response(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    error = {
        'error': {
            'message': 'Tool choice is required, but model did not call a tool',
            'type': 'invalid_request_error',
            'code': 'tool_use_failed',
        }
    }
    body = sse(
        chunk({'content': 'maybe'}), b'event: error\ndata: ' + orjson.dumps(error) + b'\n\n', done=False
    )
    mock_stream(router, body)
    events, exc = await stream_until_error(make_model(http_client))
    assert isinstance(exc, ModelStreamError)
    assert exc.vendor == 'openai'
    assert exc.error_type == 'invalid_request_error'
    assert exc.code == 'tool_use_failed'
    assert 'Tool choice is required' in str(exc)
    assert events == [PartStartEvent(0, TextPart('maybe'))]
    assert exc.partial_response is not None
    assert exc.partial_response.parts == [TextPart('maybe')]


async def test_error_object_in_a_chunk_is_a_stream_error(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    error_chunk = chunk({'content': ''}, 'error', error={'code': 502, 'message': 'Provider returned error'})
    mock_stream(router, sse(chunk({'content': 'par'}), error_chunk))
    _, exc = await stream_until_error(make_model(http_client))
    assert isinstance(exc, ModelStreamError)
    assert exc.code == '502'
    assert 'Provider returned error' in str(exc)
    assert exc.partial_response is not None
    assert exc.partial_response.parts == [TextPart('par')]


async def test_bare_error_chunk_is_a_stream_error(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    mock_stream(router, sse({'error': {'message': 'overloaded', 'type': 'server_error'}}))
    _, exc = await stream_until_error(make_model(http_client))
    assert isinstance(exc, ModelStreamError)
    assert exc.error_type == 'server_error'


async def test_truncated_stream_is_interrupted_with_the_partial_text(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    body = (
        sse(chunk({'content': 'The capital'}), chunk({'content': ' is'}), done=False)
        + b'data: {"id": "chatcmpl-str'
    )
    mock_stream(router, body)
    events, exc = await stream_until_error(make_model(http_client))
    assert isinstance(exc, StreamInterrupted)
    assert 'middle of an event' in str(exc)
    assert len(events) == 2
    assert exc.partial_response is not None
    assert exc.partial_response.parts == [TextPart('The capital is')]


async def test_stream_ending_cleanly_without_done_or_finish_is_interrupted(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    mock_stream(router, sse(chunk({'content': 'Half'}), done=False))
    _, exc = await stream_until_error(make_model(http_client))
    assert isinstance(exc, StreamInterrupted)
    assert 'between events' in str(exc)
    assert exc.partial_response is not None
    assert exc.partial_response.parts == [TextPart('Half')]


async def test_bad_json_is_unexpected_model_behavior(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    mock_stream(router, sse(chunk({'content': 'ok'}), '{"id": "x", "choices": [', chunk({}, 'stop')))
    _, exc = await stream_until_error(make_model(http_client))
    assert type(exc) is UnexpectedModelBehavior
    assert 'not JSON' in str(exc)
    assert exc.partial_response is not None
    assert exc.partial_response.parts == [TextPart('ok')]


@pytest.mark.parametrize(
    ('bad', 'words'),
    [
        (chunk(choices='nope'), 'choices: Input should be a valid list'),  # type: ignore[arg-type]
        (chunk({'content': 42}), 'choices.0.delta.content'),
        (chunk(choices=[{'index': 0, 'delta': ['x']}]), 'choices.0.delta'),
        (
            chunk({'tool_calls': [{'index': 0, 'function': {'name': 7}}]}),
            'choices.0.delta.tool_calls.0.function.name',
        ),
        (chunk({}, 'stop', usage={'prompt_tokens': 'many'}), 'usage.prompt_tokens'),
        ('[1, 2]', 'Input should be a valid dictionary'),
    ],
)
async def test_chunk_of_the_wrong_shape_names_the_problem(
    router: respx.MockRouter, http_client: httpx.AsyncClient, bad: dict[str, Any] | str, words: str
) -> None:
    mock_stream(router, sse(bad))
    _, exc = await stream_until_error(make_model(http_client))
    assert type(exc) is UnexpectedModelBehavior
    assert 'stream chunk that does not fit the schema' in str(exc)
    assert words in str(exc)


async def test_http_error_on_a_stream(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    error = {'error': {'message': 'Rate limit reached', 'type': 'requests', 'code': 'rate_limit_exceeded'}}
    router.post(URL).mock(return_value=httpx.Response(400, json=error))
    with pytest.raises(ModelHTTPError) as exc_info:
        async with make_model(http_client).request_stream(MESSAGES, None, ModelRequestParameters()):
            pass
    assert exc_info.value.status_code == 400
    assert 'Rate limit reached' in str(exc_info.value)
