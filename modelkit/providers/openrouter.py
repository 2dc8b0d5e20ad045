"""OpenRouter's OpenAI-compatible API (https://openrouter.ai/docs)."""

from __future__ import annotations

from .openai import OpenAICompatibleProvider

__all__ = ('OpenRouterProvider',)


class OpenRouterProvider(OpenAICompatibleProvider):
    """OpenRouter: key from `api_key` or `OPENROUTER_API_KEY`, base URL `https://openrouter.ai/api/v1`.

    The generic compatible dialect: OpenRouter's SDK docs mark `include_usage` deprecated with no
    effect because usage is always included, so sending it is harmless.
    """

    name = 'openrouter'
    display_name = 'OpenRouter'
    default_base_url = 'https://openrouter.ai/api/v1'
