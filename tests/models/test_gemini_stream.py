"""GeminiModel.request_stream over respx: hand-written SSE and JSON-array bodies in, our events out.

Every body is replayed whole, one byte at a time and in random pieces: the result must not depend
on how the bytes arrive. The same chunks are also sent as the JSON array Gemini answers with when
`alt=sse` is ignored, and must give the same parts and usage.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from modelkit.exceptions import ModelHTTPError, ModelStreamError, StreamInterrupted, UnexpectedModelBehavior
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
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models.gemini import GeminiModel, GeminiPromptBlocked
from modelkit.providers.google_gla import GoogleGLAProvider
from modelkit.usage import Usage
from tests.helpers.streams import Pieces, bytewise, random_split

pytestmark = pytest.mark.anyio

URL = 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent'
SSE = {'content-type': 'text/event-stream'}
JSON = {'content-type': 'application/json; charset=UTF-8'}
PROMPT: list[ModelMessage] = [ModelRequest([UserPromptPart('Hi')])]


def chunk(*parts: dict[str, Any], finish: str | None = None, usage: int = 1, **extra: Any) -> dict[str, Any]:
    """One streamed GenerateContentResponse; `usage` is the candidates count so far (it grows)."""
    candidate: dict[str, Any] = {'content': {'parts': list(parts), 'role': 'model'}, 'index': 0}
    if finish is not None:
        candidate['finishReason'] = finish
    return {
        'candidates': [candidate],
        'usageMetadata': {'promptTokenCount': 5, 'candidatesTokenCount': usage, 'totalTokenCount': 5 + usage},
        'modelVersion': 'gemini-2.5-flash',
        'responseId': 'stream-1',
        **extra,
    }


def sse(chunks: list[dict[str, Any]]) -> bytes:
    """Google's SSE layout: compact JSON after `data: `, CRLF line ends."""
    return b''.join(b'data: ' + json.dumps(c, separators=(',', ': ')).encode() + b'\r\n\r\n' for c in chunks)


def array(chunks: list[dict[str, Any]]) -> bytes:
    """Google's JSON-array layout: pretty-printed elements joined by `\\n,\\r\\n`."""
    return b'[' + b'\n,\r\n'.join(json.dumps(c, indent=2).encode() for c in chunks) + b'\n]'


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
async def model() -> AsyncIterator[GeminiModel]:
    async with httpx.AsyncClient() as client:
        yield GeminiModel('gemini-2.5-flash', provider=GoogleGLAProvider(api_key='k', http_client=client))


async def run(
    router: respx.MockRouter, model: GeminiModel, pieces: list[bytes], headers: dict[str, str] = SSE
) -> tuple[list[ModelResponseStreamEvent], ModelResponse, Usage]:
    router.post(URL).mock(return_value=httpx.Response(200, stream=Pieces(pieces), headers=headers))
    events: list[ModelResponseStreamEvent] = []
    async with model.request_stream(PROMPT, None, ModelRequestParameters()) as stream:
        async for event in stream:
            events.append(event)
    assert len(stream.timing.event_times) == len(events)
    return events, stream.get(), stream.usage()


def cuts(body: bytes) -> list[list[bytes]]:
    return [[body], bytewise(body), *(random_split(body, seed) for seed in range(3))]


TEXT_CHUNKS = [
    chunk({'text': 'The'}),
    chunk({'text': ' capital'}, usage=2),
    chunk({'text': ' is Paris.'}, finish='STOP', usage=3),
]


@pytest.mark.parametrize('form', ['sse', 'array'])
async def test_text_however_the_bytes_arrive(router: respx.MockRouter, model: GeminiModel, form: str) -> None:
    body, headers = (sse(TEXT_CHUNKS), SSE) if form == 'sse' else (array(TEXT_CHUNKS), JSON)
    for pieces in cuts(body):
        events, response, usage = await run(router, model, pieces, headers)
        assert events == [
            PartStartEvent(0, TextPart('The')),
            PartDeltaEvent(0, TextPartDelta(' capital')),
            PartDeltaEvent(0, TextPartDelta(' is Paris.')),
        ]
        assert response.parts == [TextPart('The capital is Paris.')]
        assert (response.model_name, response.vendor_id) == ('gemini-2.5-flash', 'stream-1')
        assert (response.finish_reason, response.vendor_finish_reason) == ('stop', 'STOP')
        assert usage == Usage(request_tokens=5, response_tokens=3, total_tokens=8)  # the last chunk's


CALLS_AND_THOUGHTS = [
    chunk({'text': 'Let me', 'thought': True}),
    chunk({'text': ' think.', 'thought': True}),
    chunk(
        {'functionCall': {'name': 'weather', 'args': {'city': 'Paris'}}, 'thoughtSignature': 'c2ln'},
        {'functionCall': {'name': 'weather', 'args': {'city': 'Rome'}}},
    ),
    chunk({'functionCall': {'name': 'now'}}),
    chunk({'executableCode': {'code': 'print(1)'}}, {'codeExecutionResult': {'outcome': 'OUTCOME_OK'}}),
    chunk({'text': ''}, finish='STOP', usage=9),
]


@pytest.mark.parametrize('form', ['sse', 'array'])
async def test_thoughts_signatures_and_parallel_calls(
    router: respx.MockRouter, model: GeminiModel, form: str
) -> None:
    body, headers = (sse(CALLS_AND_THOUGHTS), SSE) if form == 'sse' else (array(CALLS_AND_THOUGHTS), JSON)
    for pieces in cuts(body):
        _, response, usage = await run(router, model, pieces, headers)
        thought, carrier, paris, rome, now = response.parts
        assert thought == ThinkingPart('Let me think.')
        assert carrier == ThinkingPart('', signature='c2ln')
        assert isinstance(paris, ToolCallPart)
        assert isinstance(rome, ToolCallPart)
        assert isinstance(now, ToolCallPart)
        assert [(c.tool_name, c.args) for c in (paris, rome, now)] == [
            ('weather', {'city': 'Paris'}),
            ('weather', {'city': 'Rome'}),
            ('now', {}),
        ]
        assert len({paris.tool_call_id, rome.tool_call_id, now.tool_call_id}) == 3
        assert usage.response_tokens == 9


async def test_usage_only_chunks_and_a_late_finish_are_fine(
    router: respx.MockRouter, model: GeminiModel
) -> None:
    usage_only = {
        'usageMetadata': {'promptTokenCount': 5, 'totalTokenCount': 5},
        'modelVersion': 'gemini-2.5-flash',
    }
    body = sse(
        [
            usage_only,
            chunk({'text': 'Hi'}),
            chunk({'text': '!'}, usage=2),
            chunk(finish='MAX_TOKENS', usage=2),
        ]
    )
    _, response, usage = await run(router, model, [body])
    assert response.parts == [TextPart('Hi!')]
    assert response.finish_reason == 'length'
    assert usage.total_tokens == 7


@pytest.mark.parametrize(
    ('body', 'inside'),
    [
        (sse(TEXT_CHUNKS[:2]), False),  # no finish reason: cut between events
        (sse(TEXT_CHUNKS)[:-20], True),  # cut in the middle of the last event
    ],
)
async def test_a_stream_that_ends_before_a_finish_reason_is_interrupted(
    router: respx.MockRouter, model: GeminiModel, body: bytes, inside: bool
) -> None:
    with pytest.raises(StreamInterrupted, match='before a finish reason') as info:
        await run(router, model, [body])
    assert ('middle of an event' in str(info.value)) is inside
    assert info.value.partial_response is not None
    assert info.value.partial_response.parts == [TextPart('The capital')]


async def test_a_json_array_cut_short_is_interrupted(router: respx.MockRouter, model: GeminiModel) -> None:
    with pytest.raises(StreamInterrupted):
        await run(router, model, [array(TEXT_CHUNKS[:2])[:-2]], JSON)


@pytest.mark.parametrize('form', ['sse', 'array'])
async def test_an_error_inside_the_stream_keeps_what_arrived(
    router: respx.MockRouter, model: GeminiModel, form: str
) -> None:
    error = {'error': {'code': 503, 'message': 'The model is overloaded.', 'status': 'UNAVAILABLE'}}
    chunks = [TEXT_CHUNKS[0], error]
    body, headers = (sse(chunks), SSE) if form == 'sse' else (array(chunks), JSON)
    with pytest.raises(ModelStreamError, match=r'UNAVAILABLE.*The model is overloaded') as info:
        await run(router, model, [body], headers)
    assert info.value.error_type == 'UNAVAILABLE'
    assert info.value.code == '503'
    assert info.value.partial_response is not None
    assert info.value.partial_response.parts == [TextPart('The')]


async def test_a_blocked_prompt_in_a_stream(router: respx.MockRouter, model: GeminiModel) -> None:
    blocked = {
        'promptFeedback': {'blockReason': 'PROHIBITED_CONTENT'},
        'usageMetadata': {'promptTokenCount': 5},
    }
    with pytest.raises(GeminiPromptBlocked) as info:
        await run(router, model, [sse([blocked])])
    assert info.value.block_reason == 'PROHIBITED_CONTENT'


@pytest.mark.parametrize(
    ('body', 'match'),
    [
        (b'data: {not json}\r\n\r\n', 'not JSON'),
        (sse([{'candidates': [{'content': {'parts': [{'text': 5}]}}]}]), 'does not fit the schema'),
        (sse([{'candidates': 'nope'}]), 'does not fit the schema'),
    ],
)
async def test_chunks_that_make_no_sense(
    router: respx.MockRouter, model: GeminiModel, body: bytes, match: str
) -> None:
    with pytest.raises(UnexpectedModelBehavior, match=match):
        await run(router, model, [body])


async def test_unknown_event_types_and_unknown_parts_are_skipped(
    router: respx.MockRouter, model: GeminiModel
) -> None:
    body = b'event: ping\r\ndata: {}\r\n\r\n' + sse(
        [chunk({'inlineData': {'mimeType': 'image/png', 'data': ''}}, {'text': 'ok'}, finish='STOP')]
    )
    _, response, _ = await run(router, model, [body])
    assert response.parts == [TextPart('ok')]


async def test_an_http_error_before_the_stream(router: respx.MockRouter, model: GeminiModel) -> None:
    error = {
        'error': {'code': 400, 'message': 'Invalid JSON payload received.', 'status': 'INVALID_ARGUMENT'}
    }
    router.post(URL).mock(return_value=httpx.Response(400, json=error))
    with pytest.raises(ModelHTTPError, match='INVALID_ARGUMENT'):
        async with model.request_stream(PROMPT, None, ModelRequestParameters()):
            pass


async def test_the_fast_path_and_the_full_path_agree(router: respx.MockRouter, model: GeminiModel) -> None:
    # Text after a call starts a new part; text chunks with extra keys take the full path.
    chunks = [
        chunk({'text': 'A'}),
        chunk({'functionCall': {'name': 'f', 'args': {}}}),
        chunk({'text': 'B'}),
        chunk({'text': 'C', 'thoughtSignature': 'sig'}),
        chunk({'text': 'D'}, finish='STOP'),
    ]
    _, response, _ = await run(router, model, [sse(chunks)])
    assert [type(p).__name__ for p in response.parts] == [
        'TextPart',
        'ToolCallPart',
        'TextPart',
        'ThinkingPart',
        'TextPart',
    ]
    assert [p.content for p in response.parts if isinstance(p, TextPart)] == ['A', 'B', 'CD']


def _in_stream_error(status: str, code: int) -> dict[str, Any]:
    return {'error': {'code': code, 'message': f'{status} (from the test).', 'status': status}}


async def _retrying(
    router: respx.MockRouter, answers: list[httpx.Response], max_retries: int = 2
) -> tuple[list[ModelResponseStreamEvent], ModelResponse, Usage, respx.Route]:
    route = router.post(URL).mock(side_effect=answers)
    async with httpx.AsyncClient() as client:
        provider = GoogleGLAProvider(api_key='k', http_client=client, max_retries=max_retries)
        provider._transport.initial_backoff = 0.001  # keep the retry waits short
        model = GeminiModel('gemini-2.5-flash', provider=provider)
        async with model.request_stream(PROMPT, None, ModelRequestParameters()) as stream:
            events = [event async for event in stream]
        assert len(stream.timing.event_times) == len(events)
        return events, stream.get(), stream.usage(), route


def _answer(body: bytes, form: str) -> httpx.Response:
    return httpx.Response(200, stream=Pieces(bytewise(body)), headers=SSE if form == 'sse' else JSON)


@pytest.mark.parametrize('form', ['sse', 'array'])
@pytest.mark.parametrize(('status', 'code'), [('RESOURCE_EXHAUSTED', 429), ('UNAVAILABLE', 503)])
async def test_a_transient_error_before_any_content_is_retried(
    router: respx.MockRouter, form: str, status: str, code: int
) -> None:
    encode = sse if form == 'sse' else array
    # The failed attempt got as far as a usage-only chunk: none of it may leak into the answer.
    usage_only = {'usageMetadata': {'promptTokenCount': 99}, 'responseId': 'failed-attempt'}
    failed = encode([usage_only, _in_stream_error(status, code)])
    events, response, usage, route = await _retrying(
        router, [_answer(failed, form), _answer(encode(TEXT_CHUNKS), form)]
    )
    assert route.call_count == 2
    assert events[0] == PartStartEvent(0, TextPart('The'))  # the retried attempt's, from its start
    assert len(events) == len(TEXT_CHUNKS)
    assert response.parts == [TextPart('The capital is Paris.')]
    assert response.vendor_id == 'stream-1'
    assert usage == Usage(request_tokens=5, response_tokens=3, total_tokens=8)  # the retried attempt's


async def test_in_stream_and_http_retries_share_the_budget(router: respx.MockRouter) -> None:
    exhausted = _in_stream_error('RESOURCE_EXHAUSTED', 429)
    with pytest.raises(ModelStreamError, match='RESOURCE_EXHAUSTED') as caught:
        await _retrying(
            router,
            [
                _answer(sse([exhausted]), 'sse'),
                httpx.Response(503, json=_in_stream_error('UNAVAILABLE', 503)),
                _answer(sse([exhausted]), 'sse'),
                _answer(sse(TEXT_CHUNKS), 'sse'),
            ],
            max_retries=2,
        )
    assert caught.value.error_type == 'RESOURCE_EXHAUSTED'
    assert caught.value.partial_response is not None
    assert caught.value.partial_response.parts == []
    assert router.calls.call_count == 3


@pytest.mark.parametrize('form', ['sse', 'array'])
async def test_a_lasting_error_before_any_content_is_raised_not_retried(
    router: respx.MockRouter, form: str
) -> None:
    encode = sse if form == 'sse' else array
    invalid = _in_stream_error('INVALID_ARGUMENT', 400)
    with pytest.raises(ModelStreamError, match='INVALID_ARGUMENT') as caught:
        await _retrying(router, [_answer(encode([invalid]), form), _answer(encode(TEXT_CHUNKS), form)])
    assert caught.value.error_type == 'INVALID_ARGUMENT'
    assert router.calls.call_count == 1


async def test_a_transient_error_after_content_is_raised_not_retried(router: respx.MockRouter) -> None:
    body = sse([TEXT_CHUNKS[0], _in_stream_error('RESOURCE_EXHAUSTED', 429)])
    with pytest.raises(ModelStreamError, match='RESOURCE_EXHAUSTED') as caught:
        await _retrying(router, [_answer(body, 'sse'), _answer(sse(TEXT_CHUNKS), 'sse')])
    assert router.calls.call_count == 1  # the caller had seen 'The'
    assert caught.value.partial_response is not None
    assert caught.value.partial_response.parts == [TextPart('The')]
