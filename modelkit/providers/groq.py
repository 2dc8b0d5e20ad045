"""Groq's OpenAI-compatible API (https://console.groq.com/docs/api-reference)."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from ..profiles import OPENAI_COMPATIBLE_PROFILE, OpenAIChatProfile
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
    display_name: ClassVar[str] = 'Groq'
    default_base_url: ClassVar[str] = GROQ_BASE_URL
    api_key_env: ClassVar[str | None] = 'GROQ_API_KEY'
    # The same variable the official groq SDK reads.
    base_url_env: ClassVar[str | None] = 'GROQ_BASE_URL'
    openai_chat_profile: OpenAIChatProfile = GROQ_PROFILE
