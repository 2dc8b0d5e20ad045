"""DeepSeek's OpenAI-compatible API (https://api-docs.deepseek.com)."""

from __future__ import annotations

from .openai import OpenAICompatibleProvider

__all__ = ('DeepSeekProvider',)


class DeepSeekProvider(OpenAICompatibleProvider):
    """DeepSeek: key from `api_key` or `DEEPSEEK_API_KEY`, base URL `https://api.deepseek.com`.

    The generic compatible dialect: its chat API reference lists `stream_options.include_usage`.
    """

    name = 'deepseek'
    display_name = 'DeepSeek'
    # DeepSeek documents this base URL (with `/v1` accepted as an alias) and DEEPSEEK_API_KEY.
    default_base_url = 'https://api.deepseek.com'
