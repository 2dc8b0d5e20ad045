"""JSON Schema -> the schema Gemini's `FunctionDeclaration.parameters` and `responseSchema` accept.

Gemini takes a subset of OpenAPI 3.0's Schema object, not JSON Schema
(https://ai.google.dev/api/caching#Schema): `type`, `format`, `title`, `description`, `nullable`,
`enum`, `items`, `minItems`, `maxItems`, `properties`, `required`, `minProperties`,
`maxProperties`, `minLength`, `maxLength`, `pattern`, `example`, `anyOf`, `propertyOrdering`,
`default`, `minimum`, `maximum`. Anything else makes the request fail with 400 ("Unknown name
..."), so what pydantic writes is rewritten here:

- `$ref` is replaced by the `$defs` (or `definitions`) entry it names, and `$defs` dropped: the
  API has no references. A recursive model cannot be written out and is a `UserError` naming it.
- `type: [T, "null"]` and `anyOf: [X, {type: null}]` become `nullable: true` (on `T`, on `X`).
- `oneOf` becomes `anyOf` (the closest the API has); `allOf` of one schema is that schema.
- `const: v` becomes `enum: [v]`; `examples: [...]` the single `example`.
- An `enum` of anything but strings is dropped: the API only takes string enums.
- `exclusiveMinimum` / `exclusiveMaximum` (numbers) become `minimum` / `maximum`, a close enough
  bound for the model's guidance (the agent still validates the arguments exactly).
- Every other keyword (`additionalProperties`, `$schema`, `uniqueItems`, `discriminator`,
  `prefixItems`, `not`, ...) is dropped.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import UserError

__all__ = ('gemini_schema',)

_KEPT = frozenset(
    {
        'type',
        'format',
        'title',
        'description',
        'nullable',
        'enum',
        'minItems',
        'maxItems',
        'minProperties',
        'maxProperties',
        'minLength',
        'maxLength',
        'pattern',
        'example',
        'propertyOrdering',
        'default',
        'minimum',
        'maximum',
    }
)
"""Keywords copied as they are (the ones holding schemas are walked separately)."""

_REF_PREFIXES = ('#/$defs/', '#/definitions/')


def gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (JSON Schema, as pydantic writes it) in the form Gemini accepts; the input is unchanged."""
    defs: dict[str, Any] = {**schema.get('definitions', {}), **schema.get('$defs', {})}
    return _convert(schema, defs, ())


def _convert(schema: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}  # `true` / `false` schemas: nothing Gemini can state
    ref = schema.get('$ref')
    if isinstance(ref, str):
        name = next((ref[len(p) :] for p in _REF_PREFIXES if ref.startswith(p)), None)
        if name is None or name not in defs:
            raise UserError(
                f'Gemini tool schemas cannot use the reference {ref!r}: only local $defs are inlined'
            )
        if name in seen:
            raise UserError(
                f'Gemini cannot take a recursive schema ({" -> ".join((*seen, name))}): the API has no '
                'references, so it cannot be written out'
            )
        # Keywords beside a `$ref` (a description, say) apply on top of the referenced schema.
        merged = {**defs[name], **{k: v for k, v in schema.items() if k != '$ref'}}
        return _convert(merged, defs, (*seen, name))

    out: dict[str, Any] = {key: schema[key] for key in _KEPT if key in schema}
    kind = schema.get('type')
    if isinstance(kind, list):
        types = [t for t in kind if t != 'null']
        if len(types) < len(kind):
            out['nullable'] = True
        if len(types) == 1:
            out['type'] = types[0]
        else:
            out.pop('type', None)
            if types:
                out['anyOf'] = [{'type': t} for t in types]
    if 'const' in schema:
        out['enum'] = [schema['const']]
    if 'enum' in out and not all(isinstance(v, str) for v in out['enum']):
        del out['enum']
    if 'example' not in out and isinstance(examples := schema.get('examples'), list) and examples:
        out['example'] = examples[0]
    for exclusive, bound in (('exclusiveMinimum', 'minimum'), ('exclusiveMaximum', 'maximum')):
        value = schema.get(exclusive)
        if isinstance(value, int | float) and not isinstance(value, bool) and bound not in out:
            out[bound] = value

    if isinstance(properties := schema.get('properties'), dict):
        out['properties'] = {name: _convert(value, defs, seen) for name, value in properties.items()}
        if isinstance(required := schema.get('required'), list):
            out['required'] = [name for name in required if name in properties]
    if 'items' in schema and isinstance(schema['items'], dict):
        out['items'] = _convert(schema['items'], defs, seen)

    alternatives = schema.get('anyOf', schema.get('oneOf'))
    if isinstance(alternatives, list):
        _add_alternatives(out, [_convert(a, defs, seen) for a in alternatives])
    all_of = schema.get('allOf')
    if isinstance(all_of, list) and len(all_of) == 1:
        out = {**_convert(all_of[0], defs, seen), **out}
    return out


def _add_alternatives(out: dict[str, Any], alternatives: list[dict[str, Any]]) -> None:
    """`anyOf` with its `{type: null}` member turned into `nullable`; one member left is merged in."""
    kept = [a for a in alternatives if a.get('type') != 'null']
    if len(kept) < len(alternatives):
        out['nullable'] = True
    if len(kept) == 1:
        for key, value in kept[0].items():
            out.setdefault(key, value)
    elif kept:
        out['anyOf'] = kept
