"""Anthropic's rows (`--only anthropic`): named-event SSE decode, end to end, cold import.

1. **Decode + JSON**: a seeded 20,000-delta Messages stream as Anthropic writes it (`event: NAME`
   then `data: {...}` per event: message_start, content_block_start, ping, the text deltas,
   content_block_stop, message_delta, message_stop), fed in every chunking. Floor: split on blank
   lines, find `data: `, orjson. Contender: modelkit's `SSEDataDecoder` + orjson. Target <= 1.2x.
2. **End to end**: text deltas reaching user code from one streamed `POST /v1/messages` over an
   in-memory transport (one piece per event). Floor: httpx `client.stream`, split, orjson, pick
   `delta.text` of each `text_delta`. Contenders: `AnthropicModel.request_stream` (target <= 1.5x),
   the anthropic SDK's `messages.create(stream=True)`, pydantic-ai's `AnthropicModel` on that SDK,
   and LiteLLM's `acompletion('anthropic/...')`, each through the same in-memory transport.
3. **Cold import** of `modelkit.models.anthropic` with its provider. Target <= 1.25x
   `import httpx, pydantic, orjson`.
"""

from __future__ import annotations

import collections
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from . import cold_import
from ._harness import Result, Unavailable, print_table, time_round_robin
from ._stream import _WORDS, CHUNKINGS, DEFAULT_SEED, cut_body
from .end_to_end import (
    CHUNKING,
    Contender,
    Emit,
    _sdk_http,
    litellm_over,
    make_transport,
    prompt_text,
    vendor_table,
)
from .sse_decode import floor_decode

__all__ = ('AnthropicStream', 'build_anthropic_stream', 'floor_named', 'run')

DECODE_TARGET = 1.2
"""SSE decode + JSON of the named-event stream within this factor of the floor (issue 8, item 9)."""
E2E_TARGET = 1.5
"""`AnthropicModel.request_stream` within this factor of the end-to-end floor (issue 8, item 9)."""
IMPORT_TARGET = 1.25
"""Cold import of the interface and its provider within this factor of the floor (issue 8, item 9)."""

BASE_URL = 'http://127.0.0.1:9'  # nothing listens: a request that bypassed the transport is refused
API_KEY = 'sk-ant-benchmark-not-a-real-key'
MODEL = 'claude-3-5-sonnet-latest'
PROMPT = 'Write a very long essay about streaming parsers.'

Decode = Callable[[list[bytes], Emit], None]


@dataclass(frozen=True, slots=True)
class AnthropicStream:
    """One streamed message: the body, its events (each with its blank line), payloads and text."""

    body: bytes
    events: tuple[bytes, ...]
    payloads: tuple[object, ...]
    text: str


def _event(name: str, payload: dict[str, Any], padding: int = 0) -> bytes:
    # Anthropic's own layout: compact JSON, with spaces before the last brace that pad the event
    # (as in every recording) so its size does not give the token away.
    data = orjson.dumps(payload)
    if padding:
        data = data[:-1] + b' ' * padding + b'}'
    return b'event: ' + name.encode() + b'\ndata: ' + data + b'\n\n'


def build_anthropic_stream(deltas: int, seed: int = DEFAULT_SEED) -> AnthropicStream:
    """`deltas` text deltas (one to three tokens each, as Claude streams) in one text block, framed
    as a complete Messages stream with its padding."""
    rng = random.Random(seed)
    message_id = 'msg_01' + ''.join(
        rng.choices('ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789', k=22)
    )
    usage = {
        'input_tokens': 25,
        'cache_creation_input_tokens': 0,
        'cache_read_input_tokens': 0,
        'output_tokens': 1,
    }
    message = {
        'id': message_id,
        'type': 'message',
        'role': 'assistant',
        'model': 'claude-3-5-sonnet-20241022',
        'content': [],
        'stop_reason': None,
        'stop_sequence': None,
        'usage': usage,
    }
    words = [''.join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3))) for _ in range(deltas)]
    payloads: list[tuple[str, dict[str, Any]]] = [
        ('message_start', {'type': 'message_start', 'message': message}),
        (
            'content_block_start',
            {'type': 'content_block_start', 'index': 0, 'content_block': {'type': 'text', 'text': ''}},
        ),
        ('ping', {'type': 'ping'}),
        *(
            (
                'content_block_delta',
                {'type': 'content_block_delta', 'index': 0, 'delta': {'type': 'text_delta', 'text': w}},
            )
            for w in words
        ),
        ('content_block_stop', {'type': 'content_block_stop', 'index': 0}),
        (
            'message_delta',
            {
                'type': 'message_delta',
                'delta': {'stop_reason': 'end_turn', 'stop_sequence': None},
                'usage': {'output_tokens': deltas},
            },
        ),
        ('message_stop', {'type': 'message_stop'}),
    ]
    events = tuple(_event(name, payload, rng.randint(0, 16)) for name, payload in payloads)
    return AnthropicStream(b''.join(events), events, tuple(p for _, p in payloads), ''.join(words))


# --------------------------------------------------------------------------------------------
# 1. Decode + JSON
# --------------------------------------------------------------------------------------------


def floor_named(pieces: list[bytes], emit: Emit) -> None:
    """The least work for named events: split on blank lines, then at the line end, and emit each
    event's `(name, parsed data)` (Anthropic's own `error` event, for one, is known by its name)."""
    floor_decode(pieces, emit, named=True)


def _modelkit_decode(pieces: list[bytes], emit: Emit) -> None:
    from modelkit.parsers.sse import SSEDataDecoder

    loads = orjson.loads
    decoder = SSEDataDecoder()
    # As `AnthropicModel` consumes events: `(type, data)` pairs through `iter_feed`, as the kit's
    # event loop takes them, with the payload's bytes where the decoder kept them.
    feed = decoder.iter_feed
    for piece in pieces:
        for kind, data in feed(piece):
            emit((kind, loads(data)))
    for kind, data in decoder.close():
        emit((kind, loads(data)))


def _checked(decode: Decode, pieces: list[bytes], stream: AnthropicStream) -> str:
    got: list[object] = []
    try:
        decode(pieces, got.append)
    except Exception as exc:
        return f'error: {type(exc).__name__}: {exc}'[:160]
    expected = [(p['type'], p) for p in stream.payloads]  # type: ignore[index]
    return '' if got == expected else f'error: wrong output ({len(got)} events)'


DECODE_MIN_RUNS = 21
"""Runs per contender and chunking at the least: one run is 20-100 ms, so a scheduler stall of a few
ms on a small shared machine moves a median of 7 by a tenth; 21 take about 10 s in all."""


def decode_rows(stream: AnthropicStream, repeats: int) -> list[Result]:
    """The floor and modelkit's decoder on every chunking; prints the table."""
    repeats = max(repeats, DECODE_MIN_RUNS)
    sink: Emit = collections.deque(maxlen=0).append
    units = len(stream.events)
    results: list[Result] = []
    for chunking in CHUNKINGS:
        pieces = cut_body(stream.body, stream.events, chunking)
        floor = Result('anthropic-sse', chunking, 'floor: split + orjson', units=units, is_floor=True)
        floor.status = _checked(floor_named, pieces, stream)
        ours = Result(
            'anthropic-sse', chunking, 'modelkit SSEDataDecoder + orjson', units=units, target=DECODE_TARGET
        )
        ours.status = _checked(_modelkit_decode, pieces, stream)
        case: list[tuple[Result, Callable[[], object] | None]] = [
            (floor, lambda p=pieces: floor_named(p, sink)),  # type: ignore[misc]
            (ours, lambda p=pieces: _modelkit_decode(p, sink)),  # type: ignore[misc]
        ]
        time_round_robin(case, repeats)
        results += [floor, ours]
    print_table(
        f'Anthropic SSE decode + JSON: {units:,} named events, {len(stream.body) / 1e6:.1f} MB, median of '
        f'{repeats} (target: modelkit <= {DECODE_TARGET}x floor)',
        results,
        unit='event',
    )
    return results


# --------------------------------------------------------------------------------------------
# 2. End to end
# --------------------------------------------------------------------------------------------

_REQUEST = {
    'model': MODEL,
    'max_tokens': 4096,
    'messages': [{'role': 'user', 'content': PROMPT}],
    'stream': True,
}


def _floor(pieces: list[bytes]) -> Contender:
    client = httpx.AsyncClient(transport=make_transport(httpx, pieces))
    body = orjson.dumps(_REQUEST)
    headers = {'x-api-key': API_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json'}

    async def run(emit: Emit) -> None:
        def pick(named: tuple[str, Any]) -> None:
            payload = named[1]
            if payload['type'] == 'content_block_delta':
                delta = payload['delta']
                if delta['type'] == 'text_delta':
                    emit(delta['text'])

        async with client.stream(
            'POST', f'{BASE_URL}/v1/messages', content=body, headers=headers
        ) as response:
            response.raise_for_status()
            floor_named([piece async for piece in response.aiter_bytes()], pick)

    return run


def _modelkit(pieces: list[bytes]) -> Contender:
    from modelkit.models.anthropic import AnthropicModel
    from modelkit.providers.anthropic import AnthropicProvider

    client = httpx.AsyncClient(transport=make_transport(httpx, pieces))
    model = AnthropicModel(
        MODEL, provider=AnthropicProvider(api_key=API_KEY, base_url=BASE_URL, http_client=client)
    )
    return prompt_text(model, 'modelkit')


def _sdk_client(pieces: list[bytes]) -> Any:
    try:
        from anthropic import AsyncAnthropic
    except ImportError:
        raise Unavailable('not installed') from None
    http = _sdk_http()
    return AsyncAnthropic(
        api_key=API_KEY,
        base_url=BASE_URL,
        max_retries=0,
        http_client=http.AsyncClient(transport=make_transport(http, pieces)),
    )


def _anthropic_sdk(pieces: list[bytes]) -> Contender:
    client = _sdk_client(pieces)

    async def run(emit: Emit) -> None:
        stream = await client.messages.create(
            model=MODEL, max_tokens=4096, messages=[{'role': 'user', 'content': PROMPT}], stream=True
        )
        async with stream:
            async for event in stream:
                if event.type == 'content_block_delta' and event.delta.type == 'text_delta':
                    emit(event.delta.text)

    return run


def _pydantic_ai(pieces: list[bytes]) -> Contender:
    try:
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider
    except ImportError:
        raise Unavailable('not installed') from None
    model = AnthropicModel(MODEL, provider=AnthropicProvider(anthropic_client=_sdk_client(pieces)))
    return prompt_text(model, 'pydantic_ai')


def _litellm(pieces: list[bytes]) -> Contender:
    def kwargs() -> dict[str, Any]:
        from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

        # LiteLLM's Anthropic route speaks the wire itself through its httpx handler: give it ours.
        return {
            'model': f'anthropic/{MODEL}',
            'api_key': API_KEY,
            'api_base': BASE_URL,
            'client': AsyncHTTPHandler(transport=make_transport(httpx, pieces)),
        }

    return litellm_over(kwargs)


_CONTENDERS: tuple[tuple[str, Callable[[list[bytes]], Contender], float | None], ...] = (
    ('modelkit AnthropicModel.request_stream', _modelkit, E2E_TARGET),
    ('anthropic SDK messages.create', _anthropic_sdk, None),
    ('pydantic-ai AnthropicModel.request_stream', _pydantic_ai, None),
    ('LiteLLM acompletion', _litellm, None),
)


def e2e_rows(
    stream: AnthropicStream, repeats: int, budget_s: float, min_runs: int, peers: bool
) -> list[Result]:
    """The floor, `AnthropicModel.request_stream` and the peers, end to end; prints the table."""
    pieces = cut_body(stream.body, stream.events, CHUNKING)
    return vendor_table(
        'Anthropic',
        pieces,
        len(stream.events),
        stream.text,
        _floor,
        _CONTENDERS,
        repeats,
        budget_s,
        min_runs,
        peers,
        E2E_TARGET,
    )


# --------------------------------------------------------------------------------------------
# 3. Cold import, and the entry point
# --------------------------------------------------------------------------------------------

IMPORT_CASES: tuple[tuple[str, str, float | None], ...] = (
    ('floor: import httpx, pydantic, orjson', cold_import.FLOOR, None),
    (
        'import modelkit.models.anthropic + providers.anthropic',
        'modelkit.models.anthropic, modelkit.providers.anthropic',
        IMPORT_TARGET,
    ),
)


def run(deltas: int, repeats: int, *, quick: bool = False, peers: bool = True) -> list[Result]:
    """Every Anthropic row: decode, end to end, cold import."""
    stream = build_anthropic_stream(deltas)
    results = decode_rows(stream, repeats)
    results += e2e_rows(stream, repeats, 5.0 if quick else 20.0, 1 if quick else 3, peers)
    results += cold_import.run(
        cold_import.QUICK_REPEATS if quick else cold_import.REPEATS,
        IMPORT_CASES,
        'modelkit.models.anthropic + provider',
        IMPORT_TARGET,
    )
    return results
