"""What an agent run returns: `RunResult` from `run`/`run_sync`, `StreamedRunResult` from `run_stream`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic

from typing_extensions import TypeVar

from .exceptions import UnexpectedModelBehavior, UserError
from .messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ToolReturnPart,
)
from .usage import Usage

if TYPE_CHECKING:
    from .agent._run import RunState
    from .models import StreamedResponse, StreamTiming

__all__ = ('DEFAULT_DEBOUNCE_S', 'ResultDataT', 'RunResult', 'StreamedRunResult')

ResultDataT = TypeVar('ResultDataT', default=str, covariant=True)
"""The type of a run's result data."""

DEFAULT_DEBOUNCE_S = 0.1
"""How often, at most, `stream`, `stream_text` and `stream_structured` yield by default (as in
PydanticAI). Each yield reads the whole response so far (and `stream` validates it), so yielding per
event would cost time in proportion to the length so far on every event: quadratic over a long
result. `debounce_by=None` yields after every event, for code that needs each one."""


class _MessagesMixin:
    """Message-history accessors shared by both result types."""

    _result_tool_name: str | None

    def _history(self) -> tuple[list[ModelMessage], int]:
        raise NotImplementedError

    def all_messages(self, *, result_tool_return_content: str | None = None) -> list[ModelMessage]:
        """The whole conversation, history included; pass it as `message_history` to continue it.

        `result_tool_return_content` replaces the 'Final result processed.' text returned for
        the result tool call, for conversations that go on with a different instruction.
        """
        messages, _ = self._history()
        if result_tool_return_content is None:
            return list(messages)
        return self._replace_result_return(messages, result_tool_return_content)

    def new_messages(self, *, result_tool_return_content: str | None = None) -> list[ModelMessage]:
        """The messages of this run only."""
        _, start = self._history()
        return self.all_messages(result_tool_return_content=result_tool_return_content)[start:]

    def all_messages_json(self, *, result_tool_return_content: str | None = None) -> bytes:
        """`all_messages()` as JSON; `ModelMessagesTypeAdapter.validate_json` reads it back."""
        from .messages import ModelMessagesTypeAdapter

        return ModelMessagesTypeAdapter.dump_json(
            self.all_messages(result_tool_return_content=result_tool_return_content)
        )

    def new_messages_json(self, *, result_tool_return_content: str | None = None) -> bytes:
        """`new_messages()` as JSON."""
        from .messages import ModelMessagesTypeAdapter

        return ModelMessagesTypeAdapter.dump_json(
            self.new_messages(result_tool_return_content=result_tool_return_content)
        )

    def _replace_result_return(self, messages: list[ModelMessage], content: str) -> list[ModelMessage]:
        if self._result_tool_name is None:
            raise UserError(
                'result_tool_return_content applies only to results that came through a result tool'
            )
        last = messages[-1] if messages else None
        if not isinstance(last, ModelRequest):
            raise UserError('The run has not finished: there is no result tool return to replace')
        parts = [
            replace(part, content=content)
            if isinstance(part, ToolReturnPart) and part.tool_name == self._result_tool_name
            else part
            for part in last.parts
        ]
        return [*messages[:-1], ModelRequest(parts)]


@dataclass(repr=False)
class RunResult(_MessagesMixin, Generic[ResultDataT]):
    """The result of a finished run: its data, usage and messages."""

    data: ResultDataT
    """The validated result."""
    _all_messages: list[ModelMessage]
    _new_message_index: int
    _result_tool_name: str | None
    _usage: Usage

    def __repr__(self) -> str:
        return f'RunResult(data={self.data!r})'

    @property
    def output(self) -> ResultDataT:
        """PydanticAI's current name for `data`."""
        return self.data

    def _history(self) -> tuple[list[ModelMessage], int]:
        return self._all_messages, self._new_message_index

    def usage(self) -> Usage:
        """Requests and tokens used by the run."""
        return self._usage


class StreamedRunResult(_MessagesMixin, Generic[ResultDataT]):
    """The result of `run_stream`, arriving: stream its text or partial data, then read the final data.

    Only valid inside the `async with agent.run_stream(...)` block, which holds the connection.
    """

    is_complete: bool
    """Whether the stream has been read to its end and the result validated."""

    def __init__(
        self,
        state: RunState[Any],
        streamed: StreamedResponse,
        result_tool_name: str | None,
        on_complete: Callable[[ModelResponse], Awaitable[Any]],
    ) -> None:
        self._state = state
        self._streamed = streamed
        self._result_tool_name = result_tool_name
        self._on_complete = on_complete
        self._data: Any = None
        self._error: Exception | None = None
        self.is_complete = False

    def __repr__(self) -> str:
        return f'StreamedRunResult(is_complete={self.is_complete!r})'

    def _history(self) -> tuple[list[ModelMessage], int]:
        return self._state.messages, self._state.new_message_index

    def usage(self) -> Usage:
        """Requests and tokens used so far, including the response being streamed."""
        if self.is_complete:
            return self._state.usage
        return self._state.usage_with(self._streamed.usage())

    def timestamp(self) -> datetime:
        """When the streamed response was created."""
        return self._streamed.timestamp

    @property
    def timing(self) -> StreamTiming:
        """Arrival times of the final response's headers and events (for benchmarks)."""
        return self._streamed.timing

    async def _events(self, debounce_by: float | None) -> AsyncIterator[None]:
        """Yield after new events, at most once per `debounce_by` seconds; complete the run at the end.

        This throttles rather than waits for quiet: updates that arrive within `debounce_by` of the
        last yield are held until the next event or the end of the stream, which keeps it free of
        background tasks (and so safe inside any async generator, on asyncio and trio).
        """
        if self.is_complete:
            return
        last = time.monotonic()
        pending = False
        async for _ in self._streamed:
            pending = True
            if debounce_by is not None:
                now = time.monotonic()
                if now - last < debounce_by:
                    continue
                last = now
            pending = False
            yield
        if pending:
            yield
        await self._complete()

    async def _complete(self) -> None:
        if self.is_complete:
            return
        if self._error is not None:
            raise self._error  # the response is recorded once, so a failed completion is not redone
        try:
            self._data = await self._on_complete(self._streamed.get())
        except Exception as exc:
            self._error = exc
            raise
        self.is_complete = True

    async def stream_text(
        self, *, delta: bool = False, debounce_by: float | None = DEFAULT_DEBOUNCE_S
    ) -> AsyncIterator[str]:
        """Stream the text of a text result: the whole text so far, or only what is new with `delta=True`.

        Yields at most once per `debounce_by` seconds (pieces in between are joined, none is lost);
        `None` yields after every text event.
        """
        if self._result_tool_name is not None:
            raise UserError('stream_text() needs a text result; this result arrives through a result tool')
        if self.is_complete:
            raise UserError('The stream has already been consumed')
        text = ''.join(p.content for p in self._streamed.get().parts if isinstance(p, TextPart))
        if text:
            yield text
        pending: list[str] = []
        last = time.monotonic()
        async for event in self._streamed:
            if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
                pending.append(event.part.content)
            elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                pending.append(event.delta.content_delta)
            else:
                continue
            if debounce_by is not None:
                now = time.monotonic()
                if now - last < debounce_by:
                    continue
                last = now
            chunk = ''.join(pending)
            pending.clear()
            text += chunk
            yield chunk if delta else text
        if pending:
            chunk = ''.join(pending)
            text += chunk
            yield chunk if delta else text
        await self._complete()

    async def stream_structured(
        self, *, debounce_by: float | None = DEFAULT_DEBOUNCE_S
    ) -> AsyncIterator[tuple[ModelResponse, bool]]:
        """Stream the response as it is assembled, as `(response, is_last)`; the last one is complete.

        Yields at most once per `debounce_by` seconds; `None` yields after every event.
        """
        if self.is_complete:
            raise UserError('The stream has already been consumed')
        yield self._streamed.get(), False
        async for _ in self._events(debounce_by):
            yield self._streamed.get(), False
        yield self._streamed.get(), True

    async def stream(self, *, debounce_by: float | None = DEFAULT_DEBOUNCE_S) -> AsyncIterator[ResultDataT]:
        """Stream the result as it arrives: validated partial data (or text so far), then the final data.

        Partial data that does not validate yet (a required field still missing) is skipped;
        result validators run only on the final data. Partial data is validated at most once per
        `debounce_by` seconds (each validation reads the whole result so far); `None` validates
        after every event.
        """
        from pydantic import ValidationError

        if self.is_complete:
            raise UserError('The stream has already been consumed')
        schema = self._state.result_schema
        with contextlib.suppress(ValidationError):
            # What arrived while the agent looked for the start of the result.
            yield schema.validate_response(self._streamed.get(), self._result_tool_name, allow_partial=True)
        started = True
        # The inner generator is always run to its end (no early return): leaving it suspended
        # would have it finalised by the garbage collector, which trio reports as an error.
        async for _ in self._events(debounce_by):
            started = False
            try:
                yield schema.validate_response(
                    self._streamed.get(), self._result_tool_name, allow_partial=True
                )
            except ValidationError:
                continue
        if started:
            await self._complete()
        yield self._data

    def stream_output(self, *, debounce_by: float | None = None) -> AsyncIterator[ResultDataT]:
        """PydanticAI's current name for `stream`."""
        return self.stream(debounce_by=debounce_by)

    async def get_output(self) -> ResultDataT:
        """PydanticAI's current name for `get_data`."""
        return await self.get_data()

    async def get_data(self) -> ResultDataT:
        """Read the stream to its end and return the validated result."""
        if not self.is_complete:
            async for _ in self._events(None):
                pass
            await self._complete()
        data: ResultDataT = self._data
        return data

    async def validate_structured_result(self, message: ModelResponse, *, allow_partial: bool = False) -> Any:
        """Validate the result in `message` (e.g. one from `stream_structured`); validators do not run."""
        try:
            return self._state.result_schema.validate_response(
                message, self._result_tool_name, allow_partial=allow_partial
            )
        except ValueError as exc:
            raise UnexpectedModelBehavior(f'Invalid result: {exc}') from exc
