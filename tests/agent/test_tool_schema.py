"""Tool schemas from signatures and docstrings, and argument validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from modelkit import RunContext, UserError
from modelkit._tool_schema import parse_docstring
from modelkit.tools import Tool


def google_style(ctx: RunContext[int], city: str, days: int = 3, *, metric: bool = True) -> str:
    """Get the weather forecast.

    Uses the national service.

    Args:
        city: The city to look up,
            spelled in English.
        days (int): How many days ahead.
        metric: Celsius when true.

    Returns:
        The forecast.
    """
    return city


def numpy_style(city: str, days: int) -> str:
    """Get the forecast.

    Parameters
    ----------
    city : str
        The city to look up.
    days : int
        How many days
        ahead.

    Returns
    -------
    str
        The forecast.
    """
    return city


def sphinx_style(city: str, days: int) -> str:
    """Get the forecast.

    :param city: The city to look up.
    :param int days: How many days
        ahead.
    :returns: The forecast.
    """
    return city


def test_google_docstring_gives_description_and_parameter_descriptions() -> None:
    tool = Tool(google_style)
    assert tool.takes_ctx is True
    assert tool.description == 'Get the weather forecast.\n\nUses the national service.'
    assert tool.tool_def.parameters_json_schema == {
        'type': 'object',
        'properties': {
            'city': {'type': 'string', 'description': 'The city to look up, spelled in English.'},
            'days': {'type': 'integer', 'description': 'How many days ahead.', 'default': 3},
            'metric': {'type': 'boolean', 'description': 'Celsius when true.', 'default': True},
        },
        'required': ['city'],
        'additionalProperties': False,
    }


@pytest.mark.parametrize('function', [numpy_style, sphinx_style])
def test_numpy_and_sphinx_docstrings(function: Any) -> None:
    tool = Tool(function)
    assert tool.takes_ctx is False
    assert tool.description == 'Get the forecast.'
    properties = tool.tool_def.parameters_json_schema['properties']
    assert properties['city'] == {'type': 'string', 'description': 'The city to look up.'}
    assert properties['days'] == {'type': 'integer', 'description': 'How many days ahead.'}


def test_docstring_format_can_be_forced() -> None:
    doc = 'Summary.\n\n:param a: first\n'
    assert parse_docstring(doc, 'sphinx') == ('Summary.', {'a': 'first'})
    assert parse_docstring(doc, 'google') == ('Summary.\n\n:param a: first', {})
    assert parse_docstring(None) == ('', {})
    assert parse_docstring('Just a line.') == ('Just a line.', {})


def test_no_parameters_gives_an_empty_object_schema() -> None:
    def now() -> str:
        return 'noon'

    schema = Tool(now).tool_def.parameters_json_schema
    assert schema == {'type': 'object', 'properties': {}, 'additionalProperties': False}


class Point(BaseModel):
    """A point on the plane."""

    x: int
    y: int


def test_single_model_parameter_uses_the_model_schema() -> None:
    def plot(point: Point) -> str:
        return f'{point.x},{point.y}'

    tool = Tool(plot)
    schema = tool.tool_def.parameters_json_schema
    assert schema['properties'] == {
        'x': {'title': 'X', 'type': 'integer'},
        'y': {'title': 'Y', 'type': 'integer'},
    }
    assert tool.description == 'A point on the plane.'
    assert tool.function_schema.validate('{"x": 1, "y": 2}') == {'point': Point(x=1, y=2)}


@dataclass
class Box:
    width: int


def test_arguments_validate_from_json_string_and_dict() -> None:
    def area(box: Box, scale: float = 1.0) -> float:
        return box.width * scale

    schema = Tool(area).function_schema
    assert schema.validate('{"box": {"width": 2}}') == {'box': Box(2)}
    assert schema.validate({'box': {'width': 2}, 'scale': 2}) == {'box': Box(2), 'scale': 2.0}
    with pytest.raises(ValidationError):
        schema.validate('{"box": {"width": "wide"}}')
    with pytest.raises(ValidationError, match='Extra inputs are not permitted'):
        schema.validate({'box': {'width': 1}, 'colour': 'red'})
    with pytest.raises(ValidationError, match='Invalid JSON'):
        schema.validate('{"box": ')


def test_empty_argument_string_means_no_arguments() -> None:
    def ping() -> str:
        return 'pong'

    assert Tool(ping).function_schema.validate('') == {}


def test_tool_with_context_must_annotate_it() -> None:
    def no_ctx(a: int) -> int:
        return a

    with pytest.raises(UserError, match='must be annotated with RunContext'):
        Tool(no_ctx, takes_ctx=True)


def test_plain_tool_rejects_run_context() -> None:
    def has_ctx(ctx: RunContext[None], a: int) -> int:
        return a

    with pytest.raises(UserError, match='RunContext can only be the first parameter'):
        Tool(has_ctx, takes_ctx=False)


def test_var_args_are_rejected() -> None:
    def many(*names: str) -> str:
        return ''.join(names)

    with pytest.raises(UserError, match=r'\*args or \*\*kwargs'):
        Tool(many)


def test_required_parameter_descriptions() -> None:
    def half(a: int, b: int) -> int:
        """Half documented.

        Args:
            a: documented
        """
        return a

    with pytest.raises(UserError, match='missing parameter descriptions for b'):
        Tool(half, require_parameter_descriptions=True)


def test_unresolvable_annotation_is_a_user_error() -> None:
    def broken(a: NotDefinedAnywhere) -> int:  # type: ignore[name-defined]  # noqa: F821
        return 1

    with pytest.raises(UserError, match='Cannot resolve the type annotations'):
        Tool(broken)


def test_positional_only_parameters_are_passed_positionally() -> None:
    def sub(a: int, b: int, /) -> int:
        return a - b

    schema = Tool(sub).function_schema
    args, kwargs = schema.call_args(schema.validate('{"a": 5, "b": 2}'), None)
    assert (args, kwargs) == ([5, 2], {})
    assert sub(*args, **kwargs) == 3


def test_callable_without_a_name_needs_one() -> None:
    import functools

    def scale(a: int, factor: int) -> int:
        return a * factor

    triple = functools.partial(scale, factor=3)
    with pytest.raises(UserError, match='give the tool a name'):
        Tool(triple)
    tool = Tool(triple, name='triple')
    assert tool.tool_def.parameters_json_schema['required'] == ['a']


@pytest.mark.anyio
async def test_tool_options_reach_the_definition() -> None:
    from modelkit import Agent
    from modelkit.models.test import TestModel

    agent = Agent(TestModel())

    @agent.tool(name='ctx_tool', retries=3, strict=True, docstring_format='sphinx')
    def fn(ctx: RunContext[None], a: int) -> int:
        """Do it.

        :param a: the value
        """
        return a

    @agent.tool()
    def other(ctx: RunContext[None]) -> int:
        return 1

    result = await agent.run('go')
    assert result.data == '{"ctx_tool":0,"other":1}'
    model = agent.model
    assert isinstance(model, TestModel)
    params = model.last_model_request_parameters
    assert params is not None
    (first, second) = params.function_tools
    assert (first.name, first.strict, first.description) == ('ctx_tool', True, 'Do it.')
    assert first.parameters_json_schema['properties']['a']['description'] == 'the value'
    assert second.name == 'other'


@given(st.text())
def test_docstring_parser_accepts_any_text(doc: str) -> None:
    description, params = parse_docstring(doc)
    assert isinstance(description, str)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())


@given(
    st.lists(
        st.sampled_from(
            [
                'Args:',
                '    a: x',
                '        more',
                'Parameters',
                '----------',
                ':param b: y',
                '',
                'text',
                '  b : int',
            ]
        )
    )
)
def test_docstring_parser_on_section_like_lines(lines: list[str]) -> None:
    for fmt in ('auto', 'google', 'numpy', 'sphinx'):
        description, _ = parse_docstring('\n'.join(lines), fmt)  # type: ignore[arg-type]
        assert isinstance(description, str)
