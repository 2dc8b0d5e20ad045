"""How an agent's result arrives and is validated: plain text, result tools, or native JSON output.

A `result_type` that is not plain text becomes one result tool (a union becomes one tool per
member, e.g. `final_result_Cat`), or, in native mode, one JSON schema the vendor enforces on the
text it returns. Types that are not objects (int, list, unions in native mode) are wrapped under
a `response` key, because tool arguments and most vendors' structured output must be objects.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from .exceptions import UserError
from .messages import ModelResponse, TextPart, ToolCallPart
from .tools import ToolDefinition

if typing.TYPE_CHECKING:
    from pydantic import TypeAdapter

__all__ = ('DEFAULT_RESULT_TOOL_DESCRIPTION', 'ResultMode', 'ResultSchema', 'ResultValidatorTool')

ResultMode = Literal['tool', 'native']
"""`tool`: the result arrives as arguments of a result tool (every vendor with tool calling).
`native`: the vendor is asked for JSON text matching the schema (`response_format` on OpenAI)."""

DEFAULT_RESULT_TOOL_DESCRIPTION = 'The final response which ends this conversation'
WRAPPER_KEY = 'response'


@dataclass(slots=True)
class ResultValidatorTool:
    """One way the result can arrive: a result tool (or the native schema) and its validator."""

    tool_def: ToolDefinition
    adapter: TypeAdapter[Any]

    def validate(self, args: str | dict[str, Any], *, allow_partial: bool = False) -> Any:
        """Validate tool arguments or JSON text; raises `pydantic.ValidationError`.

        `allow_partial` accepts a truncated JSON document (a stream still arriving): incomplete
        trailing strings are kept, other incomplete trailing values are dropped.
        """
        partial: Literal['off', 'trailing-strings'] = 'trailing-strings' if allow_partial else 'off'
        if isinstance(args, str):
            value = self.adapter.validate_json(args or '{}', experimental_allow_partial=partial)
        else:
            value = self.adapter.validate_python(args, experimental_allow_partial=partial)
        if self.tool_def.outer_typed_dict_key is not None:
            return value[self.tool_def.outer_typed_dict_key]
        return value


@dataclass(slots=True)
class ResultSchema:
    """Every accepted form of an agent's result, for one run."""

    result_type: Any
    mode: ResultMode
    allow_text_result: bool
    """Plain text is accepted as the result (`str` is, or is part of, the result type)."""
    tools: dict[str, ResultValidatorTool]
    native: ResultValidatorTool | None
    """In native mode: the schema the text response must match."""

    @classmethod
    def build(
        cls,
        result_type: Any,
        *,
        name: str,
        description: str | None,
        mode: ResultMode = 'tool',
    ) -> ResultSchema:
        """Work out the result tools (or native schema) for `result_type`."""
        if mode not in ('tool', 'native'):
            raise UserError(f"result_mode must be 'tool' or 'native', not {mode!r}")
        members = _union_members(result_type)
        allow_text = str in members
        structured = [m for m in members if m is not str]
        if not structured:
            if mode == 'native':
                raise UserError("result_mode='native' needs a structured result_type, not str")
            return cls(result_type, mode, True, {}, None)
        if mode == 'native':
            if allow_text:
                raise UserError("result_mode='native' cannot mix str into the result_type")
            native = _result_tool(result_type, name, description, multiple=False)
            return cls(result_type, mode, True, {}, native)
        tools: dict[str, ResultValidatorTool] = {}
        for member in structured:
            tool_name = name if len(structured) == 1 else f'{name}_{_type_name(member)}'
            if tool_name in tools:
                raise UserError(
                    f'Two members of the result type give the same result tool name {tool_name!r}'
                )
            tools[tool_name] = _result_tool(member, tool_name, description, multiple=len(structured) > 1)
        return cls(result_type, mode, allow_text, tools, None)

    def tool_defs(self) -> list[ToolDefinition]:
        """The result tools to offer the model."""
        return [tool.tool_def for tool in self.tools.values()]

    def find_call(self, parts: Sequence[object]) -> tuple[ToolCallPart, ResultValidatorTool] | None:
        """The first call of a result tool among `parts`, with its validator."""
        for part in parts:
            if isinstance(part, ToolCallPart) and (tool := self.tools.get(part.tool_name)) is not None:
                return part, tool
        return None

    def validate_text(self, text: str, *, allow_partial: bool = False) -> Any:
        """The result from a text response: the text itself, or its JSON validated in native mode."""
        if self.native is not None:
            return self.native.validate(text, allow_partial=allow_partial)
        return text

    def validate_response(
        self, response: ModelResponse, tool_name: str | None, *, allow_partial: bool
    ) -> Any:
        """Validate the result carried by a (possibly partial) response: the first call of the given
        result tool, or (`tool_name` None) its text."""
        if tool_name is None:
            text = ''.join(p.content for p in response.parts if isinstance(p, TextPart))
            return self.validate_text(text, allow_partial=allow_partial)
        for part in response.parts:
            if isinstance(part, ToolCallPart) and part.tool_name == tool_name:
                return self.tools[tool_name].validate(part.args, allow_partial=allow_partial)
        raise UserError(f'No call of the result tool {tool_name!r} in the response')


def _union_members(tp: Any) -> list[Any]:
    if get_origin(tp) in (typing.Union, types.UnionType):
        return list(get_args(tp))
    return [tp]


def _type_name(tp: Any) -> str:
    name = getattr(tp, '__name__', None) or repr(tp)
    return ''.join(c if c.isalnum() or c in '_-' else '_' for c in name)


def _result_tool(tp: Any, name: str, description: str | None, *, multiple: bool) -> ResultValidatorTool:
    from pydantic import TypeAdapter

    from ._tool_schema import is_model_like, make_typed_dict

    wrapped = not is_model_like(tp)
    if wrapped:
        target: Any = make_typed_dict(f'{name}_wrapper', {WRAPPER_KEY: tp})
    else:
        target = tp
    adapter: TypeAdapter[Any] = TypeAdapter(target)
    schema = adapter.json_schema()
    schema.pop('title', None)
    if wrapped:
        schema['properties'][WRAPPER_KEY].pop('title', None)
    type_doc = schema.pop('description', None)
    text = description or type_doc or DEFAULT_RESULT_TOOL_DESCRIPTION
    if multiple and description:
        text = f'{description}: {_type_name(tp)}'
    tool_def = ToolDefinition(
        name=name,
        description=text,
        parameters_json_schema=schema,
        outer_typed_dict_key=WRAPPER_KEY if wrapped else None,
    )
    return ResultValidatorTool(tool_def, adapter)
