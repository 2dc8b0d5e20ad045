"""Pydantic models of Cohere's v2 chat wire format (POST /v2/chat), per its API reference.

- `ChatRequest` and its messages and tools forbid unknown fields (what modelkit builds). The
  `image_url` part and the `text` response format are OpenAI's to the letter: the shared models
  of `modelkit.wire._common`.
- Response models keep unknown fields. Content items and stream events are open unions: a type
  not listed here validates as `OtherContent` / `OtherStreamEvent`.

A streamed body is SSE with `event:` names equal to the payload's `type`, each `data:` one
`StreamedChatEvent` (`.root` is the typed event), then `data: [DONE]`. Unlike Anthropic's, the
tool-call events carry a single `tool_calls` object (not a list), and `message-end` carries the
finish reason and usage.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel

from ._base import WireRequest, WireResponse, open_tag
from ._common import ImageContentPart as ImageContent
from ._common import TextResponseFormat

__all__ = (
    'SCHEMA_MODELS',
    'AssistantMessage',
    'BilledUnits',
    'ChatMessage',
    'ChatRequest',
    'ChatResponse',
    'Citation',
    'CitationEndEvent',
    'CitationStartEvent',
    'ContentDeltaEvent',
    'ContentEndEvent',
    'ContentStartEvent',
    'ErrorResponse',
    'FunctionTool',
    'ImageContent',
    'JSONObjectResponseFormat',
    'MessageEndEvent',
    'MessageStartEvent',
    'OtherContent',
    'OtherStreamEvent',
    'ResponseContent',
    'ResponseMessage',
    'StreamEvent',
    'StreamedChatEvent',
    'SystemMessage',
    'TextContent',
    'ThinkingConfig',
    'ThinkingContent',
    'Tokens',
    'ToolCall',
    'ToolCallDeltaEvent',
    'ToolCallEndEvent',
    'ToolCallStartEvent',
    'ToolMessage',
    'ToolPlanDeltaEvent',
    'Usage',
    'UserMessage',
)


# --------------------------------------------------------------------------------------------
# Content items (requests and responses)
# --------------------------------------------------------------------------------------------


class TextContent(WireResponse):
    """A text item."""

    type: Literal['text']
    text: str


class ThinkingContent(WireResponse):
    """Reasoning text of a reasoning model (command-a-reasoning); sent back in the assistant turn."""

    type: Literal['thinking']
    thinking: str


class DocumentContent(WireRequest):
    """A document in a tool result (`document.data` is a JSON object or string)."""

    type: Literal['document']
    document: dict[str, Any]


class OtherContent(WireResponse):
    """A content item of a type not listed here."""

    type: str


ResponseContent = Annotated[
    TextContent | ThinkingContent | OtherContent,
    open_tag(),
]
"""An item of an assistant message: text, thinking, or a type not listed here."""


# --------------------------------------------------------------------------------------------
# Request
# --------------------------------------------------------------------------------------------


class SystemMessage(WireRequest):
    """Instructions."""

    role: Literal['system']
    content: str | list[TextContent]


class UserMessage(WireRequest):
    """What the user said."""

    role: Literal['user']
    content: str | list[Annotated[TextContent | ImageContent, Field(discriminator='type')]]


class ToolCallFunction(WireResponse):
    """The function a tool call names, with its arguments as a JSON string."""

    name: str | None = None
    arguments: str | None = None


class ToolCall(WireResponse):
    """A tool call (in a response, and sent back in the assistant turn of a history)."""

    id: str | None = None
    type: Literal['function'] = 'function'
    function: ToolCallFunction | None = None


class AssistantMessage(WireRequest):
    """An earlier model turn: `tool_plan` (its reasoning before tool calls), `tool_calls`, content."""

    role: Literal['assistant']
    content: str | list[ResponseContent] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_plan: str | None = None
    citations: list[dict[str, Any]] | None = None


class ToolMessage(WireRequest):
    """The result of the tool call `tool_call_id`."""

    role: Literal['tool']
    tool_call_id: str
    content: str | list[Annotated[TextContent | DocumentContent, Field(discriminator='type')]]


ChatMessage = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator='role')
]


class JSONObjectResponseFormat(WireRequest):
    """JSON output, matching `json_schema` when one is given (native structured output)."""

    type: Literal['json_object']
    json_schema: dict[str, Any] | None = None


class ThinkingConfig(WireRequest):
    """Reasoning on or off for reasoning models, with an optional token budget."""

    type: Literal['enabled', 'disabled']
    token_budget: int | None = None


class FunctionDefinition(WireRequest):
    """A function the model may call, with JSON-schema `parameters`."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class FunctionTool(WireRequest):
    """A tool on offer (v2 chat only has function tools)."""

    type: Literal['function']
    function: FunctionDefinition


class ChatRequest(WireRequest):
    """The body of POST /v2/chat."""

    model: str
    messages: list[ChatMessage]
    stream: bool | None = None
    tools: list[FunctionTool] | None = None
    strict_tools: bool | None = None
    tool_choice: Literal['REQUIRED', 'NONE'] | None = None
    documents: list[str | dict[str, Any]] | None = None
    citation_options: dict[str, Any] | None = None
    response_format: (
        Annotated[TextResponseFormat | JSONObjectResponseFormat, Field(discriminator='type')] | None
    ) = None
    safety_mode: Literal['CONTEXTUAL', 'STRICT', 'OFF'] | None = None
    max_tokens: int | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    k: int | None = None
    """Top-k sampling."""
    p: float | None = None
    """Top-p (nucleus) sampling."""
    logprobs: bool | None = None
    thinking: ThinkingConfig | None = None
    priority: int | None = None


# --------------------------------------------------------------------------------------------
# Response
# --------------------------------------------------------------------------------------------


class Citation(WireResponse):
    """A span of the answer (`start`..`end`, `text`) and the sources (documents, tool results) behind it."""

    start: int | None = None
    end: int | None = None
    text: str | None = None
    sources: list[dict[str, Any]] | None = None
    type: str | None = None
    content_index: int | None = None


class ResponseMessage(WireResponse):
    """The assistant message of a response."""

    role: str | None = 'assistant'
    content: list[ResponseContent] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_plan: str | None = None
    citations: list[Citation] | None = None


class BilledUnits(WireResponse):
    """What was billed (may differ from `tokens`, which include the chat template)."""

    input_tokens: int | float | None = None
    output_tokens: int | float | None = None
    search_units: int | float | None = None
    classifications: int | float | None = None


class Tokens(WireResponse):
    """The tokens the model actually read and wrote."""

    input_tokens: int | float | None = None
    output_tokens: int | float | None = None


class Usage(WireResponse):
    """Usage of a response (and of `message-end`); `cached_tokens` were read from the prompt cache."""

    billed_units: BilledUnits | None = None
    tokens: Tokens | None = None
    cached_tokens: int | float | None = None


class ChatResponse(WireResponse):
    """A whole (non-streamed) response. `finish_reason`: COMPLETE, MAX_TOKENS, STOP_SEQUENCE,
    TOOL_CALL, ERROR, TIMEOUT, or a newer value."""

    id: str | None = None
    finish_reason: str | None = None
    message: ResponseMessage
    usage: Usage | None = None
    logprobs: list[dict[str, Any]] | None = None


class ErrorResponse(WireResponse):
    """The body of a non-2xx answer: `{"id": ..., "message": ...}`."""

    id: str | None = None
    message: str | None = None


# --------------------------------------------------------------------------------------------
# Stream events. Each carries what it adds under `delta.message`.
# --------------------------------------------------------------------------------------------


class StartMessage(WireResponse):
    """The empty assistant message `message-start` announces."""

    role: str | None = None
    content: list[Any] | None = None
    tool_plan: str | None = None
    tool_calls: list[Any] | None = None
    citations: list[Any] | None = None


class StartDelta(WireResponse):
    message: StartMessage | None = None


class MessageStartEvent(WireResponse):
    """The first event: the response id."""

    type: Literal['message-start']
    id: str | None = None
    delta: StartDelta | None = None


class ContentFragment(WireResponse):
    """What a content event adds: the item's `type` on start, then `text` or `thinking` pieces."""

    type: str | None = None
    text: str | None = None
    thinking: str | None = None


class ContentMessage(WireResponse):
    content: ContentFragment | None = None


class ContentDelta(WireResponse):
    message: ContentMessage | None = None


class ContentStartEvent(WireResponse):
    """A new content item at `index` (`delta.message.content.type` is text or thinking)."""

    type: Literal['content-start']
    index: int
    delta: ContentDelta | None = None


class ContentDeltaEvent(WireResponse):
    """More of the content item at `index`."""

    type: Literal['content-delta']
    index: int
    delta: ContentDelta | None = None


class ContentEndEvent(WireResponse):
    """The content item at `index` is complete."""

    type: Literal['content-end']
    index: int


class ToolPlanMessage(WireResponse):
    tool_plan: str | None = None


class ToolPlanDelta(WireResponse):
    message: ToolPlanMessage | None = None


class ToolPlanDeltaEvent(WireResponse):
    """More of the tool plan (the model's reasoning before its tool calls)."""

    type: Literal['tool-plan-delta']
    delta: ToolPlanDelta | None = None


class ToolCallMessage(WireResponse):
    tool_calls: ToolCall | None = None
    """One call: id, name and the first arguments on start; argument fragments on delta."""


class ToolCallDelta(WireResponse):
    message: ToolCallMessage | None = None


class ToolCallStartEvent(WireResponse):
    """A new tool call at `index`: its id and function name."""

    type: Literal['tool-call-start']
    index: int
    delta: ToolCallDelta | None = None


class ToolCallDeltaEvent(WireResponse):
    """A fragment of the arguments of the tool call at `index`."""

    type: Literal['tool-call-delta']
    index: int
    delta: ToolCallDelta | None = None


class ToolCallEndEvent(WireResponse):
    """The tool call at `index` is complete."""

    type: Literal['tool-call-end']
    index: int


class CitationMessage(WireResponse):
    citations: Citation | None = None


class CitationDelta(WireResponse):
    message: CitationMessage | None = None


class CitationStartEvent(WireResponse):
    """A citation of the answer text."""

    type: Literal['citation-start']
    index: int
    delta: CitationDelta | None = None


class CitationEndEvent(WireResponse):
    """The citation at `index` is complete."""

    type: Literal['citation-end']
    index: int


class EndDelta(WireResponse):
    """Why the stream ended, and the usage; `error` is set with finish reason ERROR."""

    finish_reason: str | None = None
    usage: Usage | None = None
    error: str | None = None


class MessageEndEvent(WireResponse):
    """The last event: finish reason and usage."""

    type: Literal['message-end']
    id: str | None = None
    delta: EndDelta | None = None


class OtherStreamEvent(WireResponse):
    """An event of a type not listed here (e.g. `debug`); skipped by the interface."""

    type: str


StreamEvent = Annotated[
    MessageStartEvent
    | ContentStartEvent
    | ContentDeltaEvent
    | ContentEndEvent
    | ToolPlanDeltaEvent
    | ToolCallStartEvent
    | ToolCallDeltaEvent
    | ToolCallEndEvent
    | CitationStartEvent
    | CitationEndEvent
    | MessageEndEvent
    | OtherStreamEvent,
    open_tag(),
]


class StreamedChatEvent(RootModel[StreamEvent]):
    """The `data:` of one streamed SSE event; `.root` is the typed event."""


SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    ChatRequest,
    ChatResponse,
    StreamedChatEvent,
    Usage,
    ErrorResponse,
)
"""The wire models exported to `schemas/cohere/`, one file each (nested models go in `$defs`)."""
