"""Benchmark 2: text deltas reaching user code, end to end, over an in-memory HTTP transport.

Each contender sends one streamed chat-completions request through a real HTTP client whose
transport answers, without a socket, with the same 20,000-chunk body in one piece per event (what
a socket delivers while tokens trickle out). User code collects every text delta; the joined text
is checked once against the stream before timing. The floor is the least any client can do over
the same transport: httpx `client.stream`, split on blank lines, orjson, and pick
`choices[0].delta.content`.

The openai SDK now talks through `httpx2` (its fork of httpx), so the SDK, pydantic-ai and LiteLLM
get an `httpx2.AsyncClient` with the same in-memory transport, written against httpx2's own
transport interface; with an older SDK built on httpx they get an httpx client.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import import_module
from types import ModuleType
from typing import Any

import anyio
import httpx
import orjson

from ._harness import RUN_TIMEOUT_S, Result, Unavailable, print_table, runs_within, time_round_robin_async
from ._stream import OpenAIStream, cut

__all__ = (
    'floor_over',
    'litellm_over',
    'make_transport',
    'modelkit_over',
    'openai_client',
    'openai_sdk_over',
    'prompt_text',
    'pydantic_ai_over',
    'run',
    'run_case',
    'text_from_request_stream',
)

TARGET_RATIO = 1.4
"""modelkit's `OpenAIModel.request_stream` must stay within this factor of the floor (issue 7)."""

CHUNKING = 'per-event'

# No request can leave the machine: an in-memory transport answers everything, and should one be
# bypassed, a loopback address with nothing listening refuses at once.
BASE_URL = 'http://127.0.0.1:9/v1'
API_KEY = 'sk-benchmark-not-a-real-key'
PROMPT = 'Write a very long essay about streaming parsers.'

Emit = Callable[[str], object]
Contender = Callable[[Emit], Awaitable[None]]


def make_transport(http: ModuleType, pieces: list[bytes]) -> Any:
    """An in-memory transport for `http` (httpx or httpx2) answering every request with `pieces`.

    It reads the request body (as a server would) and checks it asks for a stream, so a contender
    that silently stopped streaming fails the benchmark instead of measuring something else.
    """

    class _Body(http.AsyncByteStream):  # type: ignore[name-defined,misc]
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for piece in pieces:
                yield piece

    class _Transport(http.AsyncBaseTransport):  # type: ignore[name-defined,misc]
        async def handle_async_request(self, request: Any) -> Any:
            body = orjson.loads(await request.aread())
            if not body.get('stream'):
                raise AssertionError(f'expected a streamed request, got {body!r}'[:300])
            return http.Response(
                200,
                headers={'content-type': 'text/event-stream; charset=utf-8'},
                stream=_Body(),
                request=request,
            )

    return _Transport()


def _sdk_http() -> ModuleType:
    # The http library the installed openai SDK accepts natively.
    try:
        import httpx2
        from openai import _base_client

        if getattr(_base_client, 'httpx2', None) is httpx2:
            return httpx2
    except ImportError:
        pass
    return httpx


# --------------------------------------------------------------------------------------------
# Contenders
# --------------------------------------------------------------------------------------------


def _floor(pieces: list[bytes]) -> Contender:
    return floor_over(httpx.AsyncClient(transport=make_transport(httpx, pieces)), BASE_URL, API_KEY)


def floor_over(client: httpx.AsyncClient, base_url: str, api_key: str) -> Contender:
    """The floor through `client`: stream, split on blank lines, orjson, `choices[0].delta.content`."""
    request_body = orjson.dumps(
        {
            'model': 'gpt-4o',
            'messages': [{'role': 'user', 'content': PROMPT}],
            'stream': True,
            'stream_options': {'include_usage': True},
        }
    )
    headers = {'authorization': f'Bearer {api_key}', 'content-type': 'application/json'}
    url = f'{base_url}/chat/completions'

    async def run(emit: Emit) -> None:
        loads = orjson.loads
        pending: list[bytes] = []
        async with client.stream('POST', url, content=request_body, headers=headers) as response:
            response.raise_for_status()
            async for piece in response.aiter_bytes():
                if pending:
                    pending.append(piece)
                    if b'\n' not in piece:
                        continue
                    piece = b''.join(pending)
                    pending.clear()
                events = piece.split(b'\n\n')
                rest = events.pop()
                if rest:
                    pending.append(rest)
                for event in events:
                    if not event.startswith(b'data: '):
                        continue
                    payload = event[6:]
                    if payload == b'[DONE]':
                        continue
                    choices = loads(payload)['choices']
                    if choices:
                        content = choices[0]['delta'].get('content')
                        if content:
                            emit(content)

    return run


def _modelkit(pieces: list[bytes]) -> Contender:
    return modelkit_over(BASE_URL, API_KEY, httpx.AsyncClient(transport=make_transport(httpx, pieces)))


def modelkit_over(base_url: str, api_key: str, http_client: httpx.AsyncClient | None) -> Contender:
    """`OpenAIModel.request_stream` at `base_url`; with no `http_client`, modelkit's shared one."""
    try:
        # Module imports (not names) keep the import order stable whether or not the vendor
        # modules exist yet in the tree ruff looks at.
        from modelkit.models import openai as openai_model
        from modelkit.providers import openai as openai_provider
    except ImportError as exc:
        raise Unavailable(f'not available yet ({exc})') from None

    provider = openai_provider.OpenAIProvider(api_key=api_key, base_url=base_url, http_client=http_client)
    return prompt_text(openai_model.OpenAIModel('gpt-4o', provider=provider), 'modelkit')


def prompt_text(model: Any, library: str) -> Contender:
    """`text_from_request_stream` for one user prompt (`PROMPT`), built with the message and event
    classes of `library`: `'modelkit'` or `'pydantic_ai'`."""
    m = import_module(f'{library}.messages')
    parameters = import_module(f'{library}.models').ModelRequestParameters()
    messages: list[Any] = [m.ModelRequest(parts=[m.UserPromptPart(PROMPT)])]
    events = (m.PartStartEvent, m.PartDeltaEvent, m.TextPart, m.TextPartDelta)
    return text_from_request_stream(model, messages, parameters, events)


def text_from_request_stream(
    model: Any, messages: list[Any], parameters: Any, event_types: tuple[type, type, type, type]
) -> Contender:
    """A contender that emits the text of `model.request_stream` (modelkit's and pydantic-ai's
    event classes share their shape, so one loop serves both)."""
    part_start, part_delta, text_part, text_delta = event_types

    async def run(emit: Emit) -> None:
        async with model.request_stream(messages, None, parameters) as response:
            async for event in response:
                if isinstance(event, part_delta):
                    if isinstance(event.delta, text_delta):
                        emit(event.delta.content_delta)
                elif isinstance(event, part_start) and isinstance(event.part, text_part):
                    emit(event.part.content)

    return run


def _openai_client(pieces: list[bytes]) -> Any:
    http = _sdk_http()
    return openai_client(BASE_URL, API_KEY, http.AsyncClient(transport=make_transport(http, pieces)))


def openai_client(base_url: str, api_key: str, http_client: Any = None) -> Any:
    """An `AsyncOpenAI` without retries; with no `http_client`, the SDK's own (real sockets)."""
    try:
        from openai import AsyncOpenAI
    except ImportError:
        raise Unavailable('not installed') from None
    return AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, http_client=http_client)


def _openai_sdk(pieces: list[bytes]) -> Contender:
    return openai_sdk_over(_openai_client(pieces))


def openai_sdk_over(client: Any) -> Contender:
    """`chat.completions.create(stream=True)` through the SDK `client`."""

    async def run(emit: Emit) -> None:
        stream = await client.chat.completions.create(
            model='gpt-4o',
            messages=[{'role': 'user', 'content': PROMPT}],
            stream=True,
            stream_options={'include_usage': True},
        )
        async with stream:
            async for chunk in stream:
                if chunk.choices:
                    content = chunk.choices[0].delta.content
                    if content:
                        emit(content)

    return run


def _pydantic_ai(pieces: list[bytes]) -> Contender:
    return pydantic_ai_over(lambda: _openai_client(pieces))


def pydantic_ai_over(make_client: Callable[[], Any]) -> Contender:
    """pydantic-ai's OpenAI chat model on a provider built on the SDK client `make_client()` returns."""
    try:
        from pydantic_ai.providers.openai import OpenAIProvider
    except ImportError:
        raise Unavailable('not installed') from None
    try:
        from pydantic_ai.models.openai import OpenAIChatModel as ChatModel
    except ImportError:  # releases before the Responses API split
        from pydantic_ai.models.openai import OpenAIModel as ChatModel  # type: ignore[attr-defined,no-redef]

    return prompt_text(
        ChatModel('gpt-4o', provider=OpenAIProvider(openai_client=make_client())), 'pydantic_ai'
    )


def _litellm(pieces: list[bytes]) -> Contender:
    # `client=` hands LiteLLM our SDK client, so its requests go through the same transport.
    return litellm_over(
        lambda: {
            'model': 'openai/gpt-4o',
            'stream_options': {'include_usage': True},
            'api_key': API_KEY,
            'base_url': BASE_URL,
            'client': _openai_client(pieces),
        }
    )


def litellm_over(make_kwargs: Callable[[], dict[str, Any]]) -> Contender:
    """`litellm.acompletion(stream=True, **make_kwargs())` for the prompt, emitting each chunk's text
    (`make_kwargs` runs once LiteLLM is imported, so it may build LiteLLM's own objects)."""
    # Use the cost map bundled with the package rather than fetching one at import time.
    os.environ.setdefault('LITELLM_LOCAL_MODEL_COST_MAP', 'True')
    try:
        import litellm
    except ImportError:
        raise Unavailable('not installed') from None
    litellm.telemetry = False
    litellm.suppress_debug_info = True
    kwargs = make_kwargs()

    async def run(emit: Emit) -> None:
        response = await litellm.acompletion(
            messages=[{'role': 'user', 'content': PROMPT}], stream=True, **kwargs
        )
        async for chunk in response:
            if chunk.choices:
                content = chunk.choices[0].delta.content
                if content:
                    emit(content)

    return run


_CONTENDERS: tuple[tuple[str, Callable[[list[bytes]], Contender], float | None], ...] = (
    ('modelkit OpenAIModel.request_stream', _modelkit, TARGET_RATIO),
    ('openai SDK chat.completions.create', _openai_sdk, None),
    ('pydantic-ai OpenAIChatModel.request_stream', _pydantic_ai, None),
    ('LiteLLM acompletion', _litellm, None),
)


async def _check(
    result: Result, contender: Contender, expected: str, repeats: int, budget_s: float, min_runs: int
) -> None:
    """Run once untimed (warming caches), check the text, and cap the runs of a slow contender."""
    got: list[str] = []
    start = time.perf_counter()
    try:
        with anyio.fail_after(RUN_TIMEOUT_S):
            await contender(got.append)
    except Exception as exc:
        result.status = f'error: {type(exc).__name__}: {exc}'.replace('\n', ' ')[:160]
        return
    one_run_s = time.perf_counter() - start
    text = ''.join(got)
    if text != expected:
        result.status = f'error: wrong text ({len(text)} chars, expected {len(expected)})'
    result.max_runs = runs_within(budget_s, one_run_s, repeats, at_least=min_runs)


async def _run_async(
    stream: OpenAIStream, repeats: int, budget_s: float, min_runs: int, peers: bool
) -> list[Result]:
    pieces = cut(stream, CHUNKING)
    return await run_case(
        'e2e',
        pieces,
        len(stream.events),
        stream.text,
        _floor,
        _CONTENDERS,
        repeats,
        budget_s,
        min_runs,
        peers,
    )


async def run_case(
    group: str,
    pieces: list[bytes],
    units: int,
    expected: str,
    make_floor: Callable[[list[bytes]], Contender],
    contenders: tuple[tuple[str, Callable[[list[bytes]], Contender], float | None], ...],
    repeats: int,
    budget_s: float,
    min_runs: int,
    peers: bool,
) -> list[Result]:
    """Check and time the floor and each contender (peers are those without a target) on `pieces`,
    which must make the text `expected`; every vendor's end-to-end rows run through here."""
    # Dropping each delta as user code that merely looks at it would.
    sink: Emit = len
    case_name = f'{CHUNKING} pieces'
    floor = Result(group, case_name, 'floor: httpx stream + split + orjson', units=units, is_floor=True)
    floor_run = make_floor(pieces)
    await _check(floor, floor_run, expected, repeats, budget_s, min_runs)
    case: list[tuple[Result, Callable[[], Awaitable[object]] | None]] = [(floor, lambda: floor_run(sink))]
    for name, factory, target in contenders:
        if not peers and target is None:
            continue
        result = Result(group, case_name, name, units=units, target=target)
        try:
            contender: Contender | None = factory(pieces)
        except Unavailable as exc:
            result.status = str(exc)
            contender = None
        except Exception as exc:
            result.status = f'error: {type(exc).__name__}: {exc}'.replace('\n', ' ')[:160]
            contender = None
        if contender is not None:
            await _check(result, contender, expected, repeats, budget_s, min_runs)
        case.append((result, _bind(contender, sink) if contender is not None else None))
    await time_round_robin_async(case, repeats)
    return [r for r, _ in case]


def _bind(contender: Contender, sink: Emit) -> Callable[[], Awaitable[None]]:
    return lambda: contender(sink)


def run(
    stream: OpenAIStream, repeats: int, budget_s: float = 20.0, min_runs: int = 3, *, peers: bool = True
) -> list[Result]:
    """Time every contender on asyncio and print the table.

    A contender gets fewer runs (at least `min_runs`) when `repeats` of them would take longer
    than `budget_s`: LiteLLM needs seconds per run where the floor needs milliseconds. Without
    `peers`, only the floor and modelkit run.
    """
    results: list[Result] = anyio.run(
        _run_async, stream, repeats, budget_s, min_runs, peers, backend='asyncio'
    )
    print_table(
        f'2. End to end, text deltas to user code: {len(stream.events):,} events over an in-memory '
        f'transport, median of up to {repeats} (target: modelkit <= {TARGET_RATIO:g}x floor)',
        results,
    )
    return results
