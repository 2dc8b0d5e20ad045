"""Sans-I/O stream parsers: bytes in, events out, no awaits and no HTTP.

The loop that reads a response and feeds a parser lives once, in the transport
(`ResponseStream.iter_parsed`); vendor interfaces only see the events.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

__all__ = ('Parser',)

EventT = TypeVar('EventT')


class Parser(Protocol[EventT]):
    """A stream parser: feed it chunks as they arrive, close it at end of stream."""

    def feed(self, data: bytes) -> list[EventT]:
        """Consume a chunk; return the events it completed (often none or one)."""
        ...

    def close(self) -> list[EventT]:
        """End of input: return any last event, or raise `StreamProtocolError` for a cut-off frame."""
        ...
