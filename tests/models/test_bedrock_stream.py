"""ConverseStream through BedrockConverseModel.request_stream: hand-written event-stream bodies
(encoded with the parsers' `encode_message`), cut every way a network could, over respx."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
import respx

from modelkit.exceptions import (
    ModelStreamError,
    StreamInterrupted,
    StreamProtocolError,
    UnexpectedModelBehavior,
)
from modelkit.messages import ModelRequest, TextPart, ThinkingPart, ToolCallPart, UserPromptPart
from modelkit.models import ModelRequestParameters
from modelkit.models.bedrock import REDACTED_THINKING_ID, BedrockConverseModel, BedrockStreamedResponse
from modelkit.parsers.eventstream import encode_message
from modelkit.providers.bedrock import BedrockProvider
from modelkit.usage import Usage
from tests.helpers.streams import CHUNKINGS, Pieces, cut
from tests.providers.test_bedrock_provider import KEY_ID, SECRET, botocore_auth, sigv4_verifies

pytestmark = pytest.mark.anyio

MODEL = 'anthropic.claude-3-7-sonnet-20250219-v1:0'
URL = 'https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream'
CONTENT_TYPE = {'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': 'req-1'}


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = {':event-type': event_type, ':content-type': 'application/json', ':message-type': 'event'}
    return encode_message(dict(headers), orjson.dumps(payload))


def exception(exception_type: str, payload: dict[str, Any]) -> bytes:
    headers = {
        ':exception-type': exception_type,
        ':content-type': 'application/json',
        ':message-type': 'exception',
    }
    return encode_message(dict(headers), orjson.dumps(payload))


def delta(index: int, body: dict[str, Any]) -> bytes:
    return event('contentBlockDelta', {'contentBlockIndex': index, 'delta': body, 'p': 'abcdef'})


START = event('messageStart', {'role': 'assistant'})
END = event('messageStop', {'stopReason': 'tool_use'}) + event(
    'metadata',
    {
        'usage': {'inputTokens': 20, 'outputTokens': 9, 'totalTokens': 29, 'cacheReadInputTokens': 4},
        'metrics': {'latencyMs': 250},
    },
)

FULL = b''.join(
    [
        START,
        delta(0, {'reasoningContent': {'text': 'Let me '}}),
        delta(0, {'reasoningContent': {'text': 'think.'}}),
        delta(0, {'reasoningContent': {'signature': 'sig-abc'}}),
        event('contentBlockStop', {'contentBlockIndex': 0}),
        delta(1, {'reasoningContent': {'redactedContent': 'cmVkYWN0ZWQ='}}),
        event('contentBlockStop', {'contentBlockIndex': 1}),
        delta(2, {'text': ''}),  # empty deltas happen; they change nothing
        delta(2, {'text': 'Héllo '}),
        delta(2, {'text': 'wörld'}),
        event('contentBlockStop', {'contentBlockIndex': 2}),
        event('somethingNew', {'x': 1}),  # an event type from the future: skipped
        event(
            'contentBlockStart',
            {'contentBlockIndex': 3, 'start': {'toolUse': {'toolUseId': 'tooluse_a', 'name': 'get_capital'}}},
        ),
        delta(3, {'toolUse': {'input': '{"coun'}}),
        delta(3, {'toolUse': {'input': 'try": "Peru"}'}}),
        event('contentBlockStop', {'contentBlockIndex': 3}),
        event(
            'contentBlockStart',
            {'contentBlockIndex': 4, 'start': {'toolUse': {'toolUseId': 'tooluse_b', 'name': 'noop'}}},
        ),
        event('contentBlockStop', {'contentBlockIndex': 4}),  # an empty block: a call with no input
        END,
    ]
)

EXPECTED_PARTS = [
    ThinkingPart('Let me think.', signature='sig-abc'),
    ThinkingPart('', signature='cmVkYWN0ZWQ=', id=REDACTED_THINKING_ID),
    TextPart('Héllo wörld'),
    ToolCallPart('get_capital', '{"country": "Peru"}', 'tooluse_a'),
    ToolCallPart('noop', '', 'tooluse_b'),
]


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def model() -> BedrockConverseModel:
    provider = BedrockProvider(
        region_name='us-east-1', aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )
    provider._transport.initial_backoff = provider._transport.max_backoff = 0.001
    return BedrockConverseModel(MODEL, provider=provider)


def body_response(pieces: list[bytes]) -> httpx.Response:
    return httpx.Response(200, headers=CONTENT_TYPE, stream=Pieces(pieces))


async def stream(model: BedrockConverseModel) -> tuple[list[Any], BedrockStreamedResponse]:
    messages = [ModelRequest([UserPromptPart('Capital of Peru?')])]
    async with model.request_stream(messages, None, ModelRequestParameters()) as response:
        assert isinstance(response, BedrockStreamedResponse)
        events = [e async for e in response]
    return events, response


@pytest.mark.parametrize('chunking', CHUNKINGS)
async def test_every_block_kind_however_the_body_is_cut(
    router: respx.MockRouter, model: BedrockConverseModel, chunking: str
) -> None:
    route = router.post(URL).mock(
        return_value=body_response(cut(FULL, chunking, seed=3, framing='eventstream'))
    )
    events, response = await stream(model)
    assert sigv4_verifies(route.calls.last.request)
    assert orjson.loads(route.calls.last.request.content) == {
        'messages': [{'role': 'user', 'content': [{'text': 'Capital of Peru?'}]}]
    }
    result = response.get()
    assert result.parts == EXPECTED_PARTS
    assert (result.finish_reason, result.vendor_finish_reason, result.vendor_id) == (
        'tool_call',
        'tool_use',
        'req-1',
    )
    assert response.usage() == Usage(
        request_tokens=24, response_tokens=9, total_tokens=29, details={'cached_tokens': 4}
    )
    assert response.latency_ms == 250
    assert len(events) == len(response.timing.event_times)
    assert [type(e).__name__ for e in events][:3] == ['PartStartEvent', 'PartDeltaEvent', 'PartDeltaEvent']


async def test_an_exception_frame_mid_stream_is_typed_and_keeps_what_arrived(
    router: respx.MockRouter, model: BedrockConverseModel
) -> None:
    body = (
        START
        + delta(0, {'text': 'Half an ans'})
        + exception(
            'modelStreamErrorException',
            {'message': 'model blew up', 'originalStatusCode': 424, 'originalMessage': 'x'},
        )
    )
    router.post(URL).mock(return_value=body_response([body]))
    with pytest.raises(ModelStreamError) as caught:
        await stream(model)
    error = caught.value
    assert (error.error_type, error.code) == ('modelStreamErrorException', '424')
    assert 'model blew up' in str(error)
    assert error.partial_response is not None
    assert error.partial_response.parts == [TextPart('Half an ans')]


@pytest.mark.parametrize('exception_type', ['throttlingException', 'serviceUnavailableException'])
async def test_load_shedding_before_any_content_is_retried_like_a_429(
    router: respx.MockRouter, model: BedrockConverseModel, exception_type: str
) -> None:
    shed = START + exception(exception_type, {'message': 'Too many tokens, please wait'})
    good = START + delta(0, {'text': 'Lima'}) + END
    route = router.post(URL)
    route.side_effect = [body_response([shed]), body_response([good])]
    _, response = await stream(model)
    assert response.get().parts == [TextPart('Lima')]
    assert route.call_count == 2
    assert all(sigv4_verifies(call.request) for call in route.calls)


async def test_a_reopened_stream_is_signed_again_with_a_fresh_date_and_keeps_its_own_id(
    router: respx.MockRouter, model: BedrockConverseModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore reads the clock once per signature: step it a minute per call.
    times = iter(datetime(2026, 1, 1) + timedelta(minutes=i) for i in range(10))
    monkeypatch.setattr(botocore_auth, 'get_current_datetime', lambda: next(times))
    shed = START + exception('throttlingException', {'message': 'Too many tokens'})
    good = START + delta(0, {'text': 'Lima'}) + END
    second = httpx.Response(200, headers={**CONTENT_TYPE, 'x-amzn-requestid': 'req-2'}, stream=Pieces([good]))
    route = router.post(URL)
    route.side_effect = [body_response([shed]), second]
    _, response = await stream(model)
    sent = [call.request for call in route.calls]
    assert [r.headers['x-amz-date'] for r in sent] == ['20260101T000000Z', '20260101T000100Z']
    assert len({r.headers['authorization'] for r in sent}) == 2
    assert all(sigv4_verifies(r) for r in sent)
    answer = response.get()
    assert (answer.parts, answer.vendor_id, response.latency_ms) == ([TextPart('Lima')], 'req-2', 250)


async def test_load_shedding_past_the_retry_budget_is_raised(
    router: respx.MockRouter, model: BedrockConverseModel
) -> None:
    shed = START + exception('throttlingException', {'message': 'Too many tokens'})
    route = router.post(URL)
    route.side_effect = [body_response([shed]) for _ in range(3)]
    with pytest.raises(ModelStreamError) as caught:
        await stream(model)
    assert caught.value.error_type == 'throttlingException'
    assert route.call_count == 3  # the first try and the provider's two retries


async def test_throttling_after_content_is_not_retried(
    router: respx.MockRouter, model: BedrockConverseModel
) -> None:
    body = START + delta(0, {'text': 'Li'}) + exception('throttlingException', {'message': 'slow down'})
    route = router.post(URL).mock(return_value=body_response([body]))
    with pytest.raises(ModelStreamError) as caught:
        await stream(model)
    assert caught.value.partial_response is not None
    assert caught.value.partial_response.parts == [TextPart('Li')]
    assert route.call_count == 1


async def test_a_validation_exception_first_is_raised_not_retried(
    router: respx.MockRouter, model: BedrockConverseModel
) -> None:
    body = START + exception('validationException', {'message': 'bad input'})
    route = router.post(URL).mock(return_value=body_response([body]))
    with pytest.raises(ModelStreamError, match='validationException'):
        await stream(model)
    assert route.call_count == 1


@pytest.mark.parametrize(
    ('body', 'inside'),
    [
        (START + delta(0, {'text': 'Cut'}), False),
        (START + delta(0, {'text': 'Cut'}) + END[:20], True),
    ],
)
async def test_a_stream_cut_before_message_stop(
    router: respx.MockRouter, model: BedrockConverseModel, body: bytes, inside: bool
) -> None:
    router.post(URL).mock(return_value=body_response([body]))
    with pytest.raises(StreamInterrupted) as caught:
        await stream(model)
    assert 'messageStop' in str(caught.value)
    assert ('middle of an event' in str(caught.value)) is inside
    assert caught.value.partial_response is not None
    assert caught.value.partial_response.parts == [TextPart('Cut')]


async def test_metadata_may_be_missing_after_message_stop(
    router: respx.MockRouter, model: BedrockConverseModel
) -> None:
    body = START + delta(0, {'text': 'ok'}) + event('messageStop', {'stopReason': 'max_tokens'})
    router.post(URL).mock(return_value=body_response([body]))
    _, response = await stream(model)
    assert response.get().finish_reason == 'length'
    assert response.usage() == Usage()


@pytest.mark.parametrize(
    ('frame', 'error', 'match'),
    [
        (
            encode_message({':message-type': 'event', ':event-type': 'contentBlockDelta'}, b'{not json'),
            UnexpectedModelBehavior,
            'not JSON',
        ),
        (
            event('contentBlockDelta', {'contentBlockIndex': 'zero', 'delta': {'toolUse': {'input': 5}}}),
            UnexpectedModelBehavior,
            'does not fit',
        ),
        (b'\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00' + b'\x00' * 4, StreamProtocolError, 'checksum'),
    ],
)
async def test_malformed_input_raises_our_errors(
    router: respx.MockRouter, model: BedrockConverseModel, frame: bytes, error: type[Exception], match: str
) -> None:
    router.post(URL).mock(return_value=body_response([START, frame]))
    with pytest.raises(error, match=match):
        await stream(model)


async def test_an_http_error_on_a_stream_names_its_type(
    router: respx.MockRouter, model: BedrockConverseModel
) -> None:
    from modelkit.exceptions import ModelHTTPError

    router.post(URL).respond(
        400, json={'message': 'bad'}, headers={'x-amzn-ErrorType': 'ValidationException:http://x/'}
    )
    with pytest.raises(ModelHTTPError) as caught:
        await stream(model)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body['__type'] == 'ValidationException'
