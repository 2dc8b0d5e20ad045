"""Pydantic models of Gemini's generateContent wire format, the same on the Generative Language API
(`/v1beta/models/{m}:generateContent`) and on Vertex AI (`.../publishers/google/models/{m}:generateContent`).

Field names are the wire's camelCase keys, unaliased, so a model dumps to exactly what goes on
the wire and no caller can forget `by_alias`. (Google's JSON mapping of protobuf also accepts a
field's proto name, `include_thoughts` for `includeThoughts`, and google-genai sends some that
way, as the recordings show; modelkit sends and these models declare the camelCase names.)

- `GenerateContentRequest` and its settings (`GenerationConfig`, `ThinkingConfig`, `ToolConfig`,
  `FunctionDeclaration`, `SafetySetting`) forbid unknown fields: they are what modelkit builds.
- `Content` and `Part` are shared by requests and responses (a history sends parts back as they
  came, `thoughtSignature` included), so they keep unknown fields, as do `Tool` (Google adds
  built-in tools often) and every response model. A part is one object with one data field set
  (`text`, `inlineData`, `functionCall`, ...), not a tagged union: a part with a field not listed
  here still validates.

A streamed body (`:streamGenerateContent?alt=sse`) is SSE whose every `data:` is one
`GenerateContentResponse`; without `alt=sse` it is a JSON array of them. There is no `[DONE]`.
Errors are `ErrorResponse` (`{"error": {"code", "message", "status", "details"}}`), in an HTTP
error body or as a stream payload; `GenerateContentResponse` has no required field, so check for
the `error` key before validating a stream payload as a response.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from ._base import WireRequest, WireResponse

__all__ = (
    'SCHEMA_MODELS',
    'Blob',
    'Candidate',
    'CodeExecutionResult',
    'Content',
    'ErrorDetail',
    'ErrorResponse',
    'ExecutableCode',
    'FileData',
    'FunctionCall',
    'FunctionCallingConfig',
    'FunctionDeclaration',
    'FunctionResponse',
    'GenerateContentRequest',
    'GenerateContentResponse',
    'GenerationConfig',
    'ModalityTokenCount',
    'Part',
    'PromptFeedback',
    'SafetyRating',
    'SafetySetting',
    'ThinkingConfig',
    'Tool',
    'ToolConfig',
    'UsageMetadata',
)


# --------------------------------------------------------------------------------------------
# Contents and parts (requests and responses)
# --------------------------------------------------------------------------------------------


class Blob(WireResponse):
    """Inline bytes, base64 in JSON."""

    mimeType: str
    data: str


class FileData(WireResponse):
    """A file by URI (an uploaded file, a `gs://` object on Vertex, or a public URL where supported)."""

    fileUri: str
    mimeType: str | None = None


class FunctionCall(WireResponse):
    """A call the model made; it arrives whole (no argument fragments). `args` may be absent for `{}`."""

    name: str
    args: dict[str, Any] | None = None
    id: str | None = None


class FunctionResponse(WireResponse):
    """The result of a function call, sent back as a JSON object under `response`."""

    name: str
    response: dict[str, Any]
    id: str | None = None
    parts: list[dict[str, Any]] | None = None
    """Multimodal results (inline data or files) on models that accept them."""
    willContinue: bool | None = None
    scheduling: str | None = None


class ExecutableCode(WireResponse):
    """Code the model wrote for the code-execution tool."""

    language: str | None = None
    code: str


class CodeExecutionResult(WireResponse):
    """What running `ExecutableCode` gave: `outcome` (OUTCOME_OK, ...) and its output."""

    outcome: str | None = None
    output: str | None = None


class Part(WireResponse):
    """One part of a content; exactly one of the data fields is normally set.

    `thought: true` marks a thought summary (its text is reasoning, not answer). `thoughtSignature`
    is opaque and must be sent back on the same part in the next turn; Gemini 3 rejects function
    call history without it.
    """

    text: str | None = None
    inlineData: Blob | None = None
    fileData: FileData | None = None
    functionCall: FunctionCall | None = None
    functionResponse: FunctionResponse | None = None
    executableCode: ExecutableCode | None = None
    codeExecutionResult: CodeExecutionResult | None = None
    thought: bool | None = None
    thoughtSignature: str | None = None
    videoMetadata: dict[str, Any] | None = None
    mediaResolution: dict[str, Any] | None = None


class Content(WireResponse):
    """A turn: `role` is `user` or `model` (absent on `systemInstruction`)."""

    role: str | None = None
    parts: list[Part] | None = None


# --------------------------------------------------------------------------------------------
# Request: tools and settings
# --------------------------------------------------------------------------------------------


class FunctionDeclaration(WireRequest):
    """A function the model may call. `parameters` is Google's OpenAPI-subset schema;
    `parametersJsonSchema` takes plain JSON Schema instead (one or the other)."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    parametersJsonSchema: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    responseJsonSchema: dict[str, Any] | None = None
    behavior: str | None = None


class Tool(WireResponse):
    """Function declarations, or one built-in tool (`googleSearch`, `codeExecution`, `urlContext`, ...)."""

    functionDeclarations: list[FunctionDeclaration] | None = None
    googleSearch: dict[str, Any] | None = None
    googleSearchRetrieval: dict[str, Any] | None = None
    codeExecution: dict[str, Any] | None = None
    urlContext: dict[str, Any] | None = None


class FunctionCallingConfig(WireRequest):
    """`mode` AUTO, ANY (must call; optionally one of `allowedFunctionNames`), NONE or VALIDATED."""

    mode: Literal['MODE_UNSPECIFIED', 'AUTO', 'ANY', 'NONE', 'VALIDATED'] | None = None
    allowedFunctionNames: list[str] | None = None


class ToolConfig(WireRequest):
    """How the model may use the tools."""

    functionCallingConfig: FunctionCallingConfig | None = None
    retrievalConfig: dict[str, Any] | None = None


class ThinkingConfig(WireRequest):
    """Thinking: `thinkingBudget` tokens (0 off, -1 dynamic) or `thinkingLevel`; `includeThoughts`
    returns thought summaries as `thought: true` parts."""

    includeThoughts: bool | None = None
    thinkingBudget: int | None = None
    thinkingLevel: str | None = None


class GenerationConfig(WireRequest):
    """Sampling, length and output-format settings."""

    stopSequences: list[str] | None = None
    responseMimeType: str | None = None
    responseSchema: dict[str, Any] | None = None
    """Native structured output in Google's OpenAPI-subset schema (with `responseMimeType` JSON)."""
    responseJsonSchema: dict[str, Any] | None = None
    """Native structured output in plain JSON Schema (instead of `responseSchema`)."""
    responseModalities: list[str] | None = None
    candidateCount: int | None = None
    maxOutputTokens: int | None = None
    temperature: float | None = None
    topP: float | None = None
    topK: int | None = None
    seed: int | None = None
    presencePenalty: float | None = None
    frequencyPenalty: float | None = None
    responseLogprobs: bool | None = None
    logprobs: int | None = None
    enableEnhancedCivicAnswers: bool | None = None
    speechConfig: dict[str, Any] | None = None
    thinkingConfig: ThinkingConfig | None = None
    mediaResolution: str | None = None
    imageConfig: dict[str, Any] | None = None
    audioTimestamp: bool | None = None
    enableAffectiveDialog: bool | None = None
    routingConfig: dict[str, Any] | None = None
    """Vertex AI only: model routing preferences."""
    modelSelectionConfig: dict[str, Any] | None = None


class SafetySetting(WireRequest):
    """A blocking threshold for one harm category (e.g. HARM_CATEGORY_HARASSMENT, BLOCK_ONLY_HIGH)."""

    category: str
    threshold: str
    method: str | None = None


class GenerateContentRequest(WireRequest):
    """The body of POST `...:generateContent` and `...:streamGenerateContent` (the model is in the URL)."""

    contents: list[Content]
    systemInstruction: Content | None = None
    tools: list[Tool] | None = None
    toolConfig: ToolConfig | None = None
    generationConfig: GenerationConfig | None = None
    safetySettings: list[SafetySetting] | None = None
    cachedContent: str | None = None
    labels: dict[str, str] | None = None
    """Vertex AI only: billing labels."""


# --------------------------------------------------------------------------------------------
# Response
# --------------------------------------------------------------------------------------------


class SafetyRating(WireResponse):
    """How likely a candidate or the prompt is to be harmful in one category."""

    category: str | None = None
    probability: str | None = None
    blocked: bool | None = None


class Candidate(WireResponse):
    """One answer. `finishReason` (STOP, MAX_TOKENS, SAFETY, RECITATION, MALFORMED_FUNCTION_CALL,
    UNEXPECTED_TOOL_CALL, ...) is set on the last chunk only; unknown values are kept as strings."""

    content: Content | None = None
    finishReason: str | None = None
    finishMessage: str | None = None
    index: int | None = None
    safetyRatings: list[SafetyRating] | None = None
    citationMetadata: dict[str, Any] | None = None
    groundingMetadata: dict[str, Any] | None = None
    """Search grounding: queries, chunks and supports; kept whole, not interpreted."""
    urlContextMetadata: dict[str, Any] | None = None
    tokenCount: int | None = None
    avgLogprobs: float | None = None
    logprobsResult: dict[str, Any] | None = None


class PromptFeedback(WireResponse):
    """Set when the prompt itself was blocked: then there are no candidates."""

    blockReason: str | None = None
    blockReasonMessage: str | None = None
    safetyRatings: list[SafetyRating] | None = None


class ModalityTokenCount(WireResponse):
    """Tokens of one modality (TEXT, IMAGE, AUDIO, VIDEO, DOCUMENT)."""

    modality: str | None = None
    tokenCount: int | None = None


class UsageMetadata(WireResponse):
    """Token counts; in a stream they grow, so the last chunk that carries them wins.

    `promptTokenCount` includes `cachedContentTokenCount`; `thoughtsTokenCount` is billed as
    output but not part of `candidatesTokenCount`; `toolUsePromptTokenCount` counts tool results
    (search grounding) added to the prompt.
    """

    promptTokenCount: int | None = None
    candidatesTokenCount: int | None = None
    totalTokenCount: int | None = None
    cachedContentTokenCount: int | None = None
    thoughtsTokenCount: int | None = None
    toolUsePromptTokenCount: int | None = None
    promptTokensDetails: list[ModalityTokenCount] | None = None
    cacheTokensDetails: list[ModalityTokenCount] | None = None
    candidatesTokensDetails: list[ModalityTokenCount] | None = None
    toolUsePromptTokensDetails: list[ModalityTokenCount] | None = None
    trafficType: str | None = None
    serviceTier: str | None = None


class GenerateContentResponse(WireResponse):
    """A whole response, and each streamed chunk (a chunk may have usage and no candidates)."""

    candidates: list[Candidate] | None = None
    promptFeedback: PromptFeedback | None = None
    usageMetadata: UsageMetadata | None = None
    modelVersion: str | None = None
    responseId: str | None = None
    createTime: str | None = None
    """Vertex AI only."""


class ErrorDetail(WireResponse):
    """Google's error: HTTP `code`, `message`, canonical `status` (RESOURCE_EXHAUSTED, ...) and
    typed `details` (e.g. `google.rpc.RetryInfo` with `retryDelay`)."""

    code: int | None = None
    message: str | None = None
    status: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorResponse(WireResponse):
    """The body of a non-2xx answer, and an error payload inside a stream."""

    error: ErrorDetail


SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    GenerateContentRequest,
    GenerateContentResponse,
    UsageMetadata,
    ErrorResponse,
)
"""The wire models exported to `schemas/gemini/`, one file each (nested models go in `$defs`)."""
