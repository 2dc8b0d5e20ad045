"""The streamed JSON-array decoder: the RFC 8259 rules it keeps, both ways of finding an element's
end, its bounds, the truncation contract and recorded Gemini bodies sent without `alt=sse`."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from modelkit.exceptions import StreamProtocolError, UserError
from modelkit.parsers import Parser
from modelkit.parsers.jsonarray import MAX_ELEMENT_BYTES, JSONArrayDecoder
from tests.parsers._decode import all_ways_with, bytewise, decode_with


def decode(chunks: Iterable[bytes]) -> tuple[list[Any], JSONArrayDecoder]:
    """Feed every chunk, close, and return everything plus the decoder (for `truncated`)."""
    decoder = JSONArrayDecoder()
    return decode_with(decoder, chunks), decoder


def all_ways(body: bytes) -> list[Any]:
    return all_ways_with(JSONArrayDecoder, body)


def google(elements: list[Any]) -> bytes:
    """The layout Gemini writes: `[{` then pretty-printed elements joined by `\\n,\\r\\n`, then `\\n]`."""
    return b'[' + b'\n,\r\n'.join(json.dumps(e, indent=2).encode() for e in elements) + b'\n]'


ELEMENTS = [
    {'candidates': [{'content': {'parts': [{'text': 'Hello'}], 'role': 'model'}, 'index': 0}]},
    {'candidates': [{'content': {'parts': [{'text': ' "braces" {}[] and \\ escapes}'}]}}], 'n': [1, 2.5]},
    {'usageMetadata': {'promptTokenCount': 3, 'thoughts': None, 'ok': True}, 'text': 'é東😀\n\t'},
]


def test_decoder_is_a_parser() -> None:
    parser: Parser[Any] = JSONArrayDecoder()
    assert parser.feed(b'[{"a": 1}') == [{'a': 1}]


@pytest.mark.parametrize(
    'layout',
    [
        google,
        lambda es: orjson.dumps(es),
        lambda es: json.dumps(es, indent=2).encode(),
        lambda es: json.dumps(es, indent=0).encode(),
        lambda es: json.dumps(es, indent='\t').encode(),
        lambda es: b' \r\n[ ' + b' ,\n\t'.join(orjson.dumps(e) for e in es) + b' ]\n ',
    ],
    ids=['google', 'compact', 'indent-2', 'indent-0', 'tabs', 'spaced'],
)
def test_every_layout_decodes_to_what_orjson_reads_however_cut(layout: Any) -> None:
    body = layout(ELEMENTS)
    assert all_ways(body) == orjson.loads(body) == ELEMENTS


def test_each_element_comes_as_soon_as_its_closing_brace_arrives() -> None:
    for body in (google(ELEMENTS), orjson.dumps(ELEMENTS), json.dumps(ELEMENTS, indent=2).encode()):
        decoder = JSONArrayDecoder()
        got: list[Any] = []
        closes: list[int] = []
        for i, byte in enumerate(bytewise(body)):
            new = decoder.feed(byte)
            if new:
                got += new
                closes.append(i)
        assert got == ELEMENTS
        assert all(body[i] == ord('}') for i in closes)
        # The element's last brace: the decoder held nothing back after it.
        for i, element in zip(closes, ELEMENTS, strict=True):
            start = body.rfind(b'{', 0, i)
            while True:
                try:
                    if orjson.loads(body[start : i + 1]) == element:
                        break
                except orjson.JSONDecodeError:
                    pass
                start = body.rfind(b'{', 0, start)


def test_the_recorded_google_separator_with_crlf() -> None:
    body = b'[{\n  "a": 1\n}\n,\r\n{\n  "b": "}\\n{"\n}\n]'
    assert all_ways(body) == [{'a': 1}, {'b': '}\n{'}]


def test_a_column_zero_brace_inside_an_element_is_not_its_end() -> None:
    # Looks like Google's layout, but the first `\n}` closes a nested object.
    body = b'[{\n"a": {\n"b": 1\n}\n}\n,\r\n{\n"c": 2\n}]'
    assert all_ways(body) == [{'a': {'b': 1}}, {'c': 2}]


def test_an_unexpected_layout_after_a_google_opening_still_decodes() -> None:
    # Opens like Google's layout but closes on the element's last line: found at close() at worst.
    body = b'[{\n  "a": 1}]'
    elements, decoder = decode([body])
    assert elements == [{'a': 1}]
    assert not decoder.truncated
    assert decode(bytewise(body))[0] == [{'a': 1}]


def test_empty_arrays_and_whitespace() -> None:
    assert all_ways(b'[]') == []
    assert all_ways(b' \n[\r\n\t]\n ') == []


# Malformed bodies raise our error naming the byte.


@pytest.mark.parametrize(
    ('body', 'error'),
    [
        (b'{"a": 1}', "at byte 0: the body is not a JSON array (it starts with b'{')"),
        (b'  x', "at byte 2: the body is not a JSON array (it starts with b'x')"),
        (b'\xef\xbb\xbf[]', 'not a JSON array'),
        (b'[1]', "at byte 1: expected an object, got b'1'"),
        (b'["a"]', 'expected an object'),
        (b'[[]]', 'expected an object'),
        (b'[{},]', "at byte 4: expected an object, got b']'"),
        (b'[,{}]', 'expected an object'),
        (b'[{} {}]', "at byte 4: expected ',' or ']' after an element, got b'{'"),
        (b'[{}x]', "expected ',' or ']' after an element"),
        (b'[{}]]', "at byte 4: b']' after the end of the JSON array"),
        (b'[{}] {}', 'after the end of the JSON array'),
        (b'[{"a": tru}]', 'at byte 1: an element is not valid JSON'),
        (b'[{"a" 1}]', 'an element is not valid JSON'),
        (b'[{"a": 1,}]', 'an element is not valid JSON'),
        (b'[{"a": "\x01"}]', 'an element is not valid JSON'),
        (b'[{"a": "\xff"}]', 'an element is not valid JSON'),
        (b'[{\n  "a": tru\n}]', 'an element is not valid JSON'),
        (b'[{"a": 1}}]', "expected ',' or ']' after an element, got b'}'"),
    ],
)
def test_malformed_bodies_are_our_error(body: bytes, error: str) -> None:
    for chunks in ([body], bytewise(body)):
        with pytest.raises(StreamProtocolError, match='malformed JSON array stream') as caught:
            decode(chunks)
        assert error in str(caught.value)


def test_elements_before_an_error_are_kept_and_the_error_then_sticks() -> None:
    decoder = JSONArrayDecoder()
    assert decoder.feed(b'[{"a": 1}, {"b": 2} x') == [{'a': 1}, {'b': 2}]
    with pytest.raises(StreamProtocolError, match="after an element, got b'x'"):
        decoder.feed(b']')
    with pytest.raises(StreamProtocolError, match="after an element, got b'x'"):
        decoder.close()


def test_error_offsets_count_from_the_start_of_the_body() -> None:
    head = b'[' + b', '.join([b'{"a": 1}'] * 50)
    _, decoder = decode([head])
    assert decoder.truncated
    with pytest.raises(StreamProtocolError, match=f'at byte {len(head) + 1}:'):
        decode([head, b' ?'])
    with pytest.raises(StreamProtocolError, match=f'at byte {len(head) + 1}:'):
        decode(bytewise(head + b' ?'))


# Truncation: close() never raises for a cut body, and says so.


@pytest.mark.parametrize('layout', [google, lambda es: orjson.dumps(es)], ids=['google', 'compact'])
def test_every_cut_keeps_the_whole_elements_and_sets_truncated(layout: Any) -> None:
    body = layout(ELEMENTS)
    for cut in range(len(body)):
        elements, decoder = decode([body[:cut]])
        assert decoder.truncated, cut
        complete = [e for e in ELEMENTS if _ends_within(body, ELEMENTS, e, cut)]
        assert elements == complete, cut
    assert not decode([body])[1].truncated


def _ends_within(body: bytes, elements: list[Any], element: Any, cut: int) -> bool:
    """Whether `element` (one of `elements`, in order) ends by byte `cut` of `body`."""
    decoder = JSONArrayDecoder()
    seen = 0
    for i in range(cut):
        seen += len(decoder.feed(body[i : i + 1]))
    return elements.index(element) < seen


def test_an_empty_body_is_truncated() -> None:
    assert decode([])[1].truncated
    assert decode([b' \n'])[1].truncated
    assert decode([b'['])[1].truncated


def test_feed_after_close_is_a_user_error() -> None:
    decoder = JSONArrayDecoder()
    decoder.feed(b'[]')
    decoder.close()
    assert decoder.close() == []
    with pytest.raises(UserError, match='closed'):
        decoder.feed(b'')


# Bounds.


def test_an_element_longer_than_the_bound_is_refused_without_waiting_for_its_end() -> None:
    big = b'x' * (MAX_ELEMENT_BYTES // 4)
    for opening in (b'[{"a": "', b'[{\n  "a": "'):
        decoder = JSONArrayDecoder()
        decoder.feed(opening)
        for _ in range(3):
            assert decoder.feed(big) == []
        decoder.feed(big[: len(big) - 2 * len(opening)])  # just under the bound: still waiting
        with pytest.raises(StreamProtocolError, match='MAX_ELEMENT_BYTES'):
            decoder.feed(big)


def test_an_element_at_the_bound_is_accepted() -> None:
    text = 'x' * (MAX_ELEMENT_BYTES - len(b'{"a":""}'))
    element = orjson.dumps({'a': text})
    assert len(element) == MAX_ELEMENT_BYTES
    body = b'[' + element + b']'
    elements, decoder = decode([body[i : i + 65536] for i in range(0, len(body), 65536)])
    assert elements == [{'a': text}]
    assert not decoder.truncated


# Recorded Gemini traffic: streamGenerateContent without alt=sse is a JSON array.


def _gemini_array_bodies(wire_fixtures: Path) -> list[tuple[str, bytes]]:
    bodies: list[tuple[str, bytes]] = []
    for directory in ('gemini-gla', 'gemini-vertex'):
        for path in sorted((wire_fixtures / directory).rglob('*.yaml')):
            cassette = yaml.safe_load(path.read_text())
            for i, interaction in enumerate(cassette['interactions']):
                uri = interaction['request']['uri']
                if ':streamGenerateContent' not in uri or 'alt=sse' in uri:
                    continue
                body = interaction['response']['body']['string']
                if isinstance(body, str):
                    body = body.encode()
                if body.startswith(b'\x1f\x8b'):
                    body = gzip.decompress(body)
                bodies.append((f'{path.name}#{i}', body))
    return bodies


def test_recorded_gemini_array_streams(wire_fixtures: Path) -> None:
    bodies = _gemini_array_bodies(wire_fixtures)
    assert len(bodies) >= 2
    for name, body in bodies:
        expected = orjson.loads(body)
        assert isinstance(expected, list), name
        elements, decoder = decode([body])
        assert elements == expected, name
        assert not decoder.truncated, name
        assert decode(bytewise(body))[0] == expected, name
        assert decode([body[i : i + 7] for i in range(0, len(body), 7)])[0] == expected, name
        assert all('candidates' in element for element in elements), name


def test_iter_feed_keeps_what_the_caller_did_not_take() -> None:
    decoder = JSONArrayDecoder()
    taken = decoder.iter_feed(b'[{"a": 1}, {"b": 2}, {"c": ')
    assert next(iter(taken)) == {'a': 1}  # and then the caller stops
    assert decoder.feed(b'3}]') == [{'b': 2}, {'c': 3}]
    assert decoder.close() == []
    assert not decoder.truncated


def test_bad_bytes_after_untaken_elements_still_raise_at_close() -> None:
    decoder = JSONArrayDecoder()
    decoder.iter_feed(b'[{\n\n}[')  # nothing taken
    with pytest.raises(StreamProtocolError, match="expected ',' or ']' after an element"):
        decoder.close()
