"""AnthropicModel.request_stream over respx: hand-written named-event streams in, our events out."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson
import pytest
import respx

from modelkit.exceptions import ModelStreamError, StreamInterrupted, UnexpectedModelBehavior
from modelkit.messages import (
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
from modelkit.models.anthropic import AnthropicModel
from modelkit.providers.anthropic import AnthropicProvider
from modelkit.usage import Usage
from tests.helpers.streams import CHUNKINGS, Pieces, cut

pytestmark = pytest.mark.anyio

URL = 'https://api.anthropic.com/v1/messages'
SSE_HEADERS = {'content-type': 'text/event-stream; charset=utf-8'}


def sse(kind: str, **payload: Any) -> bytes:
    """One named event as Anthropic sends it."""
    return f'event: {kind}\ndata: {orjson.dumps({"type": kind, **payload}).decode()}\n\n'.encode()


def start(input_tokens: int = 25, **usage: int) -> bytes:
    message = {
        'id': 'msg_01',
        'type': 'message',
        'role': 'assistant',
        'model': 'claude-3-7-sonnet-20250219',
        'content': [],
        'stop_reason': None,
        'stop_sequence': None,
        'usage': {'input_tokens': input_tokens, 'output_tokens': 1, **usage},
    }
    return sse('message_start', message=message)


def block(index: int, **content_block: Any) -> bytes:
    return sse('content_block_start', index=index, content_block=content_block)


def delta(index: int, **value: Any) -> bytes:
    return sse('content_block_delta', index=index, delta=value)


def stop(index: int) -> bytes:
    return sse('content_block_stop', index=index)


def finish(stop_reason: str = 'end_turn', output_tokens: int = 12, **usage: int) -> bytes:
    return sse(
        'message_delta',
        delta={'stop_reason': stop_reason, 'stop_sequence': None},
        usage={'output_tokens': output_tokens, **usage},
    ) + sse('message_stop')


def text_stream(*pieces: str) -> bytes:
    body = start() + block(0, type='text', text='') + sse('ping')
    body += b''.join(delta(0, type='text_delta', text=piece) for piece in pieces)
    return body + stop(0) + finish()


OVERLOADED = sse('error', error={'type': 'overloaded_error', 'message': 'Overloaded'})


def answer(body: bytes, pieces: list[bytes] | None = None) -> httpx.Response:
    return httpx.Response(200, headers=SSE_HEADERS, stream=Pieces(pieces if pieces is not None else [body]))


async def run(
    *bodies: bytes | httpx.Response, max_retries: int = 2
) -> tuple[list[ModelResponseStreamEvent], ModelResponse, Usage, respx.Route]:
    with respx.mock(assert_all_called=False) as router:
        route = router.post(URL).mock(
            side_effect=[b if isinstance(b, httpx.Response) else answer(b) for b in bodies]
        )
        provider = AnthropicProvider(api_key='sk-ant-test', max_retries=max_retries)
        provider._transport.initial_backoff = 0.001  # keep the retry waits short
        model = AnthropicModel('claude-3-7-sonnet-latest', provider=provider)
        messages = [ModelRequest([UserPromptPart('Hi')])]
        async with model.request_stream(messages, None, ModelRequestParameters()) as streamed:
            events = [event async for event in streamed]
            return events, streamed.get(), streamed.usage(), route


async def test_text_in_every_chunking() -> None:
    body = text_stream('Par', 'is', ' é', '!')
    for chunking in CHUNKINGS:
        with respx.mock() as router:
            router.post(URL).mock(return_value=answer(body, cut(body, chunking, seed=3)))
            model = AnthropicModel('claude-3-7-sonnet-latest', api_key='sk-ant-test')
            async with model.request_stream(
                [ModelRequest([UserPromptPart('Hi')])], None, ModelRequestParameters()
            ) as s:
                events = [event async for event in s]
                response = s.get()
        assert events == [
            PartStartEvent(0, TextPart('Par')),
            PartDeltaEvent(0, TextPartDelta('is')),
            PartDeltaEvent(0, TextPartDelta(' é')),
            PartDeltaEvent(0, TextPartDelta('!')),
        ], chunking
        assert response.parts == [TextPart('Paris é!')]
        assert response.model_name == 'claude-3-7-sonnet-20250219'
        assert response.vendor_id == 'msg_01'
        assert response.finish_reason == 'stop'
        assert len(s.timing.event_times) == 4


async def test_thinking_then_text_then_tool_calls() -> None:
    body = (
        start()
        + block(0, type='thinking', thinking='', signature='')
        + delta(0, type='thinking_delta', thinking='Let me ')
        + delta(0, type='thinking_delta', thinking='think.')
        + delta(0, type='signature_delta', signature='EqQBCgIYAh')
        + stop(0)
        + block(1, type='redacted_thinking', data='opaque')
        + stop(1)
        + block(2, type='text', text='Calling.')
        + delta(2, type='citations_delta', citation={'type': 'char_location', 'cited_text': 'x'})
        + stop(2)
        + block(3, type='tool_use', id='toolu_1', name='get_capital', input={})
        + delta(3, type='input_json_delta', partial_json='')
        + delta(3, type='input_json_delta', partial_json='{"country": ')
        + delta(3, type='input_json_delta', partial_json='"France"}')
        + stop(3)
        + block(4, type='tool_use', id='toolu_2', name='get_time', input={})
        + stop(4)
        + finish('tool_use')
    )
    events, response, _, _ = await run(body)
    assert response.parts == [
        ThinkingPart('Let me think.', signature='EqQBCgIYAh'),
        ThinkingPart('', signature='opaque', id='redacted_thinking'),
        TextPart('Calling.'),
        ToolCallPart('get_capital', '{"country": "France"}', 'toolu_1'),
        ToolCallPart('get_time', '{}', 'toolu_2'),  # no fragment at all: empty input is `{}`
    ]
    assert response.finish_reason == 'tool_call'
    assert response.parts[4].args_as_dict() == {}  # type: ignore[union-attr]
    assert isinstance(events[0], PartStartEvent)


async def test_server_tool_and_unknown_blocks_are_skipped_with_a_debug_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = (
        start()
        + block(0, type='server_tool_use', id='srvtoolu_1', name='web_search', input={})
        + delta(0, type='input_json_delta', partial_json='{"query": "x"}')
        + stop(0)
        + block(1, type='web_search_tool_result', tool_use_id='srvtoolu_1', content=[])
        + stop(1)
        + block(2, type='mcp_tool_use', id='mcptoolu_1', name='m', server_name='s', input={})
        + stop(2)
        + block(3, type='text', text='Found it.')
        + stop(3)
        + sse('a_new_event_type', anything=1)
        + finish()
    )
    with caplog.at_level(logging.DEBUG, logger='modelkit.models.anthropic'):
        _, response, _, _ = await run(body)
    assert response.parts == [TextPart('Found it.')]
    skipped = [r.getMessage() for r in caplog.records if r.name == 'modelkit.models.anthropic']
    assert len(skipped) == 3
    assert "'server_tool_use'" in skipped[0]
    assert "'web_search_tool_result'" in skipped[1]


async def test_usage_is_cumulative_never_added() -> None:
    body = (
        start(input_tokens=10, cache_creation_input_tokens=100, cache_read_input_tokens=2000)
        + block(0, type='text', text='Hi')
        + stop(0)
        + sse('message_delta', delta={'stop_reason': None}, usage={'output_tokens': 5})
        + finish(output_tokens=17)
    )
    _, _, usage, _ = await run(body)
    assert usage == Usage(
        request_tokens=2110,
        response_tokens=17,
        total_tokens=2127,
        details={'input_tokens': 10, 'cache_write_tokens': 100, 'cached_tokens': 2000},
    )


async def test_message_delta_may_restate_input_usage() -> None:
    # Newer API versions repeat the (cumulative) input counts in message_delta: replace, not add.
    body = (
        start(input_tokens=10)
        + block(0, type='text', text='Hi')
        + stop(0)
        + finish(input_tokens=10, output_tokens=3)
    )
    _, _, usage, _ = await run(body)
    assert (usage.request_tokens, usage.response_tokens) == (10, 3)


@pytest.mark.parametrize(
    ('stop_reason', 'finish_reason'),
    [
        ('max_tokens', 'length'),
        ('stop_sequence', 'stop'),
        ('pause_turn', 'stop'),
        ('refusal', 'content_filter'),
    ],
)
async def test_stop_reasons(stop_reason: str, finish_reason: str) -> None:
    body = start() + block(0, type='text', text='x') + stop(0) + finish(stop_reason)
    _, response, _, _ = await run(body)
    assert (response.finish_reason, response.vendor_finish_reason) == (finish_reason, stop_reason)


@pytest.mark.parametrize(
    ('cut_at', 'how'), [(-len(finish()), 'between events'), (-len(finish()) - 5, 'middle of an event')]
)
async def test_a_body_that_ends_before_message_stop(cut_at: int, how: str) -> None:
    body = text_stream('Hello')[:cut_at]
    with pytest.raises(StreamInterrupted, match=f'before message_stop arrived.*{how}') as caught:
        await run(body)
    assert caught.value.partial_response is not None
    assert caught.value.partial_response.parts == [TextPart('Hello')]


async def test_a_body_cut_after_message_delta_lost_nothing() -> None:
    # message_delta carries the stop reason and the final usage: only the end marker is missing.
    _, response, usage, _ = await run(text_stream('Hello').removesuffix(sse('message_stop')))
    assert response.parts == [TextPart('Hello')]
    assert usage.response_tokens == 12


async def test_an_error_after_content_carries_what_arrived() -> None:
    body = start() + block(0, type='text', text='') + delta(0, type='text_delta', text='Half an') + OVERLOADED
    with pytest.raises(ModelStreamError) as caught:
        await run(body)
    error = caught.value
    assert error.error_type == 'overloaded_error'
    assert 'Overloaded' in str(error)
    assert error.partial_response is not None
    assert error.partial_response.parts == [TextPart('Half an')]


async def test_an_overloaded_error_before_content_is_retried() -> None:
    events, response, usage, route = await run(
        start(input_tokens=99) + sse('ping') + OVERLOADED, text_stream('Fine.')
    )
    assert route.call_count == 2
    assert events == [PartStartEvent(0, TextPart('Fine.'))]
    assert response.parts == [TextPart('Fine.')]
    assert usage.request_tokens == 25  # the retried attempt's usage only


async def test_in_stream_and_http_retries_share_the_budget() -> None:
    overloaded_529 = httpx.Response(
        529, json={'type': 'error', 'error': {'type': 'overloaded_error', 'message': 'Overloaded'}}
    )
    with pytest.raises(ModelStreamError, match='Overloaded') as caught:
        await run(
            start() + OVERLOADED, overloaded_529, start() + OVERLOADED, text_stream('never'), max_retries=2
        )
    assert caught.value.error_type == 'overloaded_error'
    assert caught.value.partial_response is not None
    assert caught.value.partial_response.parts == []


async def test_a_non_transient_error_before_content_is_not_retried() -> None:
    invalid = sse('error', error={'type': 'invalid_request_error', 'message': 'bad'})
    with pytest.raises(ModelStreamError) as caught:
        await run(start() + invalid, text_stream('never'))
    assert caught.value.error_type == 'invalid_request_error'


async def test_without_retries_the_error_is_raised() -> None:
    with pytest.raises(ModelStreamError, match='Overloaded'):
        await run(start() + OVERLOADED, max_retries=0)


@pytest.mark.parametrize(
    ('event', 'problem'),
    [
        (b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0\n\n', 'not JSON'),
        (
            sse('content_block_delta', index=0, delta={'type': 'text_delta', 'text': 5}),
            'delta.text_delta.text',
        ),
        (sse('content_block_start', index=0), 'content_block_start.content_block'),
        (sse('message_delta', delta={'stop_reason': 3}), 'stop_reason'),
    ],
)
async def test_a_malformed_event_is_named(event: bytes, problem: str) -> None:
    body = start() + block(0, type='text', text='ok') + event + finish()
    with pytest.raises(UnexpectedModelBehavior, match=problem) as caught:
        await run(body)
    assert caught.value.partial_response is not None
    assert caught.value.partial_response.parts == [TextPart('ok')]
