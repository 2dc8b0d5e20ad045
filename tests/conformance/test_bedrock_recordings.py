"""Replays of real recorded Bedrock Converse / ConverseStream traffic.

For every interaction of every recording in ../shared/wire-fixtures/bedrock/ (pydantic-ai's
cassettes with binary event-stream bodies, langchain's gzipped cassette, vercel's decoded chunks):
rebuild the same call with `BedrockConverseModel` from the recorded request, check that the
request we send matches the recorded one (URL, and the JSON semantically), answer it with the
recorded response through respx, whole and re-chunked at random (inside frames too), and check
text, reasoning, tool calls, usage and stop reason against what the recorded body says.

The expectations are read from the recorded bodies by `expected_from_*`, a deliberately simple
reading written separately from the interface, and event streams are decoded for it by botocore's
own `EventStreamBuffer`, not by our decoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
import orjson
import pytest
import respx

from modelkit.exceptions import ModelHTTPError
from modelkit.messages import (
    ModelMessage,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    ModelResponsePart,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models.bedrock import REDACTED_THINKING_ID, BedrockConverseModel, BedrockModelSettings
from modelkit.parsers.eventstream import encode_message
from modelkit.providers.bedrock import BedrockProvider
from modelkit.tools import ToolDefinition
from tests.helpers.cassettes import (
    Interaction,
    interaction_params,
    load_interactions,
    recorded_response,
    recording_paths,
    require_wire_fixtures,
)
from tests.helpers.streams import bytewise, random_split

eventstream = pytest.importorskip('botocore.eventstream', reason='needs botocore (the bedrock extra)')

pytestmark = pytest.mark.anyio

CASSETTES = [
    'bedrock/langchain-aws/test_agent_loop_streaming[v0].yaml.gz',
    'bedrock/pydantic-ai/test_bedrock_anthropic_tool_with_thinking.yaml',
    'bedrock/pydantic-ai/test_bedrock_error.yaml',
    'bedrock/pydantic-ai/test_bedrock_model.yaml',
    'bedrock/pydantic-ai/test_bedrock_model_iter_stream.yaml',
    'bedrock/pydantic-ai/test_bedrock_model_stream.yaml',
    'bedrock/pydantic-ai/test_bedrock_model_thinking_part_stream.yaml',
    'bedrock/pydantic-ai/test_bedrock_moonshotai_tool_call.yaml',
]
"""Every Bedrock cassette in the visible fixture set (a test below checks none is missed)."""

CHUNK_FILES = ['bedrock/vercel-ai/amazon-bedrock-text.chunks.txt']
"""Decoded ConverseStream bodies (F4: one `{"<event type>": payload}` per line, no request)."""

RETRY_SUFFIX = '\n\nFix the errors and try again.'
CUTS = ['whole', 'random-1', 'random-2', 'random-3', 'bytewise']


def pieces(body: bytes, how: str) -> list[bytes]:
    if how == 'whole':
        return [body]
    if how == 'bytewise':
        return bytewise(body)
    return random_split(body, seed=int(how.split('-')[1]))


# --------------------------------------------------------------------------------------------
# Rebuilding the call from the recorded request
# --------------------------------------------------------------------------------------------


@dataclass
class Call:
    messages: list[ModelMessage]
    params: ModelRequestParameters
    settings: BedrockModelSettings = field(default_factory=dict)  # type: ignore[assignment]


def _user_parts(content: list[dict[str, Any]], names: dict[str, str]) -> list[ModelRequestPart]:
    parts: list[ModelRequestPart] = []
    for block in content:
        if 'text' in block:
            text = block['text']
            if text.endswith(RETRY_SUFFIX):
                parts.append(RetryPromptPart(text[: -len(RETRY_SUFFIX)]))
            else:
                parts.append(UserPromptPart(text))
        elif 'toolResult' in block:
            result = block['toolResult']
            call_id = result['toolUseId']
            item = result['content'][0]
            if result.get('status') == 'error':
                text = item['text'].removesuffix(RETRY_SUFFIX)
                parts.append(RetryPromptPart(text, tool_name=names[call_id], tool_call_id=call_id))
            else:
                value = item['text'] if 'text' in item else item['json']
                parts.append(ToolReturnPart(names[call_id], value, call_id))
        else:
            raise AssertionError(f'a user block this replay does not rebuild: {block}')
    return parts


def _assistant_parts(content: list[dict[str, Any]], names: dict[str, str]) -> list[ModelResponsePart]:
    parts: list[ModelResponsePart] = []
    for block in content:
        if 'text' in block:
            parts.append(TextPart(block['text']))
        elif 'toolUse' in block:
            use = block['toolUse']
            names[use['toolUseId']] = use['name']
            parts.append(ToolCallPart(use['name'], use['input'], use['toolUseId']))
        elif 'reasoningContent' in block:
            reasoning = block['reasoningContent']
            if 'redactedContent' in reasoning:
                parts.append(
                    ThinkingPart('', signature=reasoning['redactedContent'], id=REDACTED_THINKING_ID)
                )
            else:
                text = reasoning['reasoningText']
                parts.append(ThinkingPart(text['text'], signature=text.get('signature')))
        else:
            raise AssertionError(f'an assistant block this replay does not rebuild: {block}')
    return parts


def rebuild_call(body: dict[str, Any]) -> Call:
    names: dict[str, str] = {}
    messages: list[ModelMessage] = []
    system: list[ModelRequestPart] = [SystemPromptPart(block['text']) for block in body.get('system') or []]
    for message in body['messages']:
        if message['role'] == 'user':
            messages.append(ModelRequest([*system, *_user_parts(message['content'], names)]))
            system = []
        else:
            messages.append(ModelResponse(_assistant_parts(message['content'], names)))
    settings: BedrockModelSettings = {}
    for wire, ours in (('maxTokens', 'max_tokens'), ('temperature', 'temperature'), ('topP', 'top_p')):
        if wire in (body.get('inferenceConfig') or {}):
            settings[ours] = body['inferenceConfig'][wire]  # type: ignore[literal-required]
    if 'additionalModelRequestFields' in body:
        settings['bedrock_additional_model_requests_fields'] = body['additionalModelRequestFields']
    tool_config = body.get('toolConfig') or {}
    tools = [
        ToolDefinition(
            t['toolSpec']['name'], t['toolSpec'].get('description', ''), t['toolSpec']['inputSchema']['json']
        )
        for t in tool_config.get('tools', [])
    ]
    choice = tool_config.get('toolChoice')
    allow_text = choice is None or 'auto' in choice
    if choice is not None and 'auto' in choice:
        settings['bedrock_tool_choice'] = 'auto'
    return Call(
        messages, ModelRequestParameters(function_tools=tools, allow_text_result=allow_text), settings
    )


def normalised(body: dict[str, Any]) -> dict[str, Any]:
    """The request with what pydantic-ai and langchain send empty dropped and tool-use ids
    replaced by their order of appearance (ids a vendor would refuse are mapped, consistently)."""
    body = {k: v for k, v in body.items() if v not in ([], {})}
    ids: dict[str, str] = {}

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: ids.setdefault(v, f'id-{len(ids)}') if k == 'toolUseId' else walk(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(body)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------
# What the recorded body says
# --------------------------------------------------------------------------------------------


@dataclass
class Expected:
    text: str = ''
    thinking: list[tuple[str, str | None]] = field(default_factory=list)
    tool_calls: list[tuple[str, Any, str]] = field(default_factory=list)
    stop_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)


def expected_from_json(payload: dict[str, Any]) -> Expected:
    expected = Expected(stop_reason=payload.get('stopReason'), usage=payload.get('usage') or {})
    for block in payload['output']['message']['content']:
        if 'text' in block:
            expected.text += block['text']
        elif 'toolUse' in block:
            use = block['toolUse']
            expected.tool_calls.append((use['name'], use['input'], use['toolUseId']))
        elif 'reasoningContent' in block:
            text = block['reasoningContent']['reasoningText']
            expected.thinking.append((text['text'], text.get('signature')))
    return expected


def decoded_events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """`(event type, payload)` of each frame, decoded by botocore."""
    buffer = eventstream.EventStreamBuffer()
    buffer.add_data(body)
    return [(m.headers[':event-type'], orjson.loads(m.payload)) for m in buffer]


def expected_from_events(events: list[tuple[str, dict[str, Any]]]) -> Expected:
    expected = Expected()
    blocks: dict[int, dict[str, Any]] = {}
    for name, payload in events:
        if name == 'contentBlockStart' and 'toolUse' in payload['start']:
            use = payload['start']['toolUse']
            blocks[payload['contentBlockIndex']] = {'tool': (use['name'], use['toolUseId']), 'input': ''}
        elif name == 'contentBlockDelta':
            block = blocks.setdefault(
                payload['contentBlockIndex'], {'text': '', 'thinking': '', 'signature': None}
            )
            delta = payload['delta']
            if 'text' in delta:
                block['text'] += delta['text']
            elif 'toolUse' in delta:
                block['input'] += delta['toolUse']['input']
            elif 'reasoningContent' in delta:
                block['thinking'] += delta['reasoningContent'].get('text', '')
                block['signature'] = delta['reasoningContent'].get('signature', block['signature'])
        elif name == 'messageStop':
            expected.stop_reason = payload['stopReason']
        elif name == 'metadata':
            expected.usage = payload['usage']
    for index in sorted(blocks):
        block = blocks[index]
        if 'tool' in block:
            tool_name, call_id = block['tool']
            expected.tool_calls.append((tool_name, orjson.loads(block['input'] or '{}'), call_id))
        else:
            expected.text += block['text']
            if block['thinking'] or block['signature']:
                expected.thinking.append((block['thinking'], block['signature']))
    return expected


def check(response: ModelResponse, usage: Any, expected: Expected) -> None:
    parts = response.parts
    assert ''.join(p.content for p in parts if isinstance(p, TextPart)) == expected.text
    assert [(p.content, p.signature) for p in parts if isinstance(p, ThinkingPart)] == expected.thinking
    calls = [(p.tool_name, p.args_as_dict(), p.tool_call_id) for p in parts if isinstance(p, ToolCallPart)]
    assert calls == expected.tool_calls
    assert response.vendor_finish_reason == expected.stop_reason
    wire = expected.usage
    cache = (wire.get('cacheReadInputTokens') or 0) + (wire.get('cacheWriteInputTokens') or 0)
    assert usage.request_tokens == wire['inputTokens'] + cache
    assert usage.response_tokens == wire['outputTokens']
    assert usage.total_tokens == wire['totalTokens']


# --------------------------------------------------------------------------------------------
# The replays
# --------------------------------------------------------------------------------------------


def model_for(url: httpx.URL) -> BedrockConverseModel:
    region = url.host.split('.')[1]
    model_id = unquote(url.raw_path.decode().split('/')[2])
    provider = BedrockProvider(
        region_name=region, aws_access_key_id='AKIDEXAMPLE', aws_secret_access_key='secret'
    )
    return BedrockConverseModel(model_id, provider=provider)


async def replay(interaction: Interaction, how: str) -> None:
    recorded = interaction.request
    assert recorded is not None
    call = rebuild_call(recorded.json())
    model = model_for(recorded.url)
    streamed = recorded.url.path.endswith('/converse-stream')
    response = interaction.response
    with respx.mock() as router:
        route = router.post(url__regex=r'.*').mock(
            return_value=recorded_response(response, pieces(response.body, how) if streamed else None)
        )
        if response.status >= 400:
            with pytest.raises(ModelHTTPError) as caught:
                await model.request(call.messages, call.settings, call.params)
            assert caught.value.status_code == response.status
            assert response.json()['message'] in str(caught.value)
        elif streamed:
            async with model.request_stream(call.messages, call.settings, call.params) as stream:
                async for _ in stream:
                    pass
            check(stream.get(), stream.usage(), expected_from_events(decoded_events(response.body)))
        else:
            result, usage = await model.request(call.messages, call.settings, call.params)
            check(result, usage, expected_from_json(response.json()))
    sent = route.calls.last.request
    assert sent.url.raw_path == recorded.url.raw_path or unquote(sent.url.raw_path.decode()) == unquote(
        recorded.url.raw_path.decode()
    )
    assert sent.url.host == recorded.url.host
    assert normalised(orjson.loads(sent.content)) == normalised(recorded.json())


@pytest.mark.parametrize(('name', 'index'), interaction_params(CASSETTES))
@pytest.mark.parametrize('how', CUTS)
async def test_recorded_interaction(name: str, index: int, how: str) -> None:
    root = require_wire_fixtures()
    interaction = load_interactions(root, name)[index]
    assert interaction.request is not None
    if how != 'whole' and not interaction.request.url.path.endswith('/converse-stream'):
        pytest.skip('a whole JSON body: nothing to re-chunk')
    await replay(interaction, how)


@pytest.mark.parametrize('name', CHUNK_FILES)
@pytest.mark.parametrize('how', CUTS)
async def test_decoded_chunks_encoded_as_frames(name: str, how: str) -> None:
    root = require_wire_fixtures()
    (interaction,) = load_interactions(root, name)
    events = [next(iter(line.items())) for line in interaction.response.events or []]
    headers = {':content-type': 'application/json', ':message-type': 'event'}
    body = b''.join(
        encode_message({':event-type': kind, **headers}, orjson.dumps(payload)) for kind, payload in events
    )
    provider = BedrockProvider(
        region_name='us-east-1', aws_access_key_id='AKIDEXAMPLE', aws_secret_access_key='secret'
    )
    model = BedrockConverseModel('amazon.nova-pro-v1:0', provider=provider)
    with respx.mock() as router:
        router.post(url__regex=r'.*/converse-stream$').mock(
            return_value=recorded_response(interaction.response, pieces(body, how), body=body)
        )
        messages: list[ModelMessage] = [ModelRequest([UserPromptPart('Hello')])]
        async with model.request_stream(messages, None, ModelRequestParameters()) as stream:
            async for _ in stream:
                pass
    check(stream.get(), stream.usage(), expected_from_events(decoded_events(body)))


def test_every_bedrock_recording_is_replayed() -> None:
    root = require_wire_fixtures()
    assert sorted(recording_paths(root, 'bedrock')) == sorted(CASSETTES + CHUNK_FILES)
