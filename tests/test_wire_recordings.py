"""Every payload in the recorded vendor traffic validates against our wire schemas.

For each vendor folder of `../shared/wire-fixtures/` (README there): every recorded request body
against the vendor's request model, every JSON response against its response or error model (by
status), every SSE `data:` payload, every element of a streamed JSON array (Gemini without
`alt=sse`), every decoded Bedrock event (vercel's `*.chunks.txt`) against the stream model. Bedrock's
binary event-stream bodies are decoded with `modelkit.parsers.eventstream` where that module exists.

This checks the schemas accept real traffic (unknown fields and types included); the interfaces'
conformance tests check what is read out of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from modelkit.wire import anthropic, bedrock, cohere, gemini, groq, mistral
from tests.helpers.cassettes import load_recording, recording_paths

# --------------------------------------------------------------------------------------------
# What each vendor's payloads are checked against
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VendorModels:
    request: type[BaseModel]
    response: type[BaseModel]
    stream_event: type[BaseModel]
    error: type[BaseModel]
    is_call: Callable[[str], bool] = lambda uri: True
    """Which recorded URIs are calls of the API (Vertex cassettes also hold OAuth token exchanges)."""
    normalize_request: Callable[[Any], Any] = lambda body: body


def _camel_keys(value: Any) -> Any:
    """Google's JSON mapping of protobuf accepts a field's proto name (`include_thoughts`) as well
    as its JSON name (`includeThoughts`); google-genai sends the former, our models declare the latter."""
    if isinstance(value, dict):
        return {re.sub(r'_([a-z])', lambda m: m[1].upper(), k): _camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


_GEMINI = VendorModels(
    gemini.GenerateContentRequest,
    gemini.GenerateContentResponse,
    gemini.GenerateContentResponse,
    gemini.ErrorResponse,
    is_call=lambda uri: 'generateContent' in uri or 'GenerateContent' in uri,
    normalize_request=_camel_keys,
)

VENDORS: dict[str, VendorModels] = {
    'anthropic': VendorModels(
        anthropic.MessagesRequest, anthropic.Message, anthropic.MessageStreamEvent, anthropic.ErrorResponse
    ),
    'gemini-gla': _GEMINI,
    'gemini-vertex': _GEMINI,
    'cohere': VendorModels(
        cohere.ChatRequest, cohere.ChatResponse, cohere.StreamedChatEvent, cohere.ErrorResponse
    ),
    'bedrock': VendorModels(
        bedrock.ConverseRequest, bedrock.ConverseResponse, bedrock.ConverseStreamOutput, bedrock.ErrorResponse
    ),
    'groq': VendorModels(
        groq.GroqChatCompletionRequest,
        groq.GroqChatCompletion,
        groq.GroqStreamPayload,
        groq.GroqErrorResponse,
    ),
    'mistral': VendorModels(
        mistral.MistralChatCompletionRequest,
        mistral.MistralChatCompletion,
        mistral.MistralChatCompletionChunk,
        mistral.MistralErrorResponse,
    ),
}


# --------------------------------------------------------------------------------------------
# Reading the recordings (formats F1-F5 of the fixture README)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """One JSON payload found in a recording, with what it must validate as."""

    where: str
    kind: str  # 'request' | 'response' | 'stream_event' | 'error' | 'eventstream'
    data: Any


def _sse_data(text: str) -> Iterator[str]:
    """The `data:` payload of each SSE event (WHATWG: lines joined with LF), `[DONE]` left out."""
    for block in re.split(r'\r?\n\r?\n', text):
        lines = [line[5:].removeprefix(' ') for line in re.split(r'\r?\n', block) if line.startswith('data:')]
        if lines and (data := '\n'.join(lines)).strip() != '[DONE]':
            yield data


def _response_payloads(where: str, status: int, body: bytes) -> Iterator[Payload]:
    if not body.strip():
        return
    if status >= 400:
        yield Payload(where, 'error', json.loads(body))
        return
    if body[:1] == b'\x00':  # an AWS event stream: the prelude's big-endian total length
        yield Payload(where, 'eventstream', body)
        return
    if body[:1] not in (b'{', b'['):
        for data in _sse_data(body.decode()):
            yield Payload(where, 'stream_event', json.loads(data))
        return
    document = json.loads(body)
    if isinstance(document, list):  # Gemini's streamed JSON array (no alt=sse)
        for item in document:
            yield Payload(where, 'stream_event', item)
    else:
        yield Payload(where, 'response', document)


def _request_payload(where: str, body: bytes) -> Iterator[Payload]:
    if body.strip():
        yield Payload(where, 'request', json.loads(body))


def recorded_payloads(root: Path, folder: str) -> Iterator[Payload]:
    """Every payload of every recording in `root/folder`, read by the shared cassette loader."""
    vendor = VENDORS[folder]
    for name in recording_paths(root, folder):
        for interaction in load_recording(root / name, root).interactions:
            where = interaction.source
            request, response = interaction.request, interaction.response
            if request is not None:
                if not vendor.is_call(request.uri):
                    continue
                yield from _request_payload(f'{where} request', request.body)
            if response.events is not None:  # F4: one decoded event per line
                for number, event in enumerate(response.events):
                    yield Payload(f'{where}:{number + 1}', 'stream_event', event)
            else:
                yield from _response_payloads(f'{where} response', response.status, response.body)


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def _eventstream_events(body: bytes) -> list[dict[str, Any]] | None:
    """`{event-type: payload}` per message of a Bedrock event stream, or None without our decoder."""
    try:
        from modelkit.parsers.eventstream import EventStreamDecoder
    except ImportError:
        return None
    decoder = EventStreamDecoder()
    messages = [*decoder.feed(body), *decoder.close()]
    events = []
    for message in messages:
        headers = message.headers
        name = headers.get(':event-type') or headers.get(':exception-type')
        events.append({str(name): json.loads(message.payload)})
    return events


def _validate(model: type[BaseModel], data: Any, where: str, failures: list[str]) -> None:
    try:
        model.model_validate(data)
        model.model_validate_json(json.dumps(data))
    except ValueError as exc:
        failures.append(f'{where} ({model.__name__}): {exc}')


@pytest.mark.parametrize('folder', list(VENDORS))
def test_every_recorded_payload_validates(folder: str, wire_fixtures: Path) -> None:
    vendor = VENDORS[folder]
    counts: dict[str, int] = {}
    failures: list[str] = []
    for payload in recorded_payloads(wire_fixtures, folder):
        if payload.kind == 'eventstream':
            continue  # binary frames: the test below
        data = vendor.normalize_request(payload.data) if payload.kind == 'request' else payload.data
        _validate(getattr(vendor, payload.kind), data, payload.where, failures)
        counts[payload.kind] = counts.get(payload.kind, 0) + 1
    assert not failures, '\n'.join(failures)
    assert counts.get('response', 0) + counts.get('stream_event', 0) > 0, f'no response found under {folder}'


def test_recorded_bedrock_event_streams_validate(wire_fixtures: Path) -> None:
    bodies = [p for p in recorded_payloads(wire_fixtures, 'bedrock') if p.kind == 'eventstream']
    assert bodies, 'no binary event-stream body found under bedrock/'
    failures: list[str] = []
    for payload in bodies:
        events = _eventstream_events(payload.data)
        if events is None:
            pytest.skip(
                f'{len(bodies)} binary event-stream bodies not checked: modelkit.parsers.eventstream '
                '(the AWS event-stream decoder) is not in this branch'
            )
        for number, event in enumerate(events):
            _validate(bedrock.ConverseStreamOutput, event, f'{payload.where} event {number}', failures)
            ((name, body),) = event.items()
            if model := bedrock.STREAM_EVENT_MODELS.get(name):
                _validate(model, body, f'{payload.where} event {number}', failures)
    assert not failures, '\n'.join(failures)
