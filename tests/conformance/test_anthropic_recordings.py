"""Replays of real recorded Anthropic Messages traffic.

For every interaction of every cassette in `../shared/wire-fixtures/anthropic/`: rebuild the same
call with `AnthropicModel` from the recorded request, check that the request we send matches the
recorded one semantically, answer it with the recorded response through respx, and check the
text, thinking, tool calls, usage and stop reason we get against what the recorded body says.
Streamed bodies are also re-chunked at random boundaries (inside UTF-8 characters too).

The expectations come from `expected_from_*`, a deliberately plain reading of the recorded bodies
written apart from the interface's own code: blocks in order, server-tool blocks left out (the
interface documents that it skips them), usage counts replaced by later ones, never added.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from modelkit.exceptions import ModelHTTPError
from modelkit.messages import (
    ModelMessage,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    ModelResponsePart,
    SystemPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models.anthropic import AnthropicModel, AnthropicModelSettings
from modelkit.providers.anthropic import AnthropicProvider
from modelkit.tools import ToolDefinition
from modelkit.usage import Usage
from tests.helpers.cassettes import (
    Interaction,
    interaction_params,
    load_interactions,
    recording_paths,
    respx_route,
)
from tests.helpers.streams import random_split

pytestmark = pytest.mark.anyio

CASSETTES = [
    'anthropic/pydantic-ai/test_anthropic_model_instructions.yaml',
    'anthropic/pydantic-ai/test_anthropic_model_thinking_part_stream.yaml',
    'anthropic/pydantic-ai/test_multiple_parallel_tool_calls.yaml',
    'anthropic/pydantic-ai/test_anthropic_explicit_effort_xhigh_unsupported_model_errors.yaml',
    'anthropic/pydantic-ai/test_anthropic_code_execution_tool_stream.yaml',
    'anthropic/pydantic-ai/test_anthropic_model_thinking_part_redacted.yaml',
    'anthropic/simonw-llm-anthropic/test_tools.yaml',
    'anthropic/simonw-llm-anthropic/test_prompt_with_prefill_and_stop_sequences.yaml',
]
"""Every Anthropic recording in the visible fixture set (a test below checks none is missed)."""

URL = 'https://api.anthropic.com/v1/messages'
RANDOM_SPLITS = 4
SETTINGS_KEYS = {'max_tokens': 'max_tokens', 'temperature': 'temperature', 'top_p': 'top_p'}
WIRE_SETTINGS = {
    'stop_sequences': 'stop_sequences',
    'top_k': 'anthropic_top_k',
    'thinking': 'anthropic_thinking',
    'metadata': 'anthropic_metadata',
}

# --------------------------------------------------------------------------------------------
# Rebuilding the call from the recorded request
# --------------------------------------------------------------------------------------------


@dataclass
class Call:
    messages: list[ModelMessage]
    params: ModelRequestParameters
    settings: AnthropicModelSettings


def _blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{'type': 'text', 'text': content}] if isinstance(content, str) else content


def _response_part(block: dict[str, Any]) -> ModelResponsePart:
    kind = block['type']
    if kind == 'text':
        return TextPart(block['text'])
    if kind == 'tool_use':
        return ToolCallPart(block['name'], block['input'], block['id'])
    if kind == 'thinking':
        return ThinkingPart(block['thinking'], signature=block['signature'])
    assert kind == 'redacted_thinking', kind
    return ThinkingPart('', signature=block['data'], id='redacted_thinking')


def rebuild_call(body: dict[str, Any]) -> Call:
    messages: list[ModelMessage] = []
    tool_names: dict[str, str] = {}
    pending: list[ModelRequestPart] = [SystemPromptPart(body['system'])] if body.get('system') else []
    for message in body['messages']:
        blocks = _blocks(message['content'])
        if message['role'] == 'assistant':
            if pending:
                messages.append(ModelRequest(pending))
                pending = []
            parts = [_response_part(block) for block in blocks]
            tool_names.update((p.tool_call_id, p.tool_name) for p in parts if isinstance(p, ToolCallPart))
            messages.append(ModelResponse(parts))
            continue
        for block in blocks:
            if block['type'] == 'text':
                pending.append(UserPromptPart(block['text']))
            else:
                assert block['type'] == 'tool_result', block
                assert not block.get('is_error'), block
                call_id = block['tool_use_id']
                pending.append(ToolReturnPart(tool_names[call_id], block['content'], call_id))
    if pending:
        messages.append(ModelRequest(pending))

    function_tools = [t for t in body.get('tools', []) if t.get('type', 'custom') == 'custom']
    tools = [ToolDefinition(t['name'], t.get('description', ''), t['input_schema']) for t in function_tools]
    settings: AnthropicModelSettings = {}
    for wire_name, ours in {**SETTINGS_KEYS, **WIRE_SETTINGS}.items():
        if wire_name in body:
            settings[ours] = body[wire_name]  # type: ignore[literal-required]
    known = {'model', 'messages', 'system', 'stream', 'tools', 'tool_choice', *SETTINGS_KEYS, *WIRE_SETTINGS}
    extra = {key: value for key, value in body.items() if key not in known}
    if len(function_tools) < len(body.get('tools', [])):
        # Server tools (code execution, web search) are no ToolDefinition: they go as they came.
        extra['tools'] = body['tools']
    if extra:
        settings['extra_body'] = extra
    choice = body.get('tool_choice', {'type': 'auto'})
    return Call(
        messages,
        ModelRequestParameters(function_tools=tools, allow_text_result=choice['type'] == 'auto'),
        settings,
    )


def normalise_request(body: dict[str, Any]) -> dict[str, Any]:
    """Drop what the API treats as absent: `is_error: false`, empty descriptions, `tool_choice: auto`,
    `stream: false`; string content is one text block."""
    body = {key: value for key, value in body.items() if not (key == 'stream' and value is False)}
    if body.get('tool_choice') == {'type': 'auto'}:
        del body['tool_choice']
    body['tools'] = [
        {key: value for key, value in tool.items() if not (key == 'description' and value == '')}
        for tool in body.get('tools', [])
    ]
    body['messages'] = [
        {
            'role': message['role'],
            'content': [
                {key: value for key, value in block.items() if not (key == 'is_error' and value is False)}
                for block in _blocks(message['content'])
            ],
        }
        for message in body['messages']
    ]
    return body


# --------------------------------------------------------------------------------------------
# What the recorded bodies say (a plain reading, independent of the interface's code)
# --------------------------------------------------------------------------------------------

KEPT_BLOCKS = {'text', 'thinking', 'redacted_thinking', 'tool_use'}


@dataclass
class Expected:
    blocks: dict[int, dict[str, Any]] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    stop_reason: str | None = None
    model: str | None = None
    id: str | None = None

    def parts(self) -> list[ModelResponsePart]:
        parts: list[ModelResponsePart] = []
        for block in self.blocks.values():
            if block['type'] not in KEPT_BLOCKS or (block['type'] == 'text' and not block['text']):
                continue
            if block['type'] == 'tool_use' and isinstance(block['input'], str):
                block = {**block, 'input': block['input'] or '{}'}
            parts.append(_response_part(block))
        return parts


def expected_from_message(body: bytes) -> Expected:
    message = json.loads(body)
    return Expected(
        blocks=dict(enumerate(message['content'])),
        usage=message['usage'],
        stop_reason=message['stop_reason'],
        model=message['model'],
        id=message['id'],
    )


def expected_from_sse(body: bytes) -> Expected:
    expected = Expected()
    for line in body.decode().splitlines():
        if not line.startswith('data:'):
            continue
        event = json.loads(line[5:])
        kind = event['type']
        if kind == 'message_start':
            expected.model, expected.id = event['message']['model'], event['message']['id']
            expected.usage.update(event['message']['usage'])
        elif kind == 'content_block_start':
            block = dict(event['content_block'])
            if block['type'] == 'tool_use':
                block['input'] = ''  # arrives as fragments
            expected.blocks[event['index']] = block
        elif kind == 'content_block_delta':
            block, delta = expected.blocks[event['index']], event['delta']
            field_name = {
                'text_delta': 'text',
                'thinking_delta': 'thinking',
                'signature_delta': 'signature',
                'input_json_delta': 'partial_json',
            }[delta['type']]
            target = 'input' if field_name == 'partial_json' else field_name
            if block['type'] in KEPT_BLOCKS:
                block[target] = block.get(target, '') + delta[field_name]
        elif kind == 'message_delta':
            expected.stop_reason = event['delta']['stop_reason']
            expected.usage.update({k: v for k, v in event['usage'].items() if v is not None})
    return expected


def check(response: ModelResponse, usage: Usage, expected: Expected) -> None:
    assert response.parts == expected.parts()
    assert response.vendor_finish_reason == expected.stop_reason
    assert response.model_name == expected.model
    assert response.vendor_id == expected.id
    recorded = expected.usage
    prompt = (
        recorded['input_tokens']
        + recorded.get('cache_creation_input_tokens', 0)
        + recorded.get('cache_read_input_tokens', 0)
    )
    assert usage.request_tokens == prompt
    assert usage.response_tokens == recorded['output_tokens']
    assert usage.total_tokens == prompt + recorded['output_tokens']


# --------------------------------------------------------------------------------------------
# Replaying
# --------------------------------------------------------------------------------------------


async def replay(
    interaction: Interaction, call: Call, pieces: list[bytes] | None = None
) -> tuple[httpx.Request, ModelResponse | None, Usage | None, Exception | None]:
    """Run the rebuilt call against the recorded response; return what was sent and what came back."""
    assert interaction.request is not None, 'every cassette here records its requests'
    async with httpx.AsyncClient() as client:
        model = AnthropicModel(
            interaction.request.json()['model'],
            provider=AnthropicProvider(api_key='sk-ant-test', http_client=client),
        )
        with respx.mock(assert_all_called=False) as router:
            # The recorded `?beta=true` is the SDK's beta client marking itself; the API ignores it.
            route = respx_route(router, interaction, pieces, url=URL)
            error: Exception | None = None
            response = usage = None
            try:
                if interaction.streamed:
                    async with model.request_stream(call.messages, call.settings, call.params) as streamed:
                        async for _ in streamed:
                            pass
                        response, usage = streamed.get(), streamed.usage()
                else:
                    response, usage = await model.request(call.messages, call.settings, call.params)
            except ModelHTTPError as exc:
                error = exc
            return route.calls.last.request, response, usage, error


@pytest.mark.parametrize(('cassette', 'index'), interaction_params(CASSETTES))
async def test_recorded_interaction(wire_fixtures: Path, cassette: str, index: int) -> None:
    interaction = load_interactions(wire_fixtures, cassette)[index]
    assert interaction.request is not None
    recorded = interaction.request
    call = rebuild_call(recorded.json())
    sent, response, usage, error = await replay(interaction, call)

    assert sent.method == recorded.method
    assert sent.url.path == recorded.url.path
    assert normalise_request(json.loads(sent.content)) == normalise_request(recorded.json())
    assert sent.headers['anthropic-version'] == '2023-06-01'

    if interaction.response.status >= 400:
        assert isinstance(error, ModelHTTPError)
        assert error.status_code == interaction.response.status
        recorded_error = interaction.response.json()['error']
        assert error.body == interaction.response.json()
        assert recorded_error['message'][:80] in str(error)
        return

    assert error is None
    assert response is not None
    assert usage is not None
    if not interaction.streamed:
        check(response, usage, expected_from_message(interaction.response.body))
        return
    check(response, usage, expected_from_sse(interaction.response.body))

    # The same bytes, cut into random pieces, give the same result.
    for seed in range(RANDOM_SPLITS):
        _, again, again_usage, again_error = await replay(
            interaction, call, random_split(interaction.response.body, seed)
        )
        assert again_error is None
        assert again is not None
        assert again.parts == response.parts
        assert again_usage == usage


def test_every_anthropic_recording_is_replayed(wire_fixtures: Path) -> None:
    assert set(recording_paths(wire_fixtures, 'anthropic')) == set(CASSETTES)
