"""How a stream ends (issue 12, items 1-4), against scripted servers on 127.0.0.1, on asyncio and trio.

1. A complete stream never waits for the server to close the body.
2. Every error that ends a stream carries what arrived, `StreamProtocolError` included, also
   through `Agent.run_stream`.
3. A stream that delivers no content within the timeout ends with `ModelTimeoutError` (a
   `StreamTimeout`), keep-alive comments and pings notwithstanding.
4. A JSON body sent where a stream was asked for is read for what it is.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import orjson
import pytest

from modelkit import Agent
from modelkit._stream import END_DRAIN_SECONDS
from modelkit.exceptions import (
    ModelkitError,
    ModelStreamError,
    ModelTimeoutError,
    StreamInterrupted,
    StreamProtocolError,
    StreamTimeout,
    UnexpectedModelBehavior,
)
from modelkit.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponseStreamEvent,
    TextPart,
    ToolCallPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models._kit import WireStreamedResponse, json_request, open_stream
from modelkit.models.openai import OpenAIModel
from modelkit.parsers.eventstream import EventStreamDecoder, EventStreamMessage, encode_message
from modelkit.parsers.sse import MAX_EVENT_BYTES
from modelkit.providers import Provider
from modelkit.providers.openai import OpenAIProvider
from tests.transport.loopback import Exchange, Handler, Server, serve

pytestmark = pytest.mark.anyio

MESSAGES: list[ModelMessage] = [ModelRequest([UserPromptPart('hello')])]
NO_TOOLS = ModelRequestParameters()
WORDS = ['Rivers', ' run', ' to', ' the', ' sea.']
SSE = [('content-type', 'text/event-stream')]
GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    return f'data: {data}\n\n'.encode()


def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
    choice = {'index': 0, 'delta': delta, 'finish_reason': finish_reason}
    return sse({'id': 'c1', 'model': 'gpt-x', 'created': 1, 'choices': [choice], **extra})


def opening(words: list[str] = WORDS) -> list[bytes]:
    """The chunks of an answer up to (not including) its finish: a role chunk, then one per word."""
    return [chunk({'role': 'assistant', 'content': ''}), *(chunk({'content': w}) for w in words)]


def complete(words: list[str] = WORDS) -> list[bytes]:
    return [*opening(words), chunk({}, 'stop'), sse('[DONE]')]


def model_for(server: Server, client: httpx.AsyncClient) -> OpenAIModel:
    return OpenAIModel(
        'gpt-x', provider=OpenAIProvider(base_url=server.url, api_key='sk-t', http_client=client)
    )


def text_of(response: ModelResponse | None) -> str:
    assert response is not None
    return ''.join(p.content for p in response.parts if isinstance(p, TextPart))


async def stream_text(model: OpenAIModel, timeout: float | None = None, pause: float = 0.0) -> str:
    settings: Any = {'timeout': timeout} if timeout is not None else None
    async with model.request_stream(MESSAGES, settings, NO_TOOLS) as response:
        async for _ in response:
            if pause:
                await anyio.sleep(pause)
        return text_of(response.get())


async def failure(model: OpenAIModel, timeout: float | None = None) -> ModelkitError:
    with anyio.fail_after(10):  # a hang fails the test instead of stalling the suite
        try:
            await stream_text(model, timeout)
        except ModelkitError as exc:
            return exc
    raise AssertionError('the stream finished without an error')


def then(
    pieces: list[bytes], after: str = 'end', *, every: float = 0.05, filler: bytes = b': ping\n\n'
) -> Handler:
    """A handler sending `pieces`, then: `end` the body, `stall` with it open until the client goes,
    `trickle` `filler` every `every` seconds forever, or `flood` `filler` as fast as it can."""

    async def handler(exchange: Exchange) -> None:
        await exchange.start(200, SSE)
        for piece in pieces:
            await exchange.send(piece)
        if after == 'end':
            await exchange.end()
            return
        exchange.dropped = True  # the body never ends: the connection is not reused
        try:
            if after == 'stall':
                await exchange.wait_client_gone()
            while after in ('trickle', 'flood'):
                await anyio.sleep(every if after == 'trickle' else 0)
                await exchange.send(filler)
        except GONE:
            return

    return handler


# -- 1. a complete stream never waits for the server to close ------------------------------------


@pytest.mark.parametrize('timeout', [None, 5.0])
async def test_a_complete_stream_ends_at_its_end_marker_though_the_body_stays_open(
    client: httpx.AsyncClient, timeout: float | None
) -> None:
    async with serve(then(complete(), 'stall')) as server:
        started = time.perf_counter()
        with anyio.fail_after(5):
            text = await stream_text(model_for(server, client), timeout)
        elapsed = time.perf_counter() - started
        await server.wait_disconnects(1)  # the connection we could not reuse was closed, not leaked
    assert text == ''.join(WORDS)
    assert elapsed < END_DRAIN_SECONDS + 1.0


async def test_a_server_streaming_on_after_its_end_marker_cannot_hold_the_caller(
    client: httpx.AsyncClient,
) -> None:
    async with serve(then(complete(), 'flood', filler=b': junk after the end\n\n' * 100)) as server:
        with anyio.fail_after(5):
            assert await stream_text(model_for(server, client)) == ''.join(WORDS)
        await server.wait_disconnects(1)


async def test_a_body_that_ends_after_the_end_marker_returns_its_connection_to_the_pool(
    client: httpx.AsyncClient,
) -> None:
    async with serve(then(complete())) as server:
        model = model_for(server, client)
        for _ in range(3):
            assert await stream_text(model) == ''.join(WORDS)
    assert server.connections == 1  # one connection served all three


async def test_the_read_loop_releases_the_connection_after_the_end_marker(client: httpx.AsyncClient) -> None:
    """`finish_after_end` is the transport's half: usable by any caller of `iter_parsed`."""
    from modelkit._transport import HTTPRequest, Transport
    from modelkit.parsers.sse import SSEDecoder

    async with serve(then(complete(), 'stall')) as server:
        transport = Transport(client)
        request = HTTPRequest('POST', f'{server.url}/v1/x', {}, b'{}')
        async with transport.stream(request, signer=None, model_name='m', vendor='acme') as stream:
            async for events in stream.iter_parsed(SSEDecoder()):
                if any(e.data == '[DONE]' for e in events):
                    break
            with anyio.fail_after(2):
                assert await stream.finish_after_end() is False  # the server kept the body open
        await server.wait_disconnects(1)


# -- 2. every stream error carries what arrived ----------------------------------------------------


def gzip_then_garbage(pieces: list[bytes]) -> tuple[bytes, bytes]:
    """A gzip body in two reads: the first inflates to `pieces`, the second no inflater accepts.

    (zlib hands back nothing of an input that fails, so bytes arriving in the same read as the
    corruption are lost with it; a body that goes bad later keeps everything before.)"""
    deflater = zlib.compressobj(wbits=31)
    return deflater.compress(b''.join(pieces)) + deflater.flush(zlib.Z_SYNC_FLUSH), b'\xff' * 64


@dataclass
class Broken:
    name: str
    handler: Handler


def gzip_handler(body: tuple[bytes, bytes]) -> Handler:
    async def handler(exchange: Exchange) -> None:
        await exchange.start(200, [*SSE, ('content-encoding', 'gzip')])
        await exchange.send(body[0])
        await anyio.sleep(0.05)  # the corruption comes in a later read
        await exchange.send(body[1])
        await exchange.end()

    return handler


BROKEN = [
    Broken('bad UTF-8', then([*opening(), b'data: {"choices": "\xff\xfe"}\n\n'])),
    Broken('an oversized line', then([*opening(), b'data: ' + b'x' * (MAX_EVENT_BYTES + 1)])),
    Broken('a corrupt gzip body', gzip_handler(gzip_then_garbage(opening()))),
]


@pytest.mark.parametrize('broken', BROKEN, ids=lambda b: b.name)
async def test_a_protocol_error_carries_the_partial_response(
    client: httpx.AsyncClient, broken: Broken
) -> None:
    async with serve(broken.handler) as server:
        error = await failure(model_for(server, client))
    assert isinstance(error, StreamProtocolError)
    assert text_of(error.partial_response) == ''.join(WORDS)


@pytest.mark.parametrize('broken', BROKEN, ids=lambda b: b.name)
async def test_a_protocol_error_stays_reachable_after_agent_run_stream(
    client: httpx.AsyncClient, broken: Broken
) -> None:
    async with serve(broken.handler) as server:
        agent = Agent(model_for(server, client))

        async def run() -> None:
            async with agent.run_stream('hello') as result:
                async for _ in result.stream_text(debounce_by=None):
                    pass

        with anyio.fail_after(10), pytest.raises(StreamProtocolError) as info:
            await run()
    assert text_of(info.value.partial_response) == ''.join(WORDS)


class FrameStream(WireStreamedResponse[EventStreamMessage]):
    """The smallest event-stream vendor (Bedrock's framing): text frames, then an `end` frame."""

    end_expected = 'the end frame'

    def _new_parser(self) -> EventStreamDecoder:
        return EventStreamDecoder()

    def _process_event(self, event: EventStreamMessage) -> ModelResponseStreamEvent | None:
        if event.headers.get(':event-type') == 'end':
            self._end_seen = True
            return None
        return self._parts_manager.text_delta(0, orjson.loads(event.payload)['text'])


def frame(kind: str, payload: dict[str, Any]) -> bytes:
    return encode_message({':message-type': 'event', ':event-type': kind}, orjson.dumps(payload))


async def frames_failure(server: Server, client: httpx.AsyncClient) -> ModelkitError:
    provider = Provider(name='acme', base_url=server.url, http_client=client)
    request = json_request(provider, '/x', {}, {}, model_name='m')

    def make(stream: Any) -> FrameStream:
        return FrameStream(_model_name='m', _stream=stream, _vendor='acme')

    with anyio.fail_after(10):
        try:
            async with open_stream(provider, request, make, model_name='m', timeout=None) as response:
                async for _ in response:
                    pass
        except ModelkitError as exc:
            return exc
    raise AssertionError('the stream finished without an error')


async def test_a_bad_event_stream_frame_carries_the_partial_response(client: httpx.AsyncClient) -> None:
    good = [frame('text', {'text': w}) for w in WORDS]
    bad = bytearray(frame('text', {'text': 'lost'}))
    bad[-1] ^= 0xFF  # the message CRC no longer matches
    async with serve(then([*good, bytes(bad)])) as server:
        error = await frames_failure(server, client)
    assert isinstance(error, StreamProtocolError)
    assert text_of(error.partial_response) == ''.join(WORDS)


async def test_an_event_stream_vendor_is_released_at_its_end_frame(client: httpx.AsyncClient) -> None:
    body = [*(frame('text', {'text': w}) for w in WORDS), frame('end', {})]
    async with serve(then(body, 'stall')) as server:
        provider = Provider(name='acme', base_url=server.url, http_client=client)
        request = json_request(provider, '/x', {}, {}, model_name='m')
        with anyio.fail_after(5):
            async with open_stream(
                provider,
                request,
                lambda s: FrameStream(_model_name='m', _stream=s, _vendor='acme'),
                model_name='m',
                timeout=None,
            ) as response:
                async for _ in response:
                    pass
        assert text_of(response.get()) == ''.join(WORDS)
        await server.wait_disconnects(1)


# -- 3. no content within the timeout, whatever keep-alives arrive -------------------------------


@pytest.mark.parametrize(
    'filler',
    [b': keep-alive\n\n', b'event: ping\ndata: {}\n\n', b'\n'],
    ids=['comment', 'ping event', 'blank line'],
)
async def test_a_stream_of_keep_alives_ends_with_a_timeout_carrying_what_arrived(
    client: httpx.AsyncClient, filler: bytes
) -> None:
    async with serve(then(opening(), 'trickle', every=0.05, filler=filler)) as server:
        started = time.perf_counter()
        error = await failure(model_for(server, client), timeout=0.5)
        elapsed = time.perf_counter() - started
    assert isinstance(error, StreamTimeout)
    assert isinstance(error, ModelTimeoutError)
    assert isinstance(error, StreamInterrupted)
    assert 'no content for 0.5 s' in str(error)
    assert text_of(error.partial_response) == ''.join(WORDS)
    assert 0.45 < elapsed < 1.5


async def test_keep_alives_before_the_first_content_count_too(client: httpx.AsyncClient) -> None:
    async with serve(then([chunk({'role': 'assistant', 'content': ''})], 'trickle')) as server:
        error = await failure(model_for(server, client), timeout=0.3)
    assert isinstance(error, StreamTimeout)
    assert text_of(error.partial_response) == ''


async def test_a_silent_stream_ends_with_a_timeout_carrying_what_arrived(client: httpx.AsyncClient) -> None:
    async with serve(then(opening(), 'stall')) as server:
        error = await failure(model_for(server, client), timeout=0.3)
    assert isinstance(error, StreamTimeout)
    assert isinstance(error.__cause__, httpx.ReadTimeout)
    assert text_of(error.partial_response) == ''.join(WORDS)


async def test_a_slow_consumer_is_not_a_quiet_stream(client: httpx.AsyncClient) -> None:
    """The bound counts the time spent waiting on the server, not the caller's time with events."""
    pieces = [p for piece in opening() for p in (piece, b': ping\n\n')]
    async with serve(then([*pieces, chunk({}, 'stop'), sse('[DONE]')])) as server:
        with anyio.fail_after(10):
            assert await stream_text(model_for(server, client), timeout=0.2, pause=0.3) == ''.join(WORDS)


async def test_content_that_keeps_coming_is_never_cut_by_the_timeout(client: httpx.AsyncClient) -> None:
    async def paced(exchange: Exchange) -> None:
        await exchange.start(200, SSE)
        for piece in complete(WORDS * 4):
            await exchange.send(piece)
            await exchange.send(b': ping\n\n')
            await anyio.sleep(0.05)
        await exchange.end()

    async with serve(paced) as server:
        # Twenty content events over about a second, each within 0.2 s of the one before.
        assert await stream_text(model_for(server, client), timeout=0.2) == ''.join(WORDS * 4)


# -- 4. a JSON body sent instead of a stream -------------------------------------------------------


def json_answer(payload: object, content_type: str = 'application/json') -> Handler:
    async def handler(exchange: Exchange) -> None:
        await exchange.respond(200, orjson.dumps(payload), [('content-type', content_type)])

    return handler


COMPLETION = {
    'id': 'chatcmpl-whole',
    'object': 'chat.completion',
    'created': 1_759_436_803,
    'model': 'gpt-x-2025',
    'choices': [
        {
            'index': 0,
            'message': {
                'role': 'assistant',
                'content': 'Rivers run to the sea.',
                'tool_calls': [
                    {'id': 'call_1', 'type': 'function', 'function': {'name': 'f', 'arguments': '{"a": 1}'}}
                ],
            },
            'finish_reason': 'tool_calls',
        }
    ],
    'usage': {'prompt_tokens': 5, 'completion_tokens': 7, 'total_tokens': 12},
}


@pytest.mark.parametrize('content_type', ['application/json', 'text/event-stream'])
async def test_an_error_object_in_a_200_becomes_the_vendors_error(
    client: httpx.AsyncClient, content_type: str
) -> None:
    error_object = {'error': {'message': 'Upstream model overloaded', 'type': 'server_error', 'code': 'busy'}}
    async with serve(json_answer(error_object, content_type)) as server:
        error = await failure(model_for(server, client))
    assert isinstance(error, ModelStreamError)
    assert (error.error_type, error.code) == ('server_error', 'busy')
    assert 'Upstream model overloaded' in str(error)
    assert error.partial_response is not None
    assert error.partial_response.parts == []


async def test_a_bare_message_object_in_a_200_is_an_error_too(client: httpx.AsyncClient) -> None:
    async with serve(json_answer({'message': 'Internal server error'})) as server:
        error = await failure(model_for(server, client))
    assert isinstance(error, ModelStreamError)
    assert 'Internal server error' in str(error)


async def test_a_whole_completion_sent_instead_of_a_stream_is_accepted(client: httpx.AsyncClient) -> None:
    async with serve(json_answer(COMPLETION)) as server:
        model = model_for(server, client)
        async with model.request_stream(MESSAGES, None, NO_TOOLS) as response:
            events = [event async for event in response]
        usage = response.usage()
        got = response.get()
    assert [type(e.part) for e in events] == [TextPart, ToolCallPart]  # type: ignore[union-attr]
    assert got.parts == [TextPart('Rivers run to the sea.'), ToolCallPart('f', '{"a": 1}', 'call_1')]
    assert (got.model_name, got.vendor_id, got.finish_reason) == ('gpt-x-2025', 'chatcmpl-whole', 'tool_call')
    assert (usage.request_tokens, usage.response_tokens) == (5, 7)
    assert len(response.timing.event_times) == 2


async def test_a_whole_completion_reaches_agent_run_stream(client: httpx.AsyncClient) -> None:
    choice = {'index': 0, 'message': {'role': 'assistant', 'content': 'Rivers run.'}, 'finish_reason': 'stop'}
    completion = {**COMPLETION, 'choices': [choice]}
    async with (
        serve(json_answer(completion)) as server,
        Agent(model_for(server, client)).run_stream('hello') as result,
    ):
        assert await result.get_data() == 'Rivers run.'


@pytest.mark.parametrize(
    ('payload', 'shown'),
    [({'unexpected': 'shape'}, '"unexpected"'), ([1, 2, 3], '[1,2,3]')],
    ids=['object', 'array'],
)
async def test_any_other_json_is_unexpected_with_a_trimmed_body(
    client: httpx.AsyncClient, payload: object, shown: str
) -> None:
    async with serve(json_answer(payload)) as server:
        error = await failure(model_for(server, client))
    assert type(error) is UnexpectedModelBehavior
    assert error.body is not None
    assert shown in error.body


async def test_a_body_with_no_event_at_all_is_shown_in_the_error(client: httpx.AsyncClient) -> None:
    async def html(exchange: Exchange) -> None:
        page = b'<html><body>Please log in to the hotel wifi</body></html>' + b' ' * 10_000
        await exchange.respond(200, page, [('content-type', 'text/html')])

    async with serve(html) as server:
        error = await failure(model_for(server, client))
    assert isinstance(error, StreamInterrupted)
    assert error.body is not None
    assert 'hotel wifi' in error.body
    assert len(error.body) < 600


def test_the_gzip_helper_really_breaks_after_the_opening() -> None:
    """The corrupt-gzip case above relies on the first part inflating before the garbage."""
    good, bad = gzip_then_garbage(opening())
    inflater = zlib.decompressobj(wbits=31)
    assert inflater.decompress(good) == b''.join(opening())
    with pytest.raises(zlib.error):
        inflater.decompress(bad)
