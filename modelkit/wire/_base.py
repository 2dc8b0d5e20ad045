"""What every vendor's wire module shares: the two extra-field policies and open tagged unions.

- `WireRequest`: what modelkit builds and sends. Unknown fields are forbidden, so a test that
  validates every body an interface builds catches a misspelt key.
- `WireResponse`: what a vendor sends (and what a history re-sends as it came). Unknown fields are
  kept: vendors add fields without notice, and only what an interface reads is declared.
- `open_tag(...)`: the discriminator of an *open* tagged union. Known tags (the members' `Tag`s)
  pick their model; any other tag goes to the union's fallback model instead of failing, because
  vendors add block and event types faster than clients learn them (ARCHITECTURE.md: unknown types
  are skipped, not fatal).
- `OtherMember`: the base of every open union's fallback member, so each vendor declares only its
  docstring (and any field every unlisted type has).
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, GetCoreSchemaHandler, GetJsonSchemaHandler, Tag
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = ('FALLBACK_TAG', 'OpenTag', 'OtherMember', 'WireRequest', 'WireResponse', 'open_tag')

FALLBACK_TAG = 'other'
"""The `Tag` of the fallback member of every open union."""


class WireRequest(BaseModel):
    """A payload modelkit sends: unknown fields are an error."""

    model_config = ConfigDict(extra='forbid')


class WireResponse(BaseModel):
    """A payload a vendor sends: unknown fields are kept as extras."""

    model_config = ConfigDict(extra='allow')


class OtherMember(WireResponse):
    """The fallback member of an open union: a payload of a type no other member lists, kept whole."""

    type: str


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
        if not self.known:
            # The members' own `Tag`s are the known tags, so each is written once, on its member.
            self.known = _member_tags(source) - {FALLBACK_TAG}
        return self._discriminator.__get_pydantic_core_schema__(source, handler)

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
    """A discriminator that routes the known values of `key` to their `Tag` and anything else to
    `FALLBACK_TAG`: `Annotated[Annotated[A, Tag('a')] | ... | Annotated[Other, Tag('other')], open_tag()]`.

    The known values are the union's `Tag`s unless given as `known`. `default` is the tag of a
    payload without `key` (Anthropic's custom tools may omit `type`). The fallback member must be
    the union's last.
    """
    return OpenTag(frozenset(known), key, default)


def _member_tags(union: Any) -> frozenset[str]:
    """The `Tag` of each `Annotated[Model, Tag(...)]` member of `union`."""
    return frozenset(
        item.tag
        for member in get_args(union)
        for item in getattr(member, '__metadata__', ())
        if isinstance(item, Tag)
    )
