"""Cohere's v2 chat interface (`POST /v2/chat`): `CohereModel`, plain and streamed.

The provider (`CohereProvider`, key from `CO_API_KEY`) decides where requests go and signs them;
this module translates our messages to Cohere's wire format and its answers back. Sections, in the
order every interface module keeps: settings; the model (request, request_stream); mapping our
messages to the wire (`_map_*`); processing a response (`_process_*`); the streamed-response event
loop; usage.

How Cohere's own ideas map onto ours (Cohere's API reference, https://docs.cohere.com/reference/chat):

- **tool_plan** (the model's reasoning before its tool calls, "I will use get_weather to ...") is
  a `ThinkingPart` with `id='tool_plan'`, placed before the calls. It is the model thinking aloud,
  not its answer: as a `TextPart` a streamed agent run would take it for the final text. On the
  next turn it goes back as the assistant message's `tool_plan`, beside its `tool_calls`.
- **thinking** content (reasoning models such as command-a-reasoning) is a `ThinkingPart`, sent
  back as a `{"type": "thinking"}` content item of the assistant message.
- **citations** (`message.citations`, `citation-start` / `citation-end`) are skipped: they point
  into the answer's text, which is kept whole, and modelkit's messages have no citation part.
- **finish reasons**: COMPLETE and STOP_SEQUENCE are `stop`, MAX_TOKENS `length`, TOOL_CALL
  `tool_call`; ERROR and TIMEOUT mean the answer failed, so they raise (`ModelStreamError` in a
  stream, `UnexpectedModelBehavior` otherwise) with what arrived as `partial_response`.
- **a tool call with empty arguments** completes as `'{}'`.
- **usage**: `tokens` (what the model read and wrote) are the request and response tokens;
  `billed_units` go in `details` as `billed_input_tokens` / `billed_output_tokens` (and
  `search_units`, `classifications`), with `cached_tokens`. Cohere's numbers are per response,
  not running totals.

Settings Cohere has no field for (`parallel_tool_calls`, `logit_bias`) are not sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Literal
from typing import TypeAlias
from typing import TypedDict
from typing import cast

import orjson
from pydantic_core import ValidationError

from .._fieldwise import fieldwise
from ..exceptions import ModelStreamError
from ..exceptions import UnexpectedModelBehavior
from ..exceptions import UserError
from ..messages import AudioUrl
from ..messages import BinaryContent
from ..messages import DocumentUrl
from ..messages import FinishReason
from ..messages import ModelMessage
from ..messages import ModelRequest
from ..messages import ModelResponse
from ..messages import ModelResponsePart
from ..messages import ModelResponseStreamEvent
from ..messages import TextPart
from ..messages import ThinkingPart
from ..messages import ToolCallPart
from ..parsers.sse import EventData
from ..parsers.sse import SSEDataDecoder
from ..parsers.sse import event_text
from ..settings import ModelSettings
from ..usage import Usage
from . import ModelRequestParameters
from ._kit import LazyAdapter
from ._kit import SettingsTable
from ._kit import WireModel
from ._kit import WireStreamedResponse
from ._kit import chat_assistant_parts
from ._kit import chat_request_part
from ._kit import event_problem
from ._kit import json_request
from ._kit import map_settings
from ._kit import parse_event
from ._kit import stream_error
from ._kit import unexpected_body
from ._kit import wire_usage

if TYPE_CHECKING:
    from .._transport import HTTPRequest
    from ..tools import ToolDefinition
    from ..wire import cohere as wire

__all__ = (
    'TOOL_PLAN_ID',
    'CohereModel',
    'CohereModelName',
    'CohereModelSettings',
    'CohereStreamedResponse',
    'CohereThinking',
)

Event: TypeAlias = ModelResponseStreamEvent

CohereModelName: TypeAlias = (
    Literal[
        'command',
        'command-light',
        'command-r',
        'command-r-plus',
        'command-r-08-2024',
        'command-r-plus-08-2024',
        'command-r7b-12-2024',
        'command-a-03-2025',
        'command-a-reasoning-08-2025',
    ]
    | str
)
"""Cohere's popular chat models; any other name Cohere serves works too."""

TOOL_PLAN_ID = 'tool_plan'
"""The `ThinkingPart.id` that marks Cohere's tool plan (sent back as `tool_plan`, not as thinking)."""

CHAT_PATH = '/v2/chat'

# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


class CohereThinking(TypedDict, total=False):
    """Reasoning on or off for Cohere's reasoning models (`thinking`), with a token budget."""

    type: Literal['enabled', 'disabled']
    token_budget: int


class CohereModelSettings(ModelSettings, total=False):
    """Settings for `CohereModel`: the shared ones plus Cohere's own, prefixed `cohere_`."""

    cohere_k: int
    """Top-k sampling: only the `k` most likely tokens are considered (`k`)."""
    cohere_safety_mode: Literal['CONTEXTUAL', 'STRICT', 'OFF']
    """Cohere's safety instruction for the request (`safety_mode`)."""
    cohere_thinking: CohereThinking
    """Reasoning for reasoning models, e.g. `{'type': 'enabled', 'token_budget': 2048}` (`thinking`)."""
    cohere_strict_tools: bool
    """Make tool calls follow the tools' schemas exactly (`strict_tools`)."""
    cohere_priority: int
    """How early the request is served under load; lower is sooner, 0 the default (`priority`)."""


# Settings that map one-to-one onto a wire field.
_SETTINGS_TO_WIRE: SettingsTable = (
    ('max_tokens', 'max_tokens'),
    ('temperature', 'temperature'),
    ('top_p', 'p'),
    ('stop_sequences', 'stop_sequences'),
    ('seed', 'seed'),
    ('presence_penalty', 'presence_penalty'),
    ('frequency_penalty', 'frequency_penalty'),
    ('cohere_k', 'k'),
    ('cohere_safety_mode', 'safety_mode'),
    ('cohere_thinking', 'thinking'),
    ('cohere_strict_tools', 'strict_tools'),
    ('cohere_priority', 'priority'),
)

# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class CohereModel(WireModel[CohereModelName]):
    """A model behind Cohere's v2 chat API, e.g. `CohereModel('command', api_key='...')`."""

    default_provider: ClassVar[str] = 'cohere'

    # ----------------------------------------------------------------------------------------
    # Mapping our messages to the wire
    # ----------------------------------------------------------------------------------------

    def _build_request(
        self,
        messages: list[ModelMessage],
        settings: CohereModelSettings,
        params: ModelRequestParameters,
        *,
        stream: bool,
    ) -> HTTPRequest:
        body = self._map_body(messages, settings, params, stream=stream)
        return json_request(self._provider, CHAT_PATH, body, settings, model_name=self._model_name)

    def _map_body(
        self,
        messages: list[ModelMessage],
        settings: CohereModelSettings,
        params: ModelRequestParameters,
        *,
        stream: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            'model': self._model_name,
            'messages': _map_messages(messages),
            'stream': stream,
        }
        tools = [_map_tool(tool) for tool in (*params.function_tools, *params.result_tools)]
        if tools:
            body['tools'] = tools
            # Cohere has no "auto" value: without REQUIRED the model may answer in text instead.
            if not params.allow_text_result:
                body['tool_choice'] = 'REQUIRED'
        if params.result_json_schema is not None:
            body['response_format'] = {'type': 'json_object', 'json_schema': params.result_json_schema}
        map_settings(settings, _SETTINGS_TO_WIRE, body)
        return body

    # ----------------------------------------------------------------------------------------
    # Processing a response
    # ----------------------------------------------------------------------------------------

    def _process_response(self, body: bytes) -> tuple[ModelResponse, Usage]:
        vendor = self._provider.name
        try:
            chat = _RESPONSE.validate_json(body)
        except ValidationError as exc:
            raise unexpected_body(vendor, 'chat response', exc, body) from exc
        message = chat.message
        parts: list[ModelResponsePart] = []
        for item in message.content or ():
            if item.type == 'text' and (text := cast('wire.TextContent', item).text):
                parts.append(TextPart(text))
            elif item.type == 'thinking' and (thinking := cast('wire.ThinkingContent', item).thinking):
                parts.append(ThinkingPart(thinking))
        if message.tool_plan:
            parts.append(ThinkingPart(message.tool_plan, id=TOOL_PLAN_ID))
        for call in message.tool_calls or ():
            function = call.function
            name = (function.name if function else None) or ''
            args = (function.arguments if function else None) or '{}'
            parts.append(
                ToolCallPart(name, args, call.id) if call.id is not None else ToolCallPart(name, args)
            )
        response = ModelResponse(
            parts,
            model_name=self._model_name,
            timestamp=datetime.now(tz=UTC),
            finish_reason=_FINISH_REASONS.get(chat.finish_reason or ''),
            vendor_finish_reason=chat.finish_reason,
            vendor_id=chat.id,
        )
        if chat.finish_reason in _FAILED:
            raise UnexpectedModelBehavior(
                f'{vendor} ended the response with finish reason {chat.finish_reason}',
                body,
                partial_response=response,
            )
        return response, _map_usage(chat.usage)


# --------------------------------------------------------------------------------------------
# Mapping our messages to the wire: helpers
# --------------------------------------------------------------------------------------------


def _map_messages(messages: list[ModelMessage]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            out.extend(chat_request_part(part, _refuse_content) for part in message.parts)
        else:
            out.append(_map_assistant(message))
    return out


def _map_assistant(message: ModelResponse) -> dict[str, Any]:
    texts, calls, reasoning = chat_assistant_parts(message)
    thinking = [part.content for part in reasoning if part.id != TOOL_PLAN_ID]
    plans = [part.content for part in reasoning if part.id == TOOL_PLAN_ID]
    wire_message: dict[str, Any] = {'role': 'assistant'}
    if thinking:
        # Reasoning goes back as content items, before the text it led to.
        items = [{'type': 'thinking', 'thinking': text} for text in thinking]
        wire_message['content'] = [*items, *({'type': 'text', 'text': text} for text in texts)]
    elif texts:
        wire_message['content'] = '\n\n'.join(texts)
    if calls:
        wire_message['tool_calls'] = calls
        if plans:
            wire_message['tool_plan'] = ''.join(plans)
    elif 'content' not in wire_message:
        # An assistant turn needs content or tool calls.
        wire_message['content'] = ''
    return wire_message


def _refuse_content(item: AudioUrl | DocumentUrl | BinaryContent) -> dict[str, Any]:
    what = item.media_type if isinstance(item, BinaryContent) else item.kind
    raise UserError(f'Cohere chat takes text and images in a user message, not {what}')


def _map_tool(tool: ToolDefinition) -> dict[str, Any]:
    function = {'name': tool.name, 'description': tool.description, 'parameters': tool.parameters_json_schema}
    return {'type': 'function', 'function': function}


# --------------------------------------------------------------------------------------------
# Processing a response: shared helpers
# --------------------------------------------------------------------------------------------

_FINISH_REASONS: dict[str, FinishReason] = {
    'COMPLETE': 'stop',
    'STOP_SEQUENCE': 'stop',
    'MAX_TOKENS': 'length',
    'TOOL_CALL': 'tool_call',
    'ERROR': 'error',
    'TIMEOUT': 'error',
}
_FAILED = frozenset({'ERROR', 'TIMEOUT'})
"""Finish reasons that say the answer failed: raised, with what arrived."""

_RESPONSE: LazyAdapter[wire.ChatResponse] = LazyAdapter('modelkit.wire.cohere', 'ChatResponse')
_EVENT: LazyAdapter[wire.StreamedChatEvent] = LazyAdapter('modelkit.wire.cohere', 'StreamedChatEvent')
_USAGE: LazyAdapter[wire.Usage] = LazyAdapter('modelkit.wire.cohere', 'Usage')

# --------------------------------------------------------------------------------------------
# The streamed-response event loop
# --------------------------------------------------------------------------------------------

# What an event of an unexpected shape trips over in the lookups below; `_event_problem` names it.
_READ_ERRORS = (KeyError, TypeError, AttributeError, IndexError, ValueError)


@fieldwise
@dataclass(repr=False, eq=False)
class CohereStreamedResponse(WireStreamedResponse[EventData]):
    """A v2 chat response arriving as typed server-sent events, translated into our part events.

    Every event's JSON names its `type` (the SSE `event:` line repeats it, but decoded recordings
    drop it, so the payload decides). Parts are keyed by the content index (text and thinking),
    `('tool', index)` (tool calls) and `TOOL_PLAN_ID`.
    """

    _call_has_args: dict[int, bool] = field(default_factory=dict, init=False)

    end_expected: ClassVar[str] = 'message-end'

    def _new_parser(self) -> SSEDataDecoder:
        return SSEDataDecoder()

    def _process_event(self, event: EventData) -> Event | None:
        # The hot path: one orjson.loads and a few lookups for a text delta; every other event type
        # goes through `_HANDLERS`, and whatever the lookups trip over to `_event_problem`.
        try:
            payload = orjson.loads(event[1])  # the bytes, where the decoder kept them
            kind = payload['type']
            if kind == 'content-delta':
                content = payload['delta']['message']['content']
                text = content.get('text')
                if text.__class__ is str:
                    return self._parts_manager.text_delta(payload['index'], text)
            handler = _HANDLERS.get(kind)
            return handler(self, payload) if handler is not None else None  # unknown types: skipped
        except _READ_ERRORS as exc:
            problem = self._event_problem(event, exc)
            if problem is not None:
                raise problem from exc
            return None

    def _content(self, payload: dict[str, Any]) -> Event | None:
        """`content-start` / `content-delta`: text, or thinking, of the content item at `index`."""
        content = payload['delta']['message']['content']
        index = payload['index']
        if (thinking := content.get('thinking')) is not None:
            return self._parts_manager.thinking_delta(index, _string(thinking, 'thinking'))
        return self._parts_manager.text_delta(index, _string(content.get('text') or '', 'text'))

    def _tool_plan(self, payload: dict[str, Any]) -> Event | None:
        plan = _string(payload['delta']['message']['tool_plan'], 'tool_plan')
        return self._parts_manager.thinking_delta(TOOL_PLAN_ID, plan, id=TOOL_PLAN_ID)

    def _tool_call_start(self, payload: dict[str, Any]) -> Event | None:
        index = payload['index']
        call = payload['delta']['message']['tool_calls']
        function = call.get('function') or {}
        args = _string(function.get('arguments') or '', 'arguments')
        self._call_has_args[index] = bool(args)
        name = _string(function.get('name') or '', 'name')
        call_id = call.get('id')
        call_id = _string(call_id, 'id') if call_id is not None else None
        return self._parts_manager.tool_call_delta(('tool', index), name, args or None, call_id)

    def _tool_call_delta(self, payload: dict[str, Any]) -> Event | None:
        index = payload['index']
        args = _string(payload['delta']['message']['tool_calls']['function']['arguments'], 'arguments')
        if not args:
            return None
        self._call_has_args[index] = True
        return self._parts_manager.tool_call_delta(('tool', index), None, args)

    def _tool_call_end(self, payload: dict[str, Any]) -> Event | None:
        index = payload['index']
        if self._call_has_args.get(index, True):
            return None
        self._call_has_args[index] = True
        return self._parts_manager.tool_call_delta(('tool', index), None, '{}')

    def _message_start(self, payload: dict[str, Any]) -> Event | None:
        if isinstance(vendor_id := payload.get('id'), str):
            self._vendor_id = vendor_id
        return None

    def _message_end(self, payload: dict[str, Any]) -> Event | None:
        delta = payload.get('delta') or {}
        self._end_seen = True
        finish_reason = delta.get('finish_reason')
        if isinstance(finish_reason, str):
            self._vendor_finish_reason = finish_reason
            self._finish_reason = _FINISH_REASONS.get(finish_reason)
        if usage := delta.get('usage'):
            self._usage = _map_usage(_USAGE.validate_python(usage))
        if finish_reason in _FAILED:
            detail = delta.get('error') or 'no message given'
            raise ModelStreamError(
                self._vendor,
                f'the stream ended with finish reason {finish_reason}: {detail}',
                error_type=finish_reason,
                body=orjson.dumps(payload).decode(),
            )
        return None

    def _event_problem(self, event: EventData, exc: Exception) -> UnexpectedModelBehavior | None:
        """Why an event could not be read, or None if it is one to skip (`[DONE]`)."""
        vendor, data = self._vendor, event_text(event[1])
        if event[0] == 'error':
            return stream_error(vendor, data)
        if data == '[DONE]' or not data:
            # `[DONE]` follows message-end (a stream that ends here without one is caught at EOF);
            # an empty event carries nothing, and Cohere's SDK skips it too.
            return None
        payload = parse_event(data)
        if isinstance(payload, dict) and 'type' not in payload and 'message' in payload:
            return stream_error(vendor, data)  # an error object (`{"id", "message"}`) in the stream
        return event_problem(vendor, 'stream event', data, exc, _EVENT.validate_python, payload=payload)


_Handler = Callable[[CohereStreamedResponse, dict[str, Any]], Event | None]
_HANDLERS: dict[str, _Handler] = {
    'message-start': CohereStreamedResponse._message_start,
    'content-start': CohereStreamedResponse._content,
    'content-delta': CohereStreamedResponse._content,
    'tool-plan-delta': CohereStreamedResponse._tool_plan,
    'tool-call-start': CohereStreamedResponse._tool_call_start,
    'tool-call-delta': CohereStreamedResponse._tool_call_delta,
    'tool-call-end': CohereStreamedResponse._tool_call_end,
    'message-end': CohereStreamedResponse._message_end,
    # content-end and citation-start / citation-end carry nothing we keep (see the module docstring).
}


def _string(value: Any, what: str) -> str:
    if value.__class__ is not str:
        raise TypeError(f'{what} is not a string')
    result: str = value
    return result


# --------------------------------------------------------------------------------------------
# Usage
# --------------------------------------------------------------------------------------------


def _map_usage(usage: wire.Usage | None) -> Usage:
    """Our `Usage` from Cohere's: `tokens` as the counts, `billed_units` and cache hits in `details`."""
    if usage is None:
        return Usage()
    tokens, billed = usage.tokens, usage.billed_units
    request_tokens = _count(tokens.input_tokens if tokens else None)
    response_tokens = _count(tokens.output_tokens if tokens else None)
    if billed is not None:
        # Older answers carry only billed units: better counts than none.
        request_tokens = request_tokens if request_tokens is not None else _count(billed.input_tokens)
        response_tokens = response_tokens if response_tokens is not None else _count(billed.output_tokens)
    total = None if request_tokens is None or response_tokens is None else request_tokens + response_tokens
    return wire_usage(
        request_tokens,
        response_tokens,
        total,
        billed_input_tokens=billed.input_tokens if billed else None,
        billed_output_tokens=billed.output_tokens if billed else None,
        search_units=billed.search_units if billed else None,
        classifications=billed.classifications if billed else None,
        cached_tokens=usage.cached_tokens,
    )


def _count(value: float | None) -> int | None:
    return None if value is None else int(value)


# Set once both classes exist: the kit's `_new_streamed_response` builds this class.
CohereModel.streamed_response_class = CohereStreamedResponse
