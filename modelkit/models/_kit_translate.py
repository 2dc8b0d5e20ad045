"""Translations several vendors share, kept beside the kit (`modelkit.models._kit` re-exports them).

- `ANTHROPIC_STOP_REASONS`: the stop reasons Anthropic's Messages API and Bedrock's Converse API
  share, as our finish reasons.
- `ToolCallIds`: tool-call ids from another vendor's history mapped into ids this vendor accepts
  (`MISTRAL_TOOL_CALL_IDS`, `ANTHROPIC_TOOL_CALL_IDS`), consistently within one request, so a
  conversation can move between vendors (a `FallbackModel` mid-conversation).
- `ThinkTagSplitter`: reasoning written inline in the text (`<think>...</think>`) split from the
  answer, for a whole text or a stream whose deltas cut the tags anywhere.
- `map_turns`: a conversation as the alternating user / model turns Anthropic, Bedrock and Gemini
  want, with the system prompts taken out.
- `chat_request_part`, `chat_assistant_parts`, `chat_user_content`, `chat_tool_call`: the
  chat-completions shapes of a request's messages, of an assistant turn's texts and tool calls, of
  a user message's content and of a tool call, which OpenAI (and its dialects) and Cohere's v2 chat
  share.
- `wire_usage`: a vendor's token counts as our `Usage`, keeping only the detail counts it reported.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._fieldwise import fieldwise
from ..messages import AudioUrl
from ..messages import BinaryContent
from ..messages import DocumentUrl
from ..messages import FinishReason
from ..messages import ImageUrl
from ..messages import ModelMessage
from ..messages import ModelRequest
from ..messages import ModelRequestPart
from ..messages import ModelResponse
from ..messages import RetryPromptPart
from ..messages import SystemPromptPart
from ..messages import TextPart
from ..messages import ThinkingPart
from ..messages import ToolCallPart
from ..messages import ToolReturnPart
from ..messages import UserContent
from ..messages import UserPromptPart
from ..usage import Usage

__all__ = (
    'ANTHROPIC_STOP_REASONS',
    'ANTHROPIC_TOOL_CALL_IDS',
    'MISTRAL_TOOL_CALL_IDS',
    'ThinkTagSplitter',
    'ToolCallIdRule',
    'ToolCallIds',
    'chat_assistant_parts',
    'chat_request_part',
    'chat_tool_call',
    'chat_user_content',
    'map_turns',
    'wire_usage',
)


# --------------------------------------------------------------------------------------------
# Finish reasons
# --------------------------------------------------------------------------------------------

ANTHROPIC_STOP_REASONS: Mapping[str, FinishReason] = {
    'end_turn': 'stop',
    'stop_sequence': 'stop',
    'max_tokens': 'length',
    'model_context_window_exceeded': 'length',
    'tool_use': 'tool_call',
}
"""Anthropic's `stop_reason` values as our finish reasons. Bedrock's Converse `stopReason` took the
same names for the same meanings, so both vendors' tables start from this one and add their own."""


# --------------------------------------------------------------------------------------------
# Tool-call ids across vendors
# --------------------------------------------------------------------------------------------

_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'


@fieldwise
@dataclass(frozen=True, slots=True, repr=False, eq=False)
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


# --------------------------------------------------------------------------------------------
# Alternating turns
# --------------------------------------------------------------------------------------------


def map_turns(
    messages: Sequence[ModelMessage],
    map_request_part: Callable[[UserPromptPart | ToolReturnPart | RetryPromptPart], Iterable[dict[str, Any]]],
    map_response: Callable[[ModelResponse], Iterable[dict[str, Any]]],
    *,
    roles: tuple[str, str] = ('user', 'assistant'),
    key: str = 'content',
) -> tuple[list[str], list[dict[str, Any]]]:
    """The system prompts, and the turns `{'role': ..., key: [...]}` of a conversation, for an API
    whose roles alternate: a request's other parts go through `map_request_part`, a response
    through `map_response`; a turn of the previous turn's role joins it, and an empty one is left
    out (Anthropic, Bedrock and Gemini all reject a turn with nothing in it)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            role = roles[0]
            blocks: list[dict[str, Any]] = []
            for part in message.parts:
                if isinstance(part, SystemPromptPart):
                    system.append(part.content)
                else:
                    blocks.extend(map_request_part(part))
        else:
            role = roles[1]
            blocks = list(map_response(message))
        if not blocks:
            continue
        if turns and turns[-1]['role'] == role:
            turns[-1][key].extend(blocks)
        else:
            turns.append({'role': role, key: blocks})
    return system, turns


# --------------------------------------------------------------------------------------------
# The chat-completions message shape
# --------------------------------------------------------------------------------------------


def chat_user_content(
    content: str | Sequence[UserContent],
    other: Callable[[AudioUrl | DocumentUrl | BinaryContent], dict[str, Any]],
) -> str | list[dict[str, Any]]:
    """A user message's content as chat-completions-shaped APIs take it: a string stays one; text
    and images (by URL, or inline as a data URL) become `text` / `image_url` items, and `other`
    maps (or refuses, raising `UserError`) anything else."""
    if isinstance(content, str):
        return content
    items: list[dict[str, Any]] = []
    for item in content:
        if isinstance(item, str):
            items.append({'type': 'text', 'text': item})
        elif isinstance(item, ImageUrl):
            items.append({'type': 'image_url', 'image_url': {'url': item.url}})
        elif isinstance(item, BinaryContent) and item.is_image:
            items.append({'type': 'image_url', 'image_url': {'url': item.data_url}})
        else:
            items.append(other(item))
    return items


def chat_request_part(
    part: ModelRequestPart,
    other: Callable[[AudioUrl | DocumentUrl | BinaryContent], dict[str, Any]],
    *,
    system_role: str = 'system',
    ids: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """One part of a request as a chat-completions-shaped message: a system prompt (in
    `system_role`), a user prompt (`other` as for `chat_user_content`), a tool result, or a retry
    (a tool result, or a user message when it is about the text answer); `ids` maps the call ids."""
    if isinstance(part, SystemPromptPart):
        return {'role': system_role, 'content': part.content}
    if isinstance(part, UserPromptPart):
        return {'role': 'user', 'content': chat_user_content(part.content, other)}
    if isinstance(part, RetryPromptPart) and part.tool_name is None:
        # A retry about the text answer: there is no tool call to attach it to.
        return {'role': 'user', 'content': part.model_response()}
    call_id = part.tool_call_id if ids is None else ids(part.tool_call_id)
    content = part.model_response_str() if isinstance(part, ToolReturnPart) else part.model_response()
    return {'role': 'tool', 'tool_call_id': call_id, 'content': content}


def chat_assistant_parts(
    message: ModelResponse,
    ids: Callable[[str], str] | None = None,
    inline_thinking: Callable[[str], str] | None = None,
) -> tuple[list[str], list[dict[str, Any]], list[ThinkingPart]]:
    """An earlier assistant turn's non-empty texts, its tool calls as chat-completions-shaped APIs
    take them back (`ids` maps the call ids), and its thinking parts with content; with
    `inline_thinking`, thinking is written into the texts where it stood instead."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    thinking: list[ThinkingPart] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            if part.content:
                texts.append(part.content)
        elif isinstance(part, ToolCallPart):
            calls.append(chat_tool_call(part, part.tool_call_id if ids is None else ids(part.tool_call_id)))
        elif part.content:
            if inline_thinking is None:
                thinking.append(part)
            else:
                texts.append(inline_thinking(part.content))
    return texts, calls, thinking


def chat_tool_call(part: ToolCallPart, call_id: str) -> dict[str, Any]:
    """A tool call of an earlier assistant turn, as chat-completions-shaped APIs take it back."""
    function = {'name': part.tool_name, 'arguments': part.args_as_json_str()}
    return {'id': call_id, 'type': 'function', 'function': function}


# --------------------------------------------------------------------------------------------
# Usage
# --------------------------------------------------------------------------------------------


def wire_usage(
    request_tokens: int | None, response_tokens: int | None, total_tokens: int | None, **details: float | None
) -> Usage:
    """Our `Usage` from a vendor's counts; of `details` (`cached_tokens=...`), only non-zero counts are
    kept, as whole numbers (Cohere's billed units arrive as floats), and none at all is None."""
    kept = {name: count for name, value in details.items() if value and (count := int(value))}
    return Usage(
        request_tokens=request_tokens,
        response_tokens=response_tokens,
        total_tokens=total_tokens,
        details=kept or None,
    )
