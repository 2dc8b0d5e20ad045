"""xAI's Grok models through xAI's OpenAI-compatible API (https://docs.x.ai)."""

from __future__ import annotations

from typing import ClassVar

from ..profiles import OPENAI_COMPATIBLE_PROFILE, OpenAIChatProfile
from .openai import OpenAICompatibleProvider

__all__ = ('GrokProvider',)


class GrokProvider(OpenAICompatibleProvider):
    """xAI (Grok): key from `api_key` or `XAI_API_KEY`, base URL `https://api.x.ai/v1`."""

    name = 'grok'
    display_name: ClassVar[str] = 'the xAI API'
    default_base_url: ClassVar[str] = 'https://api.x.ai/v1'
    api_key_env: ClassVar[str | None] = 'XAI_API_KEY'
    base_url_env: ClassVar[str | None] = 'XAI_BASE_URL'
    # xAI follows OpenAI here: the final chunk carries usage when `include_usage` is set
    # (superagent-ai/grok-cli#70 relies on it).
    openai_chat_profile: OpenAIChatProfile = OPENAI_COMPATIBLE_PROFILE
