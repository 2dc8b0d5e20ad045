"""The emulator's HTTP/1.1 server: h11 for the protocol, anyio for sockets (asyncio and trio).

Vendor modules (`modelkit.emulator.openai`, ...) each list their protocols in `VENDORS` (see
`_vendor.Vendor`), whose `(method, path regex) -> handler` routes go on a `Router`; a handler
turns a `Request` into a `Response` whose body is either bytes (sent with Content-Length) or an
async iterator of chunks (sent with chunked transfer encoding, one chunk per item, so every event
leaves as soon as it is made). Connections are kept alive between requests, as vendors' servers do.
"""

from __future__ import annotations

import logging
import re
import shlex
import signal
import sys
import threading
from collections import deque
from collections.abc import AsyncGenerator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from contextlib import AbstractContextManager
from contextlib import aclosing
from contextlib import suppress
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from email.utils import formatdate
from importlib import import_module
from types import TracebackType
from typing import IO
from typing import TYPE_CHECKING
from typing import Any
from typing import Self
from urllib.parse import parse_qsl
from urllib.parse import unquote
from urllib.parse import urlsplit

import anyio
import anyio.abc
import anyio.from_thread
import h11
import orjson

from ._config import EmulatorConfig
from ._script import FaultCounter

if TYPE_CHECKING:
    from ._vendor import Vendor

__all__ = (
    'SERVICE_MODULES',
    'VENDOR_MODULES',
    'DropConnection',
    'Emulator',
    'EmulatorState',
    'Handler',
    'Request',
    'Response',
    'Router',
    'load_vendors',
    'serve_forever',
)

logger = logging.getLogger('modelkit.emulator')

VENDOR_MODULES: tuple[str, ...] = ('anthropic', 'bedrock', 'cohere', 'gemini', 'groq', 'mistral', 'openai')
"""Modules of this package whose `VENDORS` the emulator serves, in matching order: a route, and
the choice of error shape for an unknown path, goes to the first that matches. `openai` comes last
because its chat route takes any path prefix (`/openai/v1`, `/api/v1`, ...)."""
SERVICE_MODULES: tuple[str, ...] = ('google_oauth',)
"""Modules of this package serving endpoints that are no model vendor's (Google's OAuth token
endpoint, which Vertex AI's clients get their bearer tokens from): each has `register(router)`;
their routes are mounted after the vendors', and they are no model-string prefix."""
PREFIX_ORDER: tuple[str, ...] = (
    'openai',
    'azure',
    'anthropic',
    'google-gla',
    'google-vertex',
    'groq',
    'mistral',
    'cohere',
    'bedrock',
)
"""The order `modelkit emulate` lists vendors in; a prefix not named here comes after these.

Each vendor's base URL is the root plus its `base_path`, what its official SDK and our provider
take: openai `/v1`; azure, anthropic, google-gla, google-vertex, cohere and bedrock the root (their
clients append `/v1/messages`, `/v1beta/models/...`, `/v1/projects/...`, `/v2/chat`,
`/model/{id}/converse`); groq `/openai/v1`; mistral `/mistral/v1`, because Mistral's real path
`/v1/chat/completions` is OpenAI's (the mistralai SDK's `server_url` is then `{root}/mistral`)."""

READ_CHUNK_BYTES = 64 * 1024
"""Bytes asked of the socket per read: one read takes a typical request whole."""
MAX_HEADER_BYTES = 64 * 1024
"""Longest request head accepted (h11's own default is 16 KiB; long bearer tokens and many
`x-` headers fit in 64 KiB, a runaway client does not)."""
MAX_REQUEST_BODY_BYTES = 32 * 1024 * 1024
"""Largest request body accepted: prompts with several base64 images fit; more is refused with 413
rather than held in memory."""
RECENT_REQUESTS = 256
"""How many requests `Emulator.requests` remembers for tests to inspect."""


class DropConnection(Exception):
    """Raised by a response body to make the server close the socket mid-response, as a crash would."""


@dataclass(slots=True, repr=False)
class Request:
    """One request as the server received it; header names are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    path_params: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        # Headers are left out: they carry the client's API key.
        return f'Request({self.method} {self.path}, {len(self.body)} body bytes)'


@dataclass(slots=True)
class Response:
    """What a handler answers: a status, headers, and a body as bytes or as a chunk iterator."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b''
    stream: AsyncGenerator[bytes, None] | None = None
    """When set, sent chunk by chunk (chunked encoding, unless a content-length header is given)."""
    head_with_first_chunk: bool = False
    """Hold the head back until `stream`'s first chunk and send both in one write: for a stream
    whose first chunk is due at once (no time to first token), so that the client is not woken
    for a head alone and the first chunk does not wait a turn of every other stream being sent."""

    @classmethod
    def json(cls, status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
        """A JSON response."""
        return cls(status, [('content-type', 'application/json'), *headers], orjson.dumps(payload))


Handler = Callable[[Request, 'EmulatorState'], Awaitable[Response]]


class Router:
    """The registry of routes: the first `(method, path regex)` that matches a request handles it."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Route `method` requests whose whole path matches `pattern` (named groups become path_params)."""
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        """The handler for a request and its path parameters, or None."""
        for route_method, pattern, handler in self._routes:
            if route_method != method:
                continue
            found = pattern.fullmatch(path)
            if found is not None:
                # Clients percent-encode path segments (Azure's deployment names): decode them here.
                return handler, {k: unquote(v) for k, v in found.groupdict().items() if v is not None}
        return None


def load_vendors() -> list[Vendor]:
    """The vendor protocols of every module in `VENDOR_MODULES`, in matching order."""
    vendors: list[Vendor] = []
    for name in VENDOR_MODULES:
        vendors.extend(import_module(f'{__package__}.{name}').VENDORS)
    return vendors


def default_router(vendors: Iterable[Vendor] | None = None) -> Router:
    """A router with the routes of `vendors` (by default every module's) and of the services."""
    router = Router()
    for vendor in load_vendors() if vendors is None else vendors:
        vendor.register(router)
    for name in SERVICE_MODULES:
        import_module(f'{__package__}.{name}').register(router)
    return router


class EmulatorState:
    """What handlers share across requests: the config, the fault counters and an id counter."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.faults = FaultCounter()
        self._next_id = 0

    def next_id(self) -> int:
        """A number unique to this emulator run, for response ids."""
        self._next_id += 1
        return self._next_id


def _vendor_for(emulator: Emulator, request: Request) -> Vendor:
    """Whose error shape an unroutable or failed request gets: the first vendor claiming it, else the last
    (OpenAI's, the most common wire among the emulated vendors)."""
    return next((v for v in emulator.vendors if v.claims(request)), emulator.vendors[-1])


class _Connection:
    """One client connection: read requests with h11, dispatch, write responses; repeat while kept alive."""

    def __init__(self, emulator: Emulator, stream: anyio.abc.ByteStream) -> None:
        self.emulator = emulator
        self.stream = stream
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)

    async def _send(self, event: h11.Event) -> None:
        data = self.conn.send(event)
        if data:
            await self.stream.send(data)

    async def _next_event(self) -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await self.stream.receive(READ_CHUNK_BYTES)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                data = b''
            self.conn.receive_data(data)

    def _server_error(self, request: Request, message: str, status: int = 500) -> Response:
        vendor = _vendor_for(self.emulator, request)
        return vendor.error_response('too_large' if status == 413 else 'server', message, status=status)

    async def _read_request(self) -> Request | Response | None:
        """The next request, a ready error response (body too large), or None when the client left."""
        event = await self._next_event()
        if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None
        if not isinstance(event, h11.Request):
            return None
        if self.conn.they_are_waiting_for_100_continue:
            await self._send(h11.InformationalResponse(status_code=100, headers=[]))
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode('latin-1').lower()
            text = value.decode('latin-1')
            headers[key] = f'{headers[key]}, {text}' if key in headers else text
        target = urlsplit(event.target.decode('latin-1'))
        request = Request(
            method=event.method.decode('ascii').upper(),
            path=target.path or '/',
            query=dict(parse_qsl(target.query, keep_blank_values=True)),
            headers=headers,
            body=b'',
        )
        body = bytearray()
        while True:
            part = await self._next_event()
            if isinstance(part, h11.Data):
                body += part.data
                if len(body) > MAX_REQUEST_BODY_BYTES:
                    return self._server_error(
                        request, f'request body over {MAX_REQUEST_BODY_BYTES} bytes', 413
                    )
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                return None
        request.body = bytes(body)
        return request

    async def _respond(self, request: Request) -> Response:
        self.emulator.requests.append(request)
        found = self.emulator.router.match(request.method, request.path)
        if found is None:
            return _vendor_for(self.emulator, request).not_found(request)
        handler, params = found
        request.path_params = params
        try:
            return await handler(request, self.emulator.state)
        except Exception as exc:
            # A bug in a handler must not kill the server; the client gets a 500 naming it.
            logger.exception('emulator handler failed for %s %s', request.method, request.path)
            return self._server_error(request, f'emulator handler failed: {type(exc).__name__}: {exc}')

    async def _write(self, response: Response) -> None:
        headers = [
            ('date', formatdate(usegmt=True)),
            ('server', 'modelkit-emulator'),
            *response.headers,
        ]
        if response.stream is None:
            headers.append(('content-length', str(len(response.body))))
        encoded = [(name.encode('latin-1'), value.encode('latin-1')) for name, value in headers]
        head = h11.Response(status_code=response.status, headers=encoded)
        if response.stream is None:
            await self._send(head)
            if response.body:
                await self._send(h11.Data(data=response.body))
        else:
            async with aclosing(response.stream) as chunks:
                if response.head_with_first_chunk:
                    await self._send_head_with_first(head, chunks)
                else:
                    await self._send(head)
                async for chunk in chunks:
                    if chunk:
                        await self._send(h11.Data(data=chunk))
        await self._send(h11.EndOfMessage())

    async def _send_head_with_first(self, head: h11.Response, chunks: AsyncGenerator[bytes, None]) -> None:
        """Send `head` and the first non-empty chunk of `chunks` in one write; the head alone
        first if the stream ends or fails before any (a fault still strikes after a 200)."""
        data = self.conn.send(head) or b''
        try:
            async for chunk in chunks:
                if chunk:
                    data += self.conn.send(h11.Data(data=chunk)) or b''
                    break
        finally:
            await self.stream.send(data)

    async def serve(self) -> None:
        """Answer requests until the client closes, asks to close, or breaks the protocol."""
        try:
            while True:
                request = await self._read_request()
                if request is None:
                    return
                response = request if isinstance(request, Response) else await self._respond(request)
                await self._write(response)
                if self.conn.our_state is not h11.DONE or self.conn.their_state is not h11.DONE:
                    return  # asked to close, or an unread body (413): start afresh on a new connection
                self.conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            await self._refuse(exc)
        except (DropConnection, anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream):
            pass
        except h11.LocalProtocolError:
            logger.exception('emulator broke HTTP/1.1 while answering')
        finally:
            with anyio.CancelScope(shield=True):
                await self.stream.aclose()

    async def _refuse(self, exc: h11.RemoteProtocolError) -> None:
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = orjson.dumps(
            {'error': {'message': f'bad HTTP request: {exc}', 'type': 'invalid_request_error'}}
        )
        try:
            headers = [(b'content-type', b'application/json'), (b'content-length', str(len(body)).encode())]
            await self._send(h11.Response(status_code=exc.error_status_hint, headers=headers))
            await self._send(h11.Data(data=body))
            await self._send(h11.EndOfMessage())
        except (h11.LocalProtocolError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass


ANY_KEY_PLACEHOLDER = 'any-non-empty-value'
"""What the pasted environment lines set as the key when the emulator accepts any key."""


class Emulator:
    """A running emulator: `async with Emulator() as emu:` (or plain `with` from sync code).

    It binds `host:port` (a free port by default), serves until the block exits, then closes
    every open connection, including streams still being sent.
    """

    def __init__(
        self, config: EmulatorConfig | None = None, *, host: str = '127.0.0.1', port: int = 0
    ) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self.state = EmulatorState(self.config)
        self.vendors: tuple[Vendor, ...] = tuple(load_vendors())
        """The vendor protocols served, in matching order."""
        self.router = default_router(self.vendors)
        self.requests: deque[Request] = deque(maxlen=RECENT_REQUESTS)
        """The most recent requests received, oldest first (headers include credentials: keep local)."""
        self._task_group: anyio.abc.TaskGroup | None = None
        self._thread_cm: AbstractContextManager[Any] | None = None
        self._portal_cm: AbstractContextManager[anyio.from_thread.BlockingPortal] | None = None

    @property
    def port(self) -> int:
        """The TCP port being listened on."""
        if self._port is None:
            raise RuntimeError('the emulator is not running: use `async with Emulator() as emu:`')
        return self._port

    @property
    def url(self) -> str:
        """The root URL, e.g. `http://127.0.0.1:8123`."""
        host = f'[{self.host}]' if ':' in self.host else self.host
        return f'http://{host}:{self.port}'

    @property
    def prefixes(self) -> list[str]:
        """The model-string prefixes served (`'openai'`, `'anthropic'`, ...), in `PREFIX_ORDER`."""
        names = [vendor.prefix for vendor in self.vendors]
        rank = {name: i for i, name in enumerate(PREFIX_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))

    def vendor(self, prefix: str) -> Vendor:
        """The vendor protocol for a model-string prefix; `ValueError` naming the served ones if none."""
        for vendor in self.vendors:
            if vendor.prefix == prefix:
                return vendor
        served = ', '.join(self.prefixes)
        raise ValueError(f'the emulator does not speak {prefix!r} (yet); it speaks: {served}')

    def base_url(self, prefix: str) -> str:
        """The base URL that prefix's official SDK and modelkit provider take (openai: `url + '/v1'`)."""
        return self.url + self.vendor(prefix).base_path

    def environment(self, prefix: str, *, api_key: str | None = None) -> dict[str, str]:
        """The environment variables pointing that vendor's clients here (base URL and key)."""
        values = {
            **asdict(self.config),
            'url': self.url,
            'base_url': self.base_url(prefix),
            'api_key': api_key or self.api_key,
        }
        return self.vendor(prefix).environment(values)

    def startup_lines(self) -> list[str]:
        """What `modelkit emulate` prints once listening: the ready line, base URLs, environment lines.

        The first line keeps its historic form (`... listening on URL (OpenAI base URL U, API key K)`),
        which scripts and the bench read; then one `prefix  base-URL` line per vendor; then, after
        a `#` comment, one `export ...` line per vendor to paste into a shell.
        """
        key = 'any API key' if self.config.api_key is None else f'API key {self.api_key}'
        # With any key accepted, show a value that reads as a placeholder rather than as "the" key.
        pasted_key = ANY_KEY_PLACEHOLDER if self.config.api_key is None else None
        openai = self.base_url('openai')
        lines = [
            f'modelkit emulator listening on {self.url} (OpenAI base URL {openai}, {key}); Ctrl-C stops it'
        ]
        width = max(len(prefix) for prefix in self.prefixes) + 2
        lines += [f'{prefix:<{width}}{self.base_url(prefix)}' for prefix in self.prefixes]
        lines.append("# point each vendor's clients here (paste into a shell):")
        for prefix in self.prefixes:
            env = self.environment(prefix, api_key=pasted_key)
            if env:
                lines.append(
                    'export ' + ' '.join(f'{name}={shlex.quote(value)}' for name, value in env.items())
                )
        return lines

    @property
    def api_key(self) -> str:
        """A key the emulator accepts."""
        return self.config.api_key or 'emulator-key'

    def reset_faults(self) -> None:
        """Forget `fault-times` counts, so counted faults strike again."""
        self.state.faults.reset()

    def __repr__(self) -> str:
        where = self.url if self._port is not None else 'not running'
        return f'Emulator({where})'

    async def __aenter__(self) -> Self:
        if self._task_group is not None:
            raise RuntimeError('this emulator is already running')
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self._requested_port)
        self._port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        task_group.start_soon(self._accept, listener)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        task_group, self._task_group = self._task_group, None
        if task_group is None:
            return
        task_group.cancel_scope.cancel()
        # The caller's own exception is not handed to the task group: it propagates from `async
        # with` as it is, instead of coming out wrapped in an ExceptionGroup on trio.
        await task_group.__aexit__(None, None, None)
        self._port = None

    async def _accept(self, listener: anyio.abc.Listener[anyio.abc.SocketStream]) -> None:
        async with listener:
            await listener.serve(self._handle)

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        try:
            await _Connection(self, stream).serve()
        except Exception:
            logger.exception('emulator connection failed')

    def __enter__(self) -> Self:
        """Run the emulator on an event loop in a background thread (for sync code and SDK tests)."""
        if self._portal_cm is not None:
            raise RuntimeError('this emulator is already running')
        portal_cm = anyio.from_thread.start_blocking_portal()
        portal = portal_cm.__enter__()
        try:
            thread_cm = portal.wrap_async_context_manager(self)
            thread_cm.__enter__()
        except BaseException:
            portal_cm.__exit__(*sys.exc_info())
            raise
        self._portal_cm, self._thread_cm = portal_cm, thread_cm
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        portal_cm, thread_cm = self._portal_cm, self._thread_cm
        self._portal_cm = self._thread_cm = None
        if portal_cm is None or thread_cm is None:
            return
        try:
            thread_cm.__exit__(None, None, None)
        finally:
            portal_cm.__exit__(None, None, None)


async def _serve_until_signalled(host: str, port: int, config: EmulatorConfig | None, out: IO[str]) -> None:
    async with Emulator(config, host=host, port=port) as emulator:
        print('\n'.join(emulator.startup_lines()), file=out, flush=True)
        if threading.current_thread() is not threading.main_thread():
            await anyio.sleep_forever()
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                break


def serve_forever(
    host: str = '127.0.0.1',
    port: int = 8000,
    config: EmulatorConfig | None = None,
    *,
    backend: str = 'asyncio',
    out: IO[str] | None = None,
) -> None:
    """Serve until Ctrl-C or SIGTERM, printing `Emulator.startup_lines()` once listening."""
    # Where signals cannot be received in the loop (Windows' asyncio), Ctrl-C lands here instead.
    with suppress(KeyboardInterrupt):
        anyio.run(_serve_until_signalled, host, port, config, out or sys.stdout, backend=backend)
