"""aiohttp underneath an `httpx.AsyncClient` (the `fast` extra): the same client API, a cheaper socket loop.

Imported only when the shared client of an asyncio loop is created with the extra installed (see
`modelkit._loops.http_transport_for`), never at `import modelkit...`: aiohttp alone costs more
to import than the rest of the core.

`httpx_aiohttp.AiohttpTransport` supplies the transport's construction (TLS context from httpx's
rules, limits, the proxy a client mounts for each environment proxy pattern). Three things it does
differently from httpx's own transport are done here instead, so both transports are alike for
everything above them:

- the URL goes to aiohttp already encoded: yarl would otherwise re-quote it (`%3A` becomes `:`,
  `%2F` in a query becomes `/`), and a SigV4 signature over the encoded path would no longer match;
- every aiohttp error becomes the httpx error httpx's transport raises for the same failure
  (`_head_error`, `_body_error`), so `modelkit._transport` translates one error tree into ours.
  httpx-aiohttp's own table calls a server that closed the connection a connect timeout;
- aiohttp adds nothing to the request (no cookie jar, no default headers: httpx has set them),
  and a body that was not read to its end closes its connection rather than returning it.

What cannot be made alike: aiohttp has no cap on idle connections apart from the pool size
(`max_keepalive_connections` is not used), and its pool wait and connect share one deadline (the
pool timeout; the connect timeout still bounds each socket connect). A full pool that does not free
up in time is still reported as httpx's `PoolTimeout`: the transport counts the connections in use.
aiohttp reuses an idle connection the server has closed if its event loop has not yet seen the
close (httpcore polls the socket first), so that request fails as "closed before responding" and
is retried within `max_retries`; and it refuses a head of more than 128 header lines.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import yarl
from aiohttp.http_exceptions import HttpProcessingError, TransferEncodingError
from httpx_aiohttp import AiohttpTransport

from .exceptions import UserError

__all__ = ('AiohttpClient', 'AiohttpModelkitTransport')

MAX_HEAD_LINE_BYTES = 100 * 1024
"""Longest status or header line aiohttp accepts (its default is 8,190): httpcore lets h11 take a
whole head of up to 100 KiB (its `MAX_INCOMPLETE_EVENT_SIZE`), and a gateway's long `set-cookie`
or trace header must not fail on one transport and pass on the other."""

_NO_AUTO_HEADERS = ('Accept', 'Accept-Encoding', 'User-Agent', 'Content-Type')
"""aiohttp adds these when absent; httpx has already set what we send, and a header added after
signing would be a request we did not sign."""


class AiohttpClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` whose connections, environment proxies included, are aiohttp's."""

    def _init_transport(
        self,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> httpx.AsyncBaseTransport:
        if transport is not None:
            return transport
        return AiohttpModelkitTransport(
            verify=verify, cert=cert, trust_env=trust_env, limits=limits or httpx.Limits()
        )

    def _init_proxy_transport(
        self,
        proxy: httpx.Proxy,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits | None = None,
    ) -> httpx.AsyncBaseTransport:
        return AiohttpModelkitTransport(
            verify=verify, cert=cert, trust_env=trust_env, limits=limits or httpx.Limits(), proxy=proxy
        )


class AiohttpModelkitTransport(AiohttpTransport):
    """httpx-aiohttp's transport, sending the URL as encoded and raising httpx's errors for aiohttp's."""

    _in_use = 0
    """Requests holding a connection or waiting for one. aiohttp reports a full pool that did not
    free up in time and a slow connect alike; httpx tells them apart (`PoolTimeout`), and so do we."""

    _session_loop: asyncio.AbstractEventLoop | None = None
    """The loop `client` (the session) was made in: its connections and futures belong to it."""

    def _session(self) -> aiohttp.ClientSession:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # trio, or no loop at all: aiohttp would fail with a bare RuntimeError
            raise UserError('an httpx client on the aiohttp transport runs only on asyncio') from None
        session = self.client
        if isinstance(session, aiohttp.ClientSession):
            if loop is self._session_loop:
                return session
            # A caller's client outlives event loops (one `run_sync` per loop); aiohttp's session
            # cannot move between them ("attached to a different loop"), so a new loop gets a new
            # session. The old one is closed in its loop if that still runs; a loop that has ended
            # took its connections with it (the garbage collector reclaims their sockets, as for
            # the idle connections `modelkit._transport` drops from httpx's pool in this case).
            old_loop = self._session_loop
            if old_loop is not None and not old_loop.is_closed():
                old_loop.call_soon_threadsafe(old_loop.create_task, session.close())
        # Created at the first request, inside the running loop it then belongs to.
        limits = self.limits
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry if limits.keepalive_expiry is not None else 15.0,
            ssl=self.ssl_context,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies, as on its own transport
            skip_auto_headers=_NO_AUTO_HEADERS,
            auto_decompress=False,  # modelkit decodes with bounded output (modelkit._decoding)
            max_line_size=MAX_HEAD_LINE_BYTES,
            max_field_size=MAX_HEAD_LINE_BYTES,
        )
        self.client = session
        self._session_loop = loop
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` over aiohttp; its errors come out as the httpx errors for the same failure."""
        session = self._session()
        timeout = request.extensions.get('timeout', {})
        proxy = self.proxy
        try:
            data: Any = request.content or None
        except httpx.RequestNotRead:
            data = request.stream
        limit = self.limits.max_connections
        pool_full = limit is not None and self._in_use >= limit
        self._in_use += 1
        try:
            response = await session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=data,
                allow_redirects=False,
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get('pool'),
                    sock_connect=timeout.get('connect'),
                    sock_read=timeout.get('read'),
                ),
                server_hostname=request.extensions.get('sni_hostname'),
                proxy=str(proxy.url) if proxy is not None else None,
                proxy_auth=aiohttp.BasicAuth(*proxy.auth) if proxy is not None and proxy.auth else None,
                proxy_headers=proxy.headers if proxy is not None else None,
            )
        except BaseException as exc:
            self._in_use -= 1
            if isinstance(exc, aiohttp.ClientError | OSError):  # TimeoutError is an OSError
                raise _head_error(exc, request, pool_full) from exc
            raise
        extensions: dict[str, Any] = {'http_version': b'HTTP/1.1'}
        if response.reason:
            extensions['reason_phrase'] = response.reason.encode()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request, self),
            request=request,
            extensions=extensions,
        )


class _Body(httpx.AsyncByteStream):
    """A response body read from aiohttp as bytes arrive; a plain async iterator, no generator."""

    __slots__ = ('_closed', '_eof', '_protocol', '_read', '_request', '_response', '_transport')

    def __init__(
        self, response: aiohttp.ClientResponse, request: httpx.Request, transport: AiohttpModelkitTransport
    ) -> None:
        self._transport: AiohttpModelkitTransport | None = transport
        self._response = response
        self._request = request
        self._read: Callable[[], Awaitable[bytes]] = response.content.readany
        self._eof = False
        self._protocol: Any = None
        self._closed: Any = None
        connection = response.connection
        if connection is not None and connection.protocol is not None:
            # aiohttp's C parser, failing on a body's framing (a bad chunk size line), closes the
            # connection and drops the read timeout but never tells the body: a read would wait
            # forever. Watching the connection end gives that read the error httpx raises.
            self._protocol = connection.protocol
            self._closed = self._protocol.closed
            if self._closed is not None:
                self._closed.add_done_callback(self._connection_ended)

    def _connection_ended(self, _: object) -> None:
        content = self._response.content
        if content.is_eof() or content.exception() is not None:
            return  # ended in order, or aiohttp has told the body already
        cause = self._protocol.exception() if self._protocol is not None else None
        error = _BrokenFraming(_framing_message(cause))
        error.__cause__ = cause
        content.set_exception(error)

    def _lost_to(self) -> OSError | None:
        """The socket error the connection ended with (a reset), if it ended with one."""
        closed = self._closed
        if closed is None or not closed.done() or closed.cancelled():
            return None
        error = closed.exception()  # aiohttp's "Connection lost", caused by the socket's error
        cause = error.__cause__ if error is not None else None
        return cause if isinstance(cause, OSError) else None

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._read()
        except (aiohttp.ClientError, HttpProcessingError, OSError) as exc:  # TimeoutError is an OSError
            self._read = _ended
            raise _body_error(exc, self._request, self._lost_to()) from exc
        except BaseException:
            self._read = _ended
            raise
        if not chunk:
            self._eof = True
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        if self._transport is not None:
            self._transport._in_use -= 1  # once, however often httpx closes the body
            self._transport = None
        if self._closed is not None:
            self._closed.remove_done_callback(self._connection_ended)  # the connection outlives us
            self._closed = None
        if self._eof:
            self._response.release()  # read to the end: the connection goes back to the pool
        else:
            self._response.close()  # a connection mid-body cannot be reused: close it


async def _ended() -> bytes:
    # A body whose read failed (or was cancelled) ends there, as a generator does once an error
    # has passed through it: aiohttp would raise its stored error again at every later pull (the
    # pull `_abandon` makes on exit, say), chaining that one exception object to itself.
    raise StopAsyncIteration


class _BrokenFraming(aiohttp.ClientPayloadError):
    """A body whose framing broke the HTTP/1.1 parser (the connection is gone with it)."""


def _framing_message(cause: BaseException | None) -> str:
    # h11's words under httpx ("illegal chunk header: ..."), with aiohttp's reason after them.
    reason = getattr(cause, 'message', None) or (str(cause) if cause is not None else '')
    reason = str(reason).strip().split('\n', 1)[0].rstrip(':')  # its first line: what was wrong
    return f'illegal response body framing: {reason}' if reason else 'illegal response body framing'


def _head_error(exc: BaseException, request: httpx.Request, pool_full: bool = False) -> httpx.TransportError:
    """The httpx error httpx's own transport raises for the failure aiohttp reports before the head;
    `pool_full`: every connection the limit allows was in use when the request began."""
    message = str(exc) or type(exc).__name__
    kind: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ClientHttpProxyError):  # the proxy refused the tunnel
        kind = httpx.ProxyError
    elif isinstance(exc, aiohttp.ConnectionTimeoutError):
        kind = httpx.PoolTimeout if pool_full else httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):  # refused (the proxy too), DNS, TLS
        kind = httpx.ConnectError
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        kind = httpx.RemoteProtocolError
        message = 'Server disconnected without sending a response.'  # httpcore's words, which we read
    elif isinstance(exc, aiohttp.NonHttpUrlClientError | aiohttp.InvalidURL):
        kind = httpx.UnsupportedProtocol
        if isinstance(exc, aiohttp.NonHttpUrlClientError):  # httpx's words, naming only the scheme
            message = f"Request URL has an unsupported protocol '{request.url.scheme}://'."
    elif isinstance(exc, aiohttp.ClientResponseError):  # a head that breaks HTTP/1.1 framing
        kind = httpx.RemoteProtocolError
    else:  # a reset or an OS error while sending or waiting
        kind = httpx.ReadError
    return kind(message, request=request)


def _body_error(
    exc: BaseException, request: httpx.Request, lost_to: OSError | None = None
) -> httpx.TransportError:
    """The httpx error for a failure while reading a body: a stall, a cut, a reset (`lost_to`)."""
    kind: type[httpx.TransportError]
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        kind = httpx.ReadTimeout
    elif lost_to is not None and not isinstance(exc, _BrokenFraming):
        # A reset reaches the body as "payload not completed": httpx reports the socket's error.
        kind = httpx.ReadError
        message = str(lost_to) or type(lost_to).__name__
    elif isinstance(exc, _BrokenFraming):
        kind = httpx.RemoteProtocolError
    elif isinstance(exc, HttpProcessingError):  # aiohttp's pure-Python parser raises its own error
        kind = httpx.RemoteProtocolError
        message = _framing_message(exc)
    elif isinstance(exc, aiohttp.ClientPayloadError):  # ended before its length or last chunk
        kind = httpx.RemoteProtocolError
        # httpcore's words for the same cut, so a body cut reads alike on both transports.
        cause = exc.__cause__ if exc.__cause__ is not None else (exc.args[1] if len(exc.args) > 1 else None)
        chunked = isinstance(cause, TransferEncodingError) or 'TransferEncodingError' in message
        what = 'incomplete chunked read' if chunked else 'body shorter than its Content-Length'
        message = f'peer closed connection without sending complete message body ({what})'
    else:
        kind = httpx.ReadError
    return kind(message, request=request)
