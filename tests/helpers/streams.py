"""Byte-piece streams: how tests cut a body into the pieces a network would deliver.

A recording or a hand-written body is one `bytes`; a socket hands it over in arbitrary pieces. Every
parser and interface must give the same result however the body is cut, so tests replay a body:

- `whole`: one piece;
- `per_event`: one piece per SSE event (what a socket sees while tokens trickle out);
- `per_frame`: one piece per AWS event-stream message;
- `random_sizes(body, low, high, seed)`: pieces of random sizes, e.g. 1-16 KiB (bursts) or 1-64 B
  (a hostile proxy);
- `random_split(body, seed)`: 1-40 cuts at random offsets (inside UTF-8 characters and frames too);
- `bytewise`: one byte at a time.

`cut(body, chunking)` names them (`CHUNKINGS`), `all_chunkings(body)` gives every one for a loop, and
`Pieces` serves a list of pieces as an httpx response body.
"""

from __future__ import annotations

import itertools
import random
import re
import struct
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Literal

import httpx

__all__ = (
    'CHUNKINGS',
    'Framing',
    'Pieces',
    'all_chunkings',
    'bytewise',
    'cut',
    'eventstream_frames',
    'per_event',
    'per_frame',
    'random_sizes',
    'random_split',
    'split_at',
    'whole',
)

Framing = Literal['sse', 'eventstream']
"""How a body is made of events: SSE (events end at a blank line) or AWS event-stream messages."""

CHUNKINGS = ('whole', 'per-event', '1-16KiB', '1-64B', 'random', 'bytewise')
"""The named ways `cut` knows; `per-event` means per frame for an event-stream body."""

MAX_RANDOM_CUTS = 40
"""`random_split` makes 1 to this many cuts: enough to land inside events, characters and frames."""

# An SSE event ends at a blank line; a line ends at CRLF, LF or CR (WHATWG HTML, "event stream").
_EVENT_END = re.compile(rb'(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)')
_PRELUDE = struct.Struct('>II')  # total length, headers length (AWS event-stream message prelude)
_PRELUDE_BYTES = 12  # the two lengths and the prelude CRC
_MESSAGE_CRC_BYTES = 4


def whole(body: bytes) -> list[bytes]:
    """The body in one piece."""
    return [body]


def bytewise(body: bytes) -> list[bytes]:
    """The body one byte at a time."""
    return [body[i : i + 1] for i in range(len(body))]


def split_at(body: bytes, cuts: list[int]) -> list[bytes]:
    """The body cut at the given offsets (clamped to the body, duplicates and 0 ignored)."""
    points = sorted({0, len(body), *(min(max(c, 0), len(body)) for c in cuts)})
    return [body[a:b] for a, b in itertools.pairwise(points)]


def random_split(body: bytes, seed: int, max_cuts: int = MAX_RANDOM_CUTS) -> list[bytes]:
    """The body cut at 1 to `max_cuts` random offsets (seeded: the same seed gives the same pieces)."""
    if len(body) < 2:
        return [body]
    rng = random.Random(seed)
    cuts = rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(1, max_cuts)))
    return split_at(body, cuts)


def random_sizes(body: bytes, low: int, high: int, seed: int) -> list[bytes]:
    """The body in consecutive pieces of `low` to `high` bytes each (seeded)."""
    rng = random.Random(seed)
    pieces: list[bytes] = []
    pos = 0
    while pos < len(body):
        step = rng.randint(low, high)
        pieces.append(body[pos : pos + step])
        pos += step
    return pieces


def per_event(body: bytes) -> list[bytes]:
    """One piece per SSE event, each with its blank line; whatever follows the last one is a piece."""
    pieces: list[bytes] = []
    start = 0
    for match in _EVENT_END.finditer(body):
        pieces.append(body[start : match.end()])
        start = match.end()
    if start < len(body):
        pieces.append(body[start:])
    return pieces


def eventstream_frames(body: bytes) -> list[bytes]:
    """The AWS event-stream messages of a body, split by their length preludes.

    Checks only the lengths (not the CRCs: that is the decoder's job); raises ValueError when a
    prelude points past the end, so a test notices a body that is not event-stream framed.
    """
    frames: list[bytes] = []
    pos = 0
    while pos < len(body):
        if len(body) - pos < _PRELUDE_BYTES:
            raise ValueError(f'{len(body) - pos} bytes left at offset {pos}: not a whole prelude')
        total, headers = _PRELUDE.unpack_from(body, pos)
        if total < _PRELUDE_BYTES + headers + _MESSAGE_CRC_BYTES or pos + total > len(body):
            raise ValueError(f'message at offset {pos} claims {total} bytes ({headers} of headers)')
        frames.append(body[pos : pos + total])
        pos += total
    return frames


def per_frame(body: bytes) -> list[bytes]:
    """One piece per AWS event-stream message."""
    return eventstream_frames(body)


def cut(body: bytes, chunking: str, *, seed: int = 0, framing: Framing = 'sse') -> list[bytes]:
    """The body cut the named way (one of `CHUNKINGS`); random ways are seeded by `seed`."""
    if chunking == 'whole':
        return whole(body)
    if chunking == 'per-event':
        return per_frame(body) if framing == 'eventstream' else per_event(body)
    if chunking == '1-16KiB':
        return random_sizes(body, 1, 16 * 1024, seed)
    if chunking == '1-64B':
        return random_sizes(body, 1, 64, seed)
    if chunking == 'random':
        return random_split(body, seed)
    if chunking == 'bytewise':
        return bytewise(body)
    raise ValueError(f'unknown chunking {chunking!r}; expected one of {CHUNKINGS}')


def all_chunkings(
    body: bytes,
    *,
    framing: Framing = 'sse',
    seeds: Sequence[int] = range(4),
    bytewise_limit: int = 1 << 16,
) -> Iterator[tuple[str, list[bytes]]]:
    """Every chunking of `body` as `(name, pieces)`; `random` once per seed (`random#0`, ...).

    Byte by byte is left out for bodies over `bytewise_limit` bytes, where it only costs time.
    """
    for chunking in CHUNKINGS:
        if chunking == 'random':
            for seed in seeds:
                yield f'random#{seed}', random_split(body, seed)
        elif chunking != 'bytewise' or len(body) <= bytewise_limit:
            yield chunking, cut(body, chunking, seed=seeds[0] if seeds else 0, framing=framing)


class Pieces(httpx.AsyncByteStream):
    """An httpx response body delivered in the given pieces, as a network would deliver them.

    `exhausted` says whether it was read to the end, `closed` whether httpx closed it.
    """

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.exhausted = False
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        self.exhausted = True

    async def aclose(self) -> None:
        self.closed = True
