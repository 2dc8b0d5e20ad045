"""DeepSeek's OpenAI-compatible API (https://api-docs.deepseek.com)."""

from __future__ import annotations

from typing import ClassVar

from ..profiles import OPENAI_COMPATIBLE_PROFILE, OpenAIChatProfile
from .openai import OpenAICompatibleProvider

__all__ = ('DeepSeekProvider',)


class DeepSeekProvider(OpenAICompatibleProvider):
    """DeepSeek: key from `api_key` or `DEEPSEEK_API_KEY`, base URL `https://api.deepseek.com`."""

    name = 'deepseek'
    display_name: ClassVar[str] = 'DeepSeek'
    # DeepSeek documents this base URL (with `/v1` accepted as an alias) and DEEPSEEK_API_KEY.
    default_base_url: ClassVar[str] = 'https://api.deepseek.com'
    api_key_env: ClassVar[str | None] = 'DEEPSEEK_API_KEY'
    base_url_env: ClassVar[str | None] = 'DEEPSEEK_BASE_URL'
    # Its chat API reference lists `stream_options.include_usage`.
    openai_chat_profile: OpenAIChatProfile = OPENAI_COMPATIBLE_PROFILE
