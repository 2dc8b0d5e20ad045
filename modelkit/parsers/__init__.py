"""Sans-I/O stream parsers: bytes in, events out, no awaits and no HTTP.

The loop that reads a response and feeds a parser lives once, in the transport
(`ResponseStream.iter_parsed`); vendor interfaces only see the events.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

__all__ = ('Parser',)

EventT = TypeVar('EventT')


class Parser(Protocol[EventT]):
    """A stream parser: feed it chunks as they arrive, close it at end of stream.

    The contract every parser keeps (SSE, the AWS event stream, a JSON array):

    - `feed(data)` returns the events `data` completed, in order; how the bytes were split into
      chunks never changes the events (byte-at-a-time input included, in linear time).
    - `close()` returns any last events and **never raises for truncation**: a body that stopped
      inside an event or frame is not a framing error but an interrupted stream, which only the
      caller can judge (a vendor that already said it was done may end any way it likes). After
      `close()`, `truncated` is True when an incomplete trailing event or frame was dropped.
    - Malformed input raises `StreamProtocolError`, from `feed` or `close`; events completed
      before the bad bytes are returned first, so nothing already received is lost.
    - Every buffer is bounded by a named constant.

    A parser whose events are costly to hold many of at once may also offer `iter_feed(data)`:
    the same events, each made only as the caller takes it (`JSONArrayDecoder`'s parsed
    elements); the kit's event loop uses it where it exists.
    """

    truncated: bool
    """After `close()`: True when an incomplete trailing event or frame was dropped."""

    def feed(self, data: bytes) -> list[EventT]:
        """Consume a chunk; return the events it completed (often none or one)."""
        ...

    def close(self) -> list[EventT]:
        """End of input: return any last events; set `truncated` if unfinished data was dropped."""
        ...
