"""Mistral's chat-completions interface: `MistralModel`, OpenAI's mapping in Mistral's dialect.

Mistral speaks a dialect of OpenAI's chat-completions format (`modelkit.models.openai`). Most of
what differs is declared as data in `MistralProvider`'s profile
(`modelkit.providers.mistral.MISTRAL_PROFILE`): no `stream_options` (Mistral answers 422 to it),
`tool_choice: any` to require a tool call, `max_tokens`, `random_seed` for the seed, and cached
prompt tokens also read from `num_cached_tokens`.

What the profile cannot say is here:
- tool-call ids: Mistral accepts only exactly 9 letters and digits, so ids from another vendor's
  history (a `FallbackModel` that switched, a conversation continued on Mistral) are mapped
  through the kit's `MISTRAL_TOOL_CALL_IDS`, a call and its return to the same id;
- content that is a list of chunks, in a whole answer and in stream deltas (one delta may carry a
  list and the next a plain string): `thinking` chunks (magistral models), whose `thinking` is a
  list of text chunks, become thinking parts; `text` chunks become text; other chunk types
  (`reference`, ...) are skipped;
- Mistral's flat error object (`{"object": "error", ...}`) inside a stream is a `ModelStreamError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Literal

import orjson

from .._fieldwise import fieldwise
from ..exceptions import UnexpectedModelBehavior
from ..messages import ModelResponsePart
from ..messages import ModelResponseStreamEvent
from ..messages import TextPart
from ..messages import ThinkingPart
from ._kit import MISTRAL_TOOL_CALL_IDS
from ._kit import LazyAdapter
from ._kit import ToolCallIdRule
from ._kit import stream_error
from .openai import OpenAIModel
from .openai import OpenAIModelSettings
from .openai import OpenAIStreamedResponse

if TYPE_CHECKING:
    from ..wire import mistral as wire

__all__ = ('LatestMistralModelNames', 'MistralModel', 'MistralModelSettings', 'MistralStreamedResponse')

LatestMistralModelNames = Literal[
    'mistral-large-latest',
    'mistral-medium-latest',
    'mistral-small-latest',
    'codestral-latest',
    'magistral-medium-latest',
    'magistral-small-latest',
    'ministral-8b-latest',
]
"""The most used Mistral models; any other name Mistral knows works too."""

# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


class MistralModelSettings(OpenAIModelSettings, total=False):
    """Settings for `MistralModel`: the shared and OpenAI ones (`seed` goes out as `random_seed`).
    Mistral-only fields (`safe_prompt`, `prompt_mode`) go in `extra_body`."""


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------

_COMPLETION: LazyAdapter[wire.MistralChatCompletion] = LazyAdapter(
    'modelkit.wire.mistral', 'MistralChatCompletion'
)
_CHUNK: LazyAdapter[wire.MistralChatCompletionChunk] = LazyAdapter(
    'modelkit.wire.mistral', 'MistralChatCompletionChunk'
)


class MistralModel(OpenAIModel):
    """A model served by Mistral, e.g. `MistralModel('mistral-small-latest')`.

    `provider` is `'mistral'` (key from `MISTRAL_API_KEY`) or a `MistralProvider`; `api_key`,
    `base_url` and `http_client` build a `MistralProvider` with them. See `LatestMistralModelNames`.
    """

    default_provider: ClassVar[str] = 'mistral'

    tool_call_ids: ClassVar[ToolCallIdRule | None] = MISTRAL_TOOL_CALL_IDS
    completion_adapter: ClassVar[LazyAdapter[Any]] = _COMPLETION

    # ----------------------------------------------------------------------------------------
    # Processing a response
    # ----------------------------------------------------------------------------------------

    def _content_parts(self, content: Any) -> list[ModelResponsePart]:
        if isinstance(content, str):
            return super()._content_parts(content)
        parts: list[ModelResponsePart] = []
        for chunk in content:
            if chunk.type == 'thinking':
                thinking = ''.join(item.text for item in chunk.thinking)
                if thinking:
                    parts.append(ThinkingPart(thinking))
            elif chunk.type == 'text' and chunk.text:
                if parts and isinstance(last := parts[-1], TextPart):
                    parts[-1] = TextPart(last.content + chunk.text)
                else:
                    parts.append(TextPart(chunk.text))
        return parts


# --------------------------------------------------------------------------------------------
# The streamed-response event loop
# --------------------------------------------------------------------------------------------


@fieldwise
@dataclass(repr=False, eq=False)
class MistralStreamedResponse(OpenAIStreamedResponse):
    """A Mistral stream: OpenAI's chunks, whose delta `content` may be a list of chunks."""

    chunk_adapter: ClassVar[LazyAdapter[Any]] = _CHUNK

    def _content_events(self, content: object) -> Iterator[ModelResponseStreamEvent]:
        if content.__class__ is not list:
            raise TypeError('delta.content is neither a string nor a list of chunks')
        parts = self._parts_manager
        for chunk in content:
            kind = chunk['type']
            if kind == 'text':
                ev = parts.text_delta('content', _text(chunk))
            elif kind == 'thinking':
                for item in chunk['thinking']:
                    if item['type'] == 'text' and (ev := parts.thinking_delta('reasoning', _text(item))):
                        yield ev
                continue
            else:
                continue  # a chunk type we do not know (`reference`, ...): skip it
            if ev is not None:
                yield ev

    def _chunk_problem(self, data: str, exc: Exception) -> UnexpectedModelBehavior | None:
        # Mistral's error object is flat (`{"object": "error", "message", "type", "code"}`), not
        # under `error`: inside a stream it is an error, not a chunk of some other kind to skip.
        problem = super()._chunk_problem(data, exc)
        if problem is None and orjson.loads(data).get('object') == 'error':
            return stream_error(self._vendor, data)
        return problem


def _text(chunk: dict[str, Any]) -> str:
    text = chunk['text']
    if text.__class__ is not str:
        raise TypeError('a text chunk has no string text')
    return text


MistralModel.streamed_response_class = MistralStreamedResponse
