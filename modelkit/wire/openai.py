"""Pydantic models of OpenAI's chat-completions wire format (POST /v1/chat/completions).

Two sides, two policies (the kit's `WireRequest` and `WireResponse`, as every vendor's):

- Request models describe exactly what modelkit sends, so they forbid unknown fields: a test
  validates every body the interface builds against `ChatCompletionRequest`, which catches a
  misspelt key. (`extra_body` can still add fields the model does not list.)
- Response models (`ChatCompletion`, `ChatCompletionChunk`, `CompletionUsage`, `ErrorResponse`)
  allow unknown fields: vendors add their own (`obfuscation`, `x_groq`, `moderation`, ...) and
  OpenAI adds new ones without notice. Only what the interface reads is declared.

Field meanings follow OpenAI's API reference for the Chat Completions endpoint. The interface
reads streamed chunks as plain dicts for speed; `ChatCompletionChunk` is what a chunk is checked
against when the fast path meets a shape it does not expect, to name the problem.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from ._base import WireRequest, WireResponse
from ._common import ImageContentPart, TextResponseFormat

__all__ = (
    'SCHEMA_MODELS',
    'AssistantMessage',
    'AudioContentPart',
    'ChatCompletion',
    'ChatCompletionChunk',
    'ChatCompletionRequest',
    'ChunkChoice',
    'ChunkDelta',
    'ChunkToolCall',
    'CompletionUsage',
    'DeveloperMessage',
    'ErrorDetail',
    'ErrorResponse',
    'FileContentPart',
    'FunctionTool',
    'ImageContentPart',
    'JSONSchemaResponseFormat',
    'Message',
    'ResponseChoice',
    'ResponseMessage',
    'StreamOptions',
    'SystemMessage',
    'TextContentPart',
    'ToolMessage',
    'UserContentPart',
    'UserMessage',
)


# --------------------------------------------------------------------------------------------
# Request: messages and their content parts
# --------------------------------------------------------------------------------------------


class TextContentPart(WireRequest):
    """A piece of text in a user message."""

    type: Literal['text']
    text: str


class InputAudio(WireRequest):
    """Base64 audio bytes; OpenAI accepts wav and mp3 only."""

    data: str
    format: Literal['wav', 'mp3']


class AudioContentPart(WireRequest):
    """An audio clip in a user message."""

    type: Literal['input_audio']
    input_audio: InputAudio


class FileData(WireRequest):
    """A document sent inline (`file_data`, a base64 `data:` URL) or by id of an uploaded file."""

    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FileContentPart(WireRequest):
    """A document (PDF) in a user message."""

    type: Literal['file']
    file: FileData


UserContentPart = Annotated[
    TextContentPart | ImageContentPart | AudioContentPart | FileContentPart, Field(discriminator='type')
]


class SystemMessage(WireRequest):
    """Instructions, with the classic `system` role."""

    role: Literal['system']
    content: str


class DeveloperMessage(WireRequest):
    """Instructions, with the `developer` role reasoning models expect."""

    role: Literal['developer']
    content: str


class UserMessage(WireRequest):
    """What the user said: a string, or a list of content parts."""

    role: Literal['user']
    content: str | list[UserContentPart]


class FunctionCall(WireRequest):
    """The function an assistant tool call names, with its arguments as a JSON string."""

    name: str
    arguments: str


class ToolCall(WireRequest):
    """A tool call the assistant made earlier in the conversation."""

    id: str
    type: Literal['function']
    function: FunctionCall


class AssistantMessage(WireRequest):
    """An earlier model turn: text, tool calls, or both."""

    role: Literal['assistant']
    content: str | None = None
    tool_calls: list[ToolCall] | None = None


class ToolMessage(WireRequest):
    """The result of the tool call `tool_call_id`."""

    role: Literal['tool']
    tool_call_id: str
    content: str


Message = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage,
    Field(discriminator='role'),
]


# --------------------------------------------------------------------------------------------
# Request: tools, output format, the body
# --------------------------------------------------------------------------------------------


class FunctionDefinition(WireRequest):
    """A function the model may call: its name, description and JSON-schema parameters."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(WireRequest):
    """A tool on offer (chat completions only has function tools)."""

    type: Literal['function']
    function: FunctionDefinition


class NamedFunction(WireRequest):
    """The one function a named tool choice forces."""

    name: str


class NamedToolChoice(WireRequest):
    """Force a call of one particular function."""

    type: Literal['function']
    function: NamedFunction


class JSONSchemaFormat(WireRequest):
    """The schema native structured output must match."""

    name: str
    description: str | None = None
    json_schema: dict[str, Any] = Field(alias='schema')
    strict: bool | None = None


class JSONSchemaResponseFormat(WireRequest):
    """Ask for JSON matching a schema (structured outputs)."""

    type: Literal['json_schema']
    json_schema: JSONSchemaFormat


class JSONObjectResponseFormat(WireRequest):
    """Ask for any JSON object (the older JSON mode)."""

    type: Literal['json_object']


ResponseFormat = Annotated[
    JSONSchemaResponseFormat | JSONObjectResponseFormat | TextResponseFormat, Field(discriminator='type')
]


class StreamOptions(WireRequest):
    """Stream options; `include_usage` adds a final usage-only chunk (`choices: []`)."""

    include_usage: bool | None = None


class ChatCompletionRequest(WireRequest):
    """The body of POST /chat/completions, as modelkit builds it."""

    model: str
    messages: list[Message]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    """The older token limit; many OpenAI-compatible services only know this one."""
    max_completion_tokens: int | None = None
    """OpenAI's current token limit (visible plus reasoning tokens); reasoning models require it."""
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, int] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    user: str | None = None
    reasoning_effort: str | None = None
    service_tier: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal['none', 'auto', 'required'] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None


# --------------------------------------------------------------------------------------------
# Response: usage, the completion, the streamed chunk, the error body
# --------------------------------------------------------------------------------------------


class PromptTokensDetails(WireResponse):
    """Breakdown of the prompt tokens."""

    cached_tokens: int | None = None
    audio_tokens: int | None = None


class CompletionTokensDetails(WireResponse):
    """Breakdown of the completion tokens."""

    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None


class CompletionUsage(WireResponse):
    """Token counts of one completion (Groq adds timing fields, kept as extras)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


class ResponseFunctionCall(WireResponse):
    """The function a tool call names; `arguments` is a JSON string the model wrote."""

    name: str
    arguments: str = ''


class ResponseToolCall(WireResponse):
    """A tool call in a completion."""

    id: str
    type: str = 'function'
    function: ResponseFunctionCall


class ResponseMessage(WireResponse):
    """The assistant message of a completion.

    `reasoning_content` (DeepSeek) and `reasoning` (Groq, OpenRouter) are vendor extensions that
    carry the model's reasoning text.
    """

    role: str | None = 'assistant'
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ResponseToolCall] | None = None


class ResponseChoice(WireResponse):
    """One choice of a completion (modelkit asks for one)."""

    index: int = 0
    message: ResponseMessage
    finish_reason: str | None = None


class ChatCompletion(WireResponse):
    """A whole (non-streamed) chat completion."""

    id: str | None = None
    object: str | None = None
    created: int | None = None
    model: str | None = None
    choices: list[ResponseChoice]
    usage: CompletionUsage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None


class ChunkFunction(WireResponse):
    """A fragment of a streamed function call: the name arrives once, arguments in pieces."""

    name: str | None = None
    arguments: str | None = None


class ChunkToolCall(WireResponse):
    """A fragment of a streamed tool call, keyed by `index` (a new `id` at a used index is a new call)."""

    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: ChunkFunction | None = None


class ChunkDelta(WireResponse):
    """What one chunk adds to the message."""

    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ChunkToolCall] | None = None


class ChunkChoice(WireResponse):
    """One choice of a streamed chunk."""

    index: int = 0
    delta: ChunkDelta | None = None
    finish_reason: str | None = None


class ChatCompletionChunk(WireResponse):
    """One `data:` payload of a streamed chat completion.

    With `stream_options.include_usage` the last chunk before `[DONE]` has `choices: []` and the
    usage; vendors put usage on the finish chunk instead (Groq also under `x_groq.usage`).
    """

    id: str | None = None
    object: str | None = None
    created: int | None = None
    model: str | None = None
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None


class ErrorDetail(WireResponse):
    """What went wrong: a message, its type and code, and the parameter at fault."""

    message: str | None = None
    type: str | None = None
    param: str | None = None
    code: str | int | None = None


class ErrorResponse(WireResponse):
    """The body of a non-2xx answer, and of an `event: error` inside a stream."""

    error: ErrorDetail


SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    ChatCompletionRequest,
    ChatCompletion,
    ChatCompletionChunk,
    CompletionUsage,
    ErrorResponse,
)
"""The wire models exported to `schemas/openai/`, one file each (nested models go in `$defs`)."""
