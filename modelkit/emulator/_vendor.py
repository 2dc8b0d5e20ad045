"""The vendor-neutral emulator core: what every vendor module builds on.

A vendor module (`openai.py`, `anthropic.py`, ...) defines one `Vendor` subclass per protocol it
speaks and lists an instance of each in its module-level `VENDORS`. The subclass states only what
is the vendor's own:

- `prefix`, `base_path`, `env`: the model-string prefix, where its base URL sits under the
  emulator's root, and the environment lines a user pastes to point clients at it;
- `routes()`: `(method, path regex, handler)` triples;
- `api_key(request)`: its auth rule (which header carries the key);
- `error_payload(kind, message, status)`: its error body for a neutral `ErrorKind`;
- optionally its wording (`fault_messages`, `auth_messages`, `not_found_message`), `claims`,
  `rate_limit_headers`, and extra faults (`http_faults`, `stream_error_faults`, e.g. Anthropic's
  529 and in-stream `overloaded_error`);
- the encoding of its stream: an encoder object with `event`, `error` and `end` (`SSEEncoder` here
  covers every SSE vendor; a vendor with another framing, AWS event-stream or a JSON array, writes
  its own with the same three methods).

The core does the rest, the same way for every vendor: auth checks (`authenticate`), control
parsing and fault selection (`admit`), the HTTP fault answers in the vendor's shape
(`fault_response`), pacing and mid-stream strikes (`stream_frames` over `Frame`s), the non-streamed
answer with its faults (`plain_response`), the 404 for an unknown path (`not_found`), and reading a
request body that must be a JSON object (`json_object`), and the checks of a field that must be a
list (`json_list`, `stop_sequences`).
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Literal
from typing import NamedTuple
from typing import Protocol

import anyio
import orjson

from ..exceptions import UserError
from ._script import MID_STREAM_FAULTS
from ._script import ControlError
from ._script import Controls
from ._script import Pacer
from ._script import parse_controls
from ._server import DropConnection
from ._server import EmulatorState
from ._server import Request
from ._server import Response
from ._server import Router

__all__ = (
    'CLOSE',
    'ERROR_STATUS',
    'HEAD',
    'HTTP_FAULTS',
    'OPEN',
    'STREAM_ERROR_FAULTS',
    'TOKEN',
    'ErrorKind',
    'Frame',
    'FrameKind',
    'Handler',
    'Json',
    'Refusal',
    'SSEEncoder',
    'StreamEncoder',
    'Vendor',
    'stream_frames',
)

Json = dict[str, Any]
"""A JSON object as vendor modules build them."""

ErrorKind = Literal[
    'invalid_request',
    'authentication',
    'permission',
    'not_found',
    'too_large',
    'rate_limit',
    'server',
    'unavailable',
    'overloaded',
]
"""What went wrong, in neutral terms; each vendor maps a kind to its own error type and body."""

ERROR_STATUS: Mapping[ErrorKind, int] = {
    'invalid_request': 400,
    'authentication': 401,
    'permission': 403,
    'not_found': 404,
    'too_large': 413,
    'rate_limit': 429,
    'server': 500,
    'unavailable': 503,
    'overloaded': 529,
}
"""The HTTP status of each kind when the vendor gives no other."""

HTTP_FAULTS: Mapping[str, ErrorKind] = {'429': 'rate_limit', '500': 'server', '503': 'unavailable'}
"""Faults answered with an HTTP error instead of the reply, for every vendor."""
STREAM_ERROR_FAULTS: Mapping[str, ErrorKind] = {'stream-error': 'server'}
"""Faults that send the vendor's in-stream error event after `fault-after` tokens."""

_DEFAULT_MESSAGES: Mapping[ErrorKind, str] = {
    'rate_limit': 'Rate limit reached (emulated). Please try again later.',
    'server': 'The server had an error while processing your request (emulated).',
    'unavailable': 'The service is temporarily unavailable (emulated).',
    'overloaded': 'Overloaded (emulated).',
}

FrameKind = Literal['head', 'open', 'token', 'close']
HEAD: FrameKind = 'head'
"""Sent at once, before the first token's delay (a stream's opening metadata: Anthropic's message_start)."""
OPEN: FrameKind = 'open'
"""Sent together with the next token frame (a block or choice that opens with its first delta);
dropped when a strike comes first, so a broken stream never opens a block it cannot fill."""
TOKEN: FrameKind = 'token'
"""Carries `tokens` generated tokens: paced, counted toward `fault-after`."""
CLOSE: FrameKind = 'close'
"""Follows content (a block's end, the finish reason, usage): sent at once, but a due strike
comes before it, so every stream a fault applies to is visibly incomplete."""


class Frame(NamedTuple):
    """One event of a stream, as a vendor module plans it: what kind of frame, the event, its tokens."""

    kind: FrameKind
    event: Any
    """Whatever the stream's encoder takes (for `SSEEncoder`: a payload, or `(event name, payload)`)."""
    tokens: int = 0


class StreamEncoder(Protocol):
    """Turns a vendor's planned events into bytes on the wire (SSE, AWS event stream, a JSON array)."""

    def event(self, event: Any) -> bytes:
        """The bytes of one event (a stateful encoder may add separators)."""
        ...

    def error(self, kind: ErrorKind, message: str) -> bytes:
        """The vendor's in-stream error event."""
        ...

    def end(self) -> bytes:
        """What closes a complete stream (`data: [DONE]`, a closing bracket), or nothing."""
        ...


class SSEEncoder:
    """Server-sent events (WHATWG): `data:` lines, named with `event:` when a frame gives a name.

    An event is a JSON payload, or `(name, payload)` for named events. `error_event` names the
    in-stream error event (Anthropic's `error`; None for OpenAI's unnamed error object); `done` is
    the line that ends a complete stream (`[DONE]`), if the vendor has one.
    """

    content_type = 'text/event-stream; charset=utf-8'

    def __init__(self, vendor: Vendor, *, error_event: str | None = None, done: str | None = None) -> None:
        self._vendor = vendor
        self._error_event = error_event
        self._done = b'data: ' + done.encode() + b'\n\n' if done is not None else b''

    def event(self, event: Any) -> bytes:
        """`data: <json>`, after `event: <name>` for a named event."""
        if isinstance(event, tuple):
            name, payload = event
            data: bytes = orjson.dumps(payload)
            return b'event: ' + str(name).encode() + b'\ndata: ' + data + b'\n\n'
        return b'data: ' + orjson.dumps(event) + b'\n\n'

    def error(self, kind: ErrorKind, message: str) -> bytes:
        """The vendor's error payload as an event."""
        payload = self._vendor.error_payload(kind, message, ERROR_STATUS[kind])
        return self.event((self._error_event, payload) if self._error_event else payload)

    def end(self) -> bytes:
        """The `done` line, or nothing."""
        return self._done


class Refusal(Exception):
    """Raised inside a handler to answer at once with `response` (a 401, a 400, an HTTP fault)."""

    def __init__(self, response: Response) -> None:
        self.response = response
        super().__init__(response.status)


Handler = Callable[[Request, EmulatorState], Awaitable[Response]]


class Vendor:
    """One vendor protocol the emulator speaks. Subclass it per protocol; see the module docstring."""

    prefix: ClassVar[str]
    """The model-string prefix (`'anthropic'`); `Emulator.base_url(prefix)` finds this vendor."""
    base_path: ClassVar[str] = ''
    """Appended to the emulator's root URL to give the base URL the vendor's SDK and provider take."""
    env: ClassVar[Mapping[str, str]] = {}
    """Environment variables that point clients here, as templates over `base_url`, `url`, `api_key`
    and every `EmulatorConfig` field: `{'ANTHROPIC_BASE_URL': '{base_url}', ...}`."""
    error_status: ClassVar[Mapping[ErrorKind, int]] = ERROR_STATUS
    """The HTTP status of an error of each kind (AWS answers a bad key with 403, say)."""
    http_faults: ClassVar[Mapping[str, ErrorKind]] = HTTP_FAULTS
    stream_error_faults: ClassVar[Mapping[str, ErrorKind]] = STREAM_ERROR_FAULTS
    fault_messages: ClassVar[Mapping[ErrorKind, str]] = {}
    """The vendor's wording of the faults it words its own way; the others keep the core's."""
    auth_messages: ClassVar[tuple[str, str]] = ('No API key was provided.', 'Invalid API key (emulated).')
    """The 401 message without a key, and with a wrong one (`auth_message` for one that depends on it)."""

    # -- what a vendor module defines ----------------------------------------------------------

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        """`(method, path regex, handler)` for each endpoint; named groups become `path_params`."""
        raise NotImplementedError

    def api_key(self, request: Request) -> str | None:
        """The key the request presents, by this vendor's auth rule (default: a bearer token)."""
        scheme, _, token = request.headers.get('authorization', '').partition(' ')
        return token.strip() or None if scheme.lower() == 'bearer' else None

    def error_payload(self, kind: ErrorKind, message: str, status: int, *, param: str | None = None) -> Any:
        """The vendor's error body (also the payload of its in-stream error event); `param` names
        the request field at fault, for vendors whose errors say which."""
        raise NotImplementedError

    def error_envelope(self, kind: ErrorKind, payload: Any) -> tuple[Any, list[tuple[str, str]]]:
        """What an HTTP error adds to `error_payload` (not the in-stream event): a request id, say,
        or a header naming the error's type."""
        return payload, []

    def rate_limit_headers(self, wait_ms: int) -> list[tuple[str, str]]:
        """Headers a 429 carries besides `retry-after` and `retry-after-ms` (the vendor's own)."""
        return []

    def fault_message(self, kind: ErrorKind, controls: Controls) -> str:
        """The message of an injected fault."""
        return self.fault_messages.get(kind) or _DEFAULT_MESSAGES.get(kind, 'Emulated failure.')

    def auth_message(self, key: str | None) -> str:
        """Why the key was refused: `key` is None when none was sent (never echo a wrong key whole)."""
        missing, wrong = self.auth_messages
        return missing if key is None else wrong

    def not_found_message(self, request: Request) -> str:
        """The message of the 404 for a path no route serves."""
        return f'Not found: {request.method} {request.path}'

    def claims(self, request: Request) -> bool:
        """Whether an unroutable request looks meant for this vendor (it carries this vendor's key)."""
        return self.api_key(request) is not None

    # -- what the core does for every vendor ---------------------------------------------------

    @property
    def faults(self) -> frozenset[str]:
        """Every fault name this vendor answers."""
        return frozenset(
            {*self.http_faults, *self.stream_error_faults, 'slow-first-byte', 'drop', 'truncate'}
        )

    def register(self, router: Router) -> None:
        """Add this vendor's routes; a `Refusal` or an unsatisfiable schema becomes its answer."""
        for method, pattern, handler in self.routes():
            router.add(method, pattern, self._guarded(handler))

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: Request, state: EmulatorState) -> Response:
            try:
                return await handler(request, state)
            except Refusal as refusal:
                return refusal.response
            except UserError as exc:  # a tool schema no value satisfies: the vendor would reject it
                return self.error_response('invalid_request', str(exc))

        guarded.__name__ = getattr(handler, '__name__', 'handler')
        return guarded

    def error_response(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        headers: Iterable[tuple[str, str]] = (),
        param: str | None = None,
    ) -> Response:
        """An error in this vendor's shape, with the kind's status unless `status` is given."""
        code = status if status is not None else self.error_status[kind]
        payload, extra = self.error_envelope(kind, self.error_payload(kind, message, code, param=param))
        return Response.json(code, payload, [*headers, *extra])

    def refuse(
        self, kind: ErrorKind, message: str, *, status: int | None = None, param: str | None = None
    ) -> Refusal:
        """A `Refusal` to raise: `raise vendor.refuse('invalid_request', 'max_tokens: Field required')`."""
        return Refusal(self.error_response(kind, message, status=status, param=param))

    def json_object(
        self,
        raw: bytes,
        *,
        not_json: str = 'The request body is not valid JSON.',
        not_object: str = 'The request body must be a JSON object.',
    ) -> Json:
        """The request body, which must be a JSON object, or a `Refusal` (`invalid_request`) to raise."""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise self.refuse('invalid_request', not_json) from None
        if not isinstance(body, dict):
            raise self.refuse('invalid_request', not_object)
        return body

    def json_list(self, value: Any, message: str) -> list[Any]:
        """A request field that must be a JSON array where present: [] when absent (None), else a
        `Refusal` (`invalid_request`, the vendor's `message`) to raise."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.refuse('invalid_request', message)
        return value

    def stop_sequences(self, value: Any, message: str) -> tuple[str, ...]:
        """A request's stop sequences, a list of strings (none when absent or empty), or a `Refusal`
        (`invalid_request`, the vendor's `message`) to raise."""
        stops = value or []
        if not isinstance(stops, list) or not all(isinstance(stop, str) for stop in stops):
            raise self.refuse('invalid_request', message)
        return tuple(stops)

    def authenticate(self, request: Request, state: EmulatorState) -> str:
        """The key the request presents, or a `Refusal` (401 in this vendor's shape) to raise."""
        key = self.api_key(request)
        expected = state.config.api_key
        if key is not None and (expected is None or key == expected):
            return key
        raise self.refuse('authentication', self.auth_message(key))

    async def admit(
        self, request: Request, state: EmulatorState, key: str, model: str
    ) -> tuple[str, Controls, str | None]:
        """Read the request's controls, pick its fault and apply the HTTP ones.

        Returns the bare model name, the controls and the fault still to apply (a mid-stream one, or
        None). A bad control is a 400 and an HTTP fault its error, both raised as `Refusal`;
        `slow-first-byte` waits here, before any byte of the answer.
        """
        try:
            bare, controls = parse_controls(model, request.headers, state.config, self.faults)
        except ControlError as exc:
            raise self.refuse('invalid_request', str(exc), param=exc.option) from None
        fault = state.faults.strike(key, controls)
        if fault is not None and fault in self.http_faults:
            raise Refusal(self.fault_response(self.http_faults[fault], controls))
        if fault == 'slow-first-byte':
            await anyio.sleep(controls.slow_first_byte)
            fault = None
        return bare, controls, fault

    def fault_response(self, kind: ErrorKind, controls: Controls) -> Response:
        """The HTTP answer to a fault of `kind`; a 429 says how long to wait, in seconds and in ms."""
        headers: list[tuple[str, str]] = []
        if kind == 'rate_limit':
            wait_ms = controls.retry_after_ms
            # `retry-after-ms` beside the standard header lets tests retry in milliseconds.
            headers = [('retry-after', str(math.ceil(wait_ms / 1000))), ('retry-after-ms', str(wait_ms))]
            headers += self.rate_limit_headers(wait_ms)
        return self.error_response(kind, self.fault_message(kind, controls), headers=headers)

    async def plain_response(
        self,
        payload: Any,
        headers: Sequence[tuple[str, str]],
        controls: Controls,
        fault: str | None,
        tokens: int,
    ) -> Response:
        """A non-streamed answer after the time generating `tokens` takes, with any mid-stream fault.

        `drop` closes the connection half way through the body, `truncate` cuts the JSON in half,
        an in-stream error fault becomes the matching HTTP error.
        """
        await Pacer(controls).whole_reply(tokens)
        if fault is not None and fault in self.stream_error_faults:
            return self.fault_response(self.stream_error_faults[fault], controls)
        if fault in ('drop', 'truncate'):
            return _broken_body(orjson.dumps(payload), list(headers), drop=fault == 'drop')
        return Response.json(200, payload, headers)

    def stream_response(
        self,
        frames: Sequence[Frame],
        encoder: StreamEncoder,
        controls: Controls,
        fault: str | None,
        headers: Sequence[tuple[str, str]] = (),
        *,
        content_type: str = SSEEncoder.content_type,
    ) -> Response:
        """A 200 whose body is `frames`, encoded, paced and struck by `fault` (see `stream_frames`)."""
        chunks = stream_frames(frames, encoder, controls, fault, self.stream_error_faults, self.fault_message)
        # With no time to first token the first chunk is ready when the head is: one write.
        return Response(
            200,
            [('content-type', content_type), *headers],
            stream=chunks,
            head_with_first_chunk=controls.ttft <= 0,
        )

    def not_found(self, request: Request) -> Response:
        """The 404 for a path no route serves."""
        return self.error_response('not_found', self.not_found_message(request))

    def environment(self, values: Mapping[str, Any]) -> dict[str, str]:
        """This vendor's `env` templates filled in from `values` (`base_url`, `api_key`, config fields)."""
        return {name: template.format_map(values) for name, template in self.env.items()}


async def stream_frames(
    frames: Sequence[Frame],
    encoder: StreamEncoder,
    controls: Controls,
    fault: str | None,
    stream_errors: Mapping[str, ErrorKind] = STREAM_ERROR_FAULTS,
    message: Callable[[ErrorKind, Controls], str] | None = None,
) -> AsyncGenerator[bytes, None]:
    """The bytes of a stream: frames encoded and paced, then `encoder.end()`, unless a fault strikes.

    A mid-stream fault strikes once `fault_after` tokens are out, and at the latest before the
    first `CLOSE` frame after the last token: `drop` closes the connection, `truncate` ends the
    body cleanly without `end()`, an in-stream error fault sends `encoder.error(...)` and ends.
    Each yielded chunk leaves the server as one chunk of the HTTP body.
    """
    pacer = Pacer(controls)
    strike = fault if fault in MID_STREAM_FAULTS or fault in stream_errors else None
    strike_at = min(controls.fault_after, sum(frame.tokens for frame in frames))
    sent = 0
    pending = b''
    for frame in frames:
        if frame.kind == OPEN:
            pending += encoder.event(frame.event)
            continue
        if frame.kind != HEAD:
            if strike is not None and sent >= strike_at:
                break
            if frame.kind == TOKEN or pending:
                await pacer.next_token()
        yield pending + encoder.event(frame.event)
        pending = b''
        sent += frame.tokens
    else:
        if strike is None:
            if pending:
                await pacer.next_token()
            tail = pending + encoder.end()
            if tail:
                yield tail
            return
    if strike == 'drop':
        raise DropConnection
    if strike in stream_errors:
        kind = stream_errors[strike]
        text = message(kind, controls) if message is not None else _DEFAULT_MESSAGES.get(kind, 'error')
        yield encoder.error(kind, text)
    # 'truncate', or after an error event: the body ends cleanly, without the end marker.


def _broken_body(payload: bytes, headers: list[tuple[str, str]], *, drop: bool) -> Response:
    """A non-streamed answer that breaks half way: the connection drops, or the JSON is cut short."""
    half = payload[: len(payload) // 2]
    if not drop:
        return Response(200, [('content-type', 'application/json'), *headers], half)

    async def halves() -> AsyncGenerator[bytes, None]:
        yield half
        raise DropConnection

    length = ('content-length', str(len(payload)))
    return Response(200, [('content-type', 'application/json'), length, *headers], stream=halves())
