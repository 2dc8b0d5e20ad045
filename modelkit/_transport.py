"""The one room for HTTP: every byte modelkit sends or receives passes through here.

Only this module (and signers that must touch a request) imports httpx, so moving to another
httpx-compatible client is a change to one file. Everything above it speaks `HTTPRequest`,
`HTTPResponse` and `ResponseStream`.

What lives here: the shared pooled `httpx.AsyncClient` (one per event loop, made in
`modelkit._clients`; with the `fast` extra, on asyncio, aiohttp underneath it), timeouts, retries
with backoff, signing last (see `modelkit._signing`), bounded decompression (`modelkit._decoding`),
translating httpx errors into `modelkit.exceptions`, and the loop that reads a streamed body and
feeds a sans-I/O parser.

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
import random
import time
import weakref
from collections.abc import AsyncIterable, Mapping
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass, field
from types import TracebackType

import httpx

from ._body import MAX_RESPONSE_BODY_BYTES, _abandon, _parse_error_body, _read_bounded, body_chunks
from ._clients import (
    CONNECT_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    KEEPALIVE_EXPIRY_SECONDS,
    MAX_CONNECTIONS,
    MAX_KEEPALIVE_CONNECTIONS,
    _drop_idle_connections,
    _loop_shared_client,
    aclose_shared_http_client,
    shared_http_client,
)
from ._decoding import ACCEPT_ENCODING
from ._fieldwise import FACTORY, fieldwise
from ._loops import _current_loop, _loop_has_ended
from ._redact import RedactingFilter
from ._retry import retry_after_seconds as _retry_after_seconds
from ._retry import retry_delay_in_body as _retry_delay_in_body
from ._retry import should_retry as _should_retry
from ._signing import Signer, SignerFunction, WireRequest, as_signer, sign_and_register
from ._stream import ResponseStream
from .exceptions import (
    ModelConnectionError,
    ModelHTTPError,
    ModelkitError,
    ModelTimeoutError,
    StreamInterrupted,
    StreamProtocolError,
    StreamTimeout,
    UnexpectedModelBehavior,
    UserError,
)

__all__ = (
    'CONNECT_TIMEOUT_SECONDS',
    'DEFAULT_MAX_RETRIES',
    'DEFAULT_TIMEOUT_SECONDS',
    'KEEPALIVE_EXPIRY_SECONDS',
    'MAX_CONNECTIONS',
    'MAX_KEEPALIVE_CONNECTIONS',
    'HTTPRequest',
    'HTTPResponse',
    'ResponseStream',
    'Signer',
    'SignerFunction',
    'Transport',
    'WireRequest',
    'aclose_shared_http_client',
    'body_chunks',
    'shared_http_client',
)

DEFAULT_MAX_RETRIES = 2
"""Retries after the first attempt, for connect errors and 408/409/429/5xx (as the vendor SDKs do)."""

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

_RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, TimeoutError)
"""Failures before the response began: connecting, sending, a server that closed a pooled keep-alive
connection as we reused it, or no status line and headers within the timeout (`TimeoutError` is
the deadline on the whole wait for them)."""

_logger = logging.getLogger('modelkit.transport')

_REDACTED_LOGGERS = (
    'modelkit.transport',
    'httpx',
    'httpcore.connection',
    'httpcore.http11',
    'httpcore.http2',
    'httpcore.proxy',
    'botocore.auth',  # its DEBUG log quotes the canonical request: headers, session token included
)
"""Loggers whose records can quote what a server sent (httpcore's DEBUG trace logs response headers,
where a gateway may echo a key): each masks registered secrets. A filter only changes a record that
holds one, so attaching it to httpx's and httpcore's loggers alters nothing else."""

_redacting_filter = RedactingFilter()
for _name in _REDACTED_LOGGERS:
    logging.getLogger(_name).addFilter(_redacting_filter)


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class HTTPRequest:
    """A request as the interface built it; the transport turns it into the `WireRequest` it signs."""

    method: str
    url: str
    """Full URL without query string."""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b''
    params: dict[str, str] = field(default_factory=dict)
    """Query parameters (Azure's `api-version`, Gemini's `alt=sse`, ...)."""
    path: str | None = None
    """The path the interface asked for (`Provider.build_request`), so a provider whose base URL is
    known only after its first-use hook (Vertex's project) can route the request again then."""
    model_name: str | None = None
    """The model the request is for, when the provider routes by model (Azure, Vertex, Bedrock)."""

    def __init__(
        self,
        method: str,
        url: str,
        headers: dict[str, str] = FACTORY,
        body: bytes = b'',
        params: dict[str, str] = FACTORY,
        path: str | None = None,
        model_name: str | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = {} if headers is FACTORY else headers
        self.body = body
        self.params = {} if params is FACTORY else params
        self.path = path
        self.model_name = model_name


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class HTTPResponse:
    """A complete non-streamed 2xx response."""

    status_code: int
    headers: Mapping[str, str]
    body: bytes

    def __init__(self, status_code: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body


class _OpenStream(AbstractAsyncContextManager[ResponseStream]):
    """`Transport.stream`'s context: opens on entry (with retries), closes or abandons on exit."""

    __slots__ = (
        '_after',
        '_model_name',
        '_request',
        '_signer',
        '_stream',
        '_timeout',
        '_transport',
        '_vendor',
    )

    def __init__(
        self,
        transport: Transport,
        request: HTTPRequest,
        signer: Signer | None,
        model_name: str,
        vendor: str,
        timeout: float | None,
        after_attempts: int,
    ) -> None:
        self._after = after_attempts
        self._transport = transport
        self._request = request
        self._signer = signer
        self._model_name = model_name
        self._vendor = vendor
        self._timeout = timeout
        self._stream: ResponseStream | None = None

    async def __aenter__(self) -> ResponseStream:
        response, attempt = await self._transport._open(
            self._request, self._signer, self._model_name, self._vendor, self._timeout, self._after
        )
        vendor, model_name = self._vendor, self._model_name
        self._stream = ResponseStream(
            response,
            headers_at=time.perf_counter(),
            model_name=model_name,
            vendor=vendor,
            translate=lambda exc: _stream_read_error(exc, vendor, model_name, response),
            attempt=attempt,
            wait_to_retry=self._wait_to_retry,
            raw_body=_transport_stream(response),
        )
        return self._stream

    async def _wait_to_retry(self, attempt: int, cause: str) -> bool:
        """`ResponseStream.wait_to_retry`: the transport's retry policy for an in-body failure."""
        import anyio

        transport = self._transport
        if attempt > transport.max_retries:
            return False
        delay = transport._backoff(attempt)
        _log_retry(self._request, cause, delay, attempt, transport.max_retries + 1)
        await anyio.sleep(delay)
        return True

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

        response, _ = await self._open(request, signer, model_name, vendor, timeout)
        chunks = body_chunks(response, vendor, error=UnexpectedModelBehavior)
        pieces: list[bytes] = []
        size = 0
        try:
            async for piece in chunks:
                size += len(piece)
                if size > MAX_RESPONSE_BODY_BYTES:
                    raise UnexpectedModelBehavior(
                        f'{vendor} response body for {model_name!r} is larger than '
                        f'{MAX_RESPONSE_BODY_BYTES} bytes (MAX_RESPONSE_BODY_BYTES)'
                    )
                pieces.append(piece)
        except httpx.TransportError as exc:
            raise _request_error(exc, request, model_name, vendor, 'reading the response body') from exc
        finally:
            if not response.is_closed:
                with anyio.CancelScope(shield=True):
                    await _abandon(response, chunks)
        return HTTPResponse(response.status_code, response.headers, b''.join(pieces))

    def stream(
        self,
        request: HTTPRequest,
        *,
        signer: Signer | None,
        model_name: str,
        vendor: str,
        timeout: float | None = None,
        after_attempts: int = 0,
    ) -> AbstractAsyncContextManager[ResponseStream]:
        """Open a streamed request; non-2xx raises `ModelHTTPError` (body read and trimmed) on entry.

        `after_attempts` counts attempts already made at this request (see
        `ResponseStream.wait_to_retry`): they are taken from the `max_retries` budget.
        """
        return _OpenStream(self, request, signer, model_name, vendor, timeout, after_attempts)

    async def _open(
        self,
        request: HTTPRequest,
        signer: Signer | SignerFunction | None,
        model_name: str,
        vendor: str,
        timeout: float | None,
        after_attempts: int = 0,
    ) -> tuple[httpx.Response, int]:
        """Send until a 2xx response's headers arrive, retrying what is worth retrying; the response
        and which attempt it answered (counting `after_attempts` made before this call)."""
        import anyio

        if self._http_client is not None:
            client = self._http_client
            self._note_loop_of_caller_client()
        else:
            client = await _loop_shared_client()
        signer = as_signer(signer)
        timeout_config = httpx.Timeout(timeout) if timeout is not None else httpx.USE_CLIENT_DEFAULT
        # httpx's read timeout restarts at every byte, so a server trickling its headers could hold
        # us forever: the whole wait for the status line and headers gets one deadline.
        head_deadline = timeout if timeout is not None else client.timeout.read
        attempts = self.max_retries + 1
        attempt = after_attempts
        reauthorized = False
        while True:
            attempt += 1
            try:
                http_request = _wire_request(client, request, timeout_config)
            except httpx.InvalidURL as exc:
                raise _request_error(exc, request, model_name, vendor, 'building the request') from exc
            wire = WireRequest(http_request)
            if signer is not None:
                await sign_and_register(signer, wire)
            try:
                with anyio.fail_after(head_deadline):
                    # No client auth and no redirects: either would send something we did not sign.
                    response = await client.send(http_request, stream=True, auth=None, follow_redirects=False)
            except (httpx.TransportError, TimeoutError) as exc:
                if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
                    raise _request_error(exc, request, model_name, vendor, 'building the request') from exc
                if attempt < attempts and isinstance(exc, _RETRYABLE_ERRORS):
                    backoff = self._backoff(attempt)
                    _log_retry(request, _cause(exc), backoff, attempt, attempts)
                    await anyio.sleep(backoff)
                    continue
                raise _request_error(
                    exc, request, model_name, vendor, 'waiting for the response', attempt, head_deadline
                ) from exc

            status = response.status_code
            if _logger.isEnabledFor(logging.DEBUG):
                _logger.debug(
                    '%s %s -> %d (attempt %d of %d)', request.method, request.url, status, attempt, attempts
                )
            if 200 <= status < 300:
                return response, attempt

            content = await _read_error_body(response)
            if status == 401 and signer is not None and not reauthorized and await signer.unauthorized(wire):
                # A refreshed credential gets one more try, outside the retry budget: a token that
                # expired early (or was revoked) is not the server failing.
                reauthorized = True
                attempt -= 1
                _log_retry(request, '401, credentials refreshed', 0.0, attempt + 1, attempts)
                continue
            headers = response.headers
            retry_after = _retry_after_seconds(headers)
            if retry_after is None:
                retry_after = _retry_delay_in_body(content)
            if attempt < attempts and _should_retry(status, headers):
                delay: float | None
                if retry_after is None:
                    delay = self._backoff(attempt)
                elif retry_after <= self.max_retry_after:
                    delay = retry_after
                else:
                    delay = None  # too long to wait here: the caller decides
                if delay is not None:
                    _log_retry(request, str(status), delay, attempt, attempts)
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


# -- helpers: reading, retry hints, error mapping (the one place httpx errors are translated) ------


async def _read_error_body(response: httpx.Response) -> bytes:
    """An error response's body, at most `MAX_ERROR_BODY_BYTES`; empty when it cannot be read."""
    try:
        return await _read_bounded(response, MAX_ERROR_BODY_BYTES)
    except (httpx.TransportError, StreamProtocolError):
        # The status says what went wrong; an error body cut off or garbled on the way does not.
        return b''


def _wire_request(
    client: httpx.AsyncClient, request: HTTPRequest, timeout: httpx.Timeout | httpx._client.UseClientDefault
) -> httpx.Request:
    """The request exactly as it will be sent, every header httpx adds already in place."""
    http_request = client.build_request(
        request.method,
        request.url,
        headers=request.headers,
        content=request.body or None,
        params=request.params or None,
        timeout=timeout,
    )
    headers = http_request.headers
    # Hop-by-hop, and HTTP/1.1's default anyway; HTTP/2 drops it, so a signature over it would fail.
    headers.pop('connection', None)
    if not any(name.lower() == 'accept-encoding' for name in request.headers):
        # Only the codings we decode with bounded output (httpx would add br/zstd when installed).
        headers['Accept-Encoding'] = ACCEPT_ENCODING
    if request.body:
        http_request.stream = _RequestBody(request.body)
    return http_request


class _RequestBody(httpx.AsyncByteStream):
    """A request body handed to httpx as one piece through a plain iterator. httpx's own is an
    async generator, which a send cancelled mid-write leaves suspended (trio warns about each one
    when it is collected: the soak test's random cancellation found it)."""

    __slots__ = ('_body', '_sent')

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._sent = False

    def __aiter__(self) -> _RequestBody:
        self._sent = False
        return self

    async def __anext__(self) -> bytes:
        if self._sent:
            raise StopAsyncIteration
        self._sent = True
        return self._body


_BOUND_STREAM: type | None = getattr(getattr(httpx, '_client', None), 'BoundAsyncStream', None)
"""httpx's wrapper of a transport's response stream (it sets `response.elapsed` on close), or None
if a later httpx has no such class (the body is then read through `response.stream` as it is)."""


def _transport_stream(response: httpx.Response) -> AsyncIterable[bytes] | None:
    """The transport's byte stream under httpx's `BoundAsyncStream`, or None when it is not one.

    That wrapper iterates as an async generator that only passes each chunk on: one generator
    resumption per chunk for nothing (on the aiohttp transport, the only generator between the
    socket and the parser). Only iteration skips it; `response.aclose()` still closes through it.
    """
    stream = response.stream
    if _BOUND_STREAM is None or type(stream) is not _BOUND_STREAM:
        return None
    inner = getattr(stream, '_stream', None)
    return inner if hasattr(inner, '__aiter__') else None


def _stream_read_error(
    exc: Exception, vendor: str, model_name: str, response: httpx.Response | None = None
) -> ModelkitError | None:
    """A failure reading a streamed body, in our tree; None when `exc` is not one of httpx's."""
    if isinstance(exc, httpx.DecodingError):
        return StreamProtocolError(f'{vendor} stream body could not be decoded: {exc}')
    if not isinstance(exc, httpx.TransportError):
        return None
    if response is not None:
        # The body is read from the client's stream itself, not through `aiter_raw`, which would
        # have tagged the error with its request (whose timeouts the message names).
        try:
            exc.request  # noqa: B018 (the property raises while no request is set)
        except RuntimeError:
            with suppress(RuntimeError):  # a response built without a request
                exc.request = response.request
    reason = f'{type(exc).__name__}: {exc}' if str(exc) else type(exc).__name__
    where = f'{vendor} stream for {model_name!r} was interrupted'
    if isinstance(exc, httpx.ReadTimeout):
        limit = _timeouts_of(exc).get('read', 'the timeout')
        return StreamTimeout(model_name, f'{where}: no data for {limit} s ({reason})')
    return StreamInterrupted(f'{where} ({reason})')


def _request_error(
    exc: Exception,
    request: HTTPRequest,
    model_name: str,
    vendor: str,
    doing: str,
    attempts: int = 1,
    head_deadline: float | None = None,
) -> ModelkitError:
    """Translate an httpx error (or the head deadline's `TimeoutError`) into our tree, saying what failed."""
    where = f'{request.method} {_no_query(request.url)}'
    reason = f'{type(exc).__name__}: {exc}' if str(exc) else type(exc).__name__
    tries = f' after {attempts} attempts' if attempts > 1 else ''
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return UserError(f'{vendor}: invalid request URL {where!r} ({reason}); check the base URL')
    what = _what_failed(exc, doing, head_deadline)
    message = f'{vendor} request failed: {what}{tries} ({reason}): {where}, model {model_name!r}'
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return ModelTimeoutError(model_name, message)
    return ModelConnectionError(model_name, message)


def _what_failed(exc: Exception, doing: str, head_deadline: float | None) -> str:
    """What went wrong, in the words a user needs: which wait ran out, or who closed the connection."""
    limits = _timeouts_of(exc)
    if isinstance(exc, TimeoutError) and not isinstance(exc, httpx.TimeoutException):
        return f'no response within {head_deadline:g} s (status line and headers)'
    if isinstance(exc, httpx.ConnectTimeout):
        return f'could not connect within {limits.get("connect", "the timeout")} s'
    if isinstance(exc, httpx.ConnectError):
        return 'could not connect'
    if isinstance(exc, httpx.PoolTimeout):
        return f'no free connection in the pool within {limits.get("pool", "the timeout")} s'
    if isinstance(exc, httpx.WriteTimeout | httpx.WriteError):
        return 'sending the request did not complete'
    before = doing == 'waiting for the response'
    if isinstance(exc, httpx.ReadTimeout):
        if before:
            return f'no response within {limits.get("read", "the timeout")} s'
        return f'the body stopped: no data for {limits.get("read", "the timeout")} s'
    if isinstance(exc, httpx.RemoteProtocolError) and 'without sending a response' in str(exc):
        return 'the server closed the connection before responding'
    if isinstance(exc, httpx.ReadError | httpx.RemoteProtocolError) and before:
        return 'the connection failed before the server responded'
    return f'failed while {doing}'


def _timeouts_of(exc: Exception) -> dict[str, str]:
    """The timeouts (seconds, formatted) of the request an httpx error came from, where known."""
    try:
        request = exc.request if isinstance(exc, httpx.RequestError) else None
    except RuntimeError:  # raised outside a request context (respx side effects)
        request = None
    timeouts = request.extensions.get('timeout', {}) if request is not None else {}
    return {name: f'{value:g}' for name, value in timeouts.items() if isinstance(value, int | float)}


def _cause(exc: BaseException) -> str:
    return 'no response in time' if type(exc) is TimeoutError else type(exc).__name__


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
