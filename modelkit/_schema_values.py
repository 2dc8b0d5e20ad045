"""Values that satisfy a JSON schema: the one generator `TestModel` and the emulator share.

Two ways to fill the leaves, one walk of the schema (`$ref`/`$defs`, `anyOf`/`oneOf`/`allOf`,
`const`, `enum`, `examples`, objects, arrays, recursion limits):

- seeded (`rng=None`, `TestModel`): predictable values a test can pin. With seed 0 strings are
  `'a'`, numbers their minimum (or 0), booleans `False`, enums their first member.
- random (`rng=` a `random.Random`, the emulator): readable words, numbers spread within their
  bounds, so answers look like a model's while staying reproducible for a given generator state.

A schema no value can satisfy (a `$ref` to nothing, a remote `$ref`, an unknown type, empty
bounds, required properties nested without end) raises `UserError` in both modes: `TestModel`
reports the misuse, the emulator answers the request with its vendor's 400.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from typing import Any

from .exceptions import UserError

__all__ = ('HARD_DEPTH_LIMIT', 'SOFT_DEPTH_LIMIT', 'WORDS', 'generate_from_schema')

SOFT_DEPTH_LIMIT = 6
"""Nesting depth after which optional properties and array items are left out, so recursive
schemas (a tree of nodes) end; deep enough for any hand-written tool schema."""
HARD_DEPTH_LIMIT = 40
"""Nesting depth at which a schema whose required fields recurse forever is reported as an error."""
RANDOM_SPAN = 100
"""How far past a single bound random numbers reach (and the range when a schema gives none)."""
UNIQUE_ATTEMPTS_PER_ITEM = 10
"""Tries per item to find one not already in a `uniqueItems` array before giving up on it."""

_LETTERS = 'abcdefghijklmnopqrstuvwxyz'

# Plain words for random strings (and the emulator's answers); ours, readable in a terminal.
_WORD_LIST = (
    'alpha amber anchor apple arrow atlas autumn badge basket beacon birch blossom breeze bridge '
    'canyon cedar chalk cinder clover comet copper coral cotton crystal delta desert drift echo '
    'ember falcon feather fern field flint forest fountain garden glacier granite harbor hazel '
    'horizon island ivory jasmine juniper kettle lagoon lantern laurel lemon linen maple marble '
    'meadow mesa mint mirror harvest nectar north oak ocean olive orbit orchid pebble pepper pine '
    'planet prairie quartz quill rain raven reef ridge river saffron sage shadow silver slate '
    'spruce stone summit sunrise thistle thunder timber topaz tulip valley velvet willow winter zephyr'
)
WORDS: tuple[str, ...] = tuple(_WORD_LIST.split())
"""The words of random strings and of the emulator's answers."""


def generate_from_schema(schema: dict[str, Any], *, seed: int = 0, rng: random.Random | None = None) -> Any:
    """A value satisfying `schema` (the common keywords; `pattern` is not honoured).

    Without `rng` the value depends only on `seed` (see the module docstring for seed 0); with
    `rng` the leaves are drawn from it (words, numbers within bounds) and `seed` is ignored.
    """
    return _SchemaValues(schema, rng).generate(schema, seed, 0)


class _SchemaValues:
    __slots__ = ('_rng', '_root')

    def __init__(self, root: dict[str, Any], rng: random.Random | None) -> None:
        self._root = root
        self._rng = rng

    def generate(self, schema: Any, seed: int, depth: int) -> Any:
        if depth > HARD_DEPTH_LIMIT:
            raise UserError('cannot generate a value: the JSON schema requires values nested without end')
        if schema is True or not isinstance(schema, dict):
            return self._text(seed)
        if 'const' in schema:
            return schema['const']
        if enum := schema.get('enum'):
            return self._pick(enum, seed)
        if (examples := schema.get('examples')) and isinstance(examples, list):
            return self._pick(examples, seed)
        if ref := schema.get('$ref'):
            return self.generate(self._resolve(ref), seed, depth + 1)
        for key in ('anyOf', 'oneOf'):
            if options := schema.get(key):
                return self.generate(self._pick_option(options, seed, depth), seed, depth)
        if all_of := schema.get('allOf'):
            return self.generate(self._merge_all_of(schema, all_of), seed, depth)

        kind = schema.get('type')
        if isinstance(kind, list):
            kind = self._pick_type(kind, seed) if kind else None
        if kind is None:
            if 'properties' in schema or 'additionalProperties' in schema:
                kind = 'object'
            elif 'items' in schema or 'prefixItems' in schema:
                kind = 'array'
        if kind == 'object':
            return self._object(schema, seed, depth)
        if kind == 'array':
            return self._array(schema, seed, depth)
        if kind == 'string':
            return self._string(schema, seed)
        if kind == 'integer':
            return int(self._number(schema, seed, integer=True))
        if kind == 'number':
            return float(self._number(schema, seed, integer=False))
        if kind == 'boolean':
            return self._rng.random() < 0.5 if self._rng is not None else bool(seed % 2)
        if kind == 'null':
            return None
        if kind is None:
            # An empty schema accepts anything; a short string is the most readable "anything".
            return self._text(seed)
        raise UserError(f'cannot generate a value for JSON schema type {kind!r}')

    # -- choices ----------------------------------------------------------------------------

    def _pick(self, options: list[Any], seed: int) -> Any:
        return self._rng.choice(options) if self._rng is not None else options[seed % len(options)]

    def _pick_type(self, kinds: list[Any], seed: int) -> Any:
        if self._rng is not None:
            # A real value reads better in an answer than null.
            return next((k for k in kinds if k != 'null'), kinds[0])
        return kinds[seed % len(kinds)]

    def _pick_option(self, options: list[Any], seed: int, depth: int) -> Any:
        if depth >= SOFT_DEPTH_LIMIT:
            # Deep in a recursive schema: take a branch that ends (null, a scalar) when there is one.
            for option in options:
                target = self._deref(option)
                if isinstance(target, dict) and target.get('type') not in (None, 'object', 'array'):
                    return target
        if self._rng is not None:
            return next((o for o in options if self._deref(o) != {'type': 'null'}), options[0])
        return options[seed % len(options)]

    # -- references -------------------------------------------------------------------------

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith('#'):
            raise UserError(f'cannot generate a value: only local $refs are supported, not {ref!r}')
        target: Any = self._root
        for token in ref[1:].split('/')[1:]:
            # JSON pointer escapes (RFC 6901): ~1 is '/', ~0 is '~'.
            key = token.replace('~1', '/').replace('~0', '~')
            if isinstance(target, list) and key.isdigit() and int(key) < len(target):
                target = target[int(key)]
            elif isinstance(target, dict) and key in target:
                target = target[key]
            else:
                raise UserError(f'cannot generate a value: $ref {ref!r} points at nothing in the schema')
        return target

    def _deref(self, schema: Any) -> Any:
        seen = 0
        while isinstance(schema, dict) and '$ref' in schema and seen < HARD_DEPTH_LIMIT:
            schema = self._resolve(schema['$ref'])
            seen += 1
        return schema

    def _merge_all_of(self, schema: dict[str, Any], parts: list[Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != 'allOf'}
        for part in parts:
            part = self._deref(part)
            if not isinstance(part, dict):
                continue
            for key, value in part.items():
                if key == 'properties':
                    merged['properties'] = {**merged.get('properties', {}), **value}
                elif key == 'required':
                    merged['required'] = [*merged.get('required', []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    # -- containers -------------------------------------------------------------------------

    def _object(self, schema: dict[str, Any], seed: int, depth: int) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get('properties') or {}
        required = set(schema.get('required') or ())
        shallow = depth < SOFT_DEPTH_LIMIT
        data = {
            name: self.generate(sub, seed, depth + 1)
            for name, sub in properties.items()
            if shallow or name in required
        }
        extra = schema.get('additionalProperties')
        wants_extra = (isinstance(extra, dict) and shallow) or len(data) < schema.get('minProperties', 0)
        if wants_extra and extra is not False:
            key = 'additionalProperty' if self._rng is None else self._rng.choice(WORDS)
            while key in data:
                key += '_'
            data[key] = self.generate(extra if isinstance(extra, dict) else {}, seed, depth + 1)
        return data

    def _array(self, schema: dict[str, Any], seed: int, depth: int) -> list[Any]:
        prefix = schema.get('prefixItems')
        items = schema.get('items')
        if isinstance(items, list):  # the draft-04 tuple form
            prefix, items = items, schema.get('additionalItems')
        data = [self.generate(sub, seed + i, depth + 1) for i, sub in enumerate(prefix or ())]
        min_items = schema.get('minItems', 0)
        max_items = schema.get('maxItems')
        if items is False:
            return data
        target = max(min_items, len(data) + 1 if depth < SOFT_DEPTH_LIMIT else 0)
        if max_items is not None:
            target = min(target, max_items)
        unique = schema.get('uniqueItems') is True
        attempts = 0
        while len(data) < target and attempts < target * UNIQUE_ATTEMPTS_PER_ITEM:
            # A different seed per try keeps items distinct, for `uniqueItems`.
            item = self.generate(items if isinstance(items, dict) else {}, seed + attempts, depth + 1)
            attempts += 1
            if not (unique and item in data):
                data.append(item)
        return data

    # -- leaves -----------------------------------------------------------------------------

    def _text(self, seed: int) -> str:
        return self._rng.choice(WORDS) if self._rng is not None else _letters(seed)

    def _string(self, schema: dict[str, Any], seed: int) -> str:
        fmt = schema.get('format')
        formatted = _formatted(fmt, seed if self._rng is None else self._rng.randrange(365), self._text(seed))
        if formatted is not None:
            text = formatted
        elif self._rng is not None:
            text = ' '.join(self._rng.choice(WORDS) for _ in range(self._rng.randint(1, 3)))
        else:
            text = _letters(seed)
        min_length = schema.get('minLength', 0)
        if len(text) < min_length:
            text = text + text[-1] * (min_length - len(text)) if text else 'a' * min_length
        max_length = schema.get('maxLength')
        if max_length is not None and len(text) > max_length:
            text = text[:max_length]
        return text

    def _number(self, schema: dict[str, Any], seed: int, *, integer: bool) -> float:
        low, high = _bound(schema, 'minimum'), _bound(schema, 'maximum')
        exclusive_low, exclusive_high = _bound(schema, 'exclusiveMinimum'), _bound(schema, 'exclusiveMaximum')
        # Draft 4 spells exclusivity as a boolean next to minimum / maximum.
        if schema.get('exclusiveMinimum') is True:
            exclusive_low, low = low, None
        if schema.get('exclusiveMaximum') is True:
            exclusive_high, high = high, None
        multiple = schema.get('multipleOf')
        if integer or isinstance(multiple, int):
            step = multiple if isinstance(multiple, int | float) and multiple > 0 else 1
            # Count in steps: the smallest and largest allowed multiples of `step`.
            lowest = _max_or_none(
                math.ceil(low / step) if low is not None else None,
                math.floor(exclusive_low / step) + 1 if exclusive_low is not None else None,
            )
            highest = _min_or_none(
                math.floor(high / step) if high is not None else None,
                math.ceil(exclusive_high / step) - 1 if exclusive_high is not None else None,
            )
            if lowest is not None and highest is not None and highest < lowest:
                raise UserError(f'cannot generate a value: no number satisfies the JSON schema {schema}')
            return self._count(lowest, highest, seed) * step

        lower = _max_or_none(low, exclusive_low)
        upper = _min_or_none(high, exclusive_high)
        lower_open = exclusive_low is not None and lower == exclusive_low
        upper_open = exclusive_high is not None and upper == exclusive_high
        if self._rng is not None:
            bottom = lower if lower is not None else (upper - RANDOM_SPAN if upper is not None else 0.0)
            top = upper if upper is not None else bottom + RANDOM_SPAN
            # Strictly inside the interval, so exclusive bounds hold too.
            value = round(bottom + (top - bottom) * (0.25 + self._rng.random() / 2), 2)
            return value if bottom < value < top or bottom == top else (bottom + top) / 2
        if lower is not None:
            value = lower + (seed or (1 if lower_open else 0))
            if upper is not None and (value > upper or (upper_open and value >= upper)):
                value = (lower + upper) / 2
            return value
        if upper is not None:
            return upper - (seed or (1 if upper_open else 0))
        return seed

    def _count(self, lowest: float | None, highest: float | None, seed: int) -> float:
        """An integer count of steps between the bounds: by seed, or drawn from the generator."""
        if self._rng is not None:
            bottom = lowest if lowest is not None else (highest - RANDOM_SPAN if highest is not None else 0)
            top = highest if highest is not None else bottom + RANDOM_SPAN
            return self._rng.randint(int(bottom), int(min(top, bottom + RANDOM_SPAN)))
        if lowest is not None and highest is not None:
            return lowest + seed % (highest - lowest + 1)
        if lowest is not None:
            return lowest + seed
        if highest is not None:
            return highest - seed
        return seed


def _letters(seed: int) -> str:
    """'a', 'b', ... 'z', 'aa', 'ab', ...: a distinct short string per seed."""
    out = ''
    n = seed
    while True:
        out = _LETTERS[n % 26] + out
        n = n // 26 - 1
        if n < 0:
            return out


def _formatted(fmt: Any, seed: int, word: str) -> str | None:
    if not isinstance(fmt, str):
        return None
    day = date(2024, 1, 1) + timedelta(days=seed)
    return {
        'date': day.isoformat(),
        'date-time': f'{day.isoformat()}T00:00:00Z',
        'time': '00:00:00',
        'duration': f'P{seed + 1}D',
        'email': f'{word}@example.com',
        'uri': f'https://example.com/{word}',
        'url': f'https://example.com/{word}',
        'hostname': 'example.com',
        'ipv4': '127.0.0.1',
        'ipv6': '::1',
        'uuid': f'00000000-0000-4000-8000-{seed:012d}',
    }.get(fmt)


def _bound(schema: dict[str, Any], key: str) -> float | None:
    value = schema.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _max_or_none(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _min_or_none(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)
