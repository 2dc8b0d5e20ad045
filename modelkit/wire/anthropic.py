"""Pydantic models of Anthropic's Messages wire format (POST /v1/messages), per its API reference.

- Request models (`MessagesRequest` and the `*Param` blocks) forbid unknown fields; blocks of a
  type they do not list (server-tool blocks a history sends back as they came) validate as
  `OtherBlockParam`, and server tools (`web_search_20250305`, `code_execution_...`) as `ServerTool`.
- Response models allow unknown fields. Content blocks and stream events are open unions: a block
  or event type not listed here validates as `OtherBlock` / `OtherStreamEvent` / `OtherDelta`
  (ARCHITECTURE.md: unknown types are skipped, not fatal).

A streamed body is named SSE events whose `data:` is one `MessageStreamEvent`
(`MessageStreamEvent.model_validate_json(data).root`); `event: error` inside a 200 stream carries
an `ErrorEvent`, the same shape as the HTTP error body `ErrorResponse`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel

from ._base import WireRequest, WireResponse, open_tag

__all__ = (
    'SCHEMA_MODELS',
    'Base64ImageSource',
    'Base64PDFSource',
    'CacheControl',
    'CitationsDelta',
    'ContentBlock',
    'ContentBlockDeltaEvent',
    'ContentBlockParam',
    'ContentBlockStartEvent',
    'ContentBlockStopEvent',
    'CustomTool',
    'Delta',
    'DocumentBlockParam',
    'ErrorDetail',
    'ErrorEvent',
    'ErrorResponse',
    'ImageBlockParam',
    'InputJSONDelta',
    'Message',
    'MessageDelta',
    'MessageDeltaEvent',
    'MessageDeltaUsage',
    'MessageParam',
    'MessageStartEvent',
    'MessageStopEvent',
    'MessageStreamEvent',
    'MessagesRequest',
    'Metadata',
    'OtherBlock',
    'OtherBlockParam',
    'OtherDelta',
    'OtherStreamEvent',
    'PingEvent',
    'PlainTextSource',
    'RedactedThinkingBlock',
    'RedactedThinkingBlockParam',
    'ServerTool',
    'ServerToolUseBlock',
    'SignatureDelta',
    'StreamEvent',
    'TextBlock',
    'TextBlockParam',
    'TextDelta',
    'ThinkingBlock',
    'ThinkingBlockParam',
    'ThinkingConfig',
    'ThinkingDelta',
    'ToolChoice',
    'ToolResultBlockParam',
    'ToolUseBlock',
    'ToolUseBlockParam',
    'URLImageSource',
    'URLPDFSource',
    'Usage',
)


# --------------------------------------------------------------------------------------------
# Request: content blocks
# --------------------------------------------------------------------------------------------


class CacheControl(WireRequest):
    """A prompt-cache breakpoint: the prefix up to this block is cached (`ttl` '5m' or '1h')."""

    type: Literal['ephemeral'] = 'ephemeral'
    ttl: Literal['5m', '1h'] | None = None


class TextBlockParam(WireRequest):
    """Text in a user or assistant turn, or in `system`."""

    type: Literal['text']
    text: str
    cache_control: CacheControl | None = None
    citations: list[dict[str, Any]] | None = None


class Base64ImageSource(WireRequest):
    """Image bytes inline (`media_type` image/jpeg, image/png, image/gif or image/webp)."""

    type: Literal['base64']
    media_type: str
    data: str


class URLImageSource(WireRequest):
    """An image Anthropic fetches from an https URL."""

    type: Literal['url']
    url: str


class FileSource(WireRequest):
    """A file uploaded through the Files API (beta)."""

    type: Literal['file']
    file_id: str


class ImageBlockParam(WireRequest):
    """An image in a user turn or a tool result."""

    type: Literal['image']
    source: Annotated[Base64ImageSource | URLImageSource | FileSource, Field(discriminator='type')]
    cache_control: CacheControl | None = None


class Base64PDFSource(WireRequest):
    """PDF bytes inline."""

    type: Literal['base64']
    media_type: Literal['application/pdf']
    data: str


class PlainTextSource(WireRequest):
    """A plain-text document."""

    type: Literal['text']
    media_type: Literal['text/plain']
    data: str


class URLPDFSource(WireRequest):
    """A PDF Anthropic fetches from an https URL."""

    type: Literal['url']
    url: str


class ContentDocumentSource(WireRequest):
    """A document made of content blocks (custom chunking for citations)."""

    type: Literal['content']
    content: str | list[dict[str, Any]]


class DocumentBlockParam(WireRequest):
    """A document (PDF or text) in a user turn."""

    type: Literal['document']
    source: Annotated[
        Base64PDFSource | PlainTextSource | URLPDFSource | ContentDocumentSource | FileSource,
        Field(discriminator='type'),
    ]
    title: str | None = None
    context: str | None = None
    citations: dict[str, Any] | None = None
    cache_control: CacheControl | None = None


class ToolUseBlockParam(WireRequest):
    """A tool call of an earlier assistant turn."""

    type: Literal['tool_use']
    id: str
    name: str
    input: dict[str, Any]
    cache_control: CacheControl | None = None


class OtherBlockParam(WireResponse):
    """A block of a type not listed here (server-tool use and results), sent back as it came."""

    type: str


ToolResultContent = Annotated[
    TextBlockParam | ImageBlockParam | DocumentBlockParam | OtherBlockParam,
    open_tag(),
]


class ToolResultBlockParam(WireRequest):
    """The result of the tool call `tool_use_id`; `is_error` marks a failure the model should retry."""

    type: Literal['tool_result']
    tool_use_id: str
    content: str | list[ToolResultContent] | None = None
    is_error: bool | None = None
    cache_control: CacheControl | None = None


class ThinkingBlockParam(WireRequest):
    """An earlier thinking block, sent back with its signature (required for tool use with thinking)."""

    type: Literal['thinking']
    thinking: str
    signature: str


class RedactedThinkingBlockParam(WireRequest):
    """An earlier redacted thinking block, sent back exactly as it came."""

    type: Literal['redacted_thinking']
    data: str


ContentBlockParam = Annotated[
    TextBlockParam
    | ImageBlockParam
    | DocumentBlockParam
    | ToolUseBlockParam
    | ToolResultBlockParam
    | ThinkingBlockParam
    | RedactedThinkingBlockParam
    | OtherBlockParam,
    open_tag(),
]
"""A block of a request message; unknown types fall back to `OtherBlockParam`."""


class MessageParam(WireRequest):
    """One turn; consecutive turns of the same role must be merged by the sender."""

    role: Literal['user', 'assistant']
    content: str | list[ContentBlockParam]


# --------------------------------------------------------------------------------------------
# Request: tools, thinking, the body
# --------------------------------------------------------------------------------------------


class CustomTool(WireRequest):
    """A function tool: name, description and the JSON Schema of its input."""

    type: Literal['custom'] | None = None
    name: str
    description: str | None = None
    input_schema: dict[str, Any]
    cache_control: CacheControl | None = None
    strict: bool | None = None
    """Structured outputs (beta): the model's input is guaranteed to match `input_schema`."""


class ServerTool(WireResponse):
    """A tool Anthropic runs (web search, code execution, ...), named by a versioned `type`."""

    type: str
    name: str


Tool = Annotated[
    CustomTool | ServerTool,
    open_tag(default='custom'),
]


class ToolChoice(WireRequest):
    """How the model picks tools: `auto`, `any`, `tool` (then `name`) or `none`."""

    type: Literal['auto', 'any', 'tool', 'none']
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class ThinkingConfig(WireRequest):
    """Extended thinking: `enabled` with a `budget_tokens` below `max_tokens`, or `disabled`."""

    type: Literal['enabled', 'disabled', 'adaptive']
    budget_tokens: int | None = None


class Metadata(WireRequest):
    """Request metadata; `user_id` is an opaque id of the end user (for abuse detection)."""

    user_id: str | None = None


class MessagesRequest(WireRequest):
    """The body of POST /v1/messages."""

    model: str
    messages: list[MessageParam]
    max_tokens: int
    """Required by Anthropic: the most tokens the answer may have."""
    system: str | list[TextBlockParam] | None = None
    metadata: Metadata | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    service_tier: str | None = None
    container: str | None = None
    mcp_servers: list[dict[str, Any]] | None = None
    context_management: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None
    """Beta output settings (`effort`, structured output format)."""
    output_format: dict[str, Any] | None = None


# --------------------------------------------------------------------------------------------
# Response: content blocks, usage, the message
# --------------------------------------------------------------------------------------------


class TextBlock(WireResponse):
    """Text the model wrote; `citations` point into the documents or search results it used."""

    type: Literal['text']
    text: str
    citations: list[dict[str, Any]] | None = None


class ThinkingBlock(WireResponse):
    """Extended-thinking text and the signature that must be sent back with it."""

    type: Literal['thinking']
    thinking: str
    signature: str | None = None


class RedactedThinkingBlock(WireResponse):
    """Thinking the safety system encrypted; `data` is opaque and must be sent back unchanged."""

    type: Literal['redacted_thinking']
    data: str


class ToolUseBlock(WireResponse):
    """A call of one of the request's tools (in a stream `input` is `{}` and arrives as deltas).

    Recent responses add `caller` (`{"type": "direct"}`, or the server tool that made the call).
    """

    type: Literal['tool_use']
    id: str
    name: str
    input: Any = None


class ServerToolUseBlock(WireResponse):
    """A call of a server tool Anthropic runs itself (its result follows as another block)."""

    type: Literal['server_tool_use']
    id: str
    name: str
    input: Any = None


class OtherBlock(WireResponse):
    """A block of a type not listed here (`web_search_tool_result`, `mcp_tool_use`, ...), kept whole."""

    type: str


ContentBlock = Annotated[
    TextBlock | ThinkingBlock | RedactedThinkingBlock | ToolUseBlock | ServerToolUseBlock | OtherBlock,
    open_tag(),
]
"""A block of a response; unknown types fall back to `OtherBlock`."""


class CacheCreation(WireResponse):
    """Cache-write tokens split by time to live."""

    ephemeral_5m_input_tokens: int | None = None
    ephemeral_1h_input_tokens: int | None = None


class Usage(WireResponse):
    """Token counts. `input_tokens` excludes cached tokens: the prompt is the sum of the three inputs."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation: CacheCreation | None = None
    server_tool_use: dict[str, Any] | None = None
    service_tier: str | None = None


class Message(WireResponse):
    """A whole (non-streamed) response, and the skeleton `message_start` carries."""

    id: str
    type: Literal['message'] = 'message'
    role: Literal['assistant'] = 'assistant'
    model: str | None = None
    content: list[ContentBlock] = Field(default_factory=list)
    stop_reason: str | None = None
    """end_turn, max_tokens, stop_sequence, tool_use, pause_turn, refusal, or a newer value."""
    stop_sequence: str | None = None
    stop_details: dict[str, Any] | None = None
    """Newer API versions: more about why the turn stopped (null on a normal stop)."""
    usage: Usage | None = None


# --------------------------------------------------------------------------------------------
# Stream: deltas and events
# --------------------------------------------------------------------------------------------


class TextDelta(WireResponse):
    """More text for a `text` block."""

    type: Literal['text_delta']
    text: str


class InputJSONDelta(WireResponse):
    """A fragment of a tool call's JSON input; the fragments joined are the input ('' for `{}`)."""

    type: Literal['input_json_delta']
    partial_json: str


class ThinkingDelta(WireResponse):
    """More text for a `thinking` block."""

    type: Literal['thinking_delta']
    thinking: str


class SignatureDelta(WireResponse):
    """The signature of a `thinking` block, sent just before the block stops."""

    type: Literal['signature_delta']
    signature: str


class CitationsDelta(WireResponse):
    """One citation added to a `text` block."""

    type: Literal['citations_delta']
    citation: dict[str, Any]


class OtherDelta(WireResponse):
    """A delta of a type not listed here."""

    type: str


Delta = Annotated[
    TextDelta | InputJSONDelta | ThinkingDelta | SignatureDelta | CitationsDelta | OtherDelta,
    open_tag(),
]


class MessageStartEvent(WireResponse):
    """The first event: the message id, model and input usage (content is empty)."""

    type: Literal['message_start']
    message: Message


class ContentBlockStartEvent(WireResponse):
    """A new content block at `index`."""

    type: Literal['content_block_start']
    index: int
    content_block: ContentBlock


class ContentBlockDeltaEvent(WireResponse):
    """More of the content block at `index`."""

    type: Literal['content_block_delta']
    index: int
    delta: Delta


class ContentBlockStopEvent(WireResponse):
    """The content block at `index` is complete."""

    type: Literal['content_block_stop']
    index: int


class MessageDelta(WireResponse):
    """Top-level changes to the message: why it stopped."""

    stop_reason: str | None = None
    stop_sequence: str | None = None
    stop_details: dict[str, Any] | None = None


class MessageDeltaUsage(WireResponse):
    """Usage so far; `output_tokens` is cumulative (never add it to `message_start`'s)."""

    output_tokens: int | None = None
    input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    server_tool_use: dict[str, Any] | None = None


class MessageDeltaEvent(WireResponse):
    """The stop reason and the final cumulative usage, just before `message_stop`."""

    type: Literal['message_delta']
    delta: MessageDelta
    usage: MessageDeltaUsage | None = None


class MessageStopEvent(WireResponse):
    """The last event of a complete stream."""

    type: Literal['message_stop']


class PingEvent(WireResponse):
    """A keep-alive; carries nothing."""

    type: Literal['ping']


class ErrorDetail(WireResponse):
    """The error's type (`overloaded_error`, `invalid_request_error`, ...) and message."""

    type: str | None = None
    message: str | None = None


class ErrorEvent(WireResponse):
    """An error inside a 200 stream (e.g. `overloaded_error`): the stream ends after it."""

    type: Literal['error']
    error: ErrorDetail


class OtherStreamEvent(WireResponse):
    """An event of a type not listed here; skipped by the interface."""

    type: str


StreamEvent = Annotated[
    MessageStartEvent
    | ContentBlockStartEvent
    | ContentBlockDeltaEvent
    | ContentBlockStopEvent
    | MessageDeltaEvent
    | MessageStopEvent
    | PingEvent
    | ErrorEvent
    | OtherStreamEvent,
    open_tag(),
]


class MessageStreamEvent(RootModel[StreamEvent]):
    """The `data:` of one streamed SSE event; `.root` is the typed event."""


class ErrorResponse(WireResponse):
    """The body of a non-2xx answer: `{"type": "error", "error": {"type", "message"}, "request_id"}`."""

    type: Literal['error'] = 'error'
    error: ErrorDetail
    request_id: str | None = None


SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    MessagesRequest,
    Message,
    MessageStreamEvent,
    Usage,
    ErrorResponse,
)
"""The wire models exported to `schemas/anthropic/`, one file each (nested models go in `$defs`)."""
