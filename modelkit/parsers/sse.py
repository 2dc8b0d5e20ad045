"""Server-sent events: a sans-I/O decoder from `text/event-stream` bytes to `SSEEvent`s.

Follows the WHATWG HTML "event stream interpretation" rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
CRLF, LF and CR line ends (a CR ending one chunk and an LF starting the next are one line end);
one UTF-8 BOM skipped at the start of the stream; `:` comments; `event`, `data` (several lines
joined with LF), `id` (ignored if it contains NUL; takes effect at the end of its block and
persists across events) and `retry` (ASCII digits only); a line without a colon is a field name
with an empty value; one space after the colon is stripped; unknown fields are ignored; a blank
line dispatches the event unless no data arrived, and the event type resets after every block.

Where we differ from the spec, on purpose:

- **Invalid UTF-8 raises `StreamProtocolError`** naming the byte offset in the stream, instead
  of being replaced by U+FFFD: silently corrupting a JSON payload is worse than a clear error.
  Events completed earlier in the same chunk are still returned; the error is raised by the
  next `feed()` or `close()`, so nothing already received is lost.
- **Buffers are bounded** by `MAX_EVENT_BYTES`; a longer line or event raises
  `StreamProtocolError`.
- **An event's `id` is `None`** while no last event ID is in force (none sent yet, or cleared
  by an empty `id` field), where browsers use the empty string.
- **A `retry` value with more than `MAX_RETRY_DIGITS` significant digits is ignored**, like a
  non-numeric one: no real delay needs it, and converting a megabyte of digits is a waste.
- **`close()` never dispatches** the unterminated last event (as the spec says) but sets
  `truncated` when it discarded data, so callers can say the stream was cut off.

Everything works on bytes, and each field value is decoded once; a payload the fast paths read
is checked to be UTF-8 but not decoded: its event keeps the bytes (`raw`) and makes `data` from
them only if it is read. `iter_feed()` makes the events of the blocks split in C one at a time,
as the caller takes them. `SSEDataDecoder`, which the vendor interfaces use, hands out each
event as a `(type, data)` pair instead, `data` being those bytes: no event object is made, and a
run of blocks becomes its pairs in C. This is the streaming hot
path, so the usual shapes skip the line machine. Between blocks nothing can be dispatched before
a blank line, so until one arrives a chunk is only appended (a memchr or two per small piece; a
block's lines are parsed once, when it is complete). Then the complete blocks are read at once:
when every one is `data: <payload>` (OpenAI; Gemini with CRLF) or `event: <type>` then
`data: <payload>` (Anthropic, Cohere), they are checked and split by C-level splits and joins, a
region of at most `_REGION_BYTES` at a time; a chunk that is one event with the same prefix as the
last such chunk is read with a few slices. Anything else (comments, ids, retry, several data lines,
CR-only line ends, a BOM, invalid UTF-8) goes through the line machine, which is the reference.
So `retry` and `last_event_id` move when the block that sets them is complete (or at `close()`).
An unterminated line waits in a `bytearray` and a chunk with no line end is only appended, so
input that arrives a byte at a time stays O(n).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from itertools import repeat
from typing import TYPE_CHECKING, Any, ClassVar

from ..exceptions import ModelkitError, StreamProtocolError, UserError
from ._sse_blocks import append_events, block_end, canonical, long_line_end, pairs_of, utf8_checked
from ._sse_event import EventData, SSEEvent, event_text

__all__ = (
    'MAX_EVENT_BYTES',
    'MAX_RETRY_DIGITS',
    'EventData',
    'SSEDataDecoder',
    'SSEDecoder',
    'SSEEvent',
    'event_text',
)

MAX_EVENT_BYTES = 16 * 1024 * 1024
"""Longest line, and most data for one event, the decoder buffers (16 MiB). The largest real LLM
events (a whole base64 image, a long tool-call argument) are a few MiB; this is far above them
and small enough that a server that never ends its line cannot eat the process's memory."""

MAX_RETRY_DIGITS = 18
"""Significant digits a `retry` value may have (10**18 ms is 31 million years): enough for any
real delay, and it keeps `int()` away from megabytes of digits."""

_REGION_BYTES = 64 * 1024
"""How much of a large chunk is split into events at a time: the pieces, their decoded text and
the events of one region stay in the CPU cache, which makes a large body decode faster."""

_NARROW_BYTES = 2048
"""The least a region shrinks to when the fast paths fail on it (a comment, an `id`, two `data`
lines): halving it until they take the blocks before the odd one leaves only the blocks near it
to the line machine, not a whole region of them."""

_MULTI_BYTES = 4096
"""Above this size a chunk is most likely many events, and `_single` looks for a line end in it
before copying out its payload."""

_BOM = b'\xef\xbb\xbf'
_LF = b'\n'
_CR = b'\r'
_DATA_SP = b'data: '


_new_event = object.__new__  # an event without a call to `__init__`: the hot paths set every field


def _utf8_error(offset: int) -> StreamProtocolError:
    return StreamProtocolError(f'invalid UTF-8 in the event stream at byte {offset}')


def _too_long(what: str) -> StreamProtocolError:
    return StreamProtocolError(
        f'{what} in the event stream is longer than {MAX_EVENT_BYTES} bytes (MAX_EVENT_BYTES)'
    )


class _Batched(list[Any]):
    """The events of one `iter_feed()` call, where each run of blocks split in C is kept as its
    `(kinds, payloads, last_id)`, to be made into events only as the caller takes them."""

    __slots__ = ()


class _SSEMachine:
    """What `SSEDecoder` and `SSEDataDecoder` share: everything but what they hand out per event."""

    _PAIRS: ClassVar[bool] = False
    """Hand out `(type, data)` pairs, not `SSEEvent`s."""

    __slots__ = (
        '_at_start',
        '_block_retry',
        '_buf',
        '_clean',
        '_closed',
        '_data',
        '_data_len',
        '_error',
        '_event',
        '_id_buffer',
        '_kind',
        '_offset',
        '_pairs',
        '_pending',
        '_plen',
        '_prefix',
        '_run',
        '_skip_lf',
        'last_event_id',
        'retry',
        'truncated',
    )

    truncated: bool
    """True once `close()` discarded an event that had data but no blank line to end it."""
    last_event_id: str | None
    """The last event ID in force (what a reconnecting client sends as `Last-Event-ID`): as WHATWG
    says, an `id` takes effect at the blank line that ends its block, so a block cut off by the
    end of the stream does not move it."""
    retry: int | None
    """The latest valid reconnection time (ms) the stream sent, from any block (set when that block
    is complete, or at `close()`)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        """The start of an unterminated line: it never contains CR or LF."""
        self._offset = 0
        """Stream offset of the first byte not yet consumed, for error messages."""
        self._at_start = True
        """Nothing consumed yet, so a leading BOM is still to be skipped."""
        self._skip_lf = False
        """The last chunk ended with CR: an LF starting the next chunk belongs to that line end."""
        self._clean = False
        """Nothing pending at all, so `feed()` may turn a chunk holding one `data:` event straight
        into that event."""
        self._closed = False
        self._pairs = self._PAIRS  # (a slot: read per event, where a class attribute costs a lookup)
        self._prefix = _DATA_SP
        """The start of the last whole event that came as one chunk: `data: `, or `event: <type>\\n`
        and `data: `; a chunk that starts with it and is one event is decoded at once."""
        self._plen = len(_DATA_SP)
        self._kind = 'message'
        """The event type `_prefix` names."""
        self._pending = False
        """Lines of the current block were read: the fast paths must wait for its blank line."""
        self._id_buffer: str | None = None
        """The last `id` read; it becomes `last_event_id` at the next blank line (WHATWG's
        "last event ID buffer")."""
        self._data: list[str] = []
        self._data_len = 0
        self._event = ''
        self._block_retry: int | None = None
        self._error: ModelkitError | None = None
        self._run: Iterator[Any] | None = None
        """The events `iter_feed()` handed out last, while the caller may not have taken them all."""
        self.truncated = False
        self.last_event_id = None
        self.retry = None

    def feed(self, data: bytes) -> list[Any]:
        """Consume a chunk of the body; return the events it completed (often none or one)."""
        found = self.iter_feed(data)
        return found if found.__class__ is list else self._left()

    def iter_feed(self, data: bytes) -> Iterable[Any]:
        """`feed()`, with each event made only as the caller takes it.

        The same events in the same order, but a chunk holding thousands of them (a body that
        arrives whole) is never held as thousands of events at once, which is much of what such
        a chunk costs. A caller that stops taking them loses nothing: the next `feed()`,
        `iter_feed()` or `close()` returns the events it did not take first.
        """
        # The kit's hot path, once per chunk: `feed()` calls this, not the other way round.
        if self._run is not None and (left := self._left()):
            try:
                return left + self.feed(data)
            except ModelkitError:
                if self._error is None:
                    raise
                return left  # they came before the error, which the next call raises
        buf = self._buf
        # `int in bytes` is a bare memchr; `bytes in bytes` and method calls cost several times more.
        if buf and 10 not in data and 13 not in data:
            # Still inside one line (byte-at-a-time input): append in amortised O(1).
            buf += data
            if len(buf) > MAX_EVENT_BYTES:
                self._check_line(buf)
            return ()  # a constant: an empty list would be made and freed per small piece
        if not self._clean:
            return self._lazily(self._feed(data))
        if not buf:
            # One whole event per chunk is what a socket mostly delivers: `<prefix><payload>` and a
            # blank line, LF or CRLF ended, where the prefix is the last such event's (`data: ` for
            # OpenAI and Gemini, `event: <type>\ndata: ` for Anthropic and Cohere). `_single`'s
            # checks, inline (its call would be a tenth of the cost); what they miss goes to it,
            # which learns a new prefix and reads chunks over _MULTI_BYTES.
            plen = self._plen
            n = len(data)
            if plen < n <= _MULTI_BYTES and data[-1] == 10 and data[:plen] == self._prefix:
                if data[-2] == 10:
                    payload = data[plen:-2]
                elif data[-2] == 13 and data[-3] == 10 and data[-4] == 13:
                    payload = data[plen:-4]  # Gemini's CRLF blank line
                else:
                    payload = _LF  # no blank line at the end: fails the test below
                if 10 not in payload and 13 not in payload:
                    if not payload.isascii():
                        try:
                            payload.decode()
                        except UnicodeDecodeError:
                            return self._lazily(self._feed(data))  # which says where
                    self._offset += n
                    if self._pairs:
                        return [(self._kind, payload)]
                    event = _new_event(SSEEvent)
                    event.event = self._kind
                    event.raw = payload
                    event.id = self.last_event_id
                    event.retry = None
                    return [event]
            event = self._single(data)
            if event is not None:
                return [event]
        # Between blocks: nothing is dispatched before a blank line, so until one arrives the bytes
        # are only appended (each line is parsed once, when its block is complete, and a small
        # piece costs a memchr or two). Then the blocks up to the last blank line are decoded at
        # once and the rest waits. `cut` is where the last blank line ends in `buf + data` (0: a
        # blank line is there but `_complete` must find it; -1: none). The searches are `rfind`,
        # never `bytes in bytes`: CPython first tries such a needle as an integer, and the
        # exception that fails costs twice the search itself, once per small piece.
        if 13 not in data:
            cut = data.rfind(b'\n\n') if 10 in data else -1
            if cut >= 0:
                cut += len(buf) + 2
            elif buf and data[0] == 10 and buf[-1] == 10:
                cut = len(buf) + 1
            if cut > 0 and 13 in buf:
                cut = 0  # CRs wait in `buf`: which line ends pair up is `_complete`'s to find
        elif (cut := data.rfind(b'\r\n\r\n')) >= 0 and 10 not in (rest := data[cut + 4 :]) and 13 not in rest:
            cut += len(buf) + 4  # (Gemini's) CRLF blank line, and no line end after it
        elif (
            # Whether a blank line ends in `data` (two line ends in a row, where CR LF is one),
            # inline: a function call would be most of what a small CRLF piece costs.
            data.find(b'\n\r') >= 0
            or data.find(b'\n\n') >= 0
            or data.find(b'\r\r') >= 0
            or (buf and ((buf[-1] == 10 and data[0] in (10, 13)) or (buf[-1] == 13 and data[0] == 13)))
        ):
            cut = 0
        else:
            cut = -1
        if cut < 0:
            if len(buf) + len(data) > _REGION_BYTES:
                return self._lazily(self._feed(data))  # lines without a blank one: parse them now
            buf += data
            return ()
        work = b''.join((buf, data)) if buf else data
        if 0 < cut <= _MULTI_BYTES:
            # (`_complete`'s way to one event, inline: this is the way of every small piece.)
            event = self._single(work[:cut] if cut < len(work) else work, 2 if work[cut - 2] == 10 else 4)
            if event is not None:
                self._buf = bytearray(work[cut:])
                return [event]
        found = self._complete(work, cut)
        if found.__class__ is _Batched:  # (`_lazily` inline, likewise)
            run = self._run = pairs_of(found) if self._pairs else self._made(found)
            return run
        return found

    def _lazily(self, found: list[Any]) -> Iterable[Any]:
        """`found`, or if it holds runs of blocks still to be made into events, an iterator of them."""
        if found.__class__ is _Batched:
            run = self._run = pairs_of(found) if self._pairs else self._made(found)
            return run
        return found

    def _made(self, found: list[Any]) -> Generator[SSEEvent, None, None]:
        # One at a time, as the caller takes them: a run's events made at once would be hundreds
        # of live objects for the collector, whose collections then cost in proportion to the
        # whole heap of a large application (1.7 times the decode time with LiteLLM and pydantic-ai
        # imported). Made without calling `__init__` (a Python frame per event), which is most of
        # their cost; their `data` is decoded from `raw` if it is read.
        new = _new_event
        cls = SSEEvent
        for item in found:
            if item.__class__ is tuple:
                kinds, payloads, last_id = item
                for kind, payload in zip(kinds, payloads, strict=False):  # `kinds` may be endless
                    event = new(cls)
                    event.event = kind
                    event.raw = payload
                    event.id = last_id
                    event.retry = None
                    yield event
            else:
                yield item
        self._run = None

    def _left(self) -> list[Any]:
        """The events of the last `iter_feed()` its caller did not take."""
        run = self._run
        self._run = None
        return list(run) if run is not None else []

    def _learn(self, data: bytes) -> None:
        """Remember the prefix of a chunk's first event (`event: <type>\ndata: `, or `data: `)
        for the one-event-per-chunk shortcut."""
        if data.startswith(_DATA_SP):
            self._prefix = _DATA_SP
            self._plen = len(_DATA_SP)
            self._kind = 'message'
        elif data.startswith(b'event: ') and (lf := data.find(10)) > 0 and data.startswith(_DATA_SP, lf + 1):
            try:
                kind = data[7:lf].decode()
            except UnicodeDecodeError:
                return
            self._prefix = data[: lf + 7]
            self._plen = lf + 7
            self._kind = kind or 'message'

    def _check_line(self, buf: bytearray) -> None:
        """Raise if the unterminated line at the end of `buf` is over the bound."""
        start = max(buf.rfind(10), buf.rfind(13)) + 1
        if len(buf) - start > MAX_EVENT_BYTES:
            self._fail(_too_long('a line'))

    def _complete(self, work: bytes, cut: int = 0) -> list[Any]:
        """`work`, from a block boundary on, holds a blank line: decode up to the last one, and
        keep the rest (lines of the next block, no blank line among them) unparsed. `cut`, if
        known, is where that blank line ends and nothing after it ends a line; up to
        _MULTI_BYTES, `_single` has said the blocks before it are not one event."""
        if not cut:
            if 13 not in work:
                cut = work.rfind(b'\n\n') + 2
            else:
                if work[-3:] == b'\r\n\r':
                    # A CRLF blank line cut after its CR (small pieces often are): that CR already
                    # ends the block, so read it as the whole blank line and let the LF, if it is
                    # the next chunk's first byte, belong to it, as the line machine would.
                    events = self._complete(work + _LF)
                    if self._error is None and not self._buf:
                        self._offset -= 1  # the LF added here is not in the stream
                        self._skip_lf = True
                        self._clean = False
                    return events
                cut = work.rfind(b'\r\n\r\n') + 4
                lf = work.rfind(b'\n\n') + 2
                if lf > cut:
                    cut = lf
                if cut > 1 and (
                    work.find(b'\n\n', cut) >= 0
                    or work.find(b'\r\r', cut) >= 0
                    or work.find(b'\n\r', cut) >= 0
                ):
                    cut = 1  # blocks ended by CRs alone: the line machine reads them all
            if cut <= 1:
                self._buf = bytearray()
                return self._feed(work)
            tail = 0
        elif cut > _MULTI_BYTES:
            tail = 2 if work[cut - 2] == 10 else 4
        else:
            tail = -1  # `_single` said no
        head = work[:cut] if cut < len(work) else work  # (one copy of a large head, at most)
        if tail >= 0:
            event = self._single(head, tail)
            if event is not None:
                self._buf = bytearray(work[cut:])
                return [event]
        self._buf = bytearray()
        events = self._feed(head)
        if self._error is None and cut < len(work):
            self._buf = bytearray(work[cut:])
        return events

    def _single(self, data: bytes, tail: int = 0) -> Any:
        """`data` as one event of the remembered prefix (as `feed` checks first), or None.

        `tail`, if known, is the length of the blank line's line ends that `data` ends with."""
        plen = self._plen
        if data[:plen] != self._prefix:
            if 13 in data:
                return None
            self._learn(data)
            plen = self._plen
            if data[:plen] != self._prefix:
                return None
        n = len(data)
        if not tail:
            # The last bytes by index, not `data[-2:] == b'\n\n'`: a slice is an object to make
            # and free, most of what the check would cost. (`n >= plen >= 6`.)
            if data[-1] != 10:
                return None
            if data[-2] == 10:
                tail = 2
            elif data[-2] == 13 and data[-3] == 10 and data[-4] == 13:
                tail = 4
            else:
                return None
        if n > _MULTI_BYTES and (n > MAX_EVENT_BYTES or data.find(10, plen, n - tail) >= 0):
            return None  # (a line end found without copying what is most likely many events)
        payload = data[plen:-tail]
        if 10 in payload or 13 in payload:
            return None
        if not payload.isascii():
            try:
                payload.decode()
            except UnicodeDecodeError:
                return None  # the line machine says where
        self._offset += n
        if self._pairs:
            return (self._kind, payload)
        event = _new_event(SSEEvent)
        event.event = self._kind
        event.raw = payload
        event.id = self.last_event_id
        event.retry = None
        return event

    def close(self) -> list[Any]:
        """End of stream: return no further event; set `truncated` if unfinished data was dropped."""
        if self._run is not None and (left := self._left()):
            try:
                return left + self.close()
            except ModelkitError:
                if self._error is None:
                    raise
                return left  # they came before the error, which the next call raises
        if self._closed:
            return []
        if self._error is not None:
            raise self._error
        if self._clean and (10 in self._buf or 13 in self._buf):
            # Complete lines of an unfinished block wait unparsed: parse them now (no blank line is
            # among them, so no event), for the state and any error they hold.
            self._feed(b'')
            if self._error is not None:
                raise self._error
        # Per WHATWG an event without its blank line is never dispatched, and an unterminated
        # last line is discarded unread (so a character cut in half there is not an error).
        line = bytes(self._buf)
        if self._at_start and line.startswith(_BOM):
            line = line[3:]
        self.truncated = bool(self._data) or line.partition(b':')[0] == b'data'
        self._closed = True
        self._clean = False
        self._pending = False
        self._error = UserError(f'this {type(self).__name__} is closed: use a new one for a new stream')
        self._buf = bytearray()
        self._data = []
        self._data_len = 0
        self._event = ''
        self._block_retry = None
        return []

    def _fail(self, exc: ModelkitError) -> None:
        self._error = exc
        self._clean = False
        self._buf = bytearray()
        raise exc

    def _feed(self, data: bytes) -> list[Any]:
        if self._error is not None:
            raise self._error
        buf = self._buf
        if buf:
            work = b''.join((buf, data))
        elif data:
            work = data
        else:
            return []
        n = len(work)
        pos = 0
        if self._at_start:
            if n < 3 and _BOM.startswith(work):
                self._buf = bytearray(work)  # may be the start of a BOM: wait for more
                return []
            self._at_start = False
            if work.startswith(_BOM):
                pos = 3
        elif self._skip_lf:
            self._skip_lf = False
            if work[0] == 10:
                pos = 1
        offset = self._offset
        events: list[Any] = _Batched()
        span = _REGION_BYTES
        bisect = True  # a region the fast paths fail on may be halved: not right after a failure
        try:
            while pos < n:
                # The region to parse now: every complete line in the next `span` bytes.
                limit = pos + span
                if limit > n:
                    limit = n
                if not self._pending:
                    # Blocks all of one usual shape, split in C.
                    stop = canonical(work, pos, limit, self.last_event_id, events)
                    if stop > 0:
                        pos = stop
                        bisect = True
                        if span < _REGION_BYTES:
                            span *= 2
                        continue
                    if bisect and span > _NARROW_BYTES and limit - pos > _NARROW_BYTES:
                        span //= 2
                        continue
                    # Not to be halved (the narrowest, the end of `work`, or after a failure): the
                    # line machine reads it, and the regions after it grow back to full size, each
                    # tried once, so a stream of nothing but odd blocks is soon in whole regions.
                    bisect = False
                else:
                    # Only the block in progress needs the line machine: the blocks after its
                    # blank line get the fast paths (else a stream cut inside a block would stay
                    # on the line machine for as long as its chunks kept ending inside one).
                    limit = block_end(work, pos, limit)
                if span < _REGION_BYTES:
                    span *= 2
                last = limit == n  # then nothing after this region ends a line yet
                end = work.rfind(10, pos, limit)
                cr = work.rfind(13, pos, limit)
                if cr > end:
                    end = cr
                if end < 0:
                    end = long_line_end(work, pos, _REGION_BYTES, MAX_EVENT_BYTES)
                    if end == -2:
                        raise _too_long('a line')
                    if end < 0:
                        break
                    last = False
                    cr = end if work[end] == 13 else -1
                end += 1
                if not self._pending:
                    # Exactly one event of the usual shapes, as small chunks mostly hold:
                    # `data: <payload>` or `event: <type>` + `data: <payload>`, LF or CRLF ended.
                    first = work.find(10, pos, end)
                    kind = b'message'
                    start = pos + 6
                    stop = -1
                    if cr < 0:
                        if first == end - 2:
                            if work.startswith(_DATA_SP, pos):
                                stop = first
                        elif (
                            work.startswith(b'event: ', pos)
                            and work.startswith(b'\ndata: ', first)
                            and work.find(10, first + 1) == end - 2
                        ):
                            kind = work[pos + 7 : first]
                            start = first + 7
                            stop = end - 2
                    elif (
                        cr == end - 2
                        and first == end - 3
                        and work.find(13, pos) == end - 4
                        and work.startswith(_DATA_SP, pos)
                    ):
                        stop = end - 4
                    if stop >= 0:
                        payload = work[start:stop]
                        try:
                            type_ = kind.decode() or 'message'
                        except UnicodeDecodeError:
                            type_ = ''  # the line machine says where
                        if type_ and utf8_checked(payload, (payload,)):
                            append_events(events, (type_,), [payload], self.last_event_id)
                            pos = end
                            if last:
                                break
                            continue
                if cr < 0:
                    raw = work[pos:end]
                    sep = b'\n\ndata: '
                else:
                    if cr == end - 1:
                        if end < n:
                            if work[end] == 10:
                                end += 1
                        else:
                            self._skip_lf = True  # its LF, if any, comes with the next chunk
                    raw = work[pos:end]
                    sep = b'\r\n\r\ndata: '
                if not self._pending and raw.startswith(_DATA_SP) and raw.endswith(sep[:-6]):
                    # The common shape, every block exactly `data: <payload>` with LF or CRLF line
                    # ends throughout: split it in C, then check no payload hides a line end.
                    parts = raw.split(sep)
                    parts[0] = parts[0][6:]
                    parts[-1] = parts[-1][: 6 - len(sep)]
                    if cr < 0:
                        bad = [p for p in parts if 10 in p]
                    else:
                        bad = [p for p in parts if 10 in p or 13 in p]
                    # (Else the line machine keeps the events before the bad byte.)
                    if not bad and utf8_checked(b''.join(parts), parts):
                        append_events(events, repeat('message'), parts, self.last_event_id)
                        pos = end
                        if last:
                            break
                        continue
                region = raw if cr < 0 else raw.replace(b'\r\n', _LF).replace(_CR, _LF)
                self._blocks(region, raw, offset + pos, events)
                pos = end
                if last:
                    break
        except StreamProtocolError as exc:
            self._error = exc
            self._clean = False
            self._buf = bytearray()
            if events:
                return events  # what arrived before the bad bytes; the next call raises
            raise
        self._offset = offset + pos
        if pos < n:
            self._buf = bytearray(work[pos:])
        elif buf:
            self._buf = bytearray()
        self._clean = not (self._skip_lf or self._pending)
        return events

    def _blocks(self, region: bytes, raw: bytes, offset: int, events: list[Any]) -> None:
        """The line machine over `region`: complete lines, LF-only, ending with LF.

        `raw` is the region as received (with its CRs) and `offset` its place in the stream.
        """
        append = events.append
        new_event = SSEEvent
        id_buffer = self._id_buffer
        last_id = self.last_event_id
        data_list = self._data
        data_len = self._data_len
        event = self._event
        block_retry = self._block_retry
        fresh = not self._pending
        blocks = region.split(b'\n\n')
        last = len(blocks) - 1
        try:
            for i, block in enumerate(blocks):
                if i == last:
                    if not block:
                        break
                    lines = block[:-1].split(_LF)  # complete lines, their blank line still to come
                else:
                    if fresh:
                        # Blocks of one `data` line, or an `event` line and a `data` line (as
                        # Anthropic sends), skip the line loop.
                        if block.startswith(_DATA_SP):
                            if 10 not in block:
                                append(new_event('message', block[6:].decode(), last_id, None))
                                continue
                        elif block.startswith(b'event: '):
                            lf = block.find(10)
                            if lf > 0 and block.startswith(b'\ndata: ', lf) and block.find(10, lf + 1) < 0:
                                kind = block[7:lf].decode() or 'message'
                                append(new_event(kind, block[lf + 7 :].decode(), last_id, None))
                                continue
                    lines = block.split(_LF)
                    lines.append(b'')  # the blank line that ended the block
                for line in lines:
                    if not line:
                        # Dispatch. The last event ID takes the buffer's value even when there
                        # is no data to dispatch.
                        last_id = id_buffer
                        if data_list:
                            append(new_event(event or 'message', '\n'.join(data_list), last_id, block_retry))
                            data_list = []
                            data_len = 0
                        event = ''
                        block_retry = None
                        fresh = True
                        continue
                    fresh = False
                    name, colon, value = line.partition(b':')
                    if colon and value.startswith(b' '):
                        value = value[1:]
                    if name == b'data':
                        data_len += len(value) + 1
                        if data_len > MAX_EVENT_BYTES:
                            raise _too_long("an event's data")
                        data_list.append(value.decode())
                    elif name == b'event':
                        event = value.decode()
                    elif name == b'id' and 0 not in value:
                        id_buffer = value.decode() or None
                    elif name == b'retry' and value.isdigit():
                        digits = value.lstrip(b'0')
                        if len(digits) <= MAX_RETRY_DIGITS:
                            block_retry = self.retry = int(digits or b'0')
                    else:
                        # Comments and ignored fields mean nothing, but the stream must be UTF-8.
                        line.decode()
        except UnicodeDecodeError:
            # Every byte before the failing one was decoded, so the first bad byte of the
            # region as received is the one that failed.
            try:
                raw.decode()
            except UnicodeDecodeError as exc:
                raise _utf8_error(offset + exc.start) from exc
            raise
        self._id_buffer = id_buffer
        self.last_event_id = last_id
        self._data = data_list
        self._data_len = data_len
        self._event = event
        self._block_retry = block_retry
        self._pending = not fresh


class SSEDecoder(_SSEMachine):
    """Decodes a `text/event-stream` body into `SSEEvent`s: `feed()` it chunks, then `close()` it.

    One decoder reads one stream. After `StreamProtocolError` the stream is broken and every
    further call raises it again; after `close()` every further `feed()` raises `UserError`.
    """

    __slots__ = ()

    if TYPE_CHECKING:

        def feed(self, data: bytes) -> list[SSEEvent]:
            """Consume a chunk of the body; return the events it completed (often none or one)."""

        def iter_feed(self, data: bytes) -> Iterable[SSEEvent]:
            """`feed()`, with each event made only as the caller takes it."""

        def close(self) -> list[SSEEvent]:
            """End of stream: return no further event; set `truncated` if unfinished data was dropped."""


class SSEDataDecoder(_SSEMachine):
    """`SSEDecoder` for a client that only reads each event's type and data (every vendor
    interface): it hands out `(type, data)` pairs (`EventData`), with no event object to make.

    The same events, rules and errors as `SSEDecoder`; what it leaves out is each event's `id` and
    `retry`, which the decoder still tracks (`last_event_id`, `retry`). A run of blocks split in C
    becomes its pairs in C too, as the caller takes them: this is the streaming hot path.
    """

    __slots__ = ()
    _PAIRS = True

    if TYPE_CHECKING:

        def feed(self, data: bytes) -> list[EventData]:
            """Consume a chunk of the body; return the events it completed (often none or one)."""

        def iter_feed(self, data: bytes) -> Iterable[EventData]:
            """`feed()`, with each event made only as the caller takes it."""

        def close(self) -> list[EventData]:
            """End of stream: return no further event; set `truncated` if unfinished data was dropped."""
