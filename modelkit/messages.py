"""Vendor-neutral messages: what we send (`ModelRequest`), what comes back (`ModelResponse`), and
the events a streamed response yields while it is being built.

Every type here is a plain slotted dataclass tagged with a `*_kind` field, so a message history
round-trips through JSON with `ModelMessagesTypeAdapter` and is cheap to build on the stream hot path.

Importing this module is on every cold start, so none of these classes makes `dataclass` compile
anything: each writes out its `__init__` (exactly the one `dataclass` would generate; a test holds
them to that) and takes `__repr__` and `__eq__` from `fieldwise`.
"""

from __future__ import annotations

import base64
import mimetypes
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

import orjson

from ._fieldwise import FACTORY, fieldwise

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, TypeAdapter
    from pydantic_core import CoreSchema

__all__ = (
    'AudioUrl',
    'BinaryContent',
    'DocumentUrl',
    'FinalResultEvent',
    'FinishReason',
    'ImageUrl',
    'ModelMessage',
    'ModelMessagesTypeAdapter',
    'ModelRequest',
    'ModelRequestPart',
    'ModelResponse',
    'ModelResponsePart',
    'ModelResponsePartDelta',
    'ModelResponseStreamEvent',
    'PartDeltaEvent',
    'PartStartEvent',
    'RetryPromptPart',
    'SystemPromptPart',
    'TextPart',
    'TextPartDelta',
    'ThinkingPart',
    'ThinkingPartDelta',
    'ToolCallPart',
    'ToolCallPartDelta',
    'ToolReturnPart',
    'UserContent',
    'UserPromptPart',
)


class Discriminator:
    """`pydantic.Discriminator(tag)` for our tagged unions, without pydantic's schema machinery at import.

    Importing `pydantic.Discriminator` loads most of pydantic (a third of `import modelkit`'s cost);
    pydantic only needs it when it builds a schema, so this marker builds the real one then.
    """

    __slots__ = ('discriminator',)

    def __init__(self, discriminator: str) -> None:
        self.discriminator = discriminator

    def __get_pydantic_core_schema__(self, source_type: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        from pydantic import Discriminator

        return Discriminator(self.discriminator).__get_pydantic_core_schema__(source_type, handler)

    def __repr__(self) -> str:
        return f'Discriminator({self.discriminator!r})'


def _now_utc() -> datetime:
    return datetime.now(tz=UTC)


def _generate_tool_call_id() -> str:
    return f'call_{uuid.uuid4().hex[:24]}'


# --------------------------------------------------------------------------------------------
# User content: text and media
# --------------------------------------------------------------------------------------------

_EXTRA_MEDIA_TYPES = {
    '.webp': 'image/webp',
    '.md': 'text/markdown',
    '.mp3': 'audio/mpeg',
    '.wav': 'audio/wav',
    '.oga': 'audio/ogg',
    '.flac': 'audio/flac',
}


def _guess_media_type(url: str, default: str) -> str:
    path = url.split('?', 1)[0].split('#', 1)[0]
    dot = path.rfind('.')
    if dot != -1 and (known := _EXTRA_MEDIA_TYPES.get(path[dot:].lower())):
        return known
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or default


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class ImageUrl:
    """An image the vendor fetches from a URL (`data:` URLs work too where the vendor takes them)."""

    url: str
    kind: Literal['image-url'] = 'image-url'

    def __init__(self, url: str, kind: Literal['image-url'] = 'image-url') -> None:
        self.url = url
        self.kind = kind

    @property
    def media_type(self) -> str:
        """The image's media type, guessed from the URL."""
        return _guess_media_type(self.url, 'image/jpeg')


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class AudioUrl:
    """An audio clip the vendor fetches from a URL."""

    url: str
    kind: Literal['audio-url'] = 'audio-url'

    def __init__(self, url: str, kind: Literal['audio-url'] = 'audio-url') -> None:
        self.url = url
        self.kind = kind

    @property
    def media_type(self) -> str:
        """The clip's media type, guessed from the URL."""
        return _guess_media_type(self.url, 'audio/mpeg')


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class DocumentUrl:
    """A document (PDF, text, ...) the vendor fetches from a URL."""

    url: str
    kind: Literal['document-url'] = 'document-url'

    def __init__(self, url: str, kind: Literal['document-url'] = 'document-url') -> None:
        self.url = url
        self.kind = kind

    @property
    def media_type(self) -> str:
        """The document's media type, guessed from the URL."""
        return _guess_media_type(self.url, 'application/pdf')


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class BinaryContent:
    """Media sent inline as bytes: an image, audio clip or document."""

    data: bytes
    media_type: str
    kind: Literal['binary'] = 'binary'

    def __init__(self, data: bytes, media_type: str, kind: Literal['binary'] = 'binary') -> None:
        self.data = data
        self.media_type = media_type
        self.kind = kind

    @property
    def is_image(self) -> bool:
        """Whether the bytes are an image."""
        return self.media_type.startswith('image/')

    @property
    def is_audio(self) -> bool:
        """Whether the bytes are audio."""
        return self.media_type.startswith('audio/')

    @property
    def is_document(self) -> bool:
        """Whether the bytes are a document (neither image nor audio)."""
        return not (self.is_image or self.is_audio)

    @property
    def data_url(self) -> str:
        """The bytes as a base64 `data:` URL."""
        return f'data:{self.media_type};base64,{base64.b64encode(self.data).decode()}'


UserContent: TypeAlias = str | ImageUrl | AudioUrl | DocumentUrl | BinaryContent
"""One item of a user prompt: text or media."""


# --------------------------------------------------------------------------------------------
# Request parts
# --------------------------------------------------------------------------------------------


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class SystemPromptPart:
    """Instructions for the model, sent ahead of the conversation."""

    content: str
    dynamic_ref: str | None = None
    part_kind: Literal['system-prompt'] = 'system-prompt'

    def __init__(
        self,
        content: str,
        dynamic_ref: str | None = None,
        part_kind: Literal['system-prompt'] = 'system-prompt',
    ) -> None:
        self.content = content
        self.dynamic_ref = dynamic_ref
        self.part_kind = part_kind


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class UserPromptPart:
    """What the user said: text, or a sequence of text and media."""

    content: str | Sequence[UserContent]
    timestamp: datetime = field(default_factory=_now_utc)
    part_kind: Literal['user-prompt'] = 'user-prompt'

    def __init__(
        self,
        content: str | Sequence[UserContent],
        timestamp: datetime = FACTORY,
        part_kind: Literal['user-prompt'] = 'user-prompt',
    ) -> None:
        self.content = content
        self.timestamp = _now_utc() if timestamp is FACTORY else timestamp
        self.part_kind = part_kind


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class ToolReturnPart:
    """The result of a tool call, sent back to the model."""

    tool_name: str
    content: Any
    tool_call_id: str = field(default_factory=_generate_tool_call_id)
    timestamp: datetime = field(default_factory=_now_utc)
    part_kind: Literal['tool-return'] = 'tool-return'

    def __init__(
        self,
        tool_name: str,
        content: Any,
        tool_call_id: str = FACTORY,
        timestamp: datetime = FACTORY,
        part_kind: Literal['tool-return'] = 'tool-return',
    ) -> None:
        self.tool_name = tool_name
        self.content = content
        self.tool_call_id = _generate_tool_call_id() if tool_call_id is FACTORY else tool_call_id
        self.timestamp = _now_utc() if timestamp is FACTORY else timestamp
        self.part_kind = part_kind

    def model_response_str(self) -> str:
        """The content as the string a vendor's tool message carries."""
        if isinstance(self.content, str):
            return self.content
        return _to_json(self.content).decode()

    def model_response_object(self) -> dict[str, Any]:
        """The content as a JSON object, for vendors whose tool results must be objects."""
        content = _to_jsonable(self.content)
        if isinstance(content, dict):
            return content
        return {'return_value': content}


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class RetryPromptPart:
    """Asks the model to try again: a tool failed validation or raised `ModelRetry`, or the answer was wrong.

    `content` is a message, or the list of validation errors pydantic gave.
    """

    content: list[Any] | str
    tool_name: str | None = None
    tool_call_id: str = field(default_factory=_generate_tool_call_id)
    timestamp: datetime = field(default_factory=_now_utc)
    part_kind: Literal['retry-prompt'] = 'retry-prompt'

    def __init__(
        self,
        content: list[Any] | str,
        tool_name: str | None = None,
        tool_call_id: str = FACTORY,
        timestamp: datetime = FACTORY,
        part_kind: Literal['retry-prompt'] = 'retry-prompt',
    ) -> None:
        self.content = content
        self.tool_name = tool_name
        self.tool_call_id = _generate_tool_call_id() if tool_call_id is FACTORY else tool_call_id
        self.timestamp = _now_utc() if timestamp is FACTORY else timestamp
        self.part_kind = part_kind

    def model_response(self) -> str:
        """The retry prompt as the text sent to the model."""
        if isinstance(self.content, str):
            description = self.content
        else:
            errors = _to_json(self.content, indent=True).decode()
            description = f'{len(self.content)} validation errors: {errors}'
        return f'{description}\n\nFix the errors and try again.'


ModelRequestPart = Annotated[
    SystemPromptPart | UserPromptPart | ToolReturnPart | RetryPromptPart, Discriminator('part_kind')
]
"""A part of a request: system prompt, user prompt, tool return or retry prompt."""


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class ModelRequest:
    """One message from us to the model."""

    parts: list[ModelRequestPart]
    kind: Literal['request'] = 'request'

    def __init__(self, parts: list[ModelRequestPart], kind: Literal['request'] = 'request') -> None:
        self.parts = parts
        self.kind = kind


# --------------------------------------------------------------------------------------------
# Response parts
# --------------------------------------------------------------------------------------------


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class TextPart:
    """Plain text from the model."""

    content: str
    part_kind: Literal['text'] = 'text'

    def __init__(self, content: str, part_kind: Literal['text'] = 'text') -> None:
        self.content = content
        self.part_kind = part_kind

    def has_content(self) -> bool:
        """Whether the text is non-empty."""
        return bool(self.content)


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class ThinkingPart:
    """The model's reasoning, where the vendor returns it; `signature` lets some vendors verify it later."""

    content: str
    signature: str | None = None
    id: str | None = None
    part_kind: Literal['thinking'] = 'thinking'

    def __init__(
        self,
        content: str,
        signature: str | None = None,
        id: str | None = None,
        part_kind: Literal['thinking'] = 'thinking',
    ) -> None:
        self.content = content
        self.signature = signature
        self.id = id
        self.part_kind = part_kind

    def has_content(self) -> bool:
        """Whether there is any reasoning text."""
        return bool(self.content)


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class ToolCallPart:
    """The model asks for a tool to be called; `args` is a JSON string or a dict, as the vendor sent it."""

    tool_name: str
    args: str | dict[str, Any] = ''
    tool_call_id: str = field(default_factory=_generate_tool_call_id)
    part_kind: Literal['tool-call'] = 'tool-call'

    def __init__(
        self,
        tool_name: str,
        args: str | dict[str, Any] = '',
        tool_call_id: str = FACTORY,
        part_kind: Literal['tool-call'] = 'tool-call',
    ) -> None:
        self.tool_name = tool_name
        self.args = args
        self.tool_call_id = _generate_tool_call_id() if tool_call_id is FACTORY else tool_call_id
        self.part_kind = part_kind

    def args_as_dict(self) -> dict[str, Any]:
        """The arguments as a dict; an empty argument string means no arguments.

        Raises `ValueError` if the string is not a JSON object.
        """
        if isinstance(self.args, dict):
            return self.args
        if not self.args:
            return {}
        value = orjson.loads(self.args)
        if not isinstance(value, dict):
            raise ValueError(f'tool call arguments are not a JSON object: {self.args[:100]!r}')
        return value

    def args_as_json_str(self) -> str:
        """The arguments as a JSON string (`{}` when there are none)."""
        if isinstance(self.args, str):
            return self.args or '{}'
        return orjson.dumps(self.args).decode()

    def has_content(self) -> bool:
        """Whether the call has a name or any arguments."""
        return bool(self.tool_name) or bool(self.args)


ModelResponsePart = Annotated[TextPart | ToolCallPart | ThinkingPart, Discriminator('part_kind')]
"""A part of a response: text, a tool call, or reasoning."""

FinishReason: TypeAlias = Literal['stop', 'length', 'content_filter', 'tool_call', 'error']
"""Why the model stopped, in words shared by every vendor (the vendor's own word is kept too)."""


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class ModelResponse:
    """One message from the model to us."""

    parts: list[ModelResponsePart]
    model_name: str | None = None
    timestamp: datetime = field(default_factory=_now_utc)
    kind: Literal['response'] = 'response'
    finish_reason: FinishReason | None = field(default=None, repr=False)
    """Why generation stopped, mapped to our vocabulary; `None` if the vendor did not say."""
    vendor_finish_reason: str | None = field(default=None, repr=False)
    """The vendor's own stop reason, unmapped."""
    vendor_id: str | None = field(default=None, repr=False)
    """The vendor's id for this response (OpenAI's `chatcmpl-...`, ...)."""

    def __init__(
        self,
        parts: list[ModelResponsePart],
        model_name: str | None = None,
        timestamp: datetime = FACTORY,
        kind: Literal['response'] = 'response',
        finish_reason: FinishReason | None = None,
        vendor_finish_reason: str | None = None,
        vendor_id: str | None = None,
    ) -> None:
        self.parts = parts
        self.model_name = model_name
        self.timestamp = _now_utc() if timestamp is FACTORY else timestamp
        self.kind = kind
        self.finish_reason = finish_reason
        self.vendor_finish_reason = vendor_finish_reason
        self.vendor_id = vendor_id


ModelMessage = Annotated[ModelRequest | ModelResponse, Discriminator('kind')]
"""Any message of a conversation."""


# --------------------------------------------------------------------------------------------
# Streaming events
# --------------------------------------------------------------------------------------------


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class TextPartDelta:
    """More text for a `TextPart`."""

    content_delta: str
    part_delta_kind: Literal['text'] = 'text'

    def __init__(self, content_delta: str, part_delta_kind: Literal['text'] = 'text') -> None:
        self.content_delta = content_delta
        self.part_delta_kind = part_delta_kind

    def apply(self, part: ModelResponsePart) -> TextPart:
        """Return `part` with this text appended."""
        if not isinstance(part, TextPart):
            raise ValueError('a TextPartDelta applies only to a TextPart')
        return TextPart(part.content + self.content_delta)


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class ThinkingPartDelta:
    """More reasoning text, or signature, for a `ThinkingPart`."""

    content_delta: str | None = None
    signature_delta: str | None = None
    part_delta_kind: Literal['thinking'] = 'thinking'

    def __init__(
        self,
        content_delta: str | None = None,
        signature_delta: str | None = None,
        part_delta_kind: Literal['thinking'] = 'thinking',
    ) -> None:
        self.content_delta = content_delta
        self.signature_delta = signature_delta
        self.part_delta_kind = part_delta_kind

    def apply(self, part: ModelResponsePart) -> ThinkingPart:
        """Return `part` with this reasoning appended."""
        if not isinstance(part, ThinkingPart):
            raise ValueError('a ThinkingPartDelta applies only to a ThinkingPart')
        signature = part.signature
        if self.signature_delta is not None:
            signature = (signature or '') + self.signature_delta
        return ThinkingPart(part.content + (self.content_delta or ''), signature=signature, id=part.id)


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class ToolCallPartDelta:
    """More of a tool call: part of its name, a fragment of its JSON arguments, or its id."""

    tool_name_delta: str | None = None
    args_delta: str | dict[str, Any] | None = None
    tool_call_id: str | None = None
    part_delta_kind: Literal['tool_call'] = 'tool_call'

    def __init__(
        self,
        tool_name_delta: str | None = None,
        args_delta: str | dict[str, Any] | None = None,
        tool_call_id: str | None = None,
        part_delta_kind: Literal['tool_call'] = 'tool_call',
    ) -> None:
        self.tool_name_delta = tool_name_delta
        self.args_delta = args_delta
        self.tool_call_id = tool_call_id
        self.part_delta_kind = part_delta_kind

    def as_part(self) -> ToolCallPart | None:
        """A `ToolCallPart` from this delta alone, or `None` while the tool name is unknown."""
        if self.tool_name_delta is None:
            return None
        return ToolCallPart(
            self.tool_name_delta,
            self.args_delta if self.args_delta is not None else '',
            self.tool_call_id or _generate_tool_call_id(),
        )

    def apply(self, part: ModelResponsePart) -> ToolCallPart:
        """Return `part` with this delta merged in."""
        if not isinstance(part, ToolCallPart):
            raise ValueError('a ToolCallPartDelta applies only to a ToolCallPart')
        args = part.args
        if self.args_delta is not None:
            if isinstance(self.args_delta, str) and isinstance(args, str):
                args = args + self.args_delta
            elif isinstance(self.args_delta, dict) and isinstance(args, dict | str) and not args:
                args = self.args_delta
            elif isinstance(self.args_delta, dict) and isinstance(args, dict):
                args = {**args, **self.args_delta}
            else:
                raise ValueError('cannot mix string and dict tool call arguments')
        return ToolCallPart(
            part.tool_name + (self.tool_name_delta or ''), args, self.tool_call_id or part.tool_call_id
        )


ModelResponsePartDelta = Annotated[
    TextPartDelta | ThinkingPartDelta | ToolCallPartDelta, Discriminator('part_delta_kind')
]
"""A change to a part of a streamed response."""


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class PartStartEvent:
    """A new part begins at `index` of the response; `part` holds its first content."""

    index: int
    part: ModelResponsePart
    event_kind: Literal['part_start'] = 'part_start'

    def __init__(
        self, index: int, part: ModelResponsePart, event_kind: Literal['part_start'] = 'part_start'
    ) -> None:
        self.index = index
        self.part = part
        self.event_kind = event_kind


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class PartDeltaEvent:
    """The part at `index` grows by `delta`."""

    index: int
    delta: ModelResponsePartDelta
    event_kind: Literal['part_delta'] = 'part_delta'

    def __init__(
        self, index: int, delta: ModelResponsePartDelta, event_kind: Literal['part_delta'] = 'part_delta'
    ) -> None:
        self.index = index
        self.delta = delta
        self.event_kind = event_kind


@fieldwise
@dataclass(slots=True, init=False, repr=False, eq=False)
class FinalResultEvent:
    """The agent has recognised the final result: plain text (`tool_name` None) or this output tool."""

    tool_name: str | None
    tool_call_id: str | None
    event_kind: Literal['final_result'] = 'final_result'

    def __init__(
        self,
        tool_name: str | None,
        tool_call_id: str | None,
        event_kind: Literal['final_result'] = 'final_result',
    ) -> None:
        self.tool_name = tool_name
        self.tool_call_id = tool_call_id
        self.event_kind = event_kind


ModelResponseStreamEvent = Annotated[PartStartEvent | PartDeltaEvent, Discriminator('event_kind')]
"""An event of a streamed model response."""


# --------------------------------------------------------------------------------------------
# JSON helpers and the history adapter
# --------------------------------------------------------------------------------------------


def _to_jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value, bytes_mode='base64')


def _to_json(value: Any, *, indent: bool = False) -> bytes:
    option = orjson.OPT_INDENT_2 if indent else 0
    try:
        return orjson.dumps(value, option=option)
    except TypeError:
        return orjson.dumps(_to_jsonable(value), option=option)


_messages_adapter: TypeAdapter[list[ModelMessage]] | None = None


def _build_messages_adapter() -> TypeAdapter[list[ModelMessage]]:
    # Built on first use: a TypeAdapter over this union takes tens of milliseconds to build,
    # which would otherwise land on every cold start that imports modelkit.
    global _messages_adapter
    if _messages_adapter is None:
        from pydantic import ConfigDict, TypeAdapter

        _messages_adapter = TypeAdapter(
            list[ModelMessage],
            config=ConfigDict(defer_build=False, ser_json_bytes='base64', val_json_bytes='base64'),
        )
    return _messages_adapter


def __getattr__(name: str) -> Any:
    if name == 'ModelMessagesTypeAdapter':
        return _build_messages_adapter()
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


if TYPE_CHECKING:
    ModelMessagesTypeAdapter: TypeAdapter[list[ModelMessage]]
    """Validates and serialises a message history: `ModelMessagesTypeAdapter.dump_json(history)`."""
