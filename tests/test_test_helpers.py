"""The shared test helpers on small hand-written inputs (no recorded traffic needed).

tests/conformance/test_recordings_load.py checks the loader on every real recording; these check
each format and each way of cutting a body on bodies written here from the documented formats.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from pathlib import Path

import httpx
import pytest
import yaml

from tests.helpers.cassettes import (
    REDACTED,
    ReplayTransport,
    interaction_params,
    load_recording,
    recorded_response,
    same_url,
    sse_from_lines,
)
from tests.helpers.streams import (
    CHUNKINGS,
    Pieces,
    all_chunkings,
    bytewise,
    cut,
    eventstream_frames,
    per_event,
    random_sizes,
    random_split,
    split_at,
)

SSE = b'data: {"a": 1}\n\nevent: e\r\ndata: {"b": "caf\xc3\xa9"}\r\n\r\ndata: [DONE]\r\r'


def frame(payload: bytes, headers: bytes = b'') -> bytes:
    """One AWS event-stream message: prelude (lengths, CRC), headers, payload, message CRC."""
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack('>II', total, len(headers))
    prelude += struct.pack('>I', zlib.crc32(prelude))
    message = prelude + headers + payload
    return message + struct.pack('>I', zlib.crc32(message))


# --------------------------------------------------------------------------------------------
# Byte-piece streams
# --------------------------------------------------------------------------------------------


def test_every_chunking_keeps_every_byte() -> None:
    for name, pieces in all_chunkings(SSE):
        assert b''.join(pieces) == SSE, name
        assert all(pieces), name
    assert [name for name, _ in all_chunkings(SSE, seeds=range(2))] == [
        'whole',
        'per-event',
        '1-16KiB',
        '1-64B',
        'random#0',
        'random#1',
        'bytewise',
    ]
    assert set(CHUNKINGS) == {'whole', 'per-event', '1-16KiB', '1-64B', 'random', 'bytewise'}


def test_per_event_cuts_after_each_blank_line_whatever_the_line_ends() -> None:
    assert per_event(SSE) == [
        b'data: {"a": 1}\n\n',
        b'event: e\r\ndata: {"b": "caf\xc3\xa9"}\r\n\r\n',
        b'data: [DONE]\r\r',
    ]
    assert per_event(b'data: a\n\ndata: unfinished') == [b'data: a\n\n', b'data: unfinished']


def test_random_cuts_are_seeded_and_bounded() -> None:
    body = bytes(range(256)) * 40
    assert random_split(body, 3) == random_split(body, 3)
    assert random_split(body, 3) != random_split(body, 4)
    assert 2 <= len(random_split(body, 3)) <= 41
    sizes = [len(p) for p in random_sizes(body, 1, 64, seed=1)]
    assert max(sizes) <= 64
    assert min(sizes[:-1]) >= 1
    assert random_split(b'x', 0) == [b'x']
    assert bytewise(b'abc') == [b'a', b'b', b'c']
    assert split_at(b'abcdef', [4, 2, 2, 0, 99]) == [b'ab', b'cd', b'ef']


def test_event_stream_bodies_cut_per_frame() -> None:
    body = frame(b'{"x": 1}', b'\x05:type\x07\x00\x01a') + frame(b'')
    assert cut(body, 'per-event', framing='eventstream') == eventstream_frames(body)
    assert [len(f) for f in eventstream_frames(body)] == [len(body) - 16, 16]
    with pytest.raises(ValueError, match='claims'):
        eventstream_frames(body[:-1])
    with pytest.raises(ValueError, match='not a whole prelude'):
        eventstream_frames(body + b'\x00\x00')
    with pytest.raises(ValueError, match='unknown chunking'):
        cut(body, 'per-line')


@pytest.mark.anyio
async def test_pieces_serve_a_body_in_its_pieces() -> None:
    stream = Pieces([b'ab', b'c'])
    response = httpx.Response(200, stream=stream)
    assert [piece async for piece in response.aiter_raw()] == [b'ab', b'c']
    assert stream.exhausted
    await response.aclose()
    assert stream.closed


# --------------------------------------------------------------------------------------------
# The loader, one hand-written file per format
# --------------------------------------------------------------------------------------------


def write_yaml(path: Path, document: object, *, gzipped: bool = False) -> Path:
    text = yaml.safe_dump(document, allow_unicode=True).encode()
    path.write_bytes(gzip.compress(text) if gzipped else text)
    return path


def test_f1_parsed_bodies_come_back_as_json_dumps_and_streams_verbatim(tmp_path: Path) -> None:
    request = {'model': 'm', 'stream': True, 'messages': [{'role': 'user', 'content': 'hi'}]}
    document = {
        'interactions': [
            {
                'request': {
                    'method': 'POST',
                    'uri': 'https://api.example.com/v1/chat/completions',
                    'headers': {'content-type': ['application/json']},
                    'parsed_body': request,
                },
                'response': {
                    'status': {'code': 200, 'message': 'OK'},
                    'headers': {'content-type': ['text/event-stream'], 'content-length': ['9']},
                    'body': {'string': SSE.decode()},
                },
            },
            {
                'request': {'method': 'POST', 'uri': 'https://api.example.com/v1/x', 'parsed_body': {}},
                'response': {
                    'status': {'code': 400, 'message': 'Bad Request'},
                    'headers': {'content-type': ['application/json']},
                    'parsed_body': {'error': {'message': 'no'}},
                },
            },
        ]
    }
    recording = load_recording(write_yaml(tmp_path / 'f1.yaml', document), tmp_path)
    assert recording.format == 'F1'
    streamed, failed = recording.interactions
    assert streamed.source == 'f1.yaml#0'
    assert streamed.request is not None
    # As pydantic-ai's serializer gives it back: json.dumps of the mapping, keys as YAML sorted them.
    assert streamed.request.body == json.dumps(request, sort_keys=True).encode()
    assert streamed.request.streamed
    assert streamed.response.body == SSE
    assert streamed.response.kind == 'sse'
    assert streamed.streamed
    assert 'content-length' not in streamed.response.replay_headers()
    assert failed.response.status == 400
    assert failed.response.json() == {'error': {'message': 'no'}}
    assert not failed.streamed


def test_f2_gzip_binary_bodies_are_decompressed(tmp_path: Path) -> None:
    body = b'{"id": "x", "choices": []}'
    document = {
        'interactions': [
            {
                'request': {
                    'method': 'POST',
                    'uri': 'https://api.example.com/v1/c',
                    'body': '{"model": "m"}',
                },
                'response': {
                    'status': {'code': 200, 'message': 'OK'},
                    'headers': {'Content-Type': ['application/json'], 'Content-Encoding': ['gzip']},
                    'body': {'string': gzip.compress(body)},
                },
            }
        ]
    }
    recording = load_recording(write_yaml(tmp_path / 'f2.yaml', document))
    assert recording.format == 'F2'
    (interaction,) = recording.interactions
    assert interaction.response.body == body
    assert interaction.response.stored[:2] == b'\x1f\x8b'
    assert interaction.response.headers['content-encoding'] == 'gzip'
    assert 'content-encoding' not in interaction.response.replay_headers()
    assert interaction.request is not None
    assert interaction.request.json() == {'model': 'm'}


def test_f3_redacted_headers_and_event_stream_bodies(tmp_path: Path) -> None:
    stream = frame(b'{"role": "assistant"}') + frame(b'{"stopReason": "end_turn"}')
    redacted = {'Content-Type': [REDACTED], 'Content-Length': [REDACTED]}
    document = {
        'requests': [
            {
                'method': 'POST',
                'uri': 'https://bedrock-runtime.us-west-2.amazonaws.com/model/m%3A0/converse-stream',
                'headers': redacted,
                'body': b'{"messages": []}',
            }
        ],
        'responses': [
            {
                'status': {'code': 200, 'message': 'OK'},
                'headers': {'Content-Type': REDACTED},
                'body': {'string': stream},
            }
        ],
    }
    recording = load_recording(write_yaml(tmp_path / 'f3.yaml.gz', document, gzipped=True))
    assert recording.format == 'F3'
    (interaction,) = recording.interactions
    response = interaction.response
    assert response.kind == 'eventstream'
    assert response.body == stream
    assert response.content_type == 'application/vnd.amazon.eventstream'
    assert response.replay_headers() == {'content-type': 'application/vnd.amazon.eventstream'}
    assert interaction.request is not None
    assert interaction.request.streamed  # from the endpoint: the body says nothing
    assert interaction.request.url.path.endswith('/m:0/converse-stream')


def test_f4_lines_become_events_and_an_sse_body(tmp_path: Path) -> None:
    path = tmp_path / 'x.chunks.txt'
    path.write_text('{"a": 1}\n\n{"b": 2}\n', encoding='utf-8')
    recording = load_recording(path)
    assert recording.format == 'F4'
    (interaction,) = recording.interactions
    assert interaction.request is None
    assert interaction.response.events == ({'a': 1}, {'b': 2})
    assert interaction.response.body == b'data: {"a": 1}\n\ndata: {"b": 2}\n\n'
    assert interaction.response.body == sse_from_lines(['{"a": 1}', '', '{"b": 2}'])
    assert interaction.streamed


def test_f5_raw_bodies_and_metadata(tmp_path: Path) -> None:
    (tmp_path / 'a.sse').write_bytes(SSE)
    (tmp_path / 'a.json').write_bytes(b'{"ok": true}')
    (tmp_path / 'metadata.json').write_text('{"endpoint": "https://api.example.com"}')
    (sse,) = load_recording(tmp_path / 'a.sse').interactions
    assert (sse.response.kind, sse.response.body) == ('sse', SSE)
    (body,) = load_recording(tmp_path / 'a.json').interactions
    assert body.response.json() == {'ok': True}
    metadata = load_recording(tmp_path / 'metadata.json')
    assert metadata.interactions == []
    assert metadata.metadata == {'endpoint': 'https://api.example.com'}
    with pytest.raises(ValueError, match='not a recording format'):
        load_recording(tmp_path / 'README.md')


def test_interaction_params_without_recordings_still_gives_one_per_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv('MODELKIT_WIRE_FIXTURES', str(tmp_path / 'absent'))
    params = interaction_params(['a.yaml', 'b.yaml'])
    assert [p.values for p in params] == [('a.yaml', 0), ('b.yaml', 0)]


# --------------------------------------------------------------------------------------------
# Replay
# --------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_replay_transport_answers_in_order_and_checks_requests(tmp_path: Path) -> None:
    document = {
        'interactions': [
            {
                'request': {
                    'method': 'POST',
                    'uri': f'https://api.example.com/v1/x?alt=sse&n={n}',
                    'body': '',
                },
                'response': {
                    'status': {'code': 200, 'message': 'OK'},
                    'headers': {'content-type': ['text/event-stream']},
                    'body': {'string': SSE.decode()},
                },
            }
            for n in (1, 2)
        ]
    }
    interactions = load_recording(write_yaml(tmp_path / 'r.yaml', document)).interactions
    transport = ReplayTransport(interactions, rechunk=per_event)
    async with httpx.AsyncClient(transport=transport) as client:
        for n in (1, 2):
            async with client.stream('POST', f'https://api.example.com/v1/x?n={n}&alt=sse') as response:
                assert [p async for p in response.aiter_raw()] == per_event(SSE)
        with pytest.raises(AssertionError, match='was not recorded'):
            await client.post('https://api.example.com/v1/x')
    assert [str(r.url) for r in transport.sent][:2] == [
        'https://api.example.com/v1/x?n=1&alt=sse',
        'https://api.example.com/v1/x?n=2&alt=sse',
    ]
    answer = recorded_response(interactions[0].response, [b'da', b'ta'], body=b'data')
    assert answer.status_code == 200
    assert same_url(httpx.URL('https://h/a%3Ab?x=1&y=2'), httpx.URL('https://h/a:b?y=2&x=1'))
    assert not same_url(httpx.URL('https://h/a?x=1'), httpx.URL('https://h/a?x=2'))
