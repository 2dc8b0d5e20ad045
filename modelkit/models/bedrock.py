"""Amazon Bedrock's Converse API: `BedrockConverseModel`, for every model Bedrock serves.

Requests go to `POST /model/{modelId}/converse` and `/converse-stream`, the model id URL-encoded
(ARNs, inference profiles such as `us.anthropic.claude-3-7-sonnet-20250219-v1:0`); the provider
(`modelkit.providers.bedrock`) finds the credentials and region and signs each attempt with SigV4.
A ConverseStream body is an AWS event stream (`modelkit.parsers.eventstream`): each message's
`:event-type` header names the event, its payload is that event's JSON; `:message-type`
`exception` frames carry an error inside the 200 stream.

Sections, in the order every interface module keeps: settings; the model (request,
request_stream); mapping our messages to the wire (`_map_*`); processing a response
(`_process_*`); the streamed-response event loop; usage.

Reasoning: a `ThinkingPart` with a signature goes back as `reasoningContent.reasoningText` with its
signature; redacted reasoning (`redactedContent`, opaque base64) arrives as a `ThinkingPart` with
`id=REDACTED_THINKING_ID`, empty content and the blob as `signature`, and goes back as it came.
Reasoning without a signature (another vendor's, or a model that signs nothing) is not sent back:
the models that check reasoning reject unsigned blocks.
"""

from __future__ import annotations

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
from urllib.parse import quote

import orjson
from pydantic_core import ValidationError

from .._fieldwise import fieldwise
from ..exceptions import ModelHTTPError
from ..exceptions import UnexpectedModelBehavior
from ..exceptions import UserError
from ..messages import FinishReason
from ..messages import ModelMessage
from ..messages import ModelResponse
from ..messages import ModelResponsePart
from ..messages import ModelResponseStreamEvent
from ..messages import RetryPromptPart
from ..messages import TextPart
from ..messages import ThinkingPart
from ..messages import ToolCallPart
from ..messages import ToolReturnPart
from ..messages import UserPromptPart
from ..parsers.eventstream import EventStreamDecoder
from ..parsers.eventstream import EventStreamMessage
from ..settings import ModelSettings
from ..usage import Usage
from . import ModelRequestParameters
from ._bedrock_media import Documents
from ._bedrock_media import map_user_content
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
    from .._transport import HTTPResponse
    from .._transport import ResponseStream
    from ..exceptions import ModelStreamError
    from ..providers import Provider
    from ..tools import ToolDefinition
    from ..wire import bedrock as wire

__all__ = (
    'REDACTED_THINKING_ID',
    'BedrockConverseModel',
    'BedrockModelName',
    'BedrockModelSettings',
    'BedrockStreamedResponse',
)

Event: TypeAlias = ModelResponseStreamEvent

BedrockModelName: TypeAlias = (
    str
    | Literal[
        'anthropic.claude-3-sonnet-20240229-v1:0',
        'anthropic.claude-3-haiku-20240307-v1:0',
        'anthropic.claude-3-5-sonnet-20240620-v1:0',
        'anthropic.claude-3-5-sonnet-20241022-v2:0',
        'anthropic.claude-3-5-haiku-20241022-v1:0',
        'anthropic.claude-3-7-sonnet-20250219-v1:0',
        'us.anthropic.claude-3-7-sonnet-20250219-v1:0',
        'anthropic.claude-sonnet-4-20250514-v1:0',
        'us.anthropic.claude-sonnet-4-20250514-v1:0',
        'anthropic.claude-opus-4-20250514-v1:0',
        'amazon.nova-micro-v1:0',
        'amazon.nova-lite-v1:0',
        'amazon.nova-pro-v1:0',
        'us.amazon.nova-micro-v1:0',
        'amazon.titan-text-express-v1',
        'cohere.command-r-v1:0',
        'cohere.command-r-plus-v1:0',
        'meta.llama3-8b-instruct-v1:0',
        'meta.llama3-70b-instruct-v1:0',
        'meta.llama3-1-70b-instruct-v1:0',
        'us.meta.llama3-2-11b-instruct-v1:0',
        'mistral.mistral-large-2402-v1:0',
        'mistral.mixtral-8x7b-instruct-v0:1',
        'deepseek.r1-v1:0',
    ]
)
"""Bedrock model ids, inference profiles (`us.`, `eu.`, ...) among them; any other id or ARN works too."""

REDACTED_THINKING_ID = 'redacted_content'
"""The `ThinkingPart.id` of redacted reasoning, whose opaque blob is kept in `signature`."""

_REQUEST_ID = 'x-amzn-requestid'
"""The response header with AWS's id of the call: Converse has none in its body, so it is the
response's `vendor_id`."""

# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


class BedrockModelSettings(ModelSettings, total=False):
    """Settings for `BedrockConverseModel`: the shared ones plus Bedrock's own, prefixed `bedrock_`.

    `max_tokens`, `temperature`, `top_p` and `stop_sequences` go in `inferenceConfig`; settings
    Converse has no field for (`seed`, penalties, ...) are model-specific: pass them in
    `bedrock_additional_model_requests_fields` under the model's own names.
    """

    bedrock_additional_model_requests_fields: dict[str, Any]
    """Model-specific fields (`additionalModelRequestFields`), e.g. Anthropic's
    `{'thinking': {'type': 'enabled', 'budget_tokens': 1024}}` or `{'top_k': 40}`."""
    bedrock_additional_model_response_fields_paths: list[str]
    """JSON pointers of model-specific response fields to return (`additionalModelResponseFieldPaths`)."""
    bedrock_guardrail_config: dict[str, Any]
    """A guardrail to apply (`guardrailConfig`: identifier, version, trace)."""
    bedrock_performance_configuration: dict[str, Any]
    """Latency-optimized inference (`performanceConfig`, e.g. `{'latency': 'optimized'}`)."""
    bedrock_request_metadata: dict[str, str]
    """Key-value pairs logged with the invocation (`requestMetadata`)."""
    bedrock_prompt_variables: dict[str, Any]
    """Values for a prompt-management prompt's variables (`promptVariables`)."""
    bedrock_service_tier: dict[str, Any]
    """The processing tier (`serviceTier`, e.g. `{'type': 'flex'}`)."""
    bedrock_tool_choice: str
    """`'auto'`, `'any'` (must call some tool) or a tool's name (must call that one). Default: not
    sent while a text answer is allowed (some models reject `toolChoice`), `any` otherwise."""
    bedrock_cache_instructions: bool
    """Put a cache point after the system prompt."""
    bedrock_cache_tool_definitions: bool
    """Put a cache point after the tool definitions."""
    bedrock_cache_messages: bool
    """Put a cache point at the end of the last user message."""


_INFERENCE_CONFIG: SettingsTable = (
    ('max_tokens', 'maxTokens'),
    ('temperature', 'temperature'),
    ('top_p', 'topP'),
    ('stop_sequences', 'stopSequences'),
)

_SETTINGS_TO_WIRE: SettingsTable = (
    ('bedrock_additional_model_requests_fields', 'additionalModelRequestFields'),
    ('bedrock_additional_model_response_fields_paths', 'additionalModelResponseFieldPaths'),
    ('bedrock_guardrail_config', 'guardrailConfig'),
    ('bedrock_performance_configuration', 'performanceConfig'),
    ('bedrock_request_metadata', 'requestMetadata'),
    ('bedrock_prompt_variables', 'promptVariables'),
    ('bedrock_service_tier', 'serviceTier'),
)

_CACHE_POINT: dict[str, Any] = {'cachePoint': {'type': 'default'}}

# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class BedrockConverseModel(WireModel[BedrockModelName]):
    """A model on Amazon Bedrock, through the Converse API.

    `provider` is `'bedrock'` (credentials, region and endpoint from the environment and AWS's usual
    chain, found at the first request) or a `BedrockProvider`. `model_name` is a model id, an
    inference profile or an ARN, sent URL-encoded in every request's path.
    """

    default_provider: ClassVar[str] = 'bedrock'

    def __init__(
        self, model_name: BedrockModelName, *, provider: str | Provider = 'bedrock', system: str = 'bedrock'
    ) -> None:
        super().__init__(model_name, provider=provider, system=system)

    def _new_streamed_response(self, stream: ResponseStream) -> BedrockStreamedResponse:
        response = BedrockStreamedResponse(
            _model_name=self._model_name, _stream=stream, _vendor=self._provider.name
        )
        response._vendor_id = stream.headers.get(_REQUEST_ID)
        return response

    def _http_error(self, error: ModelHTTPError) -> ModelHTTPError:
        return _typed(error)

    # ----------------------------------------------------------------------------------------
    # Mapping our messages to the wire
    # ----------------------------------------------------------------------------------------

    def _build_request(
        self,
        messages: list[ModelMessage],
        settings: BedrockModelSettings,
        params: ModelRequestParameters,
        *,
        stream: bool,
    ) -> HTTPRequest:
        body = self._map_body(messages, settings, params)
        # The id is one path segment: `:` and the `/` of an ARN are percent-encoded, as AWS's SDKs do.
        path = f'/model/{quote(self._model_name, safe="")}/{"converse-stream" if stream else "converse"}'
        return json_request(self._provider, path, body, settings, model_name=self._model_name)

    def _map_body(
        self, messages: list[ModelMessage], settings: BedrockModelSettings, params: ModelRequestParameters
    ) -> dict[str, Any]:
        if params.result_json_schema is not None:
            raise UserError(
                'Bedrock Converse has no native JSON-schema output: use a result tool (the default)'
            )
        system, wire_messages = _map_messages(messages)
        if settings.get('bedrock_cache_messages'):
            _cache_last_user_message(wire_messages)
        body: dict[str, Any] = {'messages': wire_messages}
        if system:
            if settings.get('bedrock_cache_instructions'):
                system.append(_CACHE_POINT)
            body['system'] = system
        inference: dict[str, Any] = {}
        map_settings(settings, _INFERENCE_CONFIG, inference)
        if inference:
            body['inferenceConfig'] = inference
        tool_config = _map_tool_config(params, settings)
        if tool_config is not None:
            body['toolConfig'] = tool_config
        map_settings(settings, _SETTINGS_TO_WIRE, body)
        return body

    # ----------------------------------------------------------------------------------------
    # Processing a response
    # ----------------------------------------------------------------------------------------

    def _process_http_response(self, response: HTTPResponse) -> tuple[ModelResponse, Usage]:
        return self._process_response(response.body, response.headers.get(_REQUEST_ID))

    def _process_response(self, body: bytes, request_id: str | None = None) -> tuple[ModelResponse, Usage]:
        vendor = self._provider.name
        try:
            converse = _RESPONSE.validate_json(body)
        except ValidationError as exc:
            raise unexpected_body(vendor, 'Converse response', exc, body) from exc
        message = converse.output.message
        if message is None:
            raise UnexpectedModelBehavior(f'{vendor} returned a Converse response with no message', body)
        parts: list[ModelResponsePart] = []
        for block in message.content:
            if block.text is not None:
                if block.text:
                    parts.append(TextPart(block.text))
            elif (reasoning := block.reasoningContent) is not None:
                if reasoning.redactedContent is not None:
                    parts.append(
                        ThinkingPart('', signature=reasoning.redactedContent, id=REDACTED_THINKING_ID)
                    )
                elif reasoning.reasoningText is not None:
                    text = reasoning.reasoningText
                    parts.append(ThinkingPart(text.text, signature=text.signature))
            elif (tool_use := block.toolUse) is not None:
                args = tool_use.input if isinstance(tool_use.input, dict) else {}
                parts.append(ToolCallPart(tool_use.name, args, tool_use.toolUseId))
        stop = converse.stopReason
        response = ModelResponse(
            parts,
            model_name=self._model_name,
            finish_reason=_FINISH_REASONS.get(stop or ''),
            vendor_finish_reason=stop,
            vendor_id=request_id,
        )
        return response, _map_usage(converse.usage)


# --------------------------------------------------------------------------------------------
# Mapping our messages to the wire: helpers
# --------------------------------------------------------------------------------------------


def _map_messages(messages: Sequence[ModelMessage]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The `system` blocks and the alternating user / assistant `messages` of a conversation."""
    ids = ToolCallIds(ANTHROPIC_TOOL_CALL_IDS)
    documents = Documents()
    # Converse wants roles to alternate: a turn that follows one of the same role joins it.
    system, turns = map_turns(
        messages,
        lambda part: _map_request_part(part, ids, documents),
        lambda message: _map_response(message, ids),
    )
    return [{'text': text} for text in system], turns


def _map_request_part(
    part: UserPromptPart | ToolReturnPart | RetryPromptPart, ids: ToolCallIds, documents: Documents
) -> list[dict[str, Any]]:
    if isinstance(part, UserPromptPart):
        return map_user_content(part.content, documents)
    if isinstance(part, ToolReturnPart):
        if isinstance(part.content, str):
            result: dict[str, Any] = {'text': part.content}
        else:
            result = {'json': part.model_response_object()}
        return [
            {'toolResult': {'toolUseId': ids(part.tool_call_id), 'content': [result], 'status': 'success'}}
        ]
    if part.tool_name is None:
        return [{'text': part.model_response()}]  # a retry about the text answer: no call to attach it to
    error = {
        'toolUseId': ids(part.tool_call_id),
        'content': [{'text': part.model_response()}],
        'status': 'error',
    }
    return [{'toolResult': error}]


def _map_response(message: ModelResponse, ids: ToolCallIds) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            if part.content:  # Converse rejects a blank text block
                content.append({'text': part.content})
        elif isinstance(part, ToolCallPart):
            tool_use = {
                'toolUseId': ids(part.tool_call_id),
                'name': part.tool_name,
                'input': part.args_as_dict(),
            }
            content.append({'toolUse': tool_use})
        elif part.id == REDACTED_THINKING_ID and part.signature:
            content.append({'reasoningContent': {'redactedContent': part.signature}})
        elif part.signature:
            reasoning = {'text': part.content, 'signature': part.signature}
            content.append({'reasoningContent': {'reasoningText': reasoning}})
    return content


def _cache_last_user_message(messages: list[dict[str, Any]]) -> None:
    for message in reversed(messages):
        if message['role'] == 'user':
            message['content'].append(_CACHE_POINT)
            return


def _map_tool(tool: ToolDefinition) -> dict[str, Any]:
    spec: dict[str, Any] = {'name': tool.name, 'inputSchema': {'json': tool.parameters_json_schema}}
    if tool.description:
        spec['description'] = tool.description
    return {'toolSpec': spec}


def _map_tool_config(params: ModelRequestParameters, settings: BedrockModelSettings) -> dict[str, Any] | None:
    tools = [_map_tool(tool) for tool in (*params.function_tools, *params.result_tools)]
    if not tools:
        return None
    names = {tool['toolSpec']['name'] for tool in tools}
    if settings.get('bedrock_cache_tool_definitions'):
        tools.append(_CACHE_POINT)
    config: dict[str, Any] = {'tools': tools}
    choice = settings.get('bedrock_tool_choice', None if params.allow_text_result else 'any')
    if choice in ('auto', 'any'):
        config['toolChoice'] = {choice: {}}
    elif choice is not None:
        if choice not in names:
            raise UserError(
                f'bedrock_tool_choice names {choice!r}, which is not among the tools: {sorted(names)}'
            )
        config['toolChoice'] = {'tool': {'name': choice}}
    return config


# --------------------------------------------------------------------------------------------
# Processing a response: shared helpers
# --------------------------------------------------------------------------------------------


def _typed(exc: ModelHTTPError) -> ModelHTTPError:
    """The error with Bedrock's error type in its body as `__type`, so the message names it.

    AWS puts the type in the `x-amzn-ErrorType` header (`ThrottlingException:http://...`) or the
    body's `__type` (`com.amazon.coral.service#ThrottlingException`), the message under `message`
    or `Message`; the body is kept as it came, with the bare type added when it was only in the header.
    """
    header = exc.headers.get('x-amzn-errortype', '')
    body = exc.body
    error_type = header.split(':', 1)[0].strip()
    if isinstance(body, dict):
        error_type = error_type or str(body.get('__type', '')).rsplit('#', 1)[-1]
        typed: object = {'__type': error_type, **body} if error_type else body
    elif error_type:
        typed = {'__type': error_type, 'message': body or ''}
    else:
        return exc
    return ModelHTTPError(
        exc.status_code,
        exc.model_name,
        typed,
        headers=exc.headers,
        retry_after=exc.retry_after,
        vendor=exc.vendor,
    )


_FINISH_REASONS: dict[str, FinishReason] = {
    **ANTHROPIC_STOP_REASONS,
    'content_filtered': 'content_filter',
    'guardrail_intervened': 'content_filter',
    'malformed_model_output': 'error',
    'malformed_tool_use': 'error',
}

_RESPONSE: LazyAdapter[wire.ConverseResponse] = LazyAdapter('modelkit.wire.bedrock', 'ConverseResponse')
_USAGE: LazyAdapter[wire.TokenUsage] = LazyAdapter('modelkit.wire.bedrock', 'TokenUsage')
_STREAM_EVENT: LazyAdapter[wire.ConverseStreamOutput] = LazyAdapter(
    'modelkit.wire.bedrock', 'ConverseStreamOutput'
)

# --------------------------------------------------------------------------------------------
# The streamed-response event loop
# --------------------------------------------------------------------------------------------

# What an event of an unexpected shape trips over in the lookups below; `_event_problem` names it.
_READ_ERRORS = (KeyError, TypeError, AttributeError, IndexError, ValueError)


@fieldwise
@dataclass(repr=False, eq=False)
class BedrockStreamedResponse(WireStreamedResponse[EventStreamMessage]):
    """A ConverseStream answer: AWS event-stream messages, translated into our part events.

    `messageStop` gives the finish reason; `metadata` (usage, `metrics.latencyMs`) follows it and
    is the last event. `latency_ms` is Bedrock's own measure of the call, once `metadata` arrived.
    """

    latency_ms: int | None = field(default=None, init=False)

    end_expected: ClassVar[str] = 'messageStop'
    retryable_stream_errors: ClassVar[frozenset[str]] = frozenset(
        {'throttlingException', 'serviceUnavailableException'}
    )
    """Load shedding sent as the first frame of a 200 stream: retried like a 429 / 503."""

    def _restart(self) -> None:
        super()._restart()
        self.latency_ms = None
        self._vendor_id = self._stream.headers.get(_REQUEST_ID)  # the reopened call's own id

    def _new_parser(self) -> EventStreamDecoder:
        return EventStreamDecoder()

    def _process_event(self, event: EventStreamMessage) -> Event | Iterator[Event] | None:
        # The hot path: one orjson.loads and a few dict lookups per message, no pydantic. A text
        # delta is handled here; other events go to their handler, exception frames become errors.
        headers = event.headers
        message_type = headers.get(':message-type')
        if message_type != 'event':
            raise self._stream_exception(message_type, headers, event.payload)
        event_type = headers.get(':event-type')
        try:
            payload = orjson.loads(event.payload)
            if event_type == 'contentBlockDelta':
                delta = payload['delta']
                text = delta.get('text')
                if text.__class__ is str:
                    return self._parts_manager.text_delta(payload['contentBlockIndex'], text)
                return self._process_delta(payload['contentBlockIndex'], delta)
            handler = _HANDLERS.get(event_type)
            if handler is None:
                return None  # an event type we do not know: skip it
            return handler(self, payload)
        except _READ_ERRORS as exc:
            raise self._event_problem(event_type, event.payload, exc) from exc

    def _process_delta(self, index: int, delta: dict[str, Any]) -> Event | None:
        parts = self._parts_manager
        if (tool_use := delta.get('toolUse')) is not None:
            fragment = tool_use['input']
            if fragment.__class__ is not str:
                raise TypeError('toolUse.input is not a string')
            return parts.tool_call_delta(index, None, fragment or None)
        if (reasoning := delta.get('reasoningContent')) is not None:
            if (redacted := reasoning.get('redactedContent')) is not None:
                return parts.thinking_delta(index, signature=str(redacted), id=REDACTED_THINKING_ID)
            text, signature = reasoning.get('text'), reasoning.get('signature')
            if (text is not None and text.__class__ is not str) or (
                signature is not None and signature.__class__ is not str
            ):
                raise TypeError('reasoningContent.text or .signature is not a string')
            return parts.thinking_delta(index, text, signature=signature)
        return None  # citations, images, tool results of server tools: not ours to assemble (yet)

    def _block_start(self, payload: dict[str, Any]) -> Event | None:
        tool_use = payload['start'].get('toolUse')
        if tool_use is None:
            return None  # text and reasoning blocks start with their first delta
        name, call_id = tool_use['name'], tool_use['toolUseId']
        if name.__class__ is not str or call_id.__class__ is not str:
            raise TypeError('toolUse.name or .toolUseId is not a string')
        return self._parts_manager.tool_call_delta(payload['contentBlockIndex'], name, None, call_id)

    def _message_stop(self, payload: dict[str, Any]) -> None:
        stop = payload.get('stopReason')
        if stop is not None and stop.__class__ is not str:
            raise TypeError('stopReason is not a string')
        # The stream is complete from here; `metadata` (usage) normally follows, read if it does.
        self._vendor_finish_reason = stop or 'end_turn'
        self._finish_reason = _FINISH_REASONS.get(stop or '')

    def _metadata(self, payload: dict[str, Any]) -> None:
        if usage := payload.get('usage'):
            self._usage = _map_usage(_USAGE.validate_python(usage))
        metrics = payload.get('metrics')
        if isinstance(metrics, dict) and isinstance(latency := metrics.get('latencyMs'), int):
            self.latency_ms = latency
        if self._vendor_finish_reason is not None:
            self._end_seen = True  # metadata is the last event: the rest is read without processing

    def _stream_exception(
        self, message_type: Any, headers: dict[str, Any], payload: bytes
    ) -> ModelStreamError:
        """The typed error for an `exception` (or `error`) frame inside the 200 stream."""
        if message_type == 'exception':
            error = stream_error(self._vendor, payload, error_type=str(headers.get(':exception-type')))
            try:
                status = orjson.loads(payload).get('originalStatusCode')
            except (orjson.JSONDecodeError, AttributeError):
                status = None
            if status is not None:
                error.code = str(status)  # a modelStreamErrorException names the model's own status
            return error
        if message_type == 'error':
            message = {'message': str(headers.get(':error-message') or 'no message given')}
            return stream_error(
                self._vendor, orjson.dumps(message), error_type=str(headers.get(':error-code'))
            )
        kind = f'a message of type {message_type!r}' if message_type is not None else 'a message with no type'
        return stream_error(self._vendor, payload, error_type=f'unexpected frame: {kind}')

    def _event_problem(self, event_type: Any, data: bytes, exc: Exception) -> UnexpectedModelBehavior:
        """Why an event could not be read: not JSON, or not the shape its type promises."""
        return event_problem(
            self._vendor,
            f'{event_type} event',
            data,
            exc,
            lambda payload: _STREAM_EVENT.validate_python({event_type: payload}),
        )


_HANDLERS: dict[object, Callable[[BedrockStreamedResponse, dict[str, Any]], Event | None]] = {
    'contentBlockStart': BedrockStreamedResponse._block_start,
    'messageStop': BedrockStreamedResponse._message_stop,
    'metadata': BedrockStreamedResponse._metadata,
}
"""Event type -> handler for every event but `contentBlockDelta` (the hot path, inline above);
`messageStart` and `contentBlockStop` carry nothing to keep, and are skipped with unknown types."""


# --------------------------------------------------------------------------------------------
# Usage
# --------------------------------------------------------------------------------------------


def _map_usage(usage: wire.TokenUsage | None) -> Usage:
    """Our `Usage` from Bedrock's. `inputTokens` leaves out the prompt tokens read from or written to
    the cache, so `request_tokens` adds them back (as OpenAI's prompt tokens include cached ones);
    `details` has `cached_tokens` and `cache_write_tokens` when non-zero."""
    if usage is None:
        return Usage()
    cache_read = usage.cacheReadInputTokens or 0
    cache_write = usage.cacheWriteInputTokens or 0
    request_tokens = None if usage.inputTokens is None else usage.inputTokens + cache_read + cache_write
    return wire_usage(
        request_tokens,
        usage.outputTokens,
        usage.totalTokens,
        cached_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


# Set once both classes exist: the kit's `_new_streamed_response` builds this class.
BedrockConverseModel.streamed_response_class = BedrockStreamedResponse
