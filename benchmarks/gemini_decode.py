"""Benchmark: decoding a 20,000-chunk Gemini stream, as SSE (`alt=sse`) and as the JSON array
Gemini sends without it, each against its floor; then how the time grows with the stream.

Both bodies carry the same GenerateContentResponse chunks in Google's own layouts: SSE events
`data: {...}\\r\\n\\r\\n` (compact JSON with `": "` after keys), and the array `[{...}\\n,\\r\\n{...}\\n]`
with each element pretty-printed (two-space indent). Every contender's parsed chunks are checked
once against the originals before timing. The growth table feeds each body whole and in random
1-64 byte pieces at a tenth of the chunks and at all of them: 10x the chunks should cost at most
11x the time (the page-era client re-parsed the whole body on every piece, which is quadratic).
"""

from __future__ import annotations

import collections
import json
import random
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from ._harness import Result, Unavailable, print_table, time_round_robin
from ._stream import CHUNKINGS, DEFAULT_SEED, cut_body
from .eventstream_decode import LINEAR_RATIO, print_growth
from .sse_decode import _modelkit as _modelkit_sse  # the same SSEDataDecoder + orjson loop
from .sse_decode import floor_decode as sse_floor

__all__ = ('GeminiStream', 'build_gemini_stream', 'floor_array', 'floor_sse', 'run')

TARGET_RATIO = 1.3
"""Each modelkit decoder plus orjson must stay within this factor of its floor (issue 9, item 10)."""

Emit = Callable[[object], object]
Decode = Callable[[list[bytes], Emit], None]

_TOKENS = (
    ' the',
    ' of',
    ' stream',
    ' model',
    ' café',
    ' 東京',
    ' 😀',
    ' "quoted"',
    '\n',
    ' a\\b',
    ' {x}',
    '.',
)


@dataclass(frozen=True, slots=True)
class GeminiStream:
    """One streamed answer as both bodies, their pieces one per chunk, and the chunks themselves."""

    sse: bytes
    sse_events: tuple[bytes, ...]
    array: bytes
    array_pieces: tuple[bytes, ...]
    """`[` + first element, then `\\n,\\r\\n` + each next element, then `\\n]`: one chunk per piece."""
    chunks: tuple[object, ...]


def build_gemini_stream(content_chunks: int, seed: int = DEFAULT_SEED) -> GeminiStream:
    """`content_chunks` text chunks with growing usage, the last with `finishReason`."""
    rng = random.Random(seed)
    response_id = ''.join(rng.choices('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', k=23))
    chunks: list[dict[str, object]] = []
    for i in range(1, content_chunks + 1):
        candidate: dict[str, object] = {
            'content': {'parts': [{'text': rng.choice(_TOKENS)}], 'role': 'model'},
            'index': 0,
        }
        if i == content_chunks:
            candidate['finishReason'] = 'STOP'
        chunks.append(
            {
                'candidates': [candidate],
                'usageMetadata': {
                    'promptTokenCount': 15,
                    'candidatesTokenCount': i,
                    'totalTokenCount': 15 + i,
                    'promptTokensDetails': [{'modality': 'TEXT', 'tokenCount': 15}],
                },
                'modelVersion': 'gemini-2.0-flash',
                'responseId': response_id,
            }
        )
    sse_events = tuple(
        b'data: ' + json.dumps(c, separators=(',', ': '), ensure_ascii=False).encode() + b'\r\n\r\n'
        for c in chunks
    )
    elements = [json.dumps(c, indent=2, ensure_ascii=False).encode() for c in chunks]
    pieces = [b'[' + elements[0], *(b'\n,\r\n' + e for e in elements[1:]), b'\n]']
    return GeminiStream(b''.join(sse_events), sse_events, b''.join(pieces), tuple(pieces), tuple(chunks))


def floor_sse(pieces: list[bytes], emit: Emit) -> None:
    """The least work for Gemini's SSE: split on `\\r\\n\\r\\n`, strip `data: `, orjson the rest."""
    sse_floor(pieces, emit, b'\r\n\r\n')


def floor_array(pieces: list[bytes], emit: Emit, *, listed: bool = False) -> None:
    """The least work for Gemini's JSON array: find each element's `\\n}` (Google's layout), orjson it.

    Not a general decoder: it relies on the layout (elements joined by `\\n,\\r\\n`) and checks
    nothing between elements. The search resumes where the last one stopped, so it is linear.
    With `listed`, each piece's elements are first collected in a list, as the parser contract
    returns them: a body that comes whole then keeps every parsed chunk alive at once.
    """
    loads = orjson.loads
    buf = bytearray()
    start = 1  # after the `[`
    search = 0
    for piece in pieces:
        buf += piece
        batch: list[object] = []
        out = batch.append if listed else emit
        while True:
            end = buf.find(b'\n}', search)
            if end < 0:
                search = max(len(buf) - 1, start)
                break
            out(loads(buf[start : end + 2]))
            start = search = end + 6  # past `}\n,\r\n`: the next element's `{`
        for element in batch:
            emit(element)
        if start > 65536 and start <= len(buf):
            del buf[:start]
            search -= start
            start = 0
    if not buf.endswith(b'\n]'):
        raise ValueError('stream ended inside the array')


def _floor_array_listed(pieces: list[bytes], emit: Emit) -> None:
    floor_array(pieces, emit, listed=True)


def _modelkit_array() -> Decode:
    try:
        from modelkit.parsers.jsonarray import JSONArrayDecoder
    except ImportError as exc:
        raise Unavailable(f'not available yet ({exc})') from None

    def decode(pieces: list[bytes], emit: Emit) -> None:
        decoder = JSONArrayDecoder()
        # As the kit's event loop reads it: each element parsed when taken, not a list per piece.
        feed = decoder.iter_feed
        for piece in pieces:
            for chunk in feed(piece):
                emit(chunk)
        decoder.close()
        if decoder.truncated:
            raise ValueError('stream ended inside the array')

    return decode


_FORMATS: tuple[tuple[str, str, Decode, str, Callable[[], Decode]], ...] = (
    ('sse', 'floor: split + orjson', floor_sse, 'modelkit SSEDataDecoder + orjson', _modelkit_sse),
    ('array', 'floor: find \\n} + orjson', floor_array, 'modelkit JSONArrayDecoder', _modelkit_array),
)


def _body(stream: GeminiStream, form: str) -> tuple[bytes, tuple[bytes, ...]]:
    return (stream.sse, stream.sse_events) if form == 'sse' else (stream.array, stream.array_pieces)


def _check(decode: Decode, pieces: list[bytes], stream: GeminiStream) -> str:
    got: list[object] = []
    try:
        decode(pieces, got.append)
    except Exception as exc:
        return f'error: {type(exc).__name__}: {exc}'[:160]
    if got != list(stream.chunks):
        return f'error: wrong output ({len(got)} chunks, expected {len(stream.chunks)})'
    return ''


def run(content_chunks: int, repeats: int, chunkings: tuple[str, ...] = CHUNKINGS) -> list[Result]:
    """Time both formats' floor and decoder on every chunking, then the growth; print the tables."""
    stream = build_gemini_stream(content_chunks)
    sink: Emit = collections.deque(maxlen=0).append
    units = len(stream.chunks)
    results: list[Result] = []
    for form, floor_name, floor, name, factory in _FORMATS:
        try:
            decode: Decode | None = factory()
            status = ''
        except Unavailable as exc:
            decode, status = None, str(exc)
        body, events = _body(stream, form)
        for chunking in chunkings:
            pieces = cut_body(body, events, chunking)
            case = f'{form} {chunking}'
            floor_result = Result('gemini', case, floor_name, units=units, is_floor=True)
            floor_result.status = _check(floor, pieces, stream)
            result = Result('gemini', case, name, units=units, target=TARGET_RATIO, status=status)
            if decode is not None:
                result.status = _check(decode, pieces, stream)
            case_runs: list[tuple[Result, Callable[[], object] | None]] = [
                (floor_result, _bind(floor, pieces, sink)),
                (result, _bind(decode, pieces, sink) if decode is not None else None),
            ]
            if form == 'array':
                listed = Result('gemini', case, 'floor, listed per piece (no target)', units=units)
                listed.status = _check(_floor_array_listed, pieces, stream)
                case_runs.append((listed, _bind(_floor_array_listed, pieces, sink)))
            time_round_robin(case_runs, repeats)
            results += [r for r, _ in case_runs]
    print_table(
        f'Gemini decode + JSON: {units:,} chunks, SSE {len(stream.sse) / 1e6:.1f} MB, JSON array '
        f'{len(stream.array) / 1e6:.1f} MB, median of {repeats} (target: modelkit <= {TARGET_RATIO}x floor)',
        results,
        unit='chunk',
    )
    results += growth(content_chunks, repeats)
    return results


def growth(content_chunks: int, repeats: int) -> list[Result]:
    """Decode time at a tenth of the chunks and at all of them, whole and in 1-64 B pieces."""
    small = build_gemini_stream(max(content_chunks // 10, 1))
    large = build_gemini_stream(content_chunks)
    sink: Emit = collections.deque(maxlen=0).append
    rows: list[tuple[str, Result, Result]] = []
    for form, floor_name, floor, name, factory in _FORMATS:
        try:
            decode: Decode | None = factory()
        except Unavailable:
            decode = None
        for chunking in ('whole', '1-64B'):
            for label, fn in ((floor_name, floor), (name, decode)):
                pair: list[tuple[Result, Callable[[], object] | None]] = []
                for size, stream in (('small', small), ('large', large)):
                    pieces = cut_body(*_body(stream, form), chunking)
                    result = Result(
                        'gemini-growth', f'{form} {chunking} {size}', label, units=len(stream.chunks)
                    )
                    result.status = _check(fn, pieces, stream) if fn is not None else 'not available yet'
                    pair.append((result, _bind(fn, pieces, sink) if fn is not None else None))
                time_round_robin(pair, repeats)
                rows.append((f'{form} {chunking:5}  {label}', pair[0][0], pair[1][0]))
    print_growth(
        f'Gemini decode growth: {len(small.chunks):,} -> {len(large.chunks):,} chunks '
        f'(target: modelkit <= {LINEAR_RATIO:g}x the time for 10x the chunks)',
        rows,
        is_target=lambda label: 'modelkit' in label,
    )
    return [r for _, a, b in rows for r in (a, b)]


def _bind(decode: Decode | None, pieces: list[bytes], sink: Emit) -> Callable[[], object]:
    assert decode is not None
    return lambda: decode(pieces, sink)
