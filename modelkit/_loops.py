"""Which event loop is running: the key the shared clients and single flights are cached under.

Pure asyncio / trio look-ups, no HTTP; trio is imported only when trio is the one running.
"""

from __future__ import annotations

from .exceptions import UserError

__all__ = ('_current_loop', '_loop_has_ended')


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
