"""The provider's first-use hook and the token signer, over a real server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from modelkit.exceptions import ModelHTTPError, UserError
from modelkit.providers import Provider
from modelkit.providers._auth import TOKEN_REFRESH_MARGIN_SECONDS, SingleFlight, Token, TokenSigner
from tests.transport.loopback import Exchange, Server, serve

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200)) as client:
        yield client


async def ok(exchange: Exchange) -> None:
    await exchange.respond(200, b'{}')


class LateProvider(Provider):
    """Like Vertex: the base URL and the signer are known only after I/O at the first request."""

    def __init__(self, server: Server, client: httpx.AsyncClient, failures: int = 0) -> None:
        super().__init__(name='late', base_url='http://unresolved.invalid', http_client=client)
        self._server = server
        self.setups = 0
        self._failures = failures

    async def setup(self) -> None:
        self.setups += 1
        await anyio.sleep(0.05)  # stands in for google.auth.default() in a thread
        if self.setups <= self._failures:
            raise UserError(f'no credentials found (attempt {self.setups})')
        self._base_url = f'{self._server.url}/v1/projects/p'
        self.set_signer(TokenSigner(self._fetch))

    async def _fetch(self) -> Token:
        return Token('ya29.first-use-token-value', None)


async def test_construction_does_no_work_and_100_first_requests_run_the_hook_once(
    client: httpx.AsyncClient,
) -> None:
    async with serve(ok) as server:
        provider = LateProvider(server, client)
        assert provider.setups == 0
        # Built before the hook ran: routed again once it has set the base URL.
        requests = [provider.build_request('POST', '/models/m:generateContent', b'{}') for _ in range(100)]

        async with anyio.create_task_group() as tg:
            for request in requests:
                tg.start_soon(lambda r=request: provider.send(r, model_name='m'))
    assert provider.setups == 1
    assert len(server.exchanges) == 100
    assert {e.target for e in server.exchanges} == {'/v1/projects/p/models/m:generateContent'}
    assert {e.headers['authorization'] for e in server.exchanges} == {'Bearer ya29.first-use-token-value'}


async def test_a_failed_hook_reaches_every_waiter_and_the_next_request_tries_again(
    client: httpx.AsyncClient,
) -> None:
    async with serve(ok) as server:
        provider = LateProvider(server, client, failures=1)
        errors = await failures_of(
            lambda: provider.send(provider.build_request('POST', '/x', b'{}'), model_name='m'), 10
        )
        assert len(errors) == 10
        assert all('attempt 1' in str(e) for e in errors)
        assert provider.setups == 1
        assert server.exchanges == []

        await provider.send(provider.build_request('POST', '/x', b'{}'), model_name='m')
    assert provider.setups == 2
    assert len(server.exchanges) == 1


async def test_a_cancelled_hook_is_run_again_by_a_waiter() -> None:
    flight: SingleFlight[str] = SingleFlight()
    runs = 0

    async def work() -> str:
        nonlocal runs
        runs += 1
        await anyio.sleep(0.05)
        return f'run {runs}'

    results: list[str] = []

    async def wait_for_it() -> None:
        results.append(await flight.run(work))

    doomed = anyio.CancelScope()

    async def runner_that_is_cancelled() -> None:
        with doomed:
            await flight.run(work)

    async with anyio.create_task_group() as tg:
        tg.start_soon(runner_that_is_cancelled)
        await anyio.sleep(0.01)
        tg.start_soon(wait_for_it)
        await anyio.sleep(0.01)
        doomed.cancel()
    assert runs == 2
    assert results == ['run 2']


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingFetch:
    """A token endpoint stand-in: each fetch takes `delay` seconds and issues `{prefix}-{n}`."""

    def __init__(self, prefix: str, delay: float = 0.0) -> None:
        self.prefix = prefix
        self.delay = delay
        self.count = 0

    async def __call__(self) -> Token:
        self.count += 1
        await anyio.sleep(self.delay)
        return Token(f'{self.prefix}-{self.count}', None)


async def failures_of(call: object, times: int) -> list[UserError]:
    """Run `call()` `times` times at once; the `UserError`s they raised."""
    failures: list[UserError] = []

    async def one() -> None:
        try:
            await call()  # type: ignore[operator]
        except UserError as exc:
            failures.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(times):
            tg.start_soon(one)
    return failures


async def send_concurrently(provider: Provider, requests: int) -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(requests):
            tg.start_soon(lambda: provider.send(provider.build_request('POST', '/x', b'{}'), model_name='m'))


async def test_100_concurrent_requests_with_no_token_make_exactly_one_fetch(
    client: httpx.AsyncClient,
) -> None:
    fetch = CountingFetch('token-number', delay=0.05)
    async with serve(ok) as server:
        await send_concurrently(
            Provider(name='t', base_url=server.url, signer=TokenSigner(fetch), http_client=client), 100
        )
    assert fetch.count == 1
    assert {e.headers['authorization'] for e in server.exchanges} == {'Bearer token-number-1'}


async def test_the_token_is_cached_and_refreshed_a_margin_before_expiry() -> None:
    clock = Clock()
    issued: list[float] = []

    async def fetch() -> Token:
        issued.append(clock.now)
        return Token(f'token-issued-at-{clock.now:.0f}', clock.now + 3600)

    signer = TokenSigner(fetch, clock=clock)
    first = await signer.token()
    clock.now += 3600 - TOKEN_REFRESH_MARGIN_SECONDS - 1
    assert await signer.token() == first  # still more than the margin left
    clock.now += 2
    assert await signer.token() != first  # inside the margin: replaced before it expires
    assert len(issued) == 2


async def test_a_failed_fetch_reaches_every_waiter_and_the_next_call_fetches_again() -> None:
    calls = 0

    async def fetch() -> Token:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.02)
        if calls == 1:
            raise UserError('the token endpoint said no')
        return Token('token-after-failure', None)

    signer = TokenSigner(fetch)
    failures = await failures_of(signer.token, 20)
    assert len(failures) == 20
    assert calls == 1
    assert await signer.token() == 'token-after-failure'
    assert calls == 2


def token_server(valid: set[str]) -> object:
    async def handler(exchange: Exchange) -> None:
        token = exchange.headers.get('authorization', '').removeprefix('Bearer ')
        await exchange.respond(200 if token in valid else 401, b'{"error": "token expired"}')

    return handler


async def test_a_401_refreshes_once_and_retries_once(client: httpx.AsyncClient) -> None:
    tokens = iter(['revoked-token-1', 'good-token-2'])
    fetched: list[str] = []

    async def fetch() -> Token:
        fetched.append(next(tokens))
        return Token(fetched[-1], None)

    async with serve(token_server({'good-token-2'})) as server:  # type: ignore[arg-type]
        provider = Provider(
            name='t', base_url=server.url, signer=TokenSigner(fetch), http_client=client, max_retries=0
        )
        await provider.send(provider.build_request('POST', '/x', b'{}'), model_name='m')
    assert fetched == ['revoked-token-1', 'good-token-2']
    assert [e.headers['authorization'] for e in server.exchanges] == [
        'Bearer revoked-token-1',
        'Bearer good-token-2',
    ]


async def test_a_second_401_is_raised_after_one_refresh(client: httpx.AsyncClient) -> None:
    fetch = CountingFetch('never-accepted')
    async with serve(token_server(set())) as server:  # type: ignore[arg-type]
        provider = Provider(name='t', base_url=server.url, signer=TokenSigner(fetch), http_client=client)
        with pytest.raises(ModelHTTPError) as info:
            await provider.send(provider.build_request('POST', '/x', b'{}'), model_name='m')
    assert info.value.status_code == 401
    assert fetch.count == 2
    assert len(server.exchanges) == 2  # 401 is not retried beyond the one refresh


async def test_concurrent_401s_make_one_refresh(client: httpx.AsyncClient) -> None:
    fetch = CountingFetch('token-generation', delay=0.02)
    signer = TokenSigner(fetch)
    await signer.token()  # every request starts with generation 1, which the server refuses
    async with serve(token_server({'token-generation-2'})) as server:  # type: ignore[arg-type]
        await send_concurrently(
            Provider(name='t', base_url=server.url, signer=signer, http_client=client), 30
        )
    assert fetch.count == 2
    assert len(server.exchanges) == 60
