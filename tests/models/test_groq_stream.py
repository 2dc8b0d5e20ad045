"""GroqModel.request_stream over respx: `x_groq` usage, inline `<think>` tags cut anywhere, errors.

Also the kit's `ThinkTagSplitter` on its own: however a text is cut into deltas, the stretches of
text and thinking it yields are the same.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import httpx
import orjson
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from modelkit.exceptions import ModelStreamError, StreamInterrupted
from modelkit.messages import (
    ModelRequest,
    ModelResponse,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models._kit import ThinkTagSplitter
from modelkit.models.groq import GroqModel
from modelkit.providers.groq import GroqProvider
from modelkit.usage import Usage
from tests.helpers.streams import Pieces, bytewise, random_split
from tests.models import _openai_family
from tests.models._openai_family import sse

pytestmark = pytest.mark.anyio

router = _openai_family.router  # the shared fixtures
http_client = _openai_family.http_client

URL = 'https://api.groq.com/openai/v1/chat/completions'
X_GROQ_USAGE = {
    'queue_time': 0.04,
    'prompt_tokens': 210,
    'prompt_time': 0.01,
    'completion_tokens': 15,
    'completion_time': 0.05,
    'total_tokens': 225,
    'total_time': 0.06,
    'completion_tokens_details': {'reasoning_tokens': 9},
}


def chunk(
    delta: dict[str, Any] | None = None, finish_reason: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A Groq chat.completion.chunk."""
    return {
        'id': 'chatcmpl-b610d559',
        'object': 'chat.completion.chunk',
        'created': 1_770_770_843,
        'model': 'qwen/qwen3-32b',
        'system_fingerprint': 'fp_f8b414701e',
        'choices': [{'index': 0, 'delta': delta or {}, 'logprobs': None, 'finish_reason': finish_reason}],
        **extra,
    }


def text_stream(*deltas: str) -> bytes:
    """A Groq stream whose content arrives in `deltas`, usage only under `x_groq` on the last chunk."""
    return sse(
        chunk({'role': 'assistant', 'content': ''}, x_groq={'id': 'req_1', 'seed': 1}),
        *(chunk({'content': delta}) for delta in deltas),
        chunk({}, 'stop', x_groq={'id': 'req_1', 'usage': X_GROQ_USAGE}),
    )


async def stream_all(
    router: respx.MockRouter, http_client: httpx.AsyncClient, body: bytes | list[bytes]
) -> tuple[ModelResponse, Usage, list[Any]]:
    pieces = body if isinstance(body, list) else [body]
    router.post(URL).mock(
        return_value=httpx.Response(200, headers={'content-type': 'text/event-stream'}, stream=Pieces(pieces))
    )
    model = GroqModel('qwen/qwen3-32b', provider=GroqProvider(api_key='gsk-test', http_client=http_client))
    messages = [ModelRequest([UserPromptPart('Q')])]
    async with model.request_stream(messages, None, ModelRequestParameters()) as stream:
        events = [event async for event in stream]
        return stream.get(), stream.usage(), events


async def test_usage_comes_from_x_groq(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    response, usage, _ = await stream_all(router, http_client, text_stream('Par', 'is.'))
    assert response.parts == [TextPart('Paris.')]
    assert (usage.request_tokens, usage.response_tokens, usage.total_tokens) == (210, 15, 225)
    assert usage.details == {'reasoning_tokens': 9}
    assert response.vendor_finish_reason == 'stop'
    assert response.model_name == 'qwen/qwen3-32b'


THINK_DELTAS = ['<thi', 'nk>\nThe user', ' wants Paris.\n</', 'think', '>\n\nPar', 'is', '.']
THINK_PARTS = [ThinkingPart('\nThe user wants Paris.\n'), TextPart('\n\nParis.')]


async def test_think_tags_cut_across_deltas(router: respx.MockRouter, http_client: httpx.AsyncClient) -> None:
    response, _, events = await stream_all(router, http_client, text_stream(*THINK_DELTAS))
    assert response.parts == THINK_PARTS
    # The thinking part starts before the text part, and no event carries a piece of a tag.
    assert [type(e.part).__name__ for e in events if hasattr(e, 'part')] == ['ThinkingPart', 'TextPart']
    assert not any('<' in str(e) and 'think>' in str(e) for e in events)


async def test_think_tags_in_a_stream_cut_byte_by_byte(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    body = text_stream(*THINK_DELTAS)
    response, _, _ = await stream_all(router, http_client, bytewise(body))
    assert response.parts == THINK_PARTS
    for seed in range(3):
        again, _, _ = await stream_all(router, http_client, random_split(body, seed))
        assert again.parts == THINK_PARTS


async def test_a_tag_start_held_back_at_the_end_is_still_text(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    response, _, _ = await stream_all(router, http_client, text_stream('x is ', '<', '/thi'))
    assert response.parts == [TextPart('x is </thi')]


async def test_text_then_thinking_then_text_are_three_parts(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    response, _, _ = await stream_all(router, http_client, text_stream('Hm. <think>a', '</think>b', 'c'))
    assert response.parts == [TextPart('Hm. '), ThinkingPart('a'), TextPart('bc')]


async def test_reasoning_field_and_tool_call(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    call = {
        'id': 'tk85n1k4m',
        'type': 'function',
        'function': {'name': 'weather', 'arguments': '{}'},
        'index': 0,
    }
    body = sse(
        chunk({'role': 'assistant', 'content': ''}),
        chunk({'reasoning': 'Use the tool.', 'channel': 'analysis'}),
        chunk({'tool_calls': [call]}),
        chunk({}, 'tool_calls', x_groq={'id': 'req_1', 'usage': X_GROQ_USAGE}, usage=X_GROQ_USAGE),
    )
    response, usage, _ = await stream_all(router, http_client, body)
    assert response.parts == [ThinkingPart('Use the tool.'), ToolCallPart('weather', '{}', 'tk85n1k4m')]
    assert usage.total_tokens == 225


GROQ_ERROR = {
    'error': {
        'message': 'Tool choice is required, but model did not call a tool',
        'type': 'invalid_request_error',
        'code': 'tool_use_failed',
        'failed_generation': '',
        'status_code': 400,
    }
}


async def test_error_event_is_a_stream_error_with_what_arrived(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    body = sse(
        chunk({'role': 'assistant', 'content': ''}),
        chunk({'reasoning': 'Thinking.'}),
        chunk({'content': 'maybe'}),
        b'event: error\ndata: ' + orjson.dumps(GROQ_ERROR) + b'\n\n',
        done=False,
    )
    with pytest.raises(ModelStreamError) as info:
        await stream_all(router, http_client, body)
    error = info.value
    assert (error.vendor, error.error_type, error.code) == (
        'groq',
        'invalid_request_error',
        'tool_use_failed',
    )
    assert 'Tool choice is required' in str(error)
    assert error.partial_response is not None
    assert error.partial_response.parts == [ThinkingPart('Thinking.'), TextPart('maybe')]


async def test_error_object_chunk_is_a_stream_error(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    body = sse(chunk({'role': 'assistant', 'content': 'Hi'}), GROQ_ERROR, done=False)
    with pytest.raises(ModelStreamError, match=r'invalid_request_error'):
        await stream_all(router, http_client, body)


async def test_cut_before_the_end_is_interrupted(
    router: respx.MockRouter, http_client: httpx.AsyncClient
) -> None:
    body = sse(chunk({'role': 'assistant', 'content': ''}), chunk({'content': '<think>half'}), done=False)
    with pytest.raises(StreamInterrupted) as info:
        await stream_all(router, http_client, body)
    assert info.value.partial_response is not None
    assert info.value.partial_response.parts == [ThinkingPart('half')]


# --------------------------------------------------------------------------------------------
# The kit's splitter on its own
# --------------------------------------------------------------------------------------------


def _joined(segments: list[tuple[bool, int, str]]) -> list[tuple[bool, int, str]]:
    """Adjacent stretches of the same segment merged: how the parts assembler sees them."""
    out: list[tuple[bool, int, str]] = []
    for thinking, segment, text in segments:
        if out and out[-1][1] == segment:
            out[-1] = (thinking, segment, out[-1][2] + text)
        else:
            out.append((thinking, segment, text))
    return out


def _with_tags(segments: list[tuple[bool, int, str]], final_segment: int) -> str:
    out, at = [], 0
    for _, segment, text in [*segments, (False, final_segment, '')]:
        while at < segment:
            at += 1
            out.append('<think>' if at % 2 else '</think>')
        out.append(text)
    return ''.join(out)


_TEXT = st.lists(
    st.sampled_from(['<think>', '</think>', '<', '</', 'think', '>', 'a', ' b ', 'é']), max_size=14
)


@settings(max_examples=300, deadline=None)
@given(pieces=_TEXT, cuts=st.lists(st.integers(0, 80), max_size=10))
def test_splitter_does_not_depend_on_how_the_text_is_cut(pieces: list[str], cuts: list[int]) -> None:
    text = ''.join(pieces)
    whole = _joined(ThinkTagSplitter().split(text))
    splitter = ThinkTagSplitter()
    got: list[tuple[bool, int, str]] = []
    start = 0
    for cut in sorted({min(c, len(text)) for c in cuts}):
        got += splitter.feed(text[start:cut])
        start = cut
    got += splitter.feed(text[start:])
    got += splitter.flush()
    assert _joined(got) == whole
    # Nothing is lost but the tags: putting them back where the segment count rises gives the text.
    assert _with_tags(whole, splitter.segment) == text
    # The interface's hot loop, cut the same way: a delta without `watch` goes straight to the
    # current segment, any other through `feed`; the segments must be the same.
    hot = ThinkTagSplitter()
    fast: list[tuple[bool, int, str]] = []
    for begin, end in pairwise([0, *sorted({min(c, len(text)) for c in cuts}), len(text)]):
        if delta := text[begin:end]:
            fast += [(hot.inside, hot.segment, delta)] if hot.watch not in delta else hot.feed(delta)
    assert _joined(fast + hot.flush()) == whole


def test_splitter_segments() -> None:
    assert ThinkTagSplitter().split('a<think>b</think>c') == [
        (False, 0, 'a'),
        (True, 1, 'b'),
        (False, 2, 'c'),
    ]
    assert ThinkTagSplitter('<reasoning>', '</reasoning>').split('<reasoning>x</reasoning>y') == [
        (True, 1, 'x'),
        (False, 2, 'y'),
    ]
