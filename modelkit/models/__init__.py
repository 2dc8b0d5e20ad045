"""The `Model` interface every vendor implements, the streamed response, and the model-string resolver.

A custom model subclasses `Model` (and `StreamedResponse` for streaming), exactly as for PydanticAI.
Vendor modules are imported only when a model string or class needs them.
"""

from __future__ import annotations

import itertools
import time
from abc import ABC
from abc import abstractmethod
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import asynccontextmanager
from contextlib import contextmanager
from dataclasses import InitVar
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from importlib import import_module
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Literal
from typing import Protocol
from typing import TypeAlias

from .._fieldwise import FACTORY
from .._fieldwise import fieldwise
from .._parts import PartsAssembler
from ..exceptions import ModelkitError
from ..exceptions import UserError
from ..messages import FinishReason
from ..messages import ModelMessage
from ..messages import ModelResponse
from ..messages import ModelResponseStreamEvent
from ..settings import ModelSettings
from ..usage import Usage

if TYPE_CHECKING:
    from ..tools import ToolDefinition

__all__ = (
    'ALLOW_MODEL_REQUESTS',
    'ArrivalClock',
    'KnownModelName',
    'Model',
    'ModelRequestParameters',
    'StreamTiming',
    'StreamedResponse',
    'check_allow_model_requests',
    'infer_model',
    'interface_for',
    'known_prefixes',
    'override_allow_model_requests',
)


@fieldwise
@dataclass(repr=False, eq=False)
class ModelRequestParameters:
    """What the agent asks of one request: the tools on offer and how the result may arrive."""

    function_tools: list[ToolDefinition] = field(default_factory=list)
    allow_text_result: bool = True
    result_tools: list[ToolDefinition] = field(default_factory=list)
    result_json_schema: dict[str, Any] | None = None
    """When set, ask the vendor for JSON matching this schema natively (OpenAI's `response_format`)
    instead of through a result tool; `result_schema_name` names it."""
    result_schema_name: str = 'final_result'
    result_schema_strict: bool | None = None
    # PydanticAI's current names, accepted when building (read `result_tools` / `allow_text_result`).
    # InitVars, not aliases kept in step: `dataclasses.replace` copies every field it is not
    # given, so two live names for one value would let the stale one win.
    output_tools: InitVar[list[ToolDefinition] | None] = None
    allow_text_output: InitVar[bool | None] = None

    def __post_init__(
        self, output_tools: list[ToolDefinition] | None, allow_text_output: bool | None
    ) -> None:
        if output_tools is not None:
            self.result_tools = output_tools
        if allow_text_output is not None:
            self.allow_text_result = allow_text_output


class Model(ABC):
    """A model the agent can talk to: one vendor wire format plus a model name."""

    @abstractmethod
    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> tuple[ModelResponse, Usage]:
        """Send the conversation and wait for the whole response."""
        raise NotImplementedError

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> AsyncIterator[StreamedResponse]:
        """Send the conversation and stream the response; the connection is released on exit."""
        raise NotImplementedError(f'Streamed requests are not supported by {self.__class__.__name__}')
        yield  # pragma: no cover  (makes this a generator for the decorator)

    def customize_request_parameters(
        self, model_request_parameters: ModelRequestParameters
    ) -> ModelRequestParameters:
        """Adjust tool schemas or result handling for this vendor before a request; the default keeps them."""
        return model_request_parameters

    @property
    @abstractmethod
    def model_name(self) -> str:
        """The vendor's name for the model, e.g. `gpt-4o`."""
        raise NotImplementedError

    @property
    @abstractmethod
    def system(self) -> str | None:
        """The vendor or provider, e.g. `openai` (the OpenTelemetry `gen_ai.system` value)."""
        raise NotImplementedError

    @property
    def base_url(self) -> str | None:
        """The base URL requests go to, where there is one."""
        return None

    def __repr__(self) -> str:
        return f'{type(self).__name__}(model_name={self.model_name!r})'


class ArrivalClock(Protocol):
    """Anything that knows when the latest bytes of a response arrived (the transport's stream)."""

    @property
    def last_arrival(self) -> float:
        """`time.perf_counter()` when the most recent body chunk arrived."""
        ...


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class StreamTiming:
    """When a streamed response's pieces arrived, on the `time.perf_counter()` clock.

    `event_times[i]` is when the bytes that completed event `i` reached the client (not when your
    code pulled the event), so slow consumers do not distort inter-token latency.
    """

    started_at: float | None = None
    """Just before the request was sent."""
    headers_at: float | None = None
    """When the response status and headers arrived."""
    event_times: list[float] = field(default_factory=list)

    def __init__(
        self,
        started_at: float | None = None,
        headers_at: float | None = None,
        event_times: list[float] = FACTORY,
    ) -> None:
        self.started_at = started_at
        self.headers_at = headers_at
        self.event_times = [] if event_times is FACTORY else event_times

    @property
    def first_event_at(self) -> float | None:
        """When the first content event arrived."""
        times = self.event_times
        return times[0] if times else None

    @property
    def time_to_first_token(self) -> float | None:
        """Seconds from sending the request to the first content event."""
        if self.started_at is None or self.first_event_at is None:
            return None
        return self.first_event_at - self.started_at

    def inter_event_gaps(self) -> list[float]:
        """Seconds between consecutive content events (inter-token latency)."""
        times = self.event_times
        return [b - a for a, b in itertools.pairwise(times)]


@fieldwise
@dataclass(repr=False, eq=False)
class StreamedResponse(ABC):
    """A response being streamed: iterate it for events, then `get()` the assembled `ModelResponse`.

    Subclasses implement `_get_event_iterator`, translating vendor events through `_parts_manager`
    and updating `_usage` as they go. Whoever opens the stream calls `attach_timing` once, before
    handing the response out; every event is then stamped with its arrival time.
    """

    _times_own_events: ClassVar[bool] = False
    """True for subclasses whose `_get_event_iterator` stamps `_timing` itself (the interface kit's
    loop does, once per chunk); the others are wrapped in a generator that stamps every event."""

    _parts_manager: PartsAssembler = field(default_factory=PartsAssembler, init=False)
    _event_iterator: AsyncIterator[ModelResponseStreamEvent] | None = field(default=None, init=False)
    _usage: Usage = field(default_factory=Usage, init=False)
    _timing: StreamTiming = field(default_factory=StreamTiming, init=False)
    _arrival_clock: ArrivalClock | None = field(default=None, init=False)
    _finish_reason: FinishReason | None = field(default=None, init=False)
    _vendor_finish_reason: str | None = field(default=None, init=False)
    _vendor_id: str | None = field(default=None, init=False)

    def __aiter__(self) -> AsyncIterator[ModelResponseStreamEvent]:
        """Iterate the response's events as they arrive."""
        if self._event_iterator is None:
            self._event_iterator = (
                self._get_event_iterator() if self._times_own_events else self._timed_events()
            )
        return self._event_iterator

    def attach_timing(
        self, started_at: float, *, headers_at: float | None = None, arrival_clock: ArrivalClock | None = None
    ) -> None:
        """Record when the request was sent (`time.perf_counter()`) and when its headers arrived
        (now, if not given); with `arrival_clock` each event gets the time its bytes arrived,
        otherwise the time it was produced."""
        timing = self._timing
        timing.started_at = started_at
        timing.headers_at = time.perf_counter() if headers_at is None else headers_at
        self._arrival_clock = arrival_clock

    async def _timed_events(self) -> AsyncIterator[ModelResponseStreamEvent]:
        timing = self._timing
        times = timing.event_times
        clock = self._arrival_clock
        perf_counter = time.perf_counter
        try:
            async for event in self._get_event_iterator():
                times.append(clock.last_arrival if clock is not None else perf_counter())
                yield event
        except ModelkitError as exc:
            # Whatever arrived before the failure is the caller's data, whatever the error: never
            # drop it.
            if exc.partial_response is None:
                exc.partial_response = self.get()
            raise

    @abstractmethod
    def _get_event_iterator(self) -> AsyncIterator[ModelResponseStreamEvent]:
        """Translate the vendor's stream into our events (an async generator)."""
        raise NotImplementedError

    def get(self) -> ModelResponse:
        """The response as assembled from what has arrived so far."""
        return ModelResponse(
            parts=list(self._parts_manager.get_parts()),
            model_name=self.model_name,
            timestamp=self.timestamp,
            finish_reason=self._finish_reason,
            vendor_finish_reason=self._vendor_finish_reason,
            vendor_id=self._vendor_id,
        )

    def usage(self) -> Usage:
        """Usage so far; final once the stream is exhausted."""
        return self._usage

    @property
    def timing(self) -> StreamTiming:
        """Arrival times of the headers, the first event and every event."""
        return self._timing

    @property
    @abstractmethod
    def model_name(self) -> str:
        """The model name the vendor reported for this response."""
        raise NotImplementedError

    @property
    @abstractmethod
    def timestamp(self) -> datetime:
        """When the response was created."""
        raise NotImplementedError


def _now() -> datetime:
    return datetime.now(tz=UTC)


# Only the fields: the concrete subclasses (dataclasses too) write the methods, so this class costs
# no generated code at import.
@dataclass(init=False, repr=False, eq=False)
class _NamedStreamedResponse(StreamedResponse):
    """A streamed response whose model name and timestamp are fields set when it opens (the kit's,
    `TestModel`'s and `FunctionModel`'s); a vendor's stream may replace them when it says otherwise."""

    _model_name: str
    # Keyword-only: subclasses add required fields after it.
    _timestamp: datetime = field(default_factory=_now, kw_only=True)

    @property
    def model_name(self) -> str:
        """The model that answered, as the vendor names it (the requested name until it says)."""
        return self._model_name

    @property
    def timestamp(self) -> datetime:
        """When the response was created: as the vendor says, or else when the stream opened."""
        return self._timestamp


ALLOW_MODEL_REQUESTS = True
"""Set to False (for example in a test suite) to make every real model request raise."""


def check_allow_model_requests() -> None:
    """Raise `RuntimeError` when `ALLOW_MODEL_REQUESTS` is False; call it from a model's request methods."""
    if not ALLOW_MODEL_REQUESTS:
        raise RuntimeError('Model requests are not allowed, since ALLOW_MODEL_REQUESTS is False')


@contextmanager
def override_allow_model_requests(allow_model_requests: bool) -> Iterator[None]:
    """Temporarily set `ALLOW_MODEL_REQUESTS`."""
    global ALLOW_MODEL_REQUESTS
    old = ALLOW_MODEL_REQUESTS
    ALLOW_MODEL_REQUESTS = allow_model_requests
    try:
        yield
    finally:
        ALLOW_MODEL_REQUESTS = old


# --------------------------------------------------------------------------------------------
# Model strings: "vendor:model-name"
# --------------------------------------------------------------------------------------------

# prefix -> (module, class, provider name passed to the class). Modules load only when used.
_MODEL_PREFIXES: dict[str, tuple[str, str, str]] = {
    'openai': ('openai', 'OpenAIModel', 'openai'),
    'azure': ('openai', 'OpenAIModel', 'azure'),
    'deepseek': ('openai', 'OpenAIModel', 'deepseek'),
    'openrouter': ('openai', 'OpenAIModel', 'openrouter'),
    'grok': ('openai', 'OpenAIModel', 'grok'),
    'ollama': ('openai', 'OpenAIModel', 'ollama'),
    'perplexity': ('openai', 'OpenAIModel', 'perplexity'),
    'fireworks': ('openai', 'OpenAIModel', 'fireworks'),
    'together': ('openai', 'OpenAIModel', 'together'),
    'anthropic': ('anthropic', 'AnthropicModel', 'anthropic'),
    'google-gla': ('gemini', 'GeminiModel', 'google-gla'),
    'google-vertex': ('gemini', 'GeminiModel', 'google-vertex'),
    'groq': ('groq', 'GroqModel', 'groq'),
    'mistral': ('mistral', 'MistralModel', 'mistral'),
    'cohere': ('cohere', 'CohereModel', 'cohere'),
    'bedrock': ('bedrock', 'BedrockConverseModel', 'bedrock'),
}
_PREFIX_ALIASES = {'vertexai': 'google-vertex', 'gemini': 'google-gla'}

KnownModelName: TypeAlias = Literal[
    'openai:gpt-4o',
    'openai:gpt-4o-mini',
    'openai:gpt-4.1',
    'openai:gpt-4.1-mini',
    'openai:o1',
    'openai:o3-mini',
    'anthropic:claude-3-5-sonnet-latest',
    'anthropic:claude-3-5-haiku-latest',
    'google-gla:gemini-2.0-flash',
    'google-vertex:gemini-2.0-flash',
    'groq:llama-3.3-70b-versatile',
    'mistral:mistral-large-latest',
    'cohere:command',
    'bedrock:anthropic.claude-3-sonnet-20240229-v1:0',
    'test',
]
"""Model strings known to work; any `prefix:name` with a known prefix is accepted too."""


def known_prefixes() -> list[str]:
    """Every model-string prefix `infer_model` accepts, plus `test`."""
    return [*_MODEL_PREFIXES, 'test']


def infer_model(model: Model | KnownModelName | str) -> Model:
    """Turn a model string like `openai:gpt-4o` into a `Model`; a `Model` is returned as it is."""
    if isinstance(model, Model):
        return model
    if model == 'test':
        from .test import TestModel

        return TestModel()
    model_cls, provider, model_name = interface_for(model)
    result: Model = model_cls(model_name, provider=provider)
    return result


def interface_for(model: str) -> tuple[Callable[..., Model], str, str]:
    """The interface class, provider name and model name a `prefix:name` string resolves to.

    Use it to build the same interface `infer_model` would, with a provider of your own.
    """
    prefix, sep, model_name = model.partition(':')
    if not sep:
        model_name = model
        prefix = _prefix_from_bare_name(model)
    prefix = _PREFIX_ALIASES.get(prefix, prefix)
    entry = _MODEL_PREFIXES.get(prefix)
    if entry is None or not model_name:
        valid = ', '.join(f'{p!r}' for p in known_prefixes())
        raise UserError(
            f'Unknown model {model!r}: expected "<prefix>:<model name>" with a prefix from {valid}'
        )
    module_name, class_name, provider = entry
    try:
        module = import_module(f'{__name__}.{module_name}')
    except ModuleNotFoundError as exc:
        if exc.name != f'{__name__}.{module_name}':
            raise
        raise UserError(
            f'The {prefix!r} interface (modelkit.models.{module_name}) is not in this version of modelkit yet'
        ) from None
    model_cls: Callable[..., Model] = getattr(module, class_name)
    return model_cls, provider, model_name


def _prefix_from_bare_name(name: str) -> str:
    # Older PydanticAI code passes bare names; keep them working for the unambiguous families.
    if name.startswith(('gpt', 'o1', 'o3', 'o4', 'chatgpt')):
        return 'openai'
    if name.startswith('claude'):
        return 'anthropic'
    if name.startswith('gemini'):
        return 'google-gla'
    return ''


def __getattr__(name: str) -> Any:
    # `ToolDefinition` used to be importable from here (as from PydanticAI's `models`); it now
    # loads on demand, so the interfaces do not pull `modelkit.tools` in at import.
    if name == 'ToolDefinition':
        from ..tools import ToolDefinition

        return ToolDefinition
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
