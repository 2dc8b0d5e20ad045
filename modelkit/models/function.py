"""`FunctionModel`: a model whose answers come from a function you write, for tests and prototypes.

`function(messages, info)` returns the whole `ModelResponse`; `stream_function(messages, info)`
yields text deltas (`str`) or tool-call deltas (`DeltaToolCalls`). The shapes are PydanticAI's, so
test code written for its `FunctionModel` ports with an import rename.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from dataclasses import replace
from typing import Any
from typing import TypeAlias

import anyio.to_thread

from ..exceptions import UserError
from ..messages import ModelMessage
from ..messages import ModelResponse
from ..messages import ModelResponseStreamEvent
from ..messages import PartStartEvent
from ..settings import ModelSettings
from ..tools import ToolDefinition
from ..usage import Usage
from . import ModelRequestParameters
from . import StreamedResponse
from . import _NamedStreamedResponse
from .test import _count_words
from .test import _LocalModel

__all__ = (
    'AgentInfo',
    'DeltaToolCall',
    'DeltaToolCalls',
    'FunctionDef',
    'FunctionModel',
    'FunctionStreamedResponse',
    'StreamFunctionDef',
)


@dataclass(frozen=True)
class AgentInfo:
    """What the agent offers this request: passed to your function so it can decide what to answer."""

    function_tools: list[ToolDefinition]
    """The tools the model may call."""
    allow_text_result: bool
    """Whether a plain-text answer ends the run."""
    result_tools: list[ToolDefinition]
    """Tools whose call carries the structured result (empty for a `str` result type)."""
    model_settings: ModelSettings | None
    """The settings for this request."""


@dataclass
class DeltaToolCall:
    """A piece of one streamed tool call: part of its name, a fragment of its JSON arguments, its id."""

    name: str | None = None
    json_args: str | None = None
    tool_call_id: str | None = None


DeltaToolCalls: TypeAlias = dict[int, DeltaToolCall]
"""Tool-call deltas keyed by the call's index in the response (pieces with one index join up)."""

FunctionDef: TypeAlias = Callable[[list[ModelMessage], AgentInfo], ModelResponse | Awaitable[ModelResponse]]
"""A sync or async function answering the conversation with a whole `ModelResponse`."""

StreamFunctionDef: TypeAlias = Callable[[list[ModelMessage], AgentInfo], AsyncIterator[str | DeltaToolCalls]]
"""An async generator answering the conversation in text deltas and tool-call deltas."""


class FunctionModel(_LocalModel):
    """A model that answers by calling your function (`request`) or stream function (`request_stream`)."""

    function: FunctionDef | None
    stream_function: StreamFunctionDef | None

    def __init__(
        self, function: FunctionDef | None = None, *, stream_function: StreamFunctionDef | None = None
    ) -> None:
        if function is None and stream_function is None:
            raise UserError('FunctionModel needs `function`, `stream_function`, or both')
        for name, fn in (('function', function), ('stream_function', stream_function)):
            if fn is not None and not callable(fn):
                raise UserError(f'FunctionModel: {name} must be callable, not {type(fn).__name__}')
        self.function = function
        self.stream_function = stream_function
        self._model_name = f'function:{_name_of(function)}:{_name_of(stream_function)}'

    async def _answer(
        self, messages: list[ModelMessage], settings: ModelSettings | None, params: ModelRequestParameters
    ) -> ModelResponse:
        """Call `function` and return its response."""
        if self.function is None:
            raise UserError(
                f'{self._model_name} has no `function`, so it only streams: use run_stream, '
                'or pass FunctionModel(function=...)'
            )
        info = _agent_info(settings, params)
        function = self.function
        if inspect.iscoroutinefunction(function):
            result: Any = await function(messages, info)
        else:
            # A sync function may block (sleep, file I/O); keep it off the event loop.
            result = await anyio.to_thread.run_sync(functools.partial(function, messages, info))
            if inspect.isawaitable(result):
                result = await result
        if not isinstance(result, ModelResponse):
            raise UserError(
                f'FunctionModel: the function must return a ModelResponse, not {type(result).__name__}'
            )
        if result.model_name is None:
            return replace(result, model_name=self._model_name)
        return result

    @asynccontextmanager
    async def _stream(
        self, messages: list[ModelMessage], settings: ModelSettings | None, params: ModelRequestParameters
    ) -> AsyncIterator[StreamedResponse]:
        """Call `stream_function` and stream what it yields; its first item is awaited before entry."""
        if self.stream_function is None:
            raise UserError(
                f'{self._model_name} has no `stream_function`, so it cannot stream: use run, '
                'or pass FunctionModel(stream_function=...)'
            )
        items: Any = self.stream_function(messages, _agent_info(settings, params))
        if inspect.isawaitable(items):  # an `async def` that returns an async iterator
            items = await items
        if not hasattr(items, '__anext__') and hasattr(items, '__aiter__'):
            items = aiter(items)
        if not hasattr(items, '__anext__'):
            raise UserError(
                'FunctionModel: stream_function must be an async generator (or return an async iterator), '
                f'not return {type(items).__name__}'
            )
        try:
            # Waiting for the first item here makes a failure at the start of the stream surface
            # when the stream is opened, as an HTTP error would (FallbackModel relies on that).
            first = await anext(items, _END)
            if first is _END:
                raise UserError('FunctionModel: stream_function yielded nothing; yield at least one item')
            yield FunctionStreamedResponse(_model_name=self._model_name, _first=first, _items=items)
        finally:
            # Close the user's generator here, in this task, not later in the garbage collector.
            aclose = getattr(items, 'aclose', None)
            if aclose is not None:
                await aclose()

    @property
    def model_name(self) -> str:
        """`function:<function name>:<stream function name>`."""
        return self._model_name

    @property
    def system(self) -> str:
        """Always `function`."""
        return 'function'

    def __repr__(self) -> str:
        return f'FunctionModel(model_name={self._model_name!r})'


_END: Any = object()


def _name_of(fn: Callable[..., Any] | None) -> str:
    if fn is None:
        return ''
    return str(getattr(fn, '__name__', type(fn).__name__))


def _agent_info(model_settings: ModelSettings | None, params: ModelRequestParameters) -> AgentInfo:
    return AgentInfo(params.function_tools, params.allow_text_result, params.result_tools, model_settings)


@dataclass
class FunctionStreamedResponse(_NamedStreamedResponse):
    """Turns what a stream function yields into our stream events."""

    _first: str | DeltaToolCalls
    _items: AsyncIterator[str | DeltaToolCalls]

    async def _get_event_iterator(self) -> AsyncIterator[ModelResponseStreamEvent]:
        item = self._first
        while item is not _END:
            for event in self._translate(item):
                yield event
            item = await anext(self._items, _END)

    def _translate(self, item: str | DeltaToolCalls) -> list[ModelResponseStreamEvent]:
        parts = self._parts_manager
        if isinstance(item, str):
            self._add_response_tokens(_count_words(item))
            # One vendor id for all text, as a vendor's single `content` field would give.
            event = parts.text_delta('content', item)
            return [event] if event is not None else []
        if not isinstance(item, dict):
            raise UserError(
                f'FunctionModel: stream_function must yield str or DeltaToolCalls, not {type(item).__name__}'
            )
        events: list[ModelResponseStreamEvent] = []
        for index, delta in item.items():
            if not isinstance(delta, DeltaToolCall):
                raise UserError(
                    f'FunctionModel: DeltaToolCalls values must be DeltaToolCall, not {type(delta).__name__}'
                )
            if delta.json_args:
                self._add_response_tokens(_count_words(delta.json_args))
            event = parts.tool_call_delta(index, delta.name, delta.json_args, delta.tool_call_id)
            if event is not None:
                if isinstance(event, PartStartEvent):
                    self._add_response_tokens(1)  # the 1 per call that the non-streamed estimate counts
                events.append(event)
        return events

    def _add_response_tokens(self, tokens: int) -> None:
        self._usage.incr(Usage(response_tokens=tokens, total_tokens=tokens))
