"""Groq's and Mistral's rows (`--only openaifam`): end to end, and cold import.

1. **End to end**, per vendor: text deltas reaching user code from one streamed chat-completions
   request over an in-memory transport (one piece per event). The body is the seeded 20,000-delta
   stream of the OpenAI benchmark written in the vendor's dialect: Groq's chunks carry `x_groq`
   (the request id first, the usage on the finish chunk, with Groq's timing fields), Mistral's
   carry its `p` padding and the usage on the finish chunk; neither has a separate usage chunk.
   Floor: the OpenAI benchmark's (httpx `client.stream`, split on blank lines, orjson,
   `choices[0].delta.content`). Contenders: `GroqModel.request_stream` and
   `MistralModel.request_stream` (target <= 1.5x; Groq's runs its `<think>` tag splitter on every
   delta), and the official `groq` and `mistralai` SDKs through the same transport.
2. **Cold import** of each interface with its provider. Target <= 1.25x
   `import httpx, pydantic, orjson`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from . import cold_import
from ._harness import Result, Unavailable
from ._stream import DEFAULT_SEED, OpenAIStream, build_openai_stream, cut_body
from .end_to_end import (
    CHUNKING,
    PROMPT,
    Contender,
    Emit,
    floor_over,
    make_transport,
    text_from_request_stream,
    vendor_table,
)

__all__ = ('dialect_stream', 'run')

E2E_TARGET = 1.5
"""`GroqModel` / `MistralModel.request_stream` within this factor of the floor (issue 10, item 7)."""
IMPORT_TARGET = 1.25
"""Cold import of each interface plus its provider within this factor of the floor (issue 10, item 7)."""

BASE_URLS = {'groq': 'http://127.0.0.1:9/openai/v1', 'mistral': 'http://127.0.0.1:9/v1'}
"""Nothing listens there: a request that bypassed the in-memory transport is refused at once."""
API_KEY = 'benchmark-not-a-real-key'
MODELS = {'groq': 'llama-3.3-70b-versatile', 'mistral': 'mistral-small-latest'}

Json = dict[str, Any]


def _groq_chunk(payload: Json, usage: Json, rng: random.Random) -> Json:
    payload.pop('obfuscation', None)
    choices = payload['choices']
    if choices and choices[0]['delta'].get('role'):
        payload['x_groq'] = {'id': 'req_01jr8hj0hzeq9b86xqb5dn7wqs', 'seed': rng.randrange(1 << 30)}
    elif choices and choices[0]['finish_reason']:
        timed = {**usage, 'queue_time': 0.04, 'prompt_time': 0.01, 'completion_time': 0.9, 'total_time': 0.95}
        payload['x_groq'] = {'id': 'req_01jr8hj0hzeq9b86xqb5dn7wqs', 'usage': timed}
        payload['usage'] = timed
    return payload


def _mistral_chunk(payload: Json, usage: Json, rng: random.Random) -> Json:
    for key in ('obfuscation', 'system_fingerprint'):
        payload.pop(key, None)
    choices = payload['choices']
    for choice in choices:
        choice.pop('logprobs', None)
    if choices and choices[0]['finish_reason']:
        payload['usage'] = {key: usage[key] for key in ('prompt_tokens', 'completion_tokens', 'total_tokens')}
    payload['p'] = 'abcdefghijklmnop'[: rng.randint(1, 16)]
    return payload


def dialect_stream(stream: OpenAIStream, vendor: str, seed: int = DEFAULT_SEED) -> OpenAIStream:
    """The OpenAI benchmark's stream as `vendor` (`groq` or `mistral`) writes it."""
    rng = random.Random(seed)
    rewrite = _groq_chunk if vendor == 'groq' else _mistral_chunk
    usage_chunk = stream.payloads[-1]
    assert isinstance(usage_chunk, dict)
    usage = usage_chunk['usage']
    payloads = [rewrite(orjson.loads(orjson.dumps(p)), usage, rng) for p in stream.payloads[:-1]]
    events = [*(b'data: ' + orjson.dumps(p) + b'\n\n' for p in payloads), b'data: [DONE]\n\n']
    return OpenAIStream(
        b''.join(events), tuple(events), tuple(payloads), stream.text, stream.model, stream.response_id
    )


# --------------------------------------------------------------------------------------------
# Contenders
# --------------------------------------------------------------------------------------------


def _client(pieces: list[bytes]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=make_transport(httpx, pieces))


def _floor(vendor: str) -> Callable[[list[bytes]], Contender]:
    return lambda pieces: floor_over(_client(pieces), BASE_URLS[vendor], API_KEY)


def _modelkit(vendor: str) -> Callable[[list[bytes]], Contender]:
    def make(pieces: list[bytes]) -> Contender:
        from modelkit import messages as m
        from modelkit.models import ModelRequestParameters

        model: Any
        if vendor == 'groq':
            from modelkit.models.groq import GroqModel
            from modelkit.providers.groq import GroqProvider

            provider: Any = GroqProvider(
                api_key=API_KEY, base_url=BASE_URLS[vendor], http_client=_client(pieces)
            )
            model = GroqModel(MODELS[vendor], provider=provider)
        else:
            from modelkit.models.mistral import MistralModel
            from modelkit.providers.mistral import MistralProvider

            provider = MistralProvider(
                api_key=API_KEY, base_url=BASE_URLS[vendor], http_client=_client(pieces)
            )
            model = MistralModel(MODELS[vendor], provider=provider)
        messages: list[Any] = [m.ModelRequest(parts=[m.UserPromptPart(PROMPT)])]
        event_types = (m.PartStartEvent, m.PartDeltaEvent, m.TextPart, m.TextPartDelta)
        return text_from_request_stream(model, messages, ModelRequestParameters(), event_types)

    return make


def _groq_sdk(pieces: list[bytes]) -> Contender:
    try:
        from groq import AsyncGroq
    except ImportError:
        raise Unavailable('not installed') from None
    # The SDK appends `/openai/v1/chat/completions` to its root.
    client = AsyncGroq(
        api_key=API_KEY, base_url='http://127.0.0.1:9', max_retries=0, http_client=_client(pieces)
    )

    async def run(emit: Emit) -> None:
        stream = await client.chat.completions.create(
            model=MODELS['groq'], messages=[{'role': 'user', 'content': PROMPT}], stream=True
        )
        async for chunk in stream:
            if chunk.choices and (content := chunk.choices[0].delta.content):
                emit(content)

    return run


def _mistral_sdk(pieces: list[bytes]) -> Contender:
    try:
        from mistralai.client import Mistral
    except ImportError:
        try:
            from mistralai import Mistral  # type: ignore[attr-defined,no-redef]  # mistralai 1.x
        except ImportError:
            raise Unavailable('not installed') from None
    client = Mistral(api_key=API_KEY, server_url='http://127.0.0.1:9', async_client=_client(pieces))

    async def run(emit: Emit) -> None:
        stream = await client.chat.stream_async(
            model=MODELS['mistral'], messages=[{'role': 'user', 'content': PROMPT}]
        )
        async for event in stream:
            choices = event.data.choices
            if choices and isinstance(content := choices[0].delta.content, str) and content:
                emit(content)

    return run


_CONTENDERS: dict[str, tuple[tuple[str, Callable[[list[bytes]], Contender], float | None], ...]] = {
    'groq': (
        ('modelkit GroqModel.request_stream', _modelkit('groq'), E2E_TARGET),
        ('groq SDK chat.completions.create', _groq_sdk, None),
    ),
    'mistral': (
        ('modelkit MistralModel.request_stream', _modelkit('mistral'), E2E_TARGET),
        ('mistralai SDK chat.stream_async', _mistral_sdk, None),
    ),
}


def e2e_rows(
    stream: OpenAIStream, vendor: str, repeats: int, budget_s: float, min_runs: int, peers: bool
) -> list[Result]:
    """The floor, the vendor's `request_stream` and its SDK, end to end; prints the table."""
    body = dialect_stream(stream, vendor)
    pieces = cut_body(body.body, body.events, CHUNKING)
    return vendor_table(
        vendor.title(),
        pieces,
        len(body.events),
        body.text,
        _floor(vendor),
        _CONTENDERS[vendor],
        repeats,
        budget_s,
        min_runs,
        peers,
        E2E_TARGET,
    )


IMPORT_CASES: tuple[tuple[str, str, float | None], ...] = (
    ('floor: import httpx, pydantic, orjson', cold_import.FLOOR, None),
    (
        'import modelkit.models.groq + providers.groq',
        'modelkit.models.groq, modelkit.providers.groq',
        IMPORT_TARGET,
    ),
    (
        'import modelkit.models.mistral + providers.mistral',
        'modelkit.models.mistral, modelkit.providers.mistral',
        IMPORT_TARGET,
    ),
)


def run(chunks: int, seed: int, repeats: int, *, quick: bool = False, peers: bool = True) -> list[Result]:
    """Every Groq and Mistral row: end to end for each, then cold import."""
    stream = build_openai_stream(chunks, seed)
    results: list[Result] = []
    for vendor in ('groq', 'mistral'):
        results += e2e_rows(stream, vendor, repeats, 5.0 if quick else 20.0, 1 if quick else 3, peers)
    results += cold_import.run(
        cold_import.QUICK_REPEATS if quick else cold_import.REPEATS,
        IMPORT_CASES,
        'modelkit.models.groq / .mistral + provider',
        IMPORT_TARGET,
    )
    return results
