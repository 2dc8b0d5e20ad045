"""Signers, expiring credentials and environment look-ups shared by providers.

A signer adds credentials to the `WireRequest` the transport is about to send (see
`modelkit._signing`). The ones here:

- `header_signer` / `bearer_signer`: a fixed API key in a header.
- `callable_signer`: asks a function for the credential before every attempt (Azure token providers).
- `TokenSigner`: a bearer token that expires (Google's OAuth tokens): cached, refreshed
  `TOKEN_REFRESH_MARGIN_SECONDS` before expiry, fetched once for any number of concurrent requests,
  refreshed and retried once on a 401.

`ExpiringCache` is the cache under `TokenSigner`, usable alone for any expiring credential (AWS
session credentials for SigV4), and `SingleFlight` the primitive under both and under
`Provider`'s first-use hook. Each signer reports its secrets for masking and never shows them in a
repr.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from .._fieldwise import fieldwise
from .._signing import Signer, WireRequest

if TYPE_CHECKING:
    import anyio

__all__ = (
    'TOKEN_REFRESH_MARGIN_SECONDS',
    'Expiring',
    'ExpiringCache',
    'SingleFlight',
    'Token',
    'TokenSigner',
    'bearer_signer',
    'callable_signer',
    'env',
    'header_signer',
)

T = TypeVar('T')

TOKEN_REFRESH_MARGIN_SECONDS = 300.0
"""How long before its expiry a credential is replaced. Five minutes covers clock skew between us
and the issuer, a request signed now that arrives later, and a slow or failed refresh that must be
tried again, while an hour-long Google token is still used for 55 minutes (google-auth itself
refreshes 3 min 45 s early; botocore's advisory refresh is at 15 minutes)."""

TokenSource = Callable[[], 'str | Awaitable[str]']
"""Returns a fresh credential: a plain function or a coroutine function (e.g. an Entra ID token provider)."""


def env(name: str | None) -> str | None:
    """The environment variable `name`, with unset and empty treated alike."""
    if name is None:
        return None
    return os.environ.get(name) or None


# -- single flight ---------------------------------------------------------------------------------


class _Flight(Generic[T]):
    __slots__ = ('abandoned', 'done', 'error', 'loop', 'result')

    def __init__(self, loop: object, done: anyio.Event) -> None:
        self.loop = loop
        self.done = done  # an event of `loop`: awaitable only there
        self.result: T | None = None
        self.error: Exception | None = None
        self.abandoned = False


class SingleFlight(Generic[T]):
    """Runs one piece of async work at a time; callers that arrive meanwhile wait and share its outcome.

    A failure is raised to the caller that ran the work and to every waiter; the next call (after
    the failure) runs the work again. If the runner is cancelled, one of the waiters runs it instead.
    Works on asyncio and trio (anyio); the waiting is per event loop.
    """

    __slots__ = ('_flight',)

    def __init__(self) -> None:
        self._flight: _Flight[T] | None = None

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """The result of `work()`, run now or by the call already in flight."""
        import anyio

        from .._loops import _current_loop

        loop = _current_loop()
        while True:
            flight = self._flight
            if flight is None or flight.loop is not loop:
                break
            await flight.done.wait()
            if flight.abandoned:
                continue  # the runner was cancelled: someone must run it again, maybe us
            if flight.error is not None:
                raise flight.error
            return flight.result  # type: ignore[return-value]
        flight = _Flight[T](loop, anyio.Event())
        self._flight = flight
        try:
            result = await work()
        except Exception as exc:
            flight.error = exc
            raise
        except BaseException:
            flight.abandoned = True  # cancelled (or KeyboardInterrupt): not an answer to share
            raise
        else:
            flight.result = result
            return result
        finally:
            if self._flight is flight:
                self._flight = None
            flight.done.set()


# -- expiring credentials --------------------------------------------------------------------------


@fieldwise
@dataclass(
    frozen=True, repr=False, eq=False
)  # not slots: `Expiring[str](...)` sets `__orig_class__`, which slots forbid
class Expiring(Generic[T]):
    """A credential and when it stops working (`time.time()` seconds; None: it does not expire)."""

    value: T
    expires_at: float | None = None


Token = Expiring[str]
"""A bearer token and its expiry, as a `TokenSigner`'s fetch function returns it."""


class ExpiringCache(Generic[T]):
    """Holds one expiring credential: `get()` fetches when there is none or it is about to expire.

    `fetch` is async (run blocking SDK calls in `anyio.to_thread.run_sync`); concurrent `get()`s
    share one fetch (`SingleFlight`).
    """

    __slots__ = ('_clock', '_current', '_fetch', '_flight', '_margin')

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Expiring[T]]],
        *,
        refresh_margin: float = TOKEN_REFRESH_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._margin = refresh_margin
        self._clock = clock
        self._current: Expiring[T] | None = None
        self._flight: SingleFlight[Expiring[T]] = SingleFlight()

    @property
    def current(self) -> T | None:
        """The credential held now, fresh or not (None before the first fetch)."""
        return self._current.value if self._current is not None else None

    def fresh(self) -> bool:
        """Whether the held credential is usable for at least `refresh_margin` more seconds."""
        current = self._current
        if current is None:
            return False
        return current.expires_at is None or self._clock() < current.expires_at - self._margin

    async def get(self) -> T:
        """A credential valid for at least `refresh_margin` seconds (fetched if needed)."""
        if self.fresh():
            return self._current.value  # type: ignore[union-attr]
        return (await self._flight.run(self._refresh)).value

    def invalidate(self, stale: T | None = None) -> None:
        """Drop the held credential (only if it is still `stale`, when given), so `get()` fetches."""
        if self._current is not None and (stale is None or self._current.value == stale):
            self._current = None

    async def _refresh(self) -> Expiring[T]:
        if self.fresh():  # another flight on this loop finished just before we started
            return self._current  # type: ignore[return-value]
        credential = await self._fetch()
        self._current = credential
        return credential

    def __repr__(self) -> str:
        return f'{type(self).__name__}(held={self._current is not None})'


# -- signers ---------------------------------------------------------------------------------------


class HeaderSigner(Signer):
    """Sets one header to a fixed secret value."""

    __slots__ = ('_header', '_secrets', '_value')

    def __init__(self, header: str, value: str, *, secrets: Iterable[str] = ()) -> None:
        self._header = header
        self._value = value
        self._secrets = (value, *secrets)

    async def sign(self, request: WireRequest) -> None:
        """Set the header."""
        request.headers[self._header] = self._value

    def secrets(self) -> Iterable[str]:
        """The header value (and the key inside it)."""
        return self._secrets

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self._header!r})'


def header_signer(header: str, value: str) -> Signer:
    """A signer that sets `header` to a fixed secret value (e.g. Azure's `api-key`)."""
    return HeaderSigner(header, value)


def bearer_signer(api_key: str) -> Signer:
    """A signer that sends `Authorization: Bearer <api_key>`."""
    return HeaderSigner('Authorization', f'Bearer {api_key}', secrets=(api_key,))


class _CallableSigner(Signer):
    __slots__ = ('_header', '_last', '_prefix', '_source')

    def __init__(self, source: TokenSource, header: str, prefix: str) -> None:
        self._source = source
        self._header = header
        self._prefix = prefix
        self._last: str | None = None

    async def sign(self, request: WireRequest) -> None:
        token = self._source()
        if inspect.isawaitable(token):
            token = await token
        self._last = token
        request.headers[self._header] = f'{self._prefix}{token}'

    def secrets(self) -> Iterable[str]:
        return (self._last,) if self._last else ()

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self._header!r})'


def callable_signer(source: TokenSource, *, header: str = 'Authorization', prefix: str = 'Bearer ') -> Signer:
    """A signer that asks `source` for a credential before every attempt (tokens expire)."""
    return _CallableSigner(source, header, prefix)


class TokenSigner(Signer):
    """`Authorization: Bearer <token>` from an expiring token, fetched by `fetch` when needed.

    The token is cached and replaced `refresh_margin` seconds before it expires; any number of
    concurrent requests with no fresh token make one fetch; a 401 drops the token the request
    carried, and the transport signs again (fetching a new one) and retries once.

    ```python
    async def fetch() -> Token:
        await anyio.to_thread.run_sync(credentials.refresh, google_request)
        return Token(credentials.token, credentials.expiry.replace(tzinfo=UTC).timestamp())

    provider = Provider(name='google-vertex', base_url=url, signer=TokenSigner(fetch))
    ```
    """

    __slots__ = ('_cache', '_header', '_prefix')

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Token]],
        *,
        header: str = 'Authorization',
        prefix: str = 'Bearer ',
        refresh_margin: float = TOKEN_REFRESH_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cache: ExpiringCache[str] = ExpiringCache(fetch, refresh_margin=refresh_margin, clock=clock)
        self._header = header
        self._prefix = prefix

    async def token(self) -> str:
        """A token valid for at least the refresh margin (fetched if needed)."""
        return await self._cache.get()

    async def sign(self, request: WireRequest) -> None:
        """Set the header to the current token."""
        request.headers[self._header] = f'{self._prefix}{await self._cache.get()}'

    def secrets(self) -> Iterable[str]:
        """The token held now."""
        current = self._cache.current
        return (current,) if current else ()

    async def unauthorized(self, request: WireRequest) -> bool:
        """Drop the token the refused request carried (a concurrent 401 may have already) and retry."""
        sent = request.headers.get(self._header, '')
        self._cache.invalidate(sent.removeprefix(self._prefix) if sent else None)
        return True

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self._header!r})'
