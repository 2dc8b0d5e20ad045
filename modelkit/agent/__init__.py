"""The `Agent`: a loop over `Model.request` (or `request_stream`) with tools and a typed result.

Each run sends the conversation, runs the tools the model calls (concurrently when it calls
several), sends their results back, and stops when the model gives a result that validates
against `result_type`, through a result tool, plain text, or native JSON output.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from types import NoneType
from typing import Any, Generic, TypeAlias, overload

from typing_extensions import TypeVar

from .._output import ResultMode, ResultSchema
from .._tool_schema import DocstringFormat
from ..exceptions import UserError
from ..messages import (
    FinalResultEvent,
    ModelMessage,
    ModelRequest,
    ModelRequestPart,
    PartStartEvent,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolCallPartDelta,
    UserContent,
    UserPromptPart,
)
from ..models import KnownModelName, Model, StreamedResponse, infer_model
from ..result import ResultDataT, RunResult, StreamedRunResult
from ..settings import ModelSettings, merge_model_settings
from ..tools import (
    AgentDepsT,
    RunContext,
    Tool,
    ToolFuncContext,
    ToolFuncEither,
    ToolFuncPlain,
    ToolParams,
    ToolPrepareFunc,
)
from ..usage import Usage, UsageLimits
from ._run import EndStrategy, FunctionRunner, RunState

__all__ = ('Agent', 'EndStrategy', 'RunContext', 'SystemPromptFunc')

RunResultDataT = TypeVar('RunResultDataT')
"""The result type of one run, when it overrides the agent's."""

SystemPromptFunc: TypeAlias = Callable[..., str | Awaitable[str]]
"""A system prompt function: `(ctx) -> str` or `() -> str`, sync or async."""
_SystemPromptFuncT = TypeVar('_SystemPromptFuncT', bound=SystemPromptFunc)
_ResultValidatorT = TypeVar('_ResultValidatorT', bound=Callable[..., Any])
_ToolFuncT = TypeVar('_ToolFuncT', bound=Callable[..., Any])


@dataclass(slots=True)
class _Override:
    value: Any


class Agent(Generic[AgentDepsT, ResultDataT]):
    """Runs a model with tools until it returns a result of `result_type`.

    ```python
    agent = Agent('openai:gpt-4o', system_prompt='Be concise.')
    result = agent.run_sync('Where were the 2012 olympics held?')
    print(result.data)
    ```
    """

    model: Model | KnownModelName | str | None
    """The default model of every run, or None to require `run(model=...)`."""
    name: str | None
    end_strategy: EndStrategy
    model_settings: ModelSettings | None
    result_type: Any
    result_mode: ResultMode

    def __init__(
        self,
        model: Model | KnownModelName | str | None = None,
        *,
        result_type: type[ResultDataT] = str,  # type: ignore[assignment]
        system_prompt: str | Sequence[str] = (),
        output_type: type[ResultDataT] | None = None,
        instructions: str | Sequence[str] | None = None,
        deps_type: type[AgentDepsT] = NoneType,  # type: ignore[assignment]
        name: str | None = None,
        model_settings: ModelSettings | None = None,
        retries: int = 1,
        result_tool_name: str = 'final_result',
        result_tool_description: str | None = None,
        result_retries: int | None = None,
        result_mode: ResultMode = 'tool',
        tools: Sequence[Tool[AgentDepsT] | ToolFuncEither[AgentDepsT, ...]] = (),
        defer_model_check: bool = False,
        end_strategy: EndStrategy = 'early',
    ) -> None:
        """Create an agent.

        `model` is a `Model` or a string like `openai:gpt-4o`, resolved now unless
        `defer_model_check` (then at the first run). `result_mode='native'` asks the vendor for
        JSON matching the result schema instead of using a result tool (OpenAI supports it).
        `retries` is every tool's default retry budget; `result_retries` (default `retries`) is
        the result's. `end_strategy='early'` skips other tool calls once a final result arrives.

        Today's PydanticAI names work too: `output_type` is `result_type`; `instructions` are
        sent ahead of every request but, unlike `system_prompt`, never kept in the message history.
        """
        if output_type is not None:
            if result_type is not str:
                raise UserError('give result_type or output_type (its newer name), not both')
            result_type = output_type
        if model is None or defer_model_check or isinstance(model, Model):
            self.model = model
        else:
            self.model = infer_model(model)
        self.name = name
        self.deps_type = deps_type
        self.end_strategy = end_strategy
        self.model_settings = model_settings
        self.result_type = result_type
        self.result_mode = result_mode
        self._result_tool_name = result_tool_name
        self._result_tool_description = result_tool_description
        self._result_schema = ResultSchema.build(
            result_type, name=result_tool_name, description=result_tool_description, mode=result_mode
        )
        self._system_prompts = (system_prompt,) if isinstance(system_prompt, str) else tuple(system_prompt)
        self._instructions = (instructions,) if isinstance(instructions, str) else tuple(instructions or ())
        self._system_prompt_functions: list[FunctionRunner] = []
        self._result_validators: list[FunctionRunner] = []
        self._default_retries = retries
        self._max_result_retries = result_retries if result_retries is not None else retries
        self._function_tools: dict[str, Tool[AgentDepsT]] = {}
        for tool in tools:
            self._register_tool(tool if isinstance(tool, Tool) else Tool(tool))
        self._override_deps: _Override | None = None
        self._override_model: _Override | None = None

    @property
    def output_type(self) -> Any:
        """PydanticAI's current name for `result_type`."""
        return self.result_type

    def __repr__(self) -> str:
        return f'Agent(model={self.model!r}, name={self.name!r}, end_strategy={self.end_strategy!r})'

    # ----------------------------------------------------------------------------------------
    # Running
    # ----------------------------------------------------------------------------------------

    @overload
    async def run(
        self,
        user_prompt: str | Sequence[UserContent],
        *,
        result_type: None = None,
        message_history: Sequence[ModelMessage] | None = None,
        model: Model | KnownModelName | str | None = None,
        deps: AgentDepsT = None,  # type: ignore[assignment]
        model_settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        usage: Usage | None = None,
        result_mode: ResultMode | None = None,
    ) -> RunResult[ResultDataT]: ...

    @overload
    async def run(
        self,
        user_prompt: str | Sequence[UserContent],
        *,
        result_type: type[RunResultDataT],
        message_history: Sequence[ModelMessage] | None = None,
        model: Model | KnownModelName | str | None = None,
        deps: AgentDepsT = None,  # type: ignore[assignment]
        model_settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        usage: Usage | None = None,
        result_mode: ResultMode | None = None,
    ) -> RunResult[RunResultDataT]: ...

    async def run(
        self,
        user_prompt: str | Sequence[UserContent],
        *,
        result_type: Any = None,
        message_history: Sequence[ModelMessage] | None = None,
        model: Model | KnownModelName | str | None = None,
        deps: AgentDepsT = None,  # type: ignore[assignment]
        model_settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        usage: Usage | None = None,
        result_mode: ResultMode | None = None,
    ) -> RunResult[Any]:
        """Run the agent until the model returns a valid result.

        `message_history` continues an earlier conversation (pass `result.all_messages()`);
        `usage` is a running total to add this run to; `usage_limits` defaults to 50 requests.
        """
        state = await self._start_run(
            user_prompt,
            result_type=result_type,
            message_history=message_history,
            model=model,
            deps=deps,
            model_settings=model_settings,
            usage_limits=usage_limits,
            usage=usage,
            result_mode=result_mode,
        )
        while True:
            params = await state.request_parameters()
            response, response_usage = await state.model.request(
                state.request_messages(), state.model_settings, params
            )
            state.record_response(response, response_usage)
            final = await state.handle_response(response)
            if final is not None:
                return RunResult(
                    final.data, state.messages, state.new_message_index, final.tool_name, state.usage
                )

    @overload
    def run_sync(
        self,
        user_prompt: str | Sequence[UserContent],
        *,
        result_type: None = None,
        message_history: Sequence[ModelMessage] | None = None,
        model: Model | KnownModelName | str | None = None,
        deps: AgentDepsT = None,  # type: ignore[assignment]
        model_settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        usage: Usage | None = None,
        result_mode: ResultMode | None = None,
    ) -> RunResult[ResultDataT]: ...

    @overload
    def run_sync(
        self,
        user_prompt: str | Sequence[UserContent],
        *,
        result_type: type[RunResultDataT],
        message_history: Sequence[ModelMessage] | None = None,
        model: Model | KnownModelName | str | None = None,
        deps: AgentDepsT = None,  # type: ignore[assignment]
        model_settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        usage: Usage | None = None,
        result_mode: ResultMode | None = None,
    ) -> RunResult[RunResultDataT]: ...

    def run_sync(
        self,
        user_prompt: str | Sequence[UserContent],
        *,
        result_type: Any = None,
        message_history: Sequence[ModelMessage] | None = None,
        model: Model | KnownModelName | str | None = None,
        deps: AgentDepsT = None,  # type: ignore[assignment]
        model_settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        usage: Usage | None = None,
        result_mode: ResultMode | None = None,
    ) -> RunResult[Any]:
        """Run the agent from synchronous code, in a new event loop; see `run`.

        Raises `UserError` when called from inside a running event loop (use `await agent.run()`
        there): blocking the loop to wait for itself would deadlock.
        """
        if _in_event_loop():
            raise UserError(
                'run_sync() cannot be called from inside a running event loop; use `await agent.run(...)`'
            )
        import anyio

        async def main() -> RunResult[Any]:
            from .._transport import aclose_shared_http_client

            try:
                result: RunResult[Any] = await self.run(
                    user_prompt,
                    result_type=result_type,
                    message_history=message_history,
                    model=model,
                    deps=deps,
                    model_settings=model_settings,
                    usage_limits=usage_limits,
                    usage=usage,
                    result_mode=result_mode,
                )
                return result
            finally:
                # The shared client belongs to this loop, which ends here: close it so no
                # connection outlives its loop.
                await aclose_shared_http_client()

        return anyio.run(main)

    @overload
    def run_stream(
        self,
        user_prompt: str | Sequence[UserContent],
        *,
        result_type: None = None,
        message_history: Sequence[ModelMessage] | None = None,
        model: Model | KnownModelName | str | None = None,
        deps: AgentDepsT = None,  # type: ignore[assignment]
        model_settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        usage: Usage | None = None,
        result_mode: ResultMode | None = None,
    ) -> AbstractAsyncContextManager[StreamedRunResult[ResultDataT]]: ...

    @overload
    def run_stream(
        self,
        user_prompt: str | Sequence[UserContent],
        *,
        result_type: type[RunResultDataT],
        message_history: Sequence[ModelMessage] | None = None,
        model: Model | KnownModelName | str | None = None,
        deps: AgentDepsT = None,  # type: ignore[assignment]
        model_settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        usage: Usage | None = None,
        result_mode: ResultMode | None = None,
    ) -> AbstractAsyncContextManager[StreamedRunResult[RunResultDataT]]: ...

    @asynccontextmanager
    async def run_stream(
        self,
        user_prompt: str | Sequence[UserContent],
        *,
        result_type: Any = None,
        message_history: Sequence[ModelMessage] | None = None,
        model: Model | KnownModelName | str | None = None,
        deps: AgentDepsT = None,  # type: ignore[assignment]
        model_settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        usage: Usage | None = None,
        result_mode: ResultMode | None = None,
    ) -> AsyncIterator[StreamedRunResult[Any]]:
        """Run the agent, streaming the response that carries the final result.

        Responses that are tool calls are handled as in `run`; the first response that starts
        with the result (text where text is allowed, or a result tool call) is handed to you as
        a `StreamedRunResult` to stream inside the `async with` block.
        """
        state = await self._start_run(
            user_prompt,
            result_type=result_type,
            message_history=message_history,
            model=model,
            deps=deps,
            model_settings=model_settings,
            usage_limits=usage_limits,
            usage=usage,
            result_mode=result_mode,
        )
        while True:
            params = await state.request_parameters()
            async with state.model.request_stream(
                state.request_messages(), state.model_settings, params
            ) as streamed:
                final_event = await _find_final_result_event(streamed, state.result_schema)
                if final_event is not None:
                    tool_name = final_event.tool_name

                    async def on_complete(
                        response: Any,
                        streamed: StreamedResponse = streamed,
                        tool_name: str | None = tool_name,
                    ) -> Any:
                        return await state.complete_stream(response, streamed.usage(), tool_name)

                    yield StreamedRunResult(state, streamed, tool_name, on_complete)
                    return
                response, response_usage = streamed.get(), streamed.usage()
            state.record_response(response, response_usage)
            if await state.handle_response(response) is not None:  # pragma: no cover
                # A final result is always noticed while streaming (text or result tool start).
                raise AssertionError('final result missed while streaming')

    # ----------------------------------------------------------------------------------------
    # Run set-up
    # ----------------------------------------------------------------------------------------

    async def _start_run(
        self,
        user_prompt: str | Sequence[UserContent],
        *,
        result_type: Any,
        message_history: Sequence[ModelMessage] | None,
        model: Model | KnownModelName | str | None,
        deps: Any,
        model_settings: ModelSettings | None,
        usage_limits: UsageLimits | None,
        usage: Usage | None,
        result_mode: ResultMode | None,
    ) -> RunState[Any]:
        model_used = self._resolve_model(model)
        if self._override_deps is not None:
            deps = self._override_deps.value
        if result_type is None and result_mode is None:
            schema = self._result_schema
        else:
            schema = ResultSchema.build(
                result_type if result_type is not None else self.result_type,
                name=self._result_tool_name,
                description=self._result_tool_description,
                mode=result_mode or self.result_mode,
            )
        if self._result_validators and result_type is not None:
            raise UserError('result_type cannot be changed for a run when the agent has result validators')
        history = list(message_history or ())
        state: RunState[Any] = RunState(
            model=model_used,
            deps=deps,
            prompt=user_prompt,
            messages=history,
            new_message_index=len(history),
            model_settings=merge_model_settings(self.model_settings, model_settings),
            usage=usage if usage is not None else Usage(),
            usage_limits=usage_limits if usage_limits is not None else UsageLimits(),
            result_schema=schema,
            tools=self._function_tools,
            default_retries=self._default_retries,
            max_result_retries=self._max_result_retries,
            result_validators=tuple(self._result_validators),
            end_strategy=self.end_strategy,
            instructions=self._instructions,
        )
        ctx = state.context()
        parts: list[ModelRequestPart] = []
        if history:
            await self._reevaluate_dynamic_prompts(history, ctx)
        else:
            parts.extend(await self._system_prompt_parts(ctx))
        parts.append(UserPromptPart(user_prompt))
        history.append(ModelRequest(parts))
        return state

    def _resolve_model(self, model: Model | KnownModelName | str | None) -> Model:
        if self._override_model is not None:
            chosen = self._override_model.value
        elif model is not None:
            chosen = model
        elif self.model is not None:
            chosen = self.model
        else:
            raise UserError('`model` must be set either when creating the agent or when calling it')
        resolved = infer_model(chosen)
        if chosen is self.model and not isinstance(self.model, Model):
            self.model = resolved  # deferred model check: resolve once, at the first run
        return resolved

    async def _system_prompt_parts(self, ctx: RunContext[Any]) -> list[ModelRequestPart]:
        parts: list[ModelRequestPart] = [SystemPromptPart(p) for p in self._system_prompts]
        for runner in self._system_prompt_functions:
            content = await runner.run(ctx)
            parts.append(SystemPromptPart(content, dynamic_ref=runner.ref if runner.dynamic else None))
        return parts

    async def _reevaluate_dynamic_prompts(self, history: list[ModelMessage], ctx: RunContext[Any]) -> None:
        dynamic = {r.ref: r for r in self._system_prompt_functions if r.dynamic}
        if not dynamic:
            return
        # Replaced by copies: the caller's history objects are left as they were.
        for i, message in enumerate(history):
            if not isinstance(message, ModelRequest):
                continue
            if not any(isinstance(p, SystemPromptPart) and p.dynamic_ref in dynamic for p in message.parts):
                continue
            parts: list[ModelRequestPart] = []
            for part in message.parts:
                if isinstance(part, SystemPromptPart) and part.dynamic_ref in dynamic:
                    runner = dynamic[part.dynamic_ref]
                    part = SystemPromptPart(await runner.run(ctx), dynamic_ref=runner.ref)
                parts.append(part)
            history[i] = ModelRequest(parts)

    # ----------------------------------------------------------------------------------------
    # Decorators
    # ----------------------------------------------------------------------------------------

    @overload
    def system_prompt(self, func: _SystemPromptFuncT, /) -> _SystemPromptFuncT: ...

    @overload
    def system_prompt(
        self, /, *, dynamic: bool = False
    ) -> Callable[[_SystemPromptFuncT], _SystemPromptFuncT]: ...

    def system_prompt(self, func: Any = None, /, *, dynamic: bool = False) -> Any:
        """Register a function returning a system prompt; it takes the run context or nothing, sync or async.

        With `dynamic=True` the prompt is computed again when a run continues a message history.
        """

        def register(function: _SystemPromptFuncT) -> _SystemPromptFuncT:
            self._system_prompt_functions.append(FunctionRunner.of(function, ctx_after=0, dynamic=dynamic))
            return function

        return register if func is None else register(func)

    def result_validator(self, func: _ResultValidatorT, /) -> _ResultValidatorT:
        """Register a function `(ctx, data) -> data` or `(data) -> data` that checks or fixes the result.

        It may raise `ModelRetry` to send the model back to try again.
        """
        self._result_validators.append(FunctionRunner.of(func, ctx_after=1))
        return func

    @overload
    def tool(
        self, func: ToolFuncContext[AgentDepsT, ToolParams], /
    ) -> ToolFuncContext[AgentDepsT, ToolParams]: ...

    @overload
    def tool(
        self,
        /,
        *,
        name: str | None = None,
        retries: int | None = None,
        prepare: ToolPrepareFunc[AgentDepsT] | None = None,
        docstring_format: DocstringFormat = 'auto',
        require_parameter_descriptions: bool = False,
        strict: bool | None = None,
    ) -> Callable[[ToolFuncContext[AgentDepsT, ToolParams]], ToolFuncContext[AgentDepsT, ToolParams]]: ...

    def tool(
        self,
        func: Any = None,
        /,
        *,
        name: str | None = None,
        retries: int | None = None,
        prepare: ToolPrepareFunc[AgentDepsT] | None = None,
        docstring_format: DocstringFormat = 'auto',
        require_parameter_descriptions: bool = False,
        strict: bool | None = None,
    ) -> Any:
        """Register a tool that takes `RunContext[Deps]` as its first parameter."""
        options = dict(name=name, prepare=prepare, docstring_format=docstring_format, strict=strict)
        return self._tool_decorator(
            func,
            takes_ctx=True,
            max_retries=retries,
            require_parameter_descriptions=require_parameter_descriptions,
            **options,
        )

    @overload
    def tool_plain(self, func: ToolFuncPlain[ToolParams], /) -> ToolFuncPlain[ToolParams]: ...

    @overload
    def tool_plain(
        self,
        /,
        *,
        name: str | None = None,
        retries: int | None = None,
        prepare: ToolPrepareFunc[AgentDepsT] | None = None,
        docstring_format: DocstringFormat = 'auto',
        require_parameter_descriptions: bool = False,
        strict: bool | None = None,
    ) -> Callable[[ToolFuncPlain[ToolParams]], ToolFuncPlain[ToolParams]]: ...

    def tool_plain(
        self,
        func: Any = None,
        /,
        *,
        name: str | None = None,
        retries: int | None = None,
        prepare: ToolPrepareFunc[AgentDepsT] | None = None,
        docstring_format: DocstringFormat = 'auto',
        require_parameter_descriptions: bool = False,
        strict: bool | None = None,
    ) -> Any:
        """Register a tool that does not take the run context."""
        options = dict(name=name, prepare=prepare, docstring_format=docstring_format, strict=strict)
        return self._tool_decorator(
            func,
            takes_ctx=False,
            max_retries=retries,
            require_parameter_descriptions=require_parameter_descriptions,
            **options,
        )

    def _tool_decorator(self, func: Any, **tool_options: Any) -> Any:
        def register(function: _ToolFuncT) -> _ToolFuncT:
            self._register_tool(Tool(function, **tool_options))
            return function

        return register if func is None else register(func)

    def _register_tool(self, tool: Tool[AgentDepsT]) -> None:
        if tool.name in self._function_tools:
            raise UserError(f'Tool name conflicts with existing tool: {tool.name!r}')
        if tool.name in self._result_schema.tools:
            raise UserError(f'Tool name conflicts with result tool name: {tool.name!r}')
        self._function_tools[tool.name] = tool

    # ----------------------------------------------------------------------------------------
    # Testing
    # ----------------------------------------------------------------------------------------

    @contextmanager
    def override(
        self, *, deps: Any = inspect.Parameter.empty, model: Model | KnownModelName | str | None = None
    ) -> Iterator[None]:
        """Replace the deps and/or model of every run inside the block (for tests)."""
        old = self._override_deps, self._override_model
        if deps is not inspect.Parameter.empty:
            self._override_deps = _Override(deps)
        if model is not None:
            self._override_model = _Override(infer_model(model))
        try:
            yield
        finally:
            self._override_deps, self._override_model = old


async def _find_final_result_event(
    streamed: StreamedResponse, schema: ResultSchema
) -> FinalResultEvent | None:
    """Read events until one starts the final result; None when the stream ends without one."""
    async for event in streamed:
        if isinstance(event, PartStartEvent):
            part = event.part
            if isinstance(part, TextPart) and schema.allow_text_result:
                return FinalResultEvent(tool_name=None, tool_call_id=None)
            if isinstance(part, ToolCallPart) and part.tool_name in schema.tools:
                return FinalResultEvent(tool_name=part.tool_name, tool_call_id=part.tool_call_id)
        elif isinstance(event.delta, ToolCallPartDelta) and event.delta.tool_name_delta and schema.tools:
            # A vendor that streams the tool name in pieces completes it in a delta.
            found = schema.find_call(streamed.get().parts)
            if found is not None:
                return FinalResultEvent(tool_name=found[0].tool_name, tool_call_id=found[0].tool_call_id)
    return None


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return True
    trio = sys.modules.get('trio')
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            return False
        return True
    return False
