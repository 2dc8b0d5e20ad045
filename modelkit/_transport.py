"""The one room for HTTP: every byte modelkit sends or receives passes through here.

Only this module (and signers that must touch a request) imports httpx, so moving to another
httpx-compatible client is a change to one file. Everything above it speaks `HTTPRequest`,
`HTTPResponse` and `ResponseStream`.

What lives here: the shared pooled `httpx.AsyncClient` (one per event loop), timeouts, retries
with backoff, translating httpx errors into `modelkit.exceptions`, and the loop that reads a
streamed body and feeds a sans-I/O parser.

Two httpx details shape the code below:

- A client's connections belong to the event loop that opened them; using them from another loop
  fails with "Event loop is closed" or hangs. So the shared client is cached per running loop
  (asyncio loop or trio run), created at first use, never at import or construction.
- httpx reads a body through a chain of nested async generators. When a caller stops reading in
  the middle, those generators are left suspended and, under trio, each one warns when garbage
  collected. Closing the response and then pulling once more makes the innermost read fail, which
  unwinds (and so finishes) the whole chain; `_abandon` does exactly that.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar

import httpx
import orjson

from .exceptions import (
    ModelConnectionError,
    ModelHTTPError,
    ModelkitError,
    ModelTimeoutError,
    StreamInterrupted,
    StreamProtocolError,
    UserError,
)

if TYPE_CHECKING:
    from .parsers import Parser

__all__ = (
    'DEFAULT_MAX_RETRIES',
    'HTTPRequest',
    'HTTPResponse',
    'ResponseStream',
    'Signer',
    'Transport',
    'aclose_shared_http_client',
    'shared_http_client',
)

E = TypeVar('E')

DEFAULT_MAX_RETRIES = 2
"""Retries after the first attempt, for connect errors and 408/409/429/5xx (as the vendor SDKs do)."""

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

INITIAL_BACKOFF_SECONDS = 0.5
"""Upper bound of the first retry's random wait; it doubles each retry (full jitter)."""

MAX_BACKOFF_SECONDS = 8.0
"""Upper bound of any computed retry wait."""

MAX_RETRY_AFTER_SECONDS = 60.0
"""The longest `Retry-After` we wait for. Beyond it we give up at once and raise, so the caller sees
the status and `retry_after` and can decide (a 429 asking for an hour should not block a request)."""

MAX_ERROR_BODY_BYTES = 64 * 1024
"""How much of an error response we read: every vendor's error object fits many times over, and a
misconfigured proxy's HTML page or an error status on an endless stream cannot hold us."""

_MAX_PULLS_AFTER_CLOSE = 1000
"""Bound on the reads `_abandon` makes to unwind httpx's generators: after the connection is closed
only h11's already-buffered events can come out, then the read fails; this is only a safety net."""

_RETRY_STATUSES = frozenset({408, 409, 429})
"""Request timeout, conflict (lock contention) and rate limit: worth another try, like every 5xx."""

_RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
"""Failures before the response began: connecting, sending, a server that closed a pooled keep-alive
connection as we reused it, or no status line within the timeout."""

_logger = logging.getLogger('modelkit.transport')


@dataclass(slots=True)
class HTTPRequest:
    """A request as the interface built it: signers may add headers or query parameters."""

    method: str
    url: str
    """Full URL without query string."""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b''
    params: dict[str, str] = field(default_factory=dict)
    """Query parameters (Azure's `api-version`, Gemini's `alt=sse`, ...)."""


Signer = Callable[[HTTPRequest], Awaitable[None]]
"""Adds credentials to a request in place; called again before every retry (SigV4 signs the time)."""


@dataclass(slots=True)
class HTTPResponse:
    """A complete non-streamed 2xx response."""

    status_code: int
    headers: Mapping[str, str]
    body: bytes


class ResponseStream:
    """An open 2xx streamed response; iterate `iter_parsed` for events."""

    __slots__ = (
        '_chunks',
        '_closed',
        '_eof',
        '_model_name',
        '_response',
        '_vendor',
        'headers',
        'headers_at',
        'last_arrival',
        'status_code',
    )

    status_code: int
    headers: Mapping[str, str]
    headers_at: float
    """perf_counter() when the status line and headers arrived."""
    last_arrival: float
    """perf_counter() when the most recent body chunk arrived."""

    def __init__(self, response: httpx.Response, *, headers_at: float, model_name: str, vendor: str) -> None:
        self.status_code = response.status_code
        self.headers = response.headers
        self.headers_at = headers_at
        self.last_arrival = headers_at
        self._response = response
        self._model_name = model_name
        self._vendor = vendor
        self._chunks: AsyncIterator[bytes] | None = None
        self._eof = False
        self._closed = False

    def iter_parsed(self, parser: Parser[E]) -> AsyncIterator[list[E]]:
        """Feed every body chunk to `parser`, yielding the (non-empty) event list of each chunk.

        `last_arrival` is set as each chunk arrives, before it is fed, so an event's arrival time
        is `last_arrival` while its list is being handled. At end of body the parser is closed and
        its last events yielded; per the parser contract `close()` never raises for a body cut
        inside an event, it sets `parser.truncated`, which the caller's end-of-stream check reads
        (only the vendor's interface knows whether its end marker had already arrived).

        Raises `StreamInterrupted` if the connection drops or a read times out mid-body,
        `StreamProtocolError` from the parser for broken framing. Read to the end (rather than
        stopping at the vendor's end marker) so the connection goes back to the pool.
        """
        if self._chunks is not None:
            raise UserError('iter_parsed() reads the body once; it was already called on this stream')
        if self._closed:
            raise UserError('This stream is closed: iterate it inside its `async with` block')
        # aiter_bytes (not the raw stream) so a gzip- or deflate-encoded body is decoded.
        self._chunks = self._response.aiter_bytes()
        return _ParsedEvents(self, self._chunks, parser)

    def _interrupted(self, exc: Exception) -> ModelkitError:
        if isinstance(exc, httpx.DecodingError):
            return StreamProtocolError(f'{self._vendor} stream body could not be decoded: {exc}')
        reason = f'{type(exc).__name__}: {exc}' if str(exc) else type(exc).__name__
        return StreamInterrupted(f'{self._vendor} stream for {self._model_name!r} was interrupted ({reason})')

    async def _aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._chunks is not None and not self._eof:
            await _abandon(self._response, self._chunks)
        else:
            # Read to the end (or never started): closing returns a finished connection to the
            # pool and closes one whose body was not read.
            await self._response.aclose()


class _ParsedEvents(Generic[E]):
    """The read loop of `ResponseStream.iter_parsed`, as a plain async iterator.

    Not an async generator: a caller who stops early would leave one suspended, and trio warns about
    each such generator when it is garbage collected. This object holds nothing that needs closing.
    """

    __slots__ = ('_feed', '_finished', '_next_chunk', '_parser', '_stream')

    def __init__(self, stream: ResponseStream, chunks: AsyncIterator[bytes], parser: Parser[E]) -> None:
        self._stream = stream
        self._parser = parser
        self._feed = parser.feed
        self._next_chunk = chunks.__anext__
        self._finished = False

    def __aiter__(self) -> _ParsedEvents[E]:
        return self

    async def __anext__(self) -> list[E]:
        # The hot path of every streamed response: keep it to one await, one clock read, one feed.
        stream = self._stream
        next_chunk = self._next_chunk
        feed = self._feed
        clock = time.perf_counter
        while True:
            try:
                chunk = await next_chunk()
            except StopAsyncIteration:
                return self._end()
            except (httpx.TransportError, httpx.DecodingError) as exc:
                self._finished = True
                raise stream._interrupted(exc) from exc
            stream.last_arrival = clock()
            events = feed(chunk)
            if events:
                return events

    def _end(self) -> list[E]:
        if self._finished:
            raise StopAsyncIteration
        self._finished = True
        stream = self._stream
        if stream._closed:
            # The block exited while we were reading: the body was cut, not finished.
            raise StreamInterrupted(f'{stream._vendor} stream was closed before the response ended')
        stream._eof = True
        events = self._parser.close()
        if events:
            return events
        raise StopAsyncIteration


class _OpenStream(AbstractAsyncContextManager[ResponseStream]):
    """`Transport.stream`'s context: opens on entry (with retries), closes or abandons on exit."""

    __slots__ = ('_model_name', '_request', '_signer', '_stream', '_timeout', '_transport', '_vendor')

    def __init__(
        self,
        transport: Transport,
        request: HTTPRequest,
        signer: Signer | None,
        model_name: str,
        vendor: str,
        timeout: float | None,
    ) -> None:
        self._transport = transport
        self._request = request
        self._signer = signer
        self._model_name = model_name
        self._vendor = vendor
        self._timeout = timeout
        self._stream: ResponseStream | None = None

    async def __aenter__(self) -> ResponseStream:
        response = await self._transport._open(
            self._request, self._signer, self._model_name, self._vendor, self._timeout
        )
        self._stream = ResponseStream(
            response, headers_at=time.perf_counter(), model_name=self._model_name, vendor=self._vendor
        )
        return self._stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import anyio

        stream = self._stream
        if stream is not None:
            self._stream = None
            # Shielded: a cancelled caller must still release its connection.
            with anyio.CancelScope(shield=True):
                await stream._aclose()


class Transport:
    """Sends requests through an httpx client: the caller's, or the shared one for this event loop.

    `initial_backoff`, `max_backoff` and `max_retry_after` (seconds) tune the retry waits; they
    default to the module's constants.
    """

    initial_backoff: float = INITIAL_BACKOFF_SECONDS
    max_backoff: float = MAX_BACKOFF_SECONDS
    max_retry_after: float = MAX_RETRY_AFTER_SECONDS

    def __init__(
        self, http_client: httpx.AsyncClient | None = None, *, max_retries: int = DEFAULT_MAX_RETRIES
    ):
        if max_retries < 0:
            raise UserError(f'max_retries must be 0 or more, not {max_retries}')
        # No client is created here: construction may happen outside any event loop.
        self._http_client = http_client
        self._caller_client_loop: weakref.ref[object] | None = None
        self.max_retries = max_retries

    @property
    def client(self) -> httpx.AsyncClient:
        """The caller's client, or the shared client of the running event loop."""
        if self._http_client is not None:
            return self._http_client
        return shared_http_client()

    def _note_loop_of_caller_client(self) -> None:
        # A caller's client outlives event loops (one `run_sync` per loop), but its pooled
        # connections belong to the loop that opened them: reusing one from a new loop fails with
        # asyncio's bare "Event loop is closed", after the request may already have been written.
        # So when the loop has changed and the old one has ended, the idle connections are dropped
        # before anything is sent (they cannot be closed: their loop is gone).
        key = _current_loop()
        previous = self._caller_client_loop() if self._caller_client_loop is not None else None
        if previous is key:
            return
        if self._caller_client_loop is not None and (previous is None or _loop_has_ended(previous)):
            _drop_idle_connections(self._http_client)
        self._caller_client_loop = weakref.ref(key)

    async def aclose(self) -> None:
        """Close the client passed in, if any; the shared client is closed by `aclose_shared_http_client`."""
        if self._http_client is not None:
            await self._http_client.aclose()

    async def send(
        self,
        request: HTTPRequest,
        *,
        signer: Signer | None,
        model_name: str,
        vendor: str,
        timeout: float | None = None,
    ) -> HTTPResponse:
        """Send a request and read the whole body; non-2xx raises `ModelHTTPError`."""
        import anyio

        response = await self._open(request, signer, model_name, vendor, timeout)
        try:
            body = await response.aread()
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise _request_error(exc, request, model_name, vendor, 'reading the response') from exc
        finally:
            if not response.is_closed:
                with anyio.CancelScope(shield=True):
                    await response.aclose()
        return HTTPResponse(response.status_code, response.headers, body)

    def stream(
        self,
        request: HTTPRequest,
        *,
        signer: Signer | None,
        model_name: str,
        vendor: str,
        timeout: float | None = None,
    ) -> AbstractAsyncContextManager[ResponseStream]:
        """Open a streamed request; non-2xx raises `ModelHTTPError` (body read and trimmed) on entry."""
        return _OpenStream(self, request, signer, model_name, vendor, timeout)

    async def _open(
        self,
        request: HTTPRequest,
        signer: Signer | None,
        model_name: str,
        vendor: str,
        timeout: float | None,
    ) -> httpx.Response:
        """Send until a 2xx response's headers arrive, retrying what is worth retrying."""
        import anyio

        if self._http_client is not None:
            client = self._http_client
            self._note_loop_of_caller_client()
        else:
            client = await _loop_shared_client()
        timeout_config = httpx.Timeout(timeout) if timeout is not None else httpx.USE_CLIENT_DEFAULT
        attempts = self.max_retries + 1
        attempt = 0
        while True:
            attempt += 1
            sent = request
            if signer is not None:
                # A fresh copy per attempt, so a signer never sees its own earlier signature.
                sent = HTTPRequest(
                    request.method, request.url, dict(request.headers), request.body, dict(request.params)
                )
                await signer(sent)
            try:
                http_request = client.build_request(
                    sent.method,
                    sent.url,
                    headers=sent.headers,
                    content=sent.body or None,
                    params=sent.params or None,
                    timeout=timeout_config,
                )
                response = await client.send(http_request, stream=True)
            except httpx.InvalidURL as exc:
                raise _request_error(exc, sent, model_name, vendor, 'building the request') from exc
            except httpx.TransportError as exc:
                if attempt < attempts and isinstance(exc, _RETRYABLE_ERRORS):
                    backoff = self._backoff(attempt)
                    _log_retry(sent, type(exc).__name__, backoff, attempt, attempts)
                    await anyio.sleep(backoff)
                    continue
                raise _request_error(exc, sent, model_name, vendor, 'sending the request', attempt) from exc

            status = response.status_code
            if _logger.isEnabledFor(logging.DEBUG):
                _logger.debug(
                    '%s %s -> %d (attempt %d of %d)',
                    sent.method,
                    _no_query(sent.url),
                    status,
                    attempt,
                    attempts,
                )
            if 200 <= status < 300:
                return response

            try:
                content = await _read_bounded(response, MAX_ERROR_BODY_BYTES)
            except (httpx.TransportError, httpx.DecodingError):
                # The status says what went wrong; an error body cut off by the network does not.
                content = b''
            headers = response.headers
            retry_after = _retry_after_seconds(headers)
            if attempt < attempts and _should_retry(status, headers):
                delay: float | None
                if retry_after is None:
                    delay = self._backoff(attempt)
                elif retry_after <= self.max_retry_after:
                    delay = retry_after
                else:
                    delay = None  # too long to wait here: the caller decides
                if delay is not None:
                    _log_retry(sent, str(status), delay, attempt, attempts)
                    await anyio.sleep(delay)
                    continue
            raise ModelHTTPError(
                status,
                model_name,
                _parse_error_body(content, headers.get('content-type', '')),
                headers=headers,
                retry_after=retry_after,
                vendor=vendor,
            )

    def _backoff(self, attempt: int) -> float:
        """Full jitter: a uniform wait up to an exponentially growing cap (spreads retrying clients)."""
        cap: float = min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1))
        return random.random() * cap


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
                client = _new_client()
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
    if client is not None and not client.is_closed:
        with anyio.CancelScope(shield=True):
            await client.aclose()


def _new_client() -> httpx.AsyncClient:
    from . import __version__

    return httpx.AsyncClient(
        timeout=httpx.Timeout(DEFAULT_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
        ),
        headers={'User-Agent': f'modelkit/{__version__}'},
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


# -- helpers: reading, retry hints, error mapping (the one place httpx errors are translated) ------


async def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    """Read at most `limit` bytes of a body, then release the response either way."""
    import anyio

    chunks = response.aiter_bytes()
    buffer = bytearray()
    try:
        while len(buffer) < limit:
            try:
                buffer += await chunks.__anext__()
            except StopAsyncIteration:
                return bytes(buffer)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await response.aclose()
        raise
    with anyio.CancelScope(shield=True):
        await _abandon(response, chunks)
    return bytes(buffer[:limit])


async def _abandon(response: httpx.Response, chunks: AsyncIterator[bytes]) -> None:
    """Close a response whose body was not read to the end, and finish httpx's body generators."""
    await response.aclose()
    for _ in range(_MAX_PULLS_AFTER_CLOSE):
        try:
            await chunks.__anext__()
        except StopAsyncIteration:
            return
        except Exception:  # the closed connection's read error is the point: it ends the chain
            return


def _should_retry(status: int, headers: Mapping[str, str]) -> bool:
    # OpenAI and Anthropic send `x-should-retry` to override the status-based rule either way.
    hint = headers.get('x-should-retry')
    if hint == 'true':
        return True
    if hint == 'false':
        return False
    return status in _RETRY_STATUSES or status >= 500


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms` (OpenAI, Anthropic), else `Retry-After` as seconds or an HTTP-date (RFC 9110)."""
    millis = headers.get('retry-after-ms')
    if millis is not None:
        seconds = _finite(millis)
        if seconds is not None:
            return max(0.0, seconds / 1000)
    value = headers.get('retry-after')
    if value is None:
        return None
    seconds = _finite(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _parse_error_body(content: bytes, content_type: str) -> object | None:
    """The error body as JSON when it is JSON, else as text; None when empty."""
    if not content.strip():
        return None
    if 'json' in content_type or content.lstrip()[:1] in (b'{', b'['):
        try:
            parsed: object = orjson.loads(content)
        except orjson.JSONDecodeError:
            pass
        else:
            return parsed
    return content.decode('utf-8', 'replace')


def _request_error(
    exc: Exception,
    request: HTTPRequest,
    model_name: str,
    vendor: str,
    doing: str,
    attempts: int = 1,
) -> ModelkitError:
    """Translate an httpx error raised before or while reading a response into our tree."""
    where = f'{request.method} {_no_query(request.url)}'
    reason = f'{type(exc).__name__}: {exc}' if str(exc) else type(exc).__name__
    tries = f' after {attempts} attempts' if attempts > 1 else ''
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return UserError(f'{vendor}: invalid request URL {where!r} ({reason}); check the base URL')
    message = f'{vendor} request failed while {doing}{tries} ({reason}): {where}, model {model_name!r}'
    if isinstance(exc, httpx.TimeoutException):
        return ModelTimeoutError(model_name, message)
    return ModelConnectionError(model_name, message)


def _no_query(url: str) -> str:
    # Query strings can carry keys (Gemini's `key=`): never log or report them.
    return url.split('?', 1)[0]


def _log_retry(request: HTTPRequest, cause: str, delay: float, attempt: int, attempts: int) -> None:
    if _logger.isEnabledFor(logging.DEBUG):
        _logger.debug(
            'retrying %s %s in %.3f s after %s (attempt %d of %d)',
            request.method,
            _no_query(request.url),
            delay,
            cause,
            attempt,
            attempts,
        )
