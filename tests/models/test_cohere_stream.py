"""CohereModel.request_stream over respx: hand-written typed-event SSE bodies in, our events and
response out, in every chunking; the end-of-stream check, ERROR, unknown events, bad events."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelkit.exceptions import ModelkitError, ModelStreamError, StreamInterrupted, UnexpectedModelBehavior
from modelkit.messages import (
    ModelRequest,
    ModelResponse,
    ModelResponseStreamEvent,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ThinkingPart,
    ToolCallPart,
    ToolCallPartDelta,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models.cohere import TOOL_PLAN_ID, CohereModel
from modelkit.providers.cohere import CohereProvider
from modelkit.usage import Usage
from tests.helpers.streams import Pieces, all_chunkings

pytestmark = pytest.mark.anyio

URL = 'https://api.cohere.com/v2/chat'
HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
USAGE = {
    'billed_units': {'input_tokens': 8, 'output_tokens': 50},
    'tokens': {'input_tokens': 1394, 'output_tokens': 54},
}


def event(kind: str, *, named: bool = True, **fields: Any) -> bytes:
    """One SSE event as Cohere sends it: `event:` repeating the payload's `type`, then `data:`."""
    data = orjson.dumps({'type': kind, **fields})
    return (b'event: ' + kind.encode() + b'\n' if named else b'') + b'data: ' + data + b'\n\n'


def start(message_id: str = 'c9117d7f') -> bytes:
    empty = {'role': 'assistant', 'content': [], 'tool_plan': '', 'tool_calls': [], 'citations': []}
    return event('message-start', id=message_id, delta={'message': empty})


def content(kind: str, index: int, pieces: list[str]) -> bytes:
    opening = event('content-start', index=index, delta={'message': {'content': {'type': kind, kind: ''}}})
    deltas = [event('content-delta', index=index, delta={'message': {'content': {kind: p}}}) for p in pieces]
    return opening + b''.join(deltas) + event('content-end', index=index)


def tool_call(index: int, call_id: str, name: str, fragments: list[str]) -> bytes:
    call = {'id': call_id, 'type': 'function', 'function': {'name': name, 'arguments': ''}}
    opening = event('tool-call-start', index=index, delta={'message': {'tool_calls': call}})
    deltas = [
        event(
            'tool-call-delta', index=index, delta={'message': {'tool_calls': {'function': {'arguments': f}}}}
        )
        for f in fragments
    ]
    return opening + b''.join(deltas) + event('tool-call-end', index=index)


def end(finish_reason: str = 'COMPLETE', usage: dict[str, Any] | None = USAGE, **delta: Any) -> bytes:
    body: dict[str, Any] = {'finish_reason': finish_reason, **delta}
    if usage is not None:
        body['usage'] = usage
    return event('message-end', delta=body)


DONE = b'data: [DONE]\n\n'

REASONING = (
    start()
    + content('thinking', 0, ['Naïve ', '東京 😀'])
    + content('text', 1, ['Café ', 'au lait ✓'])
    + end()
    + DONE
)
TOOLS = (
    start()
    + b''.join(
        event('tool-plan-delta', delta={'message': {'tool_plan': p}}) for p in ['I will ', 'look it up.']
    )
    + tool_call(0, 'get_weather_9gpb31r7h7mj', 'get_weather', ['{"city"', ':"Paris"}'])
    + tool_call(1, 'now_2fnrphbsnr66', 'now', [])
    + end('TOOL_CALL')
    + DONE
)
CITED = (
    start()
    + content('text', 0, ['It is ', 'sunny.'])
    + event(
        'citation-start', index=0, delta={'message': {'citations': {'start': 6, 'end': 11, 'text': 'sunny'}}}
    )
    + event('citation-end', index=0)
    + event('debug', detail='a type modelkit does not know')
    + end()
    + DONE
)


async def run(
    pieces: list[bytes], client: httpx.AsyncClient
) -> tuple[list[ModelResponseStreamEvent], ModelResponse, Usage, Exception | None, Pieces]:
    """Stream a body given in pieces; the events, the response so far, usage, a ModelkitError if one."""
    body = Pieces(pieces)
    model = CohereModel(
        'command-a-reasoning-08-2025', provider=CohereProvider(api_key='co-key', http_client=client)
    )
    events: list[ModelResponseStreamEvent] = []
    error: Exception | None = None
    with respx.mock() as router:
        router.post(URL).mock(
            return_value=httpx.Response(200, headers={'content-type': 'text/event-stream'}, stream=body)
        )
        messages = [ModelRequest([UserPromptPart('Hi')])]
        async with model.request_stream(messages, None, ModelRequestParameters()) as streamed:
            try:
                async for item in streamed:
                    events.append(item)
            except ModelkitError as exc:
                error = exc
            response, usage = streamed.get(), streamed.usage()
        assert orjson.loads(router.calls.last.request.content)['stream'] is True
    return events, response, usage, error, body


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.mark.parametrize(('chunking', 'pieces'), list(all_chunkings(REASONING)))
async def test_thinking_then_text_in_every_chunking(
    client: httpx.AsyncClient, chunking: str, pieces: list[bytes]
) -> None:
    events, response, usage, error, body = await run(pieces, client)
    assert error is None
    assert response.parts == [ThinkingPart('Naïve 東京 😀'), TextPart('Café au lait ✓')]
    assert events[0] == PartStartEvent(0, ThinkingPart('Naïve '))
    assert events[2] == PartStartEvent(1, TextPart('Café '))
    assert events[3] == PartDeltaEvent(1, TextPartDelta('au lait ✓'))
    assert (response.vendor_id, response.finish_reason, response.vendor_finish_reason) == (
        'c9117d7f',
        'stop',
        'COMPLETE',
    )
    assert response.model_name == 'command-a-reasoning-08-2025'
    assert (usage.request_tokens, usage.response_tokens, usage.total_tokens) == (1394, 54, 1448)
    assert usage.details == {'billed_input_tokens': 8, 'billed_output_tokens': 50}
    assert body.exhausted  # read to the end, so the connection goes back to the pool


@pytest.mark.parametrize(('chunking', 'pieces'), list(all_chunkings(TOOLS)))
async def test_tool_plan_and_calls_in_every_chunking(
    client: httpx.AsyncClient, chunking: str, pieces: list[bytes]
) -> None:
    events, response, _, error, _ = await run(pieces, client)
    assert error is None
    assert response.parts == [
        ThinkingPart('I will look it up.', id=TOOL_PLAN_ID),
        ToolCallPart('get_weather', '{"city":"Paris"}', 'get_weather_9gpb31r7h7mj'),
        ToolCallPart('now', '{}', 'now_2fnrphbsnr66'),  # no argument deltas: completes as {}
    ]
    assert response.finish_reason == 'tool_call'
    # The empty call says so with one delta, at its tool-call-end.
    assert events[-1] == PartDeltaEvent(2, ToolCallPartDelta(args_delta='{}'))


async def test_citations_and_unknown_events_are_skipped(client: httpx.AsyncClient) -> None:
    events, response, _, error, _ = await run([CITED], client)
    assert error is None
    assert response.parts == [TextPart('It is sunny.')]
    assert len(events) == 2


async def test_events_without_event_lines_are_read_by_their_type(client: httpx.AsyncClient) -> None:
    # Decoded recordings keep only the data lines: the payload's type decides, not the SSE name.
    lines = [line for line in REASONING.split(b'\n') if line.startswith(b'data: {')]
    body = b''.join(line + b'\n\n' for line in lines)
    _, response, _, error, _ = await run([body], client)
    assert error is None
    assert response.parts == [ThinkingPart('Naïve 東京 😀'), TextPart('Café au lait ✓')]


async def test_message_end_is_the_end_without_done(client: httpx.AsyncClient) -> None:
    _, response, _, error, body = await run([REASONING.removesuffix(DONE), b': trailing comment\n\n'], client)
    assert error is None
    assert response.finish_reason == 'stop'
    assert body.exhausted


@pytest.mark.parametrize('reason', ['ERROR', 'TIMEOUT'])
async def test_a_failed_finish_is_a_stream_error_carrying_what_arrived(
    client: httpx.AsyncClient, reason: str
) -> None:
    body = (
        start()
        + content('text', 0, ['Half an ', 'answer'])
        + end(reason, usage=None, error='model overloaded')
        + DONE
    )
    _, response, _, error, _ = await run([body], client)
    assert isinstance(error, ModelStreamError)
    assert (error.vendor, error.error_type) == ('cohere', reason)
    assert f'finish reason {reason}: model overloaded' in str(error)
    assert error.partial_response is not None
    assert error.partial_response.parts == [TextPart('Half an answer')]
    assert error.partial_response.finish_reason == 'error'
    assert response.vendor_finish_reason == reason


async def test_an_error_event_or_object_in_the_stream_is_a_stream_error(client: httpx.AsyncClient) -> None:
    named = start() + b'event: error\ndata: {"message": "internal error"}\n\n'
    _, _, _, error, _ = await run([named], client)
    assert isinstance(error, ModelStreamError)
    assert 'internal error' in str(error)
    bare = start() + content('text', 0, ['Hi']) + b'data: {"id": "e1", "message": "rate limited"}\n\n'
    _, _, _, error, _ = await run([bare], client)
    assert isinstance(error, ModelStreamError)
    assert 'rate limited' in str(error)
    assert error.partial_response is not None
    assert error.partial_response.parts == [TextPart('Hi')]


@pytest.mark.parametrize(
    ('body', 'how'),
    [
        (start() + content('text', 0, ['Hello', ' there']), 'between events'),
        (start() + content('text', 0, ['Hello'])[:-9], 'in the middle of an event'),
        (start() + content('text', 0, ['Hello']) + DONE, 'between events'),  # [DONE] is no end on its own
    ],
)
async def test_a_stream_cut_before_message_end_is_interrupted(
    client: httpx.AsyncClient, body: bytes, how: str
) -> None:
    _, response, _, error, _ = await run([body], client)
    assert isinstance(error, StreamInterrupted)
    assert 'before message-end arrived' in str(error)
    assert how in str(error)
    assert error.partial_response is not None
    assert error.partial_response.parts == response.parts
    assert response.parts == [TextPart('Hello there' if 'there' in body.decode() else 'Hello')]


@pytest.mark.parametrize(
    ('bad', 'match'),
    [
        (b'data: {not json\n\n', 'not JSON'),
        (
            event('content-delta', index=0, delta={'message': {'content': {'text': 5}}}),
            'does not fit the schema',
        ),
        (event('tool-call-start', index='x', delta={'message': {'tool_calls': {'id': 3}}}), 'stream event'),
        (event('message-end', delta={'finish_reason': 'COMPLETE', 'usage': {'tokens': 'many'}}), 'usage'),
    ],
)
async def test_a_malformed_event_is_unexpected_model_behavior(
    client: httpx.AsyncClient, bad: bytes, match: str
) -> None:
    _, _, _, error, _ = await run([start() + content('text', 0, ['Hi']) + bad + end()], client)
    assert isinstance(error, UnexpectedModelBehavior)
    assert match in str(error)
    assert error.partial_response is not None
    assert error.partial_response.parts == [TextPart('Hi')]


# -- properties -----------------------------------------------------------------------------------


@HYPOTHESIS
@given(cuts=st.lists(st.integers(min_value=1, max_value=len(TOOLS) - 1), max_size=30, unique=True))
async def test_chunking_never_changes_events_or_response(client: httpx.AsyncClient, cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(TOOLS)]
    events, response, usage, error, _ = await run([TOOLS[a:b] for a, b in itertools.pairwise(bounds)], client)
    whole_events, whole_response, whole_usage, whole_error = (await run([TOOLS], client))[:4]
    assert error is whole_error is None
    assert events == whole_events
    assert response.parts == whole_response.parts
    assert usage == whole_usage


KINDS = [
    'message-start', 'content-start', 'content-delta', 'content-end', 'tool-plan-delta', 'tool-call-start',
    'tool-call-delta', 'tool-call-end', 'citation-start', 'citation-end', 'message-end', 'other',
]  # fmt: skip
KEYS = [
    'type', 'index', 'delta', 'message', 'content', 'text', 'thinking', 'tool_plan', 'tool_calls', 'id',
    'function', 'name', 'arguments', 'finish_reason', 'usage', 'error', 'billed_units', 'tokens',
    'input_tokens', 'output_tokens', 'citations',
]  # fmt: skip
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.sampled_from([*KINDS, 'COMPLETE', 'ERROR', 'TOOL_CALL', '[DONE]'])
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=12,
)
event_like = st.fixed_dictionaries(
    {'type': st.sampled_from(KINDS)}, optional={'index': json_values, 'delta': json_values, 'id': json_values}
)


@HYPOTHESIS
@given(payloads=st.lists(json_values | event_like, max_size=6), finished=st.booleans())
async def test_any_events_give_a_response_or_our_error(
    client: httpx.AsyncClient, payloads: list[Any], finished: bool
) -> None:
    body = b''.join(b'data: ' + orjson.dumps(payload) + b'\n\n' for payload in payloads)
    if finished:
        body += end()
    # `run` lets anything but a ModelkitError escape: a bare KeyError or TypeError fails here.
    _, response, _, error, _ = await run([body], client)
    if error is None:
        assert finished or any(isinstance(p, dict) and p.get('type') == 'message-end' for p in payloads)
    assert all(isinstance(getattr(part, 'content', ''), str) for part in response.parts)
    assert all(
        isinstance(part.tool_call_id, str) for part in response.parts if isinstance(part, ToolCallPart)
    )
