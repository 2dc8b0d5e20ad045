"""Signing happens last: what a signer signs is byte for byte what a server on 127.0.0.1 receives."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping

import httpx
import pytest

from modelkit._signing import Signer, WireRequest
from modelkit._transport import HTTPRequest, Transport
from modelkit.exceptions import ModelHTTPError
from tests.transport.loopback import Exchange, serve
from tests.transport.stacks import make_client

pytestmark = pytest.mark.anyio

SIGNATURE_HEADER = 'x-test-signature'


def digest(method: str, target: str, headers: Mapping[str, str], body: bytes) -> str:
    """A canonical hash like SigV4's: method, target (path and query as sent), every header, body."""
    lines = [method, target]
    lines += sorted(
        f'{name.lower()}:{value}' for name, value in headers.items() if name.lower() != SIGNATURE_HEADER
    )
    lines.append(hashlib.sha256(body).hexdigest())
    return hashlib.sha256('\n'.join(lines).encode()).hexdigest()


class HashingSigner(Signer):
    """Signs every header present (like SigV4 with no exclusions), with a fresh date per attempt."""

    def __init__(self) -> None:
        self.signed: list[str] = []
        self.dates: list[str] = []

    async def sign(self, request: WireRequest) -> None:
        date = f'20261201T0000{len(self.dates):02d}Z'  # a fresh timestamp per attempt
        self.dates.append(date)
        request.headers['X-Amz-Date'] = date
        target = request.path + (f'?{request.query}' if request.query else '')
        signature = digest(request.method, target, request.headers, request.body)
        self.signed.append(signature)
        request.headers[SIGNATURE_HEADER] = signature


def received_digest(exchange: Exchange) -> str:
    return digest(exchange.request.method.decode(), exchange.target, exchange.headers, exchange.body)


@pytest.fixture
async def client(http_transport: str) -> AsyncIterator[httpx.AsyncClient]:
    # A caller's client with auth and redirects configured: neither may touch a signed request.
    async with make_client(
        http_transport, auth=httpx.BasicAuth('user', 'pass'), follow_redirects=True
    ) as client:
        yield client


def request_to(url: str) -> HTTPRequest:
    return HTTPRequest(
        'POST',
        f'{url}/model/us.anthropic.claude-3%3A0/converse',
        {'Content-Type': 'application/json', 'X-Custom': 'Mixed Case Value'},
        '{"text": "héllo wörld"}'.encode(),
        {'b': 'two words', 'a': 'x/y:z', 'ü': 'ß'},
    )


async def test_the_server_receives_exactly_what_was_signed(client: httpx.AsyncClient) -> None:
    async def ok(exchange: Exchange) -> None:
        await exchange.respond(200, b'{}')

    signer = HashingSigner()
    async with serve(ok) as server:
        await Transport(client).send(request_to(server.url), signer=signer, model_name='m', vendor='acme')
    [exchange] = server.exchanges
    assert exchange.headers[SIGNATURE_HEADER] == received_digest(exchange) == signer.signed[0]
    # httpx's own headers were in place before signing, so the signature covers them ...
    for name in ('host', 'content-length', 'accept-encoding', 'user-agent', 'accept'):
        assert name in exchange.headers
    # ... the client's auth was not applied after it, and the query went out as signed.
    assert 'authorization' not in exchange.headers
    assert exchange.target.startswith('/model/us.anthropic.claude-3%3A0/converse?')


async def test_every_retry_is_signed_again_with_a_fresh_date(client: httpx.AsyncClient) -> None:
    async def busy_then_ok(exchange: Exchange) -> None:
        await exchange.respond(503 if len(server.exchanges) == 1 else 200, b'{}')

    signer = HashingSigner()
    transport = Transport(client, max_retries=1)
    transport.initial_backoff = transport.max_backoff = 0.001
    async with serve(busy_then_ok) as server:
        await transport.send(request_to(server.url), signer=signer, model_name='m', vendor='acme')
    first, second = server.exchanges
    assert first.headers['x-amz-date'] != second.headers['x-amz-date']
    for exchange, signature in zip(server.exchanges, signer.signed, strict=True):
        assert exchange.headers[SIGNATURE_HEADER] == received_digest(exchange) == signature


async def test_a_redirect_is_not_followed_with_the_signature(client: httpx.AsyncClient) -> None:
    async def redirect(exchange: Exchange) -> None:
        await exchange.respond(307, b'', [('location', '/elsewhere')])

    async with serve(redirect) as server:
        with pytest.raises(ModelHTTPError) as info:
            await Transport(client).send(
                request_to(server.url), signer=HashingSigner(), model_name='m', vendor='acme'
            )
    assert info.value.status_code == 307
    assert len(server.exchanges) == 1


async def test_a_plain_async_function_still_signs(client: httpx.AsyncClient) -> None:
    async def ok(exchange: Exchange) -> None:
        await exchange.respond(200, b'{}')

    async def sign(request: WireRequest) -> None:
        request.headers['authorization'] = 'Bearer function-signed-token'

    async with serve(ok) as server:
        await Transport(client).send(request_to(server.url), signer=sign, model_name='m', vendor='acme')
    assert server.exchanges[0].headers['authorization'] == 'Bearer function-signed-token'
