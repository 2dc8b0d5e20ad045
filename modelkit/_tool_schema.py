"""Tool schemas from Python functions: the JSON schema a model sees, and validation of its arguments.

The schema comes from the signature (types through pydantic) and the docstring (the description and
each parameter's description, in Google, NumPy or Sphinx style). Arguments arrive as a JSON string
or a dict, as the vendor sent them, and are validated straight from that form.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_origin

from .exceptions import UserError

if typing.TYPE_CHECKING:
    from pydantic import TypeAdapter

__all__ = (
    'DocstringFormat',
    'FunctionSchema',
    'function_schema',
    'is_model_like',
    'make_typed_dict',
    'parse_docstring',
)

DocstringFormat = Literal['google', 'numpy', 'sphinx', 'auto']
"""How a tool's docstring lists its parameters; `auto` recognises any of the three."""

_GOOGLE_SECTION = re.compile(r'^(\w[\w ]*):\s*$')
_GOOGLE_PARAMS = frozenset({'args', 'arguments', 'parameters', 'params', 'keyword args', 'keyword arguments'})
_GOOGLE_ENTRY = re.compile(r'^\*{0,2}(\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$')
_NUMPY_ENTRY = re.compile(r'^\*{0,2}(\w+)\s*(?::.*)?$')
_SPHINX_PARAM = re.compile(
    r'^:(?:param|parameter|arg|argument|key|keyword)\s+(?:[^:]*\s)?\*{0,2}(\w+)\s*:\s*(.*)$'
)
_SPHINX_FIELD = re.compile(r'^:\w+')


def parse_docstring(doc: str | None, fmt: DocstringFormat = 'auto') -> tuple[str, dict[str, str]]:
    """Split a docstring into its description and a `{parameter: description}` mapping."""
    if not doc:
        return '', {}
    lines = inspect.cleandoc(doc).splitlines()
    parsers = {'google': _parse_google, 'numpy': _parse_numpy, 'sphinx': _parse_sphinx}
    for name, parse in parsers.items():
        if fmt not in (name, 'auto'):
            continue
        found = parse(lines)
        if found is not None:
            body_end, params = found
            return _join(lines[:body_end]), params
    return _join(lines), {}


def _join(lines: list[str]) -> str:
    return '\n'.join(lines).strip()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _collect(lines: list[str], start: int, min_indent: int) -> tuple[list[str], int]:
    """Lines from `start` while they are blank or indented deeper than `min_indent`."""
    out: list[str] = []
    i = start
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > min_indent):
        out.append(lines[i].strip())
        i += 1
    return out, i


def _parse_google(lines: list[str]) -> tuple[int, dict[str, str]] | None:
    body_end: int | None = None
    entries: dict[str, list[str]] = {}
    for i, line in enumerate(lines):
        match = _GOOGLE_SECTION.match(line.strip())
        if match is None or i + 1 >= len(lines) or _indent(lines[i + 1]) <= _indent(line):
            continue
        if body_end is None:
            body_end = i
        if match.group(1).lower() not in _GOOGLE_PARAMS:
            continue
        section, _ = _collect(lines, i + 1, _indent(line))
        entry_indent = _indent(lines[i + 1])
        current: list[str] | None = None
        for raw in lines[i + 1 : i + 1 + len(section)]:
            entry = _GOOGLE_ENTRY.match(raw.strip()) if _indent(raw) == entry_indent else None
            if entry is not None:
                current = entries[entry.group(1)] = [entry.group(3)]
            elif current is not None and raw.strip():
                current.append(raw.strip())
    if body_end is None:
        return None
    return body_end, {k: ' '.join(v).strip() for k, v in entries.items()}


def _parse_numpy(lines: list[str]) -> tuple[int, dict[str, str]] | None:
    body_end: int | None = None
    params: dict[str, str] = {}
    i = 0
    while i < len(lines) - 1:
        header, underline = lines[i].strip(), lines[i + 1].strip()
        if not (header and underline and set(underline) == {'-'}):
            i += 1
            continue
        if body_end is None:
            body_end = i
        base = _indent(lines[i])
        i += 2
        is_params = header.lower() in {'parameters', 'other parameters', 'keyword arguments'}
        while i < len(lines):
            line = lines[i]
            if not line.strip():
                i += 1
                continue
            if _indent(line) != base or (i + 1 < len(lines) and set(lines[i + 1].strip()) == {'-'}):
                break
            entry = _NUMPY_ENTRY.match(line.strip())
            desc, i = _collect(lines, i + 1, base)
            if is_params and entry is not None:
                params[entry.group(1)] = ' '.join(d for d in desc if d)
    if body_end is None:
        return None
    return body_end, params


def _parse_sphinx(lines: list[str]) -> tuple[int, dict[str, str]] | None:
    body_end: int | None = None
    params: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not _SPHINX_FIELD.match(line):
            i += 1
            continue
        if body_end is None:
            body_end = i
        more, end = _collect(lines, i + 1, _indent(lines[i]))
        match = _SPHINX_PARAM.match(line)
        if match is not None:
            params[match.group(1)] = ' '.join([match.group(2), *(m for m in more if m)]).strip()
        i = end
    if body_end is None:
        return None
    return body_end, params


def is_model_like(tp: Any) -> bool:
    """Whether `tp` validates to an object with named fields: a pydantic model, dataclass or TypedDict."""
    from pydantic import BaseModel
    from typing_extensions import is_typeddict  # knows both typing's and typing_extensions' TypedDict

    if not isinstance(tp, type):
        return False
    return issubclass(tp, BaseModel) or dataclasses.is_dataclass(tp) or is_typeddict(tp)


@dataclass(slots=True)
class FunctionSchema:
    """A function ready to be called by a model: its schema, and how to validate and pass arguments."""

    function: Callable[..., Any]
    description: str
    json_schema: dict[str, Any]
    takes_ctx: bool
    is_async: bool
    adapter: TypeAdapter[Any]
    positional: tuple[str, ...]
    """Parameters that must be passed positionally (positional-only ones)."""
    single_arg_name: str | None
    """Set when the only parameter is model-like and its own schema is the tool's schema."""

    def validate(self, args: str | dict[str, Any]) -> dict[str, Any]:
        """Validate a tool call's arguments; raises `pydantic.ValidationError`."""
        if isinstance(args, str):
            value = self.adapter.validate_json(args or '{}')
        else:
            value = self.adapter.validate_python(args)
        if self.single_arg_name is not None:
            return {self.single_arg_name: value}
        return typing.cast(dict[str, Any], value)

    def call_args(self, validated: dict[str, Any], ctx: Any) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments for the function, the context first where it takes one."""
        kwargs = dict(validated)
        positional = [ctx] if self.takes_ctx else []
        positional.extend(kwargs.pop(name) for name in self.positional if name in kwargs)
        return positional, kwargs


def _is_run_context(annotation: Any) -> bool:
    from .tools import RunContext

    return annotation is RunContext or get_origin(annotation) is RunContext


def _type_hints(function: Callable[..., Any]) -> dict[str, Any]:
    target: Any = function
    while isinstance(target, functools.partial):
        target = target.func
    if not (inspect.isfunction(target) or inspect.ismethod(target)) and callable(target):
        target = type(target).__call__  # a callable object: its __call__ carries the annotations
    try:
        return typing.get_type_hints(target, include_extras=True)
    except NameError as exc:
        raise UserError(
            f'Cannot resolve the type annotations of {getattr(target, "__qualname__", target)!r}: {exc}. '
            'Types used in a tool signature must be importable from its module.'
        ) from None


def function_schema(
    function: Callable[..., Any],
    *,
    takes_ctx: bool | None,
    docstring_format: DocstringFormat = 'auto',
    require_parameter_descriptions: bool = False,
) -> FunctionSchema:
    """Build the schema and validator of a tool function; `takes_ctx=None` infers it from the annotation."""
    from pydantic import ConfigDict, Field, TypeAdapter

    signature = inspect.signature(function)
    hints = _type_hints(function)
    params = list(signature.parameters.values())
    name = getattr(function, '__name__', type(function).__name__)

    first_is_ctx = bool(params) and _is_run_context(hints.get(params[0].name))
    if takes_ctx is None:
        takes_ctx = first_is_ctx
    if takes_ctx and not first_is_ctx:
        raise UserError(
            f'The first parameter of {name!r} must be annotated with RunContext[...], '
            'since tools registered with `@agent.tool` take the run context'
        )
    if takes_ctx:
        params = params[1:]
    for param in params:
        if _is_run_context(hints.get(param.name)):
            raise UserError(
                f'{name!r}: RunContext can only be the first parameter, of a tool that takes context '
                '(use `@agent.tool`, not `@agent.tool_plain`)'
            )
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise UserError(f'{name!r}: tools cannot take *args or **kwargs (parameter {param.name!r})')

    description, param_docs = parse_docstring(function.__doc__, docstring_format)
    if require_parameter_descriptions:
        missing = [p.name for p in params if p.name not in param_docs]
        if missing:
            raise UserError(f'{name!r}: missing parameter descriptions for {", ".join(missing)}')

    if len(params) == 1 and is_model_like(hints.get(params[0].name)):
        only = params[0]
        adapter: TypeAdapter[Any] = TypeAdapter(hints[only.name])
        json_schema = adapter.json_schema()
        json_schema.pop('title', None)
        positional: tuple[str, ...] = (only.name,) if only.kind is only.POSITIONAL_ONLY else ()
        return FunctionSchema(
            function,
            description or json_schema.pop('description', ''),
            json_schema,
            takes_ctx,
            _is_async(function),
            adapter,
            positional,
            only.name,
        )

    fields: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for param in params:
        annotation: Any = hints.get(param.name, Any)
        if param_docs.get(param.name):
            annotation = typing.Annotated[annotation, Field(description=param_docs[param.name])]
        if param.default is not param.empty:
            defaults[param.name] = param.default
            annotation = typing.NotRequired[annotation]
        fields[param.name] = annotation
    arguments = make_typed_dict(f'{name}_arguments', fields)
    arguments.__pydantic_config__ = ConfigDict(extra='forbid')
    adapter = TypeAdapter(arguments)
    json_schema = adapter.json_schema()
    json_schema.pop('title', None)
    properties = json_schema.get('properties', {})
    for prop_name, prop in properties.items():
        prop.pop('title', None)
        if prop_name in defaults:
            _add_default(prop, defaults[prop_name])
    if not properties:
        json_schema['properties'] = {}
    positional = tuple(p.name for p in params if p.kind is p.POSITIONAL_ONLY)
    return FunctionSchema(
        function, description, json_schema, takes_ctx, _is_async(function), adapter, positional, None
    )


def make_typed_dict(name: str, fields: dict[str, Any]) -> Any:
    """A TypedDict class built at run time (the typing_extensions one: pydantic needs it before 3.12)."""
    from typing_extensions import TypedDict

    factory: Any = TypedDict
    return factory(name, fields)


def _add_default(prop: dict[str, Any], default: Any) -> None:
    from pydantic_core import PydanticSerializationError, to_jsonable_python

    # A default the model cannot read (a sentinel object) is simply not shown.
    with contextlib.suppress(PydanticSerializationError):
        prop['default'] = to_jsonable_python(default)


def _is_async(function: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, '__call__', None)  # noqa: B004  (callable objects with an async __call__)
    )
