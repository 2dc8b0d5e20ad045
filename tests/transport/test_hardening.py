"""What a hostile server found (issue 12): head deadline, honest wording, bounded decompression, masking.

Every test runs against a scripted server on 127.0.0.1, on asyncio and trio.
"""

from __future__ import annotations

import gzip
import logging
import time
import traceback
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import anyio
import httpx
import orjson
import pytest

from modelkit._transport import MAX_RESPONSE_BODY_BYTES, HTTPRequest, Transport
from modelkit.exceptions import (
    ModelConnectionError,
    ModelHTTPError,
    ModelStreamError,
    ModelTimeoutError,
    StreamProtocolError,
    UnexpectedModelBehavior,
)
from modelkit.messages import ModelMessage, ModelRequest, UserPromptPart
from modelkit.models import ModelRequestParameters
from modelkit.models.openai import OpenAIModel
from modelkit.parsers.sse import MAX_EVENT_BYTES, SSEDecoder
from modelkit.providers.openai import OpenAIProvider
from tests.transport.loopback import Exchange, LineParser, Server, serve
from tests.transport.stacks import make_client

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


@pytest.fixture
async def client(http_transport: str) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(http_transport) as client:
        yield client


def post(server: Server) -> HTTPRequest:
    return HTTPRequest('POST', f'{server.url}/v1/x', {'content-type': 'application/json'}, b'{}')


async def consume(transport: Transport, server: Server, parser: object, timeout: float | None = None) -> None:
    """Open a stream and read every event."""
    async with transport.stream(
        post(server), signer=None, model_name='m', vendor='acme', timeout=timeout
    ) as s:
        async for _ in s.iter_parsed(parser):  # type: ignore[arg-type]
            pass


# -- the response head has one deadline ------------------------------------------------------------


async def trickle_headers(exchange: Exchange) -> None:
    """A status line, then one header byte every half second: never a read timeout, never done."""
    await exchange.stream.send(b'HTTP/1.1 200 OK\r\nx-slow: ')
    try:
        while True:
            await anyio.sleep(0.5)
            await exchange.stream.send(b'z')
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        exchange.dropped = True


@pytest.mark.parametrize('streamed', [False, True])
async def test_a_server_trickling_its_headers_cannot_hold_a_request_past_the_timeout(
    client: httpx.AsyncClient, streamed: bool
) -> None:
    async with serve(trickle_headers) as server:
        transport = Transport(client, max_retries=0)
        started = time.perf_counter()
        request = (
            consume(transport, server, LineParser(), timeout=1)
            if streamed
            else transport.send(post(server), signer=None, model_name='m', vendor='acme', timeout=1)
        )
        with anyio.fail_after(10), pytest.raises(ModelTimeoutError) as info:  # fail_after: no hang
            await request
        elapsed = time.perf_counter() - started
    assert 0.9 < elapsed < 1.45
    assert 'no response within 1 s' in str(info.value)
    assert 'sending the request' not in str(info.value)


# -- honest wording --------------------------------------------------------------------------------


async def failure_before_the_head(
    client: httpx.AsyncClient, handler: object, timeout: float | None
) -> Exception:
    async with serve(handler) as server:  # type: ignore[arg-type]
        with pytest.raises(ModelConnectionError) as info:
            await Transport(client, max_retries=0).send(
                post(server), signer=None, model_name='m', vendor='acme', timeout=timeout
            )
    assert 'sending the request' not in str(info.value)
    return info.value


async def test_a_close_before_the_response_head_says_so(client: httpx.AsyncClient) -> None:
    async def hang_up(exchange: Exchange) -> None:
        await exchange.drop()

    error = await failure_before_the_head(client, hang_up, None)
    assert 'the server closed the connection before responding' in str(error)
    assert not isinstance(error, ModelTimeoutError)


async def test_a_read_timeout_before_the_response_head_says_so(client: httpx.AsyncClient) -> None:
    error = await failure_before_the_head(client, never_answer_stub, 0.2)
    assert isinstance(error, ModelTimeoutError)
    assert 'no response within 0.2 s' in str(error)


async def test_a_refused_connection_says_so(client: httpx.AsyncClient) -> None:
    async with serve(never_answer_stub) as server:
        url = server.url
    with pytest.raises(ModelConnectionError) as info:  # the server is gone: nothing listens there
        await Transport(client, max_retries=0).send(
            HTTPRequest('GET', f'{url}/'), signer=None, model_name='m', vendor='acme'
        )
    assert 'could not connect' in str(info.value)


async def never_answer_stub(exchange: Exchange) -> None:
    await exchange.wait_client_gone()


# -- bounded decompression -------------------------------------------------------------------------


def gzip_bomb(inflated_mib: int) -> bytes:
    """Zeros, gzip-compressed about 1000:1: 16 MiB members back to back (RFC 1952 allows several)."""
    member = gzip.compress(bytes(16 * MiB), compresslevel=9)
    return member * (inflated_mib // 16)


BOMB = gzip_bomb(1024)  # about 1 MiB on the wire, 1 GiB inflated


def encoded(body: bytes, coding: str) -> bytes:
    if coding == 'gzip':
        return gzip.compress(body)
    if coding == 'deflate':
        return zlib.compress(body)
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # raw deflate, which some servers send as "deflate"
    return raw.compress(body) + raw.flush()


def compressed_server(content: bytes, coding: str, status: int = 200, pieces: int = 1) -> object:
    async def handler(exchange: Exchange) -> None:
        await exchange.start(status, [('content-encoding', coding), ('content-type', 'text/event-stream')])
        step = max(1, len(content) // pieces)
        for start in range(0, len(content), step):
            await exchange.send(content[start : start + step])
        await exchange.end()

    return handler


async def measure_peak(work: object) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        await work()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize('coding', ['gzip', 'deflate', 'raw-deflate'])
async def test_compressed_bodies_are_decoded_streamed_and_whole(
    client: httpx.AsyncClient, coding: str
) -> None:
    lines = b''.join(b'line %d\n' % i for i in range(5000))
    wire_coding = 'deflate' if coding == 'raw-deflate' else coding
    handler = compressed_server(encoded(lines, coding), wire_coding, pieces=7)
    async with serve(handler) as server:  # type: ignore[arg-type]
        transport = Transport(client)
        response = await transport.send(post(server), signer=None, model_name='m', vendor='acme')
        received: list[bytes] = []
        async with transport.stream(post(server), signer=None, model_name='m', vendor='acme') as stream:
            async for events in stream.iter_parsed(LineParser()):
                received.extend(events)
    assert response.body == lines
    assert received == lines.split(b'\n')[:-1]
    assert server.exchanges[0].headers['accept-encoding'] == 'gzip, deflate'


async def test_a_gzip_bomb_in_a_stream_stops_at_the_parser_bound_without_inflating(
    client: httpx.AsyncClient,
) -> None:
    async with serve(compressed_server(BOMB, 'gzip', pieces=64)) as server:  # type: ignore[arg-type]
        transport = Transport(client)

        async def read() -> None:
            with pytest.raises(StreamProtocolError):
                await consume(transport, server, SSEDecoder())

        peak = await measure_peak(read)
    assert peak < 2 * MAX_EVENT_BYTES, f'memory grew by {peak / MiB:.0f} MiB'


async def test_a_gzip_bomb_as_a_whole_body_is_refused_at_the_body_limit(client: httpx.AsyncClient) -> None:
    async with serve(compressed_server(BOMB, 'gzip', pieces=64)) as server:  # type: ignore[arg-type]
        transport = Transport(client)

        async def read() -> None:
            with pytest.raises(UnexpectedModelBehavior, match='MAX_RESPONSE_BODY_BYTES'):
                await transport.send(post(server), signer=None, model_name='m', vendor='acme')

        peak = await measure_peak(read)
    assert peak < 2 * MAX_RESPONSE_BODY_BYTES, f'memory grew by {peak / MiB:.0f} MiB'


async def test_a_gzip_bomb_as_an_error_body_is_read_to_the_error_bound(client: httpx.AsyncClient) -> None:
    async with serve(compressed_server(BOMB, 'gzip', status=400, pieces=64)) as server:  # type: ignore[arg-type]
        transport = Transport(client, max_retries=0)

        async def read() -> None:
            with pytest.raises(ModelHTTPError) as info:
                await transport.send(post(server), signer=None, model_name='m', vendor='acme')
            assert info.value.status_code == 400

        peak = await measure_peak(read)
    assert peak < 4 * MiB, f'memory grew by {peak / MiB:.0f} MiB'


async def test_a_corrupt_gzip_body_is_a_typed_error(client: httpx.AsyncClient) -> None:
    corrupt = gzip.compress(b'data: {"a": 1}\n\n' * 100)[:40] + b'\x00garbage' * 20
    async with serve(compressed_server(corrupt, 'gzip')) as server:  # type: ignore[arg-type]
        transport = Transport(client)
        with pytest.raises(StreamProtocolError, match='could not be decoded'):
            await consume(transport, server, SSEDecoder())
        with pytest.raises(UnexpectedModelBehavior, match='could not be decoded'):
            await transport.send(post(server), signer=None, model_name='m', vendor='acme')


async def test_an_encoding_we_did_not_ask_for_is_a_typed_error(client: httpx.AsyncClient) -> None:
    async with serve(compressed_server(b'\x1b\x03\x00', 'br')) as server:  # type: ignore[arg-type]
        with pytest.raises(StreamProtocolError, match="unsupported content-encoding 'br'"):
            await consume(Transport(client), server, LineParser())


# -- secrets masked in what comes back -------------------------------------------------------------

KEY = 'sk-echoed-secret-key-0123456789'

MESSAGES: list[ModelMessage] = [ModelRequest([UserPromptPart('hello')])]


async def echo_the_key(exchange: Exchange) -> None:
    """A gateway that quotes the request's credentials back, in the body and in headers."""
    auth = exchange.headers.get('authorization', '')
    key = auth.removeprefix('Bearer ')
    if b'"stream":true' in exchange.body:
        event = {'error': {'message': f'upstream rejected {auth}', 'type': 'server_error', 'key': key}}
        await exchange.start(200, [('content-type', 'text/event-stream')])
        await exchange.send(b'data: ' + orjson.dumps(event) + b'\n\n')
        await exchange.end()
        return
    body = orjson.dumps({'error': {'message': f'Incorrect API key provided: {key}', 'header': auth}})
    headers = [
        ('content-type', 'application/json'),
        ('www-authenticate', f'Bearer error="invalid_token", key="{key}"'),
        ('set-cookie', f'session={key}'),
        ('x-gateway-auth-echo', auth),
        ('x-debug-echo', f'you sent {key}'),
        ('x-request-id', 'req_123'),
    ]
    await exchange.respond(400, body, headers)


def model_for(server: Server, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> OpenAIModel:
    """An OpenAI model whose key the server echoes; every log record is captured."""
    caplog.set_level(logging.DEBUG)
    return OpenAIModel('gpt-x', provider=OpenAIProvider(base_url=server.url, api_key=KEY, http_client=client))


def assert_masked(exc: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    texts = [str(exc), repr(exc), ''.join(traceback.format_exception(exc)), caplog.text]
    texts += [repr(getattr(exc, 'body', None)), repr(getattr(exc, 'headers', None))]
    for text in texts:
        assert KEY not in text


async def test_a_key_echoed_in_an_error_body_and_headers_is_masked_everywhere(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(echo_the_key) as server:
        model = model_for(server, client, caplog)
        with pytest.raises(ModelHTTPError) as info:
            await model.request(MESSAGES, None, ModelRequestParameters())
    error = info.value
    assert_masked(error, caplog)
    assert 'Incorrect API key provided: ***' in str(error)
    assert error.headers['x-request-id'] == 'req_123'
    assert error.headers['x-debug-echo'] == 'you sent ***'
    for dropped in ('www-authenticate', 'set-cookie', 'x-gateway-auth-echo'):
        assert dropped not in error.headers


async def test_a_key_echoed_in_a_stream_error_event_is_masked_everywhere(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(echo_the_key) as server:
        model = model_for(server, client, caplog)

        async def stream_it() -> None:
            async with model.request_stream(MESSAGES, None, ModelRequestParameters()) as response:
                async for _ in response:
                    pass

        with pytest.raises(ModelStreamError) as info:
            await stream_it()
    assert_masked(info.value, caplog)
    assert 'upstream rejected ***' in str(info.value)  # the whole header value, 'Bearer ' too


async def test_our_log_records_mask_registered_secrets(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(echo_the_key) as server:
        provider = OpenAIProvider(base_url=server.url, api_key=KEY, http_client=client)
        with pytest.raises(ModelHTTPError):
            await provider.send(provider.build_request('POST', '/chat/completions', b'{}'), model_name='m')
    with caplog.at_level(logging.DEBUG, logger='modelkit.transport'):
        logging.getLogger('modelkit.transport').debug('a record quoting %s', KEY)
    assert 'a record quoting ***' in caplog.text
    assert KEY not in caplog.text
