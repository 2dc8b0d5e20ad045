"""OpenAI's chat-completions interface: `OpenAIModel`, for OpenAI and every OpenAI-compatible service.

The provider decides where requests go and how they are signed (OpenAI, Azure, DeepSeek, a local
Ollama, ...); this module only translates our messages to the chat-completions wire format and the
vendor's answers back. Sections, in the order every interface module keeps: settings; the model
(request, request_stream); mapping our messages to the wire (`_map_*`); processing a response
(`_process_*`); the streamed-response event loop; usage.

Token limit: `max_tokens` goes on the wire as `max_completion_tokens` to OpenAI's own API
(api.openai.com: OpenAI deprecated `max_tokens`, and its reasoning models reject it), and as
`max_tokens` everywhere else: most OpenAI-compatible servers (DeepSeek, Together, Fireworks,
OpenRouter, older vLLM and Ollama) only know that one, and Azure API versions before 2024-09-01
reject the newer field. `openai_max_tokens_field` overrides the choice (use it for o-series
deployments on Azure).
"""

from __future__ import annotations

import base64
import mimetypes
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast
from urllib.parse import urlsplit

import orjson
from pydantic_core import ValidationError

from ..exceptions import ModelStreamError, StreamInterrupted, UnexpectedModelBehavior, UserError
from ..messages import (
    AudioUrl,
    BinaryContent,
    FinishReason,
    ImageUrl,
    ModelMessage,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    ModelResponsePart,
    ModelResponseStreamEvent,
    SystemPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserContent,
    UserPromptPart,
)
from ..parsers.sse import SSEDecoder
from ..settings import ModelSettings
from ..tools import ToolDefinition
from ..usage import Usage
from . import Model, ModelRequestParameters, StreamedResponse, check_allow_model_requests

if TYPE_CHECKING:
    import httpx
    from pydantic import TypeAdapter

    from .._transport import HTTPRequest, ResponseStream
    from ..providers import Provider
    from ..wire import openai as wire

__all__ = (
    'OpenAIChatModel',
    'OpenAIModel',
    'OpenAIModelSettings',
    'OpenAIStreamedResponse',
    'OpenAISystemPromptRole',
)

OpenAISystemPromptRole: TypeAlias = Literal['system', 'developer', 'user']
"""The role system prompts are sent with: `developer` for reasoning models, `user` where neither works."""

# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


class OpenAIModelSettings(ModelSettings, total=False):
    """Settings for `OpenAIModel`: the shared ones plus OpenAI's own, prefixed `openai_`."""

    openai_reasoning_effort: Literal['minimal', 'low', 'medium', 'high']
    """How hard a reasoning model thinks before answering (`reasoning_effort`)."""
    openai_user: str
    """An id for your end user, which helps OpenAI detect abuse (`user`)."""
    openai_logprobs: bool
    """Ask for the log probabilities of the output tokens (`logprobs`)."""
    openai_top_logprobs: int
    """How many most-likely alternatives to return per token, with `openai_logprobs` (`top_logprobs`)."""
    openai_service_tier: Literal['auto', 'default', 'flex', 'priority']
    """Which processing tier serves the request (`service_tier`)."""
    openai_stream_include_usage: bool
    """Ask for a final usage chunk when streaming; the default comes from the provider
    (`stream_include_usage`), since some compatible servers reject `stream_options`."""
    openai_max_tokens_field: Literal['max_tokens', 'max_completion_tokens']
    """Which wire field carries `max_tokens`; see the module docstring for the default."""
    openai_send_back_thinking: bool
    """Send earlier `ThinkingPart`s back inside `<think>` tags in the assistant text.

    Off by default: the reasoning is dropped from the history, which saves tokens and is what
    DeepSeek asks for; models that reason inline (gpt-oss, QwQ on Groq) may do better with it on.
    """


# Settings that map one-to-one onto a wire field: (ours, theirs).
_SETTINGS_TO_WIRE = (
    ('temperature', 'temperature'),
    ('top_p', 'top_p'),
    ('seed', 'seed'),
    ('stop_sequences', 'stop'),
    ('presence_penalty', 'presence_penalty'),
    ('frequency_penalty', 'frequency_penalty'),
    ('logit_bias', 'logit_bias'),
    ('openai_reasoning_effort', 'reasoning_effort'),
    ('openai_user', 'user'),
    ('openai_logprobs', 'logprobs'),
    ('openai_top_logprobs', 'top_logprobs'),
    ('openai_service_tier', 'service_tier'),
)

# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class OpenAIModel(Model):
    """A model behind OpenAI's chat-completions API: OpenAI itself or any OpenAI-compatible service.

    `provider` is a provider name (`'openai'`, `'deepseek'`, `'azure'`, ...) or a `Provider`. The
    shorthand `api_key`, `base_url`, `openai_client` and `http_client` build the named provider
    with those arguments, e.g. `OpenAIModel('gpt-4o', api_key='...')`.
    """

    system_prompt_role: OpenAISystemPromptRole | None

    def __init__(
        self,
        model_name: str,
        *,
        provider: str | Provider = 'openai',
        system_prompt_role: OpenAISystemPromptRole | None = None,
        system: str = 'openai',
        api_key: str | None = None,
        base_url: str | None = None,
        openai_client: Any = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        shorthand = {
            name: value
            for name, value in (
                ('api_key', api_key),
                ('base_url', base_url),
                ('openai_client', openai_client),
                ('http_client', http_client),
            )
            if value is not None
        }
        if isinstance(provider, str):
            # Imported here: the providers pull in the transport (anyio, asyncio), which
            # `import modelkit.models.openai` need not pay for.
            from ..providers import infer_provider

            provider = infer_provider(provider, **shorthand)
        elif shorthand:
            raise UserError(
                f'OpenAIModel got a provider instance and {", ".join(shorthand)}: '
                'pass those to the provider instead'
            )
        self._model_name = model_name
        self._provider = provider
        self._system = system
        self.system_prompt_role = system_prompt_role
        self._max_tokens_field = _default_max_tokens_field(provider)

    @property
    def model_name(self) -> str:
        """The model name sent in every request, e.g. `gpt-4o`."""
        return self._model_name

    @property
    def system(self) -> str:
        """The `gen_ai.system` value, `openai` unless given."""
        return self._system

    @property
    def base_url(self) -> str:
        """The provider's base URL."""
        return self._provider.base_url

    @property
    def provider(self) -> Provider:
        """Where requests go and how they are signed."""
        return self._provider

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> tuple[ModelResponse, Usage]:
        """Send the conversation and return the whole response with its token usage."""
        check_allow_model_requests()
        settings = cast(OpenAIModelSettings, model_settings or {})
        request = self._build_request(messages, settings, model_request_parameters, stream=False)
        response = await self._provider.send(
            request, model_name=self._model_name, timeout=settings.get('timeout')
        )
        return self._process_response(response.body)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> AsyncIterator[StreamedResponse]:
        """Send the conversation and stream the response; the connection is released on exit."""
        check_allow_model_requests()
        settings = cast(OpenAIModelSettings, model_settings or {})
        request = self._build_request(messages, settings, model_request_parameters, stream=True)
        started_at = time.perf_counter()
        async with self._provider.stream(
            request, model_name=self._model_name, timeout=settings.get('timeout')
        ) as stream:
            response = OpenAIStreamedResponse(
                _model_name=self._model_name, _stream=stream, _vendor=self._provider.name
            )
            response._arrival_clock = stream
            response._timing.started_at = started_at
            response._timing.headers_at = stream.headers_at
            yield response

    # ----------------------------------------------------------------------------------------
    # Mapping our messages to the wire
    # ----------------------------------------------------------------------------------------

    def _build_request(
        self,
        messages: list[ModelMessage],
        settings: OpenAIModelSettings,
        params: ModelRequestParameters,
        *,
        stream: bool,
    ) -> HTTPRequest:
        body = self._map_body(messages, settings, params, stream=stream)
        headers = {'content-type': 'application/json'}
        if extra_headers := settings.get('extra_headers'):
            headers.update(extra_headers)
        return self._provider.build_request(
            'POST', '/chat/completions', orjson.dumps(body), headers, model_name=self._model_name
        )

    def _map_body(
        self,
        messages: list[ModelMessage],
        settings: OpenAIModelSettings,
        params: ModelRequestParameters,
        *,
        stream: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            'model': self._model_name,
            'messages': self._map_messages(messages, settings.get('openai_send_back_thinking', False)),
            'stream': stream,
        }
        if stream:
            include_usage = settings.get(
                'openai_stream_include_usage', getattr(self._provider, 'stream_include_usage', True)
            )
            if include_usage:
                body['stream_options'] = {'include_usage': True}
        tools = [_map_tool(tool) for tool in (*params.function_tools, *params.result_tools)]
        if tools:
            body['tools'] = tools
            # Without 'required' the model may answer in text the agent cannot accept.
            body['tool_choice'] = 'auto' if params.allow_text_result else 'required'
            if 'parallel_tool_calls' in settings:
                body['parallel_tool_calls'] = settings['parallel_tool_calls']
        if params.result_json_schema is not None:
            body['response_format'] = _map_response_format(params)
        if 'max_tokens' in settings:
            body[settings.get('openai_max_tokens_field', self._max_tokens_field)] = settings['max_tokens']
        raw = cast(dict[str, Any], settings)
        for ours, theirs in _SETTINGS_TO_WIRE:
            if ours in raw:
                body[theirs] = raw[ours]
        if extra_body := settings.get('extra_body'):
            body.update(extra_body)
        return body

    def _map_messages(self, messages: list[ModelMessage], send_back_thinking: bool) -> list[dict[str, Any]]:
        system_role = self.system_prompt_role or 'system'
        out: list[dict[str, Any]] = []
        for message in messages:
            if isinstance(message, ModelRequest):
                out.extend(_map_request_part(part, system_role) for part in message.parts)
            else:
                out.append(_map_response(message, send_back_thinking))
        return out

    # ----------------------------------------------------------------------------------------
    # Processing a response
    # ----------------------------------------------------------------------------------------

    def _process_response(self, body: bytes) -> tuple[ModelResponse, Usage]:
        vendor = self._provider.name
        try:
            completion = _completion_adapter().validate_json(body)
        except ValidationError as exc:
            raise _unexpected_body(vendor, 'chat completion', exc, body) from exc
        if not completion.choices:
            raise UnexpectedModelBehavior(f'{vendor} returned a chat completion with no choices', body)
        choice = completion.choices[0]
        message = choice.message
        parts: list[ModelResponsePart] = []
        if reasoning := message.reasoning_content or message.reasoning:
            parts.append(ThinkingPart(reasoning))
        if message.content:
            parts.append(TextPart(message.content))
        elif message.refusal:
            # A refusal replaces the content; keep it rather than return an empty response.
            parts.append(TextPart(message.refusal))
        for call in message.tool_calls or ():
            parts.append(ToolCallPart(call.function.name, call.function.arguments, call.id))
        response = ModelResponse(
            parts,
            model_name=completion.model or self._model_name,
            timestamp=_timestamp(completion.created),
            finish_reason=_FINISH_REASONS.get(choice.finish_reason or ''),
            vendor_finish_reason=choice.finish_reason,
            vendor_id=completion.id,
        )
        return response, _map_usage(completion.usage)


# --------------------------------------------------------------------------------------------
# Mapping our messages to the wire: helpers
# --------------------------------------------------------------------------------------------


def _default_max_tokens_field(provider: Provider) -> Literal['max_tokens', 'max_completion_tokens']:
    host = urlsplit(provider.base_url).hostname or ''
    return 'max_completion_tokens' if host == 'api.openai.com' else 'max_tokens'


def _map_request_part(part: ModelRequestPart, system_role: str) -> dict[str, Any]:
    if isinstance(part, SystemPromptPart):
        return {'role': system_role, 'content': part.content}
    if isinstance(part, UserPromptPart):
        return {'role': 'user', 'content': _map_user_content(part.content)}
    if isinstance(part, ToolReturnPart):
        return {'role': 'tool', 'tool_call_id': part.tool_call_id, 'content': part.model_response_str()}
    if part.tool_name is None:
        # A retry about the text answer: there is no tool call to attach it to.
        return {'role': 'user', 'content': part.model_response()}
    return {'role': 'tool', 'tool_call_id': part.tool_call_id, 'content': part.model_response()}


def _map_response(message: ModelResponse, send_back_thinking: bool) -> dict[str, Any]:
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            if part.content:
                texts.append(part.content)
        elif isinstance(part, ToolCallPart):
            function = {'name': part.tool_name, 'arguments': part.args_as_json_str()}
            tool_calls.append({'id': part.tool_call_id, 'type': 'function', 'function': function})
        elif send_back_thinking and part.content:
            texts.append(f'<think>\n{part.content}\n</think>')
    wire_message: dict[str, Any] = {'role': 'assistant'}
    if texts:
        wire_message['content'] = '\n\n'.join(texts)
    if tool_calls:
        wire_message['tool_calls'] = tool_calls
    elif not texts:
        # OpenAI rejects an assistant message with neither content nor tool calls.
        wire_message['content'] = ''
    return wire_message


def _map_user_content(content: str | Sequence[UserContent]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for item in content:
        if isinstance(item, str):
            parts.append({'type': 'text', 'text': item})
        elif isinstance(item, ImageUrl):
            parts.append({'type': 'image_url', 'image_url': {'url': item.url}})
        elif isinstance(item, BinaryContent):
            parts.append(_map_binary(item))
        else:
            what = 'audio' if isinstance(item, AudioUrl) else 'documents'
            raise UserError(
                f'OpenAI chat completions cannot fetch {what} from a URL ({item.url}): '
                'download it and pass the bytes as BinaryContent(data=..., media_type=...)'
            )
    return parts


# OpenAI's `input_audio` takes these two formats only.
_AUDIO_FORMATS = {
    'audio/wav': 'wav',
    'audio/x-wav': 'wav',
    'audio/wave': 'wav',
    'audio/vnd.wave': 'wav',
    'audio/mpeg': 'mp3',
    'audio/mp3': 'mp3',
}


def _map_binary(item: BinaryContent) -> dict[str, Any]:
    if item.is_image:
        return {'type': 'image_url', 'image_url': {'url': item.data_url}}
    if item.is_audio:
        audio_format = _AUDIO_FORMATS.get(item.media_type)
        if audio_format is None:
            raise UserError(
                f'OpenAI chat completions take wav or mp3 audio, not {item.media_type}: convert it first'
            )
        data = base64.b64encode(item.data).decode()
        return {'type': 'input_audio', 'input_audio': {'data': data, 'format': audio_format}}
    # The API wants a filename with file_data; the extension is what tells it the format.
    extension = mimetypes.guess_extension(item.media_type, strict=False) or '.bin'
    return {'type': 'file', 'file': {'file_data': item.data_url, 'filename': f'document{extension}'}}


def _map_tool(tool: ToolDefinition) -> dict[str, Any]:
    function: dict[str, Any] = {
        'name': tool.name,
        'description': tool.description,
        'parameters': tool.parameters_json_schema,
    }
    if tool.strict is not None:
        function['strict'] = tool.strict
    return {'type': 'function', 'function': function}


def _map_response_format(params: ModelRequestParameters) -> dict[str, Any]:
    json_schema: dict[str, Any] = {'name': params.result_schema_name, 'schema': params.result_json_schema}
    if params.result_schema_strict is not None:
        json_schema['strict'] = params.result_schema_strict
    return {'type': 'json_schema', 'json_schema': json_schema}


# --------------------------------------------------------------------------------------------
# Processing a response: shared helpers
# --------------------------------------------------------------------------------------------

_FINISH_REASONS: dict[str, FinishReason] = {
    'stop': 'stop',
    'length': 'length',
    'tool_calls': 'tool_call',
    'function_call': 'tool_call',  # the legacy functions API
    'content_filter': 'content_filter',
    'error': 'error',  # OpenRouter, when the upstream model failed mid-answer
}


@cache
def _completion_adapter() -> TypeAdapter[wire.ChatCompletion]:
    from pydantic import TypeAdapter

    from ..wire.openai import ChatCompletion

    return TypeAdapter(ChatCompletion)


@cache
def _chunk_adapter() -> TypeAdapter[wire.ChatCompletionChunk]:
    from pydantic import TypeAdapter

    from ..wire.openai import ChatCompletionChunk

    return TypeAdapter(ChatCompletionChunk)


@cache
def _usage_adapter() -> TypeAdapter[wire.CompletionUsage]:
    from pydantic import TypeAdapter

    from ..wire.openai import CompletionUsage

    return TypeAdapter(CompletionUsage)


def _timestamp(created: object) -> datetime:
    """The vendor's `created` (Unix seconds) as a datetime; now, when it is missing or absurd."""
    if isinstance(created, int | float) and not isinstance(created, bool):
        try:
            return datetime.fromtimestamp(created, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass  # a bogus timestamp is no reason to lose the answer
    return datetime.now(tz=UTC)


def _summarise(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    shown = '; '.join(f'{".".join(map(str, e["loc"])) or "(root)"}: {e["msg"]}' for e in errors[:3])
    return shown + (f' (and {len(errors) - 3} more)' if len(errors) > 3 else '')


def _unexpected_body(
    vendor: str, what: str, exc: ValidationError, body: bytes | str
) -> UnexpectedModelBehavior:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict) and isinstance(error := payload.get('error'), dict | str):
        # Some compatible servers answer 200 with an error object instead of a 4xx.
        detail = error.get('message') if isinstance(error, dict) else error
        return UnexpectedModelBehavior(
            f'{vendor} returned an error object instead of a {what}: {detail}', body
        )
    return UnexpectedModelBehavior(
        f'{vendor} returned a {what} that does not fit the schema: {_summarise(exc)}', body
    )


def _stream_error(vendor: str, data: str) -> ModelStreamError:
    """The `ModelStreamError` for an error sent inside a stream (`event: error`, or an `error` object)."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        payload = data
    error = payload.get('error', payload) if isinstance(payload, dict) else payload
    if isinstance(error, dict):
        message = str(error.get('message') or 'no message given')
        error_type, code = error.get('type'), error.get('code')
        return ModelStreamError(
            vendor,
            message,
            error_type=str(error_type) if error_type is not None else None,
            code=str(code) if code is not None else None,
            body=data,
        )
    return ModelStreamError(vendor, str(error), body=data)


# --------------------------------------------------------------------------------------------
# The streamed-response event loop
# --------------------------------------------------------------------------------------------

_NO_FUNCTION: dict[str, Any] = {}
_ARGS_TYPES = (str, dict)  # arguments are a JSON string; a few compatible servers send an object


@dataclass
class OpenAIStreamedResponse(StreamedResponse):
    """A chat completion arriving as server-sent events, translated into our part events."""

    _model_name: str
    _stream: ResponseStream
    _vendor: str = 'openai'
    _timestamp: datetime = field(default_factory=lambda: datetime.now(tz=UTC))

    @property
    def model_name(self) -> str:
        """The model the vendor says answered (the requested name until the first chunk arrives)."""
        return self._model_name

    @property
    def timestamp(self) -> datetime:
        """The completion's `created` time (the time the stream opened until the first chunk arrives)."""
        return self._timestamp

    async def _get_event_iterator(self) -> AsyncIterator[ModelResponseStreamEvent]:
        # The hot path: one orjson.loads and a few dict lookups per chunk, no pydantic. Anything
        # the lookups trip over goes to `_chunk_problem`, which validates the chunk to name it.
        parts = self._parts_manager
        text_delta = parts.text_delta
        thinking_delta = parts.thinking_delta
        tool_call_delta = parts.tool_call_delta
        loads = orjson.loads
        decoder = SSEDecoder()
        done = False
        first = True
        async for events in self._stream.iter_parsed(decoder):
            if done:
                continue  # read to EOF after [DONE] so the connection can go back to the pool
            for event in events:
                data = event.data
                if event.event != 'message':
                    if event.event == 'error':
                        raise _stream_error(self._vendor, data)
                    continue  # an event type we do not know: skip it
                if data == '[DONE]':
                    done = True
                    break
                try:
                    chunk = loads(data)
                    choices = chunk['choices']
                    if first:
                        first = False
                        self._start(chunk)
                    if choices:
                        choice = choices[0]
                        delta = choice.get('delta')
                        if delta:
                            content = delta.get('content')
                            if content:
                                if content.__class__ is not str:
                                    raise TypeError('delta.content is not a string')
                                if (ev := text_delta('content', content)) is not None:
                                    yield ev
                            if len(delta) > 1 or not content:
                                reasoning = delta.get('reasoning_content') or delta.get('reasoning')
                                if reasoning:
                                    if reasoning.__class__ is not str:
                                        raise TypeError('delta reasoning is not a string')
                                    if (ev := thinking_delta('reasoning', reasoning)) is not None:
                                        yield ev
                                tool_calls = delta.get('tool_calls')
                                if tool_calls:
                                    for position, call in enumerate(tool_calls):
                                        function = call.get('function') or _NO_FUNCTION
                                        name = function.get('name')
                                        args = function.get('arguments')
                                        call_id = call.get('id')
                                        if (
                                            (name is not None and name.__class__ is not str)
                                            or (call_id is not None and call_id.__class__ is not str)
                                            or (args is not None and args.__class__ not in _ARGS_TYPES)
                                        ):
                                            raise TypeError('a tool call field has the wrong type')
                                        ev = tool_call_delta(call.get('index', position), name, args, call_id)
                                        if ev is not None:
                                            yield ev
                                refusal = delta.get('refusal')
                                if refusal:
                                    if refusal.__class__ is not str:
                                        raise TypeError('delta.refusal is not a string')
                                    if (ev := text_delta('refusal', refusal)) is not None:
                                        yield ev
                        finish_reason = choice.get('finish_reason')
                        if finish_reason is not None:
                            self._finish(finish_reason, chunk, data)
                    elif 'error' in chunk:
                        raise _stream_error(self._vendor, data)
                    usage = chunk.get('usage')
                    if usage:
                        self._usage = _map_usage(_usage_adapter().validate_python(usage))
                except (KeyError, TypeError, AttributeError, IndexError, ValueError, OverflowError) as exc:
                    problem = self._chunk_problem(data, exc)
                    if problem is not None:
                        raise problem from exc
        if not done and self._vendor_finish_reason is None:
            how = (
                'the body stopped in the middle of an event'
                if decoder.truncated
                else 'the body ended between events'
            )
            raise StreamInterrupted(
                f'{self._vendor} stream ended before a finish reason or [DONE] arrived ({how})'
            )

    def _start(self, chunk: dict[str, Any]) -> None:
        if isinstance(vendor_id := chunk.get('id'), str):
            self._vendor_id = vendor_id
        if isinstance(model := chunk.get('model'), str) and model:
            self._model_name = model
        if 'created' in chunk:
            self._timestamp = _timestamp(chunk['created'])

    def _finish(self, finish_reason: str, chunk: dict[str, Any], data: str) -> None:
        self._vendor_finish_reason = finish_reason
        self._finish_reason = _FINISH_REASONS.get(finish_reason)
        if finish_reason == 'error' or 'error' in chunk:
            raise _stream_error(self._vendor, data)
        # Groq reports usage under x_groq.usage (and, lately, also at the top level, read after this).
        x_groq = chunk.get('x_groq')
        if x_groq and (usage := x_groq.get('usage')):
            self._usage = _map_usage(_usage_adapter().validate_python(usage))

    def _chunk_problem(self, data: str, exc: Exception) -> UnexpectedModelBehavior | None:
        """Why a chunk could not be read, or None if it is a kind of chunk to skip."""
        vendor = self._vendor
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return UnexpectedModelBehavior(f'{vendor} sent a stream event that is not JSON ({exc})', data)
        if isinstance(chunk, dict):
            if 'error' in chunk:
                return _stream_error(vendor, data)
            if 'choices' not in chunk:
                return None  # not a completion chunk (a vendor extension): skip it
        try:
            _chunk_adapter().validate_python(chunk)
        except ValidationError as validation_error:
            return _unexpected_body(vendor, 'stream chunk', validation_error, data)
        return UnexpectedModelBehavior(
            f'{vendor} sent a stream chunk modelkit could not read ({exc!r})', data
        )


# --------------------------------------------------------------------------------------------
# Usage
# --------------------------------------------------------------------------------------------


def _map_usage(usage: wire.CompletionUsage | None) -> Usage:
    """Our `Usage` from the wire's; only non-zero detail counts are kept."""
    if usage is None:
        return Usage()
    details: dict[str, int] = {}
    if (prompt := usage.prompt_tokens_details) is not None:
        if prompt.cached_tokens:
            details['cached_tokens'] = prompt.cached_tokens
        if prompt.audio_tokens:
            details['input_audio_tokens'] = prompt.audio_tokens
    if (completion := usage.completion_tokens_details) is not None:
        if completion.reasoning_tokens:
            details['reasoning_tokens'] = completion.reasoning_tokens
        if completion.audio_tokens:
            details['output_audio_tokens'] = completion.audio_tokens
        if completion.accepted_prediction_tokens:
            details['accepted_prediction_tokens'] = completion.accepted_prediction_tokens
        if completion.rejected_prediction_tokens:
            details['rejected_prediction_tokens'] = completion.rejected_prediction_tokens
    return Usage(
        request_tokens=usage.prompt_tokens,
        response_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        details=details or None,
    )


OpenAIChatModel = OpenAIModel
"""PydanticAI's current name for the chat-completions interface: the same class."""
