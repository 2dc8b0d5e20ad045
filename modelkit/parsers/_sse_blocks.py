"""The SSE decoder's fast paths over complete blocks: checks and splits done in C.

Every block boundary these functions are given has been found by `SSEDecoder`; they read only
the usual shapes (`data: <payload>` blocks, or `event: <type>` then `data: <payload>`, LF or CRLF
line ends) and say -1 for anything else, which the decoder's line machine then reads by the rules.
They know nothing of the decoder's state beyond what they are passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain, filterfalse, repeat
from typing import Any

__all__ = ('append_events', 'block_end', 'canonical', 'long_line_end', 'pairs_of', 'utf8_checked')

_LF = b'\n'
_DATA_SP = b'data: '


def block_end(work: bytes, pos: int, limit: int) -> int:
    """A bound just past the first blank line in `work[pos:limit]` (with the line ends after it
    that may belong to it), or `limit` if there is none; `pos` starts a line."""
    if work[pos] == 10 or work[pos] == 13:
        return min(limit, pos + 2)  # the line before ended in an earlier chunk: this one is blank
    first = work.find(b'\n\n', pos, limit)
    if work.find(13, pos, limit) >= 0:
        # The other ways two line ends meet, where CR LF is one of them.
        for pair in (b'\n\r', b'\r\r'):
            at = work.find(pair, pos, limit if first < 0 else first)
            if at >= 0:
                first = at
    return limit if first < 0 else min(limit, first + 3)


def long_line_end(work: bytes, pos: int, region: int, most: int) -> int:
    """Where the line at `pos`, known to be longer than `region` bytes, ends: -1 if not in `work`,
    -2 if it is longer than `most`.

    The search windows double, so a long line costs time in proportion to its length however
    it arrives.
    """
    n = len(work)
    size = region
    while True:
        size *= 2
        limit = min(n, pos + size, pos + most + 1)
        lf = work.find(10, pos, limit)
        cr = work.find(13, pos, limit if lf < 0 else lf)
        if cr >= 0:
            return cr
        if lf >= 0:
            return lf
        if limit - pos > most:
            return -2
        if limit == n:
            return -1


def utf8_checked(joined: bytes, payloads: Iterable[bytes]) -> bool:
    """Whether the `payloads` (`joined` is all of them) are valid UTF-8, without building their text
    when they are ASCII."""
    if joined.isascii():
        return True
    try:
        # One by one and only the others: a region's one emoji would make decoding it whole write
        # four bytes per character of it.
        for payload in filterfalse(bytes.isascii, payloads):
            payload.decode()
    except UnicodeDecodeError:
        return False
    return True


def append_events(
    events: list[Any], kinds: Iterable[str], payloads: list[bytes], last_id: str | None
) -> None:
    """Append an event per payload (checked UTF-8): kept as they are, to be made into events as
    they are taken (`SSEDecoder._made`)."""
    events.append((kinds, payloads, last_id))


def pairs_of(found: list[Any]) -> Iterator[tuple[str, bytes | str]]:
    """The events `found` holds as `(type, data)` pairs, made as they are taken: a run of blocks
    by `zip` in C (which reuses its tuple when the caller lets go of it), a line machine's event
    from its fields."""
    if len(found) == 1 and found[0].__class__ is tuple:
        kinds, payloads, _ = found[0]
        return zip(kinds, payloads, strict=False)  # `kinds` may be endless: `payloads` ends the run
    return chain.from_iterable(
        zip(item[0], item[1], strict=False) if item.__class__ is tuple else ((item.event, item.data),)
        for item in found
    )


def _data_only(region: bytes, sep: bytes, stop: int, last_id: str | None, events: list[Any]) -> int:
    """`canonical` for a region starting `data: `, with `sep` its blank line and next `data: `."""
    payloads = region[6 : 6 - len(sep)].split(sep)
    if 10 in (joined := b''.join(payloads)) or 13 in joined:
        return -1  # some block is more than one `data: ` line
    # Each payload is valid UTF-8 if they all are: the splits were at ASCII bytes.
    if not utf8_checked(joined, payloads):
        return -1
    append_events(events, repeat('message'), payloads, last_id)
    return stop


def canonical(work: bytes, pos: int, limit: int, last_id: str | None, events: list[Any]) -> int:
    """Decode the blocks of `work` from `pos` (a block boundary) to the last blank line before
    `limit` when every one has a usual shape; return where they end, or -1 (nothing decoded).

    The shapes: all `data: <payload>` (OpenAI, Gemini) or all `event: <type>` then `data: <payload>`
    (Anthropic, Cohere), LF or CRLF line ends throughout. The checks are counts and splits in C;
    whatever fails them (comments, ids, several data lines, a CR alone, invalid UTF-8) goes to the
    line machine, which also says where a bad byte is.
    """
    last = work.rfind(10, pos, limit)
    if last <= pos:
        return -1
    if work[last - 1] == 13:
        # CRLF line ends (Gemini's `data: {...}\r\n\r\n`).
        end = work.rfind(b'\r\n\r\n', pos, last + 1)
        if end < 0:
            return -1
        stop = end + 4
        region = work[pos:stop]
        if region.startswith(_DATA_SP):
            return _data_only(region, b'\r\n\r\ndata: ', stop, last_id, events)
        crs = region.count(13)
        if region.count(10) != crs or region.count(b'\r\n') != crs:
            return -1  # a CR or an LF alone somewhere
        region = region.replace(b'\r\n', _LF)
    else:
        end = work.rfind(b'\n\n', pos, last + 1)
        if end < 0:
            return -1
        stop = end + 2
        region = work[pos:stop]
        if 13 in region:
            return -1
        if region.startswith(_DATA_SP):
            return _data_only(region, b'\n\ndata: ', stop, last_id, events)
    if not region.startswith(b'event: '):
        return -1
    lines = region.split(_LF)
    k = len(lines) // 3
    if len(lines) != 3 * k + 1 or any(lines[2::3]):
        return -1  # not two lines and a blank one per block
    # No line holds an LF, so each joint of the first lines that splits them is one that starts
    # `event: `, and likewise for the second lines and `data: `.
    data_lines = b'\n'.join(lines[1::3])
    if not data_lines.startswith(_DATA_SP):
        return -1
    try:
        kinds = b'\n'.join(lines[0 : 3 * k : 3]).decode().split('\nevent: ')
    except UnicodeDecodeError:
        return -1
    # The prefixes off the first parts only: slicing the joined lines would copy them all.
    kinds[0] = kinds[0][7:]
    payloads = data_lines.split(b'\ndata: ')
    payloads[0] = payloads[0][6:]
    if len(kinds) != k or len(payloads) != k or not utf8_checked(data_lines, payloads):
        return -1
    if '' in kinds:
        kinds = [kind or 'message' for kind in kinds]
    append_events(events, kinds, payloads, last_id)
    return stop
