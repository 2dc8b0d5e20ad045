"""A tiny HTTP/1.1 server on 127.0.0.1 for transport tests that need real sockets.

It counts accepted connections and disconnects, so tests can tell a pooled connection from a new
one, and lets a handler answer however it likes: a whole response, a chunked body written piece by
piece, a stall, or a dropped connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc
import h11

Handler = Callable[['Exchange'], Awaitable[None]]

_CLIENT_GONE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError)


@dataclass
class Server:
    """What the server saw; `url` is its base address."""

    port: int
    handler: Handler
    connections: int = 0
    """Connections accepted so far."""
    disconnects: int = 0
    """Connections the client closed (or that ended) so far."""
    exchanges: list[Exchange] = field(default_factory=list)
    disconnected: anyio.Event = field(default_factory=anyio.Event)
    """Set at every disconnect (replaced by a fresh event after each wait)."""

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    async def wait_disconnects(self, count: int) -> None:
        """Wait until `count` connections have ended (the test timeout guards against a hang)."""
        while self.disconnects < count:
            await self.disconnected.wait()
            self.disconnected = anyio.Event()

    async def _connection(self, stream: anyio.abc.SocketStream) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            async with stream:
                while True:
                    exchange = await _read_request(conn, stream)
                    if exchange is None:
                        return
                    self.exchanges.append(exchange)
                    await self.handler(exchange)
                    if exchange.dropped or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                        return
                    conn.start_next_cycle()
        except _CLIENT_GONE:
            return
        finally:
            self.disconnects += 1
            self.disconnected.set()


@dataclass
class Exchange:
    """One request on a connection; the handler answers through it."""

    request: h11.Request
    body: bytes
    conn: h11.Connection
    stream: anyio.abc.SocketStream
    dropped: bool = False

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode().lower(): v.decode() for k, v in self.request.headers}

    @property
    def target(self) -> str:
        return self.request.target.decode()

    async def respond(self, status: int, body: bytes = b'', headers: Sequence[tuple[str, str]] = ()) -> None:
        """A whole response with a Content-Length."""
        all_headers = [*headers, ('content-length', str(len(body)))]
        await self._send(h11.Response(status_code=status, headers=all_headers))
        if body:
            await self._send(h11.Data(data=body))
        await self._send(h11.EndOfMessage())

    async def start(self, status: int = 200, headers: Sequence[tuple[str, str]] = ()) -> None:
        """Status and headers of a chunked response; follow with `send` and `end`."""
        all_headers = [*headers, ('transfer-encoding', 'chunked')]
        await self._send(h11.Response(status_code=status, headers=all_headers))

    async def send(self, data: bytes) -> None:
        await self._send(h11.Data(data=data))

    async def end(self) -> None:
        await self._send(h11.EndOfMessage())

    async def drop(self) -> None:
        """Close the connection mid-response (the body never finishes)."""
        self.dropped = True
        await self.stream.aclose()

    async def wait_client_gone(self) -> None:
        """Stall until the client closes its side of the connection."""
        try:
            while await self.stream.receive():
                pass
        except _CLIENT_GONE:
            return

    async def _send(self, event: h11.Event) -> None:
        data = self.conn.send(event)
        if data:
            await self.stream.send(data)


async def _read_request(conn: h11.Connection, stream: anyio.abc.SocketStream) -> Exchange | None:
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            try:
                conn.receive_data(await stream.receive())
            except _CLIENT_GONE:
                return None
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return Exchange(request, bytes(body), conn, stream)
        elif isinstance(event, h11.ConnectionClosed):
            return None


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[Server]:
    """Run a loopback server for the duration of the block."""
    listener = await anyio.create_tcp_listener(local_host='127.0.0.1')
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    server = Server(port, handler)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, server._connection)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()


class LineParser:
    """A sans-I/O parser for tests: one event per newline-terminated line."""

    def __init__(self) -> None:
        self.buffer = b''
        self.closed = False

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b'\n')
        return lines

    def close(self) -> list[bytes]:
        self.closed = True
        rest, self.buffer = self.buffer, b''
        return [rest] if rest else []
