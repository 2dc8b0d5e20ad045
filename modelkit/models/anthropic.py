"""Anthropic's Messages API (`POST /v1/messages`): `AnthropicModel`, over raw HTTP with no SDK.

Sections, in the order every interface module keeps: settings; the model (request,
request_stream); mapping our messages to the wire (`_map_*`); processing a response
(`_process_*`); the streamed-response event loop; usage.

Choices where the API leaves one to the client:

- `max_tokens` is required by Anthropic; without the setting `DEFAULT_MAX_TOKENS` is sent, plus
  the thinking budget when `anthropic_thinking` enables extended thinking (the budget counts
  against `max_tokens`, and a budget at or above it is rejected).
- Structured output goes through the result tool. With text not allowed the request forces a tool
  (`tool_choice` `tool` when exactly one is offered, `any` otherwise), except with extended
  thinking, which Anthropic only allows with `auto`.
- Thinking parts are sent back only with their signature (Anthropic rejects unsigned thinking, so
  reasoning from another vendor's history is dropped); redacted thinking arrives as a
  `ThinkingPart` with `id='redacted_thinking'` and its opaque `data` as the signature, and goes back
  exactly as it came.
- Blocks that are not text, thinking or a function-tool call (`server_tool_use`,
  `web_search_tool_result`, `code_execution_tool_result`, `mcp_tool_use`, any newer type) are
  skipped with a debug log on `modelkit.models.anthropic`, streamed or not: our message history has
  no part for them, and Anthropic runs those tools itself, so nothing is lost for the next turn
  but the server tool's transcript.
- An `overloaded_error` or `api_error` inside a 200 stream before any content event is retried like
  a 529 / 500 (the transport's backoff and `max_retries`); after content it is a `ModelStreamError`
  carrying what arrived.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
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
from .._redact import RedactingFilter
from ..exceptions import UnexpectedModelBehavior
from ..exceptions import UserError
from ..messages import AudioUrl
from ..messages import BinaryContent
from ..messages import DocumentUrl
from ..messages import FinishReason
from ..messages import ImageUrl
from ..messages import ModelMessage
from ..messages import ModelResponse
from ..messages import ModelResponsePart
from ..messages import ModelResponseStreamEvent
from ..messages import RetryPromptPart
from ..messages import TextPart
from ..messages import ThinkingPart
from ..messages import ToolCallPart
from ..messages import ToolReturnPart
from ..messages import UserContent
from ..messages import UserPromptPart
from ..parsers.sse import EventData
from ..parsers.sse import SSEDataDecoder
from ..parsers.sse import event_text
from ..settings import ModelSettings
from ..usage import Usage
from . import ModelRequestParameters
from ._kit import ANTHROPIC_STOP_REASONS
from ._kit import ANTHROPIC_TOOL_CALL_IDS
from ._kit import LazyAdapter
from ._kit import SettingsTable
from ._kit import ToolCallIds
from ._kit import WireModel
from ._kit import WireStreamedResponse
from ._kit import event_problem
from ._kit import json_request
from ._kit import map_settings
from ._kit import map_turns
from ._kit import stream_error
from ._kit import unexpected_body
from ._kit import wire_usage

if TYPE_CHECKING:
    from .._transport import HTTPRequest
    from ..tools import ToolDefinition
    from ..wire import anthropic as wire

__all__ = (
    'DEFAULT_MAX_TOKENS',
    'REDACTED_THINKING_ID',
    'AnthropicCacheTTL',
    'AnthropicMetadata',
    'AnthropicModel',
    'AnthropicModelSettings',
    'AnthropicStreamedResponse',
    'AnthropicThinking',
)

Event: TypeAlias = ModelResponseStreamEvent

DEFAULT_MAX_TOKENS = 4096
"""`max_tokens` when none is set: every Claude model since Claude 3 can write that much."""

REDACTED_THINKING_ID = 'redacted_thinking'
"""The `ThinkingPart.id` of a redacted thinking block (its `signature` holds the opaque `data`)."""

EXTENDED_CACHE_TTL_BETA = 'extended-cache-ttl-2025-04-11'
"""The `anthropic-beta` a one-hour cache breakpoint needs."""

_logger = logging.getLogger(__name__)
_logger.addFilter(RedactingFilter())

# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------

AnthropicCacheTTL: TypeAlias = Literal['5m', '1h']
"""How long a prompt-cache breakpoint lives: Anthropic's default five minutes, or one hour (beta)."""


class AnthropicThinking(TypedDict, total=False):
    """Extended thinking: `{'type': 'enabled', 'budget_tokens': 2048}` or `{'type': 'disabled'}`."""

    type: Literal['enabled', 'disabled']
    budget_tokens: int


class AnthropicMetadata(TypedDict, total=False):
    """Request metadata: `user_id`, an opaque id of your end user that helps Anthropic detect abuse."""

    user_id: str


class AnthropicModelSettings(ModelSettings, total=False):
    """Settings for `AnthropicModel`: the shared ones plus Anthropic's own, prefixed `anthropic_`."""

    anthropic_thinking: AnthropicThinking
    """Extended thinking and its token budget (`thinking`)."""
    anthropic_top_k: int
    """Sample only from the `top_k` most likely tokens (`top_k`)."""
    anthropic_metadata: AnthropicMetadata
    """Request metadata (`metadata`)."""
    anthropic_betas: list[str]
    """More `anthropic-beta` features to opt into, besides those a setting needs by itself."""
    anthropic_cache_system_prompt: bool | AnthropicCacheTTL
    """A prompt-cache breakpoint after the system prompt (`cache_control`; True means '5m')."""
    anthropic_cache_tool_definitions: bool | AnthropicCacheTTL
    """A prompt-cache breakpoint after the last tool definition."""
    anthropic_cache_messages: bool | AnthropicCacheTTL
    """A prompt-cache breakpoint after the last block of the conversation, so the next turn reads it."""


_SETTINGS_TO_WIRE: SettingsTable = (
    ('temperature', 'temperature'),
    ('top_p', 'top_p'),
    ('stop_sequences', 'stop_sequences'),
    ('anthropic_top_k', 'top_k'),
    ('anthropic_metadata', 'metadata'),
    ('anthropic_thinking', 'thinking'),
)

# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class AnthropicModel(WireModel[str]):
    """A Claude model behind Anthropic's Messages API (or a gateway that speaks it), e.g.
    `AnthropicModel('claude-3-5-sonnet-latest', api_key='...')`; `provider` defaults to `'anthropic'`."""

    default_provider: ClassVar[str] = 'anthropic'

    # ----------------------------------------------------------------------------------------
    # Mapping our messages to the wire
    # ----------------------------------------------------------------------------------------

    def _build_request(
        self,
        messages: list[ModelMessage],
        settings: AnthropicModelSettings,
        params: ModelRequestParameters,
        *,
        stream: bool,
    ) -> HTTPRequest:
        betas: list[str] = list(settings.get('anthropic_betas', ()))
        body = self._map_body(messages, settings, params, stream=stream, betas=betas)
        headers: dict[str, str] = {}
        extra_headers = settings.get('extra_headers')
        if extra_headers and (given := _header(extra_headers, 'anthropic-beta')) is not None:
            # A beta passed as a header joins the others instead of replacing them.
            betas.extend(given[1].split(','))
            extra = {name: value for name, value in extra_headers.items() if name != given[0]}
            settings = cast(AnthropicModelSettings, {**settings, 'extra_headers': extra})
        if betas:
            headers['anthropic-beta'] = ','.join(dict.fromkeys(b.strip() for b in betas if b.strip()))
        return json_request(
            self._provider, '/v1/messages', body, settings, model_name=self._model_name, headers=headers
        )

    def _map_body(
        self,
        messages: list[ModelMessage],
        settings: AnthropicModelSettings,
        params: ModelRequestParameters,
        *,
        stream: bool,
        betas: list[str],
    ) -> dict[str, Any]:
        if params.result_json_schema is not None:
            raise UserError(
                "Anthropic's Messages API has no native JSON output: use the result tool (the default)"
            )
        cache = _CacheBreakpoints(betas)
        system, turns = _map_messages(messages)
        body: dict[str, Any] = {'model': self._model_name, 'max_tokens': _max_tokens(settings)}
        if system:
            ttl = settings.get('anthropic_cache_system_prompt')
            body['system'] = [{'type': 'text', 'text': system, **cache(ttl)}] if ttl else system
        if (ttl := settings.get('anthropic_cache_messages')) and turns:
            turns[-1]['content'][-1].update(cache(ttl))
        body['messages'] = turns
        tools = [_map_tool(tool) for tool in (*params.function_tools, *params.result_tools)]
        if tools:
            if ttl := settings.get('anthropic_cache_tool_definitions'):
                tools[-1].update(cache(ttl))
            body['tools'] = tools
            body['tool_choice'] = _map_tool_choice(tools, params, settings)
        map_settings(settings, _SETTINGS_TO_WIRE, body)
        body['stream'] = stream
        return body

    # ----------------------------------------------------------------------------------------
    # Processing a response
    # ----------------------------------------------------------------------------------------

    def _process_response(self, body: bytes) -> tuple[ModelResponse, Usage]:
        return _process_message(self._provider.name, body)


# --------------------------------------------------------------------------------------------
# Mapping our messages to the wire: helpers
# --------------------------------------------------------------------------------------------


def _header(headers: dict[str, str], name: str) -> tuple[str, str] | None:
    return next(((key, value) for key, value in headers.items() if key.lower() == name), None)


def _max_tokens(settings: AnthropicModelSettings) -> int:
    if 'max_tokens' in settings:
        return settings['max_tokens']
    thinking = settings.get('anthropic_thinking') or {}
    if thinking.get('type') == 'enabled':
        return DEFAULT_MAX_TOKENS + thinking.get('budget_tokens', 0)
    return DEFAULT_MAX_TOKENS


class _CacheBreakpoints:
    """The `cache_control` of a breakpoint; a one-hour one also opts into its beta."""

    __slots__ = ('_betas',)

    def __init__(self, betas: list[str]) -> None:
        self._betas = betas

    def __call__(self, ttl: bool | AnthropicCacheTTL | None) -> dict[str, Any]:
        if ttl == '1h':
            self._betas.append(EXTENDED_CACHE_TTL_BETA)
            return {'cache_control': {'type': 'ephemeral', 'ttl': '1h'}}
        return {'cache_control': {'type': 'ephemeral'}}


def _map_tool(tool: ToolDefinition) -> dict[str, Any]:
    wire_tool: dict[str, Any] = {'name': tool.name}
    if tool.description:
        wire_tool['description'] = tool.description
    wire_tool['input_schema'] = tool.parameters_json_schema
    return wire_tool


def _map_tool_choice(
    tools: list[dict[str, Any]], params: ModelRequestParameters, settings: AnthropicModelSettings
) -> dict[str, Any]:
    thinking = (settings.get('anthropic_thinking') or {}).get('type') == 'enabled'
    if params.allow_text_result or thinking:
        choice: dict[str, Any] = {'type': 'auto'}
    elif len(tools) == 1:
        choice = {'type': 'tool', 'name': tools[0]['name']}
    else:
        choice = {'type': 'any'}
    if settings.get('parallel_tool_calls') is False:
        choice['disable_parallel_tool_use'] = True
    return choice


def _map_messages(messages: list[ModelMessage]) -> tuple[str, list[dict[str, Any]]]:
    """The system prompt and the turns, consecutive turns of one role merged (Anthropic alternates)."""
    ids = ToolCallIds(ANTHROPIC_TOOL_CALL_IDS)
    system, turns = map_turns(
        messages,
        lambda part: _map_request_part(part, ids),
        lambda message: [block for part in message.parts if (block := _map_response_part(part, ids))],
    )
    return '\n\n'.join(system), turns


def _map_request_part(
    part: UserPromptPart | ToolReturnPart | RetryPromptPart, ids: ToolCallIds
) -> list[dict[str, Any]]:
    if isinstance(part, UserPromptPart):
        return _map_user_content(part.content)
    if isinstance(part, ToolReturnPart):
        return [_tool_result(ids(part.tool_call_id), part.model_response_str())]
    if part.tool_name is None:
        return [{'type': 'text', 'text': part.model_response()}]
    return [_tool_result(ids(part.tool_call_id), part.model_response(), is_error=True)]


def _tool_result(tool_use_id: str, content: str, *, is_error: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {'type': 'tool_result', 'tool_use_id': tool_use_id, 'content': content}
    if is_error:
        block['is_error'] = True
    return block


def _map_response_part(part: ModelResponsePart, ids: Callable[[str | None], str]) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {'type': 'text', 'text': part.content} if part.content else None
    if isinstance(part, ToolCallPart):
        try:
            arguments = part.args_as_dict()
        except ValueError:
            # The model wrote arguments that are not a JSON object; `input` must be one, and the
            # history must still say what was sent, so the raw text goes under one key.
            arguments = {'_raw_arguments': part.args}
        return {'type': 'tool_use', 'id': ids(part.tool_call_id), 'name': part.tool_name, 'input': arguments}
    if part.id == REDACTED_THINKING_ID and part.signature:
        return {'type': 'redacted_thinking', 'data': part.signature}
    if part.signature:
        return {'type': 'thinking', 'thinking': part.content, 'signature': part.signature}
    return None  # unsigned reasoning (another vendor's): Anthropic would reject it


_IMAGE_TYPES = frozenset({'image/jpeg', 'image/png', 'image/gif', 'image/webp'})


def _map_user_content(content: str | Sequence[UserContent]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{'type': 'text', 'text': content}] if content else []
    blocks: list[dict[str, Any]] = []
    for item in content:
        if isinstance(item, str):
            if item:
                blocks.append({'type': 'text', 'text': item})
        elif isinstance(item, ImageUrl):
            blocks.append({'type': 'image', 'source': {'type': 'url', 'url': item.url}})
        elif isinstance(item, BinaryContent):
            blocks.append(_map_binary(item))
        elif isinstance(item, DocumentUrl) and item.media_type == 'application/pdf':
            blocks.append({'type': 'document', 'source': {'type': 'url', 'url': item.url}})
        else:
            what = 'audio' if isinstance(item, AudioUrl) else f'{item.media_type} documents'
            raise UserError(
                f'Anthropic cannot fetch {what} from a URL ({item.url}): it takes PDFs and images by URL; '
                'pass other documents as BinaryContent(data=..., media_type=...)'
            )
    return blocks


def _map_binary(item: BinaryContent) -> dict[str, Any]:
    if item.media_type in _IMAGE_TYPES:
        data = base64.b64encode(item.data).decode()
        return {'type': 'image', 'source': {'type': 'base64', 'media_type': item.media_type, 'data': data}}
    if item.media_type == 'application/pdf':
        data = base64.b64encode(item.data).decode()
        return {
            'type': 'document',
            'source': {'type': 'base64', 'media_type': 'application/pdf', 'data': data},
        }
    if item.media_type == 'text/plain':
        text = item.data.decode('utf-8', errors='replace')
        return {'type': 'document', 'source': {'type': 'text', 'media_type': 'text/plain', 'data': text}}
    raise UserError(
        f'Anthropic takes JPEG, PNG, GIF and WebP images, PDFs and plain text, not {item.media_type}'
    )


# --------------------------------------------------------------------------------------------
# Processing a response
# --------------------------------------------------------------------------------------------

_FINISH_REASONS: dict[str, FinishReason] = {
    **ANTHROPIC_STOP_REASONS,
    'pause_turn': 'stop',  # a server tool's long turn paused: send the response back to go on
    'refusal': 'content_filter',
}

_MESSAGE: LazyAdapter[wire.Message] = LazyAdapter('modelkit.wire.anthropic', 'Message')
_EVENT: LazyAdapter[wire.MessageStreamEvent] = LazyAdapter('modelkit.wire.anthropic', 'MessageStreamEvent')


def _skipped(block_type: object, index: object = None) -> None:
    if _logger.isEnabledFor(logging.DEBUG):
        _logger.debug(
            'skipping an Anthropic %r content block (index %r): no part holds it', block_type, index
        )


def _process_block(block: wire.ContentBlock) -> ModelResponsePart | None:
    kind = block.type
    if kind == 'text':
        text = cast('wire.TextBlock', block).text
        return TextPart(text) if text else None
    if kind == 'tool_use':
        call = cast('wire.ToolUseBlock', block)
        return ToolCallPart(call.name, call.input if isinstance(call.input, dict) else {}, call.id)
    if kind == 'thinking':
        thinking = cast('wire.ThinkingBlock', block)
        return ThinkingPart(thinking.thinking, signature=thinking.signature)
    if kind == 'redacted_thinking':
        return ThinkingPart(
            '', signature=cast('wire.RedactedThinkingBlock', block).data, id=REDACTED_THINKING_ID
        )
    _skipped(kind)
    return None


def _process_message(vendor: str, body: bytes) -> tuple[ModelResponse, Usage]:
    try:
        message = _MESSAGE.validate_json(body)
    except ValidationError as exc:
        raise unexpected_body(vendor, 'message', exc, body) from exc
    parts = [part for block in message.content if (part := _process_block(block)) is not None]
    stop_reason = message.stop_reason
    response = ModelResponse(
        parts=parts,
        model_name=message.model,
        finish_reason=_FINISH_REASONS.get(stop_reason or ''),
        vendor_finish_reason=stop_reason,
        vendor_id=message.id,
    )
    return response, _map_usage(message.usage.model_dump() if message.usage is not None else {})


# --------------------------------------------------------------------------------------------
# The streamed-response event loop
# --------------------------------------------------------------------------------------------

# What an event of an unexpected shape trips over in the lookups below; `_event_problem` names it.
_READ_ERRORS = (KeyError, TypeError, AttributeError, IndexError, ValueError, OverflowError)
_USAGE_KEYS = ('input_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens', 'output_tokens')


@fieldwise
@dataclass(repr=False, eq=False)
class AnthropicStreamedResponse(WireStreamedResponse[EventData]):
    """A message arriving as Anthropic's named server-sent events, translated into our part events."""

    _wire_usage: dict[str, int] = field(default_factory=dict, init=False)
    """The usage counts so far, by wire name; `message_delta`'s are cumulative and replace these."""
    _tool_blocks: dict[int, bool] = field(default_factory=dict, init=False)
    """Index of each open `tool_use` block -> whether any argument fragment arrived."""
    _skipped_blocks: set[int] = field(default_factory=set, init=False)

    end_expected: ClassVar[str] = 'message_stop'
    retryable_stream_errors: ClassVar[frozenset[str]] = frozenset({'overloaded_error', 'api_error'})

    def _new_parser(self) -> SSEDataDecoder:
        return SSEDataDecoder()

    def _restart(self) -> None:
        super()._restart()
        self._wire_usage = {}
        self._tool_blocks = {}
        self._skipped_blocks = set()

    def _process_event(self, event: EventData) -> Event | Iterator[Event] | None:
        # The hot path: one orjson.loads and a few dict lookups per event, no pydantic; a text delta,
        # nearly every event, returns from the first branch. The payload's `type` decides, not the
        # SSE event name, which some gateways drop. The payload's bytes are parsed where the decoder
        # kept them: the text is then never made, unless a message needs it.
        name, data = event
        try:
            payload = orjson.loads(data)
            kind = payload['type']
            if kind == 'content_block_delta':
                delta = payload['delta']
                if delta['type'] == 'text_delta' and (text := delta['text']).__class__ is str:
                    return self._parts_manager.text_delta(payload['index'], text)
                return self._block_delta(payload['index'], delta)
            handler = _HANDLERS.get(kind)
            if handler is not None:
                return handler(self, payload, event_text(data))
            if kind == 'error' or name == 'error':
                raise stream_error(self._vendor, event_text(data))
            return None  # `ping`, and event types we do not know
        except _READ_ERRORS as exc:
            raise self._event_problem(event_text(data), exc) from exc

    def _block_delta(self, index: int, delta: dict[str, Any]) -> Event | None:
        kind = delta['type']
        parts = self._parts_manager
        if index in self._skipped_blocks:
            return None
        if kind == 'input_json_delta':
            fragment = _text(delta, 'partial_json')
            if not fragment:
                return None
            self._tool_blocks[index] = True
            return parts.tool_call_delta(index, None, fragment)
        if kind == 'thinking_delta':
            return parts.thinking_delta(index, _text(delta, 'thinking'))
        if kind == 'signature_delta':
            return parts.thinking_delta(index, None, signature=_text(delta, 'signature'))
        if kind == 'text_delta':
            raise TypeError('text_delta.text is not a string')
        return None  # citations_delta (the cited text arrives as text) and newer delta types

    def _block_start(self, payload: dict[str, Any], data: str) -> Event | None:
        index, block = payload['index'], payload['content_block']
        kind = block['type']
        parts = self._parts_manager
        if kind == 'text':
            return parts.text_delta(index, _text(block, 'text'))
        if kind == 'tool_use':
            arguments = block.get('input')
            self._tool_blocks[index] = bool(arguments)
            return parts.tool_call_delta(index, _text(block, 'name'), arguments or None, _text(block, 'id'))
        if kind == 'thinking':
            signature = block.get('signature') or None
            return parts.thinking_delta(
                index, _text(block, 'thinking'), signature=signature and _text(block, 'signature')
            )
        if kind == 'redacted_thinking':
            return parts.thinking_delta(index, None, signature=_text(block, 'data'), id=REDACTED_THINKING_ID)
        self._skipped_blocks.add(index)
        _skipped(kind, index)
        return None

    def _block_stop(self, payload: dict[str, Any], data: str) -> Event | None:
        index = payload['index']
        if self._tool_blocks.pop(index, True):
            return None
        # A tool called with no input sends no fragment at all: its arguments are `{}`.
        return self._parts_manager.tool_call_delta(index, None, '{}')

    def _message_start(self, payload: dict[str, Any], data: str) -> None:
        message = payload['message']
        if (vendor_id := message.get('id')).__class__ is str:
            self._vendor_id = vendor_id
        if (model := message.get('model')).__class__ is str and model:
            self._model_name = model
        self._update_usage(message.get('usage'))

    def _message_delta(self, payload: dict[str, Any], data: str) -> None:
        stop_reason = payload['delta'].get('stop_reason')
        if stop_reason is not None:
            if stop_reason.__class__ is not str:
                raise TypeError('message_delta.delta.stop_reason is not a string')
            self._vendor_finish_reason = stop_reason
            self._finish_reason = _FINISH_REASONS.get(stop_reason)
        self._update_usage(payload.get('usage'))

    def _message_stop(self, payload: dict[str, Any], data: str) -> None:
        self._end_seen = True

    def _error(self, payload: dict[str, Any], data: str) -> None:
        raise stream_error(self._vendor, data)

    def _update_usage(self, usage: dict[str, Any] | None) -> None:
        # Every count Anthropic sends is the total so far (message_delta's output_tokens included):
        # a later value replaces the earlier one, never adds to it.
        if not usage:
            return
        counts = self._wire_usage
        for key in _USAGE_KEYS:
            value = usage.get(key)
            if value is not None:
                if value.__class__ is not int:
                    raise TypeError(f'usage.{key} is not an integer')
                counts[key] = value
        self._usage = _map_usage(counts)

    def _event_problem(self, data: str, exc: Exception) -> UnexpectedModelBehavior:
        """Why an event could not be read, named by the wire schema where it says."""
        return event_problem(self._vendor, 'stream event', data, exc, _EVENT.validate_python)


_Handler: TypeAlias = Callable[[AnthropicStreamedResponse, dict[str, Any], str], Event | None]
_HANDLERS: dict[str, _Handler] = {
    'message_start': AnthropicStreamedResponse._message_start,
    'content_block_start': AnthropicStreamedResponse._block_start,
    'content_block_stop': AnthropicStreamedResponse._block_stop,
    'message_delta': AnthropicStreamedResponse._message_delta,
    'message_stop': AnthropicStreamedResponse._message_stop,
    'error': AnthropicStreamedResponse._error,
}


def _text(mapping: dict[str, Any], key: str) -> str:
    value = mapping[key]
    if value.__class__ is not str:
        raise TypeError(f'{key} is not a string')
    return value


# --------------------------------------------------------------------------------------------
# Usage
# --------------------------------------------------------------------------------------------


def _map_usage(usage: dict[str, Any]) -> Usage:
    """Our `Usage` from Anthropic's counts (streamed or not).

    Anthropic's `input_tokens` leaves out the cached prompt: the prompt is input + cache writes +
    cache reads, so `request_tokens` is their sum, and each is also in `details` (`input_tokens`,
    `cache_write_tokens`, `cached_tokens`; only non-zero counts are kept).
    """
    uncached = usage.get('input_tokens') or 0
    cache_write = usage.get('cache_creation_input_tokens') or 0
    cache_read = usage.get('cache_read_input_tokens') or 0
    output = usage.get('output_tokens') or 0
    request_tokens = uncached + cache_write + cache_read
    return wire_usage(
        request_tokens,
        output,
        request_tokens + output,
        input_tokens=uncached,
        cache_write_tokens=cache_write,
        cached_tokens=cache_read,
    )


# Set once both classes exist: the kit's `_new_streamed_response` builds this class.
AnthropicModel.streamed_response_class = AnthropicStreamedResponse
