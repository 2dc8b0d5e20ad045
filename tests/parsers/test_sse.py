"""The SSE decoder against the WHATWG event-stream rules, one rule (or spec example) per test."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from modelkit.exceptions import StreamProtocolError, UserError
from modelkit.parsers import Parser
from modelkit.parsers.sse import MAX_EVENT_BYTES, MAX_RETRY_DIGITS, SSEDecoder, SSEEvent
from tests.helpers.cassettes import load_interactions, recording_paths
from tests.helpers.streams import bytewise

BOM = b'\xef\xbb\xbf'


def decode(chunks: Iterable[bytes]) -> tuple[list[SSEEvent], SSEDecoder]:
    """Feed every chunk, close, and return all events plus the decoder (for `truncated` etc.)."""
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    events += decoder.close()
    return events, decoder


def all_ways(body: bytes) -> list[SSEEvent]:
    """Decode `body` whole, byte at a time and cut at every position; all must agree."""
    whole, _ = decode([body])
    assert decode(bytewise(body))[0] == whole
    for cut in range(1, len(body)):
        assert decode([body[:cut], body[cut:]])[0] == whole, f'cut at {cut}'
    return whole


def message(
    data: str, *, event: str = 'message', id: str | None = None, retry: int | None = None
) -> SSEEvent:
    return SSEEvent(event=event, data=data, id=id, retry=retry)


def test_decoder_is_a_parser() -> None:
    parser: Parser[SSEEvent] = SSEDecoder()
    assert parser.feed(b'data: x\n\n') == [message('x')]


def test_event_defaults() -> None:
    assert SSEEvent(data='x') == SSEEvent('message', 'x', None, None)


# The examples of WHATWG HTML section 9.2.6, "Interpreting an event stream".


def test_spec_example_three_data_lines_make_one_event() -> None:
    body = b'data: YHOO\ndata: +2\ndata: 10\n\n'
    assert all_ways(body) == [message('YHOO\n+2\n10')]


def test_spec_example_comment_ids_and_one_stripped_space() -> None:
    body = b': test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n'
    assert all_ways(body) == [
        message('first event', id='1'),
        message('second event', id=None),  # an empty `id` clears the last event ID
        message(' third event'),
    ]


def test_spec_example_last_block_needs_its_blank_line() -> None:
    body = b': test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n'
    events, decoder = decode([body])
    assert events == [message('first event', id='1'), message('second event')]
    assert decoder.truncated


def test_spec_example_empty_data_fields() -> None:
    body = b'data\n\ndata\ndata\n\ndata:'
    events, decoder = decode([body])
    assert events == [message(''), message('\n')]
    assert decoder.truncated  # the last `data:` has no blank line after it
    assert all_ways(body) == events


def test_spec_example_space_after_colon_is_optional() -> None:
    assert all_ways(b'data:test\n\ndata: test\n\n') == [message('test'), message('test')]


def test_spec_example_event_types() -> None:
    body = b'event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n'
    assert all_ways(body) == [
        message('73857293', event='add'),
        message('2153', event='remove'),
        message('113411', event='add'),
    ]


# Line ends.


@pytest.mark.parametrize('eol', [b'\n', b'\r\n', b'\r'], ids=['LF', 'CRLF', 'CR'])
def test_every_line_end(eol: bytes) -> None:
    body = eol.join([b'event: e', b'data: a', b'data: b', b'', b'data: c', b'', b''])
    assert all_ways(body) == [message('a\nb', event='e'), message('c')]


def test_mixed_line_ends() -> None:
    body = b'data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\r'
    assert all_ways(body) == [message('a\nb\nc'), message('d')]


def test_cr_ending_a_chunk_and_lf_starting_the_next_are_one_line_end() -> None:
    # Read as two line ends, the LF would be a blank line and dispatch `a` alone.
    events, _ = decode([b'data: a\r', b'\ndata: b\r', b'\n\r', b'\n'])
    assert events == [message('a\nb')]


def test_cr_at_chunk_end_dispatches_at_once() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: a\r\r') == [message('a')]
    assert decoder.feed(b'\ndata: b\n\n') == [message('b')]  # that LF only ended the CR's line


def test_lf_after_cr_is_skipped_only_once() -> None:
    events, _ = decode([b'data: a\r', b'\n', b'\n'])
    assert events == [message('a')]


def test_gemini_style_crlf_body() -> None:
    body = b''.join(b'data: {"n": %d}\r\n\r\n' % i for i in range(50))
    assert all_ways(body) == [message(f'{{"n": {i}}}') for i in range(50)]


# Byte order mark.


def test_leading_bom_is_skipped() -> None:
    assert all_ways(BOM + b'data: a\n\n') == [message('a')]


def test_bom_split_across_chunks() -> None:
    assert decode([b'\xef', b'\xbb', b'\xbf', b'data: a\n\n'])[0] == [message('a')]
    assert decode([b'\xef\xbb', b'\xbfdata: a\n\n'])[0] == [message('a')]


def test_only_one_bom_is_skipped() -> None:
    # The second BOM is part of the first field name, which is then unknown.
    assert all_ways(BOM + BOM + b'data: a\n\ndata: b\n\n') == [message('b')]


def test_bom_after_the_start_is_data() -> None:
    assert all_ways(b'data: a\n\n' + b'data: ' + BOM + b'b\n\n') == [message('a'), message('\ufeffb')]


def test_bom_prefix_that_is_not_a_bom() -> None:
    with pytest.raises(StreamProtocolError, match='at byte 0'):
        decode([b'\xef\xbb', b'\n'])


def test_lone_bom_and_close() -> None:
    events, decoder = decode([BOM])
    assert events == []
    assert not decoder.truncated


def test_bom_then_unterminated_data_is_truncated() -> None:
    _, decoder = decode([BOM + b'data: x'])
    assert decoder.truncated


# Fields.


def test_comments_are_ignored() -> None:
    assert all_ways(b': hi\ndata: a\n:\n: data: b\n\n') == [message('a')]


def test_comment_only_blocks_dispatch_nothing() -> None:
    assert all_ways(b': keep-alive\n\n: ping\n\n') == []


def test_field_without_colon_has_empty_value() -> None:
    assert all_ways(b'data\n\n') == [message('')]
    assert all_ways(b'event\ndata: x\n\n') == [message('x')]


def test_only_one_leading_space_is_stripped() -> None:
    assert all_ways(b'data:   a \n\n') == [message('  a ')]
    assert all_ways(b'data:\ta\n\n') == [message('\ta')]


def test_value_may_contain_colons() -> None:
    assert all_ways(b'data: a: b:c\n\n') == [message('a: b:c')]


def test_unknown_fields_are_ignored() -> None:
    body = b'foo: bar\ndata: a\nDATA: b\ndata : c\nEvent: x\n\n'
    assert all_ways(body) == [message('a')]


def test_block_without_data_dispatches_nothing_and_resets_the_event_type() -> None:
    assert all_ways(b'event: lost\n\ndata: a\n\n') == [message('a')]


def test_event_type_resets_after_each_dispatch() -> None:
    assert all_ways(b'event: first\ndata: a\n\ndata: b\n\n') == [message('a', event='first'), message('b')]


def test_empty_event_field_means_message() -> None:
    assert all_ways(b'event:\ndata: a\n\n') == [message('a')]


def test_last_event_type_wins() -> None:
    assert all_ways(b'event: a\nevent: b\ndata: x\n\n') == [message('x', event='b')]


def test_data_is_utf8() -> None:
    assert all_ways('data: café 東京 😀\n\n'.encode()) == [message('café 東京 😀')]


# The payload's bytes (`raw`), which the vendor interfaces parse instead of `data`.

USUAL_SHAPES = (
    b'data: {"a": 1}\n\ndata: caf\xc3\xa9\n\n',
    b'data: {"a": 1}\r\n\r\ndata: \xf0\x9f\x98\x80\r\n\r\n',
    b'event: delta\ndata: {"a": 1}\n\nevent: delta\ndata: \xe6\x9d\xb1\n\n',
)


@pytest.mark.parametrize('body', USUAL_SHAPES)
@pytest.mark.parametrize('how', ['whole', 'per-event', 'bytewise', 'twice'])
def test_usual_shapes_keep_the_payload_bytes(body: bytes, how: str) -> None:
    sep = b'\r\n\r\n' if b'\r' in body else b'\n\n'
    first, second = (part + sep for part in body.split(sep)[:2])
    chunks = {
        'whole': [body],
        'per-event': [first, second],
        'bytewise': bytewise(body),
        'twice': [body, body],
    }[how]
    events, _ = decode(chunks)
    assert events
    for event in events:
        assert event.raw is not None
        assert event.raw == event.data.encode()
        assert event.raw in body
    assert events == decode(bytewise(body * (2 if how == 'twice' else 1)))[0]


def test_other_shapes_leave_raw_unset() -> None:
    events, _ = decode([b'data: a\ndata: b\n\n: comment\ndata: c\n\n'])
    assert events == [message('a\nb'), message('c')]
    assert events[0].raw is None


def test_raw_is_not_part_of_the_event_s_value() -> None:
    (decoded,), _ = decode([b'data: x\n\n'])
    made = SSEEvent(data='x')
    assert made.raw is None
    assert decoded.raw == b'x'
    assert decoded == made
    assert repr(decoded) == repr(made) == "SSEEvent(event='message', data='x', id=None, retry=None)"
    assert dataclasses.replace(decoded, data='y').raw is None
    decoded.data = 'z'
    assert decoded.raw is None  # the bytes are no longer the data's
    assert decoded == SSEEvent(data='z')
    with pytest.raises(AttributeError, match='no attribute'):
        decoded.nothing  # type: ignore[attr-defined]  # noqa: B018


def test_data_read_from_raw_is_text() -> None:
    (event,), _ = decode([b'data: {"a": 1}\n\n'])
    assert type(event.data) is str
    assert event.data == '{"a": 1}'
    assert event.data is event.data  # made once


# id.


def test_id_persists_across_events() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b'id: 7\ndata: a\n\ndata: b\n\nid: 8\n\ndata: c\n\n')
    assert events == [message('a', id='7'), message('b', id='7'), message('c', id='8')]
    assert decoder.last_event_id == '8'


def test_id_set_after_data_in_the_same_block_applies_to_it() -> None:
    assert all_ways(b'data: a\nid: 1\n\n') == [message('a', id='1')]


def test_id_with_nul_is_ignored() -> None:
    body = b'id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n'
    assert all_ways(body) == [message('a', id='1'), message('b', id='1')]


def test_empty_id_clears_the_last_event_id() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'id: 1\ndata: a\n\nid:\ndata: b\n\n') == [message('a', id='1'), message('b')]
    assert decoder.last_event_id is None


def test_id_takes_effect_at_the_end_of_its_block() -> None:
    # A reconnecting client must not claim an event it never completely received.
    decoder = SSEDecoder()
    assert decoder.feed(b'id: 1\ndata: a\n\nid: 2\ndata: b\n') == [message('a', id='1')]
    assert decoder.last_event_id == '1'
    decoder.close()
    assert decoder.last_event_id == '1'
    assert decoder.truncated


def test_id_in_a_block_without_data_still_takes_effect() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'id: 3\n\n') == []
    assert decoder.last_event_id == '3'
    assert decoder.feed(b'data: a\n\n') == [message('a', id='3')]


def test_id_keeps_spaces_after_the_first() -> None:
    assert all_ways(b'id:  x \ndata: a\n\n') == [message('a', id=' x ')]


# retry.


def test_retry_is_on_its_own_block_only() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b'retry: 1500\ndata: a\n\ndata: b\n\n')
    assert events == [message('a', retry=1500), message('b')]
    assert decoder.retry == 1500


@pytest.mark.parametrize(
    'value',
    [b'', b' 10', b'10 ', b'1.5', b'-1', b'+1', b'1e3', b'1_000', '\u0661\u0662'.encode(), b'0x10', b'10ms'],
)
def test_retry_must_be_ascii_digits(value: bytes) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'retry: ' + value + b'\ndata: a\n\n') == [message('a')]
    assert decoder.retry is None


def test_retry_with_leading_zeros() -> None:
    assert all_ways(b'retry: 000\ndata: a\n\n') == [message('a', retry=0)]
    assert all_ways(b'retry: 0012\ndata: a\n\n') == [message('a', retry=12)]


def test_retry_too_long_to_be_a_delay_is_ignored() -> None:
    longest = b'9' * MAX_RETRY_DIGITS
    assert all_ways(b'retry: ' + longest + b'\ndata: a\n\n') == [message('a', retry=int(longest))]
    decoder = SSEDecoder()
    assert decoder.feed(b'retry: 1' + longest + b'\ndata: a\n\n') == [message('a')]
    assert decoder.feed(b'retry: ' + b'0' * 100 + b'7\ndata: a\n\n') == [message('a', retry=7)]


def test_retry_in_a_block_without_data_sets_the_decoder_only() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'retry: 5\n\ndata: a\n\n') == [message('a')]
    assert decoder.retry == 5


def test_last_valid_retry_of_a_block_wins() -> None:
    assert all_ways(b'retry: 1\nretry: x\nretry: 2\ndata: a\n\n') == [message('a', retry=2)]


# End of stream.


@pytest.mark.parametrize(
    ('body', 'truncated'),
    [
        (b'data: a\n\n', False),
        (b'data: a\n\ndata: {"partial', True),
        (b'data: a\n', True),
        (b'data: a\r', True),
        (b'data', True),
        (b'event: x\ndata: a\ndata: b', True),
        (b'event: x\n', False),
        (b'event: x', False),
        (b'id: 1\n', False),
        (b': comment', False),
        (b'dat', False),
        (b'', False),
    ],
)
def test_close_flags_a_discarded_event(body: bytes, truncated: bool) -> None:
    for chunks in ([body], bytewise(body)):
        events, decoder = decode(chunks)
        assert decoder.truncated is truncated
        assert events == ([message('a')] if body.startswith(b'data: a\n\n') else [])


def test_unterminated_last_line_is_not_parsed() -> None:
    # A character cut in half there is not an error.
    _, cut = decode([b'data: \xe6\x97'])
    assert cut.truncated


def test_close_is_idempotent_and_ends_the_decoder() -> None:
    decoder = SSEDecoder()
    decoder.feed(b'data: a')
    assert decoder.close() == []
    assert decoder.close() == []
    assert decoder.truncated
    with pytest.raises(UserError, match='closed'):
        decoder.feed(b'data: b\n\n')


# Invalid UTF-8: our documented departure from the spec's replacement characters.


@pytest.mark.parametrize(
    ('body', 'offset'),
    [
        (b'data: \xff\n\n', 6),
        (b'data: ok\n\ndata: \xc3\n\n', 16),  # a character cut short by the line end
        (b'data: a\ndata: b\xe6\x97\xa5\xe6\n\n', 18),
        (b'data: ok\r\n\r\ndata: \xff\r\n\r\n', 18),
        (b'event: \xff\ndata: a\n\n', 7),
        (b': \xfe comment\ndata: a\n\n', 2),
        (b'f\xffo: bar\n', 1),
        (b'id: 1\x00\xff\n', 6),
        (b'retry: 1\xff\n', 8),
        (BOM + b'data: \xed\xa0\x80\n\n', 9),  # an encoded surrogate is not UTF-8
    ],
)
def test_invalid_utf8_names_the_byte_offset(body: bytes, offset: int) -> None:
    for chunks in ([body], bytewise(body)):
        expected = rf'invalid UTF-8 in the event stream at byte {offset}$'
        with pytest.raises(StreamProtocolError, match=expected):
            decode(chunks)


def test_events_before_invalid_utf8_are_kept_and_the_error_comes_next() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: a\n\ndata: b\n\ndata: \xff\n\n') == [message('a'), message('b')]
    with pytest.raises(StreamProtocolError, match='byte 24'):
        decoder.feed(b'data: c\n\n')
    with pytest.raises(StreamProtocolError, match='byte 24'):
        decoder.close()


def test_invalid_utf8_in_the_first_event_raises_at_once() -> None:
    decoder = SSEDecoder()
    with pytest.raises(StreamProtocolError):
        decoder.feed(b'data: \xff\n\n')


@pytest.mark.parametrize(
    ('chunk', 'offset'),
    [
        (b'data: \xff\n\n', 6),
        (b'event: \xff\ndata: a\n\n', 7),
        (b'event: e\ndata: \xff\n\n', 15),
        (b'data: \xff\r\n\r\n', 6),
        (b'data: a\n\nevent: \xff\ndata: b\n\n', 16),
        (b'data: a\n\nevent: e\ndata: \xff\n\n', 24),
        (b'data: a\n\ndata: b\n\ndata: \xff\n\n', 24),
        (b'data: a\r\n\r\ndata: \xff\r\n\r\n', 17),
    ],
)
def test_invalid_utf8_in_chunks_of_whole_events(chunk: bytes, offset: int) -> None:
    # After a first event the decoder is between blocks, where its shortcuts for whole events apply.
    decoder = SSEDecoder()
    assert decoder.feed(b'data: a\n\n') == [message('a')]
    with pytest.raises(StreamProtocolError, match=f'at byte {9 + offset}$'):
        decode_rest(decoder, [chunk])


def decode_rest(decoder: SSEDecoder, chunks: Iterable[bytes]) -> list[SSEEvent]:
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events + decoder.close()


WHOLE_EVENT_CHUNKS = [
    b'data: b\n\n',
    b'event: e\ndata: b\n\n',
    b'event:\ndata: b\n\n',
    b'event: \ndata: b\n\n',
    b'data: b\r\n\r\n',
    b'data: b\n\ndata: c\n\n',
    b'data: b\r\n\r\ndata: c\r\n\r\n',
    b'event: e\ndata: b\n\nevent: f\ndata: c\n\n',
]


@pytest.mark.parametrize('chunk', WHOLE_EVENT_CHUNKS)
def test_chunks_of_whole_events_keep_the_id(chunk: bytes) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'id: 9\ndata: a\n\n') == [message('a', id='9')]
    events = decoder.feed(chunk)
    assert events
    assert all(event.id == '9' and event.data in 'bc' for event in events)
    assert events[0].event == ('e' if chunk.startswith(b'event: e') else 'message')


@pytest.mark.parametrize('chunk', WHOLE_EVENT_CHUNKS)
@pytest.mark.parametrize('before', [b'', b'id: 9\n', b': hi\n\n'])
def test_whole_event_chunks_after_anything(chunk: bytes, before: bytes) -> None:
    events, _ = decode([before, chunk])
    assert [event.data for event in events] == (['b', 'c'] if b'c' in chunk else ['b'])
    assert events[0].event == ('e' if chunk.startswith(b'event: e') else 'message')
    assert all(event.id == ('9' if before.startswith(b'id') else None) for event in events)


@pytest.mark.parametrize(
    ('chunks', 'offset'),
    [
        ([b'data: ab', b'c\n\ndata: d', b'\xff\n\n'], 18),
        ([b'data: ab', b'c\n\n', b'data: d\xff\n\n'], 18),
        ([b'data: ab', b'c\n\nda', b'ta: d\xff', b'\n\n'], 18),
        ([b'data: abc\n', b'\ndata: d\xff\n\n'], 18),
        ([b'data: abc\r\n', b'\r\ndata: d\xff\r\n\r\n'], 20),
        # A CRLF blank line cut after its CR: the LF that follows is still not counted twice.
        ([b'data: ab', b'c\r\n\r', b'\ndata: d\xff\r\n\r\n'], 20),
        ([b'data: abc\r\n\r', b'\ndata: d', b'\xff\r\n\r\n'], 20),
        ([b'data: abc\r\n\r', b'data: d\xff\r\n\r\n'], 19),
    ],
)
def test_invalid_utf8_offset_after_events_split_across_chunks(chunks: list[bytes], offset: int) -> None:
    decoder = SSEDecoder()
    with pytest.raises(StreamProtocolError, match=f'at byte {offset}$'):
        decode_rest(decoder, chunks)


def test_crlf_blank_line_cut_after_its_cr() -> None:
    # The CR of `\r\n\r\n` ends the block: its event comes at once, and the LF then belongs to it.
    chunks = [b'data: a\r\n\r', b'\n', b'\ndata: b\r\n\r', b'\n\n', b'data: c\r\n\r', b'data: d\n\n']
    decoder = SSEDecoder()
    assert [decoder.feed(chunk) for chunk in chunks] == [
        [message('a')],
        [],
        [message('b')],
        [],
        [message('c')],
        [message('d')],
    ]
    assert decode([b''.join(chunks)])[0] == [message(x) for x in 'abcd']


def test_utf8_character_split_across_chunks() -> None:
    body = 'data: 東京😀\n\n'.encode()
    for cut in range(len(body)):
        assert decode([body[:cut], body[cut:]])[0] == [message('東京😀')]


# Buffer bounds.


def test_line_longer_than_the_bound_raises() -> None:
    body = b'data: ' + b'x' * MAX_EVENT_BYTES + b'\n\n'
    with pytest.raises(StreamProtocolError, match='MAX_EVENT_BYTES'):
        decode([body])
    with pytest.raises(StreamProtocolError, match='MAX_EVENT_BYTES'):
        decode([body[i : i + (1 << 20)] for i in range(0, len(body), 1 << 20)])


def test_unterminated_line_longer_than_the_bound_raises_before_its_end() -> None:
    decoder = SSEDecoder()
    decoder.feed(b'data: ')
    with pytest.raises(StreamProtocolError, match='MAX_EVENT_BYTES'):
        decoder.feed(b'x' * MAX_EVENT_BYTES)


@pytest.mark.parametrize('over', [0, 1])
def test_the_bound_is_the_same_however_the_line_arrives(over: int) -> None:
    line = b'data: ' + b'x' * (MAX_EVENT_BYTES - 6 + over)
    body = b'data: a\n\n' + line + b'\n\n'
    ways = [
        [body],
        [b'data: a\n\n', line + b'\n\n'],
        [b'data: a\n\n', line, b'\n\n'],
        [b'data: a\n\n', line[:100], line[100:] + b'\n\n'],
        [body[i : i + (1 << 20)] for i in range(0, len(body), 1 << 20)],
    ]
    for chunks in ways:
        if over:
            with pytest.raises(StreamProtocolError, match='MAX_EVENT_BYTES'):
                decode(chunks)
        else:
            assert len(decode(chunks)[0]) == 2


def test_line_at_the_bound_is_fine() -> None:
    payload = b'x' * (MAX_EVENT_BYTES - len(b'data: '))
    events, _ = decode([b'data: ' + payload + b'\n\n'])
    assert len(events) == 1
    assert len(events[0].data) == len(payload)


def test_event_data_over_many_lines_is_bounded() -> None:
    line = b'data: ' + b'x' * (1 << 20) + b'\n'
    with pytest.raises(StreamProtocolError, match="an event's data"):
        decode([line] * 17)
    events, _ = decode([line] * 15 + [b'\n'])
    assert len(events) == 1


def test_comment_lines_do_not_count_towards_the_event_bound() -> None:
    comment = b':' + b'x' * (1 << 20) + b'\n'
    events, _ = decode([b'data: a\n', *([comment] * 20), b'\n'])
    assert events == [message('a')]


def test_lines_longer_than_a_region() -> None:
    big = b'z' * 200_000
    body = b'data: ' + big + b'\r\n\r\nevent: e\ndata: ' + big + b'\n\ndata: ' + big + b'\r\r'
    expected = [message(big.decode()), message(big.decode(), event='e'), message(big.decode())]
    assert decode([body])[0] == expected
    for size in (1000, 65536, 100_003):
        assert decode([body[i : i + size] for i in range(0, len(body), size)])[0] == expected


def test_long_line_byte_at_a_time() -> None:
    payload = b'y' * 65536
    events, _ = decode(bytewise(b'data: ' + payload + b'\n\n'))
    assert events == [message(payload.decode())]


# Recorded vendor traffic: every body decodes the same however it is cut, and every payload is JSON.


def _recorded_sse_bodies(root: Path) -> list[tuple[str, bytes]]:
    bodies: list[tuple[str, bytes]] = []
    for name in recording_paths(root):
        if name.endswith(('.yaml', '.sse')):
            for interaction in load_interactions(root, name):
                if interaction.response.kind == 'sse':
                    bodies.append((interaction.source, interaction.response.body))
    return bodies


def test_recorded_vendor_streams(wire_fixtures: Path) -> None:
    bodies = _recorded_sse_bodies(wire_fixtures)
    assert len(bodies) >= 10
    for name, body in bodies:
        whole, decoder = decode([body])
        assert whole, name
        assert not decoder.truncated, name
        assert decode([body[i : i + 7] for i in range(0, len(body), 7)])[0] == whole, name
        assert decode(bytewise(body))[0] == whole, name
        for event in whole:
            if event.data != '[DONE]':
                json.loads(event.data)


@pytest.mark.parametrize(
    'chunk',
    [
        b'data: b\r\n\r\n',
        b'data: \r\n\r\n',
        b'data: {"x": 1}\r\n\r\n',
        b'data: b\rc\r\n\r\n',  # a CR inside: two data lines, not one payload
        b'data: b\nc\r\n\r\n',
        b'data: b\r\n\n',
        b'data: b\n\r\n',
        b'data: b\r\r\n',
        b'data:b\r\n\r\n',
    ],
)
@pytest.mark.parametrize('before', [b'data: a\r\n\r\n', b'data: a\n\n', b'data: a\r'])
def test_crlf_whole_event_chunks_decode_as_the_line_machine_does(chunk: bytes, before: bytes) -> None:
    # The CRLF shortcut (Gemini's `\r\n\r\n`) must agree with the byte-at-a-time line machine.
    whole, _ = decode([before, chunk])
    bytewise, _ = decode([bytes([b]) for b in before + chunk])
    assert whole == bytewise


@pytest.mark.parametrize(
    'body',
    [
        b'event: a\ndata: x\ndata: y\n\nevent: b\n\n',  # as many data lines as blocks, unevenly
        b'event: a\nevent: b\n\ndata: x\ndata: y\n\n',
        b'data: x\nevent: a\n\nevent: b\ndata: y\n\n',  # the fields in the other order
        b'event: a\ndata: x\n\ndata: y\n\n',
        b'data: x\n\nevent: a\ndata: y\n\n',
        b'data: x\ndata: y\n\ndata: z\n\n',
        b'data: x\n\ndata: y\n\n\n',
        b'event: a\ndata: x\n\n\nevent: b\ndata: y\n\n',
    ],
)
def test_near_usual_layouts_are_read_by_the_rules(body: bytes) -> None:
    # Shapes close to the ones the decoder splits in C, which must still be read line by line.
    expected = decode(bytewise(body))[0]
    for text in (body, body.replace(b'\n', b'\r\n')):
        for chunks in ([text], bytewise(text), [text[:9], text[9:]]):
            assert decode(chunks)[0] == expected
    assert decode([b'data: 0\n\n' * 3 + body])[0][3:] == expected


@pytest.mark.parametrize('nl', [b'\n', b'\r\n'])
@pytest.mark.parametrize('named', [False, True])
def test_a_chunk_of_one_large_event_or_of_many_reads_as_the_line_machine_does(named: bool, nl: bytes) -> None:
    # Past a few KiB a chunk is looked for line ends before its payload is copied out: one large
    # event must still be one event, and a large chunk of many must give them all.
    prefix = (b'event: big' + nl if named else b'') + b'data: '
    end = nl + nl
    large = prefix + b'{"text": "' + b'x' * 9_000 + b'"}' + end
    small = prefix + b'{"n": 1}' + end
    for chunks in ([large, large], [small, large], [small * 700], [small * 700 + large], [large + small * 3]):
        got, _ = decode(chunks)
        assert got == decode(bytewise(b''.join(chunks)))[0]
        assert all(event.raw is not None for event in got)


@pytest.mark.parametrize('end', [b'\n', b'\r\n'])
def test_the_blocks_after_one_a_chunk_left_open_keep_their_payload_bytes(end: bytes) -> None:
    # A chunk that ends inside a block leaves it to the line machine; the blocks after its blank
    # line go back to the C splits (their events keep `raw`), so a stream cut inside blocks is
    # not read line by line from then on.
    block = b'event: delta' + end + b'data: {"i": 0}' + end + end
    body = block * 400
    cut = len(block) * 3 + 17  # inside the fourth block
    pieces = [body[:cut], body[cut : cut + 5_000], body[cut + 5_000 :]]
    got, _ = decode(pieces)
    assert got == decode([body])[0]
    assert len(got) == 400
    assert sum(event.raw is None for event in got) <= 2  # at most the blocks each piece left open
