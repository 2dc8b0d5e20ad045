"""The shared client: one per event loop, created lazily, replaced when closed, never leaked."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from modelkit import _clients
from modelkit._transport import HTTPRequest, Transport, aclose_shared_http_client, shared_http_client
from modelkit.exceptions import UserError
from tests.transport.loopback import Exchange, serve


async def hello(exchange: Exchange) -> None:
    await exchange.respond(200, b'hello')


async def request_through_shared_client() -> httpx.AsyncClient:
    """One real request through the shared client, which is closed before the loop ends."""
    async with serve(hello) as server:
        transport = Transport()
        response = await transport.send(
            HTTPRequest('GET', f'{server.url}/'), signer=None, model_name='m', vendor='loopback'
        )
        assert response.body == b'hello'
        client = transport.client
        await aclose_shared_http_client()
        assert client.is_closed
        return client


def test_sequential_event_loops_get_their_own_client(stack: tuple[str, str]) -> None:
    backend = stack[0]
    first = anyio.run(request_through_shared_client, backend=backend)
    second = anyio.run(request_through_shared_client, backend=backend)  # the first loop is closed now
    assert first is not second


def test_a_dead_loops_client_is_not_kept(stack: tuple[str, str]) -> None:
    backend = stack[0]

    async def make() -> weakref.ref[httpx.AsyncClient]:
        return weakref.ref(shared_http_client())

    first = anyio.run(make, backend=backend)
    anyio.run(make, backend=backend)
    gc.collect()
    assert first() is None
    assert len(_clients._shared_clients) <= 1


def test_each_threads_loop_gets_its_own_client(stack: tuple[str, str]) -> None:
    clients: dict[str, httpx.AsyncClient] = {}

    def run(name: str) -> None:
        async def main() -> None:
            clients[name] = shared_http_client()
            await aclose_shared_http_client()

        anyio.run(main, backend=stack[0])

    threads = [threading.Thread(target=run, args=(name,)) for name in ('a', 'b')]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clients['a'] is not clients['b']


@pytest.fixture
async def closes_shared_client() -> AsyncIterator[None]:
    yield
    await aclose_shared_http_client()


@pytest.mark.anyio
async def test_same_loop_shares_one_client_and_replaces_a_closed_one(closes_shared_client: None) -> None:
    first = shared_http_client()
    assert Transport().client is first
    assert Transport().client is shared_http_client()
    await first.aclose()
    second = shared_http_client()
    assert second is not first
    assert not second.is_closed


@pytest.mark.anyio
async def test_a_callers_client_is_used_and_left_alone() -> None:
    async with httpx.AsyncClient() as mine:
        transport = Transport(mine)
        assert transport.client is mine
        await aclose_shared_http_client()
        assert not mine.is_closed
    other = httpx.AsyncClient()
    await Transport(other).aclose()
    assert other.is_closed


@pytest.mark.anyio
async def test_shared_client_limits_and_headers(closes_shared_client: None) -> None:
    from modelkit import __version__

    client = shared_http_client()
    assert client.headers['user-agent'] == f'modelkit/{__version__}'
    assert client.timeout == httpx.Timeout(600.0, connect=5.0)


def test_construction_outside_any_loop_creates_no_client() -> None:
    transport = Transport()
    assert transport._http_client is None
    with pytest.raises(UserError, match='running event loop'):
        shared_http_client()


def test_a_finished_loop_that_is_still_referenced_loses_its_client(stack: tuple[str, str]) -> None:
    backend = stack[0]
    pinned: list[object] = []

    async def make() -> weakref.ref[httpx.AsyncClient]:
        pinned.append(_clients._current_loop())  # like open connections would, keep the loop alive
        return weakref.ref(shared_http_client())

    first = anyio.run(make, backend=backend)
    anyio.run(make, backend=backend)  # creating the second client sweeps finished loops
    gc.collect()
    assert first() is None
    assert pinned[0] not in _clients._shared_clients
