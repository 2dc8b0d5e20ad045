"""Request parts that several vendors copied from OpenAI's chat format, declared once.

Cohere's v2 chat takes OpenAI's function tools (`{"type": "function", "function": {...}}`), its
`image_url` content part and its `text` response format to the letter, so its wire module uses
these models, and `modelkit.wire.openai` uses (or extends) them too. A vendor whose shape merely
resembles one of these (Gemini's `FunctionDeclaration`, Bedrock's `ToolSpecification`) keeps its
own model: a shared model would accept fields that vendor does not.
"""

from __future__ import annotations

from typing import Any, Literal

from ._base import WireRequest

__all__ = ('FunctionDefinition', 'FunctionTool', 'ImageContentPart', 'ImageURL', 'TextResponseFormat')


class ImageURL(WireRequest):
    """Where the image is: an https URL or a base64 `data:` URL."""

    url: str
    detail: Literal['auto', 'low', 'high'] | None = None


class ImageContentPart(WireRequest):
    """An image in a user message."""

    type: Literal['image_url']
    image_url: ImageURL


class FunctionDefinition(WireRequest):
    """A function the model may call: its name, description and JSON-schema parameters."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class FunctionTool(WireRequest):
    """A tool on offer: a function (the only kind of tool these chat formats have)."""

    type: Literal['function']
    function: FunctionDefinition


class TextResponseFormat(WireRequest):
    """Plain text output, the default."""

    type: Literal['text']
