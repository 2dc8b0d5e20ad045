"""Groq's OpenAI-compatible API (https://console.groq.com/docs/api-reference)."""

from __future__ import annotations

from dataclasses import replace

from ..profiles import OPENAI_COMPATIBLE_PROFILE
from .openai import OpenAICompatibleProvider

__all__ = ('GROQ_BASE_URL', 'GROQ_PROFILE', 'GroqProvider')

GROQ_BASE_URL = 'https://api.groq.com/openai/v1'

GROQ_PROFILE = replace(
    OPENAI_COMPATIBLE_PROFILE,
    # Groq streams report usage on the last chunk (under `x_groq.usage`, and at the top level)
    # without being asked, so `stream_options` is not sent.
    stream_include_usage=False,
    usage_extensions=('x_groq',),
    reasoning_fields=('reasoning',),
    # `reasoning_format: raw` (the default of some reasoning models) writes the reasoning inline.
    think_tags=('<think>', '</think>'),
)
"""Groq's dialect of the chat-completions format."""


class GroqProvider(OpenAICompatibleProvider):
    """Groq: key from `api_key` or `GROQ_API_KEY`, base URL `https://api.groq.com/openai/v1`
    (or `GROQ_BASE_URL`)."""

    name = 'groq'
    display_name = 'Groq'
    default_base_url = GROQ_BASE_URL
    # GROQ_API_KEY and GROQ_BASE_URL (the variables the official groq SDK reads) come from the name.
    openai_chat_profile = GROQ_PROFILE
