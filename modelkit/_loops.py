"""Which event loop is running: the key the shared clients and single flights are cached under.

Pure asyncio / trio look-ups, no HTTP; trio is imported only when trio is the one running. Also
which transport the shared client of a loop uses (the `fast` extra's aiohttp on asyncio).
"""

from __future__ import annotations

from .exceptions import UserError

__all__ = (
    'HTTP_TRANSPORT_ENV',
    '_current_loop',
    '_loop_has_ended',
    'fast_transport_installed',
    'http_transport_for',
)


def _current_loop() -> object:
    """The running asyncio loop or trio run, as a hashable, weakly referenceable key."""
    import asyncio

    try:
        import sniffio
    except ModuleNotFoundError:  # pragma: no cover - trio depends on sniffio, so only asyncio is possible
        library = 'asyncio'
    else:
        try:
            library = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            raise UserError(
                "modelkit's shared HTTP client needs a running event loop (asyncio or trio)"
            ) from None
    if library == 'trio':
        import trio

        return trio.lowlevel.current_trio_token()
    if library == 'asyncio':
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            raise UserError("modelkit's shared HTTP client needs a running event loop") from None
    raise UserError(f'modelkit runs on asyncio or trio, not {library}')


def _loop_has_ended(key: object) -> bool:
    import asyncio

    return key.is_closed() if isinstance(key, asyncio.AbstractEventLoop) else _trio_run_finished(key)


def _trio_run_finished(token: object) -> bool:
    import trio

    assert isinstance(token, trio.lowlevel.TrioToken)
    try:
        # The only public liveness check: a finished run refuses new callbacks.
        token.run_sync_soon(_noop)
    except trio.RunFinishedError:
        return True
    return False


def _noop() -> None:
    return None


HTTP_TRANSPORT_ENV = 'MODELKIT_HTTP_TRANSPORT'
"""Environment variable choosing the shared client's transport: `httpx` or `aiohttp`."""

_FAST_HINT = "install modelkit-wire's `fast` extra (httpx-aiohttp) for it"


def http_transport_for(key: object) -> str:
    """`'aiohttp'` or `'httpx'`: the transport of the shared client for the loop `key`.

    aiohttp when the `fast` extra is installed and the loop is asyncio's (uvloop's included),
    httpx's own on trio (aiohttp runs only on asyncio); `MODELKIT_HTTP_TRANSPORT` overrides.
    Looks the extra up without importing it: only the client built with it loads aiohttp.
    """
    import asyncio
    import os

    asked = os.environ.get(HTTP_TRANSPORT_ENV, '').strip().lower()
    on_asyncio = isinstance(key, asyncio.AbstractEventLoop)
    if asked == 'httpx':
        return 'httpx'
    if asked == 'aiohttp':
        if not on_asyncio:
            raise UserError(f'{HTTP_TRANSPORT_ENV}=aiohttp: aiohttp runs only on asyncio, not trio')
        if not fast_transport_installed():
            raise UserError(f'{HTTP_TRANSPORT_ENV}=aiohttp: {_FAST_HINT}')
        return 'aiohttp'
    if asked:
        raise UserError(f'{HTTP_TRANSPORT_ENV} is {asked!r}: use httpx or aiohttp')
    return 'aiohttp' if on_asyncio and fast_transport_installed() else 'httpx'


def fast_transport_installed() -> bool:
    """Whether httpx-aiohttp (and so aiohttp) can be imported."""
    from importlib.util import find_spec

    return find_spec('httpx_aiohttp') is not None and find_spec('aiohttp') is not None
