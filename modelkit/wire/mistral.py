"""What Mistral's chat-completions wire adds to OpenAI's (`modelkit.wire.openai`), and nothing else.

Mistral (POST https://api.mistral.ai/v1/chat/completions) speaks a dialect of OpenAI's chat
format; these models subclass the OpenAI ones and state only the differences, per Mistral's API
reference:

- request: `random_seed` instead of `seed`, `tool_choice` also `any` (Mistral's word for
  required), `safe_prompt`, `prompt_mode`, `prediction`; no `stream_options` (Mistral answers 422
  to it, so `MistralChatCompletionRequest` forbids it);
- response: message and delta `content` is a string or a list of chunks: `text` chunks, and
  `thinking` chunks (magistral models) whose `thinking` is itself a list of text chunks; one
  chunk of a stream may carry a list and the next a plain string. Chunks carry a `p` padding
  field (kept as an extra). Usage may carry `prompt_tokens_details.cached_tokens`.
- errors: `{"object": "error", "message", "type", "param", "code"}` at the top level for some
  statuses, OpenAI's `{"error": {...}}` for others (`MistralErrorResponse` takes both).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from ._base import WireResponse, open_tag
from .openai import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChunkChoice,
    ChunkDelta,
    DeveloperMessage,
    ErrorDetail,
    FunctionTool,
    NamedToolChoice,
    ResponseChoice,
    ResponseMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UserMessage,
)

__all__ = (
    'SCHEMA_MODELS',
    'ContentChunk',
    'MistralChatCompletion',
    'MistralChatCompletionChunk',
    'MistralChatCompletionRequest',
    'MistralChunkChoice',
    'MistralChunkDelta',
    'MistralErrorResponse',
    'MistralResponseChoice',
    'MistralResponseMessage',
    'OtherChunk',
    'TextChunk',
    'ThinkChunk',
)


class MistralToolCall(ToolCall):
    """A tool call of an earlier turn; Mistral's SDK also sends the call's stream `index`."""

    index: int | None = None


class MistralAssistantMessage(AssistantMessage):
    """An earlier model turn; `prefix: true` makes the model continue this text (prefill)."""

    content: str | list[dict[str, Any]] | None = None  # type: ignore[assignment]
    tool_calls: list[MistralToolCall] | None = None  # type: ignore[assignment]
    prefix: bool | None = None


MistralMessage = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | MistralAssistantMessage | ToolMessage,
    Field(discriminator='role'),
]


class MistralFunctionTool(FunctionTool):
    """A function tool; Mistral defaults `type` to `function` when it is left out."""

    type: Literal['function'] = 'function'


class MistralChatCompletionRequest(ChatCompletionRequest):
    """OpenAI's request body with Mistral's differences."""

    messages: list[MistralMessage]  # type: ignore[assignment]
    tools: list[MistralFunctionTool] | None = None  # type: ignore[assignment]
    n: int | None = None
    stream_options: None = None  # Mistral rejects the field (422)
    seed: None = None  # Mistral's name for it is `random_seed`
    random_seed: int | None = None
    tool_choice: Literal['none', 'auto', 'any', 'required'] | NamedToolChoice | None = None  # type: ignore[assignment]
    safe_prompt: bool | None = None
    prompt_mode: Literal['reasoning'] | None = None
    prediction: dict[str, Any] | None = None


class TextChunk(WireResponse):
    """Answer text."""

    type: Literal['text']
    text: str


class ThinkChunk(WireResponse):
    """Reasoning of a magistral model: a list of text chunks (`closed` false while it continues)."""

    type: Literal['thinking']
    thinking: list[TextChunk]
    closed: bool | None = None


class OtherChunk(WireResponse):
    """A content chunk of a type not listed here (`reference`, `image_url`, ...)."""

    type: str


ContentChunk = Annotated[
    TextChunk | ThinkChunk | OtherChunk,
    open_tag(),
]
"""One item of list-form content; unknown types fall back to `OtherChunk`."""


class MistralResponseMessage(ResponseMessage):
    """The assistant message, whose `content` may be a list of chunks."""

    content: str | list[ContentChunk] | None = None  # type: ignore[assignment]


class MistralResponseChoice(ResponseChoice):
    message: MistralResponseMessage


class MistralChatCompletion(ChatCompletion):
    """A whole completion."""

    choices: list[MistralResponseChoice]  # type: ignore[assignment]


class MistralChunkDelta(ChunkDelta):
    """What one chunk adds: `content` a string, or a list of chunks (thinking, then text)."""

    content: str | list[ContentChunk] | None = None  # type: ignore[assignment]


class MistralChunkChoice(ChunkChoice):
    delta: MistralChunkDelta | None = None


class MistralChatCompletionChunk(ChatCompletionChunk):
    """One `data:` payload of a stream (the usage rides on the finish chunk; then `[DONE]`)."""

    choices: list[MistralChunkChoice]  # type: ignore[assignment]


class MistralErrorResponse(WireResponse):
    """An error body: Mistral's flat form (`object: error`, `message`, ...) or OpenAI's `error` object."""

    object: str | None = None
    message: Any = None
    """A string, or for 422 validation errors a list of `{loc, msg, type}` details."""
    type: str | None = None
    code: str | int | None = None
    error: ErrorDetail | None = None


SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    MistralChatCompletionRequest,
    MistralChatCompletion,
    MistralChatCompletionChunk,
    MistralErrorResponse,
)
"""The wire models exported to `schemas/mistral/`, one file each (nested models go in `$defs`)."""
