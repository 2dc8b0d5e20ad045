"""Groq's chat-completions interface: `GroqModel`, OpenAI's mapping in Groq's dialect.

Groq speaks OpenAI's chat-completions format (`modelkit.models.openai`); what differs is declared
as data in `GroqProvider`'s profile (`modelkit.providers.groq.GROQ_PROFILE`): usage read from
`x_groq.usage` on the last chunk, reasoning in the `reasoning` field, and reasoning written inline
in `<think>...</think>` (`reasoning_format: raw`) split into thinking parts, in a whole answer and
in a stream whose deltas cut the tags anywhere. An error inside a stream (`event: error`, or a
chunk that is an error object) is a `ModelStreamError`, as for every OpenAI-compatible service.

What the profile cannot say is here: the `groq_` settings, and `GroqToolUseFailedError`, the
`ModelHTTPError` for Groq's 400 `tool_use_failed`, which carries the model's `failed_generation`.
"""

from __future__ import annotations

from typing import ClassVar
from typing import Literal

from ..exceptions import ModelHTTPError
from ._kit import SettingsTable
from .openai import OpenAIModel
from .openai import OpenAIModelSettings

__all__ = ('GroqModel', 'GroqModelName', 'GroqModelSettings', 'GroqToolUseFailedError')

GroqModelName = Literal[
    'llama-3.3-70b-versatile',
    'llama-3.1-8b-instant',
    'openai/gpt-oss-120b',
    'openai/gpt-oss-20b',
    'qwen/qwen3-32b',
    'meta-llama/llama-4-scout-17b-16e-instruct',
    'meta-llama/llama-4-maverick-17b-128e-instruct',
    'moonshotai/kimi-k2-instruct',
]
"""A few models Groq serves; any other name Groq knows works too."""

# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


class GroqModelSettings(OpenAIModelSettings, total=False):
    """Settings for `GroqModel`: the OpenAI ones, plus Groq's own, prefixed `groq_`."""

    groq_reasoning_format: Literal['hidden', 'raw', 'parsed']
    """How a reasoning model returns its reasoning (`reasoning_format`): `parsed` in the `reasoning`
    field, `raw` inline in `<think>` tags (both become thinking parts), `hidden` not at all."""
    groq_include_reasoning: bool
    """gpt-oss models: whether to return the reasoning at all (`include_reasoning`)."""


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class GroqToolUseFailedError(ModelHTTPError):
    """Groq's 400 `tool_use_failed`: the model wrote a tool call that does not fit the tool's schema
    (or none where one was required); `failed_generation` is what it wrote instead."""

    failed_generation: str
    """The model's output that failed (a tool call as JSON text, or plain text); may be empty."""

    def __init__(self, error: ModelHTTPError, failed_generation: str) -> None:
        super().__init__(
            error.status_code,
            error.model_name,
            error.body,
            headers=error.headers,
            retry_after=error.retry_after,
            vendor=error.vendor,
        )
        self.failed_generation = failed_generation

    def __repr__(self) -> str:
        return f'GroqToolUseFailedError(status_code={self.status_code!r}, model_name={self.model_name!r})'


class GroqModel(OpenAIModel):
    """A model served by Groq, e.g. `GroqModel('llama-3.3-70b-versatile')` (see `GroqModelName`).

    `provider` is `'groq'` (key from `GROQ_API_KEY`) or a `GroqProvider`; `api_key`, `base_url`
    and `http_client` build a `GroqProvider` with them.
    """

    default_provider: ClassVar[str] = 'groq'
    settings_table: ClassVar[SettingsTable] = (
        *OpenAIModel.settings_table,
        ('groq_reasoning_format', 'reasoning_format'),
        ('groq_include_reasoning', 'include_reasoning'),
    )

    def _http_error(self, error: ModelHTTPError) -> ModelHTTPError:
        body = error.body
        detail = body.get('error') if isinstance(body, dict) else None
        if error.status_code == 400 and isinstance(detail, dict) and detail.get('code') == 'tool_use_failed':
            failed = detail.get('failed_generation')
            return GroqToolUseFailedError(error, failed if isinstance(failed, str) else '')
        return error
