"""Recorded vendor traffic: finding it, loading every format in it, and replaying it to a model.

The recordings live outside the repository, in ../shared/wire-fixtures (`MODELKIT_WIRE_FIXTURES`
overrides the place; its README describes the formats). `load_recording(path)` reads any file
there into `Interaction`s, whatever its format:

- F1, pydantic-ai's VCR cassettes: JSON bodies under `parsed_body`, rebuilt as `json.dumps` gives
  them back (not the original wire bytes: keys sorted, `", "` / `": "` separators);
- F2, stock vcrpy cassettes: bodies verbatim, gzip bodies as `!!binary` (decompressed here);
- F3, langchain-tests cassettes (`*.yaml.gz`): parallel `requests:` / `responses:` lists, every
  header value `**REDACTED**`, bodies `!!binary`;
- F4, vercel/ai `*.chunks.txt`: one decoded stream payload per line, response only; `events` holds
  them parsed and `body` is them as SSE (`data: <line>` and a blank line each, as the README says);
  a Bedrock file's lines are decoded event-stream messages, to be encoded before replaying as bytes;
- F5, raw bodies: `*.sse` (an SSE response body), `*.json` (a JSON response body), and the
  `metadata.json` that describes their requests (kept as `Recording.metadata`, no interaction).

The AWS event-stream test vectors (`aws-eventstream-vectors/`) are not traffic: `load_vector(name)`
reads one as encoded bytes plus its expected decoding (or error text).

`wire_fixtures_dir()` finds the directory; `require_wire_fixtures()` skips a test where it is absent
but fails under CI=true; `interaction_params(...)` parametrizes a test over every interaction of the
named recordings. `recorded_response`, `respx_route` and `ReplayTransport` serve a recorded response
to a model, in the given pieces (see `tests.helpers.streams`).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import yaml

from .ci import skip_unless_ci
from .streams import Pieces

__all__ = (
    'REDACTED',
    'WIRE_FIXTURES_ENV',
    'BodyKind',
    'EventStreamVector',
    'Interaction',
    'Rechunk',
    'RecordedRequest',
    'RecordedResponse',
    'Recording',
    'ReplayTransport',
    'interaction_params',
    'load_interactions',
    'load_recording',
    'load_vector',
    'recorded_response',
    'recording_paths',
    'require_wire_fixtures',
    'respx_route',
    'same_url',
    'sse_from_lines',
    'vector_names',
    'wire_fixtures_dir',
)

REPO_ROOT = Path(__file__).resolve().parents[2]
WIRE_FIXTURES_ENV = 'MODELKIT_WIRE_FIXTURES'
"""Overrides where the recorded vendor traffic is read from (default: ../shared/wire-fixtures)."""
REDACTED = '**REDACTED**'
"""The value F3 cassettes put in place of every header value."""

BodyKind = Literal['empty', 'json', 'json-array', 'sse', 'eventstream', 'text']
"""What a body holds, as far as a parser is concerned (sniffed where content-type was redacted)."""

# Response headers that describe the stored bytes, not the body we replay (decompressed, whole).
_TRANSFER_HEADERS = ('content-encoding', 'content-length', 'transfer-encoding')
_STREAM_TYPES = {'text/event-stream': 'sse', 'application/vnd.amazon.eventstream': 'eventstream'}
_NOT_RECORDINGS = {'README.md'}
_VECTORS_DIR = 'aws-eventstream-vectors'


# --------------------------------------------------------------------------------------------
# Where the recordings are
# --------------------------------------------------------------------------------------------


def wire_fixtures_dir() -> Path | None:
    """Where the recorded vendor traffic is, or None where it is absent (a user's clone)."""
    path = Path(os.environ.get(WIRE_FIXTURES_ENV) or REPO_ROOT.parent / 'shared' / 'wire-fixtures')
    return path if path.is_dir() else None


def require_wire_fixtures() -> Path:
    """The recorded traffic directory; skips the calling test where absent, fails it under CI=true."""
    path = wire_fixtures_dir()
    if path is None:
        skip_unless_ci(
            f'recorded wire fixtures not found (set {WIRE_FIXTURES_ENV} or clone ../shared beside the repo)'
        )
    return path


def recording_paths(root: Path, *folders: str) -> list[str]:
    """Every recording file under `folders` of `root` (all of them if none), relative, sorted.

    The README and the event-stream test vectors are left out (`vector_names` lists those).
    """
    tops = [root / folder for folder in folders] if folders else [root]
    found = {
        str(path.relative_to(root))
        for top in tops
        for path in top.rglob('*')
        if path.is_file() and path.name not in _NOT_RECORDINGS
    }
    return sorted(name for name in found if not name.startswith(_VECTORS_DIR + '/'))


def interaction_params(names: Iterable[str]) -> list[Any]:
    """`pytest.param(name, index)` for every interaction of every named recording, for parametrize.

    Where the recordings are absent, one param per name with index 0, so the test still runs and
    `require_wire_fixtures` (or the `wire_fixtures` fixture) skips it, or fails it under CI.
    """
    root = wire_fixtures_dir()
    params = []
    for name in names:
        path = root / name if root is not None else None
        count = len(load_recording(path).interactions) if path is not None and path.is_file() else 1
        params.extend(pytest.param(name, index, id=f'{name}#{index}') for index in range(count))
    return params


# --------------------------------------------------------------------------------------------
# What a recording holds
# --------------------------------------------------------------------------------------------


def _sniff(body: bytes, content_type: str) -> BodyKind:
    media = content_type.split(';', 1)[0].strip().lower()
    if not body:
        return 'empty'
    if media in _STREAM_TYPES:
        return _STREAM_TYPES[media]  # type: ignore[return-value]
    head = body.lstrip()[:1]
    if media.endswith('json') or not media or media == REDACTED.lower():
        if head == b'{':
            return 'json'
        if head == b'[':
            return 'json-array'
    if body.startswith((b'data:', b'event:', b'id:', b':', b'retry:')):
        return 'sse'
    if len(body) >= 16 and int.from_bytes(body[:4], 'big') <= len(body) and body[:1] == b'\x00':
        return 'eventstream'
    return 'text'


@dataclass(frozen=True)
class RecordedRequest:
    """A request as recorded: method, URL, headers (names lower-cased) and body bytes."""

    method: str
    uri: str
    headers: dict[str, str]
    body: bytes

    @property
    def url(self) -> httpx.URL:
        """The recorded URL, parsed."""
        return httpx.URL(self.uri)

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.body)

    @property
    def streamed(self) -> bool:
        """Whether the request asked for a stream (a `stream: true` body or a streaming endpoint)."""
        path = self.url.path
        if path.endswith((':streamGenerateContent', '/converse-stream', '/invoke-with-response-stream')):
            return True
        try:
            body = self.json()
        except ValueError:
            return False
        return isinstance(body, dict) and body.get('stream') is True


@dataclass(frozen=True)
class RecordedResponse:
    """A response as recorded: status, headers (names lower-cased), the body, and what it holds.

    `body` is what the vendor sent once decompressed (what a client reads); `stored` is the bytes as
    the recording keeps them (gzip for some F2 cassettes), so the two differ only for those.
    """

    status: int
    headers: dict[str, str]
    body: bytes
    stored: bytes
    kind: BodyKind
    events: tuple[Any, ...] | None = None
    """F4 only: each line's payload, parsed (for Bedrock, `{event_type: payload}`)."""

    @property
    def content_type(self) -> str:
        """The content type, from the headers where recorded, else what the body was sniffed as."""
        value = self.headers.get('content-type', '')
        if value and value != REDACTED:
            return value
        return {
            'json': 'application/json',
            'json-array': 'application/json',
            'sse': 'text/event-stream',
            'eventstream': 'application/vnd.amazon.eventstream',
        }.get(self.kind, 'text/plain')

    @property
    def is_stream(self) -> bool:
        """Whether the body is a stream: SSE, event-stream, or a streamed JSON array."""
        return self.kind in ('sse', 'eventstream', 'json-array')

    def json(self) -> Any:
        """The body parsed as JSON (a JSON or JSON-array body)."""
        return json.loads(self.body)

    def replay_headers(self) -> dict[str, str]:
        """Headers to answer with: no transfer headers (the body is served whole and decoded), no
        redacted values, and the content type (sniffed where it was redacted)."""
        headers = {
            name: value
            for name, value in self.headers.items()
            if name not in _TRANSFER_HEADERS and value != REDACTED
        }
        headers['content-type'] = self.content_type
        return headers


@dataclass(frozen=True)
class Interaction:
    """One recorded request and its response; `request` is None for response-only files (F4, F5)."""

    source: str
    """The recording's path relative to the fixture directory (or as given), and `#index`."""
    request: RecordedRequest | None
    response: RecordedResponse

    @property
    def streamed(self) -> bool:
        """Whether this exchange is a stream (the request asked for one, or the body is one)."""
        return self.response.is_stream or (self.request is not None and self.request.streamed)


@dataclass
class Recording:
    """A loaded recording file: its format (F1-F5), interactions, and any metadata (F5)."""

    path: Path
    format: Literal['F1', 'F2', 'F3', 'F4', 'F5']
    interactions: list[Interaction] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    """F5 `metadata.json`: the recording's description of the requests (endpoint, model, prompt)."""


def _header_map(raw: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in (raw or {}).items():
        values = value if isinstance(value, list) else [value]
        text = ', '.join(v.decode('latin-1') if isinstance(v, bytes) else str(v) for v in values)
        headers[str(name).lower()] = text
    return headers


def _stored_body(side: dict[str, Any]) -> bytes:
    if 'parsed_body' in side:
        # What pydantic-ai's serializer gives back on load: json.dumps of the stored mapping.
        return json.dumps(side['parsed_body']).encode()
    body = side.get('body')
    if isinstance(body, dict):
        body = body.get('string')
    if body is None:
        return b''
    return body if isinstance(body, bytes) else str(body).encode()


def _decoded(stored: bytes, encoding: str, source: str) -> bytes:
    encoding = encoding.strip().lower()
    if stored[:2] == b'\x1f\x8b':
        return gzip.decompress(stored)
    if encoding == 'deflate':
        return zlib.decompress(stored)
    if encoding in ('', 'identity', 'gzip', REDACTED.lower()):
        return stored  # stored decompressed (F1 drops the header; others say gzip but are not)
    raise ValueError(f'{source}: cannot decode a {encoding!r} body')


def _response(side: dict[str, Any], source: str) -> RecordedResponse:
    headers = _header_map(side.get('headers'))
    stored = _stored_body(side)
    body = _decoded(stored, headers.get('content-encoding', ''), source)
    status = side.get('status') or {}
    code = status.get('code') if isinstance(status, dict) else status
    if not isinstance(code, int):
        raise ValueError(f'{source}: response without a status code')
    return RecordedResponse(code, headers, body, stored, _sniff(body, headers.get('content-type', '')))


def _request(side: dict[str, Any], source: str) -> RecordedRequest:
    headers = _header_map(side.get('headers'))
    stored = _stored_body(side)
    body = _decoded(stored, headers.get('content-encoding', ''), source)
    return RecordedRequest(str(side['method']).upper(), str(side['uri']), headers, body)


def _pairs(document: Any, source: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    if not isinstance(document, dict):
        raise ValueError(f'{source}: not a cassette')
    if 'interactions' in document:
        return [(item['request'], item['response']) for item in document['interactions']]
    requests, responses = document.get('requests'), document.get('responses')
    if not isinstance(requests, list) or not isinstance(responses, list) or len(requests) != len(responses):
        raise ValueError(f'{source}: neither interactions nor matching requests/responses lists')
    return list(zip(requests, responses, strict=True))


def _cassette_format(document: dict[str, Any], gzipped: bool) -> Literal['F1', 'F2', 'F3']:
    if gzipped or 'interactions' not in document:
        return 'F3'
    for item in document['interactions']:
        if 'parsed_body' in item['request'] or 'parsed_body' in item['response']:
            return 'F1'
        if any(str(name) != str(name).lower() for name in item['response'].get('headers') or {}):
            return 'F2'
    return 'F1'


def sse_from_lines(lines: Iterable[str]) -> bytes:
    """An SSE body carrying each non-empty line as one `data:` event (how to replay an F4 file)."""
    return b''.join(b'data: ' + line.encode() + b'\n\n' for line in lines if line.strip())


def load_recording(path: Path, root: Path | None = None) -> Recording:
    """Load any recording file (F1-F5, by its name and contents) into its interactions."""
    source = str(path.relative_to(root)) if root is not None else str(path)
    name = path.name
    if name.endswith('.chunks.txt'):
        lines = path.read_text(encoding='utf-8').splitlines()
        events = tuple(json.loads(line) for line in lines if line.strip())
        body = sse_from_lines(lines)
        headers = {'content-type': 'text/event-stream'}
        response = RecordedResponse(200, headers, body, path.read_bytes(), 'sse', events)
        return Recording(path, 'F4', [Interaction(f'{source}#0', None, response)])
    if name == 'metadata.json':
        return Recording(path, 'F5', [], json.loads(path.read_bytes()))
    if name.endswith(('.sse', '.json')):
        raw = path.read_bytes()
        content_type = 'text/event-stream' if name.endswith('.sse') else 'application/json'
        response = RecordedResponse(200, {'content-type': content_type}, raw, raw, _sniff(raw, content_type))
        return Recording(path, 'F5', [Interaction(f'{source}#0', None, response)])
    if name.endswith(('.yaml', '.yml', '.yaml.gz')):
        raw = path.read_bytes()
        gzipped = raw[:2] == b'\x1f\x8b'
        document = yaml.safe_load((gzip.decompress(raw) if gzipped else raw).decode('utf-8'))
        interactions = [
            Interaction(f'{source}#{i}', _request(rq, f'{source}#{i}'), _response(rs, f'{source}#{i}'))
            for i, (rq, rs) in enumerate(_pairs(document, source))
        ]
        return Recording(path, _cassette_format(document, gzipped), interactions)
    raise ValueError(f'{source}: not a recording format this loader knows (F1-F5)')


def load_interactions(root: Path, name: str) -> list[Interaction]:
    """The interactions of the recording `name` (a path relative to the fixture directory)."""
    return load_recording(root / name, root).interactions


# --------------------------------------------------------------------------------------------
# AWS event-stream test vectors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventStreamVector:
    """One AWS event-stream test vector: the encoded message and what decoding it must give."""

    name: str
    positive: bool
    encoded: bytes
    decoded: dict[str, Any] | None
    """Positive vectors: the expected decoding (lengths, CRCs, headers, base64 payload)."""
    error: str | None
    """Negative vectors: the error text a decoder should report."""

    @property
    def payload(self) -> bytes:
        """A positive vector's payload bytes."""
        assert self.decoded is not None, f'{self.name} is a negative vector'
        return base64.b64decode(self.decoded['payload'])


def vector_names(root: Path) -> list[str]:
    """Every test vector as `positive/NAME` or `negative/NAME`."""
    encoded = root / _VECTORS_DIR / 'encoded'
    return sorted(str(p.relative_to(encoded)) for p in encoded.glob('*/*') if p.is_file())


def load_vector(root: Path, name: str) -> EventStreamVector:
    """The test vector `positive/NAME` or `negative/NAME`."""
    base = root / _VECTORS_DIR
    encoded = (base / 'encoded' / name).read_bytes()
    expected = (base / 'decoded' / name).read_bytes()
    positive = name.startswith('positive/')
    if positive:
        return EventStreamVector(name, True, encoded, json.loads(expected), None)
    return EventStreamVector(name, False, encoded, None, expected.decode().strip())


# --------------------------------------------------------------------------------------------
# Replaying a recorded response to a model
# --------------------------------------------------------------------------------------------


def same_url(sent: httpx.URL, recorded: httpx.URL) -> bool:
    """Whether two URLs name the same resource: scheme, host, port, the path with percent-escapes
    decoded (`v1%3A0` is `v1:0`), and the same query parameters in any order."""
    return (sent.scheme, sent.host, sent.port, sent.path) == (
        recorded.scheme,
        recorded.host,
        recorded.port,
        recorded.path,
    ) and sorted(sent.params.multi_items()) == sorted(recorded.params.multi_items())


Rechunk = Callable[[bytes], list[bytes]]
"""How to cut a recorded body into pieces for one replay (e.g. `lambda b: random_split(b, 3)`)."""


def recorded_response(
    response: RecordedResponse,
    pieces: list[bytes] | None = None,
    *,
    request: httpx.Request | None = None,
    body: bytes | None = None,
) -> httpx.Response:
    """An httpx response answering with the recorded status, headers and body, in `pieces`.

    `body` replaces the recorded body (e.g. a Bedrock F4 file's events encoded as event-stream).
    """
    content = body if body is not None else response.body
    stream = Pieces(pieces if pieces is not None else [content])
    return httpx.Response(response.status, headers=response.replay_headers(), stream=stream, request=request)


def respx_route(
    router: Any, interaction: Interaction, pieces: list[bytes] | None = None, *, url: str | None = None
) -> Any:
    """Route the recorded method and URL (or `url`) on a respx router to the recorded response.

    Returns the route: `route.calls.last.request` is what the model sent.
    """
    method = interaction.request.method if interaction.request is not None else 'POST'
    target = url or (interaction.request.uri if interaction.request is not None else None)
    if target is None:
        raise ValueError(f'{interaction.source} has no recorded request: pass url=')
    return router.route(method=method, url=target).mock(
        return_value=recorded_response(interaction.response, pieces)
    )


class ReplayTransport(httpx.AsyncBaseTransport):
    """An httpx transport answering each request with the next recorded response, in order.

    Give it to the model's provider (`httpx.AsyncClient(transport=ReplayTransport(...))`). With
    `check_requests`, each request's method and URL must be the recorded ones (an AssertionError
    names the difference). `rechunk` cuts each body into pieces; `sent` keeps every request, read.
    """

    def __init__(
        self,
        interactions: Sequence[Interaction],
        *,
        rechunk: Rechunk | None = None,
        check_requests: bool = True,
    ) -> None:
        self.interactions = list(interactions)
        self.rechunk = rechunk
        self.check_requests = check_requests
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer `request` with the next recorded response."""
        await request.aread()
        index = len(self.sent)
        self.sent.append(request)
        if index >= len(self.interactions):
            raise AssertionError(f'request {index + 1} ({request.method} {request.url}) was not recorded')
        interaction = self.interactions[index]
        recorded = interaction.request
        if self.check_requests and recorded is not None:
            same = request.method == recorded.method and same_url(request.url, recorded.url)
            assert same, (
                f'{interaction.source}: sent {request.method} {request.url}, '
                f'recorded {recorded.method} {recorded.uri}'
            )
        body = interaction.response.body
        pieces = self.rechunk(body) if self.rechunk is not None else [body]
        return recorded_response(interaction.response, pieces, request=request)
