"""Cohere: a streamed v2 chat answer end to end, and the cold import of the interface (`--only cohere`).

End to end: one streamed `POST /v2/chat` answered over end_to_end's in-memory transport with a
seeded 20,000-delta Cohere stream (named SSE events, `event: content-delta` + `data: {...}`, between
`message-start` / `content-start` and `content-end` / `message-end` / `data: [DONE]`), one piece per
event; user code collects every text delta, checked once against the stream before timing. The
floor: httpx `client.stream`, split on blank lines, orjson the `data:` line, keep the text of
`content-delta` events. Contenders: `CohereModel.request_stream` (target 1.5x the floor) and, as a
peer, the official cohere SDK's `AsyncClientV2.chat_stream` over the same transport.

Cold import, each in a fresh interpreter (cold_import's clock): the floor is httpx, pydantic and
orjson; `modelkit.models.cohere` plus `modelkit.providers.cohere`, what a first Cohere request needs,
must stay within 1.25x of it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from . import cold_import
from ._harness import Result, Unavailable
from ._stream import _WORDS, DEFAULT_CONTENT_CHUNKS, DEFAULT_SEED
from .end_to_end import Contender, Emit, make_transport, text_from_request_stream, vendor_table

__all__ = ('CohereStream', 'build_cohere_stream', 'run')

E2E_TARGET_RATIO = 1.5
"""`CohereModel.request_stream` must stay within this factor of the floor (issue 10, item 7)."""
IMPORT_TARGET_RATIO = 1.25
"""`import modelkit.models.cohere, modelkit.providers.cohere` within this factor of the floor."""

BASE_URL = 'http://127.0.0.1:9'  # nothing listens: should the in-memory transport be bypassed, it refuses
API_KEY = 'co-benchmark-not-a-real-key'
PROMPT = 'Write a very long essay about streaming parsers.'
MODEL = 'command-r-plus'


class CohereStream:
    """One streamed answer: the body as its SSE events, and the text its deltas add up to."""

    def __init__(self, events: list[bytes], text: str) -> None:
        self.events = events
        self.body = b''.join(events)
        self.text = text


def build_cohere_stream(
    content_chunks: int = DEFAULT_CONTENT_CHUNKS, seed: int = DEFAULT_SEED
) -> CohereStream:
    """`message-start`, `content-start`, `content_chunks` text deltas, then `content-end`,
    `message-end` and `[DONE]`."""
    rng = random.Random(seed)

    def event(kind: str, **fields: object) -> bytes:
        return b'event: ' + kind.encode() + b'\ndata: ' + orjson.dumps({'type': kind, **fields}) + b'\n\n'

    empty = {'role': 'assistant', 'content': [], 'tool_plan': '', 'tool_calls': [], 'citations': []}
    events = [
        event('message-start', id=f'{rng.getrandbits(128):032x}', delta={'message': empty}),
        event('content-start', index=0, delta={'message': {'content': {'type': 'text', 'text': ''}}}),
    ]
    pieces = [rng.choice(_WORDS) for _ in range(content_chunks)]
    events += [event('content-delta', index=0, delta={'message': {'content': {'text': p}}}) for p in pieces]
    usage = {
        'billed_units': {'input_tokens': 12, 'output_tokens': content_chunks},
        'tokens': {'input_tokens': 502, 'output_tokens': content_chunks + 2},
    }
    events += [
        event('content-end', index=0),
        event('message-end', delta={'finish_reason': 'COMPLETE', 'usage': usage}),
        b'data: [DONE]\n\n',
    ]
    return CohereStream(events, ''.join(pieces))


# --------------------------------------------------------------------------------------------
# End to end
# --------------------------------------------------------------------------------------------


def _floor(pieces: list[bytes]) -> Contender:
    client = httpx.AsyncClient(transport=make_transport(httpx, pieces))
    body = orjson.dumps({'model': MODEL, 'messages': [{'role': 'user', 'content': PROMPT}], 'stream': True})
    headers = {'authorization': f'Bearer {API_KEY}', 'content-type': 'application/json'}

    async def run(emit: Emit) -> None:
        loads = orjson.loads
        rest = b''
        async with client.stream('POST', f'{BASE_URL}/v2/chat', content=body, headers=headers) as response:
            response.raise_for_status()
            async for piece in response.aiter_bytes():
                events = (rest + piece).split(b'\n\n') if rest else piece.split(b'\n\n')
                rest = events.pop()
                for raw in events:
                    at = raw.find(b'data: {')
                    if at < 0:
                        continue
                    payload = loads(raw[at + 6 :])
                    if payload['type'] == 'content-delta':
                        emit(payload['delta']['message']['content']['text'])

    return run


def _modelkit(pieces: list[bytes]) -> Contender:
    try:
        from modelkit.messages import (
            ModelRequest,
            PartDeltaEvent,
            PartStartEvent,
            TextPart,
            TextPartDelta,
            UserPromptPart,
        )
        from modelkit.models import ModelRequestParameters
        from modelkit.models import cohere as cohere_model
        from modelkit.providers import cohere as cohere_provider
    except ImportError as exc:
        raise Unavailable(f'not available yet ({exc})') from None
    client = httpx.AsyncClient(transport=make_transport(httpx, pieces))
    provider = cohere_provider.CohereProvider(api_key=API_KEY, base_url=BASE_URL, http_client=client)
    model = cohere_model.CohereModel(MODEL, provider=provider)
    messages: list[Any] = [ModelRequest([UserPromptPart(PROMPT)])]
    return text_from_request_stream(
        model, messages, ModelRequestParameters(), (PartStartEvent, PartDeltaEvent, TextPart, TextPartDelta)
    )


def _cohere_sdk(pieces: list[bytes]) -> Contender:
    try:
        import cohere
    except ImportError:
        raise Unavailable('not installed') from None
    http = httpx.AsyncClient(transport=make_transport(httpx, pieces))
    client = cohere.AsyncClientV2(api_key=API_KEY, base_url=BASE_URL, httpx_client=http, max_retries=0)

    async def run(emit: Emit) -> None:
        async for event in client.chat_stream(model=MODEL, messages=[{'role': 'user', 'content': PROMPT}]):
            if event.type == 'content-delta':
                emit(event.delta.message.content.text)

    return run


_CONTENDERS: tuple[tuple[str, Callable[[list[bytes]], Contender], float | None], ...] = (
    ('modelkit CohereModel.request_stream', _modelkit, E2E_TARGET_RATIO),
    ('cohere SDK AsyncClientV2.chat_stream', _cohere_sdk, None),
)


IMPORT_CASES: tuple[tuple[str, str, float | None], ...] = (
    ('floor: import httpx, pydantic, orjson', cold_import.FLOOR, None),
    (
        'import modelkit.models.cohere + modelkit.providers.cohere',
        'modelkit.models.cohere, modelkit.providers.cohere',
        IMPORT_TARGET_RATIO,
    ),
)


def run(
    repeats: int,
    *,
    quick: bool = False,
    peers: bool = True,
    chunks: int = DEFAULT_CONTENT_CHUNKS,
    seed: int = DEFAULT_SEED,
) -> list[Result]:
    """Both Cohere rows, end to end and cold import, with their tables (`quick`: a smaller budget)."""
    stream = build_cohere_stream(chunks, seed)
    budget_s, min_runs = (5.0, 1) if quick else (20.0, 3)
    e2e = vendor_table(
        'Cohere',
        stream.events,
        len(stream.events),
        stream.text,
        _floor,
        _CONTENDERS,
        repeats,
        budget_s,
        min_runs,
        peers,
        E2E_TARGET_RATIO,
    )
    imports = cold_import.run(
        cold_import.QUICK_REPEATS if quick else cold_import.REPEATS,
        IMPORT_CASES,
        'modelkit.models.cohere + provider',
        IMPORT_TARGET_RATIO,
    )
    return [*e2e, *imports]
