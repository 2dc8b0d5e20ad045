"""Replays of real recorded OpenAI-protocol traffic (OpenAI itself and Groq's OpenAI-compatible API).

For every interaction of every cassette: rebuild the same call with `OpenAIModel` from the recorded
request (messages, tools, stream flags), check that the request we send matches the recorded one
semantically, answer it with the recorded response through respx, and check the text, thinking,
tool calls, usage and finish reason we get against what the recorded body says. Streamed bodies
are also re-chunked at random boundaries (inside UTF-8 characters too), because the recording
merged the network chunks into one body.

The expectations are computed from the recorded bodies by `expected_from_*`, a deliberately
simple reading written separately from the interface's own code.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from modelkit.exceptions import ModelHTTPError, ModelStreamError
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
from modelkit.models.openai import OpenAIModel, OpenAIModelSettings
from modelkit.providers.openai import OpenAIProvider
from modelkit.tools import ToolDefinition
from modelkit.usage import Usage
from tests.helpers.cassettes import (
    Interaction,
    RecordedRequest,
    interaction_params,
    load_interactions,
    load_recording,
    recording_paths,
    respx_route,
)
from tests.helpers.streams import random_split

pytestmark = pytest.mark.anyio

CASSETTES = [
    'openai-chat/pydantic-ai/test_valid_response.yaml',
    'openai-chat/pydantic-ai/test_openai_moderation_stream.yaml',
    'openai-chat/pydantic-ai/test_run_stream_sync_streams_real_model.yaml',
    'openai-chat/pydantic-ai/test_openai_tool_output.yaml',
    'openai-chat/pydantic-ai/test_openai_o1_mini_system_role[developer].yaml',
    'openai-chat/pydantic-ai/test_complex_agent_run_in_flow.yaml',
    'openai-chat/simonw-llm/test_tool_use_chain_of_two_calls.yaml',
    'groq/pydantic-ai/test_groq_model_instructions.yaml',
    'groq/pydantic-ai/test_tool_use_failed_error.yaml',
    'groq/pydantic-ai/test_tool_use_failed_error_streaming_with_text.yaml',
    'groq/pydantic-ai/test_tool_choice_matrix[auto-groq].yaml',
]
"""Every OpenAI-protocol cassette in the visible fixture set (a test below checks none is missed)."""

CHUNK_FILES = ['groq/vercel-ai/groq-tool-call.chunks.txt']
"""Decoded stream bodies (F4: one chunk's JSON per line, no request recorded)."""

RETRY_SUFFIX = '\n\nFix the errors and try again.'
RANDOM_SPLITS = 4


# --------------------------------------------------------------------------------------------
# Rebuilding the call from the recorded request
# --------------------------------------------------------------------------------------------


@dataclass
class Call:
    messages: list[ModelMessage]
    params: ModelRequestParameters
    settings: OpenAIModelSettings
    system_prompt_role: Any = None


_THINK = re.compile(r'<think>\n(?P<thinking>.*?)\n</think>(?:\n\n(?P<text>.*))?', re.DOTALL)


def _retry_or(content: str, tool_name: str | None, tool_call_id: str | None) -> ModelRequestPart | None:
    if not content.endswith(RETRY_SUFFIX):
        return None
    kwargs = {'tool_call_id': tool_call_id} if tool_call_id else {}
    return RetryPromptPart(content[: -len(RETRY_SUFFIX)], tool_name=tool_name, **kwargs)


def rebuild_call(body: dict[str, Any]) -> Call:
    messages: list[ModelMessage] = []
    pending: list[ModelRequestPart] = []
    tool_names: dict[str, str] = {}
    settings: OpenAIModelSettings = {}
    system_prompt_role = None
    for message in body['messages']:
        role, content = message['role'], message.get('content')
        if role in ('system', 'developer'):
            system_prompt_role = role
            pending.append(SystemPromptPart(content))
        elif role == 'user':
            pending.append(_retry_or(content, None, None) or UserPromptPart(content))
        elif role == 'tool':
            call_id = message['tool_call_id']
            name = tool_names[call_id]
            pending.append(_retry_or(content, name, call_id) or ToolReturnPart(name, content, call_id))
        else:
            assert role == 'assistant', role
            if pending:
                messages.append(ModelRequest(pending))
                pending = []
            parts: list[ModelResponsePart] = []
            if content and (match := _THINK.fullmatch(content)):
                settings['openai_send_back_thinking'] = True
                parts.append(ThinkingPart(match['thinking']))
                if match['text']:
                    parts.append(TextPart(match['text']))
            elif content:
                parts.append(TextPart(content))
            for call in message.get('tool_calls') or ():
                tool_names[call['id']] = call['function']['name']
                parts.append(
                    ToolCallPart(call['function']['name'], call['function']['arguments'], call['id'])
                )
            messages.append(ModelResponse(parts))
    if pending:
        messages.append(ModelRequest(pending))

    tools = [
        ToolDefinition(
            t['function']['name'],
            t['function'].get('description', ''),
            t['function']['parameters'],
            strict=t['function'].get('strict'),
        )
        for t in body.get('tools', [])
    ]
    params = ModelRequestParameters(
        function_tools=tools, allow_text_result=body.get('tool_choice') != 'required'
    )
    if body.get('stream') and 'stream_options' not in body:
        settings['openai_stream_include_usage'] = False
    known = {'model', 'messages', 'stream', 'stream_options', 'tools', 'tool_choice', 'n'}
    if extra := {key: value for key, value in body.items() if key not in known}:
        settings['extra_body'] = extra
    return Call(messages, params, settings, system_prompt_role)


def normalise_request(body: dict[str, Any]) -> dict[str, Any]:
    """Drop what the API treats as absent: `n: 1`, `content: null`, and `tool_choice: auto` with tools."""
    body = dict(body)
    if body.get('n') == 1:
        del body['n']
    if body.get('tools') and body.get('tool_choice', 'auto') == 'auto':
        body.pop('tool_choice', None)
    body['messages'] = [
        {key: value for key, value in message.items() if not (key == 'content' and value is None)}
        for message in body['messages']
    ]
    return body


# --------------------------------------------------------------------------------------------
# What the recorded bodies say (a plain reading, independent of the interface's code)
# --------------------------------------------------------------------------------------------


@dataclass
class Expected:
    thinking: str = ''
    text: str = ''
    tool_calls: dict[Any, list[str]] = field(default_factory=dict)  # key -> [id, name, args]
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    model: str | None = None
    id: str | None = None
    error: dict[str, Any] | None = None

    def parts(self) -> list[ModelResponsePart]:
        parts: list[ModelResponsePart] = []
        if self.thinking:
            parts.append(ThinkingPart(self.thinking))
        if self.text:
            parts.append(TextPart(self.text))
        parts.extend(ToolCallPart(name, args, call_id) for call_id, name, args in self.tool_calls.values())
        return parts


def expected_from_completion(body: bytes) -> Expected:
    completion = json.loads(body)
    choice = completion['choices'][0]
    message = choice['message']
    expected = Expected(
        thinking=message.get('reasoning_content') or message.get('reasoning') or '',
        text=message.get('content') or '',
        usage=completion.get('usage'),
        finish_reason=choice['finish_reason'],
        model=completion['model'],
        id=completion['id'],
    )
    for call in message.get('tool_calls') or ():
        expected.tool_calls[call['id']] = [
            call['id'],
            call['function']['name'],
            call['function']['arguments'],
        ]
    return expected


def expected_from_sse(body: bytes) -> Expected:
    expected = Expected()
    event_name = 'message'
    for line in body.decode().splitlines():
        if line.startswith('event:'):
            event_name = line[6:].strip()
            continue
        if not line.startswith('data:'):
            event_name = 'message' if not line else event_name
            continue
        data = line[5:].strip()
        if data == '[DONE]':
            break
        payload = json.loads(data)
        if event_name == 'error':
            expected.error = payload['error']
            break
        expected.model = expected.model or payload.get('model')
        expected.id = expected.id or payload.get('id')
        if payload.get('usage'):
            expected.usage = payload['usage']
        for choice in payload.get('choices') or ():
            delta = choice.get('delta') or {}
            expected.thinking += delta.get('reasoning_content') or delta.get('reasoning') or ''
            expected.text += delta.get('content') or ''
            for call in delta.get('tool_calls') or ():
                key = (
                    (call['index'], call.get('id'))
                    if call.get('id')
                    else next(k for k in reversed(expected.tool_calls) if k[0] == call['index'])
                )
                entry = expected.tool_calls.setdefault(key, [call.get('id'), '', ''])
                function = call.get('function') or {}
                entry[1] += function.get('name') or ''
                entry[2] += function.get('arguments') or ''
            if choice.get('finish_reason'):
                expected.finish_reason = choice['finish_reason']
    return expected


def check_usage(usage: Usage, recorded: dict[str, Any] | None) -> None:
    assert recorded is not None, 'every recorded response here reports usage'
    assert usage.request_tokens == recorded['prompt_tokens']
    assert usage.response_tokens == recorded['completion_tokens']
    assert usage.total_tokens == recorded['total_tokens']
    details = usage.details or {}
    assert details.get('cached_tokens', 0) == (recorded.get('prompt_tokens_details') or {}).get(
        'cached_tokens', 0
    )
    assert details.get('reasoning_tokens', 0) == (recorded.get('completion_tokens_details') or {}).get(
        'reasoning_tokens', 0
    )


def check_response(response: ModelResponse, expected: Expected) -> None:
    assert response.parts == expected.parts()
    assert response.vendor_finish_reason == expected.finish_reason
    assert response.model_name == expected.model
    assert response.vendor_id == expected.id


# --------------------------------------------------------------------------------------------
# Replaying
# --------------------------------------------------------------------------------------------


def provider_for(uri: str, client: httpx.AsyncClient) -> OpenAIProvider:
    base_url = uri.removesuffix('/chat/completions')
    return OpenAIProvider(base_url=base_url, api_key='test-key', http_client=client)


def recorded_request(interaction: Interaction) -> RecordedRequest:
    assert interaction.request is not None, 'every cassette here records its requests'
    return interaction.request


async def replay(
    interaction: Interaction, call: Call, pieces: list[bytes] | None = None
) -> tuple[httpx.Request, ModelResponse | None, Usage | None, Exception | None]:
    """Run the rebuilt call against the recorded response; return what was sent and what came back."""
    recorded = recorded_request(interaction)
    async with httpx.AsyncClient() as client:
        provider = provider_for(recorded.uri, client)
        model = OpenAIModel(
            recorded.json()['model'], provider=provider, system_prompt_role=call.system_prompt_role
        )
        with respx.mock(assert_all_called=False) as router:
            route = respx_route(router, interaction, pieces)
            error: Exception | None = None
            response = usage = None
            try:
                if interaction.streamed:
                    async with model.request_stream(call.messages, call.settings, call.params) as streamed:
                        try:
                            async for _ in streamed:
                                pass
                        finally:
                            response, usage = streamed.get(), streamed.usage()
                else:
                    response, usage = await model.request(call.messages, call.settings, call.params)
            except (ModelHTTPError, ModelStreamError) as exc:
                error = exc
            return route.calls.last.request, response, usage, error


@pytest.mark.parametrize(('cassette', 'index'), interaction_params(CASSETTES))
async def test_recorded_interaction(wire_fixtures: Path, cassette: str, index: int) -> None:
    interaction = load_interactions(wire_fixtures, cassette)[index]
    recorded = recorded_request(interaction)
    call = rebuild_call(recorded.json())
    sent, response, usage, error = await replay(interaction, call)

    # The request: method, path and query, and the JSON body, compared semantically.
    assert sent.method == recorded.method
    assert str(sent.url) == recorded.uri
    assert normalise_request(json.loads(sent.content)) == normalise_request(recorded.json())

    if interaction.response.status >= 400:
        assert isinstance(error, ModelHTTPError)
        assert error.status_code == interaction.response.status
        message = interaction.response.json()['error']['message']
        assert message[:100] in str(error.body) or message[:100] in str(error)
        return

    if not interaction.streamed:
        assert error is None
        expected = expected_from_completion(interaction.response.body)
        assert response is not None
        assert usage is not None
        check_response(response, expected)
        check_usage(usage, expected.usage)
        return

    expected = expected_from_sse(interaction.response.body)
    assert response is not None
    assert usage is not None
    if expected.error is not None:
        assert isinstance(error, ModelStreamError)
        assert error.error_type == expected.error.get('type')
        assert error.code == expected.error.get('code')
        assert expected.error['message'] in str(error)
        assert error.partial_response is not None
        assert error.partial_response.parts == expected.parts()
    else:
        assert error is None
        check_response(response, expected)
        check_usage(usage, expected.usage)

    # The same bytes, cut into random pieces, give the same result.
    for seed in range(RANDOM_SPLITS):
        _, again, again_usage, again_error = await replay(
            interaction, call, random_split(interaction.response.body, seed)
        )
        assert again is not None
        assert again.parts == response.parts
        assert again_usage == usage
        assert type(again_error) is type(error)


@pytest.mark.parametrize('name', CHUNK_FILES)
async def test_recorded_chunk_file(wire_fixtures: Path, name: str) -> None:
    (recorded,) = load_recording(wire_fixtures / name, wire_fixtures).interactions
    body = recorded.response.body
    expected = expected_from_sse(body)
    request = {'model': expected.model, 'messages': [{'role': 'user', 'content': 'Weather?'}], 'stream': True}
    # F4 files record no request: give the one the call below sends.
    interaction = dataclasses.replace(
        recorded,
        request=RecordedRequest(
            'POST', 'https://api.groq.com/openai/v1/chat/completions', {}, json.dumps(request).encode()
        ),
    )
    call = rebuild_call(request)
    for pieces in (None, *(random_split(body, seed) for seed in range(RANDOM_SPLITS))):
        _, response, usage, error = await replay(interaction, call, pieces)
        assert error is None
        assert response is not None
        assert usage is not None
        check_response(response, expected)
        assert usage.total_tokens == expected.usage['total_tokens']  # type: ignore[index]


def test_every_openai_protocol_recording_is_replayed(wire_fixtures: Path) -> None:
    present = set(recording_paths(wire_fixtures, 'openai-chat', 'groq'))
    assert present == set(CASSETTES) | set(CHUNK_FILES)
