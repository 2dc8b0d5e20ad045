"""The retry rules of test_transport_retries.py again, over real sockets on every stack.

test_transport_retries.py drives the retry logic through respx, which replaces httpx's own
transport and so cannot run on aiohttp's. Here a loopback server answers each attempt from a
script (a status, a hang-up, a stall, a stream that breaks), so every rule is checked on
asyncio-httpx, asyncio-aiohttp and trio-httpx (tests/transport/stacks.py) with the connection
handling each transport really does between attempts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, nullcontext

import anyio
import httpx
import orjson
import pytest

from modelkit._transport import MAX_RETRY_AFTER_SECONDS, HTTPRequest, Transport
from modelkit.exceptions import ModelConnectionError, ModelHTTPError, ModelTimeoutError, StreamInterrupted
from tests.transport.loopback import Exchange, LineParser, Server, serve
from tests.transport.test_transport_loopback import client, transport_for

__all__ = ('client',)  # the fixture, on the stack's transport

pytestmark = pytest.mark.anyio

SECRET = 'sk-very-secret-key-123'

Answer = Callable[[Exchange], Awaitable[None]]


def status(code: int, body: bytes = b'', headers: Sequence[tuple[str, str]] = ()) -> Answer:
    async def answer(exchange: Exchange) -> None:
        await exchange.respond(code, body, headers)

    return answer


def json_status(code: int, payload: object, headers: Sequence[tuple[str, str]] = ()) -> Answer:
    return status(code, orjson.dumps(payload), [('content-type', 'application/json'), *headers])


async def hang_up(exchange: Exchange) -> None:
    await exchange.drop()  # closed before any response: retryable


async def stall(exchange: Exchange) -> None:
    await exchange.wait_client_gone()


async def lines(exchange: Exchange) -> None:
    await exchange.start(200, [('content-type', 'text/plain')])
    await exchange.send(b'a\nb\n')
    await exchange.end()


async def first_line_then_cut(exchange: Exchange) -> None:
    await exchange.start(200, [('content-type', 'text/plain')])
    await exchange.send(b'first\n')
    await anyio.sleep(0.05)
    await exchange.drop()


@asynccontextmanager
async def scripted(*answers: Answer) -> AsyncIterator[Server]:
    """A server answering attempt n with `answers[n]` (the last answer repeats)."""
    count = 0

    async def handler(exchange: Exchange) -> None:
        nonlocal count
        answer = answers[min(count, len(answers) - 1)]
        count += 1
        await answer(exchange)

    async with serve(handler) as server:
        yield server


def quick(client: httpx.AsyncClient, max_retries: int = 2) -> Transport:
    """A transport whose computed backoff is a millisecond at most (the default two retries)."""
    return transport_for(client, max_retries)


def post(server: Server) -> HTTPRequest:
    return HTTPRequest(
        'POST', f'{server.url}/v1/chat', {'content-type': 'application/json'}, b'{"model":"m"}'
    )


async def sign(req: HTTPRequest) -> None:
    req.headers['Authorization'] = f'Bearer {SECRET}'


@pytest.mark.parametrize('code', [408, 429, 500, 503, 529])
async def test_a_retryable_status_is_retried_then_succeeds(client: httpx.AsyncClient, code: int) -> None:
    async with scripted(status(code), json_status(200, {'ok': True})) as server:
        response = await quick(client).send(post(server), signer=None, model_name='m', vendor='acme')
    assert response.status_code == 200
    assert response.body == b'{"ok":true}'
    assert len(server.exchanges) == 2


@pytest.mark.parametrize('code', [400, 401, 404, 422])
async def test_another_4xx_is_not_retried(client: httpx.AsyncClient, code: int) -> None:
    async with scripted(json_status(code, {'error': 'no'})) as server:
        with pytest.raises(ModelHTTPError) as info:
            await quick(client).send(post(server), signer=None, model_name='m', vendor='acme')
    assert info.value.status_code == code
    assert info.value.body == {'error': 'no'}
    assert len(server.exchanges) == 1


@pytest.mark.parametrize(('max_retries', 'calls'), [(0, 1), (2, 3)])
async def test_retries_stop_after_max_retries(
    client: httpx.AsyncClient, max_retries: int, calls: int
) -> None:
    async with scripted(status(503, b'overloaded')) as server:
        with pytest.raises(ModelHTTPError) as info:
            await quick(client, max_retries).send(post(server), signer=None, model_name='m', vendor='acme')
    assert info.value.status_code == 503
    assert len(server.exchanges) == calls


async def test_retry_after_ms_sets_the_wait(client: httpx.AsyncClient) -> None:
    async with scripted(status(429, headers=[('retry-after-ms', '300')]), status(200)) as server:
        transport = quick(client)
        started = time.perf_counter()
        await transport.send(post(server), signer=None, model_name='m', vendor='acme')
    assert time.perf_counter() - started >= 0.29  # the server's wait, not the millisecond backoff
    assert len(server.exchanges) == 2


async def test_retry_after_beyond_the_cap_raises_at_once_with_retry_after(client: httpx.AsyncClient) -> None:
    wait = int(MAX_RETRY_AFTER_SECONDS) + 1
    async with scripted(status(429, headers=[('retry-after', str(wait))])) as server:
        with pytest.raises(ModelHTTPError) as info:
            await quick(client).send(post(server), signer=None, model_name='m', vendor='acme')
    assert info.value.retry_after == wait
    assert len(server.exchanges) == 1


@pytest.mark.parametrize(('code', 'should', 'calls'), [(500, 'false', 1), (400, 'true', 2)])
async def test_x_should_retry_overrides_the_status(
    client: httpx.AsyncClient, code: int, should: str, calls: int
) -> None:
    async with scripted(status(code, headers=[('x-should-retry', should)]), status(200)) as server:
        with pytest.raises(ModelHTTPError) if calls == 1 else nullcontext():
            await quick(client).send(post(server), signer=None, model_name='m', vendor='acme')
    assert len(server.exchanges) == calls


async def test_a_hang_up_before_the_head_is_retried_then_succeeds(client: httpx.AsyncClient) -> None:
    async with scripted(hang_up, hang_up, json_status(200, {'ok': True})) as server:
        response = await quick(client).send(post(server), signer=None, model_name='m', vendor='acme')
    assert response.body == b'{"ok":true}'
    assert len(server.exchanges) == 3
    assert server.connections == 3  # each hang-up took its connection along


async def test_a_persistent_hang_up_is_a_connection_error_after_every_attempt(
    client: httpx.AsyncClient,
) -> None:
    async with scripted(hang_up) as server:
        with pytest.raises(ModelConnectionError) as info:
            await quick(client).send(post(server), signer=None, model_name='m', vendor='acme')
    assert not isinstance(info.value, ModelTimeoutError)
    assert 'the server closed the connection before responding after 3 attempts' in str(info.value)
    assert len(server.exchanges) == 3


async def test_a_timeout_before_the_head_is_retried_then_succeeds(client: httpx.AsyncClient) -> None:
    async with scripted(stall, json_status(200, {'ok': True})) as server:
        response = await quick(client).send(
            post(server), signer=None, model_name='m', vendor='acme', timeout=0.3
        )
        with anyio.fail_after(5):
            await server.wait_disconnects(1)  # the stalled attempt's connection was closed, not reused
    assert response.body == b'{"ok":true}'
    assert len(server.exchanges) == 2


async def test_the_signer_runs_before_every_attempt(client: httpx.AsyncClient) -> None:
    attempts = 0

    async def counting_signer(req: HTTPRequest) -> None:
        nonlocal attempts
        attempts += 1
        req.headers['x-sig'] = str(attempts)

    async with scripted(status(503), status(503), status(200)) as server:
        original = post(server)
        await quick(client).send(original, signer=counting_signer, model_name='m', vendor='acme')
    assert [e.headers['x-sig'] for e in server.exchanges] == ['1', '2', '3']
    assert 'x-sig' not in original.headers  # the caller's request is untouched


async def test_an_http_error_carries_its_json_body_and_redacted_headers(client: httpx.AsyncClient) -> None:
    body = {'error': {'message': 'Invalid model', 'type': 'invalid_request_error'}}
    headers = [('set-cookie', 'session=abc'), ('x-request-id', 'req_1'), ('api-key', 'leak')]
    async with scripted(json_status(400, body, headers)) as server:
        with pytest.raises(ModelHTTPError) as info:
            await quick(client).send(post(server), signer=sign, model_name='gpt-x', vendor='acme')
    error = info.value
    assert error.body == body
    assert error.headers['x-request-id'] == 'req_1'
    assert 'set-cookie' not in error.headers
    assert 'api-key' not in error.headers
    assert 'Invalid model' in str(error)
    assert SECRET not in str(error)
    assert SECRET not in repr(error)
    assert server.exchanges[0].headers['authorization'] == f'Bearer {SECRET}'  # it was sent, not shown


@pytest.mark.parametrize(
    ('content', 'content_type', 'expected'),
    [
        (b'<html>bad gateway</html>', 'text/html', '<html>bad gateway</html>'),
        (b'{not json', 'application/json', '{not json'),
    ],
)
async def test_an_error_body_is_json_when_json_else_text(
    client: httpx.AsyncClient, content: bytes, content_type: str, expected: object
) -> None:
    async with scripted(status(404, content, [('content-type', content_type)])) as server:
        with pytest.raises(ModelHTTPError) as info:
            await quick(client).send(post(server), signer=None, model_name='m', vendor='acme')
    assert info.value.body == expected


async def test_a_streamed_error_status_raises_on_entry_with_its_body(client: httpx.AsyncClient) -> None:
    async with scripted(json_status(401, {'error': 'bad key'})) as server:
        with pytest.raises(ModelHTTPError) as info:
            async with quick(client).stream(post(server), signer=sign, model_name='m', vendor='acme'):
                pytest.fail('the block must not run for an error status')
    assert info.value.body == {'error': 'bad key'}
    assert len(server.exchanges) == 1


async def read_into(transport: Transport, server: Server, received: list[bytes]) -> None:
    async with transport.stream(post(server), signer=None, model_name='m', vendor='acme') as stream:
        async for batch in stream.iter_parsed(LineParser()):
            received.extend(batch)


async def test_a_stream_retries_while_opening(client: httpx.AsyncClient) -> None:
    events: list[bytes] = []
    async with scripted(hang_up, status(529), lines) as server:
        await read_into(quick(client), server, events)
    assert events == [b'a', b'b']
    assert len(server.exchanges) == 3


async def test_no_retry_once_stream_bytes_reached_the_caller(client: httpx.AsyncClient) -> None:
    received: list[bytes] = []
    async with scripted(first_line_then_cut, lines) as server:
        with pytest.raises(StreamInterrupted) as info:
            await read_into(quick(client), server, received)
    assert received == [b'first']
    assert len(server.exchanges) == 1
    assert 'acme' in str(info.value)


async def test_the_debug_log_has_method_url_status_attempt_but_no_secrets(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async with scripted(status(500, b'body-text'), status(200, b'ok')) as server:
        url = f'{server.url}/v1/chat'
        req = HTTPRequest('POST', url, {}, b'{"prompt":"private"}', {'key': 'query-secret'})
        with caplog.at_level(logging.DEBUG, logger='modelkit.transport'):
            await quick(client).send(req, signer=sign, model_name='m', vendor='acme')
    assert f'POST {url} -> 500 (attempt 1 of 3)' in caplog.text
    assert f'POST {url} -> 200 (attempt 2 of 3)' in caplog.text
    for secret in (SECRET, 'query-secret', 'private', 'body-text'):
        assert secret not in caplog.text
