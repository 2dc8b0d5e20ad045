"""Properties of the SSE decoder: chunking never matters, a from-the-spec reference agrees, and any
bytes either parse or raise `StreamProtocolError`."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from modelkit.exceptions import StreamProtocolError
from modelkit.parsers.sse import MAX_RETRY_DIGITS, SSEDecoder
from tests.helpers.streams import bytewise, per_event, split_at

BOM = b'\xef\xbb\xbf'

Event = tuple[str, str, str | None, int | None]
"""(event, data, id, retry), comparable without the dataclass."""


@dataclass(frozen=True)
class Outcome:
    """Everything observable about decoding one stream."""

    events: tuple[Event, ...]
    error_at: int | None = None
    """Byte offset named by the `StreamProtocolError`, if one was raised (nothing else is then kept)."""
    truncated: bool = False
    last_event_id: str | None = None
    retry: int | None = None


def run(chunks: list[bytes]) -> Outcome:
    decoder = SSEDecoder()
    events: list[Event] = []
    try:
        for chunk in chunks:
            events += [(e.event, e.data, e.id, e.retry) for e in decoder.feed(chunk)]
        decoder.close()
    except StreamProtocolError as exc:
        found = re.search(r'at byte (\d+)$', str(exc))
        return Outcome(tuple(events), error_at=int(found.group(1)) if found else -1)
    return Outcome(tuple(events), None, decoder.truncated, decoder.last_event_id, decoder.retry)


def reference(body: bytes) -> Outcome:
    """WHATWG "event stream interpretation", transcribed step by step on decoded text.

    Our documented departures are applied the same way: invalid UTF-8 is an error (at the first
    bad byte of the complete lines), an empty last event ID is None, a retry with too many
    significant digits is ignored, and an unterminated last line is dropped unread.
    """
    last_end = max(body.rfind(b'\n'), body.rfind(b'\r'))
    complete, rest = body[: last_end + 1], body[last_end + 1 :]
    error_at = None
    try:
        text = complete.decode('utf-8')
    except UnicodeDecodeError as exc:
        # Lines before the one holding the bad byte are still interpreted.
        error_at = exc.start
        valid = complete[: exc.start].decode('utf-8')
        text = valid[: max(valid.rfind('\n'), valid.rfind('\r')) + 1]
    if text.startswith('\ufeff'):
        text = text[1:]
    lines = re.split(r'\r\n|\r|\n', text)[:-1]

    events: list[Event] = []
    data_buffer = ''
    event_type = ''
    last_event_id_buffer = ''
    last_event_id = ''
    block_retry: int | None = None
    retry: int | None = None
    for line in lines:
        if line == '':
            last_event_id = last_event_id_buffer
            if data_buffer == '':
                event_type = ''
                block_retry = None
                continue
            if data_buffer.endswith('\n'):
                data_buffer = data_buffer[:-1]
            events.append((event_type or 'message', data_buffer, last_event_id or None, block_retry))
            data_buffer = ''
            event_type = ''
            block_retry = None
            continue
        if line.startswith(':'):
            continue
        if ':' in line:
            name, value = line.split(':', 1)
            if value.startswith(' '):
                value = value[1:]
        else:
            name, value = line, ''
        if name == 'event':
            event_type = value
        elif name == 'data':
            data_buffer += value + '\n'
        elif name == 'id':
            if '\x00' not in value:
                last_event_id_buffer = value
        elif (
            name == 'retry'
            and value
            and all(c in '0123456789' for c in value)
            and len(value.lstrip('0')) <= MAX_RETRY_DIGITS
        ):
            block_retry = retry = int(value)
    if error_at is not None:
        return Outcome(tuple(events), error_at=error_at)
    if not complete and rest.startswith(BOM):
        rest = rest[3:]
    truncated = data_buffer != '' or rest.partition(b':')[0] == b'data'
    return Outcome(tuple(events), None, truncated, last_event_id or None, retry)


# Arbitrary streams built line by line from the pieces the rules care about, sometimes with a bad byte.

_NAMES = ['data', 'data', 'event', 'id', 'retry', '', 'dat', 'foo', 'DATA', '\ufeffdata']
_SEPARATORS = [':', ': ', ':  ', '']
_VALUE_TOKENS = ['x', 'é', '東', '😀', '\x00', '0', '7', '42', '\ufeff', '\t', ' ', ':', '{"a": 1}']
_LINE_ENDS = ['\n', '\n', '\r', '\r\n', '\n\n', '\r\n\r\n', '\r\r', '']
_BAD = [b'\xff', b'\xc3', b'\xe6\x97', b'\xed\xa0\x80', b'\xf0\x9f\x98', b'\x80']

_lines = st.tuples(
    st.sampled_from(_NAMES),
    st.sampled_from(_SEPARATORS),
    st.lists(st.sampled_from(_VALUE_TOKENS), max_size=4).map(''.join),
    st.sampled_from(_LINE_ENDS),
).map(''.join)


@st.composite
def token_streams(draw: st.DrawFn) -> bytes:
    body = ''.join(draw(st.lists(_lines, max_size=15))).encode()
    if draw(st.booleans()):
        body = BOM + body
    bad = draw(st.none() | st.tuples(st.integers(0, len(body)), st.sampled_from(_BAD)))
    if bad is not None:
        at, junk = bad
        body = body[:at] + junk + body[at:]
    return body


# Well-formed streams: events first, then serialised with every liberty the format allows.

_values = st.text(st.characters(exclude_categories=('Cs',), exclude_characters='\r\n'), max_size=12)


@dataclass
class Generated:
    event: str
    data: list[str]
    id: str | None
    retry: int | None


_generated = st.builds(
    Generated,
    event=st.sampled_from(['', 'message', 'add', 'content_block_delta', ' spaced', 'é']),
    data=st.lists(_values, min_size=1, max_size=3),
    id=st.none() | _values.filter(lambda v: '\x00' not in v),
    retry=st.none() | st.integers(0, 10**12),
)


@st.composite
def well_formed(draw: st.DrawFn) -> tuple[bytes, list[Event]]:
    def field(name: str, value: str) -> str:
        if value == '' and draw(st.booleans()):
            return name  # no colon at all: the value is empty
        space = value.startswith(' ') or draw(st.booleans())
        return f'{name}:{" " if space else ""}{value}'

    noise = st.sampled_from([':', ': comment', ':data: not data', 'foo: bar', 'Data: x', 'retry: soon'])
    lines: list[str] = []
    expected: list[Event] = []
    last_id: str | None = None
    for generated in draw(st.lists(_generated, max_size=6)):
        block = [field('data', value) for value in generated.data]
        extras = []
        if generated.event or draw(st.booleans()):
            extras.append(field('event', generated.event))
        if generated.id is not None:
            extras.append(field('id', generated.id))
            last_id = generated.id or None
        if generated.retry is not None:
            extras.append(f'retry:{generated.retry}')
        extras += draw(st.lists(noise, max_size=2))
        for extra in extras:
            block.insert(draw(st.integers(0, len(block))), extra)
        lines += block
        lines.append('')
        lines += [''] * draw(st.integers(0, 1))  # an extra blank line dispatches nothing
        expected.append((generated.event or 'message', '\n'.join(generated.data), last_id, generated.retry))

    # Mostly one line end throughout, as real servers do, sometimes a mix.
    style = draw(st.sampled_from(['\n', '\r\n', '\r', 'mixed']))
    body = ''
    previous_eol = ''
    for line in lines:
        choices = ['\n', '\r\n', '\r'] if style == 'mixed' else [style]
        if line == '' and previous_eol == '\r' and '\n' in choices:
            choices.remove('\n')  # else CR + LF would read as one line end
        previous_eol = draw(st.sampled_from(choices))
        body += line + previous_eol
    raw = body.encode()
    return (BOM + raw if draw(st.booleans()) else raw), expected


@settings(max_examples=150, deadline=None)
@given(stream=well_formed(), cuts=st.lists(st.integers(0, 4000), max_size=12))
def test_well_formed_streams_decode_to_their_events_however_cut(
    stream: tuple[bytes, list[Event]], cuts: list[int]
) -> None:
    body, expected = stream
    whole = run([body])
    assert whole.events == tuple(expected)
    assert whole.error_at is None
    assert not whole.truncated
    assert run(split_at(body, cuts)) == whole
    assert run(bytewise(body)) == whole
    assert run(per_event(body)) == whole


@settings(max_examples=400, deadline=None)
@given(body=token_streams(), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_agrees_with_the_reference(body: bytes, cuts: list[int]) -> None:
    expected = reference(body)
    assert run([body]) == expected
    assert run(split_at(body, cuts)) == expected
    assert run(bytewise(body)) == expected


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=8))
def test_any_bytes_parse_or_raise_our_error(body: bytes, cuts: list[int]) -> None:
    # `run` lets any exception but StreamProtocolError escape, which fails the test.
    outcome = run([body])
    assert run(split_at(body, cuts)) == outcome
    assert outcome == reference(body)


# The usual layouts, which the decoder splits in C (whole regions, one event per chunk, a remembered
# prefix): `data: <payload>` blocks or `event: <type>` + `data: <payload>` blocks, LF or CRLF ended,
# sometimes spoiled by one thing the shortcuts must notice and leave to the line machine.

_payloads = st.lists(
    st.sampled_from(['a', '{', '"', ':', ' ', 'é', '東', '😀', 'data: ', 'event: ', '\u2028']), max_size=8
).map(''.join)
_SPOILERS = [
    b': comment\n',
    b'id: 7\n',
    b'retry: 5\n',
    b'data: second line\n',
    b'event: again\n',
    b'\n',
    b'\r',
    b'\r\n',
    b'event:tight\n',
    b'data:tight\n',
    b'\xff',
    b'\xe6\x97',
]


@st.composite
def usual_streams(draw: st.DrawFn) -> bytes:
    named = draw(st.booleans())
    eol = draw(st.sampled_from([b'\n', b'\r\n']))
    blocks = []
    for payload in draw(st.lists(_payloads, max_size=8)):
        block = b''
        if named or draw(st.integers(0, 9)) == 0:
            kind = draw(st.sampled_from(['content_block_delta', 'ping', '', 'é', 'message_stop']))
            block += b'event: ' + kind.encode() + eol
        blocks.append(block + b'data: ' + payload.encode() + eol + eol)
    body = b''.join(blocks)
    if draw(st.booleans()) and body:
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from(_SPOILERS)) + body[at:]
    return body


@settings(max_examples=400, deadline=None)
@given(body=usual_streams(), cuts=st.lists(st.integers(0, 600), max_size=10))
def test_usual_layouts_agree_with_the_reference_however_cut(body: bytes, cuts: list[int]) -> None:
    # Cut anywhere: inside CRLF, inside `event: ` or `data: `, inside a multi-byte character.
    expected = reference(body)
    assert run([body]) == expected
    assert run(split_at(body, cuts)) == expected
    assert run(per_event(body)) == expected
    assert run(bytewise(body)) == expected


@settings(max_examples=200, deadline=None)
@given(body=usual_streams(), cut=st.integers(0, 600))
def test_usual_layouts_cut_once_anywhere(body: bytes, cut: int) -> None:
    # Two pieces: one ends and the next starts wherever the cut falls (a blank line split in two).
    assert run(split_at(body, [cut])) == reference(body)
    assert run([body[:cut], b'', body[cut:]]) == reference(body)


def test_usual_layout_over_many_regions() -> None:
    # Far more than one region (_REGION_BYTES) of events: region boundaries fall inside events.
    blocks = []
    for i in range(6000):
        text = ['é', '東京', '😀', ' the', '{"a": "b"}'][i % 5] * (i % 7)
        blocks.append(b'event: content_block_delta\ndata: ' + text.encode() + b'\n\n')
        if i % 1000 == 999:
            blocks.append(b': keep-alive\n\n')
    body = b''.join(blocks)
    expected = reference(body)
    assert len(expected.events) == 6000
    for chunks in ([body], per_event(body), split_at(body, list(range(0, len(body), 8191)))):
        assert run(chunks) == expected
    crlf = body.replace(b'\n', b'\r\n')
    assert run([crlf]) == reference(crlf) == expected
    assert run(split_at(crlf, list(range(0, len(crlf), 4097)))) == expected


# `iter_feed()`, as the kit's event loop takes events: the same outcome, even from a caller that
# stops taking them partway (the rest come first from the next call).


def run_lazily(chunks: list[bytes], takes: list[int]) -> Outcome:
    decoder = SSEDecoder()
    events: list[Event] = []
    try:
        for i, chunk in enumerate(chunks):
            found = decoder.iter_feed(chunk)
            if not isinstance(found, list) and takes:
                found = itertools.islice(found, takes[i % len(takes)])  # a generator: stop early
            events += [(e.event, e.data, e.id, e.retry) for e in found]
        events += [(e.event, e.data, e.id, e.retry) for e in decoder.close()]
        decoder.close()
    except StreamProtocolError as exc:
        found_at = re.search(r'at byte (\d+)$', str(exc))
        return Outcome(tuple(events), error_at=int(found_at.group(1)) if found_at else -1)
    return Outcome(tuple(events), None, decoder.truncated, decoder.last_event_id, decoder.retry)


@settings(max_examples=300, deadline=None)
@given(
    body=usual_streams() | token_streams(),
    cuts=st.lists(st.integers(0, 600), max_size=6),
    takes=st.lists(st.integers(0, 3), max_size=4),
)
def test_iter_feed_loses_nothing_however_taken(body: bytes, cuts: list[int], takes: list[int]) -> None:
    expected = run([body])
    assert run_lazily([body], takes) == expected
    assert run_lazily(split_at(body, cuts), takes) == expected
    assert run_lazily([*split_at(body, cuts), b''], takes) == expected


def test_iter_feed_of_many_events_makes_them_as_taken() -> None:
    body = b''.join(b'event: delta\ndata: {"i": %d}\n\n' % i for i in range(1000))
    decoder = SSEDecoder()
    found = decoder.iter_feed(body)
    assert not isinstance(found, list)
    first = list(itertools.islice(found, 10))
    assert [e.data for e in first] == [f'{{"i": {i}}}' for i in range(10)]
    rest = decoder.feed(b'data: last\n\n')
    assert [e.data for e in rest] == [f'{{"i": {i}}}' for i in range(10, 1000)] + ['last']
    assert decoder.close() == []
