"""Replays of real recorded Gemini traffic, on the Generative Language API and on Vertex AI.

For every interaction of every recording: rebuild the same call with `GeminiModel` from the
recorded request (system instruction, turns, tools, settings), check that the request we send
matches the recorded one semantically, answer it with the recorded response through respx, and
check the parts, usage and finish reason we get against what the recorded body says. Streamed
bodies (SSE, and the JSON arrays of a client that did not ask for `alt=sse`) are also re-chunked
at random boundaries, because the recording merged the network chunks into one body.

The expectations come from `expected_from_chunks`, a deliberately simple reading of the recorded
bodies written apart from the interface's code.
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
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from modelkit.models import ModelRequestParameters
from modelkit.models.gemini import GeminiModel, GeminiModelSettings
from modelkit.providers import Provider
from modelkit.providers.google_gla import GoogleGLAProvider
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

RECORDINGS = [
    'gemini-gla/pydantic-ai/test_cancel_recorded_provider_stream[google].yaml',
    'gemini-gla/pydantic-ai/test_google_model.yaml',
    'gemini-gla/pydantic-ai/test_google_model_iter_stream.yaml',
    'gemini-gla/pydantic-ai/test_google_model_stream.yaml',
    'gemini-gla/pydantic-ai/test_google_model_thinking_part.yaml',
    'gemini-gla/pydantic-ai/test_google_model_web_search_tool_stream.yaml',
    'gemini-gla/pydantic-ai/test_model_name_suggestion[google].yaml',
    'gemini-gla/simonw-llm-gemini/test_tools_with_gemini_3_thought_signatures.yaml',
    'gemini-vertex/pydantic-ai/test_google_model_vertex_provider.yaml',
    'gemini-vertex/pydantic-ai/test_google_vertex_logprobs_structure.yaml',
    'gemini-vertex/pydantic-ai/test_multimodal_tool_return_matrix[direct-url-image-google_vertex].yaml',
]
"""Every Gemini recording in the visible fixture set (a test below checks none is missed)."""

RETRY_SUFFIX = '\n\nFix the errors and try again.'
RANDOM_SPLITS = 4
GLA_ROOT = 'https://generativelanguage.googleapis.com'


def get(obj: dict[str, Any], camel: str) -> Any:
    """A field by its camelCase name or its snake_case proto name (recordings use both)."""
    if camel in obj:
        return obj[camel]
    return obj.get(''.join(f'_{c.lower()}' if c.isupper() else c for c in camel))


# --------------------------------------------------------------------------------------------
# Rebuilding the call from the recorded request
# --------------------------------------------------------------------------------------------


@dataclass
class Call:
    messages: list[ModelMessage]
    params: ModelRequestParameters
    settings: GeminiModelSettings


def json_schema(schema: Any) -> Any:
    """Google's OpenAPI-subset schema (upper-case types) as JSON Schema."""
    if isinstance(schema, dict):
        return {
            k: v.lower() if k == 'type' and isinstance(v, str) else json_schema(v) for k, v in schema.items()
        }
    return schema


def rebuild_user_turn(parts: list[dict[str, Any]], names: dict[str, str]) -> list[ModelRequestPart]:
    out: list[ModelRequestPart] = []
    for part in parts:
        if (text := get(part, 'text')) is not None:
            out.append(UserPromptPart(text))
            continue
        result = get(part, 'functionResponse')
        response, call_id = result['response'], result.get('id') or ''
        error = response.get('error') if set(response) == {'error'} else None
        if isinstance(error, str) and error.endswith(RETRY_SUFFIX):
            out.append(
                RetryPromptPart(error[: -len(RETRY_SUFFIX)], tool_name=result['name'], tool_call_id=call_id)
            )
        else:
            out.append(ToolReturnPart(result['name'], response, call_id))
    return out


def rebuild_model_turn(parts: list[dict[str, Any]]) -> list[ModelResponsePart]:
    out: list[ModelResponsePart] = []
    for part in parts:
        signature = get(part, 'thoughtSignature')
        if part.get('thought'):
            out.append(ThinkingPart(part['text'], signature=signature))
            continue
        if signature is not None:
            out.append(ThinkingPart('', signature=signature))
        if (call := get(part, 'functionCall')) is not None:
            out.append(ToolCallPart(call['name'], call.get('args') or {}, call.get('id') or ''))
        elif part.get('text'):
            out.append(TextPart(part['text']))
    return out


def rebuild_call(body: dict[str, Any]) -> Call:
    messages: list[ModelMessage] = []
    system = [SystemPromptPart(p['text']) for p in (get(body, 'systemInstruction') or {}).get('parts', [])]
    names: dict[str, str] = {}
    for content in body['contents']:
        if content.get('role') == 'model':
            messages.append(ModelResponse(rebuild_model_turn(content['parts'])))
        else:
            parts: list[ModelRequestPart] = [*system, *rebuild_user_turn(content['parts'], names)]
            system = []
            messages.append(ModelRequest(parts))

    settings: GeminiModelSettings = {}
    extra: dict[str, Any] = {}
    tools: list[ToolDefinition] = []
    for tool in body.get('tools') or ():
        declarations = get(tool, 'functionDeclarations')
        if declarations is None:
            extra.setdefault('tools', []).append(tool)  # a built-in tool (googleSearch): passed through
            continue
        for d in declarations:
            schema = (
                get(d, 'parametersJsonSchema')
                or json_schema(d.get('parameters'))
                or {'type': 'object', 'properties': {}}
            )
            tools.append(ToolDefinition(d['name'], d.get('description', ''), schema))
    config = dict(get(body, 'generationConfig') or {})
    if config.get('responseModalities') == ['TEXT']:
        del config['responseModalities']  # the default for these models: the normalisation drops it too
    known = {'temperature': 'temperature', 'maxOutputTokens': 'max_tokens', 'topP': 'top_p'}
    for wire, ours in known.items():
        if wire in config:
            settings[ours] = config.pop(wire)  # type: ignore[literal-required]
    thinking = get(config, 'thinkingConfig')
    if thinking is not None:
        config.pop('thinkingConfig', None)
        config.pop('thinking_config', None)
        settings['gemini_thinking_config'] = {'include_thoughts': get(thinking, 'includeThoughts')}
    if config:
        # Fields GeminiModelSettings has no name for (logprobs): the whole config as extra_body.
        extra['generationConfig'] = get(body, 'generationConfig')
    if safety := get(body, 'safetySettings'):
        settings['gemini_safety_settings'] = safety
    if extra:
        settings['extra_body'] = extra
    return Call(messages, ModelRequestParameters(function_tools=tools), settings)


def normalise_part(part: dict[str, Any]) -> dict[str, Any] | None:
    """One part in camelCase, ids and empty unsigned texts dropped, signatures in standard base64."""
    out: dict[str, Any] = {}
    for key in ('text', 'thought', 'thoughtSignature', 'functionCall', 'functionResponse'):
        value = get(part, key)
        if value is not None:
            out[key] = value
    if 'thoughtSignature' in out:
        # pydantic-ai re-encodes signatures as url-safe base64; the bytes are the same.
        out['thoughtSignature'] = out['thoughtSignature'].replace('-', '+').replace('_', '/')
    for key in ('functionCall', 'functionResponse'):
        if key in out:
            # Ids are ours to pick where Gemini sent none; `parts` (multimodal tool results)
            # are not something a ToolReturnPart holds.
            out[key] = {k: v for k, v in out[key].items() if k in ('name', 'args', 'response')}
            if key == 'functionCall':
                out[key].setdefault('args', {})
    if out == {'text': ''}:
        return None
    return out


def normalise_schema(schema: Any) -> Any:
    """Types lower-case, keywords Gemini ignores or that we drop removed; no-argument schemas None."""
    if not isinstance(schema, dict):
        return schema
    out = {k: normalise_schema(v) for k, v in schema.items() if k not in ('additionalProperties', 'title')}
    if isinstance(out.get('type'), str):
        out['type'] = out['type'].lower()
    if out.get('type') == 'object' and not out.get('properties'):
        return None
    return out


def normalise_request(body: dict[str, Any]) -> dict[str, Any]:
    """What the API treats as the same request, in one spelling."""
    out: dict[str, Any] = {
        'contents': [
            {
                'role': c.get('role', 'user'),
                'parts': [p for p in map(normalise_part, c['parts']) if p is not None],
            }
            for c in body['contents']
        ]
    }
    if system := get(body, 'systemInstruction'):
        out['systemInstruction'] = {'parts': system['parts']}  # the role there is ignored
    tools = []
    for tool in body.get('tools') or ():
        declarations = get(tool, 'functionDeclarations')
        if declarations is None:
            tools.append(tool)
            continue
        tools.append(
            [
                (
                    d['name'],
                    d.get('description') or '',
                    normalise_schema(get(d, 'parametersJsonSchema') or d.get('parameters')),
                )
                for d in declarations
            ]
        )
    if tools:
        out['tools'] = tools
    config = {k: v for k, v in (get(body, 'generationConfig') or {}).items() if k != 'responseModalities'}
    if thinking := get(config, 'thinkingConfig'):
        config = {k: v for k, v in config.items() if k not in ('thinkingConfig', 'thinking_config')}
        config['thinkingConfig'] = {'includeThoughts': get(thinking, 'includeThoughts')}
    if config:
        out['generationConfig'] = config
    if safety := get(body, 'safetySettings'):
        out['safetySettings'] = safety
    return out


# --------------------------------------------------------------------------------------------
# What the recorded bodies say (a plain reading, independent of the interface's code)
# --------------------------------------------------------------------------------------------


@dataclass
class Expected:
    parts: list[ModelResponsePart] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    model: str | None = None
    id: str | None = None


def expected_from_chunks(chunks: list[dict[str, Any]]) -> Expected:
    expected = Expected()
    parts = expected.parts
    for chunk in chunks:
        expected.model = expected.model or chunk.get('modelVersion')
        expected.id = expected.id or chunk.get('responseId')
        expected.usage = chunk.get('usageMetadata') or expected.usage
        candidate = (chunk.get('candidates') or [{}])[0]
        expected.finish_reason = candidate.get('finishReason') or expected.finish_reason
        for part in (candidate.get('content') or {}).get('parts') or ():
            text, signature = part.get('text'), part.get('thoughtSignature')
            last = parts[-1] if parts else None
            if part.get('thought'):
                if isinstance(last, ThinkingPart) and last.content:
                    parts[-1] = ThinkingPart(last.content + text, signature=last.signature or signature)
                else:
                    parts.append(ThinkingPart(text, signature=signature))
                continue
            if signature:
                parts.append(ThinkingPart('', signature=signature))
                last = None
            if 'functionCall' in part:
                call = part['functionCall']
                parts.append(ToolCallPart(call['name'], call.get('args') or {}, call.get('id') or ''))
            elif text:
                if isinstance(last, TextPart):
                    parts[-1] = TextPart(last.content + text)
                else:
                    parts.append(TextPart(text))
    return expected


def recorded_chunks(interaction: Interaction) -> list[dict[str, Any]]:
    response = interaction.response
    if response.kind == 'sse':
        blocks = response.body.replace(b'\r\n', b'\n').split(b'\n\n')
        return [json.loads(block[len(b'data: ') :]) for block in blocks if block.strip()]
    parsed = response.json()
    return parsed if isinstance(parsed, list) else [parsed]


def check_usage(usage: Usage, recorded: dict[str, Any] | None) -> None:
    assert recorded is not None, 'every recorded answer here reports usage'
    assert usage.request_tokens == recorded['promptTokenCount'] + recorded.get('toolUsePromptTokenCount', 0)
    assert usage.response_tokens == recorded.get('candidatesTokenCount', 0) + recorded.get(
        'thoughtsTokenCount', 0
    )
    assert usage.total_tokens == recorded['totalTokenCount']
    assert (usage.details or {}).get('reasoning_tokens', 0) == recorded.get('thoughtsTokenCount', 0)
    assert (usage.details or {}).get('tool_use_prompt_tokens', 0) == recorded.get(
        'toolUsePromptTokenCount', 0
    )


def same_parts(ours: list[ModelResponsePart], expected: list[ModelResponsePart]) -> None:
    """Equal, except a call's id where Gemini sent none (ours is generated)."""
    assert len(ours) == len(expected), (ours, expected)
    for got, want in zip(ours, expected, strict=True):
        if isinstance(want, ToolCallPart) and not want.tool_call_id:
            assert isinstance(got, ToolCallPart)
            assert (got.tool_name, got.args) == (want.tool_name, want.args)
            assert got.tool_call_id
        else:
            assert got == want


# --------------------------------------------------------------------------------------------
# Replaying
# --------------------------------------------------------------------------------------------


class RecordedPrefix(Provider):
    """Vertex's recorded path prefix (`/v1beta1/projects/.../publishers/google`) on any request."""

    def __init__(self, prefix: str, client: httpx.AsyncClient) -> None:
        super().__init__(name='google-vertex', base_url=prefix, http_client=client)


def provider_for(uri: str, client: httpx.AsyncClient) -> Provider:
    if uri.startswith(GLA_ROOT):
        return GoogleGLAProvider(api_key='test-key', http_client=client)
    return RecordedPrefix(uri.split('/models/', 1)[0], client)


def recorded_request(interaction: Interaction) -> RecordedRequest:
    assert interaction.request is not None, 'every recording here records its requests'
    return interaction.request


def model_name(uri: str) -> str:
    return uri.split('/models/', 1)[1].split(':', 1)[0]


async def replay(
    interaction: Interaction, call: Call, pieces: list[bytes] | None = None
) -> tuple[httpx.Request, ModelResponse | None, Usage | None, Exception | None]:
    """Run the rebuilt call against the recorded response; return what was sent and what came back."""
    recorded = recorded_request(interaction)
    async with httpx.AsyncClient() as client:
        model = GeminiModel(model_name(recorded.uri), provider=provider_for(recorded.uri, client))
        url = recorded.uri.split('?', 1)[0] + ('?alt=sse' if interaction.streamed else '')
        with respx.mock(assert_all_called=False) as router:
            route = respx_route(router, interaction, pieces, url=url)
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
            except ModelHTTPError as exc:
                error = exc
            return route.calls.last.request, response, usage, error


@pytest.mark.parametrize(('recording', 'index'), interaction_params(RECORDINGS))
async def test_recorded_interaction(wire_fixtures: Path, recording: str, index: int) -> None:
    interaction = load_interactions(wire_fixtures, recording)[index]
    recorded = recorded_request(interaction)
    call = rebuild_call(recorded.json())
    sent, response, usage, error = await replay(interaction, call)

    # The request: method, path (and `alt=sse` for streams), and the JSON body, semantically.
    assert sent.method == recorded.method
    assert str(sent.url).split('?', 1)[0] == recorded.uri.split('?', 1)[0]
    assert (sent.url.params.get('alt') == 'sse') is interaction.streamed
    assert normalise_request(json.loads(sent.content)) == normalise_request(recorded.json())

    if interaction.response.status >= 400:
        assert isinstance(error, ModelHTTPError)
        assert error.status_code == interaction.response.status
        google = interaction.response.json()['error']
        assert google['status'] in str(error)
        assert google['message'][:100] in str(error.body)
        return

    assert error is None
    assert response is not None
    assert usage is not None
    expected = expected_from_chunks(recorded_chunks(interaction))
    same_parts(response.parts, expected.parts)
    assert response.vendor_finish_reason == expected.finish_reason
    assert response.model_name == expected.model
    assert response.vendor_id == expected.id
    check_usage(usage, expected.usage)

    if interaction.streamed:
        # The same bytes, cut into random pieces (inside UTF-8 characters too), give the same result.
        for seed in range(RANDOM_SPLITS):
            _, again, again_usage, again_error = await replay(
                interaction, call, random_split(interaction.response.body, seed)
            )
            assert again_error is None
            assert again is not None
            same_parts(again.parts, expected.parts)
            assert again_usage == usage


def test_every_gemini_recording_is_replayed(wire_fixtures: Path) -> None:
    present = set(recording_paths(wire_fixtures, 'gemini-gla', 'gemini-vertex'))
    assert present == set(RECORDINGS)


def test_the_json_array_recordings_are_among_them(wire_fixtures: Path) -> None:
    kinds = {
        interaction.response.kind
        for name in RECORDINGS
        for interaction in load_interactions(wire_fixtures, name)
    }
    assert {'json', 'sse', 'json-array'} <= kinds
