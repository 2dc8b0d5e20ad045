"""Two translations several vendors share, kept beside the kit (`modelkit.models._kit` re-exports them).

- `ToolCallIds`: tool-call ids from another vendor's history mapped into ids this vendor accepts
  (`MISTRAL_TOOL_CALL_IDS`, `ANTHROPIC_TOOL_CALL_IDS`), consistently within one request, so a
  conversation can move between vendors (a `FallbackModel` mid-conversation).
- `ThinkTagSplitter`: reasoning written inline in the text (`<think>...</think>`) split from the
  answer, for a whole text or a stream whose deltas cut the tags anywhere.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = (
    'ANTHROPIC_TOOL_CALL_IDS',
    'MISTRAL_TOOL_CALL_IDS',
    'ThinkTagSplitter',
    'ToolCallIdRule',
    'ToolCallIds',
)


# --------------------------------------------------------------------------------------------
# Tool-call ids across vendors
# --------------------------------------------------------------------------------------------

_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'


@dataclass(frozen=True, slots=True)
class ToolCallIdRule:
    """Which tool-call ids a vendor accepts, and how to make one from an id it would not.

    `pattern` must match the whole id; a new id is `prefix` plus `length` characters of `alphabet`
    derived from a hash of the original, so the same history always maps the same way.
    """

    pattern: str
    length: int
    alphabet: str = _ALNUM
    prefix: str = ''

    def accepts(self, tool_call_id: str) -> bool:
        """Whether the vendor takes `tool_call_id` as it is."""
        return _compiled(self.pattern).fullmatch(tool_call_id) is not None

    def derive(self, tool_call_id: str, salt: int = 0) -> str:
        """A valid id made from `tool_call_id` (and `salt`, to step past a collision)."""
        digest = int.from_bytes(hashlib.sha256(f'{salt}:{tool_call_id}'.encode()).digest(), 'big')
        base = len(self.alphabet)
        chars = []
        for _ in range(self.length):
            digest, index = divmod(digest, base)
            chars.append(self.alphabet[index])
        return self.prefix + ''.join(chars)


MISTRAL_TOOL_CALL_IDS = ToolCallIdRule(r'[A-Za-z0-9]{9}', length=9)
"""Mistral rejects any tool-call id that is not exactly 9 letters and digits."""

ANTHROPIC_TOOL_CALL_IDS = ToolCallIdRule(r'[A-Za-z0-9_-]{1,64}', length=24, prefix='toolu_')
"""Anthropic's `tool_use.id` and Bedrock's `toolUseId`: `[A-Za-z0-9_-]`, at most 64 characters."""


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = _PATTERNS[pattern] = re.compile(pattern)
    return compiled


class ToolCallIds:
    """The id map for one request: call it with every tool-call id of the history, in order.

    Ids the vendor accepts are kept; others get a derived id. The same original always gets the
    same id (so a call and its return still match), and no two originals share one.
    """

    __slots__ = ('_map', '_rule', '_taken')

    def __init__(self, rule: ToolCallIdRule) -> None:
        self._rule = rule
        self._map: dict[str, str] = {}
        self._taken: set[str] = set()

    def __call__(self, tool_call_id: str | None) -> str:
        """The id to send for `tool_call_id` (None or empty gets a derived id too)."""
        original = tool_call_id or ''
        mapped = self._map.get(original)
        if mapped is not None:
            return mapped
        rule = self._rule
        if original and original not in self._taken and rule.accepts(original):
            mapped = original
        else:
            salt = 0
            mapped = rule.derive(original)
            while mapped in self._taken or mapped in self._map:
                salt += 1
                mapped = rule.derive(original, salt)
        self._map[original] = mapped
        self._taken.add(mapped)
        return mapped


# --------------------------------------------------------------------------------------------
# Reasoning written inline in the text
# --------------------------------------------------------------------------------------------


class ThinkTagSplitter:
    """Splits text into answer and thinking at inline tags (`<think>` ... `</think>`), however a
    stream's deltas cut the tags.

    `feed(text)` returns `(thinking, segment, text)` in order, where `segment` counts the tags
    before the text, so that each stretch of text or thinking can be keyed as its own part. A
    possible start of a tag at the end of a delta is held back until the next delta says whether it
    is one (at most the tag's length less one character); `flush()` returns what is held at the end.
    """

    __slots__ = ('_close', '_held', '_open', 'inside', 'segment', 'watch')

    def __init__(self, open_tag: str = '<think>', close_tag: str = '</think>') -> None:
        self._open = open_tag
        self._close = close_tag
        self._held = ''
        self.inside = False
        """Whether the text now arriving is thinking."""
        self.segment = 0
        self.watch = open_tag[0]
        """A hot loop's test: a delta without this character belongs whole to the current segment
        (`watch not in text`; empty while a tag start is held back, so then nothing passes)."""

    def feed(self, text: str) -> list[tuple[bool, int, str]]:
        """The stretches of text and thinking `text` completes, as `(thinking, segment, text)`."""
        if self._held:
            text = self._held + text
            self._held = ''
        tag = self._close if self.inside else self._open
        if tag[0] not in text:  # nearly every delta: no tag can start here
            self.watch = tag[0]
            return [(self.inside, self.segment, text)] if text else []
        out: list[tuple[bool, int, str]] = []
        while text:
            at = text.find(tag)
            if at < 0:
                keep = _tag_start_at_end(text, tag)
                if keep:
                    self._held = text[-keep:]
                    text = text[:-keep]
                if text:
                    out.append((self.inside, self.segment, text))
                break
            if at:
                out.append((self.inside, self.segment, text[:at]))
            self.inside = not self.inside
            self.segment += 1
            text = text[at + len(tag) :]
            tag = self._close if self.inside else self._open
        self.watch = '' if self._held else tag[0]
        return out

    def passes(self, text: str) -> bool:
        """Whether `text` belongs whole to the current segment (no tag can start in it), so a hot
        loop may skip `feed`; `feed` must still see it otherwise."""
        return self.watch not in text

    def flush(self) -> list[tuple[bool, int, str]]:
        """What is held back at the end of the text (the start of a tag that never finished)."""
        held, self._held = self._held, ''
        self.watch = (self._close if self.inside else self._open)[0]
        return [(self.inside, self.segment, held)] if held else []

    def split(self, text: str) -> list[tuple[bool, int, str]]:
        """A whole text's segments (a non-streamed answer)."""
        return [*self.feed(text), *self.flush()]


def _tag_start_at_end(text: str, tag: str) -> int:
    """How many characters at the end of `text` are the start of `tag` (0 when none)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0
