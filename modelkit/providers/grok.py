"""xAI's Grok models through xAI's OpenAI-compatible API (https://docs.x.ai)."""

from __future__ import annotations

from .openai import OpenAICompatibleProvider

__all__ = ('GrokProvider',)


class GrokProvider(OpenAICompatibleProvider):
    """xAI (Grok): key from `api_key` or `XAI_API_KEY`, base URL `https://api.x.ai/v1`.

    The generic compatible dialect: xAI follows OpenAI here, the final chunk carries usage when
    `include_usage` is set (superagent-ai/grok-cli#70 relies on it).
    """

    name = 'grok'
    display_name = 'the xAI API'
    default_base_url = 'https://api.x.ai/v1'
    env_prefix = 'XAI'
