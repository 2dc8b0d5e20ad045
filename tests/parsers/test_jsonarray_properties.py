"""Properties of the streamed JSON-array decoder: chunking never matters, orjson reading the whole
body agrees, and any bytes either decode or raise `StreamProtocolError`."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from modelkit.exceptions import StreamProtocolError
from modelkit.parsers.jsonarray import JSONArrayDecoder


@dataclass(frozen=True)
class Outcome:
    elements: tuple[str, ...]
    """Each element re-serialised (sorted keys), so the outcome is hashable and comparable."""
    error: bool = False
    truncated: bool = False


def run(chunks: list[bytes]) -> Outcome:
    decoder = JSONArrayDecoder()
    elements: list[Any] = []
    try:
        for chunk in chunks:
            elements += decoder.feed(chunk)
        elements += decoder.close()
    except StreamProtocolError:
        return Outcome(_keys(elements), error=True)
    return Outcome(_keys(elements), False, decoder.truncated)


def run_lazily(chunks: list[bytes], stops: list[int]) -> Outcome:
    """`run` through `iter_feed()`, taking at most `stops[i]` elements of chunk i's lazy result
    (all of them past the end of `stops`, and always all of a list, which is the caller's)."""
    decoder = JSONArrayDecoder()
    elements: list[Any] = []
    try:
        for i, chunk in enumerate(chunks):
            found = decoder.iter_feed(chunk)
            if isinstance(found, list) or i >= len(stops):
                elements += found
            else:
                elements += itertools.islice(found, stops[i])
        elements += decoder.close()
    except StreamProtocolError:
        return Outcome(_keys(elements), error=True)
    return Outcome(_keys(elements), False, decoder.truncated)


def _keys(elements: list[Any]) -> tuple[str, ...]:
    return tuple(json.dumps(e, sort_keys=True) for e in elements)


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(body), *(min(c, len(body)) for c in cuts)})
    return [body[a:b] for a, b in itertools.pairwise(points)]


_text = st.text(st.characters(exclude_categories=('Cs',)), max_size=8) | st.sampled_from(
    ['}', '{', '"', '\\', '\n}', '},{', '\\"}', '\n,\r\n{']
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=12,
)
_objects = st.lists(st.dictionaries(_text, _json, max_size=4), max_size=5)
_LAYOUTS = ['google', 'compact', 'indent-2', 'indent-0', 'spaced']


def layout(elements: list[dict[str, Any]], how: str) -> bytes:
    if how == 'google':
        return b'[' + b'\n,\r\n'.join(json.dumps(e, indent=2).encode() for e in elements) + b'\n]'
    if how == 'compact':
        return orjson.dumps(elements)
    if how == 'indent-2':
        return json.dumps(elements, indent=2).encode()
    if how == 'indent-0':
        return json.dumps(elements, indent=0).encode()
    return b' [ ' + b' \r\n, \t'.join(json.dumps(e).encode() for e in elements) + b' ] '


@settings(max_examples=300, deadline=None)
@given(elements=_objects, how=st.sampled_from(_LAYOUTS), cuts=st.lists(st.integers(0, 3000), max_size=12))
def test_well_formed_arrays_decode_to_their_elements_however_cut(
    elements: list[dict[str, Any]], how: str, cuts: list[int]
) -> None:
    body = layout(elements, how)
    whole = run([body])
    assert whole == Outcome(_keys(orjson.loads(body)))
    assert whole.elements == _keys(elements)
    assert run(split(body, cuts)) == whole
    assert run([body[i : i + 1] for i in range(len(body))]) == whole


@settings(max_examples=200, deadline=None)
@given(elements=_objects, how=st.sampled_from(_LAYOUTS), data=st.data())
def test_a_cut_body_is_truncated_and_keeps_a_prefix_of_the_elements(
    elements: list[dict[str, Any]], how: str, data: st.DataObject
) -> None:
    body = layout(elements, how)
    cut = data.draw(st.integers(0, len(body) - 1))
    outcome = run([body[:cut]])
    assert not outcome.error
    closing_bracket = len(body.rstrip()) - 1
    assert outcome.truncated == (cut <= closing_bracket)
    assert outcome.elements == _keys(elements)[: len(outcome.elements)]


# Near-JSON built from tokens: the decoder must agree with orjson on the whole body.

_TOKENS = [b'[', b']', b'{', b'}', b',', b':', b'"a"', b'"}"', b'"\\""', b'"\\\\"', b'1', b'tru', b'null']
_TOKENS += [b' ', b'\n', b'\r\n', b'\t', b'"', b'\\', b'\xff', b'{\n', b'\n}', b'\n,\r\n']


@settings(max_examples=500, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_TOKENS), max_size=30),
    cuts=st.lists(st.integers(0, 200), max_size=8),
)
def test_agrees_with_orjson_on_the_whole_body(pieces: list[bytes], cuts: list[int]) -> None:
    body = b''.join(pieces)
    outcome = run([body])
    assert run(split(body, cuts)) == outcome
    assert run([body[i : i + 1] for i in range(len(body))]) == outcome
    try:
        expected = orjson.loads(body)
    except orjson.JSONDecodeError:
        # Not one valid array: we must raise, or say the array never finished.
        assert outcome.error or outcome.truncated
        return
    if isinstance(expected, list) and all(isinstance(e, dict) for e in expected):
        assert outcome == Outcome(_keys(expected))
    else:
        assert outcome.error


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=8))
def test_any_bytes_decode_or_raise_our_error(body: bytes, cuts: list[int]) -> None:
    # `run` lets any exception but StreamProtocolError escape, which fails the test.
    outcome = run([body])
    assert run(split(body, cuts)) == outcome


# iter_feed(): the same elements as feed(), however early the caller stops taking them.

_stops = st.lists(st.integers(0, 3), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    elements=_objects,
    how=st.sampled_from(_LAYOUTS),
    cuts=st.lists(st.integers(0, 3000), max_size=12),
    stops=_stops,
)
def test_iter_feed_gives_every_element_however_early_the_caller_stops(
    elements: list[dict[str, Any]], how: str, cuts: list[int], stops: list[int]
) -> None:
    body = layout(elements, how)
    assert run_lazily([body], stops) == run([body]) == Outcome(_keys(elements))
    assert run_lazily(split(body, cuts), stops) == run(split(body, cuts))


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_TOKENS), max_size=30),
    cuts=st.lists(st.integers(0, 200), max_size=8),
    stops=_stops,
)
def test_iter_feed_agrees_with_feed_on_near_json(
    pieces: list[bytes], cuts: list[int], stops: list[int]
) -> None:
    body = b''.join(pieces)
    for chunks in ([body], split(body, cuts)):
        lazily, eagerly = run_lazily(chunks, stops), run(chunks)
        if not eagerly.error:
            assert lazily == eagerly
        else:
            # The error always surfaces; elements the caller had stopped taking may go with
            # it when only close() is left to raise it.
            assert lazily.error
            assert lazily.elements == eagerly.elements[: len(lazily.elements)]
