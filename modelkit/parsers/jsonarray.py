"""A sans-I/O decoder for a JSON array of objects that arrives in pieces, element by element.

Gemini's `:streamGenerateContent` without `alt=sse` (and proxies that drop that parameter) sends
the stream as one JSON array, `[{...}\\r\\n,\\r\\n{...}]`, written out as the response grows.
`JSONArrayDecoder` returns each top-level element, parsed with orjson, as soon as the byte that
closes it arrives. Elements are returned parsed (not as bytes) because that is the fastest way
with orjson: the parse is also what confirms where an element ends (below), and the consumer's
hot path wants the dict anyway.

Finding where an element ends takes no pass over its bytes in Python in the usual case. Google
writes every element pretty-printed, starting and ending at the start of a line; a raw newline
can never be inside a JSON string (RFC 8259 section 7 requires control characters to be
escaped), so `\\n}` is always a real closing brace, and for that layout it is the element's. The
decoder finds it with one C-level search and lets `orjson.loads` confirm it: a prefix of an
element never parses, so success means the element ends exactly there. Any other layout (compact,
indented elements), and any element whose candidate fails to parse, is scanned exactly instead:
strings (with their escapes) and brace depth are tracked from where the last chunk stopped, with
regular expressions that skip whole runs of plain bytes and whole strings, so each byte is looked
at a bounded number of times however the body is cut.

The rules, per RFC 8259: whitespace (space, tab, CR, LF) may surround the brackets, commas and
elements; the body must be one array (`[]` is fine) whose elements are objects; nothing but
whitespace may follow the closing `]`. Anything else raises `StreamProtocolError` naming the byte
offset, and so does an element that is not valid JSON. `close()` never raises for a body cut
short: it sets `truncated` when the array's closing `]` never arrived (an empty body included).
Elements completed earlier in the same chunk are returned even when a later byte is malformed;
the error is raised by the next `feed()` or `close()`.

`iter_feed()` is `feed()` with each element parsed only when the caller takes it, which the kit's
event loop uses: a body that arrives in one piece then never holds all its parsed elements at
once (held in one list, they cost as much again as their parsing, in allocation and in the garbage
collector's passes over them).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable
from typing import Any

import orjson

from ..exceptions import ModelkitError, StreamProtocolError, UserError

__all__ = ('MAX_ELEMENT_BYTES', 'JSONArrayDecoder')

MAX_ELEMENT_BYTES = 16 * 1024 * 1024
"""Largest element the decoder buffers (16 MiB): the same bound as the SSE decoder's
`MAX_EVENT_BYTES`, since the same Gemini chunks (at most a few MiB, for an inline image) travel
either way; a server that never closes its element cannot eat the process's memory."""

# Where the decoder is in the array.
_START = 0  # before the opening `[`
_FIRST = 1  # after `[`: an element or `]`
_NEXT = 2  # after `,`: an element
_ELEMENT = 3  # inside an element
_AFTER = 4  # after an element: `,` or `]`
_DONE = 5  # after `]`: whitespace only

_WS = re.compile(rb'[ \t\r\n]*')
# Outside strings: runs of bytes that are neither braces nor quotes, and whole strings. It stops
# at a brace, at the quote of a string not finished in the data, or at the end.
_SKIP = re.compile(rb'(?:[^"{}]++|"(?:[^"\\]++|\\.)*+")*+', re.DOTALL)
# Inside a string: everything up to its closing quote (or a backslash that ends the data).
_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
_GOOGLE_NEXT = b'\n,\r\n{\n'
"""What follows an element in Google's layout: its line end, the comma line, the next element."""


class JSONArrayDecoder:
    """Decodes a streamed JSON array of objects: `feed()` it chunks, then `close()` it.

    One decoder reads one body. After `StreamProtocolError` the body is broken and every further
    call raises it again; after `close()` every further `feed()` raises `UserError`.
    """

    __slots__ = (
        '_before',
        '_buf',
        '_depth',
        '_error',
        '_fast',
        '_find_from',
        '_in_string',
        '_offset',
        '_pending',
        '_resume',
        '_scan',
        '_state',
        'truncated',
    )

    truncated: bool
    """True once `close()` found the array unfinished: an element cut off or `]` missing."""

    def __init__(self) -> None:
        self._buf = bytearray()
        """Unconsumed bytes: while inside an element, from that element's first byte."""
        self._state = _START
        self._offset = 0
        """Stream offset of the first byte of `_buf`, for error messages."""
        self._before = -1
        """The byte just before `_buf` (-1 at the start), to tell an element's layout."""
        self._fast = False
        """The current element is in Google's layout: its end is looked for as `\\n}`."""
        self._find_from = 0
        """Where the next search for `\\n}` starts (everything before it was searched)."""
        self._scan = 0
        """Where the exact scan of the current element resumes."""
        self._depth = 0
        self._in_string = False
        self._error: ModelkitError | None = None
        self._pending: Generator[Any, None, None] | None = None
        """The run `iter_feed()` handed out last, until the next call saves where it stopped."""
        self._resume = False
        """The last run was stopped early: the buffer may hold elements nobody has taken yet."""
        self.truncated = False

    def feed(self, data: bytes) -> list[Any]:
        """Consume a chunk of the body; return the elements it completed, parsed."""
        found = self.iter_feed(data)
        if found.__class__ is list:
            return found
        self._pending = None  # `list()` takes every element: nothing to save later
        return list(found)

    def iter_feed(self, data: bytes) -> Iterable[Any]:
        """`feed()`, with each element parsed only as the caller takes it.

        The same elements in the same order, but a chunk holding thousands of them (a body that
        arrives whole) is never held in memory as thousands of parsed objects at once, which is
        most of what such a chunk costs (the garbage collector walks every one of them, again and
        again). Take the elements before the next call: a caller that stops early (its consumer
        is done) loses nothing, as the next `feed()`, `iter_feed()` or `close()` returns the
        elements it did not take first. Malformed bytes after some elements end the iteration;
        the error is raised by the next call, as with `feed()`.
        """
        # The kit's hot path, once per chunk: `feed()` calls this, not the other way round.
        if self._pending is not None:
            self._settle()
        if self._error is not None:
            raise self._error
        buf = self._buf
        if not buf:
            if (
                # One element per chunk in Google's layout (`\n,\r\n{\n...\n}`), as a socket mostly
                # delivers it: parse it at once.
                self._state == _AFTER
                and data.startswith(_GOOGLE_NEXT)
                and data.endswith(b'\n}')
                and data.find(b'\n}', 5, len(data) - 2) < 0
                and len(data) - 4 <= MAX_ELEMENT_BYTES
            ):
                try:
                    element = orjson.loads(data[4:])
                except orjson.JSONDecodeError:
                    pass  # the full path below finds out why
                else:
                    self._offset += len(data)
                    self._before = 125
                    return [element]
            return self._elements_of(data)
        buf += data
        if self._state == _ELEMENT and not self._resume:
            # Inside an element nothing can end it without a closing brace: just append.
            if self._fast:
                if buf.find(b'\n}', self._find_from) < 0:
                    self._find_from = len(buf) - 1
                    if len(buf) > MAX_ELEMENT_BYTES:
                        self._check_size(len(buf))
                    return []
            elif 125 not in data:
                if len(buf) > MAX_ELEMENT_BYTES:
                    self._check_size(len(buf))
                return []
        return self._elements_of(buf)

    def _elements_of(self, work: bytes | bytearray) -> Generator[Any, None, None]:
        """The elements completed in `work`, decoded as they are taken (`_elements`, started)."""
        self._resume = False  # this run starts at the first unconsumed byte
        elements = self._elements(work)
        next(elements)  # to its first `yield`: from there on, what the caller took is saved
        self._pending = elements
        return elements

    def _settle(self) -> None:
        """Before anything else: save where the caller of `iter_feed()` stopped taking elements."""
        pending = self._pending
        self._pending = None
        if pending is not None:
            pending.close()  # nothing if it ran to the end; else it saves where it stopped

    def close(self) -> list[Any]:
        """End of body: return any element still to complete; set `truncated` if the array is unfinished."""
        if self._pending is not None:
            self._settle()
        if self._error is not None:
            if isinstance(self._error, UserError):
                return []
            raise self._error
        out: list[Any] = []
        if self._resume:
            out = self._run(self._buf)  # what a caller of `iter_feed()` did not take
            if self._error is not None:
                # Bad bytes after them: there is no later call to raise it, and malformed input is
                # never silent (the elements were the ones the caller had stopped taking).
                raise self._error
        if self._state == _ELEMENT and self._fast and self._error is None:
            # An element in an unexpected layout may be complete without a `\n}`: scan it exactly.
            self._fast = False
            self._scan = self._depth = 0
            self._in_string = False
            out += self._run(self._buf)
        self.truncated = self._state != _DONE
        self._buf = bytearray()
        self._error = UserError('this JSONArrayDecoder is closed: use a new one for a new body')
        return out

    def _check_size(self, size: int) -> None:
        if size > MAX_ELEMENT_BYTES:
            self._fail(
                StreamProtocolError(
                    f'an element of the JSON array at byte {self._offset} is longer than '
                    f'{MAX_ELEMENT_BYTES} bytes (MAX_ELEMENT_BYTES)'
                )
            )

    def _fail(self, exc: ModelkitError) -> None:
        self._error = exc
        self._buf = bytearray()
        raise exc

    def _malformed(self, at: int, what: str) -> StreamProtocolError:
        return StreamProtocolError(f'malformed JSON array stream at byte {self._offset + at}: {what}')

    def _run(self, work: bytes | bytearray) -> list[Any]:
        """Every element completed in `work`, at once."""
        elements = list(self._elements_of(work))
        self._pending = None
        return elements

    def _elements(self, work: bytes | bytearray) -> Generator[Any, None, None]:
        """Decode from the start of `work` (the buffer, or a chunk when nothing was buffered),
        yielding each element when completed; the state is saved when the caller stops taking."""
        loads = orjson.loads
        n = len(work)
        pos = 0  # the next unconsumed byte; inside an element, the element's first byte
        state = self._state
        taken = False  # whether an element was yielded (an error is then raised by the next call)
        try:
            # `_elements_of` starts the generator here, before any work, so that from now on
            # `finally` runs however the caller stops: even untouched, the bytes are kept.
            yield None
            while True:
                if state == _ELEMENT:
                    if self._fast:
                        # Google's layout: each element ends at the next `\n}`, and while the
                        # separator it writes follows, so does the next element in that layout.
                        find = work.find
                        follows = work.startswith
                        find_from = self._find_from
                        while True:
                            c = find(b'\n}', find_from)
                            if c < 0:
                                self._find_from = max(n - 1, pos)
                                if n - pos > MAX_ELEMENT_BYTES:
                                    self._check_size(n - pos)
                                break
                            end = c + 2
                            if end - pos > MAX_ELEMENT_BYTES:
                                self._check_size(end - pos)
                            try:
                                element = loads(work[pos:end])
                            except orjson.JSONDecodeError:
                                # Not the end after all (or not JSON): scan this element exactly.
                                self._fast = False
                                self._scan = pos
                                break
                            taken = True
                            if follows(_GOOGLE_NEXT, end):
                                pos = find_from = self._find_from = end + 4
                                yield element
                                continue
                            pos = end
                            state = _AFTER
                            yield element
                            break
                        if state == _AFTER:
                            continue
                        if self._fast:
                            break  # the element is not complete yet
                        # Otherwise the element is scanned exactly, below.
                    end = self._exact(work, pos, n)
                    if end < 0:
                        if n - pos > MAX_ELEMENT_BYTES:
                            self._check_size(n - pos)
                        break
                    if end - pos > MAX_ELEMENT_BYTES:
                        self._check_size(end - pos)
                    try:
                        element = loads(work[pos:end])
                    except orjson.JSONDecodeError as exc:
                        raise self._malformed(pos, f'an element is not valid JSON ({exc})') from None
                    pos = end
                    state = _AFTER
                    taken = True
                    yield element
                    continue
                pos = _WS.match(work, pos).end()  # type: ignore[union-attr]  # always matches
                if pos >= n:
                    break
                byte = work[pos]
                if state == _AFTER:
                    if byte == 44:  # ,
                        state = _NEXT
                    elif byte == 93:  # ]
                        state = _DONE
                    else:
                        raise self._malformed(
                            pos, f"expected ',' or ']' after an element, got {bytes((byte,))!r}"
                        )
                    pos += 1
                elif state in (_FIRST, _NEXT):
                    if byte == 123:  # {
                        if pos + 1 >= n:
                            break  # its layout shows in the next byte
                        before = work[pos - 1] if pos else self._before
                        self._fast = (before == 10 or before == 91) and work[pos + 1] == 10
                        self._find_from = self._scan = pos
                        self._depth = 0
                        self._in_string = False
                        state = _ELEMENT
                    elif byte == 93 and state == _FIRST:
                        state = _DONE
                        pos += 1
                    else:
                        raise self._malformed(pos, f'expected an object, got {bytes((byte,))!r}')
                elif state == _START:
                    if byte != 91:  # [
                        raise self._malformed(
                            pos, f'the body is not a JSON array (it starts with {bytes((byte,))!r})'
                        )
                    state = _FIRST
                    pos += 1
                else:
                    raise self._malformed(pos, f'{bytes((byte,))!r} after the end of the JSON array')
        except StreamProtocolError as exc:
            self._error = exc
            self._buf = bytearray()
            if taken:
                return  # what arrived before the bad bytes was taken; the next call raises
            raise
        except GeneratorExit:
            # The caller stopped taking: the buffer may hold whole elements, for the next call.
            self._resume = True
            raise
        finally:
            if self._error is None:
                # At the end, or where the caller stopped taking (GeneratorExit at a `yield`).
                self._save(work, pos, n, state)

    def _save(self, work: bytes | bytearray, pos: int, n: int, state: int) -> None:
        """Keep only what is unconsumed of `work`; positions become relative to its new start."""
        self._state = state
        if pos:
            self._before = work[pos - 1]
            self._offset += pos
            self._find_from -= pos
            self._scan -= pos
        if work is self._buf:
            if pos:
                del work[:pos]  # O(1) for a bytearray: CPython moves its start
        elif pos < n:
            self._buf = bytearray(work[pos:])

    def _exact(self, work: bytes | bytearray, start: int, n: int) -> int:
        """Scan the element at `start` from where the last scan stopped; its end, or -1 if not in `work`."""
        p = self._scan
        depth = self._depth
        in_string = self._in_string
        while True:
            if in_string:
                q = _STRING_REST.match(work, p).end()  # type: ignore[union-attr]  # always matches
                if q >= n or work[q] != 34:
                    p = q  # the data ends inside the string (maybe after a backslash)
                    break
                in_string = False
                p = q + 1
            q = _SKIP.match(work, p).end()  # type: ignore[union-attr]  # always matches
            if q >= n:
                p = q
                break
            byte = work[q]
            p = q + 1
            if byte == 123:
                depth += 1
            elif byte == 125:
                depth -= 1
                if depth == 0:
                    self._scan = p
                    self._depth = 0
                    self._in_string = False
                    return p
            else:  # the quote of a string the data does not finish
                in_string = True
        self._scan = p
        self._depth = depth
        self._in_string = in_string
        return -1
