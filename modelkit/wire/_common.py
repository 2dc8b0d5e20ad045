"""Request parts that several vendors copied from OpenAI's chat format, declared once.

Cohere's v2 chat takes OpenAI's `image_url` content part and its `text` response format to the
letter, so both wire modules use these models. A shape that only resembles one of OpenAI's stays
the vendor's own: Cohere's function tools lack OpenAI's `strict` (a shared base and an OpenAI
subclass would cost two more model builds on every import of `modelkit.wire.openai`), and
Gemini's `FunctionDeclaration` and Bedrock's `ToolSpecification` name their fields otherwise.
"""

from __future__ import annotations

from typing import Literal

from ._base import WireRequest

__all__ = ('ImageContentPart', 'ImageURL', 'TextResponseFormat')


class ImageURL(WireRequest):
    """Where the image is: an https URL or a base64 `data:` URL."""

    url: str
    detail: Literal['auto', 'low', 'high'] | None = None


class ImageContentPart(WireRequest):
    """An image in a user message."""

    type: Literal['image_url']
    image_url: ImageURL


class TextResponseFormat(WireRequest):
    """Plain text output, the default."""

    type: Literal['text']
