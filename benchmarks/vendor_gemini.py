"""Benchmark (Gemini): end to end through `GeminiModel.request_stream`, and the cold import of the
interface with both providers. The decode rows are `gemini_decode.py`'s (`--only gemini-decode`).

End to end: each contender sends one `streamGenerateContent?alt=sse` request through a real HTTP
client whose in-memory transport answers with the same 20,000-chunk Gemini stream (Google's
`data: {...}\\r\\n\\r\\n` layout, growing usage, the finish reason last), one piece per event.
User code collects every text delta; the joined text is checked once before timing. The floor:
httpx `client.stream`, split on `\\r\\n\\r\\n`, orjson, `candidates[0].content.parts[0].text`.
Beside modelkit: pydantic-ai's `GoogleModel` (on the google-genai SDK) and LiteLLM's `gemini/`
route, both given an httpx client on the same transport, where installed.

Cold import: `import modelkit.models.gemini, modelkit.providers.google_gla,
modelkit.providers.google_vertex` against the floor (`import httpx, pydantic, orjson`), each in a
fresh interpreter; the same child also checks that `google.auth` was not imported, since Vertex's
credentials load at its first request only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson

from . import cold_import
from ._harness import Result, Unavailable
from .end_to_end import Contender, Emit, litellm_over, make_transport, text_from_request_stream, vendor_table
from .gemini_decode import GeminiStream, build_gemini_stream

__all__ = ('E2E_TARGET', 'IMPORT_TARGET', 'run')

E2E_TARGET = 1.5
"""`GeminiModel.request_stream` must stay within this factor of the floor (issue 9, item 10)."""
IMPORT_TARGET = 1.25
"""The interface plus both providers must import within this factor of the floor (issue 9)."""

BASE_URL = 'http://127.0.0.1:9'  # nothing listens there: a bypassed transport fails at once
API_KEY = 'benchmark-not-a-real-key'
MODEL = 'gemini-2.0-flash'
PROMPT = 'Write a very long essay about streaming parsers.'
INTERFACE_AND_PROVIDERS = (
    'modelkit.models.gemini, modelkit.providers.google_gla, modelkit.providers.google_vertex'
)


def _importable(modules: str) -> str:
    """`modules` without the ones not in this tree yet (Vertex's provider lands on its own branch)."""
    from importlib.util import find_spec

    return ', '.join(m for m in modules.split(', ') if find_spec(m) is not None)


def _asks_for_sse(request: Any, body: Any) -> bool:
    return request.url.path.endswith(':streamGenerateContent') and request.url.params.get('alt') == 'sse'


def _transport(pieces: list[bytes]) -> Any:
    return make_transport(httpx, pieces, asks_for_stream=_asks_for_sse)


def _text(stream: GeminiStream) -> str:
    return ''.join(c['candidates'][0]['content']['parts'][0]['text'] for c in stream.chunks)  # type: ignore[index]


# --------------------------------------------------------------------------------------------
# Contenders
# --------------------------------------------------------------------------------------------


def _streamed_text(model: Any, messages: Any, parameters: Any) -> Contender:
    """The text of `model.request_stream` for PROMPT; `messages` is modelkit's or pydantic-ai's
    messages module (their classes share names and shapes)."""
    request: list[Any] = [messages.ModelRequest(parts=[messages.UserPromptPart(PROMPT)])]
    types = (messages.PartStartEvent, messages.PartDeltaEvent, messages.TextPart, messages.TextPartDelta)
    return text_from_request_stream(model, request, parameters, types)


def _floor(pieces: list[bytes]) -> Contender:
    client = httpx.AsyncClient(transport=_transport(pieces))
    url = f'{BASE_URL}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse'
    request_body = orjson.dumps({'contents': [{'role': 'user', 'parts': [{'text': PROMPT}]}]})
    headers = {'x-goog-api-key': API_KEY, 'content-type': 'application/json'}

    async def run(emit: Emit) -> None:
        loads = orjson.loads
        pending: list[bytes] = []
        async with client.stream('POST', url, content=request_body, headers=headers) as response:
            response.raise_for_status()
            async for piece in response.aiter_bytes():
                if pending:
                    pending.append(piece)
                    piece = b''.join(pending)
                    pending.clear()
                events = piece.split(b'\r\n\r\n')
                if rest := events.pop():
                    pending.append(rest)
                for event in events:
                    text = loads(event[6:])['candidates'][0]['content']['parts'][0].get('text')
                    if text:
                        emit(text)

    return run


def _modelkit(pieces: list[bytes]) -> Contender:
    try:
        from modelkit import messages
        from modelkit.models import ModelRequestParameters
        from modelkit.models import gemini as gemini_model
        from modelkit.providers import google_gla
    except ImportError as exc:
        raise Unavailable(f'not available yet ({exc})') from None
    provider = google_gla.GoogleGLAProvider(
        api_key=API_KEY, base_url=BASE_URL, http_client=httpx.AsyncClient(transport=_transport(pieces))
    )
    model = gemini_model.GeminiModel(MODEL, provider=provider)
    return _streamed_text(model, messages, ModelRequestParameters())


def _pydantic_ai(pieces: list[bytes]) -> Contender:
    try:
        from google import genai
        from google.genai import types
        from pydantic_ai import messages
        from pydantic_ai.models import ModelRequestParameters
        from pydantic_ai.models.google import GoogleModel
        from pydantic_ai.providers.google import GoogleProvider
    except ImportError:
        raise Unavailable('not installed') from None
    options = types.HttpOptions(
        base_url=BASE_URL, httpx_async_client=httpx.AsyncClient(transport=_transport(pieces))
    )
    client = genai.Client(api_key=API_KEY, http_options=options)
    model = GoogleModel(MODEL, provider=GoogleProvider(client=client))
    return _streamed_text(model, messages, ModelRequestParameters())


def _litellm(pieces: list[bytes]) -> Contender:
    def kwargs() -> dict[str, Any]:
        from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

        # LiteLLM's `gemini/` route speaks the wire itself through its httpx handler: give it ours.
        handler = AsyncHTTPHandler()
        handler.client = httpx.AsyncClient(transport=_transport(pieces))
        return {'model': f'gemini/{MODEL}', 'api_key': API_KEY, 'api_base': BASE_URL, 'client': handler}

    return litellm_over(kwargs)


_CONTENDERS: tuple[tuple[str, Callable[[list[bytes]], Contender], float | None], ...] = (
    ('modelkit GeminiModel.request_stream', _modelkit, E2E_TARGET),
    ('pydantic-ai GoogleModel.request_stream', _pydantic_ai, None),
    ('LiteLLM acompletion gemini/', _litellm, None),
)


def _run_import(repeats: int) -> list[Result]:
    modules = _importable(INTERFACE_AND_PROVIDERS)
    label = 'import modelkit.models.gemini + google_gla + google_vertex'
    if modules != INTERFACE_AND_PROVIDERS:
        label += ' (google_vertex not in this tree yet)'
    cases = (
        ('floor: import httpx, pydantic, orjson', cold_import.FLOOR, None),
        (label, modules, IMPORT_TARGET),
    )
    # Vertex's credentials (google.auth) load at the first Vertex request, never at import.
    return cold_import.run(
        repeats,
        cases,
        'modelkit.models.gemini + providers',
        IMPORT_TARGET,
        forbidden=('google.auth',),
    )


def run(
    content_chunks: int,
    repeats: int,
    *,
    budget_s: float = 20.0,
    min_runs: int = 3,
    peers: bool = True,
    seed: int = 0,
) -> list[Result]:
    """The end-to-end table (asyncio) and the cold-import table."""
    stream = build_gemini_stream(content_chunks, seed)
    results = vendor_table(
        'Gemini',
        list(stream.sse_events),
        len(stream.chunks),
        _text(stream),
        _floor,
        _CONTENDERS,
        repeats,
        budget_s,
        min_runs,
        peers,
        E2E_TARGET,
    )
    return results + _run_import(cold_import.QUICK_REPEATS if repeats <= 3 else cold_import.REPEATS)
