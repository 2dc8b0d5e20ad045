"""Properties of the AWS event-stream decoder: chunking never matters, encode then decode gives back
what went in, and any bytes either decode or raise `StreamProtocolError`."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from modelkit.exceptions import StreamProtocolError
from modelkit.parsers.eventstream import (
    EventStreamDecoder,
    HeaderValue,
    Int8,
    Int16,
    Int32,
    Int64,
    encode_message,
)

Message = tuple[tuple[tuple[str, type, object], ...], bytes]
"""(headers as (name, type, value) in wire order, payload): comparable, and it keeps the types."""


@dataclass(frozen=True)
class Outcome:
    messages: tuple[Message, ...]
    error: str | None = None
    truncated: bool = False


def run(chunks: list[bytes]) -> Outcome:
    decoder = EventStreamDecoder()
    messages: list[Message] = []
    try:
        for chunk in chunks:
            messages += [
                (tuple((k, type(v), v) for k, v in m.headers.items()), m.payload) for m in decoder.feed(chunk)
            ]
        decoder.close()
    except StreamProtocolError as exc:
        return Outcome(tuple(messages), error=str(exc))
    return Outcome(tuple(messages), None, decoder.truncated)


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(body), *(min(c, len(body)) for c in cuts)})
    return [body[a:b] for a, b in itertools.pairwise(points)]


_names = st.text(st.characters(exclude_categories=('Cs',)), min_size=1, max_size=12).filter(
    lambda name: len(name.encode()) <= 255
)
_ms = st.integers(
    (datetime(1, 1, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1),
    (datetime(9999, 12, 31, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1),
)
_values: st.SearchStrategy[HeaderValue] = st.one_of(
    st.booleans(),
    st.integers(-(2**7), 2**7 - 1).map(Int8),
    st.integers(-(2**15), 2**15 - 1).map(Int16),
    st.integers(-(2**31), 2**31 - 1).map(Int32),
    st.integers(-(2**63), 2**63 - 1).map(Int64),
    st.binary(max_size=40),
    st.text(max_size=40),
    _ms.map(lambda ms: datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)),
    st.uuids(),
)
_headers = st.dictionaries(_names, _values, max_size=6)
_messages = st.lists(st.tuples(_headers, st.binary(max_size=200)), max_size=6)


def expected(messages: list[tuple[dict[str, HeaderValue], bytes]]) -> tuple[Message, ...]:
    return tuple(
        (tuple((k, type(v), v) for k, v in headers.items()), payload) for headers, payload in messages
    )


@settings(max_examples=200, deadline=None)
@given(messages=_messages, cuts=st.lists(st.integers(0, 2000), max_size=12))
def test_round_trip_however_cut(
    messages: list[tuple[dict[str, HeaderValue], bytes]], cuts: list[int]
) -> None:
    body = b''.join(encode_message(headers, payload) for headers, payload in messages)
    whole = run([body])
    assert whole == Outcome(expected(messages))
    assert run(split(body, cuts)) == whole
    assert run([body[i : i + 1] for i in range(len(body))]) == whole


@settings(max_examples=200, deadline=None)
@given(messages=_messages.filter(bool), data=st.data())
def test_a_cut_stream_keeps_its_whole_messages_and_says_truncated(
    messages: list[tuple[dict[str, HeaderValue], bytes]], data: st.DataObject
) -> None:
    frames = [encode_message(headers, payload) for headers, payload in messages]
    body = b''.join(frames)
    cut = data.draw(st.integers(0, len(body)))
    ends = list(itertools.accumulate(len(f) for f in frames))
    complete = sum(1 for end in ends if end <= cut)
    outcome = run([body[:cut]])
    assert outcome.error is None
    assert outcome.messages == expected(messages)[:complete]
    assert outcome.truncated == (cut not in (0, *ends))


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=8))
def test_any_bytes_decode_or_raise_our_error(body: bytes, cuts: list[int]) -> None:
    # `run` lets any exception but StreamProtocolError escape, which fails the test.
    outcome = run([body])
    assert run(split(body, cuts)) == outcome


@settings(max_examples=300, deadline=None)
@given(messages=_messages.filter(bool), data=st.data())
def test_corrupting_any_byte_is_caught(
    messages: list[tuple[dict[str, HeaderValue], bytes]], data: st.DataObject
) -> None:
    """With both CRCs checked, no single flipped bit gets through as a different message."""
    body = bytearray(b''.join(encode_message(headers, payload) for headers, payload in messages))
    at = data.draw(st.integers(0, len(body) - 1))
    body[at] ^= 1 << data.draw(st.integers(0, 7))
    outcome = run([bytes(body)])
    good = expected(messages)
    # Messages before the damaged one survive intact; the damaged one never comes out altered.
    assert outcome.messages == good[: len(outcome.messages)]
    assert outcome.error is not None  # CRC32 catches every single-bit error
