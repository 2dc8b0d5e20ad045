"""Replays of real recorded Cohere v2 chat traffic.

For every interaction of every recording: rebuild the call with `CohereModel` from the recorded
request (messages, tools, settings, stream flag), check that the request we send matches the
recorded one semantically, answer it with the recorded response through respx, and check text,
thinking, the tool plan, tool calls, usage and finish reason against what the recorded body says.
Streamed bodies are also re-chunked at random boundaries (inside UTF-8 characters too), because
the recording merged the network chunks into one body.

The expectations come from `expected_from_*`, a deliberately plain reading of the recorded bodies
written apart from the interface's own code.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from modelkit.exceptions import ModelHTTPError, UnexpectedModelBehavior
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
from modelkit.models.cohere import TOOL_PLAN_ID, CohereModel, CohereModelSettings
from modelkit.providers.cohere import CohereProvider
from modelkit.tools import ToolDefinition
from modelkit.usage import Usage
from tests.helpers.cassettes import (
    Interaction,
    RecordedRequest,
    interaction_params,
    load_interactions,
    recording_paths,
    respx_route,
)
from tests.helpers.streams import random_split

pytestmark = pytest.mark.anyio

CASSETTES = [
    'cohere/pydantic-ai/test_request_simple_success_with_vcr.yaml',
    'cohere/pydantic-ai/test_tool_choice_matrix[auto-cohere].yaml',
    'cohere/langchain-cohere/test_stream.yaml',
    'cohere/langchain-cohere/test_streaming_tool_call.yaml',
    'cohere/langchain-cohere/test_command_a_reasoning_with_tool_call.yaml',
]
"""Every Cohere cassette in the visible fixture set (a test below checks none is missed)."""

CHUNK_FILES = ['cohere/vercel-ai/cohere-reasoning.chunks.txt']
"""Decoded stream bodies (F4: one event's JSON per line, no request recorded)."""

RANDOM_SPLITS = 4
# Recorded body field -> our setting, for rebuilding the settings a recorded request was sent with.
SETTINGS_FROM_WIRE = {
    'temperature': 'temperature',
    'p': 'top_p',
    'k': 'cohere_k',
    'max_tokens': 'max_tokens',
    'stop_sequences': 'stop_sequences',
    'seed': 'seed',
}


# --------------------------------------------------------------------------------------------
# Rebuilding the call from the recorded request
# --------------------------------------------------------------------------------------------


@dataclass
class Call:
    messages: list[ModelMessage]
    params: ModelRequestParameters
    settings: CohereModelSettings


def _assistant(message: dict[str, Any], tool_names: dict[str, str]) -> ModelResponse:
    parts: list[ModelResponsePart] = []
    content = message.get('content')
    if isinstance(content, str) and content:
        parts.append(TextPart(content))
    for item in content if isinstance(content, list) else ():
        parts.append(ThinkingPart(item['thinking']) if item['type'] == 'thinking' else TextPart(item['text']))
    if message.get('tool_plan'):
        parts.append(ThinkingPart(message['tool_plan'], id=TOOL_PLAN_ID))
    for call in message.get('tool_calls') or ():
        tool_names[call['id']] = call['function']['name']
        parts.append(ToolCallPart(call['function']['name'], call['function']['arguments'], call['id']))
    return ModelResponse(parts)


def rebuild_call(body: dict[str, Any]) -> Call:
    messages: list[ModelMessage] = []
    pending: list[ModelRequestPart] = []
    tool_names: dict[str, str] = {}
    for message in body['messages']:
        role = message['role']
        if role == 'system':
            pending.append(SystemPromptPart(message['content']))
        elif role == 'user':
            pending.append(UserPromptPart(message['content']))
        elif role == 'tool':
            call_id = message['tool_call_id']
            pending.append(ToolReturnPart(tool_names[call_id], message['content'], call_id))
        else:
            if pending:
                messages.append(ModelRequest(pending))
                pending = []
            messages.append(_assistant(message, tool_names))
    if pending:
        messages.append(ModelRequest(pending))
    tools = [
        ToolDefinition(
            t['function']['name'], t['function'].get('description', ''), t['function']['parameters']
        )
        for t in body.get('tools', [])
    ]
    params = ModelRequestParameters(
        function_tools=tools, allow_text_result=body.get('tool_choice') != 'REQUIRED'
    )
    settings: dict[str, Any] = {SETTINGS_FROM_WIRE[k]: v for k, v in body.items() if k in SETTINGS_FROM_WIRE}
    known = {'model', 'messages', 'stream', 'tools', 'tool_choice', *SETTINGS_FROM_WIRE}
    if extra := {key: value for key, value in body.items() if key not in known}:
        settings['extra_body'] = extra
    return Call(messages, params, settings)  # type: ignore[arg-type]


def normalise_request(body: dict[str, Any]) -> dict[str, Any]:
    """Drop what the API treats as absent: an empty tool description, `stream: false`."""
    body = json.loads(json.dumps(body))
    for tool in body.get('tools') or ():
        if tool['function'].get('description') == '':
            del tool['function']['description']
    if body.get('stream') is False:
        del body['stream']
    return body


# --------------------------------------------------------------------------------------------
# What the recorded bodies say (a plain reading, independent of the interface's code)
# --------------------------------------------------------------------------------------------


@dataclass
class Expected:
    parts: list[ModelResponsePart] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    id: str | None = None


def expected_from_json(body: bytes) -> Expected:
    response = json.loads(body)
    message = response['message']
    expected = Expected(
        usage=response.get('usage'), finish_reason=response['finish_reason'], id=response['id']
    )
    for item in message.get('content') or ():
        expected.parts.append(
            ThinkingPart(item['thinking']) if item['type'] == 'thinking' else TextPart(item['text'])
        )
    if message.get('tool_plan'):
        expected.parts.append(ThinkingPart(message['tool_plan'], id=TOOL_PLAN_ID))
    for call in message.get('tool_calls') or ():
        function = call['function']
        expected.parts.append(ToolCallPart(function['name'], function['arguments'] or '{}', call['id']))
    return expected


def expected_from_sse(body: bytes) -> Expected:
    expected = Expected()
    # content index / 'plan' / ('call', index) -> [kind, pieces, extra]
    built: dict[Any, list[Any]] = {}
    for line in body.decode().splitlines():
        if not line.startswith('data:') or line[5:].strip() == '[DONE]':
            continue
        event = json.loads(line[5:])
        kind = event['type']
        delta = event.get('delta') or {}
        message = delta.get('message') or {}
        if kind == 'message-start':
            expected.id = event.get('id')
        elif kind in ('content-start', 'content-delta'):
            item = message['content']
            entry = built.setdefault(event['index'], ['thinking' if 'thinking' in item else 'text', []])
            entry[1].append(item.get('thinking', item.get('text', '')))
        elif kind == 'tool-plan-delta':
            built.setdefault('plan', ['plan', []])[1].append(message['tool_plan'])
        elif kind in ('tool-call-start', 'tool-call-delta'):
            call = message['tool_calls']
            entry = built.setdefault(('call', event['index']), ['call', [], call.get('id'), None])
            entry[3] = entry[3] or (call.get('function') or {}).get('name')
            entry[1].append(call['function'].get('arguments') or '')
        elif kind == 'message-end':
            expected.finish_reason = delta['finish_reason']
            expected.usage = delta.get('usage')
    for kind, pieces, *extra in built.values():
        text = ''.join(pieces)
        if kind == 'text':
            expected.parts.append(TextPart(text))
        elif kind == 'thinking':
            expected.parts.append(ThinkingPart(text))
        elif kind == 'plan':
            expected.parts.append(ThinkingPart(text, id=TOOL_PLAN_ID))
        else:
            expected.parts.append(ToolCallPart(extra[1], text or '{}', extra[0]))
    return expected


def check(response: ModelResponse, usage: Usage, expected: Expected) -> None:
    assert response.parts == expected.parts
    assert response.vendor_finish_reason == expected.finish_reason
    assert response.vendor_id == expected.id
    recorded = expected.usage
    assert recorded is not None, 'every recorded response here reports usage'
    assert usage.request_tokens == recorded['tokens']['input_tokens']
    assert usage.response_tokens == recorded['tokens']['output_tokens']
    details = usage.details or {}
    assert details.get('billed_input_tokens') == recorded['billed_units']['input_tokens']
    assert details.get('billed_output_tokens') == recorded['billed_units']['output_tokens']
    assert details.get('cached_tokens') == recorded.get('cached_tokens')


# --------------------------------------------------------------------------------------------
# Replaying
# --------------------------------------------------------------------------------------------


def recorded_request(interaction: Interaction) -> RecordedRequest:
    assert interaction.request is not None, 'every cassette here records its requests'
    return interaction.request


async def replay(
    interaction: Interaction, call: Call, pieces: list[bytes] | None = None
) -> tuple[httpx.Request, ModelResponse, Usage]:
    """Run the rebuilt call against the recorded response; what was sent and what came back."""
    recorded = recorded_request(interaction)
    async with httpx.AsyncClient() as client:
        base_url = recorded.uri.removesuffix('/v2/chat')
        model = CohereModel(
            recorded.json()['model'],
            provider=CohereProvider(api_key='co-test', base_url=base_url, http_client=client),
        )
        with respx.mock(assert_all_called=False) as router:
            route = respx_route(router, interaction, pieces)
            if interaction.streamed:
                async with model.request_stream(call.messages, call.settings, call.params) as streamed:
                    async for _ in streamed:
                        pass
                response, usage = streamed.get(), streamed.usage()
            else:
                response, usage = await model.request(call.messages, call.settings, call.params)
            return route.calls.last.request, response, usage


@pytest.mark.parametrize(('cassette', 'index'), interaction_params(CASSETTES))
async def test_recorded_interaction(wire_fixtures: Path, cassette: str, index: int) -> None:
    interaction = load_interactions(wire_fixtures, cassette)[index]
    recorded = recorded_request(interaction)
    call = rebuild_call(recorded.json())
    try:
        sent, response, usage = await replay(interaction, call)
    except (ModelHTTPError, UnexpectedModelBehavior) as exc:
        raise AssertionError(f'{cassette}#{index} did not replay: {exc}') from exc

    # The request: method, URL, and the JSON body compared semantically.
    assert sent.method == recorded.method
    assert str(sent.url) == recorded.uri
    assert normalise_request(json.loads(sent.content)) == normalise_request(recorded.json())
    assert json.loads(sent.content)['stream'] is interaction.streamed

    if not interaction.streamed:
        check(response, usage, expected_from_json(interaction.response.body))
        return
    check(response, usage, expected_from_sse(interaction.response.body))
    # The same bytes, cut into random pieces, give the same result.
    for seed in range(RANDOM_SPLITS):
        _, again, again_usage = await replay(interaction, call, random_split(interaction.response.body, seed))
        assert again.parts == response.parts
        assert again_usage == usage


@pytest.mark.parametrize('name', CHUNK_FILES)
async def test_recorded_chunk_file(wire_fixtures: Path, name: str) -> None:
    (recorded,) = load_interactions(wire_fixtures, name)
    body = recorded.response.body
    expected = expected_from_sse(body)
    request = {
        'model': 'command-a-reasoning-08-2025',
        'messages': [{'role': 'user', 'content': '2+2?'}],
        'stream': True,
    }
    # F4 files record no request: give the one the call below sends.
    interaction = dataclasses.replace(
        recorded,
        request=RecordedRequest('POST', 'https://api.cohere.com/v2/chat', {}, json.dumps(request).encode()),
    )
    call = rebuild_call(request)
    for pieces in (None, *(random_split(body, seed) for seed in range(RANDOM_SPLITS))):
        _, response, usage = await replay(interaction, call, pieces)
        check(response, usage, expected)
    assert [type(part) for part in expected.parts] == [ThinkingPart, TextPart]


def test_every_cohere_recording_is_replayed(wire_fixtures: Path) -> None:
    assert set(recording_paths(wire_fixtures, 'cohere')) == set(CASSETTES) | set(CHUNK_FILES)
