"""Alike on every stack (tests/transport/stacks.py): proxies from the environment, TLS, cancellation.

What test_fast_transport.py and test_hardening.py do not already pin: a connect that neither
succeeds nor is refused ends at the connect timeout; `NO_PROXY` sends a request around the proxy,
`HTTPS_PROXY` tunnels through it with CONNECT (a loopback tunnel started here) and TLS is still
verified end to end; a client's own `verify` (off, or a CA bundle) is honoured; a request
cancelled while it waits for the response head closes its connection; and a client on the
aiohttp transport refuses trio with our error instead of aiohttp's bare RuntimeError.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import anyio
import anyio.abc
import httpx
import pytest

from modelkit._transport import HTTPRequest, Transport, aclose_shared_http_client
from modelkit.exceptions import ModelConnectionError, ModelTimeoutError, UserError
from tests.transport.loopback import Exchange, serve
from tests.transport.stacks import make_client, require_fast
from tests.transport.test_fast_transport import _chain, _self_signed, serve_tls

pytestmark = pytest.mark.anyio

_PROXY_NAMES = ('HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY')


def post(url: str) -> HTTPRequest:
    return HTTPRequest('POST', url, {'content-type': 'application/json'}, b'{}')


async def ok(exchange: Exchange) -> None:
    await exchange.respond(200, b'{"ok":true}', [('content-type', 'application/json')])


@pytest.fixture
async def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[pytest.MonkeyPatch]:
    """No proxy variable from the developer's shell; the shared client is closed afterwards."""
    for name in _PROXY_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    yield monkeypatch
    await aclose_shared_http_client()


async def test_no_proxy_sends_a_matching_host_around_the_proxy(no_proxy_env: pytest.MonkeyPatch) -> None:
    async with serve(ok) as proxy, serve(ok) as origin:
        no_proxy_env.setenv('HTTP_PROXY', proxy.url)
        no_proxy_env.setenv('NO_PROXY', '127.0.0.1')
        response = await Transport().send(
            post(f'{origin.url}/v1/x'), signer=None, model_name='m', vendor='acme'
        )
        assert response.body == b'{"ok":true}'
        assert [e.target for e in origin.exchanges] == ['/v1/x']  # origin form: sent straight there
        assert proxy.exchanges == []


async def test_a_connect_that_hangs_ends_at_the_connect_timeout(http_transport: str) -> None:
    # A backlog of 0 holds one connection that is never accepted; the kernel then drops further
    # SYNs, so the next connect hangs: neither connected nor refused.
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(('127.0.0.1', 0))
        listener.listen(0)
        filler.connect(listener.getsockname())
        url = f'http://127.0.0.1:{listener.getsockname()[1]}/v1/x'
        async with make_client(http_transport, timeout=httpx.Timeout(10.0, connect=0.5)) as client:
            started = time.perf_counter()
            with anyio.fail_after(5), pytest.raises(ModelTimeoutError) as info:
                await Transport(client, max_retries=0).send(
                    post(url), signer=None, model_name='m', vendor='acme'
                )
            elapsed = time.perf_counter() - started
    assert 0.45 < elapsed < 2.0  # the connect timeout, not the 10 s read timeout
    assert 'could not connect within 0.5 s' in str(info.value)


@asynccontextmanager
async def tunnel_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP proxy that only tunnels (CONNECT); yields its URL and the tunnels asked for."""
    asked: list[str] = []

    async def pipe(source: anyio.abc.ByteStream, sink: anyio.abc.ByteStream) -> None:
        with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream):
            async for chunk in source:
                await sink.send(chunk)
        with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            await sink.send_eof()

    async def connection(client: anyio.abc.SocketStream) -> None:
        async with client:
            head = b''
            with suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                while b'\r\n\r\n' not in head:
                    head += await client.receive()
            method, target, _ = head.split(b'\r\n', 1)[0].decode().split(' ')
            asked.append(f'{method} {target}')
            host, port = target.rsplit(':', 1)
            async with await anyio.connect_tcp(host, int(port)) as upstream:
                await client.send(b'HTTP/1.1 200 Connection established\r\n\r\n')
                async with anyio.create_task_group() as tg:
                    tg.start_soon(pipe, client, upstream)
                    tg.start_soon(pipe, upstream, client)

    listener = await anyio.create_tcp_listener(local_host='127.0.0.1')
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, connection)
        try:
            yield f'http://127.0.0.1:{port}', asked
        finally:
            tg.cancel_scope.cancel()


async def test_https_proxy_tunnels_with_connect_and_tls_is_verified_end_to_end(
    no_proxy_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    async with serve_tls(cert, key) as server, tunnel_proxy() as (proxy_url, asked):
        no_proxy_env.setenv('HTTPS_PROXY', proxy_url)
        url = f'https://127.0.0.1:{server.port}/v1/x'
        # Through the tunnel the certificate is the origin's, unknown until SSL_CERT_FILE names it.
        with pytest.raises(ModelConnectionError, match='could not connect') as caught:
            await Transport(max_retries=0).send(post(url), signer=None, model_name='m', vendor='acme')
        assert 'certificate' in _chain(caught.value).lower()
        await aclose_shared_http_client()
        no_proxy_env.setenv('SSL_CERT_FILE', str(cert))
        response = await Transport(max_retries=0).send(post(url), signer=None, model_name='m', vendor='acme')
        assert response.body == b'{"ok":true}'
        assert asked == [f'CONNECT 127.0.0.1:{server.port}'] * 2
        assert [e.target for e in server.exchanges] == ['/v1/x']


async def test_a_clients_own_verify_setting_is_honoured(
    http_transport: str, no_proxy_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    no_proxy_env.delenv('SSL_CERT_FILE', raising=False)
    no_proxy_env.delenv('SSL_CERT_DIR', raising=False)
    bundle = ssl.create_default_context(cafile=str(cert))
    async with serve_tls(cert, key) as server:
        url = f'https://127.0.0.1:{server.port}/v1/x'
        async with make_client(http_transport) as default:
            with pytest.raises(ModelConnectionError, match='could not connect') as caught:
                await Transport(default, max_retries=0).send(
                    post(url), signer=None, model_name='m', vendor='acme'
                )
            assert 'certificate' in _chain(caught.value).lower()
        for verify in (False, bundle):
            async with make_client(http_transport, verify=verify) as client:
                response = await Transport(client, max_retries=0).send(
                    post(url), signer=None, model_name='m', vendor='acme'
                )
                assert response.body == b'{"ok":true}', verify
        assert len(server.exchanges) == 2


async def test_a_request_cancelled_before_the_head_closes_its_connection(http_transport: str) -> None:
    async def never_answer(exchange: Exchange) -> None:
        await exchange.wait_client_gone()

    async with serve(never_answer) as server, make_client(http_transport) as client:
        with anyio.move_on_after(0.2) as scope:
            await Transport(client, max_retries=0).send(
                post(f'{server.url}/v1/x'), signer=None, model_name='m', vendor='acme'
            )
        assert scope.cancelled_caught
        with anyio.fail_after(5):
            await server.wait_disconnects(1)  # the server sees the close: nothing is left half-open
        server.handler = ok
        response = await Transport(client, max_retries=0).send(
            post(f'{server.url}/v1/x'), signer=None, model_name='m', vendor='acme'
        )
        assert response.body == b'{"ok":true}'
        assert server.connections == 2


@pytest.mark.parametrize('anyio_backend', ['trio'])
async def test_a_client_on_the_aiohttp_transport_refuses_trio_with_our_error() -> None:
    require_fast()
    async with serve(ok) as server, make_client('aiohttp') as client:
        with pytest.raises(UserError, match='runs only on asyncio'):
            await Transport(client).send(
                post(f'{server.url}/v1/x'), signer=None, model_name='m', vendor='acme'
            )
