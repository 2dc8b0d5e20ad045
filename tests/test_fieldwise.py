"""`fieldwise` gives a dataclass exactly the `__repr__`, `__eq__` and `__hash__` `dataclass` generates;
the messages' written-out `__init__` methods are exactly the ones it would generate."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from modelkit import _transport, messages, models, usage
from modelkit._fieldwise import fieldwise
from modelkit.messages import ModelResponse, TextPart, ToolCallPart
from modelkit.parsers import eventstream, sse
from modelkit.profiles import OPENAI_COMPATIBLE_PROFILE


def _pair(frozen: bool = False, slots: bool = False) -> tuple[type[Any], type[Any]]:
    """The same class made by `dataclass` alone and by `fieldwise` over `repr=False, eq=False`."""

    def body() -> dict[str, Any]:
        return {
            '__annotations__': {
                'a': 'int',
                'b': 'list[Any]',
                'hidden': 'str',
                'ignored': 'float',
                'tag': 'ClassVar[str]',
            },
            'b': field(default_factory=list),
            'hidden': field(default='h', repr=False),
            'ignored': field(default=0.0, compare=False),
            'tag': 'not a field',
            '__module__': __name__,
            '__qualname__': 'Outer.Thing',
        }

    generated = dataclass(frozen=frozen, slots=slots)(type('Thing', (), body()))
    shared = fieldwise(dataclass(frozen=frozen, slots=slots, repr=False, eq=False)(type('Thing', (), body())))
    return generated, shared


@pytest.mark.parametrize('slots', [False, True])
@pytest.mark.parametrize('frozen', [False, True])
def test_repr_eq_and_hash_match_the_generated_ones(frozen: bool, slots: bool) -> None:
    generated, shared = _pair(frozen, slots)
    for cls in (generated, shared):
        assert (cls.__hash__ is None) is not frozen
    values = [(1, (2,), 'x', 0.5), (1, (2,), 'y', 0.5), (1, (2,), 'x', 9.0), (2, (), 'x', 0.5)]
    for args in values:
        assert repr(shared(*args)) == repr(generated(*args))
        for other in values:
            assert (shared(*args) == shared(*other)) is (generated(*args) == generated(*other))
            assert (shared(*args) != shared(*other)) is (generated(*args) != generated(*other))
            if frozen:
                same_hash = hash(shared(*args)) == hash(shared(*other))
                assert same_hash is (hash(generated(*args)) == hash(generated(*other)))
        # Another class, even one with the same fields, is never equal: NotImplemented, as generated.
        assert shared(*args).__eq__(generated(*args)) is NotImplemented
        assert shared(*args) != generated(*args)
    assert shared.__repr__.__qualname__ == 'Outer.Thing.__repr__'


def test_a_nan_field_compares_as_in_a_tuple() -> None:
    generated, shared = _pair()
    nan = float('nan')
    # Tuples compare items by identity first, so the same NaN object is equal to itself.
    assert generated(nan) == generated(nan)
    assert shared(nan) == shared(nan)


def test_recursive_repr_is_guarded() -> None:
    generated, shared = _pair()
    for cls in (generated, shared):
        item = cls(1)
        item.b.append(item)
    assert repr(shared(1, [])) == 'Outer.Thing(a=1, b=[], ignored=0.0)'
    looped = shared(1)
    looped.b.append(looped)
    assert repr(looped) == 'Outer.Thing(a=1, b=[...], ignored=0.0)'


def test_methods_the_class_defines_are_kept() -> None:
    @fieldwise
    @dataclass(repr=False, eq=False)
    class Own:
        """Defines its own repr."""

        a: int
        kind: ClassVar[str] = 'own'

        def __repr__(self) -> str:
            return 'mine'

    assert repr(Own(1)) == 'mine'
    assert Own(1) == Own(1)
    assert Own.__hash__ is None


def test_a_subclass_sees_only_the_fields_of_the_class_that_made_the_methods() -> None:
    @fieldwise
    @dataclass(repr=False, eq=False)
    class Base:
        """A base."""

        a: int

    @dataclass(repr=False, eq=False)
    class Child(Base):
        """A child that makes no methods of its own."""

        b: int = 0

    assert (
        repr(Child(1, 2))
        == 'test_a_subclass_sees_only_the_fields_of_the_class_that_made_the_methods.<locals>.Child(a=1)'
    )
    assert Child(1, 2) == Child(1, 3)


def test_public_messages_keep_their_dataclass_behaviour() -> None:
    part = ToolCallPart('get_weather', {'city': 'Paris'}, 'call_1')
    assert repr(part) == (
        "ToolCallPart(tool_name='get_weather', args={'city': 'Paris'}, "
        "tool_call_id='call_1', part_kind='tool-call')"
    )
    assert part == ToolCallPart('get_weather', {'city': 'Paris'}, 'call_1')
    assert part != ToolCallPart('get_weather', {'city': 'Rome'}, 'call_1')
    with pytest.raises(TypeError):
        hash(part)
    response = ModelResponse([TextPart('hi')], model_name='m', vendor_id='x')
    # `finish_reason`, `vendor_finish_reason` and `vendor_id` are `repr=False` fields.
    assert repr(response).endswith(
        "model_name='m', timestamp=" + repr(response.timestamp) + ", kind='response')"
    )
    assert dataclasses.replace(response, vendor_id='y') != response
    assert hash(OPENAI_COMPATIBLE_PROFILE) == hash(dataclasses.replace(OPENAI_COMPATIBLE_PROFILE))
    with pytest.raises(dataclasses.FrozenInstanceError):
        OPENAI_COMPATIBLE_PROFILE.seed_field = 'x'  # type: ignore[misc]


def _written_out_inits() -> list[type[Any]]:
    """Every dataclass whose `__init__` is written out in the class (`init=False`) to save its compile."""
    found = [
        cls
        for module in (messages, usage, models, _transport, sse, eventstream)
        for name in module.__all__
        if isinstance(cls := getattr(module, name), type) and dataclasses.is_dataclass(cls)
    ]
    return [cls for cls in found if not cls.__dataclass_params__.init]  # type: ignore[attr-defined]


def _as_generated(cls: type[Any]) -> type[Any]:
    """`cls`'s fields again, in a class whose `__init__` `dataclass` generates."""
    namespace: dict[str, Any] = {'__annotations__': {}, '__module__': cls.__module__}
    for f in dataclasses.fields(cls):
        namespace['__annotations__'][f.name] = f.type
        if f.default is not dataclasses.MISSING:
            namespace[f.name] = field(default=f.default, init=f.init)
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f.name] = field(default_factory=f.default_factory, init=f.init)
    return dataclass(type(cls.__name__, (), namespace))


@pytest.mark.parametrize('cls', _written_out_inits(), ids=lambda cls: cls.__name__)
def test_written_out_inits_are_the_ones_dataclass_would_generate(cls: type[Any]) -> None:
    assert {c.__name__ for c in _written_out_inits()} >= {'TextPart', 'Usage', 'SSEEvent', 'HTTPRequest'}
    generated = _as_generated(cls)
    ours, theirs = inspect.signature(cls.__init__), inspect.signature(generated.__init__)
    # (Only the return annotation differs: the string 'None' under `from __future__ import annotations`.)
    assert str(ours.replace(return_annotation=None)) == str(theirs.replace(return_annotation=None))
    for mine, reference in zip(ours.parameters.values(), theirs.parameters.values(), strict=True):
        if mine.default is not inspect.Parameter.empty and repr(mine.default) != '<factory>':
            assert mine.default == reference.default
    # Every required field set from its argument, every factory called afresh for each instance.
    required = {
        f.name: object()
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    first, second, reference = cls(**required), cls(**required), generated(**required)
    for f in dataclasses.fields(cls):
        assert type(getattr(first, f.name)) is type(getattr(reference, f.name)), f.name
        if f.name in required:
            assert getattr(first, f.name) is required[f.name]
        elif f.default_factory is not dataclasses.MISSING:
            assert getattr(first, f.name) is not getattr(second, f.name), f.name
        elif f.default is not dataclasses.MISSING:
            assert getattr(first, f.name) == f.default
    # Every field can be passed by keyword and ends up where it was passed.
    given = {f.name: object() for f in dataclasses.fields(cls) if f.init}
    made = cls(**given)
    assert all(getattr(made, name) is value for name, value in given.items())
