"""The interface kit: what every vendor interface shares, so a vendor module is only a translation.

A vendor module (see docs/adding-a-vendor.md) uses, in the order a request flows:

- `map_settings` and `json_request`: a per-vendor table of `ModelSettings` key -> wire field, then
  the JSON body with `extra_body` merged in and `extra_headers` on top, built by the provider.
- `ToolCallIds`: tool-call ids from another vendor's history mapped into ids this vendor accepts
  (`MISTRAL_TOOL_CALL_IDS`, `ANTHROPIC_TOOL_CALL_IDS`), consistently within one request.
- `ThinkTagSplitter`: reasoning written inline in the text (`<think>...</think>`) split from the
  answer, for a whole text or a stream whose deltas cut the tags anywhere.
- `LazyAdapter`: a pydantic `TypeAdapter` for a wire schema, built at first use and kept.
- `unexpected_body`, `stream_error`, `wire_timestamp`: the error objects and the timestamp every
  vendor needs when its answer does not fit.
- `open_stream` and `WireStreamedResponse`: a streamed request opened with its timing attached, and
  the one event loop every vendor's stream runs on, with the end-of-stream check.
- `WireModel`: `request` and `request_stream` over a provider, written once; a vendor's model
  builds the request, processes a whole body and makes its streamed response.

The event loop is written for any sans-I/O parser (SSE, the AWS event stream, a JSON array): it
feeds the transport's read loop, hands each parsed event to the vendor's `_process_event` (a plain
function, no generator on the usual path), stamps what came out with the arrival time of the chunk
that completed it and yields it. The vendor says when
its end arrived (OpenAI's `[DONE]`, Anthropic's `message_stop`, Cohere's `message-end`, Bedrock's
`messageStop`) or gives a finish reason (Gemini, which just ends at EOF); a stream that stops
before either raises `StreamInterrupted` carrying what arrived, saying whether the body stopped
inside an event (the parser's `truncated`) or between events.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from contextlib import asynccontextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from importlib import import_module
from types import GeneratorType
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Generic
from typing import NoReturn
from typing import TypeVar
from typing import cast

import orjson

from .._body import MAX_RESPONSE_BODY_BYTES
from .._fieldwise import fieldwise
from .._parts import PartsAssembler
from ..exceptions import ModelHTTPError
from ..exceptions import ModelkitError
from ..exceptions import ModelStreamError
from ..exceptions import StreamInterrupted
from ..exceptions import UnexpectedModelBehavior
from ..exceptions import UserError
from ..messages import ModelMessage
from ..messages import ModelResponse
from ..messages import ModelResponsePart
from ..messages import ModelResponseStreamEvent
from ..messages import TextPart
from ..messages import ThinkingPart
from ..settings import ModelSettings
from ..usage import Usage
from . import Model
from . import ModelRequestParameters
from . import StreamedResponse
from . import _NamedStreamedResponse
from . import check_allow_model_requests
from ._kit_errors import event_problem
from ._kit_errors import parse_event
from ._kit_errors import stream_error
from ._kit_errors import unexpected_body
from ._kit_errors import validation_summary
from ._kit_translate import ANTHROPIC_STOP_REASONS
from ._kit_translate import ANTHROPIC_TOOL_CALL_IDS
from ._kit_translate import MISTRAL_TOOL_CALL_IDS
from ._kit_translate import ThinkTagSplitter
from ._kit_translate import ToolCallIdRule
from ._kit_translate import ToolCallIds
from ._kit_translate import chat_assistant_parts
from ._kit_translate import chat_request_part
from ._kit_translate import chat_tool_call
from ._kit_translate import chat_user_content
from ._kit_translate import map_turns
from ._kit_translate import wire_usage

if TYPE_CHECKING:
    import httpx
    from pydantic import TypeAdapter

    from .._transport import HTTPRequest
    from .._transport import HTTPResponse
    from .._transport import ResponseStream
    from ..parsers import Parser
    from ..providers import Provider

__all__ = (
    'ANTHROPIC_STOP_REASONS',
    'ANTHROPIC_TOOL_CALL_IDS',
    'MISTRAL_TOOL_CALL_IDS',
    'LazyAdapter',
    'SettingsTable',
    'ThinkTagSplitter',
    'ToolCallIdRule',
    'ToolCallIds',
    'WireModel',
    'WireStreamedResponse',
    'chat_assistant_parts',
    'chat_request_part',
    'chat_tool_call',
    'chat_user_content',
    'event_problem',
    'json_request',
    'map_settings',
    'map_turns',
    'open_stream',
    'parse_event',
    'stream_error',
    'stream_interrupted',
    'unexpected_body',
    'validation_summary',
    'wire_timestamp',
    'wire_usage',
)

T = TypeVar('T')
E = TypeVar('E')
R = TypeVar('R', bound=StreamedResponse)
N = TypeVar('N', bound=str)
"""A vendor's model-name type (its known names, `| str`), so its constructor's signature shows them."""

# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class WireModel(Model, Generic[N]):
    """A model behind one vendor's HTTP API: what `request` and `request_stream` do for every vendor.

    A subclass names its `default_provider` and `streamed_response_class`, builds the request
    (`_build_request`) and reads a whole response (`_process_response`); `__init__` takes a
    `Provider` or a provider name with the shorthand (`api_key=`, `base_url=`, ...). A vendor that
    reads a whole response's headers too overrides `_process_http_response`; one whose error
    details travel outside the body (Bedrock's `x-amzn-ErrorType`) overrides `_http_error`.
    """

    default_provider: ClassVar[str]
    """The provider name used when none is given, and the `gen_ai.system` value unless given."""
    streamed_response_class: ClassVar[type[WireStreamedResponse[Any]]]
    """The streamed response `request_stream` builds (assigned below the vendor's class of it)."""

    def __init__(
        self,
        model_name: N,
        *,
        provider: str | Provider | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        system: str | None = None,
    ) -> None:
        """`provider` is a provider name (`default_provider` when None) or a `Provider`; the
        shorthand `api_key`, `base_url` and `http_client` build the named provider with them.
        `system` is the `gen_ai.system` value (`default_provider` unless given)."""
        self._connect(
            model_name, provider, system, api_key=api_key, base_url=base_url, http_client=http_client
        )

    def _connect(
        self, model_name: str, provider: str | Provider | None, system: str | None, **shorthand: Any
    ) -> None:
        """What every constructor does: find the provider (`default_provider` when None, built with
        the shorthand when a name), and take the model name and `gen_ai.system` value."""
        if provider is None:
            provider = self.default_provider
        shorthand = {name: value for name, value in shorthand.items() if value is not None}
        if isinstance(provider, str):
            # Imported here: the providers pull in the transport (anyio, asyncio), which importing
            # an interface module need not pay for.
            from ..providers import infer_provider

            provider = infer_provider(provider, **shorthand)
        elif shorthand:
            raise UserError(
                f'{type(self).__name__} got a provider instance and {", ".join(shorthand)}: '
                'pass those to the provider instead'
            )
        self._model_name = model_name
        self._provider: Provider = provider
        self._system = system or self.default_provider

    @property
    def system(self) -> str:
        """The `gen_ai.system` value: the vendor (`default_provider`) unless given."""
        return self._system

    @property
    def model_name(self) -> str:
        """The model name sent in every request."""
        return self._model_name

    @property
    def base_url(self) -> str:
        """The provider's base URL."""
        return self._provider.base_url

    @property
    def provider(self) -> Provider:
        """Where requests go and how they are signed."""
        return self._provider

    @abstractmethod
    def _build_request(
        self, messages: list[ModelMessage], settings: Any, params: ModelRequestParameters, *, stream: bool
    ) -> HTTPRequest:
        """The vendor's request for the conversation (`settings` is never None)."""
        raise NotImplementedError

    @abstractmethod
    def _process_response(self, body: bytes) -> tuple[ModelResponse, Usage]:
        """A whole (non-streamed) 2xx body as our response and its usage."""
        raise NotImplementedError

    def _new_streamed_response(self, stream: ResponseStream) -> StreamedResponse:
        """The streamed response reading `stream`: a `streamed_response_class`."""
        return self.streamed_response_class(
            _model_name=self._model_name, _stream=stream, _vendor=self._provider.name
        )

    def _process_http_response(self, response: HTTPResponse) -> tuple[ModelResponse, Usage]:
        """A whole 2xx response as our response and its usage: its body through `_process_response`."""
        return self._process_response(response.body)

    def _http_error(self, error: ModelHTTPError) -> ModelHTTPError:
        """The error raised for a non-2xx answer to this model's request (streamed or not, reopened
        ones included); the default raises `error` as the transport made it."""
        return error

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> tuple[ModelResponse, Usage]:
        """Send the conversation and return the whole response with its token usage."""
        check_allow_model_requests()
        settings = model_settings or {}
        request = self._build_request(messages, settings, model_request_parameters, stream=False)
        try:
            response = await self._provider.send(
                request, model_name=self._model_name, timeout=settings.get('timeout')
            )
        except ModelHTTPError as exc:
            _raise_typed(exc, self._http_error)
        return self._process_http_response(response)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> AsyncIterator[StreamedResponse]:
        """Send the conversation and stream the response; the connection is released on exit."""
        check_allow_model_requests()
        settings = model_settings or {}
        request = self._build_request(messages, settings, model_request_parameters, stream=True)
        async with open_stream(
            self._provider,
            request,
            self._new_streamed_response,
            model_name=self._model_name,
            timeout=settings.get('timeout'),
            http_error=self._http_error,
        ) as response:
            yield response


def _raise_typed(error: ModelHTTPError, http_error: Callable[[ModelHTTPError], ModelHTTPError]) -> NoReturn:
    """Raise `http_error(error)`, chained to `error` when it is another exception."""
    typed = http_error(error)
    if typed is error:
        raise error
    raise typed from error


# --------------------------------------------------------------------------------------------
# Building a request
# --------------------------------------------------------------------------------------------

SettingsTable = tuple[tuple[str, str], ...]
"""`(setting, wire field)` pairs for the settings a vendor takes one-to-one, e.g.
`(('temperature', 'temperature'), ('stop_sequences', 'stop'))`."""


def map_settings(settings: Mapping[str, Any], table: SettingsTable, body: dict[str, Any]) -> None:
    """Copy every setting in `table` that is present in `settings` into `body` under its wire name."""
    for ours, theirs in table:
        if ours in settings:
            body[theirs] = settings[ours]


def json_request(
    provider: Provider,
    path: str,
    body: dict[str, Any],
    settings: Mapping[str, Any],
    *,
    model_name: str,
    headers: Mapping[str, str] | None = None,
    method: str = 'POST',
) -> HTTPRequest:
    """The provider's request for `path` with `body` as JSON, `extra_body` merged over it last and
    the settings' `extra_headers` over `headers`."""
    if extra_body := settings.get('extra_body'):
        body.update(extra_body)
    merged = {'content-type': 'application/json', **(headers or {})}
    if extra_headers := settings.get('extra_headers'):
        merged.update(extra_headers)
    return provider.build_request(method, path, orjson.dumps(body), merged, model_name=model_name)


# --------------------------------------------------------------------------------------------
# Wire schemas and errors
# --------------------------------------------------------------------------------------------


class LazyAdapter(Generic[T]):
    """A pydantic `TypeAdapter` for `module.name`, imported and built at first use, then kept.

    Declare one per wire type at module level, annotated with the type so calls are typed:
    `_CHUNK: LazyAdapter[wire.Chunk] = LazyAdapter('modelkit.wire.acme', 'Chunk')`.
    """

    __slots__ = ('_adapter', '_module', '_name')

    def __init__(self, module: str, name: str) -> None:
        self._module = module
        self._name = name
        self._adapter: TypeAdapter[T] | None = None

    @property
    def adapter(self) -> TypeAdapter[T]:
        """The `TypeAdapter`, built on first use."""
        if self._adapter is None:
            from pydantic import TypeAdapter

            self._adapter = TypeAdapter(getattr(import_module(self._module), self._name))
        return self._adapter

    def validate_json(self, data: str | bytes) -> T:
        """Validate a JSON document straight from its bytes."""
        return self.adapter.validate_json(data)

    def validate_python(self, value: object) -> T:
        """Validate an already-decoded value."""
        return self.adapter.validate_python(value)


def wire_timestamp(value: object) -> datetime:
    """A vendor's timestamp (Unix seconds, or an ISO 8601 string) as a datetime; now, when it is
    missing or absurd: a bogus timestamp is no reason to lose the answer."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return datetime.now(tz=UTC)


def stream_interrupted(
    vendor: str, expected: str, truncated: bool, body: bytes | None = None
) -> StreamInterrupted:
    """The error for a body that ended before `expected` (e.g. 'a finish reason or [DONE]') arrived;
    `body`: the start of a body that brought no event at all (an HTML page, a bare text), shown."""
    how = 'the body stopped in the middle of an event' if truncated else 'the body ended between events'
    return StreamInterrupted(f'{vendor} stream ended before {expected} arrived ({how})', body)


# --------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------


@asynccontextmanager
async def open_stream(
    provider: Provider,
    request: HTTPRequest,
    make_response: Callable[[ResponseStream], R],
    *,
    model_name: str,
    timeout: float | None,
    http_error: Callable[[ModelHTTPError], ModelHTTPError] | None = None,
) -> AsyncIterator[R]:
    """Open `request` as a stream and yield `make_response(stream)` with its timing attached;
    the connection is released when the block exits. `http_error` types a non-2xx answer, to the
    first attempt or to a reopened one, before it is raised.

    A `WireStreamedResponse` may reopen the request once per failure the vendor reports before any
    content (its `retryable_stream_errors`); the transport's retry policy decides whether and when,
    and `timing.started_at` stays the first attempt's, as for retries of an error status.
    """
    started_at = time.perf_counter()
    opened = _Reopenable(provider, request, model_name, timeout, http_error)
    try:
        stream = await opened.open(0)
        response = make_response(stream)
        response.attach_timing(started_at, headers_at=stream.headers_at, arrival_clock=stream)
        if isinstance(response, WireStreamedResponse):
            response._reopen = opened.reopen
        yield response
    finally:
        await opened.close()


class _Reopenable:
    """The provider's stream context for one request, which can be closed and opened again."""

    __slots__ = ('_context', '_http_error', '_model_name', '_provider', '_request', '_stream', '_timeout')

    def __init__(
        self,
        provider: Provider,
        request: HTTPRequest,
        model_name: str,
        timeout: float | None,
        http_error: Callable[[ModelHTTPError], ModelHTTPError] | None,
    ):
        self._provider = provider
        self._http_error = http_error
        self._request = request
        self._model_name = model_name
        self._timeout = timeout
        self._context: AbstractAsyncContextManager[ResponseStream] | None = None
        self._stream: ResponseStream | None = None

    async def open(self, after_attempts: int) -> ResponseStream:
        # The transport signs each attempt anew, so a reopened request gets a fresh signature (a
        # SigV4 date, a refreshed token), never the one the failed attempt carried.
        context = self._provider.stream(
            self._request, model_name=self._model_name, timeout=self._timeout, after_attempts=after_attempts
        )
        try:
            self._stream = await context.__aenter__()
        except ModelHTTPError as exc:
            if self._http_error is None:
                raise
            _raise_typed(exc, self._http_error)
        self._context = context
        return self._stream

    async def close(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            await context.__aexit__(None, None, None)

    async def reopen(self, error: ModelStreamError) -> ResponseStream:
        """The request opened again after the retry policy's wait; `error` if no retry is left."""
        stream = self._stream
        await self.close()
        if stream is None or not await stream.wait_to_retry(
            f'{error.error_type or "an error"} in the stream'
        ):
            raise error
        return await self.open(stream.attempt)


@fieldwise
@dataclass(repr=False, eq=False)
class WireStreamedResponse(_NamedStreamedResponse, Generic[E]):
    """A vendor's streamed response on the kit's event loop: subclass it per wire format.

    Implement `_new_parser` (the sans-I/O parser for the body) and `_process_event`, which
    translates one wire event through `_parts_manager` and returns our event, None, or (for a
    wire event that makes several) a plain generator of them. Set `_end_seen` when the vendor's
    end marker arrives (the rest of the body is then read but not processed) and
    `_vendor_finish_reason` when it gives one; override `_stream_complete` if "finished" means
    something else for the vendor.
    """

    _stream: ResponseStream
    _vendor: str
    _end_seen: bool = field(default=False, init=False)
    _reopen: Callable[[ModelStreamError], Awaitable[ResponseStream]] | None = field(
        default=None, init=False, repr=False
    )

    _times_own_events: ClassVar[bool] = True
    end_expected: ClassVar[str] = 'a finish reason'
    """What the end-of-stream check names as missing, e.g. 'a finish reason or [DONE]'."""
    json_stream: ClassVar[bool] = False
    """True when the stream itself is a JSON array (Gemini without `alt=sse`): a body that starts
    with `[` is then the stream. A body starting with `{` (or `[` otherwise) is a JSON answer,
    read whole: an error object, or a completion (`_process_whole_body`)."""
    retryable_stream_errors: ClassVar[frozenset[str]] = frozenset()
    """Error types of an in-stream error (`ModelStreamError.error_type`) that, before any content
    event reached the caller, reopen the request under the transport's retry policy, as the HTTP
    status they stand for would (Anthropic's `overloaded_error` is its 529)."""

    @abstractmethod
    def _new_parser(self) -> Parser[E]:
        """A fresh parser for this response's body."""
        raise NotImplementedError

    @abstractmethod
    def _process_event(
        self, event: E
    ) -> ModelResponseStreamEvent | Iterator[ModelResponseStreamEvent] | None:
        """Translate one wire event: return our one event, None, or a generator of several."""
        raise NotImplementedError

    def _restart(self) -> None:
        """Forget what a failed attempt left before the request is reopened; a subclass with state
        of its own resets it too (and calls this)."""
        self._parts_manager = PartsAssembler()
        self._usage = Usage()
        self._finish_reason = self._vendor_finish_reason = self._vendor_id = None
        self._end_seen = False

    def _stream_complete(self) -> bool:
        """Whether the body may end here: the end marker or a finish reason arrived."""
        return self._end_seen or self._vendor_finish_reason is not None

    def _process_whole_body(self, body: bytes) -> tuple[ModelResponse, Usage] | None:
        """A non-streamed answer sent where a stream was asked for (a gateway that ignores
        `stream: true`, a cached completion): the vendor's own non-streamed processing of `body`,
        or None when the vendor has none (the body is then reported as unexpected).

        Called only for a JSON object that is not an error object (those are raised as the
        vendor's `ModelStreamError` before this). Raise `unexpected_body(...)` when it does not fit.
        """
        return None

    async def _get_event_iterator(self) -> AsyncIterator[ModelResponseStreamEvent]:
        # One generator for every vendor, and no wrapper around it or iterator under it: the body's
        # chunks are pulled here, the arrival time is read once per chunk and stamped on everything
        # that chunk produced.
        process = self._process_event
        times = self._timing.event_times
        append = times.append
        clock = time.perf_counter
        try:
            while True:
                stream = self._stream
                parser = self._new_parser()
                # A parser that can hand out its events one at a time as they are taken (the JSON
                # array's parsed elements) says so with `iter_feed`: a chunk of thousands of them
                # then never holds them all at once.
                feed = getattr(parser, 'iter_feed', parser.feed)
                idle = stream.idle_timeout
                head = b''  # the chunk with the body's first byte, shown if it holds no event
                try:
                    next_chunk = stream.body_reader()
                    sniff = True  # until the body's first byte is seen: is it JSON rather than a stream?
                    deadline: float | None = None  # set once a chunk brings no event: the stream is quiet
                    content_at = clock()
                    while True:
                        try:
                            if deadline is None:
                                chunk = await next_chunk()
                            else:
                                chunk = await stream.next_chunk_by(deadline)
                        except StopAsyncIteration:
                            stream.body_ended()
                            break
                        except Exception as exc:  # httpx's, translated by the transport; ours pass through
                            raise stream.read_failed(exc)  # noqa: B904 (read_failed sets the cause)
                        arrival = stream.last_arrival = clock()
                        if sniff and (lead := chunk.lstrip()[:1]):
                            sniff = False
                            head = chunk
                            if lead == b'{' or (lead == b'[' and not self.json_stream):
                                # No stream format starts so (an SSE field name, an event-stream length
                                # of gigabytes): a JSON answer, read whole.
                                body = chunk + await stream.read_rest(MAX_RESPONSE_BODY_BYTES)
                                for event in self._whole_body_events(body):
                                    append(arrival)
                                    yield event
                                return
                        content = False
                        for wire_event in feed(chunk):
                            result = process(wire_event)
                            if result is None:
                                pass
                            elif result.__class__ is GeneratorType:
                                # Several events: each is made only once the one before it was handed
                                # out, so `get()` always matches what the caller has seen.
                                for event in cast(Iterator[ModelResponseStreamEvent], result):
                                    append(arrival)
                                    content = True
                                    yield event
                            else:
                                # Not `cast(...)`, which is a function call per event.
                                append(arrival)
                                content = True
                                yield result  # type: ignore[misc]
                            if self._end_seen:
                                # Done: release the connection without waiting on a server that keeps
                                # the body open (the rest of the body is not processed).
                                await stream.finish_after_end()
                                return
                        if idle is not None:
                            # No event for `idle` seconds of waiting ends the stream, keep-alive bytes or
                            # not. A read waits at most `idle` (httpx's read timeout), so a first quiet
                            # chunk later than that after the last content means the caller was slow with
                            # the events: that time does not count, and the bound starts again from the
                            # quiet chunk (generous by at most one read's wait; never a false timeout).
                            if content:
                                deadline = None
                                content_at = arrival
                            elif deadline is None:
                                deadline = content_at + idle
                                if deadline < arrival:
                                    deadline = arrival + idle
                    for wire_event in parser.close():
                        result = process(wire_event)
                        if result.__class__ is GeneratorType:
                            for event in cast(Iterator[ModelResponseStreamEvent], result):
                                append(stream.last_arrival)
                                yield event
                        elif result is not None:
                            append(stream.last_arrival)
                            yield cast(ModelResponseStreamEvent, result)
                except ModelStreamError as exc:
                    # The caller has seen nothing yet: a transient failure is retried like its status.
                    if times or self._reopen is None or exc.error_type not in self.retryable_stream_errors:
                        raise
                    self._stream = await self._reopen(exc)
                    self._restart()
                    continue
                break
            if not self._stream_complete():
                shown = head[:_SHOWN_BODY_BYTES] if not times else None
                raise stream_interrupted(self._vendor, self.end_expected, parser.truncated, shown)
        except ModelkitError as exc:
            # Whatever arrived before the failure is the caller's data, whatever the error: never
            # drop it.
            if exc.partial_response is None:
                exc.partial_response = self.get()
            raise

    def _whole_body_events(self, body: bytes) -> Iterator[ModelResponseStreamEvent]:
        """The events of a JSON body sent instead of a stream: an error object is the vendor's
        error, an answer the vendor can read (`_process_whole_body`) becomes one event per part."""
        vendor = self._vendor
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UnexpectedModelBehavior(
                f'{vendor} answered a stream request with a body that is neither a stream nor JSON', body
            ) from None
        if isinstance(payload, dict) and (
            'error' in payload
            or payload.get('type') == 'error'
            or ('message' in payload and set(payload) <= {'message', 'code', 'type', 'status'})
        ):
            raise stream_error(vendor, body)
        processed = self._process_whole_body(body) if isinstance(payload, dict) else None
        if processed is None:
            raise UnexpectedModelBehavior(
                f'{vendor} answered a stream request with a JSON body that is not a stream', body
            )
        response, usage = processed
        self._end_seen = True
        self._usage = usage
        self._finish_reason = response.finish_reason
        self._vendor_finish_reason = response.vendor_finish_reason
        self._vendor_id = response.vendor_id
        self._model_name = response.model_name or self._model_name
        self._timestamp = response.timestamp
        yield from _replay_parts(self._parts_manager, response.parts)


_SHOWN_BODY_BYTES = 4096
"""How much of a body that brought no event we keep for the error (the message trims it further)."""


def _replay_parts(
    parts: PartsAssembler, response_parts: list[ModelResponsePart]
) -> Iterator[ModelResponseStreamEvent]:
    """One start event per part of a whole response, through the assembler (so `get()` matches)."""
    for index, part in enumerate(response_parts):
        if isinstance(part, TextPart):
            event = parts.text_delta(('whole', index), part.content)
        elif isinstance(part, ThinkingPart):
            event = parts.thinking_delta(('whole', index), part.content, signature=part.signature, id=part.id)
        else:
            event = parts.tool_call(('whole', index), part.tool_name, part.args, part.tool_call_id)
        if event is not None:
            yield event
