"""Bounded content decoding (gzip, deflate): sans-I/O, bytes in, bytes out, never a bomb.

httpx's own decoders hand back everything a chunk decompresses to: a 1 MiB gzip body of zeros
inflates to a gigabyte in one piece before any limit can look at it. Here the caller asks for at
most `limit` bytes at a time and the compressed input not yet inflated waits as zlib's
`unconsumed_tail`, so memory holds one input chunk plus one output piece, whatever the ratio, and
the limits that apply to a plain body (a parser's line bound, the error-body cap) apply after
decompression too.

Brotli and zstd are not decoded: httpx decodes them only with optional packages, and their
decoders there have no output bound. The transport never advertises them in `Accept-Encoding`, so a
body in one of them is a server ignoring the request; it is reported as undecodable.
"""

from __future__ import annotations

import zlib

__all__ = ('ACCEPT_ENCODING', 'ContentDecoder', 'ContentDecodingError', 'content_decoder')

ACCEPT_ENCODING = 'gzip, deflate'
"""What we ask servers for: exactly the codings `ContentDecoder` handles with bounded output."""

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


class ContentDecodingError(ValueError):
    """The body is not valid in its declared content coding (or the coding is not supported)."""


class ContentDecoder:
    """Inflates one gzip or deflate body; `feed` compressed bytes, `read(limit)` until it is empty."""

    __slots__ = ('_coding', '_done', '_inflater', '_pending')

    def __init__(self, coding: str) -> None:
        self._coding = coding
        # "deflate" waits for two bytes to tell zlib-wrapped from raw (see `_choose_deflate`).
        self._inflater = zlib.decompressobj(_GZIP_WBITS) if coding == 'gzip' else None
        self._pending = b''
        self._done = False

    def feed(self, data: bytes) -> None:
        """Queue compressed bytes; call when `read` returned `b''`."""
        self._pending = self._pending + data if self._pending else data

    def read(self, limit: int) -> bytes:
        """Up to `limit` inflated bytes from what was fed; `b''` when more input is needed."""
        if self._inflater is None:
            if len(self._pending) < 2:
                return b''
            self._inflater = _choose_deflate(self._pending)
        while self._pending:
            data, self._pending = self._pending, b''
            if self._done:
                if self._coding != 'gzip':
                    return b''  # trailing bytes after a deflate stream: ignored, as browsers do
                # RFC 1952 allows several gzip members back to back: the body is their concatenation.
                self._inflater = zlib.decompressobj(_GZIP_WBITS)
                self._done = False
            try:
                out = self._inflater.decompress(data, limit)
            except zlib.error as exc:
                raise ContentDecodingError(f'invalid {self._coding} data ({exc})') from None
            if self._inflater.eof:
                self._done = True
                self._pending = self._inflater.unused_data
            else:
                self._pending = self._inflater.unconsumed_tail
            if out:
                return out
        return b''

    def close(self) -> bytes:
        """The last inflated bytes at the end of the body (bounded by zlib's 32 KiB window)."""
        if self._inflater is None:
            if not self._pending:
                return b''
            self._inflater = _choose_deflate(self._pending)  # a one-byte body: let zlib judge it
            out = self.read(64 * 1024)  # from at most one byte of input
            return out + self.close()
        if self._done:
            return b''
        try:
            return self._inflater.flush()
        except zlib.error as exc:
            raise ContentDecodingError(
                f'invalid {self._coding} data at the end of the body ({exc})'
            ) from None


def _choose_deflate(head: bytes) -> zlib._Decompress:
    """`deflate` is specified as zlib-wrapped (RFC 9110, RFC 1950), but some servers send raw deflate
    (RFC 1951); the first two bytes tell them apart: a zlib header names method 8 and is a multiple
    of 31. httpx and browsers accept both, and so do we."""
    zlib_wrapped = len(head) >= 2 and head[0] & 0x0F == 8 and ((head[0] << 8) | head[1]) % 31 == 0
    return zlib.decompressobj(_ZLIB_WBITS if zlib_wrapped else _RAW_DEFLATE_WBITS)


def content_decoder(content_encoding: str | None) -> ContentDecoder | None:
    """The decoder for a `Content-Encoding` value; None for an unencoded body."""
    if not content_encoding:
        return None
    codings = [c.strip().lower() for c in content_encoding.split(',') if c.strip()]
    codings = [c for c in codings if c != 'identity']
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in ('gzip', 'x-gzip', 'deflate'):
        return ContentDecoder('gzip' if codings[0] == 'x-gzip' else codings[0])
    raise ContentDecodingError(
        f'unsupported content-encoding {content_encoding!r} (we ask for {ACCEPT_ENCODING!r} only)'
    )
