"""Small scripted `Model` subclasses for agent tests: the public extension point, no internals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelkit.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    ModelResponseStreamEvent,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
)
from modelkit.models import Model, ModelRequestParameters, StreamedResponse
from modelkit.settings import ModelSettings
from modelkit.usage import Usage

Step = ModelResponse | Callable[[list[ModelMessage], ModelRequestParameters], ModelResponse]

STEP_USAGE = Usage(request_tokens=10, response_tokens=5, total_tokens=15)


def text(content: str) -> ModelResponse:
    """A response of plain text."""
    return ModelResponse([TextPart(content)], model_name='scripted')


def calls(*parts: ToolCallPart | TextPart) -> ModelResponse:
    """A response of tool calls (and maybe text)."""
    return ModelResponse(list(parts), model_name='scripted')


def call(name: str, args: str | dict[str, Any] = '', call_id: str | None = None) -> ToolCallPart:
    """A tool call with a stable id derived from the tool name unless given."""
    return ToolCallPart(name, args, call_id or f'id_{name}')


@dataclass
class Sent:
    """One request as the model received it."""

    messages: list[ModelMessage]
    settings: ModelSettings | None
    params: ModelRequestParameters


class ScriptedModel(Model):
    """Answers each request with the next scripted response (or the result of a function of the request)."""

    def __init__(self, *steps: Step, chunk_size: int = 3, usage: Usage | None = None) -> None:
        self.steps = list(steps)
        self.sent: list[Sent] = []
        self.streams: list[ChunkedStream] = []
        """Every stream this model opened, for tests that look at its assembler afterwards."""
        self.chunk_size = chunk_size
        self.step_usage = usage or STEP_USAGE

    def _next(
        self, messages: list[ModelMessage], settings: ModelSettings | None, params: ModelRequestParameters
    ) -> ModelResponse:
        self.sent.append(Sent(messages, settings, params))
        if not self.steps:
            raise AssertionError('ScriptedModel ran out of responses')
        step = self.steps.pop(0)
        return step if isinstance(step, ModelResponse) else step(messages, params)

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> tuple[ModelResponse, Usage]:
        response = self._next(messages, model_settings, model_request_parameters)
        return response, self.step_usage + Usage()

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> AsyncIterator[StreamedResponse]:
        response = self._next(messages, model_settings, model_request_parameters)
        stream = ChunkedStream(response.parts, self.chunk_size, self.step_usage)
        self.streams.append(stream)
        yield stream

    @property
    def model_name(self) -> str:
        return 'scripted'

    @property
    def system(self) -> str:
        return 'scripted'


@dataclass
class ChunkedStream(StreamedResponse):
    """Streams known parts in pieces of `chunk_size` characters: text deltas and tool-argument deltas."""

    parts: Sequence[ModelResponsePart]
    chunk_size: int
    final_usage: Usage
    _created: datetime = field(default_factory=lambda: datetime.now(tz=UTC))

    async def _get_event_iterator(self) -> AsyncIterator[ModelResponseStreamEvent]:
        n = self.chunk_size
        for index, part in enumerate(self.parts):
            if isinstance(part, TextPart):
                for i in range(0, len(part.content), n):
                    event = self._parts_manager.text_delta(index, part.content[i : i + n])
                    if event is not None:
                        yield event
            elif isinstance(part, ToolCallPart):
                args = part.args_as_json_str()
                event = self._parts_manager.tool_call_delta(index, part.tool_name, '', part.tool_call_id)
                if event is not None:
                    yield event
                for i in range(0, len(args), n):
                    event = self._parts_manager.tool_call_delta(index, None, args[i : i + n])
                    if event is not None:
                        yield event
        self._usage = self.final_usage + Usage()

    @property
    def model_name(self) -> str:
        return 'scripted'

    @property
    def parts_built(self) -> int:
        """How many parts this stream's assembler has built (see `PartsAssembler.parts_built`)."""
        return self._parts_manager.parts_built

    @property
    def timestamp(self) -> datetime:
        return self._created


def last_request(messages: list[ModelMessage]) -> ModelRequest:
    """The last message, which the agent always makes a request."""
    message = messages[-1]
    assert isinstance(message, ModelRequest)
    return message


def retry_parts(messages: list[ModelMessage]) -> list[RetryPromptPart]:
    """Every retry prompt sent so far."""
    return [
        p for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, RetryPromptPart)
    ]
