"""The vendor wire models' policies, on small payloads written from the vendors' API references.

Requests forbid unknown fields; responses keep them; a block or event type we do not know
validates as the union's fallback model, while a known type with a wrong shape still fails.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from modelkit.wire import anthropic, bedrock, cohere, gemini, groq, mistral
from modelkit.wire._base import WireResponse, open_tag


@pytest.mark.parametrize(
    ('root', 'payload', 'expected'),
    [
        (
            anthropic.MessageStreamEvent,
            {'type': 'content_block_stop', 'index': 2},
            anthropic.ContentBlockStopEvent,
        ),
        (anthropic.MessageStreamEvent, {'type': 'brand_new_event', 'x': 1}, anthropic.OtherStreamEvent),
        (cohere.StreamedChatEvent, {'type': 'tool-call-end', 'index': 0}, cohere.ToolCallEndEvent),
        (cohere.StreamedChatEvent, {'type': 'debug', 'delta': {}}, cohere.OtherStreamEvent),
        (groq.GroqStreamPayload, {'choices': [], 'x_groq': {'id': 'req_1'}}, groq.GroqChatCompletionChunk),
        (
            groq.GroqStreamPayload,
            {'error': {'message': 'Tool choice is required', 'code': 'tool_use_failed'}},
            groq.GroqErrorResponse,
        ),
    ],
)
def test_stream_payloads_pick_their_model(
    root: type[Any], payload: dict[str, Any], expected: type[BaseModel]
) -> None:
    assert type(root.model_validate(payload).root) is expected


def test_unknown_anthropic_blocks_and_deltas_are_kept_whole() -> None:
    event = anthropic.MessageStreamEvent.model_validate(
        {
            'type': 'content_block_start',
            'index': 1,
            'content_block': {'type': 'web_search_tool_result', 'content': []},
        }
    ).root
    assert isinstance(event, anthropic.ContentBlockStartEvent)
    assert isinstance(event.content_block, anthropic.OtherBlock)
    assert event.content_block.model_dump() == {'type': 'web_search_tool_result', 'content': []}
    delta = anthropic.MessageStreamEvent.model_validate(
        {'type': 'content_block_delta', 'index': 0, 'delta': {'type': 'future_delta', 'v': 1}}
    ).root
    assert isinstance(delta, anthropic.ContentBlockDeltaEvent)
    assert isinstance(delta.delta, anthropic.OtherDelta)


def test_a_known_type_with_a_wrong_shape_still_fails() -> None:
    with pytest.raises(ValidationError, match='text'):
        anthropic.MessageStreamEvent.model_validate(
            {'type': 'content_block_delta', 'index': 0, 'delta': {'type': 'text_delta'}}
        )
    with pytest.raises(ValidationError, match='index'):
        cohere.StreamedChatEvent.model_validate({'type': 'content-delta'})


@pytest.mark.parametrize(
    ('model', 'body'),
    [
        (anthropic.MessagesRequest, {'model': 'm', 'max_tokens': 1, 'messages': [], 'max_token': 2}),
        (gemini.GenerateContentRequest, {'contents': [], 'generationConfig': {'maxOutputToken': 5}}),
        (cohere.ChatRequest, {'model': 'm', 'messages': [], 'top_p': 0.5}),
        (bedrock.ConverseRequest, {'messages': [], 'inferenceConfig': {'max_tokens': 5}}),
        (mistral.MistralChatCompletionRequest, {'model': 'm', 'messages': [], 'stream_options': {}}),
        (groq.GroqChatCompletionRequest, {'model': 'm', 'messages': [], 'reasoning_format': 'verbose'}),
    ],
)
def test_requests_reject_what_the_vendor_does_not_take(model: type[BaseModel], body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(body)


def test_anthropic_requests_send_back_server_blocks_and_take_server_tools() -> None:
    request = anthropic.MessagesRequest.model_validate(
        {
            'model': 'claude',
            'max_tokens': 10,
            'messages': [
                {
                    'role': 'assistant',
                    'content': [
                        {'type': 'thinking', 'thinking': 'hmm', 'signature': 'sig'},
                        {'type': 'server_tool_use', 'id': 'srvtoolu_1', 'name': 'web_search', 'input': {}},
                    ],
                }
            ],
            'tools': [
                {'name': 'f', 'input_schema': {'type': 'object'}},
                {'type': 'web_search_20250305', 'name': 'web_search', 'max_uses': 3},
            ],
        }
    )
    content = request.messages[0].content
    assert isinstance(content, list)
    assert isinstance(content[1], anthropic.OtherBlockParam)
    assert content[1].model_dump() == {
        'type': 'server_tool_use',
        'id': 'srvtoolu_1',
        'name': 'web_search',
        'input': {},
    }
    assert request.tools is not None
    assert [type(t) for t in request.tools] == [anthropic.CustomTool, anthropic.ServerTool]


def test_gemini_parts_keep_signatures_and_unknown_fields() -> None:
    response = gemini.GenerateContentResponse.model_validate(
        {
            'candidates': [
                {
                    'content': {
                        'role': 'model',
                        'parts': [{'functionCall': {'name': 'f'}, 'thoughtSignature': 'c2ln', 'newField': 1}],
                    },
                    'finishReason': 'SOMETHING_NEW',
                }
            ],
            'usageMetadata': {'promptTokenCount': 3, 'thoughtsTokenCount': 2},
        }
    )
    assert response.candidates is not None
    candidate = response.candidates[0]
    assert candidate.finishReason == 'SOMETHING_NEW'
    assert candidate.content is not None
    assert candidate.content.parts is not None
    part = candidate.content.parts[0]
    assert part.functionCall is not None
    assert part.functionCall.args is None
    assert part.model_dump(exclude_none=True) == {
        'functionCall': {'name': 'f'},
        'thoughtSignature': 'c2ln',
        'newField': 1,
    }


def test_bedrock_reserved_names_dump_under_their_wire_keys() -> None:
    schema = bedrock.ToolInputSchema.model_validate({'json': {'type': 'object'}})
    assert schema.model_dump() == {'json': {'type': 'object'}}
    error = bedrock.ErrorResponse.model_validate({'__type': 'ThrottlingException', 'message': 'slow down'})
    assert error.type_ == 'ThrottlingException'
    event = bedrock.ConverseStreamOutput.model_validate(
        {
            'contentBlockDelta': {
                'contentBlockIndex': 0,
                'delta': {'reasoningContent': {'signature': 's'}},
                'p': 'abc',
            }
        }
    )
    assert event.contentBlockDelta is not None
    assert event.contentBlockDelta.delta.reasoningContent is not None
    assert event.contentBlockDelta.delta.reasoningContent.signature == 's'


def test_mistral_content_is_a_string_or_thinking_then_text_chunks() -> None:
    chunk = mistral.MistralChatCompletionChunk.model_validate(
        {
            'choices': [
                {
                    'index': 0,
                    'delta': {
                        'content': [
                            {'type': 'thinking', 'thinking': [{'type': 'text', 'text': 'hmm'}]},
                            {'type': 'text', 'text': 'Hi'},
                            {'type': 'reference', 'reference_ids': [1]},
                        ]
                    },
                }
            ]
        }
    )
    delta = chunk.choices[0].delta
    assert delta is not None
    assert isinstance(delta.content, list)
    assert [type(c) for c in delta.content] == [mistral.ThinkChunk, mistral.TextChunk, mistral.OtherChunk]
    plain = mistral.MistralChatCompletionChunk.model_validate({'choices': [{'delta': {'content': 'Hi'}}]})
    assert plain.choices[0].delta is not None
    assert plain.choices[0].delta.content == 'Hi'


def test_wire_modules_import_no_vendor_sdk_and_nothing_heavy() -> None:
    modules = ', '.join(
        f'modelkit.wire.{m}' for m in ('anthropic', 'gemini', 'cohere', 'bedrock', 'groq', 'mistral')
    )
    code = f'import sys, {modules}; print("\\n".join(sorted(sys.modules)))'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True, timeout=60)
    loaded = {name.split('.')[0] for name in out.stdout.split()}
    assert not loaded & {'httpx', 'botocore', 'boto3', 'google', 'anthropic', 'cohere', 'mistralai', 'groq'}
    bare = subprocess.run(
        [sys.executable, '-c', 'import sys, modelkit.wire; print("\\n".join(sorted(sys.modules)))'],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert not [name for name in bare.stdout.split() if name.startswith('modelkit.wire.')]


def test_the_exported_schema_keeps_known_types_out_of_the_fallback() -> None:
    # JSON Schema's oneOf needs exactly one match: the fallback must not also match a known event.
    members = anthropic.MessageStreamEvent.model_json_schema()['oneOf']
    assert members[-1]['allOf'] == [{'$ref': '#/$defs/OtherStreamEvent'}]
    assert 'ping' in members[-1]['not']['properties']['type']['enum']
    assert members[-1]['not']['required'] == ['type']
    tools = anthropic.CustomTool, anthropic.ServerTool
    tool_union = anthropic.MessagesRequest.model_json_schema()['$defs']
    assert all(cls.__name__ in tool_union for cls in tools)


def test_an_open_union_member_is_routed_by_its_own_literal_and_must_declare_one() -> None:
    class Known(WireResponse):
        type: Literal['known']
        n: int

    class Other(WireResponse):
        type: str

    union = TypeAdapter(Annotated[Known | Other, open_tag()])
    assert type(union.validate_python({'type': 'known', 'n': 1})) is Known
    assert type(union.validate_python({'type': 'later', 'n': 'x'})) is Other
    with pytest.raises(ValidationError, match='n'):
        union.validate_python({'type': 'known'})

    class Untagged(WireResponse):
        type: str

    with pytest.raises(TypeError, match=r'Untagged.*type: Literal'):
        TypeAdapter(Annotated[Untagged | Other, open_tag()])
