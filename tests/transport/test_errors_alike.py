"""Every failure aiohttp can report becomes the same modelkit error as on httpx's transport.

Each case makes one real failure on 127.0.0.1 (a refused port, a listener whose accept queue is
full, a server that hangs up, stalls, resets, breaks HTTP/1.1 framing, a self-signed certificate,
a proxy that is down or refuses) and sends the same request over both transports on asyncio. The
two errors must be of the same modelkit type with the same message once the part each library
words itself (the text after the httpx error's name) and port numbers are set aside; on aiohttp,
the aiohttp error the case is named after must be what was raised underneath.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc
import httpx
import pytest

from modelkit._transport import HTTPRequest, Transport
from modelkit.exceptions import (
    ModelConnectionError,
    ModelkitError,
    ModelTimeoutError,
    StreamInterrupted,
    StreamTimeout,
    UserError,
)
from tests.transport.loopback import Exchange, LineParser, serve
from tests.transport.stacks import make_client, require_fast
from tests.transport.test_fast_transport import _self_signed, serve_tls

pytestmark = pytest.mark.anyio


def post(url: str) -> HTTPRequest:
    return HTTPRequest('POST', url, {'content-type': 'application/json'}, b'{}')


async def send(client: httpx.AsyncClient, url: str) -> None:
    await Transport(client, max_retries=0).send(post(url), signer=None, model_name='m', vendor='acme')


async def stream(client: httpx.AsyncClient, url: str) -> None:
    async with Transport(client, max_retries=0).stream(
        post(url), signer=None, model_name='m', vendor='acme'
    ) as s:
        async for _ in s.iter_parsed(LineParser()):
            pass


@asynccontextmanager
async def raw_server(answer: Callable[[anyio.abc.SocketStream], Awaitable[None]]) -> AsyncIterator[str]:
    """A server that reads one request and then writes whatever bytes `answer` sends, HTTP or not."""

    async def handler(exchange: Exchange) -> None:
        await answer(exchange.stream)  # past h11: the connection ends when `answer` returns

    async with serve(handler) as server:
        yield server.url


async def stall(sock: anyio.abc.SocketStream) -> None:
    await anyio.sleep(30)


# -- the cases: each makes one failure and sends into it --------------------------------------------

Case = Callable[[str, Path], Awaitable[None]]
"""(transport, a scratch directory) -> sends one request that fails."""


async def refused(transport: str, tmp: Path) -> None:
    async with serve(stall_exchange) as server:
        url = server.url
    async with make_client(transport) as client:  # nothing listens there any more
        await send(client, f'{url}/v1/x')


async def connect_timeout(transport: str, tmp: Path) -> None:
    # A backlog of 0 holds one connection that is never accepted; the kernel then drops every
    # further SYN, so a connect neither succeeds nor is refused: it times out.
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(('127.0.0.1', 0))
        listener.listen(0)
        filler.connect(listener.getsockname())
        port = listener.getsockname()[1]
        async with make_client(transport, timeout=httpx.Timeout(10.0, connect=0.3)) as client:
            await send(client, f'http://127.0.0.1:{port}/v1/x')


async def closed_before_the_head(transport: str, tmp: Path) -> None:
    async def hang_up(sock: anyio.abc.SocketStream) -> None:
        await sock.aclose()

    async with raw_server(hang_up) as url, make_client(transport) as client:
        await send(client, f'{url}/v1/x')


async def malformed_status_line(transport: str, tmp: Path) -> None:
    async def garbage(sock: anyio.abc.SocketStream) -> None:
        await sock.send(b'HTTP/1.1 2x0 OK\r\ncontent-length: 0\r\n\r\n')
        await stall(sock)

    async with raw_server(garbage) as url, make_client(transport) as client:
        await send(client, f'{url}/v1/x')


def long_header(size: int) -> bytes:
    return b'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-long: ' + b'a' * size + b'\r\n\r\n{}'


async def head_too_large(transport: str, tmp: Path) -> None:
    # httpcore refuses a head still incomplete past 100 KiB (it reads 64 KiB at a time, so 300 KiB
    # is past that on any split); aiohttp refuses one header line past 100 KiB.
    async def huge(sock: anyio.abc.SocketStream) -> None:
        await sock.send(long_header(300 * 1024))
        await stall(sock)

    async with raw_server(huge) as url, make_client(transport) as client:
        await send(client, f'{url}/v1/x')


async def chunked_body_cut(transport: str, tmp: Path) -> None:
    async def cut(exchange: Exchange) -> None:
        await exchange.start(200, [('content-type', 'text/plain')])
        await exchange.send(b'first\n')
        await exchange.drop()

    async with serve(cut) as server, make_client(transport) as client:
        await stream(client, f'{server.url}/v1/x')


async def body_shorter_than_its_length(transport: str, tmp: Path) -> None:
    async def short(sock: anyio.abc.SocketStream) -> None:
        await sock.send(
            b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a"'
        )

    async with raw_server(short) as url, make_client(transport) as client:
        await send(client, f'{url}/v1/x')


async def broken_chunk_framing(transport: str, tmp: Path) -> None:
    async def broken(sock: anyio.abc.SocketStream) -> None:
        await sock.send(b'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nfirst\n\r\n')
        await anyio.sleep(0.05)  # the head and first line arrive on their own, then the bad size line
        await sock.send(b'zz\r\nnot a chunk size\r\n')
        await stall(sock)

    async with raw_server(broken) as url, make_client(transport) as client:
        with anyio.fail_after(10):  # aiohttp's parser once left this read waiting forever
            await stream(client, f'{url}/v1/x')


async def stall_mid_body(transport: str, tmp: Path) -> None:
    async def silent(exchange: Exchange) -> None:
        await exchange.start(200, [('content-type', 'text/plain')])
        await exchange.send(b'first\n')
        await exchange.wait_client_gone()

    async with serve(silent) as server, make_client(transport, timeout=httpx.Timeout(0.3)) as client:
        await stream(client, f'{server.url}/v1/x')


@contextmanager
def resetting_server(before: bytes) -> Iterator[str]:
    """A server that reads a request head, sends `before`, then resets the connection (RST).

    Plain blocking sockets in a thread: an async stream's close sends a FIN first, and a FIN
    before the reset would read as a clean close.
    """
    listener = socket.create_server(('127.0.0.1', 0))
    listener.settimeout(10)

    def run() -> None:
        with listener:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                head = b''
                while b'\r\n\r\n' not in head:
                    head += conn.recv(65536) or b'\r\n\r\n'
                conn.sendall(before)
                time.sleep(0.05)  # what was sent is read before the reset
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        yield f'http://127.0.0.1:{listener.getsockname()[1]}'
    finally:
        worker.join(10)


async def reset_before_the_head(transport: str, tmp: Path) -> None:
    with resetting_server(b'') as url:
        async with make_client(transport) as client:
            await send(client, f'{url}/v1/x')


async def reset_mid_body(transport: str, tmp: Path) -> None:
    opening = b'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nfirst\n\r\n'
    with resetting_server(opening) as url:
        async with make_client(transport) as client:
            await stream(client, f'{url}/v1/x')


async def pool_full(transport: str, tmp: Path) -> None:
    async def held(exchange: Exchange) -> None:
        await exchange.start(200, [('content-type', 'text/plain')])
        await exchange.send(b'first\n')
        await exchange.wait_client_gone()

    limits, timeout = httpx.Limits(max_connections=1), httpx.Timeout(10.0, pool=0.3)
    async with serve(held) as server, make_client(transport, limits=limits, timeout=timeout) as client:
        transport_ = Transport(client, max_retries=0)
        async with transport_.stream(
            post(f'{server.url}/v1/x'), signer=None, model_name='m', vendor='acme'
        ) as s:
            async for _ in s.iter_parsed(LineParser()):
                await send(client, f'{server.url}/v1/x')  # the one connection is this stream's


async def unknown_certificate(transport: str, tmp: Path) -> None:
    cert, key = _self_signed(tmp)
    async with serve_tls(cert, key) as server, make_client(transport) as client:
        await send(client, f'https://127.0.0.1:{server.port}/v1/x')


async def proxy_down(transport: str, tmp: Path) -> None:
    async with serve(stall_exchange) as gone:
        proxy = gone.url
    async with make_client(transport, proxy=proxy) as client:
        await send(client, 'http://127.0.0.2:9/v1/x')


async def proxy_refuses_the_tunnel(transport: str, tmp: Path) -> None:
    async def refuse(exchange: Exchange) -> None:
        await exchange.respond(403, b'no tunnels here')

    async with serve(refuse) as proxy, make_client(transport, proxy=proxy.url) as client:
        await send(client, 'https://127.0.0.2:9/v1/x')


async def not_an_http_url(transport: str, tmp: Path) -> None:
    async with make_client(transport) as client:
        await send(client, 'ftp://127.0.0.1:9/v1/x')


async def stall_exchange(exchange: Exchange) -> None:
    await exchange.wait_client_gone()


@dataclass(frozen=True)
class Alike:
    """One failure: how to make it, the modelkit error both transports raise, aiohttp's error."""

    case: Case
    error: type[ModelkitError]
    words: str
    """Part of the message both transports say."""
    aiohttp_error: str
    """The aiohttp exception class (by name) the case makes aiohttp raise."""


CASES = [
    Alike(refused, ModelConnectionError, 'could not connect', 'ClientConnectorError'),
    Alike(connect_timeout, ModelTimeoutError, 'could not connect within 0.3 s', 'ConnectionTimeoutError'),
    Alike(
        closed_before_the_head,
        ModelConnectionError,
        'the server closed the connection before responding',
        'ServerDisconnectedError',
    ),
    Alike(
        malformed_status_line,
        ModelConnectionError,
        'the connection failed before the server responded',
        'ClientResponseError',
    ),
    Alike(
        head_too_large,
        ModelConnectionError,
        'the connection failed before the server responded',
        'ClientResponseError',
    ),
    Alike(chunked_body_cut, StreamInterrupted, 'incomplete chunked read', 'ClientPayloadError'),
    Alike(
        body_shorter_than_its_length,
        ModelConnectionError,
        'failed while reading the response body',
        'ClientPayloadError',
    ),
    Alike(
        broken_chunk_framing, StreamInterrupted, 'was interrupted (RemoteProtocolError', 'ClientPayloadError'
    ),
    Alike(stall_mid_body, StreamTimeout, 'no data for 0.3 s', 'SocketTimeoutError'),
    Alike(
        reset_before_the_head,
        ModelConnectionError,
        'the connection failed before the server responded',
        'ClientOSError',
    ),
    Alike(reset_mid_body, StreamInterrupted, 'was interrupted (ReadError', 'ClientPayloadError'),
    Alike(
        pool_full, ModelTimeoutError, 'no free connection in the pool within 0.3 s', 'ConnectionTimeoutError'
    ),
    Alike(unknown_certificate, ModelConnectionError, 'could not connect', 'ClientConnectorCertificateError'),
    Alike(proxy_down, ModelConnectionError, 'could not connect', 'ClientProxyConnectionError'),
    Alike(proxy_refuses_the_tunnel, ModelConnectionError, '(ProxyError', 'ClientHttpProxyError'),
    Alike(not_an_http_url, UserError, 'invalid request URL', 'NonHttpUrlClientError'),
]

_REASON = re.compile(r'\((?P<kind>[A-Z]\w*)(?:: .*?)?\)(?=: |; |$)', re.S)
_PORT = re.compile(r'(127\.0\.0\.[12]):\d+')


def shape(message: str) -> str:
    """The message with what each library words itself (after the httpx error's name) and ports masked."""
    return _PORT.sub(r'\1:PORT', _REASON.sub(r'(\g<kind>: ...)', message))


def _chain(exc: BaseException | None) -> list[str]:
    names = []
    while exc is not None:
        names += [cls.__name__ for cls in type(exc).__mro__]
        exc = exc.__cause__ or exc.__context__
    return names


async def failure(alike: Alike, transport: str, tmp: Path) -> ModelkitError:
    tmp.mkdir()  # noqa: ASYNC240 (a scratch directory, before any I/O is waited on)
    try:
        await alike.case(transport, tmp)
    except BaseException as exc:
        error = exc
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]  # raised inside a server's task group
        if isinstance(error, ModelkitError):
            return error
        raise
    pytest.fail(f'{alike.case.__name__} did not fail on {transport}')


@pytest.mark.parametrize('anyio_backend', ['asyncio'])
@pytest.mark.parametrize('alike', CASES, ids=lambda a: f'{a.case.__name__}-{a.aiohttp_error}')
async def test_an_aiohttp_failure_is_the_same_modelkit_error_as_on_httpx(
    alike: Alike, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_fast()
    for name in ('HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy'):
        monkeypatch.delenv(name, raising=False)
    on_httpx = await failure(alike, 'httpx', tmp_path / 'httpx')
    on_aiohttp = await failure(alike, 'aiohttp', tmp_path / 'aiohttp')
    assert type(on_aiohttp) is type(on_httpx) is alike.error, (on_httpx, on_aiohttp)
    assert shape(str(on_aiohttp)) == shape(str(on_httpx))
    assert alike.words in str(on_httpx)
    assert alike.aiohttp_error in _chain(on_aiohttp)  # the case reached the aiohttp error it names
    assert 'aiohttp' not in _chain(on_httpx)


def test_the_shape_masks_only_the_library_words() -> None:
    where = ": POST http://127.0.0.1:41/x, model 'm'"
    httpx_words = f'acme request failed: could not connect (ConnectError: [Errno 111] refused){where}'
    aiohttp_words = (
        'acme request failed: could not connect (ConnectError: Cannot connect to host '
        f"127.0.0.1:42 ssl:default [Connect call failed ('127.0.0.1', 42)]){where.replace('41', '43')}"
    )
    assert shape(httpx_words) == shape(aiohttp_words)
    assert shape(httpx_words) != shape(httpx_words.replace('ConnectError', 'ReadError'))
    assert shape(httpx_words) != shape(httpx_words.replace('could not connect', 'failed'))
    stream_words = "acme stream for 'm' was interrupted (RemoteProtocolError: cut (incomplete chunked read))"
    assert shape(stream_words) == "acme stream for 'm' was interrupted (RemoteProtocolError: ...)"


@pytest.mark.parametrize('anyio_backend', ['asyncio'])
@pytest.mark.parametrize('transport', ['httpx', 'aiohttp'])
async def test_a_long_header_line_below_the_head_bound_is_accepted_on_both(transport: str) -> None:
    async def long(sock: anyio.abc.SocketStream) -> None:
        await sock.send(long_header(80 * 1024))  # past aiohttp's default of 8,190, within httpcore's
        await stall(sock)

    async with raw_server(long) as url, make_client(transport) as client:
        response = await Transport(client, max_retries=0).send(
            post(f'{url}/v1/x'), signer=None, model_name='m', vendor='acme'
        )
    assert response.body == b'{}'
    assert len(response.headers['x-long']) == 80 * 1024


@pytest.mark.parametrize('anyio_backend', ['asyncio'])
async def test_the_server_receives_the_same_request_from_both_shared_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelkit import __version__
    from modelkit._transport import aclose_shared_http_client, shared_http_client

    require_fast()

    async def ok(exchange: Exchange) -> None:
        await exchange.respond(200, b'{}')

    seen: dict[str, tuple[str, str, list[tuple[str, str]], bytes]] = {}
    async with serve(ok) as server:
        for transport in ('httpx', 'aiohttp'):
            monkeypatch.setenv('MODELKIT_HTTP_TRANSPORT', transport)
            request = HTTPRequest(
                'POST',
                f'{server.url}/v1/x',
                {'content-type': 'application/json', 'x-api-key': 'k'},
                b'{"a":1}',
            )
            await Transport().send(request, signer=None, model_name='m', vendor='acme')
            on = type(shared_http_client()._transport).__name__
            assert on == ('AiohttpModelkitTransport' if transport == 'aiohttp' else 'AsyncHTTPTransport')
            await aclose_shared_http_client()  # the next loop-shared client follows the variable
            exchange = server.exchanges[-1]
            headers = sorted((k.decode().lower(), v.decode()) for k, v in exchange.request.headers)
            seen[transport] = (exchange.request.method.decode(), exchange.target, headers, exchange.body)
    assert seen['aiohttp'] == seen['httpx']
    assert ('user-agent', f'modelkit/{__version__}') in seen['httpx'][2]
