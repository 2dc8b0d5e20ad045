"""`SSEDataDecoder`: the same events as `SSEDecoder`, as `(type, data)` pairs.

`SSEDecoder` is checked against the WHATWG reference in `test_sse_properties.py`; here the pair
decoder is checked against it, on the same streams, however they are cut and however early the
caller stops taking events.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelkit.exceptions import StreamProtocolError, UserError
from modelkit.parsers.sse import SSEDataDecoder, SSEDecoder, event_text
from tests.helpers.streams import bytewise, per_event, split_at
from tests.parsers.test_sse_properties import token_streams, usual_streams


@dataclass(frozen=True)
class Seen:
    """What a caller of either decoder can observe: each event's type and text, and the end."""

    events: tuple[tuple[str, str], ...]
    error_at: int | None = None
    truncated: bool = False
    last_event_id: str | None = None
    retry: int | None = None


def _error_at(exc: StreamProtocolError) -> int:
    found = re.search(r'at byte (\d+)$', str(exc))
    return int(found.group(1)) if found else -1


def with_events(chunks: list[bytes]) -> Seen:
    decoder = SSEDecoder()
    events: list[tuple[str, str]] = []
    try:
        for chunk in chunks:
            events += [(e.event, e.data) for e in decoder.feed(chunk)]
        decoder.close()
    except StreamProtocolError as exc:
        return Seen(tuple(events), _error_at(exc))
    return Seen(tuple(events), None, decoder.truncated, decoder.last_event_id, decoder.retry)


def with_pairs(chunks: list[bytes], takes: list[int] | None = None) -> Seen:
    """The pair decoder through `iter_feed`, taking at most `takes[i]` events of a lazy result."""
    decoder = SSEDataDecoder()
    events: list[tuple[str, str]] = []

    def keep(pairs: object) -> None:
        for kind, data in pairs:  # type: ignore[attr-defined]
            # The bytes that came (checked UTF-8) or the text: nothing else.
            assert kind.__class__ is str
            assert data.__class__ in (bytes, str)
            events.append((kind, event_text(data)))

    try:
        for i, chunk in enumerate(chunks):
            found = decoder.iter_feed(chunk)
            if not isinstance(found, list) and takes:
                found = itertools.islice(found, takes[i % len(takes)])
            keep(found)
        keep(decoder.close())
        decoder.close()  # an error found while handing out what was not taken is raised now
    except StreamProtocolError as exc:
        return Seen(tuple(events), _error_at(exc))
    return Seen(tuple(events), None, decoder.truncated, decoder.last_event_id, decoder.retry)


@settings(max_examples=300, deadline=None)
@given(
    body=usual_streams() | token_streams() | st.binary(max_size=300),
    cuts=st.lists(st.integers(0, 600), max_size=8),
    takes=st.lists(st.integers(0, 3), max_size=4),
)
def test_pairs_are_the_events_however_cut_and_taken(body: bytes, cuts: list[int], takes: list[int]) -> None:
    expected = with_events([body])
    assert with_pairs([body]) == expected
    assert with_pairs(split_at(body, cuts)) == expected
    assert with_pairs(split_at(body, cuts), takes) == expected
    assert with_pairs(per_event(body)) == expected


@settings(max_examples=100, deadline=None)
@given(body=usual_streams())
def test_pairs_byte_at_a_time(body: bytes) -> None:
    assert with_pairs(bytewise(body)) == with_events([body])


def test_runs_and_line_machine_blocks_are_paired_in_order_as_taken() -> None:
    # Gemini's CRLF layout over two regions (`_REGION_BYTES`): the first is a run split in C, the
    # second holds a block for the line machine (a comment, an id, two data lines). Their pairs
    # are chained, in order, and handed out as the caller takes them.
    blocks = [b'data: {"i": %d}\r\n\r\n' % i for i in range(5000)]
    blocks.insert(4000, b': keep-alive\r\nid: 5\r\ndata: a\r\ndata: b\r\n\r\n')
    decoder = SSEDataDecoder()
    found = decoder.iter_feed(b''.join(blocks))
    assert not isinstance(found, list)
    assert next(iter(found)) == ('message', b'{"i": 0}')  # the payload's bytes, as they came
    # What was not taken comes first from the next call, then that call's own event.
    rest = decoder.feed(b'data: last\r\n\r\n')
    assert len(rest) == 5001
    texts = [event_text(data) for _, data in rest]
    assert texts[:3] == ['{"i": 1}', '{"i": 2}', '{"i": 3}']
    assert texts[3998:4001] == ['{"i": 3999}', 'a\nb', '{"i": 4000}']
    assert [orjson.loads(text)['i'] for text in texts[4000:-1]] == list(range(4000, 5000))
    assert rest[-1] == ('message', b'last')
    assert decoder.last_event_id == '5'
    assert decoder.close() == []


def test_an_odd_block_leaves_only_the_blocks_near_it_to_the_line_machine() -> None:
    # A body that arrives whole with a keep-alive comment every 500 events: every region holds
    # one. The fast paths still read nearly all the events (their data is the bytes that came);
    # the line machine gets a narrow region around each comment, not the whole region.
    blocks = []
    for i in range(20_000):
        blocks.append(b'event: content_block_delta\ndata: {"i": %d, "text": "%s"}\n\n' % (i, b'x' * (i % 40)))
        if i % 500 == 499:
            blocks.append(b': keep-alive\n\n')
    body = b''.join(blocks)
    pairs = list(SSEDataDecoder().iter_feed(body))
    assert [orjson.loads(data)['i'] for _, data in pairs] == list(range(20_000))
    kept = sum(data.__class__ is bytes for _, data in pairs)
    assert kept > 0.9 * len(pairs), kept
    assert with_pairs([body]) == with_events([body]) == with_events(split_at(body, [70_000, 140_001]))


def test_the_line_machine_hands_out_text() -> None:
    # Two data lines and an id: not a shape the fast paths read, so the data is the joined text.
    decoder = SSEDataDecoder()
    assert decoder.feed(b'id: 7\nevent: note\ndata: a\ndata: b\n\n') == [('note', 'a\nb')]
    assert decoder.last_event_id == '7'
    assert decoder.feed(b'data: {"x": 1}\n\n') == [('message', b'{"x": 1}')]


def test_invalid_utf8_raises_after_the_events_before_it() -> None:
    decoder = SSEDataDecoder()
    found = decoder.feed(b'data: ok\n\ndata: \xff\n\n')
    assert [(kind, event_text(data)) for kind, data in found] == [('message', 'ok')]
    with pytest.raises(StreamProtocolError, match='invalid UTF-8 in the event stream at byte 16'):
        decoder.feed(b'')
    one = SSEDataDecoder()
    with pytest.raises(StreamProtocolError, match='at byte 6'):
        one.feed(b'data: \xff\n\n')  # one event per chunk, the fast path's way


def test_closed_names_the_decoder() -> None:
    decoder = SSEDataDecoder()
    decoder.close()
    with pytest.raises(UserError, match='this SSEDataDecoder is closed'):
        decoder.feed(b'data: x\n\n')


def test_event_text() -> None:
    assert event_text(b'caf\xc3\xa9') == 'café'
    assert event_text('café') == 'café'
