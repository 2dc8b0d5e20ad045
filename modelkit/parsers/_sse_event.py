"""What the SSE decoders hand out: `SSEEvent`s (`SSEDecoder`), or `(type, data)` pairs
(`EventData`, `SSEDataDecoder`). Both are public from `modelkit.parsers.sse`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._fieldwise import fieldwise

__all__ = ('EventData', 'SSEEvent', 'event_text')


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class SSEEvent:
    """One dispatched server-sent event."""

    event: str = 'message'
    """The `event` field of the block, or `'message'` when it had none."""
    data: str = ''
    """The block's `data` lines joined with `'\\n'`."""
    id: str | None = None
    """The last event ID in force when the event was dispatched (it persists across events)."""
    retry: int | None = None
    """The reconnection time in milliseconds, only if this event's own block carried a valid one."""
    raw: bytes | None = field(default=None, init=False, repr=False, compare=False)
    """`data` as the bytes that came (checked UTF-8), when the decoder kept them: blocks of one
    `data` line, as its fast paths read them; else None (the line machine gives `data` alone).

    What a JSON payload is best parsed from (`orjson.loads(event.raw or event.data)`): the decoder
    then never builds `data` at all, which is most of what it would cost per event (it is decoded
    the first time it is read). Made by the decoder only; setting `data` sets it to None."""

    def __init__(
        self, event: str = 'message', data: str = '', id: str | None = None, retry: int | None = None
    ) -> None:
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry
        self.raw = None


_DATA_DOC = "The block's `data` lines joined with `'\\n'`."
_data_slot: Any = SSEEvent.__dict__['data']  # where `data` is kept once made


def _data(event: SSEEvent) -> str:
    # The decoder's events leave `data` unset and set `raw` (checked UTF-8): it is made when read.
    # A property on `data` alone, not a `__getattr__`, which would slow every attribute access.
    try:
        data: str = _data_slot.__get__(event, SSEEvent)
    except AttributeError:
        data = event.raw.decode()  # type: ignore[union-attr]
        _data_slot.__set__(event, data)
    return data


def _set_data(event: SSEEvent, data: str) -> None:
    _data_slot.__set__(event, data)
    event.raw = None  # no longer these bytes


setattr(SSEEvent, 'data', property(_data, _set_data, doc=_DATA_DOC))  # noqa: B010


EventData = tuple[str, bytes | str]
"""An event as `SSEDataDecoder` hands it out: its type and its data, as the bytes that came
(checked UTF-8) where the decoder kept them, else as text. `orjson.loads` takes either."""


def event_text(data: bytes | str) -> str:
    """An `EventData`'s data as text (for an error message, say)."""
    return data.decode() if isinstance(data, bytes) else data
