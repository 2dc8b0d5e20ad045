"""The shared pooled HTTP client, one per running event loop, and how it is made.

Part of the transport room (see `modelkit._transport`, which re-exports the public names): a
client's connections belong to the loop that opened them, so the shared client is cached per
running loop (asyncio loop or trio run), created at first use, never at import or construction,
and closed when its loop ends. On asyncio with the `fast` extra installed it is an
`httpx.AsyncClient` over aiohttp (`modelkit._aiohttp`); `modelkit._loops.http_transport_for` decides.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import AsyncGenerator

import httpx

from ._loops import _current_loop, _loop_has_ended, http_transport_for

__all__ = (
    'CONNECT_TIMEOUT_SECONDS',
    'DEFAULT_TIMEOUT_SECONDS',
    'KEEPALIVE_EXPIRY_SECONDS',
    'MAX_CONNECTIONS',
    'MAX_KEEPALIVE_CONNECTIONS',
    'aclose_shared_http_client',
    'shared_http_client',
)

CONNECT_TIMEOUT_SECONDS = 5.0
"""Default time to open a connection: a healthy vendor endpoint answers a TCP/TLS handshake in well
under a second, so five seconds separates "down or unreachable" from "slow" (the vendor SDKs' value)."""

DEFAULT_TIMEOUT_SECONDS = 600.0
"""Default read, write and pool timeout: long reasoning responses can take minutes before the first
byte, and a stream may pause between events; ten minutes matches the vendor SDKs."""

MAX_CONNECTIONS = 1000
"""Pool-wide cap on open connections, high enough never to throttle a busy agent fleet."""

MAX_KEEPALIVE_CONNECTIONS = 100
"""Idle connections kept for reuse; more only holds sockets nobody is waiting for."""

KEEPALIVE_EXPIRY_SECONDS = 30.0
"""How long an idle connection is kept. Agents pause for tool calls and users between requests, and
a fresh TLS handshake costs a round trip or two; httpcore drops a connection the server has already
closed before reusing it, and a stale one that slips through is retried as a connect failure."""


# -- the shared client, one per event loop ---------------------------------------------------------

_shared_clients: weakref.WeakKeyDictionary[object, httpx.AsyncClient] = weakref.WeakKeyDictionary()
"""Running loop (asyncio loop or trio token) -> its client. Weak keys: a loop that is garbage
collected takes its entry along; `_forget_dead_loops` drops the ones that are closed but alive."""

_shared_lock = threading.Lock()
"""Each thread runs its own loop, but they share the cache."""


def shared_http_client() -> httpx.AsyncClient:
    """The pooled client shared by every provider in the running event loop (created on first use)."""
    key = _current_loop()
    client = _shared_clients.get(key)
    if client is None or client.is_closed:
        with _shared_lock:
            client = _shared_clients.get(key)
            if client is None or client.is_closed:
                _forget_dead_loops()
                client = _new_client(http_transport_for(key))
                _shared_clients[key] = client
    return client


_loop_closers: weakref.WeakKeyDictionary[object, tuple[httpx.AsyncClient, AsyncGenerator[None, None]]] = (
    weakref.WeakKeyDictionary()
)
"""Running loop -> (its shared client, a started async generator whose `finally` closes that client).

Both asyncio (`shutdown_asyncgens`, called by `asyncio.run` and anyio) and trio finalize the async
generators still alive when their loop ends, so parking one per shared client closes the client's
connections before the loop goes away: users who never call `aclose_shared_http_client` get no
"unclosed transport" warnings and no sockets left behind."""


async def _loop_shared_client() -> httpx.AsyncClient:
    client = shared_http_client()
    key = _current_loop()
    entry = _loop_closers.get(key)
    if entry is None or entry[0] is not client:
        if entry is not None:
            # The loop's earlier client was closed and replaced: finish its closer now, since
            # trio warns about an async generator garbage collected before it finished.
            await entry[1].aclose()
        closer = _close_at_loop_end(client)
        _loop_closers[key] = (client, closer)
        await closer.asend(None)  # runs to its `yield`: from now on the loop will finalize it
    return client


async def _close_at_loop_end(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    import anyio

    try:
        yield
    finally:
        if not client.is_closed:
            with anyio.CancelScope(shield=True):
                await client.aclose()


async def aclose_shared_http_client() -> None:
    """Close the running event loop's shared client (run_sync calls this before its loop ends)."""
    import anyio

    key = _current_loop()
    with _shared_lock:
        client = _shared_clients.pop(key, None)
    entry = _loop_closers.pop(key, None)
    with anyio.CancelScope(shield=True):
        if client is not None and not client.is_closed:
            await client.aclose()
        if entry is not None:
            await entry[1].aclose()  # finished, not left for the garbage collector (trio warns)


def _new_client(kind: str = 'httpx') -> httpx.AsyncClient:
    """A pooled client on httpx's own transport, or (`kind='aiohttp'`) on aiohttp's: same settings."""
    from . import __version__

    client_class = httpx.AsyncClient
    if kind == 'aiohttp':
        from ._aiohttp import AiohttpClient

        client_class = AiohttpClient
    return client_class(
        timeout=httpx.Timeout(DEFAULT_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
        ),
        headers={'User-Agent': f'modelkit/{__version__}'},
    )


def _drop_idle_connections(client: httpx.AsyncClient | None) -> None:
    """Forget a client's idle pooled connections (httpcore keeps them in `_pool._connections`)."""
    pool = getattr(getattr(client, '_transport', None), '_pool', None)
    connections = getattr(pool, '_connections', None)
    if isinstance(connections, list):
        connections[:] = [c for c in connections if not c.is_idle()]


def _forget_dead_loops() -> None:
    """Drop clients of loops that have ended but are still referenced (their connections pin them)."""
    for key in list(_shared_clients.keys()):
        # Only trio tokens reach _trio_run_finished, so trio is imported only when it is in use.
        if _loop_has_ended(key):
            _shared_clients.pop(key, None)
