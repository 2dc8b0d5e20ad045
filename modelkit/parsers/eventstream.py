"""AWS event stream: a sans-I/O decoder from `application/vnd.amazon.eventstream` bytes to messages.

The format (the Smithy "Amazon Event Stream Specification",
https://smithy.io/2.0/aws/amazon-eventstream.html, and the AWS event-stream encoding page of the
Transcribe and Lex guides) is a sequence of binary messages, all integers big-endian:

    total_length    uint32   the whole message, these four bytes and both CRCs included
    headers_length  uint32
    prelude_crc     uint32   CRC32 of the eight bytes above
    headers         headers_length bytes: name length (uint8), UTF-8 name, type (uint8), value
    payload         total_length - headers_length - 16 bytes
    message_crc     uint32   CRC32 of every byte of the message before it

Both checksums are verified (the spec says clients MUST), the prelude's as soon as its twelve
bytes arrive, so a corrupted length is reported as what it is instead of as a stream that never
ends. Header values become Python values by wire type:

    0 / 1  bool true / false      `True` / `False`
    2      byte (int8)            `Int8`   (an `int` that remembers its wire type)
    3      short (int16)          `Int16`
    4      integer (int32)        `Int32`
    5      long (int64)           `Int64`
    6      byte array             `bytes`
    7      string (UTF-8)         `str`
    8      timestamp (int64 ms)   `datetime.datetime`, aware, in UTC
    9      uuid (16 bytes)        `uuid.UUID`

The `Int*` classes compare equal to plain ints; they exist so that `encode_message` can write a
decoded message back with the same wire types (a plain `int` is encoded as an int64).

Where we differ from the spec, on purpose:

- **Sizes are bounded** by `MAX_HEADERS_BYTES` and `MAX_PAYLOAD_BYTES` (the limits the spec sets
  for services) and so `MAX_MESSAGE_BYTES`. The spec tells clients not to enforce them, so that
  services may raise them later; we must bound memory somewhere, AWS's own Python SDK (botocore)
  enforces the same two values, and so a message past them would break boto3 as well.
- **Malformed headers raise `StreamProtocolError`**: an unknown type, a name or value running
  past the headers section, an empty name, invalid UTF-8, a name given twice (the spec: "Any
  given header name MUST only appear once"), a timestamp outside `datetime`'s years 1-9999.
  Header values up to 65,535 bytes are read (what the length field can say), though the spec
  lets encoders write only 32,767.

Messages completed earlier in a chunk are returned even when a later one is malformed; the
error is raised by the next `feed()` or `close()`, so nothing already received is lost.

Linear on any chunking: a chunk that starts on a message boundary is parsed in place, only an
unfinished last message is copied to a `bytearray`, and while that message is incomplete each
`feed()` only appends (the decoder knows how many bytes it is waiting for).
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

from .._fieldwise import fieldwise
from ..exceptions import ModelkitError, StreamProtocolError, UserError

__all__ = (
    'MAX_HEADERS_BYTES',
    'MAX_MESSAGE_BYTES',
    'MAX_PAYLOAD_BYTES',
    'EventStreamDecoder',
    'EventStreamMessage',
    'HeaderValue',
    'Int8',
    'Int16',
    'Int32',
    'Int64',
    'encode_message',
)

MAX_HEADERS_BYTES = 128 * 1024
"""Most header bytes one message may carry (128 KiB): the Smithy spec's limit for services, and
botocore's. Real Bedrock messages carry three short string headers, about 80 bytes."""

MAX_PAYLOAD_BYTES = 24 * 1024 * 1024
"""Largest payload one message may carry (24 MiB): the Smithy spec's limit for services, and
botocore's. Bedrock's largest (a base64 image in a tool result) are a few MiB; a corrupt or
hostile length past this is refused before any of it is buffered."""

MAX_MESSAGE_BYTES = MAX_PAYLOAD_BYTES + MAX_HEADERS_BYTES + 16
"""Largest whole message: both limits above plus the 16 bytes of prelude and checksums."""

_PRELUDE_BYTES = 12
_OVERHEAD_BYTES = 16  # prelude + message CRC
_HEADER_CACHE_ENTRIES = 64
"""Distinct header sections remembered, already decoded. A stream repeats a handful (Bedrock sends
the same three headers on every `contentBlockDelta`), so decoding each once saves most of the
per-message cost; the bound keeps a stream of ever-new headers from growing the cache."""
_HEADER_CACHE_MAX_BYTES = 512
"""Only header sections up to this size are remembered (caching a large one saves little)."""

_PRELUDE = struct.Struct('>III')
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


class Int8(int):
    """An int header value sent as a `byte` (wire type 2)."""

    __slots__ = ()


class Int16(int):
    """An int header value sent as a `short` (wire type 3)."""

    __slots__ = ()


class Int32(int):
    """An int header value sent as an `integer` (wire type 4)."""

    __slots__ = ()


class Int64(int):
    """An int header value sent as a `long` (wire type 5); plain ints are encoded this way too."""

    __slots__ = ()


HeaderValue: TypeAlias = bool | int | bytes | str | datetime | uuid.UUID
"""What a header value decodes to (see the module docstring for the wire type of each)."""

# Fixed-size integer types: wire type -> (value bytes, struct format, class).
_INTS: dict[int, tuple[int, struct.Struct, type[int]]] = {
    2: (1, struct.Struct('>b'), Int8),
    3: (2, struct.Struct('>h'), Int16),
    4: (4, struct.Struct('>i'), Int32),
    5: (8, struct.Struct('>q'), Int64),
}
_INT_TYPES = {cls: (code, fmt) for code, (_, fmt, cls) in _INTS.items()}
_INT64 = _INTS[5][1]


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class EventStreamMessage:
    """One decoded event-stream message."""

    headers: dict[str, HeaderValue]
    """Header name to value; AWS sends `:message-type` (`event`, `exception` or `error`) and
    `:event-type` / `:exception-type` / `:error-code`, `:content-type` as strings."""
    payload: bytes
    """The payload as sent (for Bedrock, one JSON object)."""

    def __init__(self, headers: dict[str, HeaderValue], payload: bytes) -> None:
        self.headers = headers
        self.payload = payload


def _error(offset: int, what: str) -> StreamProtocolError:
    return StreamProtocolError(f'event stream: {what} in the message at byte {offset}')


def _parse_headers(block: bytes, offset: int) -> dict[str, HeaderValue]:
    """Decode one message's headers section; `offset` is the message's place in the stream."""
    headers: dict[str, HeaderValue] = {}
    end = len(block)
    p = 0
    try:
        while p < end:
            name_len = block[p]
            type_at = p + 1 + name_len
            if name_len == 0:
                raise _error(offset, 'malformed headers: an empty header name')
            if type_at >= end:
                raise _error(offset, 'malformed headers: a header name runs past the headers section')
            name = block[p + 1 : type_at].decode()
            kind = block[type_at]
            p = type_at + 1
            value: HeaderValue
            if kind == 7 or kind == 6:
                if p + 2 > end:
                    raise _error(offset, f'malformed headers: header {name!r} runs past the headers section')
                size = (block[p] << 8) | block[p + 1]
                p += 2
                if p + size > end:
                    raise _error(offset, f'malformed headers: header {name!r} runs past the headers section')
                raw = block[p : p + size]
                p += size
                value = raw.decode() if kind == 7 else raw
            elif kind == 0:
                value = True
            elif kind == 1:
                value = False
            elif kind in _INTS:
                size, fmt, cls = _INTS[kind]
                if p + size > end:
                    raise _error(offset, f'malformed headers: header {name!r} runs past the headers section')
                value = cls(fmt.unpack_from(block, p)[0])
                p += size
            elif kind == 8:
                if p + 8 > end:
                    raise _error(offset, f'malformed headers: header {name!r} runs past the headers section')
                millis = _INT64.unpack_from(block, p)[0]
                p += 8
                try:
                    value = _EPOCH + timedelta(milliseconds=millis)
                except OverflowError:
                    raise _error(
                        offset, f'malformed headers: timestamp header {name!r} is outside years 1-9999'
                    ) from None
            elif kind == 9:
                if p + 16 > end:
                    raise _error(offset, f'malformed headers: header {name!r} runs past the headers section')
                value = uuid.UUID(bytes=block[p : p + 16])
                p += 16
            else:
                raise _error(offset, f'malformed headers: header {name!r} has unknown type {kind}')
            if name in headers:
                raise _error(offset, f'malformed headers: header {name!r} appears twice')
            headers[name] = value
    except UnicodeDecodeError:
        raise _error(offset, 'malformed headers: invalid UTF-8 in a header name or string value') from None
    return headers


class EventStreamDecoder:
    """Decodes an AWS event stream: `feed()` it chunks, then `close()` it at the end.

    One decoder reads one stream. After `StreamProtocolError` the stream is broken and every
    further call raises it again; after `close()` every further `feed()` raises `UserError`.
    """

    __slots__ = ('_buf', '_cache', '_error', '_need', '_offset', 'truncated')

    truncated: bool
    """True once `close()` dropped the bytes of a message that never finished."""

    def __init__(self) -> None:
        self._buf = bytearray()
        """The start of an unfinished message (the whole buffer is that message's bytes)."""
        self._need = _PRELUDE_BYTES
        """How many bytes `_buf` must hold before it is worth looking at again."""
        self._offset = 0
        """Stream offset of the first byte of `_buf` (or of the next chunk when it is empty)."""
        self._cache: dict[bytes, dict[str, HeaderValue]] = {}
        self._error: ModelkitError | None = None
        self.truncated = False

    def feed(self, data: bytes) -> list[EventStreamMessage]:
        """Consume a chunk of the body; return the messages it completed (often none or one)."""
        buf = self._buf
        if buf:  # never after an error or close(), which empty it
            buf += data
            if len(buf) < self._need:
                return []  # still inside one message (byte-at-a-time input): O(1) per chunk
            work = bytes(buf)
            self._buf = bytearray()
            return self._messages(work)
        if self._error is not None:
            raise self._error
        return self._messages(data)

    def close(self) -> list[EventStreamMessage]:
        """End of stream: return no further message; set `truncated` if a message was cut off."""
        if self._error is not None:
            if isinstance(self._error, UserError):
                return []
            raise self._error
        self.truncated = bool(self._buf)
        self._buf = bytearray()
        self._error = UserError('this EventStreamDecoder is closed: use a new one for a new stream')
        return []

    def _messages(self, work: bytes) -> list[EventStreamMessage]:
        """Decode every complete message of `work`, which starts on a message boundary."""
        out: list[EventStreamMessage] = []
        n = len(work)
        pos = 0
        crc32 = zlib.crc32
        cache = self._cache
        unpack = _PRELUDE.unpack_from
        new = EventStreamMessage
        try:
            while n - pos >= _PRELUDE_BYTES:
                total, headers_len, prelude_crc = unpack(work, pos)
                if crc32(work[pos : pos + 8]) != prelude_crc:
                    raise _error(self._offset + pos, 'prelude checksum mismatch')
                if headers_len > MAX_HEADERS_BYTES:
                    raise _error(
                        self._offset + pos,
                        f'{headers_len} header bytes, more than {MAX_HEADERS_BYTES} (MAX_HEADERS_BYTES)',
                    )
                if total < _OVERHEAD_BYTES + headers_len:
                    raise _error(
                        self._offset + pos,
                        f'total length {total} too short for {headers_len} header bytes',
                    )
                if total - _OVERHEAD_BYTES - headers_len > MAX_PAYLOAD_BYTES:
                    raise _error(
                        self._offset + pos,
                        f'a payload of {total - _OVERHEAD_BYTES - headers_len} bytes, more than '
                        f'{MAX_PAYLOAD_BYTES} (MAX_PAYLOAD_BYTES)',
                    )
                end = pos + total
                if end > n:
                    self._need = total
                    break
                if crc32(work[pos : end - 4]) != int.from_bytes(work[end - 4 : end]):
                    raise _error(self._offset + pos, 'message checksum mismatch')
                headers_end = pos + _PRELUDE_BYTES + headers_len
                block = work[pos + _PRELUDE_BYTES : headers_end]
                headers = cache.get(block)
                if headers is None:
                    headers = _parse_headers(block, self._offset + pos)
                    if headers_len <= _HEADER_CACHE_MAX_BYTES and len(cache) < _HEADER_CACHE_ENTRIES:
                        cache[block] = headers
                        headers = headers.copy()
                else:
                    headers = headers.copy()
                out.append(new(headers, work[headers_end : end - 4]))
                pos = end
            else:
                self._need = _PRELUDE_BYTES
        except StreamProtocolError as exc:
            self._error = exc
            self._buf = bytearray()
            if out:
                return out  # what arrived before the bad bytes; the next call raises
            raise
        self._offset += pos
        if pos < n:
            self._buf = bytearray(work[pos:]) if pos else bytearray(work)
        return out


def _encode_header(name: str, value: HeaderValue) -> bytes:
    raw_name = name.encode()
    if not 1 <= len(raw_name) <= 255:
        raise UserError(f'event-stream header name {name!r} must be 1-255 bytes of UTF-8')
    head = bytes((len(raw_name),)) + raw_name
    if isinstance(value, bool):
        return head + (b'\x00' if value else b'\x01')
    if isinstance(value, int):
        code, fmt = _INT_TYPES.get(type(value), (5, _INT64))
        try:
            return head + bytes((code,)) + fmt.pack(value)
        except struct.error:
            raise UserError(f'event-stream header {name!r}: {value} does not fit its integer type') from None
    if isinstance(value, str | bytes | bytearray):
        data = value.encode() if isinstance(value, str) else bytes(value)
        if len(data) > 32767:
            raise UserError(f'event-stream header {name!r} is longer than 32,767 bytes')
        return head + bytes((7 if isinstance(value, str) else 6,)) + len(data).to_bytes(2) + data
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise UserError(f'event-stream header {name!r}: a timestamp must be timezone-aware')
        return head + b'\x08' + _INT64.pack((value - _EPOCH) // _ONE_MS)
    if isinstance(value, uuid.UUID):
        return head + b'\x09' + value.bytes
    raise UserError(f'event-stream header {name!r}: cannot encode a {type(value).__name__}')


def encode_message(headers: dict[str, HeaderValue], payload: bytes) -> bytes:
    """One event-stream message with these headers and payload, both CRCs computed.

    Value types pick the wire types as `EventStreamDecoder` reads them back (a plain `int` is an
    int64; `Int8` / `Int16` / `Int32` choose narrower ones; a timestamp keeps whole milliseconds).
    """
    block = b''.join([_encode_header(name, value) for name, value in headers.items()])
    if len(block) > MAX_HEADERS_BYTES:
        raise UserError(f'event-stream headers of {len(block)} bytes exceed MAX_HEADERS_BYTES')
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise UserError(f'an event-stream payload of {len(payload)} bytes exceeds MAX_PAYLOAD_BYTES')
    prelude = struct.pack('>II', _OVERHEAD_BYTES + len(block) + len(payload), len(block))
    prelude += zlib.crc32(prelude).to_bytes(4)
    body = prelude + block + payload
    return body + zlib.crc32(body).to_bytes(4)
