"""MistralModel.request_stream over respx: list content (thinking chunks with nested text, then
text) in one delta and a plain string in the next, whole tool calls, usage on the finish chunk."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from modelkit.exceptions import ModelStreamError, StreamInterrupted, UnexpectedModelBehavior
from modelkit.messages import (
    ModelRequest,
    ModelResponse,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models.mistral import MistralModel
from modelkit.providers.mistral import MistralProvider
from modelkit.usage import Usage
from tests.helpers.streams import Pieces, bytewise, random_split
from tests.models import _openai_family
from tests.models._openai_family import sse

pytestmark = pytest.mark.anyio

router = _openai_family.router  # the shared fixtures
http_client = _openai_family.http_client

URL = 'https://api.mistral.ai/v1/chat/completions'
USAGE = {
    'prompt_tokens': 10,
    'total_tokens': 56,
    'completion_tokens': 46,
    'prompt_tokens_details': {'cached_tokens': 3},
}


def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    """A Mistral chat.completion.chunk (with its `p` padding)."""
    return {
        'id': 'a4e29c5b82f94d67b23e108a7c9df6e1',
        'object': 'chat.completion.chunk',
        'created': 1_769_088_912,
        'model': 'magistral-medium-2507',
        'choices': [{'index': 0, 'delta': delta, 'finish_reason': finish_reason}],
        'p': 'abcdefg',
        **extra,
    }


def thinking(*texts: str) -> dict[str, Any]:
    return {'type': 'thinking', 'thinking': [{'type': 'text', 'text': t} for t in texts]}


REASONING_STREAM = sse(
    chunk({'role': 'assistant', 'content': [thinking('The user is asking')]}),
    chunk({'content': [thinking(' for 2+2.', ' 2+2=4.')]}),
    chunk({'content': [{'type': 'text', 'text': '2 + 2'}]}),
    chunk({'content': ' = 4'}),
    chunk({'content': ''}, 'stop', usage=USAGE),
)
REASONING_PARTS = [ThinkingPart('The user is asking for 2+2. 2+2=4.'), TextPart('2 + 2 = 4')]


async def stream_all(
    router: respx.MockRouter, http_client: httpx.AsyncClient, body: bytes | list[bytes]
) -> tuple[ModelResponse, Usage]:
    pieces = body if isinstance(body, list) else [body]
    router.post(URL).mock(
        return_value=httpx.Response(200, headers={'content-type': 'text/event-stream'}, stream=Pieces(pieces))
    )
    model = MistralModel(
        'magistral-medium-latest', provider=MistralProvider(api_key='m', http_client=http_client)
    )
    async with model.request_stream(
        [ModelRequest([UserPromptPart('2+2?')])], None, ModelRequestParameters()
    ) as s:
        async for _ in s:
            pass
        return s.get(), s.usage()


async def test_thinking_chunks_then_text_chunk_then_a_plain_string(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    response, usage = await stream_all(router, http_client, REASONING_STREAM)
    assert response.parts == REASONING_PARTS
    assert (usage.request_tokens, usage.response_tokens, usage.total_tokens) == (10, 46, 56)
    assert usage.details == {'cached_tokens': 3}
    assert (response.vendor_id, response.model_name) == (
        'a4e29c5b82f94d67b23e108a7c9df6e1',
        'magistral-medium-2507',
    )


async def test_however_the_bytes_are_cut(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    for pieces in (bytewise(REASONING_STREAM), *(random_split(REASONING_STREAM, seed) for seed in range(3))):
        response, _ = await stream_all(router, http_client, pieces)
        assert response.parts == REASONING_PARTS


async def test_whole_tool_call_in_one_delta_without_index(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    call = {'id': 'gSIMJiOkT', 'function': {'name': 'weather', 'arguments': '{"location": "San Francisco"}'}}
    body = sse(
        chunk({'role': 'assistant', 'content': ''}),
        chunk({'content': None, 'tool_calls': [call]}, 'tool_calls', usage=USAGE),
    )
    response, usage = await stream_all(router, http_client, body)
    assert response.parts == [ToolCallPart('weather', '{"location": "San Francisco"}', 'gSIMJiOkT')]
    assert response.finish_reason == 'tool_call'
    assert usage.total_tokens == 56


async def test_unknown_chunk_types_are_skipped(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    body = sse(
        chunk({'role': 'assistant', 'content': [{'type': 'reference', 'reference_ids': [1]}]}),
        chunk({'content': [{'type': 'text', 'text': 'Hi'}]}, 'stop'),
    )
    response, _ = await stream_all(router, http_client, body)
    assert response.parts == [TextPart('Hi')]


@pytest.mark.parametrize(
    'content',
    [
        [{'type': 'text', 'text': 3}],
        [{'type': 'thinking', 'thinking': 'not a list'}],
        {'type': 'text', 'text': 'an object, not a list'},
    ],
)
async def test_content_of_the_wrong_shape_is_named(
    router: respx.MockRouter, http_client: httpx.AsyncClient, content: Any
) -> None:
    body = sse(chunk({'role': 'assistant', 'content': ''}), chunk({'content': content}, 'stop'))
    with pytest.raises(UnexpectedModelBehavior, match='mistral') as info:
        await stream_all(router, http_client, body)
    assert 'content' in str(info.value)


async def test_error_object_and_cut_streams(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    error = {
        'object': 'error',
        'message': 'Service unavailable',
        'type': 'internal_server_error',
        'code': '1000',
    }
    body = sse(chunk({'role': 'assistant', 'content': 'Hel'}), {'error': error}, done=False)
    with pytest.raises(ModelStreamError) as info:
        await stream_all(router, http_client, body)
    assert info.value.partial_response is not None
    assert info.value.partial_response.parts == [TextPart('Hel')]
    with pytest.raises(StreamInterrupted):
        await stream_all(router, http_client, REASONING_STREAM[:200])
