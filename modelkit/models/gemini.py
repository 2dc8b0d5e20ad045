"""Google's Gemini interface: `GeminiModel`, on the Generative Language API and on Vertex AI.

The request and response bodies are the same on both APIs (`generateContent`, and
`streamGenerateContent?alt=sse` for streams); only where a request goes and how it is signed
differ, and that is the provider's business: `GoogleGLAProvider` (an API key in `x-goog-api-key`)
routes the interface's `/models/{model}:...` paths under `/v1beta`, `GoogleVertexProvider`
(google-auth bearer tokens) under `/v1/projects/{project}/locations/{region}/publishers/{publisher}`.
Sections, in the order every interface module keeps: settings; the model (request,
request_stream); mapping our messages to the wire (`_map_*`); processing a response
(`_process_*`); the streamed-response event loop; usage.

What is particular to Gemini, per its API reference (https://ai.google.dev/api/generate-content):

- A turn is `{role: user | model, parts: [...]}`; system prompts go in `systemInstruction`; tool
  results are `functionResponse` parts of a user turn, whose `response` must be a JSON object.
- Function calls arrive whole, never in fragments, and may have no `id`: each gets its own part.
- Thought summaries are parts with `thought: true`. A `thoughtSignature` is opaque and must go
  back in the next turn on the very part it came on (Gemini 3 rejects function-call history
  without it). A signature on a thought part stays on that `ThinkingPart`; a signature on any
  other part (a function call, a text) becomes an empty `ThinkingPart` carrying it, just before
  that part, and is put back on the part that follows it when the history is sent again.
- A stream has no end marker: it ends at EOF after a chunk with a `finishReason`. Usage comes on
  every chunk and grows, so the last one wins. Servers and proxies that ignore `alt=sse` send the
  stream as one JSON array; the parser is chosen by the response's content type.
- Tool schemas are Google's OpenAPI subset, not JSON Schema: see `modelkit.models._gemini_schema`.
"""

from __future__ import annotations

import base64
from collections.abc import Hashable
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
from urllib.parse import quote

import orjson
from pydantic_core import ValidationError

from .._fieldwise import fieldwise
from .._parts import PartsAssembler
from ..exceptions import UnexpectedModelBehavior
from ..exceptions import UserError
from ..messages import BinaryContent
from ..messages import FinishReason
from ..messages import ModelMessage
from ..messages import ModelResponse
from ..messages import ModelResponsePart
from ..messages import ModelResponseStreamEvent
from ..messages import RetryPromptPart
from ..messages import TextPart
from ..messages import ThinkingPart
from ..messages import ToolReturnPart
from ..messages import UserContent
from ..messages import UserPromptPart
from ..parsers.sse import event_text
from ..settings import ModelSettings
from ..usage import Usage
from . import ModelRequestParameters
from ._gemini_schema import gemini_schema
from ._kit import LazyAdapter
from ._kit import SettingsTable
from ._kit import WireModel
from ._kit import WireStreamedResponse
from ._kit import event_problem
from ._kit import json_request
from ._kit import map_settings
from ._kit import map_turns
from ._kit import stream_error
from ._kit import unexpected_body
from ._kit import wire_timestamp
from ._kit import wire_usage

if TYPE_CHECKING:
    from .._transport import HTTPRequest
    from ..parsers import Parser
    from ..providers import Provider
    from ..tools import ToolDefinition
    from ..wire import gemini as wire

__all__ = (
    'GeminiModel',
    'GeminiModelName',
    'GeminiModelSettings',
    'GeminiPromptBlocked',
    'GeminiSafetySetting',
    'GeminiStreamedResponse',
    'GeminiThinkingConfig',
)

Event: TypeAlias = ModelResponseStreamEvent

GeminiModelName: TypeAlias = (
    Literal[
        'gemini-1.5-flash',
        'gemini-1.5-pro',
        'gemini-2.0-flash',
        'gemini-2.0-flash-lite',
        'gemini-2.5-flash',
        'gemini-2.5-flash-lite',
        'gemini-2.5-pro',
        'gemini-3-flash-preview',
        'gemini-3-pro-preview',
    ]
    | str
)
"""Gemini model names known to work; any other name the API serves is accepted too."""

# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


class GeminiSafetySetting(TypedDict):
    """A blocking threshold for one harm category, e.g. `HARM_CATEGORY_HARASSMENT`, `BLOCK_ONLY_HIGH`."""

    category: str
    threshold: str


class GeminiThinkingConfig(TypedDict, total=False):
    """How the model thinks: `thinking_budget` tokens (0 off, -1 dynamic) or a `thinking_level`;
    `include_thoughts` returns thought summaries as `ThinkingPart`s."""

    include_thoughts: bool
    thinking_budget: int
    thinking_level: str


class GeminiModelSettings(ModelSettings, total=False):
    """Settings for `GeminiModel`: the shared ones plus Gemini's own, prefixed `gemini_`."""

    gemini_safety_settings: list[GeminiSafetySetting]
    """Per-category blocking thresholds (`safetySettings`)."""
    gemini_thinking_config: GeminiThinkingConfig
    """Thinking budget or level, and whether thought summaries come back (`thinkingConfig`)."""
    gemini_top_k: int
    """Sample only from the `k` most likely tokens (`topK`)."""
    gemini_function_calling: Literal['AUTO', 'ANY', 'NONE', 'VALIDATED']
    """`toolConfig.functionCallingConfig.mode`; by default ANY when the agent cannot take a text
    answer, else AUTO (sent as nothing)."""
    gemini_allowed_function_names: list[str]
    """With mode ANY: the functions the model may call (`allowedFunctionNames`)."""
    gemini_cached_content: str
    """A cached-content resource name to prefix the request with (`cachedContent`)."""
    gemini_labels: dict[str, str]
    """Vertex AI only: billing labels (`labels`)."""


# Settings that map one-to-one onto a `generationConfig` field.
_GENERATION_CONFIG: SettingsTable = (
    ('max_tokens', 'maxOutputTokens'),
    ('temperature', 'temperature'),
    ('top_p', 'topP'),
    ('gemini_top_k', 'topK'),
    ('stop_sequences', 'stopSequences'),
    ('seed', 'seed'),
    ('presence_penalty', 'presencePenalty'),
    ('frequency_penalty', 'frequencyPenalty'),
)
_THINKING_FIELDS = {
    'include_thoughts': 'includeThoughts',
    'thinking_budget': 'thinkingBudget',
    'thinking_level': 'thinkingLevel',
}

# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class GeminiModel(WireModel[GeminiModelName]):
    """A Gemini model, on the Generative Language API (`provider='google-gla'`, the default) or on
    Vertex AI (`provider='google-vertex'`), or through any `Provider` that speaks the same paths."""

    default_provider: ClassVar[str] = 'google-gla'
    """The provider when none is given; `system` is the provider's name (`google-vertex` on Vertex)."""

    def __init__(
        self,
        model_name: GeminiModelName,
        *,
        provider: Literal['google-gla', 'google-vertex'] | Provider = 'google-gla',
        system: str | None = None,
    ) -> None:
        # `models/gemini-2.0-flash` is how the API names a model; the path wants the bare name.
        super().__init__(model_name.removeprefix('models/'), provider=provider, system=system)
        self._system = system or self._provider.name
        quoted = quote(self._model_name, safe='+=')
        self._paths = (f'/models/{quoted}:generateContent', f'/models/{quoted}:streamGenerateContent?alt=sse')

    # ----------------------------------------------------------------------------------------
    # Mapping our messages to the wire
    # ----------------------------------------------------------------------------------------

    def _build_request(
        self,
        messages: list[ModelMessage],
        settings: GeminiModelSettings,
        params: ModelRequestParameters,
        *,
        stream: bool,
    ) -> HTTPRequest:
        body = self._map_body(messages, settings, params)
        path = self._paths[stream]
        return json_request(self._provider, path, body, settings, model_name=self._model_name)

    def _map_body(
        self, messages: list[ModelMessage], settings: GeminiModelSettings, params: ModelRequestParameters
    ) -> dict[str, Any]:
        system, contents = _map_messages(messages)
        body: dict[str, Any] = {'contents': contents}
        if system:
            body['systemInstruction'] = {'parts': system}
        tools = [_map_tool(tool) for tool in (*params.function_tools, *params.result_tools)]
        if tools:
            body['tools'] = [{'functionDeclarations': tools}]
            if tool_config := _map_tool_config(settings, params):
                body['toolConfig'] = tool_config
        generation: dict[str, Any] = {}
        map_settings(settings, _GENERATION_CONFIG, generation)
        if params.result_json_schema is not None:
            generation['responseMimeType'] = 'application/json'
            generation['responseSchema'] = gemini_schema(params.result_json_schema)
        if thinking := settings.get('gemini_thinking_config'):
            generation['thinkingConfig'] = {_THINKING_FIELDS[key]: value for key, value in thinking.items()}
        if generation:
            body['generationConfig'] = generation
        if safety := settings.get('gemini_safety_settings'):
            body['safetySettings'] = [dict(setting) for setting in safety]
        if cached := settings.get('gemini_cached_content'):
            body['cachedContent'] = cached
        if labels := settings.get('gemini_labels'):
            body['labels'] = labels
        return body

    # ----------------------------------------------------------------------------------------
    # Processing a response
    # ----------------------------------------------------------------------------------------

    def _process_response(self, body: bytes) -> tuple[ModelResponse, Usage]:
        vendor = self._provider.name
        try:
            payload = orjson.loads(body)
            _RESPONSE.validate_python(payload)
        except orjson.JSONDecodeError as exc:
            raise UnexpectedModelBehavior(
                f'{vendor} returned a response that is not JSON ({exc})', body
            ) from exc
        except ValidationError as exc:
            raise unexpected_body(vendor, 'generateContent response', exc, body) from exc
        if isinstance(error := payload.get('error'), dict):
            raise stream_error(vendor, body, error_type=_status(error))
        candidates = payload.get('candidates')
        if not candidates:
            raise _blocked_or_empty(vendor, payload, body)
        candidate = candidates[0]
        reader = _PartsReader(PartsAssembler())
        try:
            for _ in reader.read((candidate.get('content') or {}).get('parts') or ()):
                pass
        except _READ_ERRORS as exc:
            raise UnexpectedModelBehavior(
                f'{vendor} returned a part modelkit could not read ({exc!r})', body
            ) from exc
        finish = candidate.get('finishReason')
        response = ModelResponse(
            parts=reader.assembler.get_parts(),
            model_name=payload.get('modelVersion') or self._model_name,
            timestamp=wire_timestamp(payload.get('createTime')),
            finish_reason=_FINISH_REASONS.get(finish) if finish is not None else None,
            vendor_finish_reason=finish,
            vendor_id=payload.get('responseId'),
        )
        return response, _map_usage(payload.get('usageMetadata'))


# --------------------------------------------------------------------------------------------
# Mapping our messages to the wire: helpers
# --------------------------------------------------------------------------------------------


def _map_messages(messages: list[ModelMessage]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The `systemInstruction` parts and the `contents` turns; consecutive turns of one role merge."""
    system, contents = map_turns(
        messages,
        _map_request_part,
        lambda message: _map_response_parts(message.parts),
        roles=('user', 'model'),
        key='parts',
    )
    return [{'text': text} for text in system], contents


def _map_request_part(part: UserPromptPart | ToolReturnPart | RetryPromptPart) -> list[dict[str, Any]]:
    if isinstance(part, UserPromptPart):
        return _map_user_content(part.content)
    if isinstance(part, ToolReturnPart):
        return [_function_response(part.tool_name, part.model_response_object(), part.tool_call_id)]
    if part.tool_name is None:
        return [{'text': part.model_response()}]
    # A failed call gets its error back as the call's result, so it stays paired.
    return [_function_response(part.tool_name, {'error': part.model_response()}, part.tool_call_id)]


def _function_response(name: str, response: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {'functionResponse': {'name': name, 'response': response, 'id': call_id}}


def _map_user_content(content: str | Sequence[UserContent]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{'text': content}]
    parts: list[dict[str, Any]] = []
    for item in content:
        if isinstance(item, str):
            parts.append({'text': item})
        elif isinstance(item, BinaryContent):
            data = base64.b64encode(item.data).decode()
            parts.append({'inlineData': {'mimeType': item.media_type, 'data': data}})
        else:
            # Gemini fetches the URL itself (or reads a File API / gs:// URI).
            parts.append({'fileData': {'fileUri': item.url, 'mimeType': item.media_type}})
    return parts


def _map_response_parts(parts: Sequence[ModelResponsePart]) -> list[dict[str, Any]]:
    """A model turn's parts; an empty `ThinkingPart` with a signature puts it on the next part."""
    out: list[dict[str, Any]] = []
    signature: str | None = None
    for part in parts:
        wire_part: dict[str, Any]
        if isinstance(part, ThinkingPart):
            if not part.content:
                if part.signature:
                    signature = part.signature
                continue
            wire_part = {'text': part.content, 'thought': True}
            signature = part.signature or signature
        elif isinstance(part, TextPart):
            if not part.content and signature is None:
                continue
            wire_part = {'text': part.content}
        else:
            try:
                args = part.args_as_dict()
            except ValueError as exc:
                raise UserError(f'Tool call {part.tool_name!r} in the history: {exc}') from exc
            wire_part = {'functionCall': {'name': part.tool_name, 'args': args, 'id': part.tool_call_id}}
        if signature is not None:
            wire_part['thoughtSignature'] = signature
            signature = None
        out.append(wire_part)
    if signature is not None:
        # It came on an empty text part (as the last chunk of a stream often has it): send it so.
        out.append({'text': '', 'thoughtSignature': signature})
    return out


def _map_tool(tool: ToolDefinition) -> dict[str, Any]:
    declaration: dict[str, Any] = {'name': tool.name, 'description': tool.description}
    # Gemini rejects an OBJECT schema without properties: a function without arguments has none.
    if tool.parameters_json_schema.get('properties'):
        declaration['parameters'] = gemini_schema(tool.parameters_json_schema)
    return declaration


def _map_tool_config(settings: GeminiModelSettings, params: ModelRequestParameters) -> dict[str, Any] | None:
    mode = settings.get('gemini_function_calling')
    if mode is None:
        if params.allow_text_result:
            return None  # AUTO is the default
        mode = 'ANY'  # a text answer would be no use to the agent
    config: dict[str, Any] = {'mode': mode}
    if names := settings.get('gemini_allowed_function_names'):
        config['allowedFunctionNames'] = list(names)
    return {'functionCallingConfig': config}


# --------------------------------------------------------------------------------------------
# Processing a response: shared helpers
# --------------------------------------------------------------------------------------------

_FINISH_REASONS: dict[str, FinishReason] = {
    'STOP': 'stop',
    'MAX_TOKENS': 'length',
    'SAFETY': 'content_filter',
    'RECITATION': 'content_filter',
    'BLOCKLIST': 'content_filter',
    'PROHIBITED_CONTENT': 'content_filter',
    'SPII': 'content_filter',
    'IMAGE_SAFETY': 'content_filter',
    'IMAGE_PROHIBITED_CONTENT': 'content_filter',
    'IMAGE_RECITATION': 'content_filter',
    'MODEL_ARMOR': 'content_filter',  # Vertex AI's Model Armor blocked the answer
    'LANGUAGE': 'error',
    'MALFORMED_FUNCTION_CALL': 'error',
    'UNEXPECTED_TOOL_CALL': 'error',
    'TOO_MANY_TOOL_CALLS': 'error',
}
"""Gemini's finish reasons in our words; any other (OTHER, unknown new ones) maps to None, the
vendor's word still kept as `vendor_finish_reason`."""

_RESPONSE: LazyAdapter[wire.GenerateContentResponse] = LazyAdapter(
    'modelkit.wire.gemini', 'GenerateContentResponse'
)
_USAGE: LazyAdapter[wire.UsageMetadata] = LazyAdapter('modelkit.wire.gemini', 'UsageMetadata')

# What a part or chunk of an unexpected shape trips over in the lookups; the callers name it.
_READ_ERRORS = (KeyError, TypeError, AttributeError, IndexError, ValueError)


class GeminiPromptBlocked(UnexpectedModelBehavior):
    """Gemini refused the prompt before answering (`promptFeedback.blockReason`): no candidate came."""

    block_reason: str
    """Gemini's reason: SAFETY, BLOCKLIST, PROHIBITED_CONTENT, MODEL_ARMOR, JAILBREAK, OTHER, ..."""

    def __init__(self, vendor: str, block_reason: str, detail: str | None, body: str | bytes | None) -> None:
        self.block_reason = block_reason
        suffix = f': {detail}' if detail else ''
        super().__init__(f'{vendor} blocked the prompt ({block_reason}){suffix}', body)


def _blocked_or_empty(vendor: str, payload: dict[str, Any], body: str | bytes) -> UnexpectedModelBehavior:
    feedback = payload.get('promptFeedback') or {}
    reason = feedback.get('blockReason')
    if reason:
        return GeminiPromptBlocked(vendor, str(reason), feedback.get('blockReasonMessage'), body)
    return UnexpectedModelBehavior(f'{vendor} returned a response with no candidates', body)


def _status(error: dict[str, Any]) -> str | None:
    status = error.get('status')
    return str(status) if status is not None else None


_THOUGHT, _SIGNATURE, _TEXT, _CALL = 1, 2, 3, 4
"""What the last part read was: a new part of our own starts whenever this changes."""


class _PartsReader:
    """Turns Gemini parts into part events, for a whole response and for a stream alike.

    Consecutive text (or thought) parts, within a chunk and across chunks, grow one part of ours;
    anything in between (a function call, a signature) starts a new one, so the order of the
    parts is the order Gemini sent them in. `part_no` is the assembler's key for the current part.
    """

    __slots__ = ('assembler', 'kind', 'part_no')

    def __init__(self, assembler: PartsAssembler) -> None:
        self.assembler = assembler
        self.kind = 0
        self.part_no = 0

    def _next(self, kind: int) -> Hashable:
        self.part_no += 1
        self.kind = kind
        return self.part_no

    def read(self, parts: Sequence[dict[str, Any]]) -> Iterator[Event]:
        """The events for `parts` (one candidate's `content.parts`)."""
        assembler = self.assembler
        for part in parts:
            signature = part.get('thoughtSignature')
            text = part.get('text')
            if signature is not None and signature.__class__ is not str:
                raise TypeError('thoughtSignature is not a string')
            if text is not None and text.__class__ is not str:
                raise TypeError('text is not a string')
            if part.get('thought') is True:
                key = self.part_no if self.kind == _THOUGHT else self._next(_THOUGHT)
                if (event := assembler.thinking_delta(key, text or None, signature=signature)) is not None:
                    yield event
                continue
            if signature is not None:
                event = assembler.thinking_delta(self._next(_SIGNATURE), None, signature=signature)
                if event is not None:
                    yield event
            if text is not None:
                if self.kind != _TEXT:
                    if not text:
                        continue  # an empty text (the last chunk's) starts no part
                    self._next(_TEXT)
                if (event := assembler.text_delta(self.part_no, text)) is not None:
                    yield event
            elif (call := part.get('functionCall')) is not None:
                name, args, call_id = call['name'], call.get('args'), call.get('id')
                if (
                    name.__class__ is not str
                    or (args is not None and args.__class__ is not dict)
                    or (call_id is not None and call_id.__class__ is not str)
                ):
                    raise TypeError('a functionCall field has the wrong type')
                # Whole, with its own part: parallel calls stay apart; no args means `{}`.
                yield assembler.tool_call(self._next(_CALL), name, args if args is not None else {}, call_id)
            # executableCode, codeExecutionResult, inlineData, fileData: not parts of ours, skipped.


# --------------------------------------------------------------------------------------------
# The streamed-response event loop
# --------------------------------------------------------------------------------------------


@fieldwise
@dataclass(repr=False, eq=False)
class GeminiStreamedResponse(WireStreamedResponse[Any]):
    """A `streamGenerateContent` answer, as SSE (`alt=sse`) or as one JSON array, by content type."""

    _reader: _PartsReader = field(init=False)
    _started: bool = field(default=False, init=False)
    _raw_usage: Any = field(default=None, init=False)
    _usage_of: Any = field(default=None, init=False)

    end_expected: ClassVar[str] = 'a finish reason'
    # Without alt=sse (servers and proxies that drop it) the stream itself is one JSON array.
    json_stream: ClassVar[bool] = True
    retryable_stream_errors: ClassVar[frozenset[str]] = frozenset(
        {'RESOURCE_EXHAUSTED', 'UNAVAILABLE', 'INTERNAL', 'DEADLINE_EXCEEDED'}
    )
    """Google's statuses for 429, 503, 500 and 504: sent in the stream before any content, they are
    retried as those HTTP statuses are (the transport retries 429 and 5xx)."""

    def __post_init__(self) -> None:
        self._reader = _PartsReader(self._parts_manager)

    def _restart(self) -> None:
        super()._restart()
        self._reader = _PartsReader(self._parts_manager)  # the old one writes to the old parts
        self._started = False
        self._raw_usage = self._usage_of = None

    def _new_parser(self) -> Parser[Any]:
        content_type = self._stream.headers.get('content-type', '')
        if content_type.split(';', 1)[0].strip().lower() == 'application/json':
            from ..parsers.jsonarray import JSONArrayDecoder

            return JSONArrayDecoder()
        from ..parsers.sse import SSEDataDecoder

        return SSEDataDecoder()

    def _process_event(self, event: Any) -> Event | Iterator[Event] | None:
        # The hot path: one orjson.loads and a few lookups for a chunk that only adds text to the
        # text part being streamed (nearly every chunk); anything else goes to `_process_chunk`.
        # An SSE event is a `(type, data)` pair (`SSEDataDecoder`); the JSON array's are its elements.
        sse = event.__class__ is tuple
        if sse:
            if event[0] != 'message':
                return None  # an event type Gemini does not send: skip it
            try:
                # The bytes, where the decoder kept them: the text is made only if needed.
                chunk = orjson.loads(event[1])
            except orjson.JSONDecodeError as exc:
                raise UnexpectedModelBehavior(
                    f'{self._vendor} sent a stream event that is not JSON ({exc})', event_text(event[1])
                ) from exc
        else:
            chunk = event
        reader = self._reader
        if reader.kind == _TEXT:
            try:
                candidates = chunk['candidates']
                if len(candidates) == 1:
                    candidate = candidates[0]
                    parts = candidate['content']['parts']
                    if (
                        len(parts) == 1
                        and len(part := parts[0]) == 1
                        and (text := part.get('text')).__class__ is str
                        and 'finishReason' not in candidate
                    ):
                        if (usage := chunk.get('usageMetadata')) is not None:
                            self._raw_usage = usage
                        return self._parts_manager.text_delta(reader.part_no, text)
            except _READ_ERRORS:
                pass  # `_process_chunk` says what is wrong with it
        return self._process_chunk(chunk, event_text(event[1]) if sse else None)

    def _process_chunk(self, chunk: Any, data: str | None) -> Iterator[Event]:
        """Any chunk but a plain text delta: the first one, thoughts, calls, signatures, the finish."""
        try:
            yield from self._chunk_events(chunk, data)
        except _READ_ERRORS as exc:
            raise self._chunk_problem(chunk, data, exc) from exc

    def _chunk_events(self, chunk: dict[str, Any], data: str | None) -> Iterator[Event]:
        if not isinstance(chunk, dict):
            raise TypeError('a stream chunk is not a JSON object')
        if isinstance(error := chunk.get('error'), dict):
            raise stream_error(self._vendor, data or orjson.dumps(chunk), error_type=_status(error))
        if not self._started:
            self._started = True
            self._start(chunk)
        if (usage := chunk.get('usageMetadata')) is not None:
            self._raw_usage = usage
        candidates = chunk.get('candidates')
        if not candidates:
            if (chunk.get('promptFeedback') or {}).get('blockReason'):
                raise _blocked_or_empty(self._vendor, chunk, data or orjson.dumps(chunk))
            return  # a chunk with usage only
        candidate = candidates[0]
        content = candidate.get('content')
        if content:
            yield from self._reader.read(content.get('parts') or ())
        finish = candidate.get('finishReason')
        if finish is not None:
            self._vendor_finish_reason = str(finish)
            self._finish_reason = _FINISH_REASONS.get(self._vendor_finish_reason)

    def _start(self, chunk: dict[str, Any]) -> None:
        if isinstance(model := chunk.get('modelVersion'), str) and model:
            self._model_name = model
        if isinstance(response_id := chunk.get('responseId'), str):
            self._vendor_id = response_id
        if 'createTime' in chunk:
            self._timestamp = wire_timestamp(chunk['createTime'])

    def _chunk_problem(self, chunk: Any, data: str | None, exc: Exception) -> UnexpectedModelBehavior:
        """Why a chunk could not be read: the schema says, where it can."""
        body = data if data is not None else orjson.dumps(chunk).decode()
        return event_problem(
            self._vendor, 'stream chunk', body, exc, _RESPONSE.validate_python, payload=chunk
        )

    def usage(self) -> Usage:
        """Usage so far: the last `usageMetadata` that arrived (Gemini's numbers are cumulative)."""
        raw = self._raw_usage
        if raw is not self._usage_of:
            self._usage = _map_usage(raw)
            self._usage_of = raw
        return self._usage


# --------------------------------------------------------------------------------------------
# Usage
# --------------------------------------------------------------------------------------------


def _map_usage(raw: Any) -> Usage:
    """Our `Usage` from `usageMetadata`.

    Thoughts are billed as output, so `response_tokens` is candidates plus thoughts; tool-use
    prompt tokens (search results put in the prompt) are input, so `request_tokens` is the prompt
    plus them, and the two add up to Gemini's `totalTokenCount`. The prompt count already holds
    the cached tokens. Details: `cached_tokens`, `reasoning_tokens`, `tool_use_prompt_tokens`.
    """
    if not raw:
        return Usage()
    usage = _USAGE.validate_python(raw)
    return wire_usage(
        _sum(usage.promptTokenCount, usage.toolUsePromptTokenCount),
        _sum(usage.candidatesTokenCount, usage.thoughtsTokenCount),
        usage.totalTokenCount,
        cached_tokens=usage.cachedContentTokenCount,
        reasoning_tokens=usage.thoughtsTokenCount,
        tool_use_prompt_tokens=usage.toolUsePromptTokenCount,
    )


def _sum(a: int | None, b: int | None) -> int | None:
    if a is None and b is None:
        return None
    return (a or 0) + (b or 0)


# Set once both classes exist: the kit's `_new_streamed_response` builds this class.
GeminiModel.streamed_response_class = GeminiStreamedResponse
