"""Bedrock rows: ConverseStream end to end, and the cold import of the interface plus its provider.

End to end: one streamed request whose answer is the seeded 20,000-delta ConverseStream body of
`eventstream_decode.build_converse_stream`, delivered in one piece per event-stream message (what
a socket sees while tokens trickle out) by an in-memory transport. User code collects every text
delta; the text is checked once before timing. The floor is the least any client can do over the
same transport: httpx `client.stream`, the event-stream floor decoder (both CRCs, headers,
orjson) and `delta.text`. modelkit's row goes through `BedrockConverseModel.request_stream`,
SigV4 signing (botocore) included. pydantic-ai's Bedrock model runs boto3 in worker threads: its
client is answered with the same pieces through botocore's `before-send` hook, so no request
leaves the process and boto3 decodes the body with its own event-stream parser.

Cold import: `import modelkit.models.bedrock, modelkit.providers.bedrock` in a fresh interpreter
against the floor (httpx, pydantic, orjson), through `cold_import.run`, which also checks that
neither imports botocore (or boto3).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import httpx
import orjson

from . import cold_import
from ._harness import Result, Unavailable, print_table, time_round_robin_async
from .end_to_end import prompt_text
from .eventstream_decode import ConverseStream, build_converse_stream, floor_decode

__all__ = ('run',)

E2E_TARGET_RATIO = 1.5
"""`BedrockConverseModel.request_stream` must stay within this factor of the floor (issue 11)."""
IMPORT_TARGET_RATIO = 1.25
"""`import modelkit.models.bedrock` plus its provider must stay within this factor of the floor."""

REGION = 'us-east-1'
MODEL = 'us.anthropic.claude-3-7-sonnet-20250219-v1:0'
KEY_ID = 'AKIDBENCHMARK'
SECRET = 'benchmark-secret-not-real'
PROMPT = 'Write a very long essay about streaming parsers.'
# Nothing can leave the machine: the in-memory transports answer everything.
URL = f'https://bedrock-runtime.{REGION}.amazonaws.com/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0'
IMPORTED = 'modelkit.models.bedrock, modelkit.providers.bedrock'

Emit = Callable[[str], object]
Contender = Callable[[Emit], Awaitable[None]]


def _transport(pieces: list[bytes]) -> httpx.AsyncBaseTransport:
    class _Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for piece in pieces:
                yield piece

    class _Transport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await request.aread()
            if not request.url.path.endswith('/converse-stream'):
                raise AssertionError(f'expected ConverseStream, got {request.url}')
            headers = {'content-type': 'application/vnd.amazon.eventstream'}
            return httpx.Response(200, headers=headers, stream=_Body(), request=request)

    return _Transport()


def _floor(pieces: list[bytes]) -> Contender:
    client = httpx.AsyncClient(transport=_transport(pieces))
    body = orjson.dumps({'messages': [{'role': 'user', 'content': [{'text': PROMPT}]}]})

    async def run(emit: Emit) -> None:
        received: list[bytes] = []
        async with client.stream('POST', f'{URL}/converse-stream', content=body) as response:
            response.raise_for_status()
            # The pieces are kept and decoded in one pass at the end: the same work as decoding
            # each on arrival (the floor decoder joins nothing for whole messages), minus the calls.
            async for piece in response.aiter_bytes():
                received.append(piece)

        def text(event: Any) -> None:
            kind, payload = event
            if kind == 'contentBlockDelta':
                delta = payload['delta'].get('text')
                if delta:
                    emit(delta)

        floor_decode(received, text)

    return run


def _modelkit(pieces: list[bytes]) -> Contender:
    try:
        from modelkit.models import bedrock as bedrock_model
        from modelkit.providers import bedrock as bedrock_provider
    except ImportError as exc:
        raise Unavailable(f'not available yet ({exc})') from None
    provider = bedrock_provider.BedrockProvider(
        region_name=REGION,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        http_client=httpx.AsyncClient(transport=_transport(pieces)),
    )
    return prompt_text(bedrock_model.BedrockConverseModel(MODEL, provider=provider), 'modelkit')


class _RawBody:
    """What botocore reads a streamed body from (urllib3's response): `stream()` and `read()`."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        return iter(self._pieces)

    def read(self, amt: int | None = None) -> bytes:
        return b''.join(self._pieces)

    def close(self) -> None:
        pass


def _pydantic_ai(pieces: list[bytes]) -> Contender:
    try:
        import boto3
        from botocore.awsrequest import AWSResponse
        from pydantic_ai.models.bedrock import BedrockConverseModel
        from pydantic_ai.providers.bedrock import BedrockProvider
    except ImportError:
        raise Unavailable('not installed') from None
    client = boto3.client(
        'bedrock-runtime', region_name=REGION, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )

    def answer(request: Any, **_: Any) -> Any:
        headers = {'content-type': 'application/vnd.amazon.eventstream'}
        return AWSResponse(request.url, 200, headers, _RawBody(pieces))

    client.meta.events.register('before-send.bedrock-runtime.ConverseStream', answer)
    return prompt_text(
        BedrockConverseModel(MODEL, provider=BedrockProvider(bedrock_client=client)), 'pydantic_ai'
    )


_CONTENDERS: tuple[tuple[str, Callable[[list[bytes]], Contender], float | None], ...] = (
    ('modelkit BedrockConverseModel.request_stream', _modelkit, E2E_TARGET_RATIO),
    ('pydantic-ai BedrockConverseModel (boto3, threads)', _pydantic_ai, None),
)


async def _checked(result: Result, contender: Contender, expected: str) -> Contender | None:
    got: list[str] = []
    try:
        await contender(got.append)
    except Exception as exc:
        result.status = f'error: {type(exc).__name__}: {exc}'.replace('\n', ' ')[:160]
        return None
    if ''.join(got) != expected:
        result.status = f'error: wrong text ({len("".join(got))} chars, expected {len(expected)})'
        return None
    return contender


async def _e2e(stream: ConverseStream, repeats: int, peers: bool) -> list[Result]:
    pieces = list(stream.frames)
    expected = ''.join(
        payload['delta']['text']  # type: ignore[index]
        for kind, payload in stream.events
        if kind == 'contentBlockDelta'
    )
    units = len(stream.frames)
    sink: Emit = len
    case = 'per-message pieces'
    floor = Result(
        'bedrock', case, 'floor: httpx stream + event-stream floor decode', units=units, is_floor=True
    )
    timed: list[tuple[Result, Callable[[], Awaitable[object]] | None]] = []
    floor_run = await _checked(floor, _floor(pieces), expected)
    timed.append((floor, _bind(floor_run, sink)))
    for name, factory, target in _CONTENDERS:
        if not peers and target is None:
            continue
        result = Result('bedrock', case, name, units=units, target=target)
        try:
            contender = await _checked(result, factory(pieces), expected)
        except Unavailable as exc:
            result.status = str(exc)
            contender = None
        timed.append((result, _bind(contender, sink)))
    await time_round_robin_async(timed, repeats)
    return [r for r, _ in timed]


def _bind(contender: Contender | None, sink: Emit) -> Callable[[], Awaitable[object]] | None:
    return (lambda: contender(sink)) if contender is not None else None


IMPORT_CASES: tuple[tuple[str, str, float | None], ...] = (
    ('floor: import httpx, pydantic, orjson', cold_import.FLOOR, None),
    (f'import {IMPORTED}', IMPORTED, IMPORT_TARGET_RATIO),
)


def run(content_chunks: int, repeats: int, import_repeats: int, *, peers: bool = True) -> list[Result]:
    """Time the end-to-end rows and the cold import; print both tables."""
    stream = build_converse_stream(content_chunks)
    e2e = anyio.run(_e2e, stream, repeats, peers, backend='asyncio')
    print_table(
        f'Bedrock end to end: {content_chunks:,} text deltas over an in-memory transport, median of '
        f'{repeats} (target: modelkit <= {E2E_TARGET_RATIO:g}x floor)',
        e2e,
    )
    imports = cold_import.run(
        import_repeats,
        IMPORT_CASES,
        'modelkit.models.bedrock + provider',
        IMPORT_TARGET_RATIO,
        benchmark='bedrock',
        forbidden=('botocore', 'boto3'),
        title=(
            f'Bedrock cold import, fresh interpreter each, median of {import_repeats} '
            f'(target: <= {IMPORT_TARGET_RATIO:g}x floor, no botocore)'
        ),
    )
    return e2e + imports
