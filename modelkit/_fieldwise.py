"""`fieldwise`: a dataclass's `__repr__`, `__eq__` and `__hash__` built from closures, not compiled.

On Python 3.11 `@dataclass` writes every method it generates as source text and `exec`s it: the
parse and compile of `__repr__` and `__eq__` cost about as much as the rest of the class's creation
together, and every vendor's import path creates some thirty dataclasses. This builds the same two
methods (and the `__hash__` `eq=True` implies) from the class's fields without compiling anything:
the same output, the same comparison, the same recursion guard.

Use it over `@dataclass(..., repr=False, eq=False)`:

```python
@fieldwise
@dataclass(slots=True, repr=False, eq=False)
class TextPart: ...
```

`__init__` is on the hot path, so it stays a plain function: left to `dataclass`, or, for the
classes every import path creates (the messages, `Usage`, `SSEEvent`, ...), written out in the class
with `init=False`, using `FACTORY` for a `default_factory` field; tests/test_fieldwise.py holds each
written-out one to the `__init__` `dataclass` would generate.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from dataclasses import fields
from operator import attrgetter
from typing import Any, TypeVar

__all__ = ('FACTORY', 'fieldwise')

C = TypeVar('C', bound=type)


class _Factory:
    """The default of a written-out `__init__` parameter whose field has a `default_factory`.

    A class on an import path can write out the `__init__` `dataclass` would generate (with
    `init=False`), which `dataclass` would otherwise compile from source at import; this stands
    where `dataclass` puts its own marker, and shows the same way in signatures.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return '<factory>'


FACTORY: Any = _Factory()
"""`items: list[str] = FACTORY` in the signature, `self.items = [] if items is FACTORY else items` in
the body."""


def _values(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function from an instance to the tuple of its `names` attributes, in order."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        get = attrgetter(names[0])
        return lambda obj: (get(obj),)
    return lambda obj: ()


def fieldwise(cls: C) -> C:
    """Give a dataclass made with `repr=False, eq=False` the `__repr__`, `__eq__` and `__hash__` that
    `repr=True, eq=True` would have generated, built without `exec` (see the module docstring)."""
    own = cls.__dict__
    frozen: bool = own['__dataclass_params__'].frozen
    # The generated methods are fixed to the fields of the class they were made for (a subclass
    # that does not make its own sees only these), so the field names are bound here, not looked
    # up on `type(self)` at call time.
    declared = fields(cls)
    shown = tuple(f.name for f in declared if f.repr)
    compared = _values(tuple(f.name for f in declared if f.compare))

    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        inner = ', '.join([f'{name}={getattr(self, name)!r}' for name in shown])
        return f'{self.__class__.__qualname__}({inner})'

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is self.__class__:
            result: bool = compared(self) == compared(other)
            return result
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(compared(self))

    # As `dataclass` does, a method the class body defines itself is kept; and as `eq=True` does, a
    # mutable dataclass is made unhashable while a frozen one hashes its compared fields.
    methods: dict[str, Any] = {'__repr__': __repr__, '__eq__': __eq__}
    if '__hash__' not in own:
        methods['__hash__'] = __hash__ if frozen else None
    for name, method in methods.items():
        if name in own:
            continue
        if method is not None:
            method.__qualname__ = f'{cls.__qualname__}.{name}'
        setattr(cls, name, method)
    return cls
