"""The `fast` extra: which transport the shared client gets, and what must be alike on both.

Choice: aiohttp on asyncio when installed, httpx's own on trio, `MODELKIT_HTTP_TRANSPORT`
overriding; a caller's client is never changed; importing an interface does not load aiohttp.
Alike (each test runs on every stack of tests/transport/stacks.py): URLs go out byte for byte,
environment proxies are used, TLS verification refuses an unknown certificate and trusts one
named by SSL_CERT_FILE, pool limits hold and a full pool times out, every loop its own session.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import httpx
import pytest
from anyio.streams.tls import TLSListener

from modelkit._transport import HTTPRequest, Transport, aclose_shared_http_client, shared_http_client
from modelkit.exceptions import ModelConnectionError, ModelTimeoutError, UserError
from tests.helpers.ci import skip_unless_ci
from tests.transport.loopback import Exchange, LineParser, Server, serve
from tests.transport.stacks import HTTP_TRANSPORT_ENV, make_client, require_fast

pytestmark = pytest.mark.anyio


def post(url: str) -> HTTPRequest:
    return HTTPRequest('POST', url, {'content-type': 'application/json'}, b'{}')


async def ok(exchange: Exchange) -> None:
    await exchange.respond(200, b'{"ok":true}', [('content-type', 'application/json')])


@pytest.fixture
async def shared_closed() -> AsyncIterator[None]:
    yield
    await aclose_shared_http_client()


# -- which transport -------------------------------------------------------------------------------


async def test_the_shared_client_is_on_the_stacks_transport(http_transport: str, shared_closed: None) -> None:
    async with serve(ok) as server:
        await Transport().send(post(f'{server.url}/v1/x'), signer=None, model_name='m', vendor='acme')
    expected = 'AiohttpModelkitTransport' if http_transport == 'aiohttp' else 'AsyncHTTPTransport'
    assert type(shared_http_client()._transport).__name__ == expected


async def test_a_callers_client_is_never_changed(http_transport: str) -> None:
    async with httpx.AsyncClient() as mine, serve(ok) as server:
        transport = Transport(mine)
        await transport.send(post(f'{server.url}/v1/x'), signer=None, model_name='m', vendor='acme')
        assert transport.client is mine
        assert type(mine._transport) is httpx.AsyncHTTPTransport


@pytest.mark.parametrize('anyio_backend', ['asyncio'])
async def test_without_an_override_asyncio_gets_aiohttp(
    monkeypatch: pytest.MonkeyPatch, shared_closed: None
) -> None:
    require_fast()
    monkeypatch.delenv(HTTP_TRANSPORT_ENV)
    assert type(shared_http_client()).__name__ == 'AiohttpClient'


@pytest.mark.parametrize('anyio_backend', ['trio'])
async def test_trio_gets_httpx_and_refuses_an_aiohttp_override(
    monkeypatch: pytest.MonkeyPatch, shared_closed: None
) -> None:
    monkeypatch.delenv(HTTP_TRANSPORT_ENV)
    assert type(shared_http_client()) is httpx.AsyncClient
    await aclose_shared_http_client()
    monkeypatch.setenv(HTTP_TRANSPORT_ENV, 'aiohttp')
    with pytest.raises(UserError, match='aiohttp runs only on asyncio'):
        shared_http_client()


@pytest.mark.parametrize('anyio_backend', ['asyncio'])
async def test_an_unknown_override_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HTTP_TRANSPORT_ENV, 'curl')
    with pytest.raises(UserError, match=r"MODELKIT_HTTP_TRANSPORT is 'curl': use httpx or aiohttp"):
        shared_http_client()


LAZY_IMPORT = textwrap.dedent(
    """
    import asyncio, sys
    import modelkit.models.openai
    from modelkit.emulator import Emulator
    from modelkit.messages import ModelRequest, UserPromptPart
    from modelkit.models import ModelRequestParameters
    from modelkit.providers.openai import OpenAIProvider

    print('at import:', 'aiohttp' in sys.modules)

    async def main():
        async with Emulator() as emu:
            provider = OpenAIProvider(base_url=emu.base_url('openai'), api_key=emu.api_key)
            model = modelkit.models.openai.OpenAIModel('gpt-4o', provider=provider)
            print('after construction:', 'aiohttp' in sys.modules)
            await model.request([ModelRequest([UserPromptPart('hi')])], None, ModelRequestParameters())
        print('after a request:', 'aiohttp' in sys.modules)

    asyncio.run(main())
    """
)


def test_importing_an_interface_does_not_load_aiohttp_the_first_request_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_fast()
    monkeypatch.delenv(HTTP_TRANSPORT_ENV)
    result = subprocess.run(
        [sys.executable, '-c', LAZY_IMPORT], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split('\n')[:3] == [
        'at import: False',
        'after construction: False',
        'after a request: True',
    ]


def test_every_loop_and_thread_gets_its_own_session(stack: tuple[str, str]) -> None:
    backend, _ = stack
    seen: list[object] = []  # the sessions themselves, kept alive so no two can share an id

    async def one(url: str) -> None:
        await Transport().send(post(f'{url}/v1/x'), signer=None, model_name='m', vendor='acme')
        client = shared_http_client()
        seen.append(getattr(client._transport, 'client', client._transport))
        await aclose_shared_http_client()

    def serve_and_send(count: int) -> None:
        async def main() -> None:
            async with serve(ok) as server:
                await one(server.url)

        for _ in range(count):
            anyio.run(main, backend=backend)

    serve_and_send(2)
    worker = threading.Thread(target=serve_and_send, args=(1,))
    worker.start()
    worker.join(30)
    assert len(seen) == 3
    assert len({id(session) for session in seen}) == 3


# -- alike on both: the URL, proxies, TLS, pool limits -----------------------------------------------


async def test_the_url_goes_out_byte_for_byte(http_transport: str) -> None:
    # Bedrock's model ids are percent-encoded in the path and SigV4 signs that exact path.
    path = '/model/us.anthropic.claude%3A0%2Fv1/converse-stream?tag=a%2Fb&x=%3A'
    async with make_client(http_transport) as client, serve(ok) as server:
        await Transport(client).send(
            HTTPRequest(
                'POST', f'{server.url}{path.split("?")[0]}', {}, b'{}', params={'tag': 'a/b', 'x': ':'}
            ),
            signer=None,
            model_name='m',
            vendor='acme',
        )
        assert server.exchanges[0].target == path


async def test_a_proxy_from_the_environment_is_used(
    http_transport: str, monkeypatch: pytest.MonkeyPatch, shared_closed: None
) -> None:
    for name in ('NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy', 'http_proxy'):
        monkeypatch.delenv(name, raising=False)
    async with serve(ok) as proxy:
        monkeypatch.setenv('HTTP_PROXY', proxy.url)
        # Nothing listens at the origin: only a request sent through the proxy can succeed.
        response = await Transport().send(
            post('http://127.0.0.2:9/v1/x'), signer=None, model_name='m', vendor='acme'
        )
        assert response.body == b'{"ok":true}'
        assert proxy.exchanges[0].target == 'http://127.0.0.2:9/v1/x'  # the absolute form a proxy gets


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / 'cert.pem', tmp_path / 'key.pem'
    try:
        subprocess.run(
            ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
             '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
             '-keyout', str(key), '-out', str(cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    except FileNotFoundError:
        skip_unless_ci('the openssl command is not installed (it makes the test certificate)')
    return cert, key


def _chain(exc: BaseException | None) -> str:
    # trio's TLS error reaches httpx without a message: the reason is in the causes.
    parts = []
    while exc is not None:
        parts.append(f'{type(exc).__name__}: {exc}')
        exc = exc.__cause__ or exc.__context__
    return ' <- '.join(parts)


@asynccontextmanager
async def serve_tls(cert: Path, key: Path) -> AsyncIterator[Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = await anyio.create_tcp_listener(local_host='127.0.0.1')
    server = Server(listener.extra(anyio.abc.SocketAttribute.local_port), ok)
    async with (
        TLSListener(listener, context, standard_compatible=False) as tls,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(tls.serve, server._connection)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()


async def test_tls_verification_refuses_an_unknown_certificate_and_trusts_ssl_cert_file(
    http_transport: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_closed: None
) -> None:
    cert, key = _self_signed(tmp_path)
    monkeypatch.delenv('SSL_CERT_FILE', raising=False)
    monkeypatch.delenv('SSL_CERT_DIR', raising=False)
    async with serve_tls(cert, key) as server:
        url = f'https://127.0.0.1:{server.port}/v1/x'
        with pytest.raises(ModelConnectionError, match='could not connect') as caught:
            await Transport(max_retries=0).send(post(url), signer=None, model_name='m', vendor='acme')
        assert 'certificate' in _chain(caught.value).lower()  # not some other connect failure
        await aclose_shared_http_client()
        monkeypatch.setenv('SSL_CERT_FILE', str(cert))  # read when the next shared client is made
        response = await Transport(max_retries=0).send(post(url), signer=None, model_name='m', vendor='acme')
        assert response.body == b'{"ok":true}'


async def held_stream(exchange: Exchange) -> None:
    await exchange.start(200, [('content-type', 'text/plain')])
    await exchange.send(b'first\n')
    await exchange.wait_client_gone()


async def test_the_pool_limit_holds_and_a_full_pool_times_out(http_transport: str) -> None:
    limits = httpx.Limits(max_connections=2)
    timeout = httpx.Timeout(10.0, pool=0.3)
    async with (
        make_client(http_transport, limits=limits, timeout=timeout) as client,
        serve(held_stream) as server,
    ):
        transport = Transport(client, max_retries=0)
        opened: list[bytes] = []

        async def hold(done: anyio.Event, *, task_status: anyio.abc.TaskStatus[None]) -> None:
            async with transport.stream(
                post(f'{server.url}/v1/x'), signer=None, model_name='m', vendor='acme'
            ) as s:
                async for events in s.iter_parsed(LineParser()):
                    opened.extend(events)
                    break
                task_status.started()
                await done.wait()

        done = anyio.Event()
        async with anyio.create_task_group() as tg:
            await tg.start(hold, done)
            await tg.start(hold, done)
            assert len(opened) == 2
            with pytest.raises(ModelTimeoutError):
                await transport.send(post(f'{server.url}/v1/x'), signer=None, model_name='m', vendor='acme')
            assert server.connections == 2
            done.set()
