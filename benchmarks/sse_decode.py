"""Benchmark 1: SSE decoding plus JSON parsing of a 20,000-chunk OpenAI stream, no HTTP involved.

Every contender turns the same pieces into the same parsed payloads (checked once before timing)
and hands each payload to a sink that drops it, as a streaming client hands it on and forgets it.
JSON is orjson for every contender so the ratios compare the SSE decoders; the `+ json` rows show
the peers as they ship (their `ServerSentEvent.json()` uses the standard library).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable

import orjson

from ._harness import Result, Unavailable, print_table, time_round_robin
from ._stream import CHUNKINGS, OpenAIStream, cut

__all__ = ('floor_decode', 'run')

TARGET_RATIO = 1.5
"""modelkit's SSE decoder plus orjson must stay within this factor of the floor (issue 2)."""

Emit = Callable[[object], object]
Decode = Callable[[list[bytes], Emit], None]

_DONE_BYTES = b'[DONE]'
_DONE = '[DONE]'


def floor_decode(pieces: list[bytes], emit: Emit, separator: bytes = b'\n\n', *, named: bool = False) -> None:
    """The least work any SSE client must do: split on blank lines, strip `data: `, parse the JSON.

    `separator` is the blank line as the vendor writes it (Gemini: `\r\n\r\n`). With `named`,
    every event is `event: NAME` then `data: JSON` (Anthropic's framing) and `(name, parsed data)`
    is emitted: a named-event stream's result is both.

    Not a general SSE parser (no comments, `event:`/`id:` fields, multi-line data or CR line ends):
    exactly what OpenAI's framing needs, as cheaply as Python allows. Pieces wait in a list until
    one carries a newline, since only then can an event end, so input cut into tiny pieces stays
    linear instead of re-joining a growing buffer on every piece.
    """
    loads = orjson.loads
    pending: list[bytes] = []
    for piece in pieces:
        if pending:
            pending.append(piece)
            if b'\n' not in piece:
                continue
            piece = b''.join(pending)
            pending.clear()
        events = piece.split(separator)
        rest = events.pop()
        if rest:
            pending.append(rest)
        if named:
            for event in events:
                end = event.find(b'\n')
                emit((event[7:end].decode(), loads(event[end + 7 :])))
            continue
        for event in events:
            if event.startswith(b'data: '):
                payload = event[6:]
                if payload != _DONE_BYTES:
                    emit(loads(payload))
    if pending and b''.join(pending).strip():
        raise ValueError('stream ended inside an event')


def _modelkit() -> Decode:
    try:
        from modelkit.parsers.sse import SSEDataDecoder
    except ImportError as exc:
        raise Unavailable(f'not available yet ({exc})') from None

    def decode(pieces: list[bytes], emit: Emit) -> None:
        # As the vendor interfaces consume events: `(type, data)` pairs through `iter_feed`, as the
        # kit's event loop takes them, with the payload's bytes where the decoder kept them.
        loads = orjson.loads
        decoder = SSEDataDecoder()
        feed = decoder.iter_feed
        for piece in pieces:
            for _, data in feed(piece):
                if data != _DONE_BYTES and data != _DONE:
                    emit(loads(data))
        for _, data in decoder.close():
            if data != _DONE_BYTES and data != _DONE:
                emit(loads(data))

    return decode


def _httpx_sse(loads: Callable[[str], object]) -> Decode:
    # httpx-sse decodes in three stages, as `EventSource.aiter_sse` drives them: httpx's
    # incremental UTF-8 text decoder (`Response.aiter_text`), its SSE line splitter, then its
    # field decoder; we call those same classes without the HTTP response around them.
    try:
        from httpx._decoders import TextDecoder
        from httpx_sse._decoders import SSEDecoder, SSELineDecoder
    except ImportError:
        raise Unavailable('not installed') from None

    def decode(pieces: list[bytes], emit: Emit) -> None:
        text_decoder = TextDecoder('utf-8')
        lines = SSELineDecoder()
        events = SSEDecoder()

        def handle(line: str) -> None:
            sse = events.decode(line.rstrip('\n'))
            if sse is not None and sse.data != _DONE:
                emit(loads(sse.data))

        for piece in pieces:
            text = text_decoder.decode(piece)
            if text:
                for line in lines.decode(text):
                    handle(line)
        text = text_decoder.flush()
        if text:
            for line in lines.decode(text):
                handle(line)
        for line in lines.flush():
            handle(line)

    return decode


def _openai_sdk(loads: Callable[[str], object]) -> Decode:
    # The SDK's `AsyncStream` runs `SSEDecoder().aiter_bytes(response.aiter_bytes())`; the sync
    # `iter_bytes` is the same decoder, minus the awaits, on an iterator of byte pieces.
    try:
        from openai._streaming import SSEDecoder
    except ImportError:
        raise Unavailable('not installed') from None

    def decode(pieces: list[bytes], emit: Emit) -> None:
        for sse in SSEDecoder().iter_bytes(iter(pieces)):
            data = sse.data
            if not data.startswith(_DONE):
                emit(loads(data))

    return decode


_CONTENDERS: tuple[tuple[str, Callable[[], Decode], float | None], ...] = (
    ('modelkit SSEDataDecoder + orjson', _modelkit, TARGET_RATIO),
    ('httpx-sse decoder + orjson', lambda: _httpx_sse(orjson.loads), None),
    ('openai SDK SSEDecoder + orjson', lambda: _openai_sdk(orjson.loads), None),
    ('httpx-sse + json (as shipped)', lambda: _httpx_sse(json.loads), None),
    ('openai SDK + json (as shipped)', lambda: _openai_sdk(json.loads), None),
)


def _check(name: str, decode: Decode, pieces: list[bytes], stream: OpenAIStream) -> str:
    got: list[object] = []
    try:
        decode(pieces, got.append)
    except Exception as exc:
        return f'error: {type(exc).__name__}: {exc}'[:160]
    if got != list(stream.payloads):
        return f'error: wrong output ({len(got)} payloads, expected {len(stream.payloads)})'
    return ''


def run(
    stream: OpenAIStream, repeats: int, chunkings: tuple[str, ...] = CHUNKINGS, *, peers: bool = True
) -> list[Result]:
    """Time every contender (without `peers`, the floor and modelkit) on every chunking; print the table."""
    # A sink that drops each payload at C speed: what stays measured is decoding and parsing.
    sink: Emit = collections.deque(maxlen=0).append
    units = len(stream.events)
    factories: list[tuple[str, Decode | None, str, float | None]] = []
    for name, factory, target in _CONTENDERS:
        if not peers and target is None:
            continue
        try:
            factories.append((name, factory(), '', target))
        except Unavailable as exc:
            factories.append((name, None, str(exc), target))

    results: list[Result] = []
    for chunking in chunkings:
        pieces = cut(stream, chunking)
        case: list[tuple[Result, Callable[[], object] | None]] = []
        floor = Result('sse', chunking, 'floor: split + orjson', units=units, is_floor=True)
        floor.status = _check(floor.contender, floor_decode, pieces, stream)
        case.append((floor, _bind(floor_decode, pieces, sink)))
        for name, decode, status, target in factories:
            result = Result('sse', chunking, name, units=units, target=target, status=status)
            if decode is not None:
                result.status = _check(name, decode, pieces, stream)
            case.append((result, _bind(decode, pieces, sink) if decode is not None else None))
        time_round_robin(case, repeats)
        results.extend(r for r, _ in case)
    print_table(
        f'1. SSE decode + JSON: {units:,} events, {len(stream.body) / 1e6:.1f} MB, '
        f'median of {repeats} (target: modelkit <= {TARGET_RATIO}x floor in every chunking)',
        results,
    )
    return results


def _bind(decode: Decode, pieces: list[bytes], sink: Emit) -> Callable[[], object]:
    return lambda: decode(pieces, sink)
