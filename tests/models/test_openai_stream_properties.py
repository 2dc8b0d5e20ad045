"""Properties of OpenAIModel's stream loop: chunking never changes the result, and any chunk
contents give a response or one of our errors, never a bare KeyError or TypeError."""

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

from modelkit.exceptions import ModelkitError
from modelkit.messages import ModelRequest, ModelResponse, ModelResponseStreamEvent, UserPromptPart
from modelkit.models import ModelRequestParameters
from modelkit.models.openai import OpenAIModel
from modelkit.providers.openai import OpenAIProvider
from tests.helpers.streams import Pieces

pytestmark = pytest.mark.anyio

URL = 'https://api.openai.com/v1/chat/completions'
# One http client per test (not per example): building one loads the TLS trust store, which would
# dominate every example. It is safe to share: respx answers every request, nothing is pooled.
HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def run_stream(
    client: httpx.AsyncClient, pieces: list[bytes]
) -> tuple[list[ModelResponseStreamEvent], ModelResponse | None, Exception | None]:
    """Stream a body given in pieces; return the events, the response, and a ModelkitError if one."""
    events: list[ModelResponseStreamEvent] = []
    error: Exception | None = None
    response = None
    model = OpenAIModel('gpt-4o', provider=OpenAIProvider(api_key='sk-test', http_client=client))
    with respx.mock() as router:
        answer = httpx.Response(200, headers={'content-type': 'text/event-stream'}, stream=Pieces(pieces))
        router.post(URL).mock(return_value=answer)
        messages = [ModelRequest([UserPromptPart('Hi')])]
        try:
            async with model.request_stream(messages, None, ModelRequestParameters()) as streamed:
                async for event in streamed:
                    events.append(event)
                response = streamed.get()
        except ModelkitError as exc:
            error = exc
    return events, response, error


def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
    choice = {'index': 0, 'delta': delta, 'finish_reason': finish_reason}
    payload = {'id': 'c1', 'created': 1, 'model': 'gpt-4o', 'choices': [choice], **extra}
    return b'data: ' + orjson.dumps(payload) + b'\n\n'


BODY = b''.join(
    [
        chunk({'role': 'assistant', 'content': '', 'reasoning_content': 'Hmm, '}),
        chunk({'reasoning_content': 'naïve 東京 😀'}),
        chunk({'content': 'Café '}),
        chunk({'content': 'au lait ✓'}),
        chunk(
            {
                'tool_calls': [
                    {
                        'index': 0,
                        'id': 'call_a',
                        'type': 'function',
                        'function': {'name': 'f', 'arguments': ''},
                    }
                ]
            }
        ),
        chunk(
            {
                'tool_calls': [
                    {
                        'index': 1,
                        'id': 'call_b',
                        'type': 'function',
                        'function': {'name': 'g', 'arguments': '{"x"'},
                    }
                ]
            }
        ),
        chunk({'tool_calls': [{'index': 0, 'function': {'arguments': '{"q": "ü"}'}}]}),
        chunk({'tool_calls': [{'index': 1, 'function': {'arguments': ': 1}'}}]}),
        chunk({}, 'tool_calls'),
        b'data: '
        + orjson.dumps(
            {
                'id': 'c1',
                'choices': [],
                'usage': {'prompt_tokens': 3, 'completion_tokens': 4, 'total_tokens': 7},
            }
        )
        + b'\n\n',
        b'data: [DONE]\n\n',
    ]
)


@HYPOTHESIS
@given(cuts=st.lists(st.integers(min_value=1, max_value=len(BODY) - 1), max_size=30, unique=True))
async def test_chunking_never_changes_events_or_response(client: httpx.AsyncClient, cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(BODY)]
    pieces = [BODY[a:b] for a, b in itertools.pairwise(bounds)]
    events, response, error = await run_stream(client, pieces)
    whole_events, whole_response, whole_error = await run_stream(client, [BODY])
    assert error is None
    assert whole_error is None
    assert events == whole_events
    assert response is not None
    assert whole_response is not None
    assert response.parts == whole_response.parts
    assert len(response.parts) == 4


KEYS = [
    'choices', 'delta', 'content', 'reasoning', 'reasoning_content', 'refusal', 'tool_calls', 'index', 'id',
    'function', 'name', 'arguments', 'finish_reason', 'usage', 'x_groq', 'error', 'model', 'created',
    'prompt_tokens', 'completion_tokens', 'total_tokens', 'message', 'type', 'code',
]  # fmt: skip
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.sampled_from(['stop', 'tool_calls', 'error', '[DONE]'])
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=12,
)
deltas = st.dictionaries(
    st.sampled_from(['content', 'reasoning', 'reasoning_content', 'refusal', 'tool_calls', 'role']),
    json_values,
    max_size=3,
)
chunk_like = st.fixed_dictionaries(
    {
        'choices': st.lists(
            st.fixed_dictionaries({'delta': deltas}, optional={'finish_reason': json_values}), max_size=2
        )
    },
    optional={
        'usage': json_values,
        'x_groq': json_values,
        'created': json_values,
        'model': json_values,
        'error': json_values,
    },
)


@HYPOTHESIS
@given(payloads=st.lists(json_values | chunk_like, max_size=5), done=st.booleans())
async def test_any_chunks_give_a_response_or_our_error(
    client: httpx.AsyncClient, payloads: list[Any], done: bool
) -> None:
    body = b''.join(b'data: ' + orjson.dumps(payload) + b'\n\n' for payload in payloads)
    if done:
        body += b'data: [DONE]\n\n'
    # run_stream lets anything but a ModelkitError escape, so this fails on a bare KeyError & co.
    _, response, error = await run_stream(client, [body])
    assert (response is None) != (error is None)
    if response is not None:
        assert all(isinstance(getattr(part, 'content', ''), str) for part in response.parts)
