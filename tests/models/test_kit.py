"""The interface kit: settings tables, tool-call ids, chat message shapes, errors, the shared stream loop.

The stream loop is exercised here with a minimal Anthropic-shaped subclass (named SSE events,
content blocks by index, `message_stop` as the end marker) over respx, to show the kit fits a
wire format other than OpenAI's; the OpenAI interface's own tests cover the OpenAI side.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import respx
from pydantic_core import ValidationError

from modelkit.exceptions import ModelStreamError, StreamInterrupted, UserError
from modelkit.messages import (
    AudioUrl,
    BinaryContent,
    DocumentUrl,
    ModelRequestPart,
    ModelResponse,
    ModelResponseStreamEvent,
    PartDeltaEvent,
    PartStartEvent,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    TextPartDelta,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from modelkit.models._kit import (
    ANTHROPIC_TOOL_CALL_IDS,
    MISTRAL_TOOL_CALL_IDS,
    LazyAdapter,
    ToolCallIds,
    WireStreamedResponse,
    chat_assistant_parts,
    chat_request_part,
    json_request,
    map_settings,
    open_stream,
    stream_error,
    unexpected_body,
    wire_timestamp,
)
from modelkit.models.openai import OpenAIModel
from modelkit.parsers.sse import SSEDecoder, SSEEvent
from modelkit.profiles import OPENAI_API_PROFILE, OPENAI_COMPATIBLE_PROFILE
from modelkit.providers import Provider
from modelkit.providers.openai import OpenAIProvider
from tests.helpers.streams import Pieces

BASE = 'https://api.example.test/v1'


# -- request building ----------------------------------------------------------------------------


def test_map_settings_copies_only_present_settings_under_their_wire_names() -> None:
    body: dict[str, Any] = {}
    map_settings({'temperature': 0.5, 'seed': 3}, (('temperature', 'temperature'), ('top_p', 'p')), body)
    assert body == {'temperature': 0.5}


def test_json_request_merges_extra_body_last_and_extra_headers_on_top() -> None:
    provider = Provider(name='acme', base_url=BASE, default_headers={'x-default': '1'})
    settings = {'extra_body': {'stream': False, 'x': 1}, 'extra_headers': {'anthropic-beta': 'b'}}
    request = json_request(
        provider, '/messages', {'stream': True}, settings, model_name='m', headers={'anthropic-version': 'v'}
    )
    assert request.url == f'{BASE}/messages'
    assert orjson.loads(request.body) == {'stream': False, 'x': 1}
    assert request.headers == {
        'x-default': '1',
        'content-type': 'application/json',
        'anthropic-version': 'v',
        'anthropic-beta': 'b',
    }


# -- tool-call ids -------------------------------------------------------------------------------


def test_valid_ids_are_kept_and_invalid_ones_mapped_consistently() -> None:
    ids = ToolCallIds(MISTRAL_TOOL_CALL_IDS)
    assert ids('abcDE1234') == 'abcDE1234'
    mapped = ids('call_9f2c1b7e0d5a4c3b')
    assert MISTRAL_TOOL_CALL_IDS.accepts(mapped)
    assert len(mapped) == 9
    assert ids('call_9f2c1b7e0d5a4c3b') == mapped  # the call and its return get the same id
    # Deterministic across requests, and different originals never share an id.
    assert ToolCallIds(MISTRAL_TOOL_CALL_IDS)('call_9f2c1b7e0d5a4c3b') == mapped
    others = {ids(f'toolu_{n}') for n in range(200)}
    assert len(others) == 200
    assert mapped not in others


def test_a_valid_id_already_taken_by_a_derived_one_is_mapped_too() -> None:
    derived = ToolCallIds(MISTRAL_TOOL_CALL_IDS)('x-1')
    ids = ToolCallIds(MISTRAL_TOOL_CALL_IDS)
    assert ids('x-1') == derived
    assert ids(derived) != derived  # the history's own `derived` must not collide with x-1's
    assert MISTRAL_TOOL_CALL_IDS.accepts(ids(derived))


def test_anthropic_rule_keeps_openai_ids_and_fixes_others() -> None:
    ids = ToolCallIds(ANTHROPIC_TOOL_CALL_IDS)
    assert ids('call_abc-DEF_123') == 'call_abc-DEF_123'
    for weird in ('call:1', 'x' * 65, '', None, 'pyd_ai_tool_call_id__ü'):
        new = ids(weird)
        assert ANTHROPIC_TOOL_CALL_IDS.accepts(new), (weird, new)
        assert new.startswith('toolu_')


@pytest.mark.anyio
async def test_openai_model_maps_history_ids_when_its_dialect_restricts_them() -> None:
    from modelkit.messages import ModelRequest, ModelResponse, ToolReturnPart, UserPromptPart
    from modelkit.models import ModelRequestParameters

    class StrictIdModel(OpenAIModel):
        tool_call_ids = MISTRAL_TOOL_CALL_IDS

    completion = {'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': 'ok'}}]}
    history = [
        ModelRequest([UserPromptPart('Hi')]),
        ModelResponse([ToolCallPart('f', '{}', 'toolu_01ABC')]),
        ModelRequest([ToolReturnPart('f', 'done', 'toolu_01ABC')]),
    ]
    async with httpx.AsyncClient() as client:
        with respx.mock() as router:
            route = router.post(f'{BASE}/chat/completions').mock(
                return_value=httpx.Response(200, json=completion)
            )
            model = StrictIdModel(
                'm', provider=OpenAIProvider(base_url=BASE, api_key='k', http_client=client)
            )
            await model.request(history, None, ModelRequestParameters())
    messages = orjson.loads(route.calls.last.request.content)['messages']
    call_id = messages[1]['tool_calls'][0]['id']
    assert MISTRAL_TOOL_CALL_IDS.accepts(call_id)
    assert messages[2]['tool_call_id'] == call_id


# -- the chat-completions message shapes (OpenAI and its dialects, Cohere v2) ---------------------


def _refuse(item: AudioUrl | DocumentUrl | BinaryContent) -> dict[str, Any]:
    raise UserError(f'no {item.kind} here')


def test_each_request_part_becomes_its_chat_message() -> None:
    parts: list[ModelRequestPart] = [
        SystemPromptPart('be brief'),
        UserPromptPart('hi'),
        ToolReturnPart('weather', {'temp': 20}, 'call_1'),
        RetryPromptPart('try again', tool_name='weather', tool_call_id='call_1'),
        RetryPromptPart('answer in JSON', tool_call_id='call_2'),
    ]
    messages = [chat_request_part(part, _refuse, system_role='developer') for part in parts]
    assert [message['role'] for message in messages] == ['developer', 'user', 'tool', 'tool', 'user']
    assert messages[2] == {'role': 'tool', 'tool_call_id': 'call_1', 'content': '{"temp":20}'}
    assert messages[3]['tool_call_id'] == 'call_1'
    assert 'tool_call_id' not in messages[4]
    with pytest.raises(UserError, match='no audio-url here'):
        chat_request_part(UserPromptPart([AudioUrl('https://example.test/a.mp3')]), _refuse)


def test_ids_are_asked_only_for_the_call_ids_that_are_sent() -> None:
    asked: list[str] = []

    def ids(tool_call_id: str) -> str:
        asked.append(tool_call_id)
        return f'mapped-{tool_call_id}'

    # A retry about the text answer sends no call id: asking would spend one of a request's ids.
    chat_request_part(RetryPromptPart('answer in JSON', tool_call_id='call-text'), _refuse, ids=ids)
    sent = chat_request_part(ToolReturnPart('weather', 'sunny', 'call-x'), _refuse, ids=ids)
    assert sent['tool_call_id'] == 'mapped-call-x'
    assert asked == ['call-x']
    _, calls, _ = chat_assistant_parts(ModelResponse([ToolCallPart('weather', '{}', 'call-y')]), ids)
    assert calls[0]['id'] == 'mapped-call-y'


def test_assistant_parts_keep_texts_calls_and_thinking_in_order() -> None:
    message = ModelResponse(
        [
            ThinkingPart('first'),
            TextPart('a'),
            TextPart(''),
            ToolCallPart('weather', {'city': 'Paris'}, 'call_1'),
            ThinkingPart(''),
            ThinkingPart('plan', id='tool_plan'),
            TextPart('b'),
        ]
    )
    texts, calls, thinking = chat_assistant_parts(message)
    assert texts == ['a', 'b']
    assert calls == [
        {'id': 'call_1', 'type': 'function', 'function': {'name': 'weather', 'arguments': '{"city":"Paris"}'}}
    ]
    assert [part.content for part in thinking] == ['first', 'plan']

    texts, _, thinking = chat_assistant_parts(message, inline_thinking=lambda text: f'<{text}>')
    assert texts == ['<first>', 'a', '<plan>', 'b']
    assert thinking == []


# -- adapters and errors -------------------------------------------------------------------------


def test_lazy_adapter_builds_once_and_validates() -> None:
    adapter: LazyAdapter[Any] = LazyAdapter('modelkit.wire.openai', 'CompletionUsage')
    usage = adapter.validate_json(b'{"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}')
    assert usage.total_tokens == 3
    assert adapter.adapter is adapter.adapter
    with pytest.raises(ValidationError):
        adapter.validate_python({'prompt_tokens': 'many'})


def test_unexpected_body_names_the_fields_or_the_error_object() -> None:
    adapter: LazyAdapter[Any] = LazyAdapter('modelkit.wire.openai', 'ChatCompletion')
    with pytest.raises(ValidationError) as info:
        adapter.validate_json(b'{"id": 1}')
    error = unexpected_body('acme', 'chat completion', info.value, b'{"id": 1}')
    assert 'acme returned a chat completion that does not fit the schema: ' in str(error)
    assert 'choices: Field required' in str(error)
    error = unexpected_body('acme', 'message', info.value, b'{"error": {"message": "overloaded"}}')
    assert error.message == 'acme returned an error object instead of a message: overloaded'


def test_stream_error_reads_every_vendor_shape() -> None:
    anthropic = stream_error(
        'anthropic', '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    )
    assert anthropic.message == 'anthropic stream error (overloaded_error): Overloaded'
    assert anthropic.error_type == 'overloaded_error'
    openai = stream_error('openai', '{"error": {"message": "boom", "type": "server_error", "code": 500}}')
    assert (openai.error_type, openai.code) == ('server_error', '500')
    bedrock = stream_error('bedrock', b'{"message": "Too many tokens"}', error_type='throttlingException')
    assert bedrock.message == 'bedrock stream error (throttlingException): Too many tokens'
    assert stream_error('x', 'not json').message == 'x stream error (unknown): not json'


def test_wire_timestamp_reads_unix_seconds_and_iso_and_survives_nonsense() -> None:
    assert wire_timestamp(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert wire_timestamp('2025-01-02T03:04:05Z') == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert wire_timestamp('2025-01-02T03:04:05') == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    for nonsense in (10**20, 'soon', None, True):
        assert abs((wire_timestamp(nonsense) - datetime.now(tz=UTC)).total_seconds()) < 60


# -- profiles ------------------------------------------------------------------------------------


def test_openai_provider_speaks_openai_dialect_only_at_openai() -> None:
    assert OpenAIProvider(api_key='k').openai_chat_profile is OPENAI_API_PROFILE
    assert OpenAIProvider(base_url='http://127.0.0.1:1/v1').openai_chat_profile is OPENAI_COMPATIBLE_PROFILE
    assert Provider(name='bare', base_url=BASE).openai_chat_profile is OPENAI_COMPATIBLE_PROFILE


@pytest.mark.anyio
async def test_a_profile_changes_the_request_and_no_hostname_decides() -> None:
    from modelkit.messages import ModelRequest, SystemPromptPart, UserPromptPart
    from modelkit.models import ModelRequestParameters
    from modelkit.tools import ToolDefinition

    mistral_like = replace(
        OPENAI_COMPATIBLE_PROFILE,
        seed_field='random_seed',
        tool_choice_required='any',
        strict_tools=False,
        system_role='developer',
        max_tokens_field='max_completion_tokens',
        stream_include_usage=False,
    )
    completion = {'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': 'ok'}}]}
    tool = ToolDefinition('f', 'd', {'type': 'object', 'properties': {}}, strict=True)
    params = ModelRequestParameters(function_tools=[tool], allow_text_result=False)
    async with httpx.AsyncClient() as client:
        with respx.mock() as router:
            route = router.post(f'{BASE}/chat/completions').mock(
                return_value=httpx.Response(200, json=completion)
            )
            provider = OpenAIProvider(base_url=BASE, api_key='k', http_client=client)
            model = OpenAIModel('m', provider=provider, profile=mistral_like)
            messages = [ModelRequest([SystemPromptPart('Be brief'), UserPromptPart('Hi')])]
            await model.request(messages, {'seed': 7, 'max_tokens': 9}, params)
    body = orjson.loads(route.calls.last.request.content)
    assert body['random_seed'] == 7
    assert 'seed' not in body
    assert body['max_completion_tokens'] == 9
    assert body['tool_choice'] == 'any'
    assert 'strict' not in body['tools'][0]['function']
    assert body['messages'][0]['role'] == 'developer'


# -- the shared stream loop, on a second wire format ---------------------------------------------


@dataclass
class NamedEventStream(WireStreamedResponse[SSEEvent]):
    """The smallest Anthropic-shaped translation: text and tool-use blocks by index."""

    end_expected = 'message_stop'

    def _new_parser(self) -> SSEDecoder:
        return SSEDecoder()

    def _process_event(
        self, event: SSEEvent
    ) -> ModelResponseStreamEvent | Iterator[ModelResponseStreamEvent] | None:
        kind = event.event
        if kind == 'ping':
            return None
        if kind == 'error':
            raise stream_error(self._vendor, event.data)
        payload = orjson.loads(event.data)
        if kind == 'message_start':
            self._vendor_id = payload['message']['id']
            return None
        if kind == 'content_block_start':
            block = payload['content_block']
            if block['type'] == 'tool_use':
                return self._parts_manager.tool_call_delta(payload['index'], block['name'], None, block['id'])
            return None
        if kind == 'content_block_delta':
            delta = payload['delta']
            if delta['type'] == 'text_delta':
                return self._parts_manager.text_delta(payload['index'], delta['text'])
            return self._parts_manager.tool_call_delta(payload['index'], None, delta['partial_json'], None)
        if kind == 'message_delta':
            self._vendor_finish_reason = payload['delta']['stop_reason']
        elif kind == 'message_stop':
            self._end_seen = True
        return None


def named(kind: str, payload: dict[str, Any]) -> bytes:
    return b'event: ' + kind.encode() + b'\ndata: ' + orjson.dumps({'type': kind, **payload}) + b'\n\n'


START = named('message_start', {'message': {'id': 'msg_1', 'usage': {'input_tokens': 3}}})
TEXT = [
    named('content_block_start', {'index': 0, 'content_block': {'type': 'text', 'text': ''}}),
    named('ping', {}),
    named('content_block_delta', {'index': 0, 'delta': {'type': 'text_delta', 'text': 'Hel'}}),
    named('content_block_delta', {'index': 0, 'delta': {'type': 'text_delta', 'text': 'lo'}}),
    named('content_block_stop', {'index': 0}),
]
TOOL = [
    named(
        'content_block_start',
        {'index': 1, 'content_block': {'type': 'tool_use', 'id': 'toolu_1', 'name': 'f'}},
    ),
    named('content_block_delta', {'index': 1, 'delta': {'type': 'input_json_delta', 'partial_json': '{"a"'}}),
    named('content_block_delta', {'index': 1, 'delta': {'type': 'input_json_delta', 'partial_json': ': 1}'}}),
]
END = [named('message_delta', {'delta': {'stop_reason': 'tool_use'}}), named('message_stop', {})]


async def run_named(pieces: list[bytes]) -> tuple[list[ModelResponseStreamEvent], NamedEventStream]:
    async with httpx.AsyncClient() as client:
        with respx.mock() as router:
            router.post(f'{BASE}/messages').mock(
                return_value=httpx.Response(
                    200, headers={'content-type': 'text/event-stream'}, stream=Pieces(pieces)
                )
            )
            provider = Provider(name='anthropic', base_url=BASE, http_client=client)
            request = json_request(provider, '/messages', {'stream': True}, {}, model_name='claude')

            def make(stream: Any) -> NamedEventStream:
                return NamedEventStream(_model_name='claude', _stream=stream, _vendor='anthropic')

            events: list[ModelResponseStreamEvent] = []
            async with open_stream(provider, request, make, model_name='claude', timeout=None) as response:
                async for event in response:
                    events.append(event)
    return events, response


@pytest.mark.anyio
async def test_named_events_by_block_index_run_on_the_kit_loop_with_timing() -> None:
    body = b''.join([START, *TEXT, *TOOL, *END, b'event: ping\ndata: {}\n\n'])
    for pieces in ([body], [body[i : i + 7] for i in range(0, len(body), 7)]):
        events, response = await run_named(pieces)
        assert events[:2] == [PartStartEvent(0, TextPart('Hel')), PartDeltaEvent(0, TextPartDelta('lo'))]
        assert response.get().parts == [TextPart('Hello'), ToolCallPart('f', '{"a": 1}', 'toolu_1')]
        assert response.get().vendor_id == 'msg_1'
        timing = response.timing
        assert timing.started_at is not None
        assert timing.headers_at is not None
        assert len(timing.event_times) == len(events)
        assert timing.first_event_at == timing.event_times[0] >= timing.headers_at >= timing.started_at


@pytest.mark.anyio
@pytest.mark.parametrize(
    ('cut', 'how'),
    [
        (b'', 'between events'),
        (b'event: content_block_delta\ndata: {"type": "content_bl', 'in the middle of an event'),
    ],
)
async def test_a_stream_without_its_end_is_interrupted_carrying_what_arrived(cut: bytes, how: str) -> None:
    with pytest.raises(
        StreamInterrupted, match=f'anthropic stream ended before message_stop arrived .*{how}'
    ) as info:
        await run_named([START, *TEXT, cut])
    assert info.value.partial_response is not None
    assert info.value.partial_response.parts == [TextPart('Hello')]


@pytest.mark.anyio
async def test_an_error_event_is_a_stream_error_with_the_partial_response() -> None:
    error = named('error', {'error': {'type': 'overloaded_error', 'message': 'Overloaded'}})
    with pytest.raises(ModelStreamError) as info:
        await run_named([START + b''.join(TEXT) + error])
    assert info.value.error_type == 'overloaded_error'
    assert info.value.partial_response is not None
    assert info.value.partial_response.parts == [TextPart('Hello')]
