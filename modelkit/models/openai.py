"""OpenAI's chat-completions interface: `OpenAIModel`, for OpenAI and every OpenAI-compatible service.

The provider decides where requests go and how they are signed (OpenAI, Azure, DeepSeek, a local
Ollama, ...) and declares the dialect its service speaks (`Provider.openai_chat_profile`, see
`modelkit.profiles`); this module translates our messages to the chat-completions wire format and
the vendor's answers back, reading that profile wherever services differ. Sections, in the order
every interface module keeps: settings; the model (request, request_stream); mapping our messages
to the wire (`_map_*`); processing a response (`_process_*`); the streamed-response event loop; usage.

Token limit: `max_tokens` goes on the wire in the profile's `max_tokens_field`:
`max_completion_tokens` for OpenAI's own API (OpenAI deprecated `max_tokens`, and its reasoning
models reject it) and `max_tokens` everywhere else (most compatible servers only know that one,
and Azure API versions before 2024-09-01 reject the newer field). `openai_max_tokens_field`
overrides the choice per request (use it for o-series deployments on Azure).

A service whose wire is this one with a few differences is a profile plus hooks in a subclass:
`modelkit.models.mistral` (9-character tool-call ids through `tool_call_ids`, list content through
`completion_adapter`, `_content_parts` and `_content_events`) and `modelkit.models.groq` (its
`tool_use_failed` error through `_http_error`). Profile fields cover the rest: usage under
`x_groq` (`usage_extensions`), inline `<think>` text (`think_tags`); anything else a chunk carries
goes through `_process_chunk_extras`.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Literal
from typing import TypeAlias

import orjson
from pydantic_core import ValidationError

from .._fieldwise import fieldwise
from ..exceptions import UnexpectedModelBehavior
from ..exceptions import UserError
from ..messages import AudioUrl
from ..messages import BinaryContent
from ..messages import DocumentUrl
from ..messages import FinishReason
from ..messages import ModelMessage
from ..messages import ModelRequest
from ..messages import ModelResponse
from ..messages import ModelResponsePart
from ..messages import ModelResponseStreamEvent
from ..messages import TextPart
from ..messages import ThinkingPart
from ..messages import ToolCallPart
from ..parsers.sse import EventData
from ..parsers.sse import SSEDataDecoder
from ..parsers.sse import event_text
from ..profiles import OpenAIChatProfile
from ..settings import ModelSettings
from ..usage import Usage
from . import ModelRequestParameters
from ._kit import LazyAdapter
from ._kit import SettingsTable
from ._kit import ThinkTagSplitter
from ._kit import ToolCallIdRule
from ._kit import ToolCallIds
from ._kit import WireModel
from ._kit import WireStreamedResponse
from ._kit import chat_assistant_parts
from ._kit import chat_request_part
from ._kit import event_problem
from ._kit import json_request
from ._kit import map_settings
from ._kit import parse_event
from ._kit import stream_error
from ._kit import unexpected_body
from ._kit import wire_timestamp

if TYPE_CHECKING:
    import httpx

    from .._transport import HTTPRequest
    from .._transport import ResponseStream
    from ..providers import Provider
    from ..tools import ToolDefinition
    from ..wire import openai as wire

__all__ = (
    'OpenAIChatModel',
    'OpenAIModel',
    'OpenAIModelSettings',
    'OpenAIStreamedResponse',
    'OpenAISystemPromptRole',
)

Event: TypeAlias = ModelResponseStreamEvent

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
    """Ask for a final usage chunk when streaming; the default comes from the provider's profile
    (`OpenAIChatProfile.stream_include_usage`), since some compatible servers reject `stream_options`."""
    openai_max_tokens_field: Literal['max_tokens', 'max_completion_tokens']
    """Which wire field carries `max_tokens`; see the module docstring for the default."""
    openai_send_back_thinking: bool
    """Send earlier `ThinkingPart`s back inside `<think>` tags in the assistant text.

    Off by default: the reasoning is dropped from the history, which saves tokens and is what
    DeepSeek asks for; models that reason inline (gpt-oss, QwQ on Groq) may do better with it on.
    """


# Settings that map one-to-one onto a wire field (`seed` and `max_tokens` follow the profile).
_SETTINGS_TO_WIRE: SettingsTable = (
    ('temperature', 'temperature'),
    ('top_p', 'top_p'),
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


class OpenAIModel(WireModel[str]):
    """A model behind OpenAI's chat-completions API: OpenAI itself or any OpenAI-compatible service.

    `provider` is a provider name (`'openai'`, `'deepseek'`, `'azure'`, ...; `default_provider` when
    not given) or a `Provider`. The
    shorthand `api_key`, `base_url`, `openai_client` and `http_client` build the named provider
    with those arguments, e.g. `OpenAIModel('gpt-4o', api_key='...')`. `profile` replaces the
    provider's declared dialect (`Provider.openai_chat_profile`) for this model.
    """

    default_provider: ClassVar[str] = 'openai'
    settings_table: ClassVar[SettingsTable]
    """The settings that go on the wire one-to-one (a dialect's subclass adds its own)."""
    tool_call_ids: ClassVar[ToolCallIdRule | None] = None
    """The tool-call ids the service accepts; None sends the history's ids as they are."""
    streamed_response_class: ClassVar[type[OpenAIStreamedResponse]]
    completion_adapter: ClassVar[LazyAdapter[Any]]
    """The schema a whole chat completion is validated with (a dialect's may differ: Mistral's)."""

    system_prompt_role: OpenAISystemPromptRole | None

    def __init__(
        self,
        model_name: str,
        *,
        provider: str | Provider | None = None,
        system_prompt_role: OpenAISystemPromptRole | None = None,
        system: str | None = None,
        profile: OpenAIChatProfile | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        openai_client: Any = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._connect(
            model_name,
            provider,
            system,
            api_key=api_key,
            base_url=base_url,
            openai_client=openai_client,
            http_client=http_client,
        )
        self._profile = profile or self._provider.openai_chat_profile
        self.system_prompt_role = system_prompt_role

    @property
    def profile(self) -> OpenAIChatProfile:
        """The dialect this model's requests are written in and its answers read with."""
        return self._profile

    def _new_streamed_response(self, stream: ResponseStream) -> OpenAIStreamedResponse:
        return self.streamed_response_class(
            _model_name=self._model_name,
            _stream=stream,
            _vendor=self._provider.name,
            _profile=self._profile,
            _whole_body=self._process_response,
        )

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
        return json_request(self._provider, '/chat/completions', body, settings, model_name=self._model_name)

    def _map_body(
        self,
        messages: list[ModelMessage],
        settings: OpenAIModelSettings,
        params: ModelRequestParameters,
        *,
        stream: bool,
    ) -> dict[str, Any]:
        profile = self._profile
        body: dict[str, Any] = {
            'model': self._model_name,
            'messages': self._map_messages(messages, settings.get('openai_send_back_thinking', False)),
            'stream': stream,
        }
        if stream and settings.get('openai_stream_include_usage', profile.stream_include_usage):
            body['stream_options'] = {'include_usage': True}
        tools = [self._map_tool(tool) for tool in (*params.function_tools, *params.result_tools)]
        if tools:
            body['tools'] = tools
            # Without the "required" value the model may answer in text the agent cannot accept.
            body['tool_choice'] = (
                profile.tool_choice_auto if params.allow_text_result else profile.tool_choice_required
            )
            if 'parallel_tool_calls' in settings:
                body['parallel_tool_calls'] = settings['parallel_tool_calls']
        if params.result_json_schema is not None:
            body['response_format'] = _map_response_format(params)
        if 'max_tokens' in settings:
            body[settings.get('openai_max_tokens_field', profile.max_tokens_field)] = settings['max_tokens']
        if 'seed' in settings:
            body[profile.seed_field] = settings['seed']
        map_settings(settings, self.settings_table, body)
        return body

    def _map_messages(self, messages: list[ModelMessage], send_back_thinking: bool) -> list[dict[str, Any]]:
        system_role = self.system_prompt_role or self._profile.system_role
        ids = ToolCallIds(self.tool_call_ids) if self.tool_call_ids is not None else None
        out: list[dict[str, Any]] = []
        for message in messages:
            if isinstance(message, ModelRequest):
                out.extend(
                    chat_request_part(part, _map_media, system_role=system_role, ids=ids)
                    for part in message.parts
                )
            else:
                out.append(_map_response(message, send_back_thinking, ids))
        return out

    def _map_tool(self, tool: ToolDefinition) -> dict[str, Any]:
        function: dict[str, Any] = {
            'name': tool.name,
            'description': tool.description,
            'parameters': tool.parameters_json_schema,
        }
        if tool.strict is not None and self._profile.strict_tools:
            function['strict'] = tool.strict
        return {'type': 'function', 'function': function}

    # ----------------------------------------------------------------------------------------
    # Processing a response
    # ----------------------------------------------------------------------------------------

    def _process_response(self, body: bytes) -> tuple[ModelResponse, Usage]:
        vendor = self._provider.name
        try:
            completion = self.completion_adapter.validate_json(body)
        except ValidationError as exc:
            raise unexpected_body(vendor, 'chat completion', exc, body) from exc
        if not completion.choices:
            raise UnexpectedModelBehavior(f'{vendor} returned a chat completion with no choices', body)
        choice = completion.choices[0]
        message = choice.message
        parts: list[ModelResponsePart] = []
        if reasoning := _reasoning_of(message, self._profile.reasoning_fields):
            parts.append(ThinkingPart(reasoning))
        if message.content:
            parts.extend(self._content_parts(message.content))
        elif message.refusal:
            # A refusal replaces the content; keep it rather than return an empty response.
            parts.append(TextPart(message.refusal))
        for call in message.tool_calls or ():
            parts.append(ToolCallPart(call.function.name, call.function.arguments, call.id))
        response = ModelResponse(
            parts,
            model_name=completion.model or self._model_name,
            timestamp=wire_timestamp(completion.created),
            finish_reason=_FINISH_REASONS.get(choice.finish_reason or ''),
            vendor_finish_reason=choice.finish_reason,
            vendor_id=completion.id,
        )
        return response, _map_usage(completion.usage, self._profile)

    def _content_parts(self, content: Any) -> list[ModelResponsePart]:
        """The parts of a whole answer's `content`: its text, split at the profile's `think_tags`.

        A dialect whose content may be something other than a string (Mistral's list of chunks)
        overrides this.
        """
        tags = self._profile.think_tags
        if tags is None:
            return [TextPart(content)]
        return [
            ThinkingPart(text) if thinking else TextPart(text)
            for thinking, _, text in ThinkTagSplitter(*tags).split(content)
            if text.strip()
        ]


# --------------------------------------------------------------------------------------------
# Mapping our messages to the wire: helpers
# --------------------------------------------------------------------------------------------


def _map_response(
    message: ModelResponse, send_back_thinking: bool, ids: ToolCallIds | None
) -> dict[str, Any]:
    texts, tool_calls, _ = chat_assistant_parts(message, ids, _think_tagged if send_back_thinking else None)
    wire_message: dict[str, Any] = {'role': 'assistant'}
    if texts:
        wire_message['content'] = '\n\n'.join(texts)
    if tool_calls:
        wire_message['tool_calls'] = tool_calls
    elif not texts:
        # OpenAI rejects an assistant message with neither content nor tool calls.
        wire_message['content'] = ''
    return wire_message


def _think_tagged(thinking: str) -> str:
    return f'<think>\n{thinking}\n</think>'


def _map_media(item: AudioUrl | DocumentUrl | BinaryContent) -> dict[str, Any]:
    if isinstance(item, BinaryContent):
        return _map_binary(item)
    what = 'audio' if isinstance(item, AudioUrl) else 'documents'
    raise UserError(
        f'OpenAI chat completions cannot fetch {what} from a URL ({item.url}): '
        'download it and pass the bytes as BinaryContent(data=..., media_type=...)'
    )


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

_COMPLETION: LazyAdapter[wire.ChatCompletion] = LazyAdapter('modelkit.wire.openai', 'ChatCompletion')
_CHUNK: LazyAdapter[wire.ChatCompletionChunk] = LazyAdapter('modelkit.wire.openai', 'ChatCompletionChunk')
_USAGE: LazyAdapter[wire.CompletionUsage] = LazyAdapter('modelkit.wire.openai', 'CompletionUsage')


def _reasoning_of(message: object, fields: tuple[str, ...]) -> str | None:
    for name in fields:
        value = getattr(message, name, None)
        if value and isinstance(value, str):
            return value
    return None


# --------------------------------------------------------------------------------------------
# The streamed-response event loop
# --------------------------------------------------------------------------------------------

_NO_FUNCTION: dict[str, Any] = {}
_ARGS_TYPES = (str, dict)  # arguments are a JSON string; a few compatible servers send an object
# What a chunk of an unexpected shape trips over in the lookups below; `_chunk_problem` names it.
_READ_ERRORS = (KeyError, TypeError, AttributeError, IndexError, ValueError, OverflowError)


@fieldwise
@dataclass(repr=False, eq=False)
class OpenAIStreamedResponse(WireStreamedResponse[EventData]):
    """A chat completion arriving as server-sent events, translated into our part events.

    Hooks for a dialect's subclass: `_process_chunk_extras` (a chunk's vendor extensions),
    `_content_events` (content that is not a string) and `chunk_adapter` (the chunk schema that
    names what was wrong with a chunk that could not be read).
    """

    _profile: OpenAIChatProfile = field(default_factory=OpenAIChatProfile)
    _whole_body: Callable[[bytes], tuple[ModelResponse, Usage]] | None = None
    """The model's reading of a whole completion, for a server that ignored `stream: true`."""
    _started: bool = field(default=False, init=False)
    _think: ThinkTagSplitter | None = field(default=None, init=False)

    end_expected: ClassVar[str] = 'a finish reason or [DONE]'
    chunk_adapter: ClassVar[LazyAdapter[Any]]

    def __post_init__(self) -> None:
        if (tags := self._profile.think_tags) is not None:
            self._think = ThinkTagSplitter(*tags)

    def _new_parser(self) -> SSEDataDecoder:
        return SSEDataDecoder()

    def _process_whole_body(self, body: bytes) -> tuple[ModelResponse, Usage] | None:
        # A server that ignored `stream: true` (some gateways and caches do) sent a whole completion.
        return self._whole_body(body) if self._whole_body is not None else None

    def _process_event(self, event: EventData) -> Event | Iterator[Event] | None:
        # The hot path: one orjson.loads and a few dict lookups per chunk, no pydantic. A chunk that
        # is only a text delta is handled here; anything else goes to `_process_chunk`, and anything
        # the lookups trip over to `_chunk_problem`, which validates the chunk to name the problem.
        kind, data = event
        if kind != 'message':
            if kind == 'error':
                raise stream_error(self._vendor, event_text(data))
            return None  # an event type we do not know: skip it
        # `data` is the payload's bytes where the decoder kept them: its text is made only if needed.
        if data == b'[DONE]' or data == '[DONE]':
            self._end_seen = True
            return self._flush_text()
        try:
            chunk = orjson.loads(data)
            choices = chunk['choices']
            if choices and self._started:
                choice = choices[0]
                delta = choice['delta']
                if (
                    len(delta) == 1
                    and (content := delta.get('content')).__class__ is str
                    and choice.get('finish_reason') is None
                    # `in` before the lookup: a text delta's chunk has no `usage` key, and the
                    # test costs less than a `.get` call.
                    and ('usage' not in chunk or not chunk['usage'])
                ):
                    think = self._think
                    if think is None:
                        return self._parts_manager.text_delta('content', content)
                    if think.watch not in content:
                        # Nearly every delta of a dialect with think tags: no tag can start in it, so
                        # it goes to the current segment's part (keyed as `_segment_delta` keys it)
                        # with no call to the splitter.
                        if think.inside:
                            return self._parts_manager.thinking_delta(~think.segment, content)
                        return self._parts_manager.text_delta(~think.segment, content)
                    return self._tagged_text(think.feed(content))
        except _READ_ERRORS as exc:
            self._skip_or_raise(event_text(data), exc)
            return None
        return self._process_chunk(chunk, event_text(data))

    def _skip_or_raise(self, data: str, exc: Exception) -> None:
        problem = self._chunk_problem(data, exc)
        if problem is not None:
            raise problem from exc

    def _process_chunk(self, chunk: dict[str, Any], data: str) -> Iterator[Event]:
        """Any chunk but a plain text delta: the first one, reasoning, tool calls, finish, usage."""
        try:
            yield from self._process_chunk_parts(chunk, data)
        except _READ_ERRORS as exc:
            self._skip_or_raise(data, exc)

    def _process_chunk_parts(self, chunk: dict[str, Any], data: str) -> Iterator[Event]:
        if not self._started:
            self._started = True
            self._start(chunk)
        choices = chunk['choices']
        if choices:
            choice = choices[0]
            delta = choice.get('delta')
            if delta:
                yield from self._process_delta(delta)
            finish_reason = choice.get('finish_reason')
            if finish_reason is not None:
                if self._think is not None:
                    yield from self._tagged_text(self._think.flush())
                self._vendor_finish_reason = finish_reason
                self._finish_reason = _FINISH_REASONS.get(finish_reason)
                if finish_reason == 'error' or 'error' in chunk:
                    raise stream_error(self._vendor, data)
                self._process_chunk_extras(chunk)
        elif 'error' in chunk:
            raise stream_error(self._vendor, data)
        else:
            self._process_chunk_extras(chunk)
        usage = chunk.get('usage')
        if usage:
            self._usage = _map_usage(_USAGE.validate_python(usage), self._profile)

    def _process_delta(self, delta: dict[str, Any]) -> Iterator[Event]:
        parts = self._parts_manager
        content = delta.get('content')
        if content:
            if content.__class__ is not str:
                yield from self._content_events(content)
            elif self._think is not None:
                yield from self._tagged_text(self._think.feed(content))
            elif (ev := parts.text_delta('content', content)) is not None:
                yield ev
        for key in self._profile.reasoning_fields:
            reasoning = delta.get(key)
            if reasoning:
                if reasoning.__class__ is not str:
                    raise TypeError('delta reasoning is not a string')
                if (ev := parts.thinking_delta('reasoning', reasoning)) is not None:
                    yield ev
                break
        for position, call in enumerate(delta.get('tool_calls') or ()):
            function = call.get('function') or _NO_FUNCTION
            name, args, call_id = function.get('name'), function.get('arguments'), call.get('id')
            if (
                (name is not None and name.__class__ is not str)
                or (call_id is not None and call_id.__class__ is not str)
                or (args is not None and args.__class__ not in _ARGS_TYPES)
            ):
                raise TypeError('a tool call field has the wrong type')
            if (ev := parts.tool_call_delta(call.get('index', position), name, args, call_id)) is not None:
                yield ev
        refusal = delta.get('refusal')
        if refusal:
            if refusal.__class__ is not str:
                raise TypeError('delta.refusal is not a string')
            if (ev := parts.text_delta('refusal', refusal)) is not None:
                yield ev

    def _content_events(self, content: object) -> Iterator[Event]:
        """The events of a delta's non-string `content`; OpenAI only sends strings, so this refuses."""
        raise TypeError('delta.content is not a string')

    def _tagged_text(self, segments: list[tuple[bool, int, str]]) -> Iterator[Event]:
        """Text split at the profile's `think_tags`: each stretch between tags is its own part."""
        for thinking, segment, text in segments:
            if (ev := self._segment_delta(thinking, segment, text)) is not None:
                yield ev

    def _segment_delta(self, thinking: bool, segment: int, text: str) -> Event | None:
        # Part key `~segment` (-1, -2, ...): cheap to hash, and apart from tool calls' indexes (>= 0).
        if thinking:
            return self._parts_manager.thinking_delta(~segment, text)
        return self._parts_manager.text_delta(~segment, text)

    def _flush_text(self) -> Iterator[Event] | None:
        return self._tagged_text(self._think.flush()) if self._think is not None else None

    def _process_chunk_extras(self, chunk: dict[str, Any]) -> None:
        """Read a chunk's vendor extensions: called for a chunk with a finish reason and for one with
        no choices. By default, usage under the profile's `usage_extensions` (Groq's `x_groq.usage`)."""
        for key in self._profile.usage_extensions:
            extension = chunk.get(key)
            if extension and (usage := extension.get('usage')):
                self._usage = _map_usage(_USAGE.validate_python(usage), self._profile)

    def _start(self, chunk: dict[str, Any]) -> None:
        if isinstance(vendor_id := chunk.get('id'), str):
            self._vendor_id = vendor_id
        if isinstance(model := chunk.get('model'), str) and model:
            self._model_name = model
        if 'created' in chunk:
            self._timestamp = wire_timestamp(chunk['created'])

    def _chunk_problem(self, data: str, exc: Exception) -> UnexpectedModelBehavior | None:
        """Why a chunk could not be read, or None if it is a kind of chunk to skip."""
        chunk = parse_event(data)
        if isinstance(chunk, dict):
            if 'error' in chunk:
                return stream_error(self._vendor, data)
            if 'choices' not in chunk:
                return None  # not a completion chunk (a vendor extension): skip it
        return event_problem(
            self._vendor, 'stream chunk', data, exc, self.chunk_adapter.validate_python, payload=chunk
        )


OpenAIModel.streamed_response_class = OpenAIStreamedResponse
OpenAIModel.completion_adapter = _COMPLETION
OpenAIModel.settings_table = _SETTINGS_TO_WIRE
OpenAIStreamedResponse.chunk_adapter = _CHUNK


# --------------------------------------------------------------------------------------------
# Usage
# --------------------------------------------------------------------------------------------


def _map_usage(usage: wire.CompletionUsage | None, profile: OpenAIChatProfile) -> Usage:
    """Our `Usage` from the wire's; only non-zero detail counts are kept."""
    if usage is None:
        return Usage()
    details: dict[str, int] = {}
    if (prompt := usage.prompt_tokens_details) is not None:
        if prompt.cached_tokens:
            details['cached_tokens'] = prompt.cached_tokens
        if prompt.audio_tokens:
            details['input_audio_tokens'] = prompt.audio_tokens
    if 'cached_tokens' not in details and profile.cached_tokens_fields:
        extra = usage.model_extra or {}
        cached = next((extra[name] for name in profile.cached_tokens_fields if extra.get(name)), None)
        if isinstance(cached, int) and not isinstance(cached, bool):
            details['cached_tokens'] = cached
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
