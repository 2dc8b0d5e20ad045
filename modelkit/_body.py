"""Reading response bodies: the bounded chunk source every read goes through, and abandoning a body.

No httpx import at runtime (the layer rule): these work on the `httpx.Response` the transport
hands them. Decoding is `modelkit._decoding`'s sans-I/O `ContentDecoder`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import orjson

from ._decoding import ContentDecoder, ContentDecodingError, content_decoder
from .exceptions import ModelkitError, StreamProtocolError

if TYPE_CHECKING:
    import httpx

__all__ = (
    'DECODED_CHUNK_BYTES',
    'MAX_RESPONSE_BODY_BYTES',
    '_abandon',
    '_parse_error_body',
    '_read_bounded',
    'body_chunks',
)

DECODED_CHUNK_BYTES = 64 * 1024
"""The most a compressed body inflates to per piece handed on (httpcore's read size): what a
parser or a bounded read looks at before the next piece is inflated, so a bomb stays a trickle."""

MAX_RESPONSE_BODY_BYTES = 64 * 1024 * 1024
"""The largest non-streamed 2xx body we accept (after decompression): a completion with several
base64 images fits, a gzip bomb or an endless body does not take the process's memory. (Also the
bound on a JSON answer sent where a stream was asked for.)"""

_MAX_PULLS_AFTER_CLOSE = 1000
"""Bound on the reads `_abandon` makes to unwind httpx's generators: after the connection is closed
only h11's already-buffered events can come out, then the read fails; this is only a safety net."""


class _BodyChunks:
    """A response body's chunks, decoded with bounded output; see `body_chunks`.

    A plain async iterator, not a generator, for the reason `modelkit._stream._ParsedEvents` gives.
    """

    __slots__ = ('_decoder', '_encoding', '_error', '_next_raw', '_vendor')

    def __init__(self, response: httpx.Response, vendor: str, error: Callable[[str], ModelkitError]) -> None:
        self._next_raw = response.aiter_raw().__anext__
        self._vendor = vendor
        self._error = error
        self._encoding = response.headers.get('content-encoding')
        self._decoder: ContentDecoder | bool | None = True  # True: not looked at yet

    def __aiter__(self) -> _BodyChunks:
        return self

    async def __anext__(self) -> bytes:
        decoder = self._decoder
        if decoder is None:
            return await self._next_raw()
        try:
            if decoder is True:
                decoder = self._decoder = content_decoder(self._encoding)
                if decoder is None:
                    return await self._next_raw()
            assert isinstance(decoder, ContentDecoder)
            while True:
                piece = decoder.read(DECODED_CHUNK_BYTES)
                if piece:
                    return piece
                try:
                    decoder.feed(await self._next_raw())
                except StopAsyncIteration:
                    self._decoder = None  # the next pull ends the iteration, as the raw stream does
                    last = decoder.close()
                    if last:
                        return last
                    raise
        except ContentDecodingError as exc:
            self._decoder = None
            raise self._error(f'{self._vendor} response body could not be decoded: {exc}') from exc


def body_chunks(
    response: httpx.Response, vendor: str, *, error: Callable[[str], ModelkitError] = StreamProtocolError
) -> AsyncIterator[bytes]:
    """A response's body chunks, gzip / deflate decoded, each piece at most `DECODED_CHUNK_BYTES`.

    The chunk source of every body we read (`async for chunk in body_chunks(...)`): a compressed
    body inflates one bounded piece per pull, so the limits a reader applies hold after
    decompression and memory stays at one input chunk plus one piece. A corrupt or unsupported
    coding raises `error(message)` (`StreamProtocolError` unless told).
    """
    return _BodyChunks(response, vendor, error)


async def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    """Read at most `limit` bytes of a (decoded) body, then release the response either way."""
    import anyio

    chunks = _BodyChunks(response, 'the server', StreamProtocolError)
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
