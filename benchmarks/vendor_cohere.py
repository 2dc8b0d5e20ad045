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
import subprocess
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import orjson

from ._harness import Result, Unavailable, print_table, time_round_robin_async
from ._stream import _WORDS, DEFAULT_CONTENT_CHUNKS, DEFAULT_SEED
from .cold_import import FLOOR, _time_import, importtime_offenders
from .end_to_end import Contender, Emit, _check, _text_from_request_stream, make_transport

__all__ = ('CohereStream', 'build_cohere_stream', 'run')

E2E_TARGET_RATIO = 1.5
"""`CohereModel.request_stream` must stay within this factor of the floor (issue 10, item 7)."""
IMPORT_TARGET_RATIO = 1.25
"""`import modelkit.models.cohere, modelkit.providers.cohere` must stay within this factor of the floor."""

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
    return _text_from_request_stream(
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


async def _end_to_end(
    stream: CohereStream, repeats: int, budget_s: float, min_runs: int, peers: bool
) -> list[Result]:
    pieces = stream.events
    case_name = 'per-event pieces'
    units = len(pieces)
    floor = Result(
        'cohere-e2e', case_name, 'floor: httpx stream + split + orjson', units=units, is_floor=True
    )
    floor_run = _floor(pieces)
    await _check(floor, floor_run, stream.text, repeats, budget_s, min_runs)
    sink: Emit = len
    case: list[tuple[Result, Callable[[], Awaitable[object]] | None]] = [(floor, lambda: floor_run(sink))]
    for name, factory, target in _CONTENDERS:
        if not peers and target is None:
            continue
        result = Result('cohere-e2e', case_name, name, units=units, target=target)
        contender: Contender | None = None
        try:
            contender = factory(pieces)
        except Unavailable as exc:
            result.status = str(exc)
        if contender is not None:
            await _check(result, contender, stream.text, repeats, budget_s, min_runs)
        case.append((result, _bound(contender, sink)))
    await time_round_robin_async(case, repeats)
    return [r for r, _ in case]


def _bound(contender: Contender | None, sink: Emit) -> Callable[[], Awaitable[None]] | None:
    return None if contender is None else (lambda: contender(sink))


# --------------------------------------------------------------------------------------------
# Cold import
# --------------------------------------------------------------------------------------------

IMPORTED = 'modelkit.models.cohere, modelkit.providers.cohere'


def _cold_import(repeats: int) -> list[Result]:
    cases = (
        ('floor: import httpx, pydantic, orjson', FLOOR, None),
        (f'import {IMPORTED}', IMPORTED, IMPORT_TARGET_RATIO),
    )
    results = [
        Result('cohere-import', 'cold import', name, target=target, is_floor=target is None)
        for name, _, target in cases
    ]
    for round_number in range(repeats + 1):  # round 0 writes the byte-code caches, untimed
        for result, (_, modules, _) in zip(results, cases, strict=True):
            if result.status:
                continue
            try:
                seconds = _time_import(modules)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                result.status = f'error: {exc}'[:160]
                result.runs.clear()
                continue
            if round_number:
                result.runs.append(seconds)
    return results


def run(
    repeats: int,
    *,
    quick: bool = False,
    peers: bool = True,
    chunks: int = DEFAULT_CONTENT_CHUNKS,
    seed: int = DEFAULT_SEED,
) -> list[Result]:
    """Time both Cohere benchmarks and print their tables (with `quick`, a smaller time budget)."""
    stream = build_cohere_stream(chunks, seed)
    budget_s, min_runs = (5.0, 1) if quick else (20.0, 3)
    e2e: list[Result] = anyio.run(_end_to_end, stream, repeats, budget_s, min_runs, peers, backend='asyncio')
    print_table(
        f'Cohere end to end, text deltas to user code: {chunks:,} content deltas over an in-memory '
        f'transport, median of up to {repeats} (target: modelkit <= {E2E_TARGET_RATIO:g}x floor)',
        e2e,
    )
    imports = _cold_import(5 if quick else 15)
    print_table(
        'Cohere cold import, fresh interpreter each '
        f'(target: interface + provider <= {IMPORT_TARGET_RATIO}x floor)',
        imports,
        unit=None,
    )
    ratio = imports[1].ratio
    if ratio is not None and ratio > IMPORT_TARGET_RATIO:
        print(f'\nmodules the floor does not load under `import {IMPORTED}` ({ratio:.2f}x):')
        for self_us, extra_us, name in importtime_offenders(IMPORTED):
            print(f'{self_us / 1e3:9.2f} {extra_us / 1e3:16.2f}  {name}')
    return [*e2e, *imports]
