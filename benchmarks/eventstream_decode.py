"""Benchmark: AWS event-stream decoding plus JSON of a 20,000-message Bedrock ConverseStream body.

Every contender turns the same pieces into the same (event type, parsed payload) pairs (checked
once before timing) and hands each to a sink that drops it. JSON is orjson except in the row for
botocore's `EventStream` as boto3 ships it (the standard `json` plus its shape parser).

A second table shows how decode time grows with the body when the body arrives whole: 10x the
messages should cost at most 11x the time. botocore's `EventStreamBuffer` re-slices its whole
remaining buffer after every message, so there it grows with the square of the body.

modelkit's decoder decodes each distinct headers section once and reuses it (Bedrock sends the
same three headers on every delta), which the floor does not; that is why it can beat the floor.
"""

from __future__ import annotations

import collections
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from ._harness import Result, Unavailable, print_table, time_round_robin
from ._stream import CHUNKINGS, DEFAULT_SEED, cut_body

__all__ = ('ConverseStream', 'build_converse_stream', 'floor_decode', 'run')

TARGET_RATIO = 1.3
"""modelkit's decoder plus orjson must stay within this factor of the floor (issue 11, item 9)."""
LINEAR_RATIO = 11.0
"""10x the messages, buffered whole, may cost at most this many times the time."""

Emit = Callable[[object], object]
Decode = Callable[[list[bytes], Emit], None]

_PRELUDE = struct.Struct('>III')
_TOKENS = (' the', ' of', ' stream', ' model', ' café', ' 東京', ' 😀', ' "quoted"', '\n', ' a\\b', ',', '.')
_PAD = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'


@dataclass(frozen=True, slots=True)
class ConverseStream:
    """One ConverseStream response body, its frames, and what a client must recover from it."""

    body: bytes
    frames: tuple[bytes, ...]
    """Each event-stream message, in order (their concatenation is `body`)."""
    events: tuple[tuple[str, object], ...]
    """(`:event-type`, parsed payload) per message, for checking decoders."""


def _frame(event_type: str, payload: bytes) -> bytes:
    """One message with Bedrock's three string headers, written here independently of modelkit."""
    headers = b''
    for name, value in (
        (':event-type', event_type),
        (':content-type', 'application/json'),
        (':message-type', 'event'),
    ):
        raw = value.encode()
        headers += bytes((len(name),)) + name.encode() + b'\x07' + len(raw).to_bytes(2) + raw
    prelude = struct.pack('>II', 16 + len(headers) + len(payload), len(headers))
    prelude += zlib.crc32(prelude).to_bytes(4)
    message = prelude + headers + payload
    return message + zlib.crc32(message).to_bytes(4)


def build_converse_stream(content_chunks: int, seed: int = DEFAULT_SEED) -> ConverseStream:
    """messageStart, `content_chunks` text deltas, contentBlockStop, messageStop and metadata, as Bedrock
    sends them (each payload carries Bedrock's random-length `p` padding)."""
    rng = random.Random(seed)

    def pad() -> str:
        return _PAD[: rng.randint(1, len(_PAD))]

    events: list[tuple[str, dict[str, object]]] = [('messageStart', {'p': pad(), 'role': 'assistant'})]
    for _ in range(content_chunks):
        delta = {'contentBlockIndex': 0, 'delta': {'text': rng.choice(_TOKENS)}, 'p': pad()}
        events.append(('contentBlockDelta', delta))
    events += [
        ('contentBlockStop', {'contentBlockIndex': 0, 'p': pad()}),
        ('messageStop', {'p': pad(), 'stopReason': 'end_turn'}),
        (
            'metadata',
            {
                'metrics': {'latencyMs': 522},
                'p': pad(),
                'usage': {
                    'inputTokens': 13,
                    'outputTokens': content_chunks,
                    'totalTokens': 13 + content_chunks,
                },
            },
        ),
    ]
    frames = tuple(_frame(kind, orjson.dumps(payload)) for kind, payload in events)
    return ConverseStream(b''.join(frames), frames, tuple(events))


def floor_decode(pieces: list[bytes], emit: Emit) -> None:
    """The least work any event-stream client must do: both CRCs, the headers, orjson the payload.

    Not a general decoder: string headers only, no bounds, no error detail. Pieces wait in a list
    until they hold the message they started (the prelude says how long it is), so input cut
    into tiny pieces stays linear.
    """
    loads = orjson.loads
    crc32 = zlib.crc32
    unpack = _PRELUDE.unpack_from
    parts: list[bytes] = []
    have = 0
    need = 12
    for piece in pieces:
        if parts:
            parts.append(piece)
            have += len(piece)
            if have < need:
                continue
            data = b''.join(parts)
            parts = []
        else:
            data = piece
        n = len(data)
        pos = 0
        need = 12
        while n - pos >= 12:
            total, headers_len, prelude_crc = unpack(data, pos)
            end = pos + total
            if end > n:
                need = total
                break
            if crc32(data[pos : pos + 8]) != prelude_crc or crc32(data[pos : end - 4]) != int.from_bytes(
                data[end - 4 : end]
            ):
                raise ValueError('checksum mismatch')
            headers = {}
            p = pos + 12
            headers_end = p + headers_len
            while p < headers_end:
                name_end = p + 1 + data[p]
                size = int.from_bytes(data[name_end + 1 : name_end + 3])
                headers[data[p + 1 : name_end].decode()] = data[name_end + 3 : name_end + 3 + size].decode()
                p = name_end + 3 + size
            emit((headers[':event-type'], loads(data[headers_end : end - 4])))
            pos = end
        if pos < n:
            parts = [data[pos:]]
            have = n - pos
    if parts:
        raise ValueError('stream ended inside a message')


def _modelkit() -> Decode:
    try:
        from modelkit.parsers.eventstream import EventStreamDecoder
    except ImportError as exc:
        raise Unavailable(f'not available yet ({exc})') from None

    def decode(pieces: list[bytes], emit: Emit) -> None:
        loads = orjson.loads
        decoder = EventStreamDecoder()
        feed = decoder.feed
        for piece in pieces:
            for message in feed(piece):
                emit((message.headers[':event-type'], loads(message.payload)))
        decoder.close()
        if decoder.truncated:
            raise ValueError('stream ended inside a message')

    return decode


def _botocore_buffer() -> Decode:
    try:
        from botocore.eventstream import EventStreamBuffer
    except ImportError:
        raise Unavailable('not installed') from None

    def decode(pieces: list[bytes], emit: Emit) -> None:
        loads = orjson.loads
        buffer = EventStreamBuffer()
        for piece in pieces:
            buffer.add_data(piece)
            for message in buffer:
                emit((message.headers[':event-type'], loads(message.payload)))

    return decode


def _botocore_event_stream() -> Decode:
    # What boto3's `converse_stream()['stream']` iterates: botocore's EventStream over the raw
    # body, its buffer, then its JSON event parser with the bedrock-runtime output shape.
    try:
        import botocore.session
        from botocore.eventstream import EventStream
        from botocore.parsers import EventStreamJSONParser
    except ImportError:
        raise Unavailable('not installed') from None
    model = botocore.session.get_session().get_service_model('bedrock-runtime')
    shape = model.operation_model('ConverseStream').output_shape.members['stream']

    class _Body:
        def __init__(self, pieces: list[bytes]) -> None:
            self._pieces = pieces

        def stream(self) -> object:
            return iter(self._pieces)

        def close(self) -> None:
            pass

    def decode(pieces: list[bytes], emit: Emit) -> None:
        for event in EventStream(_Body(pieces), shape, EventStreamJSONParser(), 'ConverseStream'):
            emit(event)

    return decode


_CONTENDERS: tuple[tuple[str, Callable[[], Decode], float | None], ...] = (
    ('modelkit EventStreamDecoder + orjson', _modelkit, TARGET_RATIO),
    ('botocore EventStreamBuffer + orjson', _botocore_buffer, None),
    ('botocore EventStream (as boto3 ships)', _botocore_event_stream, None),
)
_SLOW_WHOLE = 'botocore'
"""Contenders whose whole-body runs are quadratic: one run each, so the table stays quick."""


def _check(name: str, decode: Decode, pieces: list[bytes], stream: ConverseStream) -> str:
    got: list[object] = []
    try:
        decode(pieces, got.append)
    except Exception as exc:
        return f'error: {type(exc).__name__}: {exc}'[:160]
    if name.startswith('botocore EventStream ('):
        kinds = [next(iter(event)) for event in got]  # type: ignore[call-overload]
        ok = kinds == [kind for kind, _ in stream.events]
    else:
        ok = got == list(stream.events)
    return '' if ok else f'error: wrong output ({len(got)} events, expected {len(stream.events)})'


def _factories(peers: bool) -> list[tuple[str, Decode | None, str, float | None]]:
    factories: list[tuple[str, Decode | None, str, float | None]] = []
    for name, factory, target in _CONTENDERS:
        if not peers and target is None:
            continue
        try:
            factories.append((name, factory(), '', target))
        except Unavailable as exc:
            factories.append((name, None, str(exc), target))
    return factories


def run(
    content_chunks: int, repeats: int, chunkings: tuple[str, ...] = CHUNKINGS, *, peers: bool = True
) -> list[Result]:
    """Time every contender on every chunking, then the whole-body growth; print both tables."""
    stream = build_converse_stream(content_chunks)
    sink: Emit = collections.deque(maxlen=0).append
    units = len(stream.frames)
    factories = _factories(peers)
    results: list[Result] = []
    for chunking in chunkings:
        pieces = cut_body(stream.body, stream.frames, chunking)
        case: list[tuple[Result, Callable[[], object] | None]] = []
        floor = Result('eventstream', chunking, 'floor: CRCs + headers + orjson', units=units, is_floor=True)
        floor.status = _check(floor.contender, floor_decode, pieces, stream)
        case.append((floor, _bind(floor_decode, pieces, sink)))
        for name, decode, status, target in factories:
            result = Result('eventstream', chunking, name, units=units, target=target, status=status)
            if chunking == 'whole' and name.startswith(_SLOW_WHOLE):
                result.max_runs = 1
            if decode is not None and not result.status:
                result.status = _check(name, decode, pieces, stream)
            case.append((result, _bind(decode, pieces, sink) if decode is not None else None))
        time_round_robin(case, repeats)
        results.extend(r for r, _ in case)
    print_table(
        f'Event stream decode + JSON: {units:,} ConverseStream messages, {len(stream.body) / 1e6:.1f} MB, '
        f'median of {repeats} (target: modelkit <= {TARGET_RATIO}x floor in every chunking)',
        results,
        unit='message',
    )
    results += growth(content_chunks, repeats, factories)
    return results


def growth(
    content_chunks: int, repeats: int, factories: list[tuple[str, Decode | None, str, float | None]]
) -> list[Result]:
    """Whole-body decode time at a tenth of the messages and at all of them; print the ratio."""
    small = build_converse_stream(max(content_chunks // 10, 1))
    large = build_converse_stream(content_chunks)
    sink: Emit = collections.deque(maxlen=0).append
    rows: list[tuple[str, Result, Result]] = []
    contenders: list[tuple[str, Decode | None, str]] = [('floor: CRCs + headers + orjson', floor_decode, '')]
    contenders += [(name, decode, status) for name, decode, status, _ in factories]
    for name, decode, status in contenders:
        pair = []
        for size, stream in (('small', small), ('large', large)):
            result = Result('eventstream-growth', size, name, units=len(stream.frames), status=status)
            if name.startswith(_SLOW_WHOLE):
                result.max_runs = 1
            if decode is not None and not status:
                result.status = _check(name, decode, [stream.body], stream)
            pair.append((result, _bind(decode, [stream.body], sink) if decode is not None else None))
        time_round_robin(pair, repeats)
        rows.append((name, pair[0][0], pair[1][0]))
    print_growth(
        f'Event stream, body buffered whole: {len(small.frames):,} -> {len(large.frames):,} messages '
        f'(target: modelkit <= {LINEAR_RATIO:g}x the time for 10x the messages)',
        rows,
        is_target=lambda name: name.startswith('modelkit'),
    )
    return [r for _, a, b in rows for r in (a, b)]


def print_growth(
    title: str, rows: list[tuple[str, Result, Result]], *, is_target: Callable[[str], bool]
) -> None:
    """One line per contender: time at both sizes and their ratio, PASS/MISS on the target rows.

    Each size's fastest run is used: a ratio of two medians doubles the noise of a busy machine.
    """
    print()
    print(title)
    width = max(len(name) for name, _, _ in rows)
    print(f'{"contender".ljust(width)}  {"small ms":>9}  {"large ms":>9}  {"ratio":>6}  result')
    for name, small, large in rows:
        if not small.runs or not large.runs:
            status = small.status or large.status or 'not run'
            print(f'{name.ljust(width)}  {"-":>9}  {"-":>9}  {"-":>6}  {status}')
            continue
        fastest_small, fastest_large = min(small.runs), min(large.runs)
        ratio = fastest_large / fastest_small
        verdict = ('PASS' if ratio <= LINEAR_RATIO else 'MISS') if is_target(name) else ''
        times = f'{fastest_small * 1e3:9.1f}  {fastest_large * 1e3:9.1f}'
        print(f'{name.ljust(width)}  {times}  {ratio:6.1f}  {verdict}')
        if verdict:
            # So that `verdict` (the exit status) and `--json` carry the growth ratio.
            large.target = LINEAR_RATIO
            large.floor_median = fastest_small * (large.median or fastest_large) / fastest_large


def _bind(decode: Decode | None, pieces: list[bytes], sink: Emit) -> Callable[[], object]:
    assert decode is not None
    return lambda: decode(pieces, sink)
