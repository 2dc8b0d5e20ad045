"""The vendor-neutral core, driven by a made-up vendor with a non-SSE framing (a JSON array).

Shows what a next vendor module gets for free: auth in its own error shape, controls and counted
faults, pacing, and mid-stream strikes placed by frame kind, whatever its encoder writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import httpx
import orjson
import pytest

from modelkit.emulator import Emulator
from modelkit.emulator._script import Conversation, plan_reply
from modelkit.emulator._server import EmulatorState, Request, Response
from modelkit.emulator._vendor import CLOSE, HEAD, OPEN, TOKEN, ErrorKind, Frame, Handler, Vendor
from tests.helpers.emulator import TEST_TIMEOUT_S

pytestmark = pytest.mark.anyio


class _ArrayEncoder:
    """Gemini-style: the stream is one JSON array, elements separated by commas."""

    def __init__(self) -> None:
        self._started = False

    def event(self, event: Any) -> bytes:
        prefix = b',' if self._started else b'['
        self._started = True
        return prefix + orjson.dumps(event)

    def error(self, kind: ErrorKind, message: str) -> bytes:
        return self.event({'error': {'status': kind, 'message': message}})

    def end(self) -> bytes:
        return b']' if self._started else b'[]'


class _ArrayVendor(Vendor):
    prefix: ClassVar[str] = 'array-test'
    stream_error_faults: ClassVar[dict[str, ErrorKind]] = {'stream-error': 'server', 'busy': 'unavailable'}

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        yield 'POST', r'/array/(?P<model>[^/:]+):stream', self._stream

    def api_key(self, request: Request) -> str | None:
        return request.headers.get('x-test-key')

    def error_payload(self, kind: ErrorKind, message: str, status: int, *, param: str | None = None) -> Any:
        return {'error': {'code': status, 'status': kind, 'message': message}}

    async def _stream(self, request: Request, state: EmulatorState) -> Response:
        key = self.authenticate(request, state)
        model, controls, fault = await self.admit(request, state, key, request.path_params['model'])
        reply = plan_reply(Conversation(prompt='hi'), tokens=controls.tokens, seed=0)
        frames = [
            Frame(HEAD, {'model': model}),
            Frame(OPEN, {'open': True}),
            *(Frame(TOKEN, {'text': text}, 1) for text in reply.text),
            Frame(CLOSE, {'finish': reply.finish}),
        ]
        return self.stream_response(frames, _ArrayEncoder(), controls, fault, content_type='application/json')


@pytest.fixture
async def array_client(emulator: Emulator) -> Any:
    _ArrayVendor().register(emulator.router)
    async with httpx.AsyncClient(
        base_url=emulator.url, headers={'x-test-key': emulator.api_key}, timeout=TEST_TIMEOUT_S
    ) as http:
        yield http


async def _events(client: httpx.AsyncClient, model: str) -> tuple[bytes, Any]:
    response = await client.post(f'/array/{model}:stream')
    assert response.status_code == 200, response.text
    return response.content, response


async def test_a_whole_stream_is_one_json_array(array_client: httpx.AsyncClient) -> None:
    raw, response = await _events(array_client, 'm+tokens=3')
    assert response.headers['content-type'] == 'application/json'
    events = orjson.loads(raw)
    assert events[:2] == [{'model': 'm'}, {'open': True}]
    texts = [event['text'] for event in events[2:-1]]
    assert len(texts) == 3
    assert texts == plan_reply(Conversation(prompt='hi'), tokens=3, seed=0).text
    assert events[-1] == {'finish': 'stop'}


async def test_truncate_leaves_the_array_open_and_the_finish_out(array_client: httpx.AsyncClient) -> None:
    raw, _ = await _events(array_client, 'm+tokens=3+fault=truncate+fault-after=2')
    assert not raw.endswith(b']')
    events = orjson.loads(raw + b']')
    assert len([e for e in events if 'text' in e]) == 2
    assert {'finish': 'stop'} not in events


async def test_strike_before_any_token_keeps_only_the_head(array_client: httpx.AsyncClient) -> None:
    raw, _ = await _events(array_client, 'm+fault=busy+fault-after=0')
    # The OPEN frame waits for a token that never comes, so only HEAD and the error are sent.
    assert orjson.loads(raw + b']') == [
        {'model': 'm'},
        {'error': {'status': 'unavailable', 'message': 'The service is temporarily unavailable (emulated).'}},
    ]


async def test_auth_controls_and_http_faults_in_the_vendor_shape(
    array_client: httpx.AsyncClient, emulator: Emulator
) -> None:
    refused = await array_client.post('/array/m:stream', headers={'x-test-key': 'wrong'})
    assert (refused.status_code, refused.json()['error']['status']) == (401, 'authentication')
    bad = await array_client.post('/array/m+fault=529:stream')  # 529 is Anthropic's, not this vendor's
    assert bad.status_code == 400
    assert 'unknown fault' in bad.json()['error']['message']
    limited = await array_client.post('/array/m+fault=429+fault-times=1+retry-after-ms=5:stream')
    assert (limited.status_code, limited.headers['retry-after-ms']) == (429, '5')
    assert limited.json()['error']['status'] == 'rate_limit'
    assert (
        await array_client.post('/array/m+fault=429+fault-times=1+retry-after-ms=5:stream')
    ).status_code == 200
