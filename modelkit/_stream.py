"""The read loop of a streamed response: `ResponseStream`, what `Transport.stream` yields.

A streamed body is read in one of two ways, both written here once for every vendor:

- `iter_parsed(parser)`: the generic loop, feeding each chunk to a sans-I/O parser and yielding
  its events;
- the parts a loop of its own is built from (`body_reader`, `read_failed`, `body_ended`,
  `next_chunk_by`, `read_rest`, `finish_after_end`), which the interface kit's event loop uses so
  that one async generator per stream does all the work, with no iterator call in between.

How a stream ends matters as much as how it is read. A vendor that said it was done
(`finish_after_end`) is given `END_DRAIN_SECONDS` and `END_DRAIN_BYTES` to end the body, then the
connection is released anyway: back to the pool when the body ended, closed when the server kept
it open. A stream that goes quiet is bounded by `idle_timeout` (`next_chunk_by`), however many
keep-alive bytes the server sends meanwhile.

No httpx import here (the layer rule keeps httpx in `modelkit._transport`): errors from the body
are translated by the function the transport hands in.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from ._body import _abandon, body_chunks
from .exceptions import ModelkitError, StreamInterrupted, StreamTimeout, UnexpectedModelBehavior, UserError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

    from .parsers import Parser

__all__ = ('END_DRAIN_BYTES', 'END_DRAIN_SECONDS', 'ResponseStream')

E = TypeVar('E')

END_DRAIN_SECONDS = 0.1
"""After the vendor's end marker, how long we wait for the body to end. A healthy server ends it
at once (the chunked terminator usually comes in the same packet as the last event), so this only
covers a few round trips of jitter; a server that keeps the body open costs its caller no more
than this, and its connection is closed rather than reused."""

END_DRAIN_BYTES = 64 * 1024
"""The most we read after the end marker while waiting for the body to end: a server that goes on
streaming after it said it was done gets its connection closed instead of our time."""

ReadErrorTranslator = Callable[[Exception], ModelkitError | None]
"""The transport's translation of an error from reading the body into our tree (None: not one)."""


class ResponseStream:
    """An open 2xx streamed response; iterate `iter_parsed` for events."""

    __slots__ = (
        '_chunks',
        '_closed',
        '_eof',
        '_model_name',
        '_next',
        '_raw_body',
        '_response',
        '_retry',
        '_translate',
        '_vendor',
        'attempt',
        'headers',
        'headers_at',
        'idle_timeout',
        'last_arrival',
        'status_code',
    )

    status_code: int
    headers: Mapping[str, str]
    headers_at: float
    """perf_counter() when the status line and headers arrived."""
    last_arrival: float
    """perf_counter() when the most recent body chunk arrived."""
    idle_timeout: float | None
    """The longest a stream may go without delivering an event (seconds): the request's timeout,
    else the client's read timeout; None when neither is set."""
    attempt: int
    """Which attempt at the request this response answered (1 unless the transport retried)."""

    def __init__(
        self,
        response: httpx.Response,
        *,
        headers_at: float,
        model_name: str,
        vendor: str,
        translate: ReadErrorTranslator,
        attempt: int = 1,
        wait_to_retry: Callable[[int, str], Awaitable[bool]] | None = None,
        raw_body: AsyncIterable[bytes] | None = None,
    ) -> None:
        self.status_code = response.status_code
        self.headers = response.headers
        self.headers_at = headers_at
        self.last_arrival = headers_at
        self.idle_timeout = _read_timeout(response)
        self._response = response
        self._model_name = model_name
        self._vendor = vendor
        self._translate = translate
        self.attempt = attempt
        self._retry = wait_to_retry
        self._raw_body = raw_body
        """The transport's own byte stream under the client's wrapper of `response.stream` (see
        `modelkit._transport`), read directly when the body needs no decoding; None: not known."""
        self._chunks: AsyncIterator[bytes] | None = None
        self._next: Callable[[], Awaitable[bytes]] | None = None
        self._eof = False
        self._closed = False

    def iter_parsed(self, parser: Parser[E]) -> AsyncIterator[list[E]]:
        """Feed every body chunk to `parser`, yielding the (non-empty) event list of each chunk.

        `last_arrival` is set as each chunk arrives, before it is fed, so an event's arrival time
        is `last_arrival` while its list is being handled. At end of body the parser is closed and
        its last events yielded; per the parser contract `close()` never raises for a body cut
        inside an event, it sets `parser.truncated`, which the caller's end-of-stream check reads
        (only the vendor's interface knows whether its end marker had already arrived).

        Raises `StreamInterrupted` if the connection drops mid-body, `StreamTimeout` (a
        `StreamInterrupted`) when no event arrives within `idle_timeout`, `StreamProtocolError`
        from the parser for broken framing. After the vendor's end marker, call
        `finish_after_end()` (or read to the end) so the connection is released at once.
        """
        return _ParsedEvents(self, self.body_reader(), parser)

    async def wait_to_retry(self, cause: str) -> bool:
        """Wait as the transport's retry policy says before another attempt at this request; False,
        without waiting, when `max_retries` is spent.

        For a failure the vendor reports inside a 2xx body before anything the caller could have
        seen (Anthropic's `overloaded_error` right after `message_start`, a Bedrock throttling frame
        before content): the caller reopens the request with `Transport.stream(...,
        after_attempts=stream.attempt)`, so in-body and HTTP-level retries share one budget and one
        backoff.
        """
        if self._retry is None:
            return False
        return await self._retry(self.attempt, cause)

    # -- the parts of a read loop ---------------------------------------------------------------

    def body_reader(self) -> Callable[[], Awaitable[bytes]]:
        """The body's next-chunk function, for a read loop of its own (the kit's event loop).

        Each call returns the next decoded chunk and raises `StopAsyncIteration` at the end (then
        call `body_ended()`); pass any other error to `read_failed` and raise what it returns.
        The body is read once: a second call raises `UserError`.
        """
        if self._chunks is not None:
            raise UserError('iter_parsed() reads the body once; it was already called on this stream')
        if self._closed:
            raise UserError('This stream is closed: iterate it inside its `async with` block')
        response = self._response
        encoding = response.headers.get('content-encoding')
        if not encoding or encoding.strip().lower() == 'identity':
            # Nothing to decode: read the client's byte stream itself. `aiter_raw` would wrap it in
            # one more async generator (and a chunker that hands each chunk on as it is): about
            # 3,000 instructions per event, a tenth of an OpenAI text delta's cost. What else it
            # does is done here (mark the body read) and at exit (`_aclose` closes the response);
            # an error it would tag with the request is tagged by the transport's `translate`.
            body = response.stream
            if response.is_stream_consumed or response.is_closed or not hasattr(body, '__aiter__'):
                self._chunks = response.aiter_raw()  # httpx's own error for a body it cannot give
            else:
                response.is_stream_consumed = True
                # The transport's stream itself where the transport knows it: the client's wrapper
                # is one more async generator per chunk that only hands each chunk on (closing
                # still goes through it, at exit).
                self._chunks = (self._raw_body if self._raw_body is not None else body).__aiter__()
        else:
            # Decoded (gzip, deflate) with bounded output: see `body_chunks`.
            self._chunks = body_chunks(response, self._vendor)
        self._next = self._chunks.__anext__
        return self._next

    def read_failed(self, exc: Exception) -> BaseException:
        """The error to raise for `exc`, raised by a `body_reader` call: httpx's failures
        translated into our tree (with `exc` as the cause), anything else unchanged."""
        error = self._translate(exc)
        if error is None:
            return exc
        error.__cause__ = exc
        return error

    def body_ended(self) -> None:
        """Note the body's end (`StopAsyncIteration` from the reader): the connection can be reused."""
        if self._closed:
            # The block exited while we were reading: the body was cut, not finished.
            raise StreamInterrupted(f'{self._vendor} stream was closed before the response ended')
        self._eof = True

    async def next_chunk_by(self, deadline: float) -> bytes:
        """The next chunk, if it arrives before `deadline` (perf_counter()); else `StreamTimeout`.

        For a stream that has gone quiet: each read is also bounded by httpx's read timeout, but
        a server sending a keep-alive comment now and then would pass that forever.
        """
        import anyio

        assert self._next is not None, 'call body_reader() first'
        remaining = deadline - time.perf_counter()
        if remaining > 0:
            with anyio.move_on_after(remaining):
                return await self._next()
        raise self.idle_error()

    def idle_error(self) -> StreamTimeout:
        """The error for a stream that delivered no event within `idle_timeout`."""
        return StreamTimeout(
            self._model_name,
            f'{self._vendor} stream for {self._model_name!r} delivered no content for '
            f'{self.idle_timeout:g} s (the timeout); only keep-alive data arrived',
        )

    async def read_rest(self, limit: int) -> bytes:
        """The rest of the body, at most `limit` bytes (else `UnexpectedModelBehavior`); for a
        body that turned out not to be a stream (a JSON answer) and is read whole."""
        assert self._next is not None, 'call body_reader() first'
        pieces: list[bytes] = []
        size = 0
        while True:
            try:
                piece = await self._next()
            except StopAsyncIteration:
                self.body_ended()
                return b''.join(pieces)
            except Exception as exc:  # httpx's, translated by the transport; ours pass through
                raise self.read_failed(exc)  # noqa: B904 (read_failed sets the cause)
            self.last_arrival = time.perf_counter()
            size += len(piece)
            if size > limit:
                raise UnexpectedModelBehavior(
                    f'{self._vendor} answered a stream request with a body larger than {limit} bytes',
                    b''.join(pieces)[:1024],
                )
            pieces.append(piece)

    async def finish_after_end(self) -> bool:
        """After the vendor's end marker: wait for the body to end, for at most
        `END_DRAIN_SECONDS` and `END_DRAIN_BYTES`, without handing anything on.

        True when it ended (the connection then goes back to the pool on exit); False when the
        server kept the body open (the connection is closed on exit). Never raises for the body:
        the answer is complete, whatever the connection does next.
        """
        if self._eof or self._next is None:
            return self._eof
        import anyio

        next_chunk = self._next
        drained = 0
        with anyio.move_on_after(END_DRAIN_SECONDS):
            try:
                while drained <= END_DRAIN_BYTES:
                    drained += len(await next_chunk())
            except StopAsyncIteration:
                self._eof = not self._closed
            except Exception as exc:
                if self._translate(exc) is None:
                    raise  # not a failure of the body: a bug to see
        return self._eof

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

    __slots__ = ('_event_at', '_feed', '_finished', '_next_chunk', '_parser', '_stream')

    def __init__(
        self, stream: ResponseStream, next_chunk: Callable[[], Awaitable[bytes]], parser: Parser[E]
    ) -> None:
        self._stream = stream
        self._parser = parser
        self._feed = parser.feed
        self._next_chunk = next_chunk
        self._finished = False
        self._event_at: float | None = None
        """When the last event list was handed out (None: not yet); the idle bound counts from it."""

    def __aiter__(self) -> _ParsedEvents[E]:
        return self

    async def __anext__(self) -> list[E]:
        # One await, one clock read and one feed per chunk while events flow; once a chunk brings
        # none (a keep-alive comment), each read is held to the idle deadline.
        stream = self._stream
        feed = self._feed
        clock = time.perf_counter
        idle = stream.idle_timeout
        if self._event_at is None:
            self._event_at = clock()
        quiet = False
        while True:
            try:
                if quiet and idle is not None:
                    chunk = await stream.next_chunk_by(self._event_at + idle)
                else:
                    chunk = await self._next_chunk()
            except StopAsyncIteration:
                return self._end()
            except Exception as exc:  # httpx's, translated by the transport; ours pass through
                self._finished = True
                raise stream.read_failed(exc)  # noqa: B904 (read_failed sets the cause)
            stream.last_arrival = clock()
            events = feed(chunk)
            if events:
                self._event_at = clock()  # the caller's time with the events does not count
                return events
            quiet = True

    def _end(self) -> list[E]:
        if self._finished:
            raise StopAsyncIteration
        self._finished = True
        self._stream.body_ended()
        events = self._parser.close()
        if events:
            return events
        raise StopAsyncIteration


def _read_timeout(response: httpx.Response) -> float | None:
    """The read timeout the request was sent with (the per-request timeout, or the client's)."""
    try:
        timeouts = response.request.extensions.get('timeout', {})
    except RuntimeError:  # a response built without a request (tests' mock transports)
        return None
    value = timeouts.get('read')
    return float(value) if isinstance(value, int | float) else None
