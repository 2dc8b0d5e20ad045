"""Mistral's chat-completions API (https://docs.mistral.ai/api/), a dialect of OpenAI's."""

from __future__ import annotations

from dataclasses import replace

from ..profiles import OPENAI_COMPATIBLE_PROFILE
from .openai import OpenAICompatibleProvider

__all__ = ('MISTRAL_BASE_URL', 'MISTRAL_PROFILE', 'MistralProvider')

MISTRAL_BASE_URL = 'https://api.mistral.ai/v1'

MISTRAL_PROFILE = replace(
    OPENAI_COMPATIBLE_PROFILE,
    # Mistral answers 422 to `stream_options`; its streams carry usage on the finish chunk anyway.
    stream_include_usage=False,
    max_tokens_field='max_tokens',
    seed_field='random_seed',
    tool_choice_required='any',
    reasoning_fields=(),
    usage_extensions=(),
    # Older answers count cached prompt tokens here instead of `prompt_tokens_details`.
    cached_tokens_fields=('num_cached_tokens',),
)
"""Mistral's dialect of the chat-completions format."""


class MistralProvider(OpenAICompatibleProvider):
    """Mistral: key from `api_key` or `MISTRAL_API_KEY`, base URL `https://api.mistral.ai/v1`
    (or `MISTRAL_BASE_URL`)."""

    name = 'mistral'
    display_name = 'Mistral'
    default_base_url = MISTRAL_BASE_URL
    openai_chat_profile = MISTRAL_PROFILE
