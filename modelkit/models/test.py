"""`TestModel`: a deterministic model for unit tests that needs no network and no API key.

On the first request it calls every function tool once, with arguments generated from the tool's
JSON schema; once the tool returns are back it answers with text summarising them, or calls the
result tool with arguments generated from that tool's schema. Same constructor and behaviour as
PydanticAI's `TestModel`, so tests written for it port with an import rename.
"""

from __future__ import annotations

import re
import time
from abc import abstractmethod
from collections.abc import AsyncIterator
from collections.abc import Iterable
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from typing import Literal
from typing import Protocol

from .._schema_values import generate_from_schema
from ..exceptions import UserError
from ..messages import ModelMessage
from ..messages import ModelRequest
from ..messages import ModelResponse
from ..messages import ModelResponsePart
from ..messages import ModelResponseStreamEvent
from ..messages import RetryPromptPart
from ..messages import SystemPromptPart
from ..messages import TextPart
from ..messages import ThinkingPart
from ..messages import ToolCallPart
from ..messages import ToolReturnPart
from ..messages import UserPromptPart
from ..messages import _to_json
from ..settings import ModelSettings
from ..tools import ToolDefinition
from ..usage import Usage
from . import Model
from . import ModelRequestParameters
from . import StreamedResponse
from . import _NamedStreamedResponse

__all__ = ('TestModel', 'TestStreamedResponse', 'generate_from_schema')


class _CallMaker(Protocol):
    def __call__(
        self, tool: ToolDefinition, index: int, args: dict[str, Any] | None = None
    ) -> ToolCallPart: ...


class _LocalModel(Model):
    """A model answered in-process (`TestModel`, `FunctionModel`): it makes no request, so its usage
    is estimated from the words sent and answered, and a stream is timed from when it was asked for.

    A subclass writes `_answer` (the whole response) and `_stream` (an async context manager
    yielding the streamed response); the usage and timing are added here for both.
    """

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> tuple[ModelResponse, Usage]:
        """The whole answer, with a usage estimated from word counts."""
        response = await self._answer(messages, model_settings, model_request_parameters)
        return response, estimate_usage(messages, response)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> AsyncIterator[StreamedResponse]:
        """Stream the answer; its usage is estimated from word counts as it streams."""
        started_at = time.perf_counter()
        async with self._stream(messages, model_settings, model_request_parameters) as stream:
            # The request's words are known now; the response's are added as the stream runs.
            stream._usage = estimate_usage(messages, None)
            stream.attach_timing(started_at)
            yield stream

    @abstractmethod
    async def _answer(
        self, messages: list[ModelMessage], settings: ModelSettings | None, params: ModelRequestParameters
    ) -> ModelResponse:
        """The whole response to the conversation."""
        raise NotImplementedError

    @abstractmethod
    def _stream(
        self, messages: list[ModelMessage], settings: ModelSettings | None, params: ModelRequestParameters
    ) -> AbstractAsyncContextManager[StreamedResponse]:
        """The streamed response to the conversation, opened (its first item awaited) on entry."""
        raise NotImplementedError


class TestModel(_LocalModel):
    """A model that calls your tools with schema-valid arguments and answers deterministically.

    - `call_tools`: `'all'` function tools, or a list of the names to call on the first request.
    - `custom_result_text`: the plain-text answer to give instead of the summary of tool returns.
    - `custom_result_args`: the arguments of the result-tool call (structured `result_type`).
    - `seed`: varies the generated values (which enum member, which string, ...), deterministically.
    """

    # Tell pytest this is not a test class, even when imported into a test module's namespace.
    __test__ = False

    call_tools: list[str] | Literal['all']
    custom_result_text: str | None
    custom_result_args: Any | None
    seed: int
    last_model_request_parameters: ModelRequestParameters | None
    """The parameters of the most recent request, for assertions on the tools the agent offered."""

    def __init__(
        self,
        *,
        call_tools: Sequence[str] | Literal['all'] = 'all',
        custom_result_text: str | None = None,
        custom_result_args: Any | None = None,
        seed: int = 0,
    ) -> None:
        if custom_result_text is not None and custom_result_args is not None:
            raise UserError('TestModel: set custom_result_text or custom_result_args, not both')
        if call_tools != 'all':
            if isinstance(call_tools, str) or not all(isinstance(name, str) for name in call_tools):
                raise UserError(
                    f"TestModel: call_tools must be 'all' or a list of tool names, not {call_tools!r}"
                )
            call_tools = list(call_tools)
        self.call_tools = call_tools
        self.custom_result_text = custom_result_text
        self.custom_result_args = custom_result_args
        self.seed = seed
        self.last_model_request_parameters = None

    async def _answer(
        self, messages: list[ModelMessage], settings: ModelSettings | None, params: ModelRequestParameters
    ) -> ModelResponse:
        """Answer at once, without any I/O."""
        self.last_model_request_parameters = params
        return self._respond(messages, params)

    @asynccontextmanager
    async def _stream(
        self, messages: list[ModelMessage], settings: ModelSettings | None, params: ModelRequestParameters
    ) -> AsyncIterator[StreamedResponse]:
        """Stream the same answer `request` gives: text word by word, each tool call as one part."""
        response = await self._answer(messages, settings, params)
        yield TestStreamedResponse(_model_name=self.model_name, _response=response)

    @property
    def model_name(self) -> str:
        """Always `test`."""
        return 'test'

    @property
    def system(self) -> str:
        """Always `test`."""
        return 'test'

    def __repr__(self) -> str:
        return (
            f'TestModel(call_tools={self.call_tools!r}, custom_result_text={self.custom_result_text!r}, '
            f'custom_result_args={self.custom_result_args!r}, seed={self.seed!r})'
        )

    # ----------------------------------------------------------------------------------------
    # Deciding what to answer
    # ----------------------------------------------------------------------------------------

    def _respond(self, messages: list[ModelMessage], params: ModelRequestParameters) -> ModelResponse:
        tools = self._tools_to_call(params)
        # Tool call ids must be unique across the run, so they carry the turn number; they are
        # fixed strings rather than random ones so snapshots of a run stay stable.
        turn = sum(1 for message in messages if isinstance(message, ModelResponse))

        def call(tool: ToolDefinition, index: int, args: dict[str, Any] | None = None) -> ToolCallPart:
            if args is None:
                args = self._tool_args(tool)
            return ToolCallPart(tool.name, args, f'call_test_{turn}_{index}')

        def respond(parts: list[ModelResponsePart]) -> ModelResponse:
            has_calls = any(isinstance(part, ToolCallPart) for part in parts)
            return ModelResponse(
                parts, model_name=self.model_name, finish_reason='tool_call' if has_calls else 'stop'
            )

        # First request of a conversation: call the selected function tools, once each.
        if tools and turn == 0:
            return respond([call(tool, i) for i, tool in enumerate(tools)])

        # A retry prompt naming a tool: call that tool again (function or result tool).
        last = messages[-1] if messages else None
        if isinstance(last, ModelRequest):
            retry_names = [p.tool_name for p in last.parts if isinstance(p, RetryPromptPart) and p.tool_name]
            if retry_names:
                parts: list[ModelResponsePart] = [
                    call(tool, i) for i, tool in enumerate(tools) if tool.name in retry_names
                ]
                for tool in params.result_tools:
                    if tool.name in retry_names:
                        parts.append(call(tool, len(parts), self._result_args(tool)))
                if parts:
                    return respond(parts)

        return respond([self._final_part(messages, params, call)])

    def _final_part(
        self, messages: list[ModelMessage], params: ModelRequestParameters, call: _CallMaker
    ) -> ModelResponsePart:
        if self.custom_result_text is not None:
            if not params.allow_text_result:
                raise UserError(
                    'TestModel: custom_result_text is set, but this agent does not accept a text result'
                )
            return TextPart(self.custom_result_text)
        if self.custom_result_args is not None:
            if params.result_tools:
                tool = params.result_tools[0]
                return call(tool, 0, self._result_args(tool))
            if params.result_json_schema is not None:
                return TextPart(_to_json(self.custom_result_args).decode())
            raise UserError(
                'TestModel: custom_result_args is set, but this agent has no structured result type'
            )
        if params.result_json_schema is not None:
            value = generate_from_schema(params.result_json_schema, seed=self.seed)
            return TextPart(_to_json(value).decode())
        if params.allow_text_result or not params.result_tools:
            return TextPart(_summarise_tool_returns(messages))
        # Several result tools mean a union result type; the seed picks one (the first by default).
        tool = params.result_tools[self.seed % len(params.result_tools)]
        return call(tool, 0)

    def _tools_to_call(self, params: ModelRequestParameters) -> list[ToolDefinition]:
        if self.call_tools == 'all':
            return list(params.function_tools)
        by_name = {tool.name: tool for tool in params.function_tools}
        missing = [name for name in self.call_tools if name not in by_name]
        if missing:
            offered = ', '.join(sorted(by_name)) or 'none'
            raise UserError(
                f'TestModel: call_tools names unknown tools {missing}; the agent offers: {offered}'
            )
        return [by_name[name] for name in self.call_tools]

    def _tool_args(self, tool: ToolDefinition) -> dict[str, Any]:
        args = generate_from_schema(tool.parameters_json_schema, seed=self.seed)
        if not isinstance(args, dict):
            raise UserError(f'TestModel: the parameters schema of tool {tool.name!r} is not an object schema')
        return args

    def _result_args(self, tool: ToolDefinition) -> dict[str, Any]:
        if self.custom_result_args is None:
            return self._tool_args(tool)
        if tool.outer_typed_dict_key:
            return {tool.outer_typed_dict_key: self.custom_result_args}
        if not isinstance(self.custom_result_args, dict):
            raise UserError(
                f'TestModel: custom_result_args must be a dict for result tool {tool.name!r}, '
                f'not {type(self.custom_result_args).__name__}'
            )
        return self.custom_result_args


def _summarise_tool_returns(messages: list[ModelMessage]) -> str:
    returns: dict[str, Any] = {}
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, ToolReturnPart):
                    returns[part.tool_name] = part.content
    if not returns:
        return 'success (no tool calls)'
    return _to_json(returns).decode()


# --------------------------------------------------------------------------------------------
# Streaming
# --------------------------------------------------------------------------------------------

# A word with the whitespace after it, or leading whitespace alone: the chunks join back exactly.
_CHUNK = re.compile(r'\S+\s*|\s+')


@dataclass
class TestStreamedResponse(_NamedStreamedResponse):
    """Streams a `TestModel` answer that is already known in full."""

    __test__ = False

    _response: ModelResponse

    async def _get_event_iterator(self) -> AsyncIterator[ModelResponseStreamEvent]:
        for index, part in enumerate(self._response.parts):
            if isinstance(part, TextPart):
                for chunk in _CHUNK.findall(part.content):
                    self._usage.incr(_response_usage(_count_words(chunk)))
                    event = self._parts_manager.text_delta(index, chunk)
                    if event is not None:
                        yield event
            elif isinstance(part, ToolCallPart):
                self._usage.incr(_response_usage(_part_tokens(part)))
                yield self._parts_manager.tool_call(index, part.tool_name, part.args, part.tool_call_id)
        self._finish_reason = self._response.finish_reason


# --------------------------------------------------------------------------------------------
# Usage: a deterministic estimate from word counts
# --------------------------------------------------------------------------------------------

BASE_REQUEST_TOKENS = 50
"""Tokens counted for every request before its content, standing in for a vendor's prompt framing."""

_WORD_SEPARATORS = re.compile(r'[\s",.:]+')


def _count_words(text: str) -> int:
    return sum(1 for word in _WORD_SEPARATORS.split(text) if word)


def _content_tokens(content: str | Sequence[Any]) -> int:
    if isinstance(content, str):
        return _count_words(content)
    # Media has no word count; a byte estimate would swamp the text, so media counts as nothing.
    return sum(_count_words(item) for item in content if isinstance(item, str))


def _part_tokens(part: Any) -> int:
    if isinstance(part, SystemPromptPart | UserPromptPart):
        return _content_tokens(part.content)
    if isinstance(part, ToolReturnPart):
        return _count_words(part.model_response_str())
    if isinstance(part, RetryPromptPart):
        return _count_words(part.model_response())
    if isinstance(part, TextPart | ThinkingPart):
        return _count_words(part.content)
    if isinstance(part, ToolCallPart):
        return 1 + _count_words(part.args_as_json_str())
    return 0


def _response_usage(tokens: int) -> Usage:
    return Usage(response_tokens=tokens, total_tokens=tokens)


def estimate_usage(messages: Iterable[ModelMessage], response: ModelResponse | None) -> Usage:
    """A deterministic usage for one request: words of everything sent, and of `response` if given.

    Earlier responses in `messages` are input to this request, so they count as request tokens.
    """
    request_tokens = BASE_REQUEST_TOKENS
    for message in messages:
        request_tokens += sum(_part_tokens(part) for part in message.parts)
    response_tokens = sum(_part_tokens(part) for part in response.parts) if response is not None else 0
    return Usage(
        requests=1,
        request_tokens=request_tokens,
        response_tokens=response_tokens,
        total_tokens=request_tokens + response_tokens,
    )
