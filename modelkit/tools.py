"""Tools: what a model is told about one (`ToolDefinition`), the `Tool` wrapping a Python function,
and the `RunContext` a tool, system prompt or result validator receives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, Generic, TypeAlias

from typing_extensions import ParamSpec, TypeVar

from .exceptions import UserError

if TYPE_CHECKING:
    from ._tool_schema import DocstringFormat, FunctionSchema
    from .messages import ModelMessage, UserContent
    from .models import Model
    from .usage import Usage

__all__ = (
    'AgentDepsT',
    'ObjectJsonSchema',
    'RunContext',
    'Tool',
    'ToolDefinition',
    'ToolFuncContext',
    'ToolFuncEither',
    'ToolFuncPlain',
    'ToolParams',
    'ToolPrepareFunc',
)

ObjectJsonSchema = dict[str, Any]
"""A JSON schema whose root is an object."""


@dataclass(slots=True)
class ToolDefinition:
    """A tool offered to the model: a function tool, or an output tool that carries the final result."""

    name: str
    description: str
    parameters_json_schema: ObjectJsonSchema
    outer_typed_dict_key: str | None = None
    """When set, the tool's arguments are wrapped under this key (used for non-object result types)."""
    strict: bool | None = None
    """Ask the vendor to follow the schema exactly, where it supports that (OpenAI's strict mode)."""


AgentDepsT = TypeVar('AgentDepsT', default=None, contravariant=True)
"""The type of the dependencies an agent's tools and prompts receive through `RunContext.deps`."""

ToolParams = ParamSpec('ToolParams', default=...)
"""The parameters a tool function takes besides the run context."""


@dataclass
class RunContext(Generic[AgentDepsT]):
    """What a tool, dynamic system prompt or result validator knows about the run it is part of."""

    deps: AgentDepsT
    """The dependencies passed to `run(deps=...)`."""
    model: Model
    """The model the run talks to."""
    usage: Usage
    """Requests and tokens used so far in this run."""
    prompt: str | Sequence[UserContent]
    """The user prompt the run started with."""
    messages: list[ModelMessage] = dataclasses.field(default_factory=list)
    """The conversation so far."""
    tool_name: str | None = None
    """The name of the tool being called (or of the result tool being validated)."""
    tool_call_id: str | None = None
    """The id of the tool call being handled."""
    retry: int = 0
    """How many times this tool (or the result) has been retried so far in the run."""
    run_step: int = 0
    """How many model requests the run has made."""

    def replace_with(self, **changes: Any) -> RunContext[AgentDepsT]:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


ToolFuncContext: TypeAlias = Callable[Concatenate[RunContext[AgentDepsT], ToolParams], Any]
"""A tool function that takes the run context first; it may be sync or async."""
ToolFuncPlain: TypeAlias = Callable[ToolParams, Any]
"""A tool function that does not take the run context; it may be sync or async."""
ToolFuncEither: TypeAlias = ToolFuncContext[AgentDepsT, ToolParams] | ToolFuncPlain[ToolParams]
"""A tool function, with or without the run context."""
ToolPrepareFunc: TypeAlias = Callable[
    [RunContext[AgentDepsT], ToolDefinition], Awaitable['ToolDefinition | None']
]
"""Called before each request: return the tool's definition (changed or not), or None to hide the tool."""


class Tool(Generic[AgentDepsT]):
    """A Python function offered to the model, with its schema built from the signature and docstring."""

    function: ToolFuncEither[AgentDepsT, ...]
    name: str
    description: str
    takes_ctx: bool
    max_retries: int | None
    prepare: ToolPrepareFunc[AgentDepsT] | None
    strict: bool | None
    function_schema: FunctionSchema

    def __init__(
        self,
        function: ToolFuncEither[AgentDepsT, ...],
        *,
        takes_ctx: bool | None = None,
        max_retries: int | None = None,
        name: str | None = None,
        description: str | None = None,
        prepare: ToolPrepareFunc[AgentDepsT] | None = None,
        docstring_format: DocstringFormat = 'auto',
        require_parameter_descriptions: bool = False,
        strict: bool | None = None,
    ) -> None:
        """Wrap `function`; `takes_ctx=None` infers it from whether the first parameter is a `RunContext`."""
        from ._tool_schema import function_schema

        self.function_schema = function_schema(
            function,
            takes_ctx=takes_ctx,
            docstring_format=docstring_format,
            require_parameter_descriptions=require_parameter_descriptions,
        )
        self.function = function
        self.takes_ctx = self.function_schema.takes_ctx
        self.max_retries = max_retries
        tool_name = name or getattr(function, '__name__', None)
        if not tool_name:
            raise UserError(f'{function!r} has no __name__: give the tool a name')
        self.name = tool_name
        self.description = description if description is not None else self.function_schema.description
        self.prepare = prepare
        self.strict = strict

    def __repr__(self) -> str:
        return f'Tool(name={self.name!r}, takes_ctx={self.takes_ctx!r})'

    @property
    def tool_def(self) -> ToolDefinition:
        """The definition sent to the model, before any `prepare` function changes it."""
        return ToolDefinition(
            name=self.name,
            description=self.description,
            parameters_json_schema=self.function_schema.json_schema,
            strict=self.strict,
        )

    async def prepare_tool_def(self, ctx: RunContext[AgentDepsT]) -> ToolDefinition | None:
        """The definition for the coming request, or None if `prepare` hides the tool this time."""
        if self.prepare is None:
            return self.tool_def
        return await self.prepare(ctx, self.tool_def)

    async def call(self, args: str | dict[str, Any], ctx: RunContext[AgentDepsT]) -> Any:
        """Validate `args` and call the function (a sync one in a worker thread).

        Raises `pydantic.ValidationError` for bad arguments; `ModelRetry` and anything else the
        function raises propagates.
        """
        schema = self.function_schema
        positional, kwargs = schema.call_args(schema.validate(args), ctx)
        if schema.is_async:
            return await self.function(*positional, **kwargs)
        import functools

        import anyio.to_thread

        return await anyio.to_thread.run_sync(functools.partial(self.function, *positional, **kwargs))
