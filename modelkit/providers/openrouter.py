"""OpenRouter's OpenAI-compatible API (https://openrouter.ai/docs)."""

from __future__ import annotations

from typing import ClassVar

from ..profiles import OPENAI_COMPATIBLE_PROFILE, OpenAIChatProfile
from .openai import OpenAICompatibleProvider

__all__ = ('OpenRouterProvider',)


class OpenRouterProvider(OpenAICompatibleProvider):
    """OpenRouter: key from `api_key` or `OPENROUTER_API_KEY`, base URL `https://openrouter.ai/api/v1`."""

    name = 'openrouter'
    display_name: ClassVar[str] = 'OpenRouter'
    default_base_url: ClassVar[str] = 'https://openrouter.ai/api/v1'
    api_key_env: ClassVar[str | None] = 'OPENROUTER_API_KEY'
    base_url_env: ClassVar[str | None] = 'OPENROUTER_BASE_URL'
    # Accepted; OpenRouter's SDK docs mark `include_usage` deprecated with no effect because usage is
    # always included, so sending it is harmless.
    openai_chat_profile: OpenAIChatProfile = OPENAI_COMPATIBLE_PROFILE
