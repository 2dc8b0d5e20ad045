"""What every vendor's wire module shares: the two extra-field policies and open tagged unions.

- `WireRequest`: what modelkit builds and sends. Unknown fields are forbidden, so a test that
  validates every body an interface builds catches a misspelt key.
- `WireResponse`: what a vendor sends (and what a history re-sends as it came). Unknown fields are
  kept: vendors add fields without notice, and only what an interface reads is declared.
- `open_tag(...)`: the discriminator of an *open* tagged union. Known tags (each member's own
  `type: Literal[...]`) pick their model; any other tag goes to the union's fallback model instead
  of failing, because vendors add block and event types faster than clients learn them
  (ARCHITECTURE.md: unknown types are skipped, not fatal).
"""

from __future__ import annotations

import operator
from functools import reduce
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Discriminator, GetCoreSchemaHandler, GetJsonSchemaHandler, Tag
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = ('FALLBACK_TAG', 'OpenTag', 'WireRequest', 'WireResponse', 'open_tag')

FALLBACK_TAG = 'other'
"""The `Tag` of the fallback member of every open union."""


class WireRequest(BaseModel):
    """A payload modelkit sends: unknown fields are an error."""

    model_config = ConfigDict(extra='forbid')


class WireResponse(BaseModel):
    """A payload a vendor sends: unknown fields are kept as extras."""

    model_config = ConfigDict(extra='allow')


class OpenTag:
    """The discriminator of an open union (made by `open_tag`), and how the union is drawn in JSON Schema.

    In the exported schema the fallback member is `oneOf`'s last item, restricted to payloads whose
    `key` is none of the known tags, so a known event matches exactly one member there too.
    """

    def __init__(self, known: frozenset[str], key: str, default: str | None) -> None:
        self.known = known
        self.key = key
        self.default = default
        self._discriminator = Discriminator(self.tag)

    def tag(self, value: Any) -> str:
        """The member a payload (a dict, or a model when dumping) belongs to."""
        key, default = self.key, self.default
        kind = value.get(key, default) if isinstance(value, dict) else getattr(value, key, default)
        return kind if isinstance(kind, str) and kind in self.known else FALLBACK_TAG

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        # A member's tag is read off its own `key` field, so each tag is written once and cannot
        # disagree with the model it routes to; pydantic's callable discriminator wants them as `Tag`s.
        members = get_args(source)
        tags = [_member_tag(member, self.key) for member in members[:-1]] + [FALLBACK_TAG]
        if not self.known:
            self.known = frozenset(tags[:-1])
        tagged = reduce(operator.or_, (Annotated[m, Tag(t)] for m, t in zip(members, tags, strict=True)))
        return self._discriminator.__get_pydantic_core_schema__(tagged, handler)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        members = json_schema.get('oneOf')
        if isinstance(members, list) and members:
            excluded: dict[str, Any] = {'properties': {self.key: {'enum': sorted(self.known)}}}
            if self.default is None or self.default not in self.known:
                excluded['required'] = [self.key]
            members[-1] = {'allOf': [members[-1]], 'not': excluded}
        return json_schema


def open_tag(*known: str, key: str = 'type', default: str | None = None) -> OpenTag:
    """A discriminator that routes each known value of `key` to the member declaring it and anything
    else to the last member, the fallback: `Annotated[A | B | OtherX, open_tag()]`.

    Each member but the last declares `key` as one `Literal` value (`type: Literal['a']`, optional
    where `default` names it); the fallback is a `WireResponse` with `type: str`. The known values
    are the members' unless given as `known`. `default` is the tag of a payload without `key`
    (Anthropic's custom tools may omit `type`).
    """
    return OpenTag(frozenset(known), key, default)


def _member_tag(member: Any, key: str) -> str:
    """The one `Literal` value of `member`'s `key` field (`None` allowed beside it)."""
    field = getattr(member, 'model_fields', {}).get(key)
    annotation = field.annotation if field is not None else None
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    values = [value for option in options if get_origin(option) is Literal for value in get_args(option)]
    if len(values) != 1 or not isinstance(values[0], str):
        raise TypeError(f'open union member {member!r}: declare `{key}: Literal[<its one tag>]`')
    return values[0]
