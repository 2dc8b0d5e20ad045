"""The one streamed-parts assembler every vendor's stream code feeds.

Vendor code translates its wire events into calls here, keyed by the vendor's own part id (OpenAI's
choice/tool-call index, Anthropic's content-block index, Bedrock's contentBlockIndex, ...); this
module decides which part a delta belongs to and emits our `PartStartEvent` / `PartDeltaEvent`.

Reads stay incremental, so a caller that reads the parts after every event (a streamed result
validating partial data) does work in proportion to what changed, not to everything so far:

- text and arguments are kept as a list of fragments (appending to a `str` attribute per delta
  would copy the whole text every time); a read joins only the fragments added since the last
  read onto the text joined then, and keeps the result as the one fragment to extend;
- each built part is kept until a delta changes it, so a read rebuilds only the parts that
  changed since the last read and hands back the same objects for the others.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from .messages import (
    ModelResponsePart,
    ModelResponseStreamEvent,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ThinkingPart,
    ThinkingPartDelta,
    ToolCallPart,
    ToolCallPartDelta,
    _generate_tool_call_id,
)

__all__ = ('PartsAssembler',)

_new = object.__new__


def _joined(fragments: list[str]) -> str:
    """All fragments as one string, kept as the list's only fragment so the next join starts from it."""
    if len(fragments) > 1:
        fragments[:] = [''.join(fragments)]
    return fragments[0] if fragments else ''


# The builders are internal state that is never compared, printed or copied: plain slotted
# classes, which cost nothing to define, where a dataclass would compile its methods at import.
class _TextBuilder:
    __slots__ = ('fragments', 'part')

    def __init__(self, fragments: list[str]) -> None:
        self.fragments = fragments
        # The part as last built; None once a delta has changed it.
        self.part: TextPart | None = None

    def build(self) -> TextPart:
        return TextPart(_joined(self.fragments))


class _ThinkingBuilder:
    __slots__ = ('fragments', 'id', 'part', 'signature')

    def __init__(self, fragments: list[str], signature: list[str] | None, id: str | None) -> None:
        self.fragments = fragments
        self.signature = signature
        self.id = id
        self.part: ThinkingPart | None = None

    def build(self) -> ThinkingPart:
        signature = _joined(self.signature) if self.signature is not None else None
        return ThinkingPart(_joined(self.fragments), signature=signature, id=self.id)


class _ToolCallBuilder:
    __slots__ = ('args', 'args_dict', 'fallback_id', 'part', 'started', 'tool_call_id', 'tool_name')

    def __init__(self, tool_name: str | None, tool_call_id: str | None, *, started: bool = False) -> None:
        self.tool_name = tool_name
        self.tool_call_id = tool_call_id
        self.args: list[str] = []
        self.args_dict: dict[str, Any] | None = None
        self.started = started
        # Made once, so a call the vendor sent without an id keeps the same id on every read.
        self.fallback_id = _generate_tool_call_id()
        self.part: ToolCallPart | None = None

    def build(self) -> ToolCallPart:
        args: str | dict[str, Any] = self.args_dict if self.args_dict is not None else _joined(self.args)
        return ToolCallPart(self.tool_name or '', args, self.tool_call_id or self.fallback_id)


_Builder = _TextBuilder | _ThinkingBuilder | _ToolCallBuilder


class PartsAssembler:
    """Builds a response's parts from vendor deltas and says what changed as events."""

    __slots__ = (
        '_builders',
        '_by_vendor_id',
        '_cache',
        '_parts_built',
        '_text_builder',
        '_text_id',
        '_text_index',
    )

    def __init__(self) -> None:
        self._builders: list[_Builder] = []
        self._by_vendor_id: dict[Hashable, int] = {}
        self._cache: list[ModelResponsePart] | None = None
        self._parts_built = 0
        # The text part the last text delta went to, so the next one for the same vendor id
        # (nearly every event of a stream) skips the lookups; `_new` forgets it when that id moves.
        self._text_id: Hashable | None = None
        self._text_index = -1
        self._text_builder: _TextBuilder | None = None

    def get_parts(self) -> list[ModelResponsePart]:
        """The parts so far, in order; tool calls whose name never arrived are left out.

        Only parts changed since the last call are built again; the others are the same objects.
        """
        if self._cache is None:
            parts: list[ModelResponsePart] = []
            for builder in self._builders:
                part = builder.part
                if part is None:
                    if isinstance(builder, _ToolCallBuilder) and builder.tool_name is None:
                        continue
                    part = builder.part = builder.build()
                    self._parts_built += 1
                parts.append(part)
            self._cache = parts
        return self._cache

    @property
    def parts_built(self) -> int:
        """How many times a part has been built from its deltas, over this assembler's life.

        Each build copies that part's text once, so this is the measure tests use to show that
        reading the parts as a stream goes on costs work for what changed, not for all of it.
        """
        return self._parts_built

    def _changed(self, builder: _Builder) -> None:
        builder.part = None
        self._cache = None

    def _new(self, vendor_part_id: Hashable | None, builder: _Builder) -> int:
        index = len(self._builders)
        self._builders.append(builder)
        self._cache = None
        if vendor_part_id is not None:
            self._by_vendor_id[vendor_part_id] = index
            if vendor_part_id == self._text_id:
                self._text_id = None
        return index

    def _find(self, vendor_part_id: Hashable | None, kind: type[_Builder]) -> int | None:
        if vendor_part_id is None:
            # No vendor id: continue the last part if it is of the same kind.
            if self._builders and type(self._builders[-1]) is kind:
                return len(self._builders) - 1
            return None
        index = self._by_vendor_id.get(vendor_part_id)
        if index is not None and type(self._builders[index]) is kind:
            return index
        return None

    def text_delta(self, vendor_part_id: Hashable | None, content: str) -> ModelResponseStreamEvent | None:
        """Add text; returns the event to yield, or None for an empty delta."""
        if not content:
            return None
        if vendor_part_id is not None:
            # The hot path, nearly every event of a stream: more text for a known text part
            # (`_find` and `_changed` inlined; the part of the last delta remembered).
            if vendor_part_id is self._text_id:
                text = self._text_builder
                at = self._text_index
            else:
                found = self._by_vendor_id.get(vendor_part_id)
                if found is None or self._builders[found].__class__ is not _TextBuilder:
                    text = None
                else:
                    at = found
                    text = self._builders[at]  # type: ignore[assignment]
                    self._text_id, self._text_index, self._text_builder = vendor_part_id, at, text
            if text is not None:
                text.fragments.append(content)
                text.part = None
                self._cache = None
                # `PartDeltaEvent(index, TextPartDelta(content))` without the two dataclass
                # `__init__` calls, which cost more than the rest of this method: the same
                # objects, field for field (keep in step with the classes in messages.py).
                delta = _new(TextPartDelta)
                delta.content_delta = content
                delta.part_delta_kind = 'text'
                event = _new(PartDeltaEvent)
                event.index = at
                event.delta = delta
                event.event_kind = 'part_delta'
                return event
        index = self._find(vendor_part_id, _TextBuilder)
        if index is None:
            index = self._new(vendor_part_id, _TextBuilder([content]))
            return PartStartEvent(index, TextPart(content))
        builder = self._builders[index]
        builder.fragments.append(content)  # type: ignore[union-attr]
        self._changed(builder)
        return PartDeltaEvent(index, TextPartDelta(content))

    def thinking_delta(
        self,
        vendor_part_id: Hashable | None,
        content: str | None = None,
        *,
        signature: str | None = None,
        id: str | None = None,
    ) -> ModelResponseStreamEvent | None:
        """Add reasoning text and/or signature; returns the event to yield, or None if both are empty."""
        if not content and signature is None:
            return None
        index = self._find(vendor_part_id, _ThinkingBuilder)
        if index is None:
            builder = _ThinkingBuilder([content] if content else [], [signature] if signature else None, id)
            index = self._new(vendor_part_id, builder)
            return PartStartEvent(index, builder.build())
        thinking = self._builders[index]
        assert isinstance(thinking, _ThinkingBuilder)
        self._changed(thinking)
        if content:
            thinking.fragments.append(content)
        if signature is not None:
            if thinking.signature is None:
                thinking.signature = []
            thinking.signature.append(signature)
        return PartDeltaEvent(index, ThinkingPartDelta(content or None, signature))

    def tool_call_delta(
        self,
        vendor_part_id: Hashable | None,
        tool_name: str | None = None,
        args: str | dict[str, Any] | None = None,
        tool_call_id: str | None = None,
    ) -> ModelResponseStreamEvent | None:
        """Add to a tool call; a new `tool_call_id` under a known vendor id starts a new call.

        Returns `PartStartEvent` once the tool name is known, `PartDeltaEvent` after that, and None
        while only arguments have arrived for a call whose name is still unknown.
        """
        index = self._find(vendor_part_id, _ToolCallBuilder)
        if index is not None:
            existing = self._builders[index]
            assert isinstance(existing, _ToolCallBuilder)
            if tool_call_id and existing.tool_call_id and tool_call_id != existing.tool_call_id:
                index = None  # the vendor reused the index for a different call
        if index is None:
            builder = _ToolCallBuilder(tool_name, tool_call_id)
            _add_args(builder, args)
            index = self._new(vendor_part_id, builder)
            if tool_name is None:
                return None
            builder.started = True
            return PartStartEvent(index, builder.build())
        found = self._builders[index]
        assert isinstance(found, _ToolCallBuilder)
        builder = found
        if tool_name is not None or args is not None or tool_call_id is not None:
            self._changed(builder)
        if tool_name:
            builder.tool_name = (builder.tool_name or '') + tool_name
        if tool_call_id and not builder.tool_call_id:
            builder.tool_call_id = tool_call_id
        _add_args(builder, args)
        if not builder.started:
            if builder.tool_name is None:
                return None
            builder.started = True
            return PartStartEvent(index, builder.build())
        if tool_name is None and args is None and tool_call_id is None:
            return None
        return PartDeltaEvent(index, ToolCallPartDelta(tool_name, args, tool_call_id))

    def tool_call(
        self,
        vendor_part_id: Hashable | None,
        tool_name: str,
        args: str | dict[str, Any] | None,
        tool_call_id: str | None = None,
    ) -> ModelResponseStreamEvent:
        """Add a whole tool call that arrived in one event (Gemini, Mistral)."""
        builder = _ToolCallBuilder(tool_name, tool_call_id, started=True)
        _add_args(builder, args)
        index = self._new(vendor_part_id, builder)
        return PartStartEvent(index, builder.build())

    # The names PydanticAI's parts manager uses, so a custom model written for it ports with a rename.

    def handle_text_delta(
        self, *, vendor_part_id: Hashable | None, content: str
    ) -> ModelResponseStreamEvent | None:
        """Alias of `text_delta` with PydanticAI's keyword names."""
        return self.text_delta(vendor_part_id, content)

    def handle_tool_call_delta(
        self,
        *,
        vendor_part_id: Hashable | None,
        tool_name: str | None = None,
        args: str | dict[str, Any] | None = None,
        tool_call_id: str | None = None,
    ) -> ModelResponseStreamEvent | None:
        """Alias of `tool_call_delta` with PydanticAI's keyword names."""
        return self.tool_call_delta(vendor_part_id, tool_name, args, tool_call_id)

    def handle_tool_call_part(
        self,
        *,
        vendor_part_id: Hashable | None,
        tool_name: str,
        args: str | dict[str, Any] | None,
        tool_call_id: str | None = None,
    ) -> ModelResponseStreamEvent:
        """Alias of `tool_call` with PydanticAI's keyword names."""
        return self.tool_call(vendor_part_id, tool_name, args, tool_call_id)


def _add_args(builder: _ToolCallBuilder, args: str | dict[str, Any] | None) -> None:
    if args is None:
        return
    if isinstance(args, dict):
        builder.args_dict = {**(builder.args_dict or {}), **args}
    elif args:
        builder.args.append(args)
