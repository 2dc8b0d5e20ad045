"""One agent run's state and steps: prepare a request, account for the response, act on it.

`Agent.run` and `Agent.run_stream` are loops over these steps; everything they share lives here,
so the streamed and unstreamed paths cannot drift apart.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal

from .._output import ResultSchema, ResultValidatorTool
from ..exceptions import ModelRetry, UnexpectedModelBehavior
from ..messages import (
    ModelMessage,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserContent,
)
from ..models import Model, ModelRequestParameters
from ..settings import ModelSettings
from ..tools import AgentDepsT, RunContext, Tool
from ..usage import Usage, UsageLimits

__all__ = ('EndStrategy', 'FinalResult', 'FunctionRunner', 'RunState')

EndStrategy = Literal['early', 'exhaustive']
"""With a final result and other tool calls in one response: `early` skips them, `exhaustive` runs them."""

FINAL_RESULT_PROCESSED = 'Final result processed.'
TOOL_NOT_EXECUTED = 'Tool not executed - a final result was already processed.'
RESULT_TOOL_NOT_USED = 'Result tool not used - a final result was already processed.'
RESULT_TOOL_NOT_FIRST = 'Result tool not used - only the first result tool call is considered.'
TEXT_NOT_ALLOWED = 'Plain text responses are not permitted, please include your response in a tool call'


async def call_maybe_sync(function: Callable[..., Any], *args: Any) -> Any:
    """Await an async function, or run a sync one in a worker thread so it cannot block the loop."""
    if inspect.iscoroutinefunction(function):
        return await function(*args)
    import anyio.to_thread

    return await anyio.to_thread.run_sync(functools.partial(function, *args))


@dataclass(slots=True)
class FunctionRunner:
    """A system prompt function or result validator, with or without the run context."""

    function: Callable[..., Any]
    takes_ctx: bool
    dynamic: bool = False

    @classmethod
    def of(cls, function: Callable[..., Any], *, ctx_after: int, dynamic: bool = False) -> FunctionRunner:
        """Wrap `function`; it takes the context when it has more than `ctx_after` parameters."""
        takes_ctx = len(inspect.signature(function).parameters) > ctx_after
        return cls(function, takes_ctx, dynamic)

    @property
    def ref(self) -> str:
        """How a dynamic system prompt is found again in a message history."""
        return getattr(self.function, '__qualname__', repr(self.function))

    async def run(self, ctx: RunContext[Any], *args: Any) -> Any:
        """Call the function, passing the context first where it takes one."""
        if self.takes_ctx:
            return await call_maybe_sync(self.function, ctx, *args)
        return await call_maybe_sync(self.function, *args)


@dataclass(slots=True)
class FinalResult:
    """The run's validated result and the result tool it came through (None for text)."""

    data: Any
    tool_name: str | None
    tool_call_id: str | None


@dataclass
class RunState(Generic[AgentDepsT]):
    """Everything one run needs and accumulates."""

    model: Model
    deps: AgentDepsT
    prompt: str | Sequence[UserContent]
    messages: list[ModelMessage]
    new_message_index: int
    model_settings: ModelSettings | None
    usage: Usage
    usage_limits: UsageLimits
    result_schema: ResultSchema
    tools: dict[str, Tool[AgentDepsT]]
    default_retries: int
    max_result_retries: int
    result_validators: Sequence[FunctionRunner]
    end_strategy: EndStrategy
    instructions: tuple[str, ...] = ()
    """The agent's `instructions`: sent ahead of every request, never stored in `messages`."""
    tool_retries: dict[str, int] = field(default_factory=dict)
    result_retries: int = 0
    run_step: int = 0

    def context(self, **changes: Any) -> RunContext[AgentDepsT]:
        """The run context as it stands, with `changes` applied (tool name, retry, ...)."""
        return RunContext(
            self.deps,
            self.model,
            self.usage,
            self.prompt,
            self.messages,
            run_step=self.run_step,
            **changes,
        )

    def request_messages(self) -> list[ModelMessage]:
        """The conversation to send: `messages`, led by this agent's instructions when it has any.

        As in PydanticAI, instructions belong to the agent, not to the history: they lead every
        request of the run, a later run with this history sends its own agent's instead, and
        `all_messages()` never contains them.
        """
        if not self.instructions:
            return list(self.messages)
        lead = ModelRequest([SystemPromptPart('\n\n'.join(self.instructions))])
        return [lead, *self.messages]

    async def request_parameters(self) -> ModelRequestParameters:
        """Check the usage limits, count the step, and build what the next request offers."""
        self.usage_limits.check_before_request(self.usage)
        self.run_step += 1
        ctx = self.context()
        function_tools = []
        for tool in self.tools.values():
            tool_def = await tool.prepare_tool_def(ctx.replace_with(tool_name=tool.name))
            if tool_def is not None:
                function_tools.append(tool_def)
        schema = self.result_schema
        # Every request gets its own copies, so a model that adjusts schemas in place (for a
        # vendor's strict mode, say) cannot change what the next request or run sends.
        params = ModelRequestParameters(
            function_tools=copy.deepcopy(function_tools),
            allow_text_result=schema.allow_text_result,
            result_tools=copy.deepcopy(schema.tool_defs()),
        )
        if schema.native is not None:
            native = schema.native.tool_def
            params.result_json_schema = native.parameters_json_schema
            params.result_schema_name = native.name
            params.result_schema_strict = native.strict
        return self.model.customize_request_parameters(params)

    def usage_with(self, response_usage: Usage) -> Usage:
        """The run's usage plus one response's, without recording it (for a response still streaming)."""
        total = self.usage + response_usage
        total.requests += 0 if response_usage.requests else 1
        return total

    def record_response(self, response: ModelResponse, response_usage: Usage) -> None:
        """Add a response to the history and its usage to the run's, then check the token limits.

        Models report tokens; the request itself is counted here unless the model counted it.
        """
        self.messages.append(response)
        self.usage.incr(response_usage, requests=0 if response_usage.requests else 1)
        if self.usage_limits.has_token_limits():
            self.usage_limits.check_tokens(self.usage)

    async def handle_response(self, response: ModelResponse) -> FinalResult | None:
        """Act on a response: return the final result, or add the next request to the history."""
        calls = [p for p in response.parts if isinstance(p, ToolCallPart)]
        if calls:
            found = self.result_schema.find_call(calls)
            if found is None:
                parts = await self.process_tool_calls(calls, None)
                self.messages.append(ModelRequest(parts))
                return None
            outcome = await self.validate_tool_result(*found)
            if isinstance(outcome, RetryPromptPart):
                self._count_result_retry()
            parts = await self.process_tool_calls(calls, outcome, found[0])
            self.messages.append(ModelRequest(parts))
            return outcome if isinstance(outcome, FinalResult) else None

        text = ''.join(p.content for p in response.parts if isinstance(p, TextPart))
        if not text:
            raise UnexpectedModelBehavior('Received empty model response', partial_response=response)
        if not self.result_schema.allow_text_result:
            self._count_result_retry()
            self.messages.append(ModelRequest([RetryPromptPart(TEXT_NOT_ALLOWED)]))
            return None
        text_outcome = await self.validate_text_result(text)
        if isinstance(text_outcome, FinalResult):
            return text_outcome
        self._count_result_retry()
        self.messages.append(ModelRequest([text_outcome]))
        return None

    async def validate_tool_result(
        self, call: ToolCallPart, tool: ResultValidatorTool
    ) -> FinalResult | RetryPromptPart:
        """Validate a result tool call and run the result validators; a retry prompt if either objects."""
        from pydantic import ValidationError

        try:
            data = tool.validate(call.args)
            data = await self.run_result_validators(data, call.tool_name, call.tool_call_id)
        except ValidationError as exc:
            return RetryPromptPart(_errors(exc), tool_name=call.tool_name, tool_call_id=call.tool_call_id)
        except ModelRetry as exc:
            return RetryPromptPart(exc.message, tool_name=call.tool_name, tool_call_id=call.tool_call_id)
        return FinalResult(data, call.tool_name, call.tool_call_id)

    async def validate_text_result(self, text: str) -> FinalResult | RetryPromptPart:
        """Validate a text result (JSON in native mode) and run the result validators."""
        from pydantic import ValidationError

        try:
            data = self.result_schema.validate_text(text)
            data = await self.run_result_validators(data, None, None)
        except ValidationError as exc:
            return RetryPromptPart(_errors(exc))
        except ModelRetry as exc:
            return RetryPromptPart(exc.message)
        return FinalResult(data, None, None)

    async def run_result_validators(self, data: Any, tool_name: str | None, tool_call_id: str | None) -> Any:
        """Pass `data` through every result validator in order."""
        if not self.result_validators:
            return data
        ctx = self.context(tool_name=tool_name, tool_call_id=tool_call_id, retry=self.result_retries)
        for validator in self.result_validators:
            data = await validator.run(ctx, data)
        return data

    def _count_result_retry(self) -> None:
        self.result_retries += 1
        if self.result_retries > self.max_result_retries:
            raise UnexpectedModelBehavior(
                f'Exceeded maximum retries ({self.max_result_retries}) for result validation'
            )

    async def process_tool_calls(
        self,
        calls: list[ToolCallPart],
        result_outcome: FinalResult | RetryPromptPart | None,
        result_call: ToolCallPart | None = None,
    ) -> list[ModelRequestPart]:
        """Answer every tool call of a response, in order, running function tools concurrently.

        Every call gets an answer because vendors reject a conversation in which a tool call has
        none. `result_call` is answered with its retry prompt, or 'Final result processed.'.
        """
        final = result_outcome if isinstance(result_outcome, FinalResult) else None
        answers: list[ModelRequestPart | None] = [None] * len(calls)
        to_run: list[int] = []
        skip_tools = final is not None and self.end_strategy == 'early'
        for i, call in enumerate(calls):
            name, call_id = call.tool_name, call.tool_call_id
            if call is result_call:
                if isinstance(result_outcome, RetryPromptPart):
                    answers[i] = result_outcome
                else:
                    answers[i] = ToolReturnPart(name, FINAL_RESULT_PROCESSED, call_id)
            elif name in self.result_schema.tools:
                content = RESULT_TOOL_NOT_USED if final is not None else RESULT_TOOL_NOT_FIRST
                answers[i] = ToolReturnPart(name, content, call_id)
            elif name in self.tools and not skip_tools:
                to_run.append(i)
            elif final is not None:
                answers[i] = ToolReturnPart(name, TOOL_NOT_EXECUTED, call_id)
            else:
                answers[i] = self._unknown_tool(call)
        if len(to_run) == 1:
            answers[to_run[0]] = await self._run_tool(calls[to_run[0]])
        elif to_run:
            await self._run_tools_concurrently(calls, to_run, answers)
        return [answer for answer in answers if answer is not None]

    async def _run_tools_concurrently(
        self, calls: list[ToolCallPart], to_run: list[int], answers: list[ModelRequestPart | None]
    ) -> None:
        import anyio

        # The first failure cancels the other tools and is raised as itself, not wrapped in an
        # ExceptionGroup, so callers catch the same errors as with a single tool call.
        errors: list[BaseException] = []

        async with anyio.create_task_group() as tg:

            async def run_one(i: int) -> None:
                try:
                    answers[i] = await self._run_tool(calls[i])
                except Exception as exc:
                    errors.append(exc)
                    tg.cancel_scope.cancel()

            for i in to_run:
                tg.start_soon(run_one, i)
        if errors:
            raise errors[0]

    async def _run_tool(self, call: ToolCallPart) -> ModelRequestPart:
        from pydantic import ValidationError

        tool = self.tools[call.tool_name]
        ctx = self.context(
            tool_name=call.tool_name,
            tool_call_id=call.tool_call_id,
            retry=self.tool_retries.get(call.tool_name, 0),
        )
        try:
            content = await tool.call(call.args, ctx)
        except ValidationError as exc:
            return self._tool_retry(tool, call, _errors(exc))
        except ModelRetry as exc:
            return self._tool_retry(tool, call, exc.message)
        self.tool_retries[call.tool_name] = 0
        return ToolReturnPart(call.tool_name, content, call.tool_call_id)

    def _tool_retry(
        self, tool: Tool[AgentDepsT], call: ToolCallPart, content: list[Any] | str
    ) -> RetryPromptPart:
        max_retries = tool.max_retries if tool.max_retries is not None else self.default_retries
        count = self.tool_retries.get(tool.name, 0) + 1
        if count > max_retries:
            raise UnexpectedModelBehavior(f'Tool {tool.name!r} exceeded max retries count of {max_retries}')
        self.tool_retries[tool.name] = count
        return RetryPromptPart(content, tool_name=call.tool_name, tool_call_id=call.tool_call_id)

    def _unknown_tool(self, call: ToolCallPart) -> RetryPromptPart:
        self._count_result_retry()
        names = [*self.tools, *self.result_schema.tools]
        if names:
            message = f'Unknown tool name: {call.tool_name!r}. Available tools: {", ".join(names)}'
        else:
            message = f'Unknown tool name: {call.tool_name!r}. No tools available.'
        return RetryPromptPart(message, tool_name=call.tool_name, tool_call_id=call.tool_call_id)

    async def complete_stream(
        self, response: ModelResponse, response_usage: Usage, result_tool_name: str | None
    ) -> Any:
        """Finish a streamed run: record the response, validate the result, answer other tool calls.

        A streamed result cannot be retried (its text has been shown), so a result that fails
        validation raises `UnexpectedModelBehavior` instead of going back to the model.
        """
        self.record_response(response, response_usage)
        calls = [p for p in response.parts if isinstance(p, ToolCallPart)]
        if result_tool_name is None:
            outcome = await self.validate_text_result(
                ''.join(p.content for p in response.parts if isinstance(p, TextPart))
            )
            result_call = None
        else:
            result_call = next(c for c in calls if c.tool_name == result_tool_name)
            outcome = await self.validate_tool_result(
                result_call, self.result_schema.tools[result_call.tool_name]
            )
        if isinstance(outcome, RetryPromptPart):
            from pydantic_core import to_json

            detail = outcome.content
            if not isinstance(detail, str):
                detail = to_json(detail, fallback=str).decode()
            raise UnexpectedModelBehavior(f'Invalid streamed result: {detail}', partial_response=response)
        if calls:
            parts = await self.process_tool_calls(calls, outcome, result_call)
            self.messages.append(ModelRequest(parts))
        return outcome.data


def _errors(exc: Any) -> list[Any]:
    errors: list[Any] = exc.errors(include_url=False, include_context=False)
    return errors
