"""What every vendor's wire module shares: the two extra-field policies and open tagged unions.

- `WireRequest`: what modelkit builds and sends. Unknown fields are forbidden, so a test that
  validates every body an interface builds catches a misspelt key.
- `WireResponse`: what a vendor sends (and what a history re-sends as it came). Unknown fields are
  kept: vendors add fields without notice, and only what an interface reads is declared.
- `open_tag(...)`: the discriminator of an *open* tagged union. Known tags pick their model; any
  other tag goes to the union's fallback model instead of failing, because vendors add block and
  event types faster than clients learn them (ARCHITECTURE.md: unknown types are skipped, not fatal).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Discriminator

__all__ = ('FALLBACK_TAG', 'WireRequest', 'WireResponse', 'open_tag')

FALLBACK_TAG = 'other'
"""The `Tag` of the fallback member of every open union."""


class WireRequest(BaseModel):
    """A payload modelkit sends: unknown fields are an error."""

    model_config = ConfigDict(extra='forbid')


class WireResponse(BaseModel):
    """A payload a vendor sends: unknown fields are kept as extras."""

    model_config = ConfigDict(extra='allow')


def open_tag(*known: str, key: str = 'type', default: str | None = None) -> Discriminator:
    """A discriminator that routes `known` values of `key` to their `Tag` and anything else to `FALLBACK_TAG`.

    `default` is the tag of a payload without `key` (Anthropic's custom tools may omit `type`).
    """
    tags = frozenset(known)

    def tag(value: Any) -> str:
        kind = value.get(key, default) if isinstance(value, dict) else getattr(value, key, default)
        return kind if isinstance(kind, str) and kind in tags else FALLBACK_TAG

    return Discriminator(tag)
