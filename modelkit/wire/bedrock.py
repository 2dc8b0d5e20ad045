"""Pydantic models of Amazon Bedrock's Converse wire format (POST /model/{modelId}/converse and
/converse-stream), following the `bedrock-runtime` service model (botocore's `service-2.json`).

Field names are the wire's camelCase keys, unaliased. AWS unions (a content block, a delta, a
stream event) are objects with exactly one member set, so each is one model with every member
optional rather than a tagged union; a member not listed here is kept as an extra field.

- `ConverseRequest` and its settings (`InferenceConfiguration`, `ToolConfiguration`, `ToolSpecification`,
  `ToolChoice`) forbid unknown fields; `Message` and `ContentBlock` are shared with responses (a
  history sends reasoning back as it came) and keep them. The model id is in the URL, not the body.
- Blobs (`bytes`, `redactedContent`) are base64 strings in JSON.

A ConverseStream body is an AWS event stream: each message's `:event-type` header names the
event and its payload is that event's JSON. `ConverseStreamOutput` is the union keyed by event
type (`{"contentBlockDelta": {...}}`), the form `*.chunks.txt` recordings and botocore use; an
interface validating one frame validates its payload with the event's own model
(`STREAM_EVENT_MODELS[event_type]`). Exception frames (`:message-type` exception) carry the
`*Exception` payloads below, as do HTTP error bodies (`ErrorResponse`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._base import WireRequest, WireResponse

__all__ = (
    'SCHEMA_MODELS',
    'STREAM_EVENT_MODELS',
    'CachePointBlock',
    'ContentBlock',
    'ContentBlockDelta',
    'ContentBlockDeltaEvent',
    'ContentBlockStart',
    'ContentBlockStartEvent',
    'ContentBlockStopEvent',
    'ConverseMetrics',
    'ConverseOutput',
    'ConverseRequest',
    'ConverseResponse',
    'ConverseStreamMetadataEvent',
    'ConverseStreamOutput',
    'DocumentBlock',
    'ErrorResponse',
    'ImageBlock',
    'InferenceConfiguration',
    'Message',
    'MessageStartEvent',
    'MessageStopEvent',
    'ModelStreamErrorException',
    'ReasoningContentBlock',
    'ReasoningContentBlockDelta',
    'ReasoningTextBlock',
    'StreamException',
    'SystemContentBlock',
    'TokenUsage',
    'Tool',
    'ToolChoice',
    'ToolConfiguration',
    'ToolInputSchema',
    'ToolResultBlock',
    'ToolResultContentBlock',
    'ToolSpecification',
    'ToolUseBlock',
    'ToolUseBlockDelta',
    'ToolUseBlockStart',
)


# --------------------------------------------------------------------------------------------
# Content blocks (requests and responses)
# --------------------------------------------------------------------------------------------


class CachePointBlock(WireResponse):
    """A prompt-cache checkpoint after the preceding content (`type` is `default`)."""

    type: str = 'default'
    ttl: str | None = None


class BytesSource(WireResponse):
    """Where media comes from: base64 `bytes` or an `s3Location` (documents may also be `text`)."""

    bytes: str | None = None
    s3Location: dict[str, Any] | None = None
    text: str | None = None
    content: list[dict[str, Any]] | None = None


class ImageBlock(WireResponse):
    """An image: `format` png, jpeg, gif or webp."""

    format: str
    source: BytesSource


class DocumentBlock(WireResponse):
    """A document: `format` pdf, csv, doc, docx, xls, xlsx, html, txt or md, and a `name` the model sees."""

    name: str
    source: BytesSource
    format: str | None = None
    context: str | None = None
    citations: dict[str, Any] | None = None


class ToolUseBlock(WireResponse):
    """A tool call the model made (whole in Converse; in ConverseStream the input arrives as deltas)."""

    toolUseId: str
    name: str
    input: Any = None
    type: str | None = None


class ToolResultContentBlock(WireResponse):
    """One item of a tool result: `json`, `text`, `image`, `document` or `video`."""

    # `json` / `__type` are not usable attribute names; dump under the wire key anyway.
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    json_: Any = Field(default=None, alias='json')
    text: str | None = None
    image: ImageBlock | None = None
    document: DocumentBlock | None = None
    video: dict[str, Any] | None = None


class ToolResultBlock(WireResponse):
    """The result of the tool call `toolUseId`; `status` `error` marks a failure the model should retry."""

    toolUseId: str
    content: list[ToolResultContentBlock]
    status: Literal['success', 'error'] | None = None
    type: str | None = None


class ReasoningTextBlock(WireResponse):
    """Reasoning text and the signature that must be sent back with it."""

    text: str
    signature: str | None = None


class ReasoningContentBlock(WireResponse):
    """The model's reasoning: `reasoningText`, or opaque base64 `redactedContent` (sent back as is)."""

    reasoningText: ReasoningTextBlock | None = None
    redactedContent: str | None = None


class ContentBlock(WireResponse):
    """One block of a message; exactly one member is set."""

    text: str | None = None
    image: ImageBlock | None = None
    document: DocumentBlock | None = None
    video: dict[str, Any] | None = None
    toolUse: ToolUseBlock | None = None
    toolResult: ToolResultBlock | None = None
    guardContent: dict[str, Any] | None = None
    cachePoint: CachePointBlock | None = None
    reasoningContent: ReasoningContentBlock | None = None
    citationsContent: dict[str, Any] | None = None


class Message(WireResponse):
    """A turn: `role` user or assistant."""

    role: str
    content: list[ContentBlock]


class SystemContentBlock(WireResponse):
    """A block of the system prompt: `text`, `guardContent` or `cachePoint`."""

    text: str | None = None
    guardContent: dict[str, Any] | None = None
    cachePoint: CachePointBlock | None = None


# --------------------------------------------------------------------------------------------
# Request
# --------------------------------------------------------------------------------------------


class ToolInputSchema(WireRequest):
    """The tool's input as a JSON Schema, under `json`."""

    # `json` / `__type` are not usable attribute names; dump under the wire key anyway.
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    json_: dict[str, Any] = Field(alias='json')


class ToolSpecification(WireRequest):
    """A function tool."""

    name: str
    description: str | None = None
    inputSchema: ToolInputSchema
    strict: bool | None = None


class Tool(WireRequest):
    """A tool on offer (`toolSpec`), a `systemTool`, or a `cachePoint` after the tools."""

    toolSpec: ToolSpecification | None = None
    systemTool: dict[str, Any] | None = None
    cachePoint: CachePointBlock | None = None


class SpecificToolChoice(WireRequest):
    """The one tool the model must call."""

    name: str


class ToolChoice(WireRequest):
    """One member set: `auto: {}`, `any: {}` (must call a tool) or `tool: {name}`."""

    auto: dict[str, Any] | None = None
    any: dict[str, Any] | None = None
    tool: SpecificToolChoice | None = None


class ToolConfiguration(WireRequest):
    """The tools and how the model may choose among them."""

    tools: list[Tool]
    toolChoice: ToolChoice | None = None


class InferenceConfiguration(WireRequest):
    """The sampling settings every Converse model accepts; others go in `additionalModelRequestFields`."""

    maxTokens: int | None = None
    temperature: float | None = None
    topP: float | None = None
    stopSequences: list[str] | None = None


class ConverseRequest(WireRequest):
    """The body of POST /model/{modelId}/converse and /converse-stream (the same fields)."""

    messages: list[Message]
    system: list[SystemContentBlock] | None = None
    inferenceConfig: InferenceConfiguration | None = None
    toolConfig: ToolConfiguration | None = None
    guardrailConfig: dict[str, Any] | None = None
    additionalModelRequestFields: dict[str, Any] | None = None
    """Model-specific fields passed through (e.g. Anthropic's `thinking`, `top_k`)."""
    additionalModelResponseFieldPaths: list[str] | None = None
    promptVariables: dict[str, Any] | None = None
    requestMetadata: dict[str, str] | None = None
    performanceConfig: dict[str, Any] | None = None
    serviceTier: dict[str, Any] | None = None
    outputConfig: dict[str, Any] | None = None
    projectIdentifier: str | None = None


# --------------------------------------------------------------------------------------------
# Response
# --------------------------------------------------------------------------------------------


class TokenUsage(WireResponse):
    """Token counts. `inputTokens` excludes cache reads and writes, reported separately.

    Some models also send older duplicates (`cacheReadInputTokenCount`, `cacheWriteInputTokenCount`)
    and `serverToolUsage`; they are kept as extras.
    """

    inputTokens: int | None = None
    outputTokens: int | None = None
    totalTokens: int | None = None
    cacheReadInputTokens: int | None = None
    cacheWriteInputTokens: int | None = None
    cacheDetails: list[dict[str, Any]] | None = None


class ConverseMetrics(WireResponse):
    """How long the call took on Bedrock's side."""

    latencyMs: int | None = None


class ConverseOutput(WireResponse):
    """The answer (one member: `message`)."""

    message: Message | None = None


class ConverseResponse(WireResponse):
    """A whole Converse response. `stopReason`: end_turn, tool_use, max_tokens, stop_sequence,
    guardrail_intervened, content_filtered, malformed_model_output, malformed_tool_use,
    model_context_window_exceeded, or a newer value."""

    output: ConverseOutput
    stopReason: str | None = None
    usage: TokenUsage | None = None
    metrics: ConverseMetrics | None = None
    additionalModelResponseFields: Any = None
    trace: dict[str, Any] | None = None
    performanceConfig: dict[str, Any] | None = None
    serviceTier: dict[str, Any] | None = None


class ErrorResponse(WireResponse):
    """The body of a non-2xx answer. The error type is in the `x-amzn-ErrorType` header or `__type`;
    the message key is `message` or `Message` depending on the service front end."""

    # `json` / `__type` are not usable attribute names; dump under the wire key anyway.
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    message: str | None = None
    Message: str | None = None
    type_: str | None = Field(default=None, alias='__type')


# --------------------------------------------------------------------------------------------
# ConverseStream events
# --------------------------------------------------------------------------------------------


class MessageStartEvent(WireResponse):
    """The assistant message begins."""

    role: str | None = None


class ToolUseBlockStart(WireResponse):
    """The id and name of a tool call whose input follows as deltas."""

    toolUseId: str
    name: str
    type: str | None = None


class ContentBlockStart(WireResponse):
    """What kind of block starts (only tool calls, tool results and images announce themselves)."""

    toolUse: ToolUseBlockStart | None = None
    toolResult: dict[str, Any] | None = None
    image: dict[str, Any] | None = None


class ContentBlockStartEvent(WireResponse):
    """A new block at `contentBlockIndex`."""

    contentBlockIndex: int
    start: ContentBlockStart


class ToolUseBlockDelta(WireResponse):
    """A fragment of a tool call's input JSON."""

    input: str


class ReasoningContentBlockDelta(WireResponse):
    """More reasoning: a `text` piece, the `signature`, or base64 `redactedContent`."""

    text: str | None = None
    signature: str | None = None
    redactedContent: str | None = None


class ContentBlockDelta(WireResponse):
    """One member set: `text`, `toolUse`, `reasoningContent`, `citation`, `toolResult` or `image`."""

    text: str | None = None
    toolUse: ToolUseBlockDelta | None = None
    reasoningContent: ReasoningContentBlockDelta | None = None
    citation: dict[str, Any] | None = None
    toolResult: list[dict[str, Any]] | None = None
    image: dict[str, Any] | None = None


class ContentBlockDeltaEvent(WireResponse):
    """More of the block at `contentBlockIndex` (a block without a start event is text or reasoning)."""

    contentBlockIndex: int
    delta: ContentBlockDelta


class ContentBlockStopEvent(WireResponse):
    """The block at `contentBlockIndex` is complete."""

    contentBlockIndex: int


class MessageStopEvent(WireResponse):
    """Why the message stopped (values as `ConverseResponse.stopReason`)."""

    stopReason: str | None = None
    additionalModelResponseFields: Any = None


class ConverseStreamMetadataEvent(WireResponse):
    """The last event: usage and latency."""

    usage: TokenUsage | None = None
    metrics: ConverseMetrics | None = None
    trace: dict[str, Any] | None = None
    performanceConfig: dict[str, Any] | None = None
    serviceTier: dict[str, Any] | None = None


class StreamException(WireResponse):
    """An exception frame's payload (`internalServerException`, `throttlingException`,
    `validationException`, `serviceUnavailableException`)."""

    message: str | None = None


class ModelStreamErrorException(StreamException):
    """The model failed mid-stream; carries the model's own status code and message."""

    originalStatusCode: int | None = None
    originalMessage: str | None = None


class ConverseStreamOutput(WireResponse):
    """One stream event keyed by its event type, e.g. `{"messageStop": {"stopReason": "end_turn"}}`."""

    messageStart: MessageStartEvent | None = None
    contentBlockStart: ContentBlockStartEvent | None = None
    contentBlockDelta: ContentBlockDeltaEvent | None = None
    contentBlockStop: ContentBlockStopEvent | None = None
    messageStop: MessageStopEvent | None = None
    metadata: ConverseStreamMetadataEvent | None = None
    internalServerException: StreamException | None = None
    modelStreamErrorException: ModelStreamErrorException | None = None
    validationException: StreamException | None = None
    throttlingException: StreamException | None = None
    serviceUnavailableException: StreamException | None = None


STREAM_EVENT_MODELS: dict[str, type[WireResponse]] = {
    'messageStart': MessageStartEvent,
    'contentBlockStart': ContentBlockStartEvent,
    'contentBlockDelta': ContentBlockDeltaEvent,
    'contentBlockStop': ContentBlockStopEvent,
    'messageStop': MessageStopEvent,
    'metadata': ConverseStreamMetadataEvent,
    'internalServerException': StreamException,
    'modelStreamErrorException': ModelStreamErrorException,
    'validationException': StreamException,
    'throttlingException': StreamException,
    'serviceUnavailableException': StreamException,
}
"""An event frame's `:event-type` (or exception frame's `:exception-type`) -> its payload's model;
a type not listed is an event to skip."""


SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    ConverseRequest,
    ConverseResponse,
    ConverseStreamOutput,
    TokenUsage,
    ErrorResponse,
)
"""The wire models exported to `schemas/bedrock/`, one file each (nested models go in `$defs`)."""
