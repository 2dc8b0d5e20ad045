"""Every file of the recorded traffic loads, for every vendor, so conformance tests can rely on it.

For each interaction of each recording: the status, the headers and the body bytes can be read,
a JSON body parses, a streamed body's raw bytes are what its framing says (SSE events that decode,
event-stream messages whose lengths and CRCs check, a JSON array), and a replay serves exactly
those bytes. The event-stream test vectors load as encoded bytes plus their expected decoding.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import anyio
import httpx
import pytest

from modelkit.parsers.sse import SSEDecoder
from tests.helpers.cassettes import (
    REDACTED,
    Interaction,
    ReplayTransport,
    interaction_params,
    load_interactions,
    load_recording,
    load_vector,
    recording_paths,
    sse_from_lines,
    vector_names,
    wire_fixtures_dir,
)
from tests.helpers.streams import eventstream_frames, per_event, random_split

VENDORS = (
    'anthropic',
    'bedrock',
    'cohere',
    'gemini-gla',
    'gemini-vertex',
    'groq',
    'mistral',
    'openai-chat',
)


def _all_recordings() -> list[str]:
    root = wire_fixtures_dir()
    return recording_paths(root) if root is not None else ['(absent)']


def test_every_file_is_a_recording_or_a_vector(wire_fixtures: Path) -> None:
    files = {str(p.relative_to(wire_fixtures)) for p in wire_fixtures.rglob('*') if p.is_file()}
    vectors = {
        f'aws-eventstream-vectors/{side}/{name}'
        for name in vector_names(wire_fixtures)
        for side in ('encoded', 'decoded')
    }
    assert files == {'README.md', *recording_paths(wire_fixtures), *vectors}
    formats = {load_recording(wire_fixtures / name).format for name in recording_paths(wire_fixtures)}
    assert formats == {'F1', 'F2', 'F3', 'F4', 'F5'}
    for vendor in VENDORS:
        assert recording_paths(wire_fixtures, vendor), f'no recordings for {vendor}'


def _check_eventstream(body: bytes, source: str) -> None:
    frames = eventstream_frames(body)
    assert frames, source
    assert b''.join(frames) == body
    for frame in frames:
        assert zlib.crc32(frame[:8]) == int.from_bytes(frame[8:12], 'big'), f'{source}: prelude CRC'
        assert zlib.crc32(frame[:-4]) == int.from_bytes(frame[-4:], 'big'), f'{source}: message CRC'


def _check_sse(body: bytes, source: str) -> None:
    text = body.decode('utf-8')  # SSE is UTF-8 (WHATWG); a recording that is not would fail here
    assert text.strip(), source
    assert b''.join(per_event(body)) == body
    decoder = SSEDecoder()
    events = decoder.feed(body) + decoder.close()
    assert events, source
    assert not decoder.truncated, f'{source}: ends inside an event'


def _check_interaction(interaction: Interaction) -> None:
    source = interaction.source
    response = interaction.response
    assert 100 <= response.status <= 599, source
    assert all(name == name.lower() for name in response.headers), source
    assert isinstance(response.body, bytes)
    if response.events is None:
        assert response.stored == response.body or response.stored[:2] == b'\x1f\x8b', source
    else:
        assert response.body == sse_from_lines(response.stored.decode().splitlines()), source
    replay = response.replay_headers()
    assert REDACTED not in replay.values()
    assert 'content-encoding' not in replay
    assert replay['content-type'] == response.content_type
    if response.status >= 400:
        assert response.kind == 'json', f'{source}: every recorded error is a JSON body'
    if response.kind == 'json':
        assert isinstance(response.json(), dict), source
    elif response.kind == 'json-array':
        assert isinstance(response.json(), list), source
    elif response.kind == 'sse':
        _check_sse(response.body, source)
    elif response.kind == 'eventstream':
        _check_eventstream(response.body, source)
    else:
        raise AssertionError(f'{source}: unexpected body kind {response.kind!r}')
    if response.events is not None:
        # F4: one parsed payload per line, and the body carries each as one SSE event.
        assert len(per_event(response.body)) == len(response.events) > 0, source
    request = interaction.request
    if request is not None:
        assert request.method in ('GET', 'POST'), source
        assert request.url.scheme == 'https', source
        assert request.url.host, source
        assert all(name == name.lower() for name in request.headers), source
        if request.body:
            assert isinstance(request.json(), dict), f'{source}: request bodies are JSON objects'
        # What the request asked for and what the body was sniffed as agree (F3 redacts content-type).
        if request.streamed and response.status < 400:
            assert response.is_stream, f'{source}: a stream was asked for, {response.kind} came back'
        if response.is_stream:
            assert request.streamed, f'{source}: a {response.kind} body for a request that is not a stream'


@pytest.mark.parametrize('name', _all_recordings())
def test_recording_loads(wire_fixtures: Path, name: str) -> None:
    recording = load_recording(wire_fixtures / name, wire_fixtures)
    if recording.format == 'F5' and not recording.interactions:
        assert recording.metadata is not None
        assert recording.metadata['endpoint'].startswith('https://')
        return
    assert recording.interactions, name
    for interaction in recording.interactions:
        _check_interaction(interaction)


@pytest.mark.anyio
@pytest.mark.parametrize(('name', 'index'), interaction_params(_all_recordings()))
async def test_replay_serves_the_recorded_bytes(wire_fixtures: Path, name: str, index: int) -> None:
    interaction = load_interactions(wire_fixtures, name)[index]
    response = interaction.response
    transport = ReplayTransport([interaction], rechunk=lambda body: random_split(body, index))
    request = interaction.request
    method, url = (request.method, request.uri) if request is not None else ('POST', 'https://x.invalid/')
    content = request.body if request is not None else b''
    async with (
        httpx.AsyncClient(transport=transport) as client,
        client.stream(method, url, content=content) as answer,
    ):
        pieces = [piece async for piece in answer.aiter_raw()]
    assert answer.status_code == response.status
    assert answer.headers['content-type'] == response.content_type
    assert b''.join(pieces) == response.body
    assert len(pieces) > 1 or len(response.body) < 2
    assert transport.sent[0].method == method


def test_event_stream_vectors_load(wire_fixtures: Path) -> None:
    names = vector_names(wire_fixtures)
    assert {name.split('/')[0] for name in names} == {'positive', 'negative'}
    for name in names:
        vector = load_vector(wire_fixtures, name)
        if vector.positive:
            assert vector.decoded is not None
            assert vector.decoded['total_length'] == len(vector.encoded)
            _check_eventstream(vector.encoded, name)
            assert vector.payload == vector.encoded[12 + vector.decoded['headers_length'] : -4]
        else:
            assert vector.error in ('Prelude checksum mismatch', 'Message checksum mismatch')


def test_replay_transport_rejects_a_request_not_recorded(wire_fixtures: Path) -> None:
    (interaction,) = load_interactions(wire_fixtures, 'openai-chat/pydantic-ai/test_valid_response.yaml')

    async def send(url: str) -> None:
        async with httpx.AsyncClient(transport=ReplayTransport([interaction])) as client:
            await client.post(url, content=b'{}')

    with pytest.raises(
        AssertionError, match=re.escape('recorded POST https://api.openai.com/v1/chat/completions')
    ):
        anyio.run(send, 'https://api.openai.com/v1/completions')
    assert json.loads(interaction.response.body)['object'] == 'chat.completion'
