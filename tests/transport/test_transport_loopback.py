"""Timeouts, pooling, draining and abandoning streams, against a real server on 127.0.0.1."""

from __future__ import annotations

import gzip
import socket
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from modelkit._transport import MAX_ERROR_BODY_BYTES, HTTPRequest, Transport
from modelkit.exceptions import (
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
    StreamInterrupted,
    StreamProtocolError,
    UserError,
)
from tests.transport.loopback import Exchange, LineParser, Server, serve
from tests.transport.stacks import make_client

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(http_transport: str) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(http_transport) as client:
        yield client


def transport_for(client: httpx.AsyncClient, max_retries: int = 0) -> Transport:
    transport = Transport(client, max_retries=max_retries)
    transport.initial_backoff = transport.max_backoff = 0.001
    return transport


def post(server: Server, path: str = '/v1/stream') -> HTTPRequest:
    return HTTPRequest('POST', f'{server.url}{path}', {'content-type': 'application/json'}, b'{}')


async def three_lines(exchange: Exchange) -> None:
    await exchange.start(200, [('content-type', 'text/event-stream')])
    for line in (b'one\n', b'two\n', b'three\n'):
        await exchange.send(line)
    await exchange.end()


async def one_line_then_stall(exchange: Exchange) -> None:
    await exchange.start(200)
    await exchange.send(b'first\n')
    await exchange.wait_client_gone()


async def read_all(
    transport: Transport,
    server: Server,
    timeout: float | None = None,
    into: list[bytes] | None = None,
    parser: LineParser | None = None,
) -> list[bytes]:
    """Stream the server's answer to the end; events also go to `into` so they survive an error."""
    events: list[bytes] = [] if into is None else into
    async with transport.stream(
        post(server), signer=None, model_name='m', vendor='acme', timeout=timeout
    ) as s:
        async for batch in s.iter_parsed(parser or LineParser()):
            events.extend(batch)
    return events


async def fail_on_first_event(transport: Transport, server: Server) -> None:
    async with transport.stream(post(server), signer=None, model_name='m', vendor='acme') as stream:
        async for _ in stream.iter_parsed(LineParser()):
            raise RuntimeError('consumer failed')


async def test_drained_streams_reuse_one_pooled_connection(client: httpx.AsyncClient) -> None:
    async with serve(three_lines) as server:
        transport = transport_for(client)
        assert await read_all(transport, server) == [b'one', b'two', b'three']
        assert await read_all(transport, server) == [b'one', b'two', b'three']
        response = await transport.send(post(server), signer=None, model_name='m', vendor='acme')
        assert response.body == b'one\ntwo\nthree\n'
        assert server.connections == 1
        assert server.disconnects == 0


async def test_stream_abandoned_with_break_closes_its_connection(client: httpx.AsyncClient) -> None:
    async with serve(one_line_then_stall) as server:
        transport = transport_for(client)
        async with transport.stream(post(server), signer=None, model_name='m', vendor='acme') as stream:
            async for batch in stream.iter_parsed(LineParser()):
                assert batch == [b'first']
                break
        await server.wait_disconnects(1)  # closed at once, although the server never ended the body
        server.handler = three_lines
        assert await read_all(transport, server) == [b'one', b'two', b'three']
        assert server.connections == 2


async def test_stream_abandoned_by_cancellation_closes_its_connection(client: httpx.AsyncClient) -> None:
    async with serve(one_line_then_stall) as server:
        transport = transport_for(client)
        received: list[bytes] = []
        with anyio.CancelScope() as scope:
            async with transport.stream(post(server), signer=None, model_name='m', vendor='acme') as stream:
                async for batch in stream.iter_parsed(LineParser()):
                    received.extend(batch)
                    scope.cancel()
        assert scope.cancelled_caught
        assert received == [b'first']
        await server.wait_disconnects(1)
        server.handler = three_lines
        assert await read_all(transport, server) == [b'one', b'two', b'three']
        assert server.connections == 2


async def test_stream_cancelled_while_waiting_for_a_chunk_closes_its_connection(
    client: httpx.AsyncClient,
) -> None:
    async with serve(one_line_then_stall) as server:
        transport = transport_for(client)
        with anyio.move_on_after(0.05) as scope:
            async with transport.stream(post(server), signer=None, model_name='m', vendor='acme') as stream:
                async for _ in stream.iter_parsed(LineParser()):
                    pass  # the second chunk never comes: the deadline cancels the read
        assert scope.cancelled_caught
        await server.wait_disconnects(1)


async def test_stream_abandoned_by_an_exception_closes_its_connection(client: httpx.AsyncClient) -> None:
    async with serve(one_line_then_stall) as server:
        transport = transport_for(client)
        with pytest.raises(RuntimeError, match='consumer failed'):
            await fail_on_first_event(transport, server)
        await server.wait_disconnects(1)


async def test_stream_never_iterated_is_closed_on_exit(client: httpx.AsyncClient) -> None:
    async with serve(one_line_then_stall) as server:
        transport = transport_for(client)
        async with transport.stream(post(server), signer=None, model_name='m', vendor='acme') as stream:
            assert stream.status_code == 200
        await server.wait_disconnects(1)
        with pytest.raises(UserError, match='closed'):
            stream.iter_parsed(LineParser())


async def test_iter_parsed_reads_the_body_once(client: httpx.AsyncClient) -> None:
    async with serve(three_lines) as server:
        transport = transport_for(client)
        async with transport.stream(post(server), signer=None, model_name='m', vendor='acme') as stream:
            batches = [batch async for batch in stream.iter_parsed(LineParser())]
            with pytest.raises(UserError, match='once'):
                stream.iter_parsed(LineParser())
        assert [e for batch in batches for e in batch] == [b'one', b'two', b'three']
        assert all(batches)  # empty event lists are never yielded


async def test_per_request_timeout_applies_to_stream_reads(client: httpx.AsyncClient) -> None:
    async with serve(one_line_then_stall) as server:
        transport = transport_for(client, max_retries=2)
        received: list[bytes] = []
        with pytest.raises(StreamInterrupted) as info:
            await read_all(transport, server, timeout=0.1, into=received)
        assert received == [b'first']
        assert isinstance(info.value.__cause__, httpx.ReadTimeout)
        assert len(server.exchanges) == 1  # bytes reached the caller: never retried


async def test_timeout_before_any_response_is_retried_then_raised(client: httpx.AsyncClient) -> None:
    async def never_answer(exchange: Exchange) -> None:
        await exchange.wait_client_gone()

    async with serve(never_answer) as server:
        transport = transport_for(client, max_retries=1)
        with pytest.raises(ModelTimeoutError) as info:
            await transport.send(post(server), signer=None, model_name='m', vendor='acme', timeout=0.05)
        # Whichever runs out first: httpx's read timeout or the deadline on the whole head.
        assert isinstance(info.value.__cause__, httpx.ReadTimeout | TimeoutError)
        assert 'no response within 0.05 s' in str(info.value)
        assert len(server.exchanges) == 2


async def test_connection_dropped_mid_body_is_stream_interrupted(client: httpx.AsyncClient) -> None:
    async def drop_after_one_line(exchange: Exchange) -> None:
        await exchange.start(200)
        await exchange.send(b'partial\n')
        await exchange.drop()

    async with serve(drop_after_one_line) as server:
        transport = transport_for(client, max_retries=2)
        received: list[bytes] = []
        with pytest.raises(StreamInterrupted):
            await read_all(transport, server, into=received)
        assert received == [b'partial']
        assert len(server.exchanges) == 1


async def test_connection_dropped_while_reading_a_whole_body_is_a_connection_error(
    client: httpx.AsyncClient,
) -> None:
    async def drop(exchange: Exchange) -> None:
        await exchange.start(200)
        await exchange.send(b'{"partial"')
        await exchange.drop()

    async with serve(drop) as server:
        with pytest.raises(ModelConnectionError, match='reading the response'):
            await transport_for(client).send(post(server), signer=None, model_name='m', vendor='acme')


async def test_streamed_error_body_is_read_up_to_a_bound(client: httpx.AsyncClient) -> None:
    async def endless_error(exchange: Exchange) -> None:
        await exchange.start(400, [('content-type', 'text/html')])
        try:
            while True:
                await exchange.send(b'<p>' + b'x' * 4096 + b'</p>')
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return

    async with serve(endless_error) as server:
        with pytest.raises(ModelHTTPError) as info:
            async with transport_for(client).stream(post(server), signer=None, model_name='m', vendor='acme'):
                pytest.fail('the block must not run for an error status')
        body = info.value.body
        assert isinstance(body, str)
        assert body.startswith('<p>xxx')
        assert len(body) <= MAX_ERROR_BODY_BYTES
        assert len(str(info.value)) < 1000  # the message shows a trimmed preview
        await server.wait_disconnects(1)


async def test_error_response_read_in_full_keeps_the_connection(client: httpx.AsyncClient) -> None:
    async def not_found_then_ok(exchange: Exchange) -> None:
        if len(server.exchanges) == 1:
            await exchange.respond(404, b'{"error":"nope"}', [('content-type', 'application/json')])
        else:
            await three_lines(exchange)

    async with serve(not_found_then_ok) as server:
        transport = transport_for(client)
        with pytest.raises(ModelHTTPError) as info:
            await read_all(transport, server)
        assert info.value.body == {'error': 'nope'}
        assert await read_all(transport, server) == [b'one', b'two', b'three']
        assert server.connections == 1


async def test_gzip_encoded_stream_is_decoded(client: httpx.AsyncClient) -> None:
    compressed = gzip.compress(b'alpha\nbeta\ngamma\n')

    async def gzipped(exchange: Exchange) -> None:
        await exchange.start(200, [('content-encoding', 'gzip')])
        for i in range(0, len(compressed), 7):
            await exchange.send(compressed[i : i + 7])
        await exchange.end()

    async with serve(gzipped) as server:
        assert await read_all(transport_for(client), server) == [b'alpha', b'beta', b'gamma']


async def test_parser_close_events_arrive_at_end_of_stream(client: httpx.AsyncClient) -> None:
    async def unterminated(exchange: Exchange) -> None:
        await exchange.respond(200, b'complete\ntail-without-newline')

    async with serve(unterminated) as server:
        parser = LineParser()
        async with transport_for(client).stream(
            post(server), signer=None, model_name='m', vendor='acme'
        ) as s:
            batches = [batch async for batch in s.iter_parsed(parser)]
        assert batches == [[b'complete'], [b'tail-without-newline']]
        assert parser.closed


async def test_parser_errors_propagate_and_release_the_connection(client: httpx.AsyncClient) -> None:
    class Strict(LineParser):
        def feed(self, data: bytes) -> list[bytes]:
            raise StreamProtocolError('bad framing')

    async with serve(one_line_then_stall) as server:
        with pytest.raises(StreamProtocolError, match='bad framing'):
            await read_all(transport_for(client), server, parser=Strict())
        await server.wait_disconnects(1)


async def test_arrival_times_are_recorded(client: httpx.AsyncClient) -> None:
    async with serve(three_lines) as server:
        async with transport_for(client).stream(
            post(server), signer=None, model_name='m', vendor='acme'
        ) as s:
            assert s.last_arrival == s.headers_at
            assert s.headers['content-type'] == 'text/event-stream'
            arrivals = [s.last_arrival async for _ in s.iter_parsed(LineParser())]
        assert arrivals == sorted(arrivals)
        assert arrivals[0] >= s.headers_at


async def test_connection_refused_is_retried_then_a_connection_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    request = HTTPRequest('POST', f'http://127.0.0.1:{port}/v1/x')
    with pytest.raises(ModelConnectionError) as info:
        await transport_for(client, max_retries=1).send(request, signer=None, model_name='m', vendor='acme')
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert '2 attempts' in str(info.value)
